//! A small SeaORM data layer: books loaded lazily per author (an N+1), and its two fixes,
//! `find_with_related` (one join) and the loader `load_many` (one `IN (…)` query).

use sea_orm::entity::prelude::*;
use sea_orm::{ConnectionTrait, DatabaseConnection, DbErr, LoaderTrait, QueryOrder};

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
