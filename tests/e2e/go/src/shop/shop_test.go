// The bookshop of querycomb's Go end-to-end test (crates/cli/tests/run_go.rs): database/sql
// with lib/pq, built in GOPATH mode against Debian's golang-github-lib-pq-dev. Nothing is
// tagged: `querycomb run` reads `go test -json` to name each test. The schema (authors,
// books 1–8 each by its own author) is made by the test before the run.
package shop

import (
	"database/sql"
	"fmt"
	"os"
	"testing"

	_ "github.com/lib/pq"
)

func open(t *testing.T) *sql.DB {
	db, err := sql.Open("postgres", os.Getenv("DATABASE_URL"))
	if err != nil {
		t.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	t.Cleanup(func() { db.Close() })
	return db
}

// One query per book for its author: the N+1.
func TestBooksPageNPlusOne(t *testing.T) {
	db := open(t)
	rows, err := db.Query("SELECT id, title, author_id FROM books ORDER BY id")
	if err != nil {
		t.Fatal(err)
	}
	type book struct {
		title  string
		author int
	}
	var books []book
	for rows.Next() {
		var id int
		var b book
		if err := rows.Scan(&id, &b.title, &b.author); err != nil {
			t.Fatal(err)
		}
		books = append(books, b)
	}
	rows.Close()
	var lines []string
	for _, b := range books {
		var name string
		if err := db.QueryRow("SELECT name FROM authors WHERE id = $1", b.author).Scan(&name); err != nil {
			t.Fatal(err)
		}
		lines = append(lines, fmt.Sprintf("%s by %s", b.title, name))
	}
	if lines[7] != "book 8 by author 8" {
		t.Fatalf("got %q", lines[7])
	}
}

// The same page in one join.
func TestBooksPageClean(t *testing.T) {
	db := open(t)
	rows, err := db.Query("SELECT b.title, a.name FROM books b JOIN authors a ON a.id = b.author_id ORDER BY b.id")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var lines []string
	for rows.Next() {
		var title, name string
		if err := rows.Scan(&title, &name); err != nil {
			t.Fatal(err)
		}
		lines = append(lines, title+" by "+name)
	}
	if lines[7] != "book 8 by author 8" {
		t.Fatalf("got %q", lines[7])
	}
}
