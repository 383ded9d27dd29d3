"""SQLAlchemy 2.0 column queries in loops, tagged by google-cloud-sqlcommenter's SQLAlchemy
listener, run under `querycomb run` (crates/cli/tests/advice_orms.rs). The SQL of a column
query (`SELECT books.id, books.title FROM books WHERE books.author_id = …`) has none of the
labels that show SQLAlchemy, so only the tags can name it:
- tagged: each author's books, one query per author / one IN query for all authors;
- plain (the same app on an engine without the listener): each book's reviews, one query
  per book / one IN query. Nothing names an ORM there, and none may be named.
Each page runs in its own session and connection (one request each).

Usage: DATABASE_URL=postgres://user:pw@host:port/db python app.py tagged|plain
"""

import os
import sys

from google.cloud.sqlcommenter.sqlalchemy.executor import BeforeExecuteFactory
from sqlalchemy import ForeignKey, create_engine, event, select
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column


class Base(DeclarativeBase):
    pass


class Author(Base):
    __tablename__ = "authors"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str]


class Book(Base):
    __tablename__ = "books"
    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str]
    author_id: Mapped[int] = mapped_column(ForeignKey("authors.id"), index=True)


class Review(Base):
    __tablename__ = "reviews"
    id: Mapped[int] = mapped_column(primary_key=True)
    book_id: Mapped[int] = mapped_column(ForeignKey("books.id"), index=True)
    stars: Mapped[int]


def books_per_author(engine):
    with Session(engine) as session:
        authors = session.execute(select(Author.id, Author.name).order_by(Author.id)).all()
        for author in authors:
            session.execute(
                select(Book.id, Book.title).where(Book.author_id == author.id)
            ).all()


def books_of_all_authors(engine):
    with Session(engine) as session:
        ids = session.execute(select(Author.id).order_by(Author.id)).scalars().all()
        session.execute(
            select(Book.author_id, Book.id, Book.title).where(Book.author_id.in_(ids))
        ).all()


def reviews_per_book(engine):
    with Session(engine) as session:
        books = session.execute(select(Book.id, Book.title).order_by(Book.id)).all()
        for book in books:
            session.execute(
                select(Review.id, Review.stars).where(Review.book_id == book.id)
            ).all()


def reviews_of_all_books(engine):
    with Session(engine) as session:
        ids = session.execute(select(Book.id).order_by(Book.id)).scalars().all()
        session.execute(
            select(Review.book_id, Review.id, Review.stars).where(Review.book_id.in_(ids))
        ).all()


def main():
    url = os.environ["DATABASE_URL"].replace("postgres://", "postgresql+psycopg://", 1)
    n = int(os.environ.get("QUERYCOMB_SCALE", "8"))
    plain = create_engine(url)
    Base.metadata.drop_all(plain)
    Base.metadata.create_all(plain)
    with Session(plain) as session:
        authors = [Author(name=f"author {i}") for i in range(1, n + 1)]
        session.add_all(authors)
        session.flush()
        books = [Book(title=f"book {a.id}", author_id=a.id) for a in authors]
        session.add_all(books)
        session.flush()
        session.add_all([Review(book_id=b.id, stars=4) for b in books])
        session.commit()
    # The listener as its documentation sets it up, with the driver and framework tags.
    tagged = create_engine(url)
    event.listen(
        tagged,
        "before_cursor_execute",
        BeforeExecuteFactory(with_db_driver=True, with_db_framework=True),
        retval=True,
    )
    if sys.argv[1:] == ["tagged"]:
        books_per_author(tagged)
        books_of_all_authors(tagged)
    else:
        reviews_per_book(plain)
        reviews_of_all_books(plain)
    print("sqlcommenter app done")


if __name__ == "__main__":
    main()
