// The accuracy corpus's Go stack: GORM v1 (Debian's golang-github-jinzhu-gorm-dev) on lib/pq,
// against the throwaway PostgreSQL of crates/cli/tests/accuracy.rs, built in GOPATH mode.
//
//	go run gormcorpus gorm <connection-url> <untagged|tagged> <labels.jsonl>
//
// Two request streams on two goroutines share database/sql's pool of three connections,
// which sends nothing when a connection is taken or given back. lib/pq sends every statement
// with arguments as an unnamed prepared statement; GORM inlines the key of `First` as a
// literal, and wraps every `Create` in a transaction of its own. One handler fans its
// lookups out over goroutines, which take whichever pooled connection is free.
//
// Ground truth as in ../../../python/corpus.py: every statement of a request carries
// /*qc_req='<id>'*/ (ignored by querycomb's grouping), plus a sqlcommenter traceparent in
// tagged mode, appended through GORM's `gorm:query_option` and `gorm:insert_option` (an
// insert's `RETURNING` comes after it); one JSON line per request says which finding it must
// produce, if any.
package main

import (
	"encoding/json"
	"fmt"
	"math/rand"
	"os"
	"sync"
	"time"

	"github.com/jinzhu/gorm"
	_ "github.com/jinzhu/gorm/dialects/postgres"
)

type Customer struct {
	ID   int
	Name string
}

type Order struct {
	ID         int
	CustomerID int
	Status     string
	Customer   Customer
}

type Post struct {
	ID    int
	Title string
}

type Comment struct {
	ID     int
	PostID int
	Body   string
}

type Event struct {
	ID   int
	Kind string
}

type label struct {
	ID       string  `json:"id"`
	Stack    string  `json:"stack"`
	Mode     string  `json:"mode"`
	Scenario string  `json:"scenario"`
	Expect   *string `json:"expect"`
	N        int     `json:"n"`
	Trace    string  `json:"trace"`
	Span     string  `json:"span"`
}

var (
	mode   string
	out    *os.File
	lock   sync.Mutex
	serial int
	random *rand.Rand
	db     *gorm.DB
)

func start(scenario string, expect string, n int) label {
	lock.Lock()
	defer lock.Unlock()
	serial++
	l := label{
		ID:       fmt.Sprintf("gorm-%c-%d", mode[0], serial),
		Stack:    "gorm",
		Mode:     mode,
		Scenario: scenario,
		N:        n,
		Trace:    fmt.Sprintf("%016x%016x", random.Uint64(), random.Uint64()),
		Span:     fmt.Sprintf("%016x", random.Uint64()),
	}
	if expect != "" {
		l.Expect = &expect
	}
	line, err := json.Marshal(l)
	must(err)
	_, err = out.Write(append(line, '\n'))
	must(err)
	return l
}

func pause() time.Duration {
	lock.Lock()
	defer lock.Unlock()
	return time.Duration(10+random.Intn(191)) * time.Millisecond
}

// request runs one handler with a handle whose statements carry the request's comment.
func request(scenario, expect string, n int, handler func(tx *gorm.DB, comment string)) {
	l := start(scenario, expect, n)
	comment := fmt.Sprintf("/*qc_req='%s'", l.ID)
	if mode == "tagged" {
		comment += fmt.Sprintf(",traceparent='00-%s-%s-01'", l.Trace, l.Span)
	}
	comment += "*/"
	handler(db.Set("gorm:query_option", comment).Set("gorm:insert_option", comment), comment)
	time.Sleep(pause())
}

func ordersPage(tx *gorm.DB, k, offset int) []Order {
	var orders []Order
	must(tx.Where("status = ?", "open").Order("id").Limit(k).Offset(offset).Find(&orders).Error)
	return orders
}

func stream(ks []int, offsetBase int) {
	for i, k := range ks {
		offset := (offsetBase + i*37) % 250
		request("first-per-row", "n_plus_one", k, func(tx *gorm.DB, _ string) {
			for _, o := range ordersPage(tx, k, offset) {
				var c Customer
				must(tx.First(&c, o.CustomerID).Error)
			}
		})
		request("preload", "", 0, func(tx *gorm.DB, _ string) {
			var orders []Order
			must(tx.Preload("Customer").Where("status = ?", "open").Order("id").Limit(k).Offset(offset).Find(&orders).Error)
		})
		request("goroutine-fan-out", "n_plus_one", k, func(tx *gorm.DB, _ string) {
			var wg sync.WaitGroup
			for _, o := range ordersPage(tx, k, offset) {
				wg.Add(1)
				go func(id int) {
					defer wg.Done()
					var c Customer
					must(tx.First(&c, id).Error)
				}(o.CustomerID)
			}
			wg.Wait()
		})
		request("count-per-row", "count_in_loop", k, func(tx *gorm.DB, _ string) {
			var posts []Post
			must(tx.Order("id").Limit(k).Find(&posts).Error)
			for _, p := range posts {
				var n int
				must(tx.Model(&Comment{}).Where("post_id = ?", p.ID).Count(&n).Error)
			}
		})
		request("group-count", "", 0, func(tx *gorm.DB, _ string) {
			var ids []int
			must(tx.Model(&Post{}).Order("id").Limit(k).Pluck("id", &ids).Error)
			rows, err := tx.Model(&Comment{}).Select("post_id, count(*)").Where("post_id IN (?)", ids).Group("post_id").Rows()
			must(err)
			must(rows.Close())
		})
		for h := 0; h < 2; h++ {
			request("health-check", "", 0, func(tx *gorm.DB, comment string) {
				must(tx.Exec("SELECT 1 " + comment).Error)
			})
		}
		request("keyset-pagination", "", 0, func(tx *gorm.DB, _ string) {
			last := 0
			for page := 0; page < 5; page++ {
				var orders []Order
				must(tx.Where("status = ? AND id > ?", "open", last).Order("id").Limit(50).Find(&orders).Error)
				last = orders[len(orders)-1].ID
			}
		})
		request("create-per-row", "n_plus_one_write", k, func(tx *gorm.DB, _ string) {
			for j := 0; j < k; j++ {
				must(tx.Create(&Event{Kind: fmt.Sprintf("visit %d", j)}).Error)
			}
		})
	}
}

func main() {
	if len(os.Args) != 5 || os.Args[1] != "gorm" {
		panic("usage: go run gormcorpus gorm <connection-url> <untagged|tagged> <labels.jsonl>")
	}
	mode = os.Args[3]
	var err error
	out, err = os.OpenFile(os.Args[4], os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	must(err)
	seed := int64(5)
	if mode == "tagged" {
		seed = 505
	}
	random = rand.New(rand.NewSource(seed))
	db, err = gorm.Open("postgres", os.Args[2])
	must(err)
	db.DB().SetMaxOpenConns(3)
	db.DB().SetMaxIdleConns(3)
	var wg sync.WaitGroup
	for _, s := range []struct {
		ks     []int
		offset int
	}{{[]int{6, 9, 12}, 0}, {[]int{8, 10, 7}, 120}} {
		wg.Add(1)
		go func(ks []int, offset int) {
			defer wg.Done()
			stream(ks, offset)
		}(s.ks, s.offset)
	}
	wg.Wait()
	must(db.Close())
	must(out.Close())
}

func must(err error) {
	if err != nil {
		panic(err)
	}
}
