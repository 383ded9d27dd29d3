//! A small SeaORM data layer: books loaded lazily per author (an N+1), and its two fixes,
//! `find_with_related` (one join) and the loader `load_many` (one `IN (…)` query); each
//! book's author loaded lazily (a to-one N+1) and its fix `load_one`; each author's books
//! counted one by one and its fix, one grouped count.

use sea_orm::entity::prelude::*;
use sea_orm::{
    ConnectionTrait, DatabaseConnection, DbErr, LoaderTrait, PaginatorTrait, QueryOrder,
    QuerySelect,
};

pub mod author {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "authors")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i32,
        pub name: String,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {
        #[sea_orm(has_many = "super::book::Entity")]
        Book,
    }

    impl Related<super::book::Entity> for Entity {
        fn to() -> RelationDef {
            Relation::Book.def()
        }
    }

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod book {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "books")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i32,
        pub author_id: i32,
        pub title: String,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {
        #[sea_orm(
            belongs_to = "super::author::Entity",
            from = "Column::AuthorId",
            to = "super::author::Column::Id"
        )]
        Author,
    }

    impl Related<super::author::Entity> for Entity {
        fn to() -> RelationDef {
            Relation::Author.def()
        }
    }

    impl ActiveModelBehavior for ActiveModel {}
}

/// Authors in the seed data.
pub const AUTHORS: usize = 6;
/// Books per author in the seed data.
pub const BOOKS_PER_AUTHOR: usize = 3;

pub type AuthorBooks = Vec<(author::Model, Vec<book::Model>)>;

/// Creates the two tables afresh with [`AUTHORS`] authors of [`BOOKS_PER_AUTHOR`] books.
pub async fn seed(db: &DatabaseConnection) -> Result<(), DbErr> {
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
    db.execute_unprepared(&sql).await.map(|_| ())
}

async fn all_authors(db: &DatabaseConnection) -> Result<Vec<author::Model>, DbErr> {
    author::Entity::find()
        .order_by_asc(author::Column::Id)
        .all(db)
        .await
}

/// The N+1: the authors, then each author's books through `find_related`.
pub async fn books_lazily(db: &DatabaseConnection) -> Result<AuthorBooks, DbErr> {
    let mut out = Vec::new();
    for author in all_authors(db).await? {
        let books = author.find_related(book::Entity).all(db).await?;
        out.push((author, books));
    }
    Ok(out)
}

/// One query: authors left-joined with their books.
pub async fn books_with_related(db: &DatabaseConnection) -> Result<AuthorBooks, DbErr> {
    author::Entity::find()
        .order_by_asc(author::Column::Id)
        .find_with_related(book::Entity)
        .all(db)
        .await
}

/// Two queries: the authors, then all their books through the loader.
pub async fn books_loaded(db: &DatabaseConnection) -> Result<AuthorBooks, DbErr> {
    let authors = all_authors(db).await?;
    let books = authors.load_many(book::Entity, db).await?;
    Ok(authors.into_iter().zip(books).collect())
}

async fn all_books(db: &DatabaseConnection) -> Result<Vec<book::Model>, DbErr> {
    book::Entity::find()
        .order_by_asc(book::Column::Id)
        .all(db)
        .await
}

pub type BookAuthors = Vec<(book::Model, Option<author::Model>)>;

/// The to-one N+1: the books, then each book's author through `find_related`.
pub async fn authors_lazily(db: &DatabaseConnection) -> Result<BookAuthors, DbErr> {
    let mut out = Vec::new();
    for book in all_books(db).await? {
        let author = book.find_related(author::Entity).one(db).await?;
        out.push((book, author));
    }
    Ok(out)
}

/// Two queries: the books, then all their authors through the loader.
pub async fn authors_loaded(db: &DatabaseConnection) -> Result<BookAuthors, DbErr> {
    let books = all_books(db).await?;
    let authors = books.load_one(author::Entity, db).await?;
    Ok(books.into_iter().zip(authors).collect())
}

/// The count per parent: the authors, then each author's books counted.
pub async fn book_counts_lazily(db: &DatabaseConnection) -> Result<Vec<(i32, u64)>, DbErr> {
    let mut out = Vec::new();
    for author in all_authors(db).await? {
        let n = author.find_related(book::Entity).count(db).await?;
        out.push((author.id, n));
    }
    Ok(out)
}

/// Two queries: the authors, then every author's count in one grouped query.
pub async fn book_counts_grouped(db: &DatabaseConnection) -> Result<Vec<(i32, u64)>, DbErr> {
    let ids: Vec<i32> = all_authors(db).await?.iter().map(|a| a.id).collect();
    let counts: Vec<(i32, i64)> = book::Entity::find()
        .select_only()
        .column(book::Column::AuthorId)
        .column_as(book::Column::Id.count(), "n")
        .filter(book::Column::AuthorId.is_in(ids.clone()))
        .group_by(book::Column::AuthorId)
        .into_tuple()
        .all(db)
        .await?;
    Ok(ids
        .into_iter()
        .map(|id| {
            let n = counts.iter().find(|(a, _)| *a == id).map_or(0, |c| c.1);
            (id, n as u64)
        })
        .collect())
}
