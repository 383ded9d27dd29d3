//! A small Diesel data layer with an N+1 (books loaded per author), its batched twin
//! (`eq_any`: one `= ANY($1)` query), and a loop over one id (a repeat, not an N+1); each
//! book's author found by id (a to-one N+1) and its `eq_any` twin; each author's books counted
//! one by one and its twin, one grouped count.

use diesel::connection::SimpleConnection;
use diesel::prelude::*;

diesel::table! {
    authors (id) {
        id -> Int4,
        name -> Text,
    }
}

diesel::table! {
    books (id) {
        id -> Int4,
        author_id -> Int4,
        title -> Text,
    }
}

diesel::allow_tables_to_appear_in_same_query!(authors, books);

/// Authors in the seed data.
pub const AUTHORS: usize = 6;
/// Books per author in the seed data.
pub const BOOKS_PER_AUTHOR: usize = 3;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = authors)]
pub struct Author {
    pub id: i32,
    pub name: String,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = books)]
pub struct Book {
    pub id: i32,
    pub author_id: i32,
    pub title: String,
}

/// Creates the two tables afresh with [`AUTHORS`] authors of [`BOOKS_PER_AUTHOR`] books.
pub fn seed(conn: &mut PgConnection) -> QueryResult<()> {
    let mut sql = String::from(
        "DROP TABLE IF EXISTS books; DROP TABLE IF EXISTS authors;
         CREATE TABLE authors (id serial PRIMARY KEY, name text NOT NULL);
         CREATE TABLE books (id serial PRIMARY KEY,
                             author_id int NOT NULL REFERENCES authors(id),
                             title text NOT NULL);",
    );
    for a in 1..=AUTHORS {
        sql.push_str(&format!(
            "INSERT INTO authors (name) VALUES ('author {a}');"
        ));
        for b in 1..=BOOKS_PER_AUTHOR {
            sql.push_str(&format!(
                "INSERT INTO books (author_id, title) VALUES ({a}, 'book {a}.{b}');"
            ));
        }
    }
    conn.batch_execute(&sql)
}

fn all_authors(conn: &mut PgConnection) -> QueryResult<Vec<Author>> {
    authors::table
        .order(authors::id)
        .select(Author::as_select())
        .load(conn)
}

/// The N+1: one query for the authors, then one per author for their books.
pub fn books_per_author_loop(conn: &mut PgConnection) -> QueryResult<Vec<(Author, Vec<Book>)>> {
    let authors = all_authors(conn)?;
    let mut out = Vec::with_capacity(authors.len());
    for author in authors {
        let books = books::table
            .filter(books::author_id.eq(author.id))
            .order(books::id)
            .select(Book::as_select())
            .load(conn)?;
        out.push((author, books));
    }
    Ok(out)
}

/// The batched twin: the authors, then all their books in one `= ANY($1)` query.
pub fn books_per_author_batched(conn: &mut PgConnection) -> QueryResult<Vec<(Author, Vec<Book>)>> {
    let authors = all_authors(conn)?;
    let ids: Vec<i32> = authors.iter().map(|a| a.id).collect();
    let books: Vec<Book> = books::table
        .filter(books::author_id.eq_any(&ids))
        .order(books::id)
        .select(Book::as_select())
        .load(conn)?;
    Ok(authors
        .into_iter()
        .map(|author| {
            let own = books
                .iter()
                .filter(|b| b.author_id == author.id)
                .cloned()
                .collect();
            (author, own)
        })
        .collect())
}

/// The same author's books `times` times (a missing memo, not a loop over rows).
pub fn same_author_repeatedly(conn: &mut PgConnection, times: usize) -> QueryResult<usize> {
    let mut total = 0;
    for _ in 0..times {
        total += books::table
            .filter(books::author_id.eq(1))
            .select(Book::as_select())
            .load(conn)?
            .len();
    }
    Ok(total)
}

fn all_books(conn: &mut PgConnection) -> QueryResult<Vec<Book>> {
    books::table
        .order(books::id)
        .select(Book::as_select())
        .load(conn)
}

/// The to-one N+1: the books, then each book's author by its id.
pub fn author_per_book_loop(conn: &mut PgConnection) -> QueryResult<Vec<(Book, Author)>> {
    let books = all_books(conn)?;
    let mut out = Vec::with_capacity(books.len());
    for book in books {
        let author = authors::table
            .find(book.author_id)
            .select(Author::as_select())
            .first(conn)?;
        out.push((book, author));
    }
    Ok(out)
}

/// The batched twin: the books, then all their authors in one `= ANY($1)` query.
pub fn author_per_book_batched(conn: &mut PgConnection) -> QueryResult<Vec<(Book, Author)>> {
    let books = all_books(conn)?;
    let ids: Vec<i32> = books.iter().map(|b| b.author_id).collect();
    let authors: Vec<Author> = authors::table
        .filter(authors::id.eq_any(&ids))
        .select(Author::as_select())
        .load(conn)?;
    Ok(books
        .into_iter()
        .filter_map(|book| {
            let author = authors.iter().find(|a| a.id == book.author_id)?.clone();
            Some((book, author))
        })
        .collect())
}

/// The count per parent: the authors, then each author's books counted.
pub fn book_count_per_author_loop(conn: &mut PgConnection) -> QueryResult<Vec<(i32, i64)>> {
    let authors = all_authors(conn)?;
    let mut out = Vec::with_capacity(authors.len());
    for author in authors {
        let n: i64 = books::table
            .filter(books::author_id.eq(author.id))
            .count()
            .get_result(conn)?;
        out.push((author.id, n));
    }
    Ok(out)
}

/// The grouped twin: the authors, then every author's count in one `GROUP BY` query.
pub fn book_count_per_author_grouped(conn: &mut PgConnection) -> QueryResult<Vec<(i32, i64)>> {
    let ids: Vec<i32> = all_authors(conn)?.iter().map(|a| a.id).collect();
    let counts: Vec<(i32, i64)> = books::table
        .filter(books::author_id.eq_any(&ids))
        .group_by(books::author_id)
        .select((books::author_id, diesel::dsl::count_star()))
        .load(conn)?;
    Ok(ids
        .into_iter()
        .map(|id| (id, counts.iter().find(|c| c.0 == id).map_or(0, |c| c.1)))
        .collect())
}
