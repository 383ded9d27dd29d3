// A bookshop on GORM v1 (Debian's golang-github-jinzhu-gorm-dev, 1.9.6) with lib/pq, run
// under `querycomb run` (crates/cli/tests/advice_orms.rs) in GOPATH mode. Each page opens its
// own connection (one request each); every loop has its fixed twin, which must not be a
// finding:
//   - each book's author (a to-one N+1) / Preload("Author"),
//   - each author's books (a to-many N+1) / Preload("Books"),
//   - each book's tags through book_tags (a many-to-many N+1) / Preload("Tags"),
//   - a count of each author's books (a count per parent) / one GROUP BY query,
//   - a review created per book (a write per row) / one INSERT of all rows.
//
// QUERYCOMB_SCALE sizes the data. Usage: DATABASE_URL=postgres://… go run gormshop
package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/jinzhu/gorm"
	_ "github.com/jinzhu/gorm/dialects/postgres"
	"github.com/lib/pq"
)

type Author struct {
	gorm.Model
	Name  string
	Books []Book
}

type Tag struct {
	gorm.Model
	Name string
}

type Book struct {
	gorm.Model
	Title    string
	AuthorID uint `gorm:"index"`
	Author   Author
	Tags     []Tag `gorm:"many2many:book_tags"`
}

type Review struct {
	gorm.Model
	BookID uint `gorm:"index"`
	Stars  int
}

func open() *gorm.DB {
	db, err := gorm.Open("postgres", os.Getenv("DATABASE_URL"))
	must(err)
	return db
}

func must(err error) {
	if err != nil {
		panic(err)
	}
}

// page runs f on a connection of its own.
func page(f func(db *gorm.DB)) {
	db := open()
	defer db.Close()
	f(db)
}

func books(db *gorm.DB) []Book {
	var books []Book
	must(db.Order("id").Find(&books).Error)
	return books
}

func authors(db *gorm.DB) []Author {
	var authors []Author
	must(db.Order("id").Find(&authors).Error)
	return authors
}

func main() {
	n, err := strconv.Atoi(os.Getenv("QUERYCOMB_SCALE"))
	if err != nil {
		n = 8
	}
	page(func(db *gorm.DB) {
		db.DropTableIfExists("book_tags", &Review{}, &Book{}, &Tag{}, &Author{})
		must(db.AutoMigrate(&Author{}, &Tag{}, &Book{}, &Review{}).Error)
		// Seeded in set-based statements, so the seed is no loop.
		for _, seed := range []string{
			"INSERT INTO authors (created_at, updated_at, name) SELECT now(), now(), 'author ' || i FROM generate_series(1, ?) i",
			"INSERT INTO books (created_at, updated_at, title, author_id) SELECT now(), now(), 'book ' || id, id FROM authors",
			"INSERT INTO tags (created_at, updated_at, name) SELECT now(), now(), 'tag ' || i FROM generate_series(1, 3) i",
			"INSERT INTO book_tags (book_id, tag_id) SELECT b.id, t.id FROM books b JOIN tags t ON t.id <= 1 + b.id % 3",
		} {
			if strings.Contains(seed, "?") {
				must(db.Exec(seed, n).Error)
			} else {
				must(db.Exec(seed).Error)
			}
		}
	})
	// To-one.
	page(func(db *gorm.DB) {
		for _, b := range books(db) {
			var a Author
			must(db.Model(&b).Related(&a).Error)
		}
	})
	page(func(db *gorm.DB) {
		var books []Book
		must(db.Preload("Author").Order("id").Find(&books).Error)
	})
	// To-many.
	page(func(db *gorm.DB) {
		for _, a := range authors(db) {
			var books []Book
			must(db.Model(&a).Related(&books).Error)
		}
	})
	page(func(db *gorm.DB) {
		var authors []Author
		must(db.Preload("Books").Order("id").Find(&authors).Error)
	})
	// Many-to-many.
	page(func(db *gorm.DB) {
		for _, b := range books(db) {
			var tags []Tag
			must(db.Model(&b).Association("Tags").Find(&tags).Error)
		}
	})
	page(func(db *gorm.DB) {
		var books []Book
		must(db.Preload("Tags").Order("id").Find(&books).Error)
	})
	// A count per parent.
	page(func(db *gorm.DB) {
		for _, a := range authors(db) {
			var count int
			must(db.Model(&Book{}).Where("author_id = ?", a.ID).Count(&count).Error)
		}
	})
	page(func(db *gorm.DB) {
		type row struct {
			AuthorID uint
			N        int
		}
		var rows []row
		must(db.Model(&Book{}).Select("author_id, count(*) AS n").Group("author_id").Scan(&rows).Error)
	})
	// A write per row: each book of a listing gets a review, in one transaction.
	page(func(db *gorm.DB) {
		tx := db.Begin()
		var listed []Book
		must(tx.Where("title LIKE ?", "book %").Order("id").Find(&listed).Error)
		for _, b := range listed {
			must(tx.Create(&Review{BookID: b.ID, Stars: 4}).Error)
		}
		must(tx.Commit().Error)
	})
	page(func(db *gorm.DB) {
		ids := []int64{}
		for _, b := range books(db) {
			ids = append(ids, int64(b.ID))
		}
		// GORM v1 has no batch insert: one statement for all rows.
		must(db.Exec("INSERT INTO reviews (created_at, updated_at, book_id, stars) SELECT now(), now(), unnest(?::bigint[]), 5", pq.Array(ids)).Error)
	})
	fmt.Println("gorm app done")
}
