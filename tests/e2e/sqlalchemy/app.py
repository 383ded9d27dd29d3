"""A bookshop on SQLAlchemy 2.0 ORM with its default lazy loading, run under
`querycomb run` (crates/cli/tests/advice_orms.rs). Each page runs in its own session and
connection (one request each); every loop has its fixed twin, which must not be a finding:
- each book's author (a many-to-one N+1) / joinedload(Book.author),
- each author's books (a one-to-many N+1) / selectinload(Author.books),
- each book's tags through book_tags (a many-to-many N+1) / selectinload(Book.tags),
- a count of each author's books (a count per parent) / one GROUP BY query,
- a review added and flushed per book (a write per row) / add_all and one flush,
- each book's title changed and flushed (an update per row) / one ORM bulk UPDATE by primary
  key, session.execute(update(Book), rows),
- each review deleted and flushed (a delete per row) / one delete(Review).where(id IN ids).
QUERYCOMB_SCALE sizes the data.

Usage: DATABASE_URL=postgres://user:pw@host:port/db python app.py
"""

import os

from sqlalchemy import (
    Column,
    ForeignKey,
    Table,
    create_engine,
    delete,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.orm import (
    DeclarativeBase,
    Mapped,
    Session,
    joinedload,
    mapped_column,
    relationship,
    selectinload,
)


class Base(DeclarativeBase):
    pass


book_tags = Table(
    "book_tags",
    Base.metadata,
    Column("book_id", ForeignKey("books.id"), primary_key=True),
    Column("tag_id", ForeignKey("tags.id"), primary_key=True),
)


class Author(Base):
    __tablename__ = "authors"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str]
    books: Mapped[list["Book"]] = relationship(back_populates="author")


class Tag(Base):
    __tablename__ = "tags"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str]


class Book(Base):
    __tablename__ = "books"
    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str]
    author_id: Mapped[int] = mapped_column(ForeignKey("authors.id"), index=True)
    author: Mapped[Author] = relationship(back_populates="books")
    tags: Mapped[list[Tag]] = relationship(secondary=book_tags)


class Review(Base):
    __tablename__ = "reviews"
    id: Mapped[int] = mapped_column(primary_key=True)
    book_id: Mapped[int] = mapped_column(ForeignKey("books.id"), index=True)
    stars: Mapped[int]


def main():
    url = os.environ["DATABASE_URL"].replace("postgres://", "postgresql+psycopg://", 1)
    n = int(os.environ.get("QUERYCOMB_SCALE", "12"))
    engine = create_engine(url)
    Base.metadata.drop_all(engine)
    Base.metadata.create_all(engine)
    with Session(engine) as session:
        authors = [Author(name=f"author {i}") for i in range(1, n + 1)]
        tags = [Tag(name=f"tag {i}") for i in range(1, 4)]
        books = [Book(title=f"book {i}", author=a) for i, a in enumerate(authors, 1)]
        session.add_all(authors + tags + books)
        session.flush()
        # The links in one INSERT: a collection's new links go in one statement per row.
        links = [
            {"book_id": b.id, "tag_id": t.id}
            for i, b in enumerate(books, 1)
            for t in tags[: 1 + i % 3]
        ]
        session.execute(insert(book_tags).values(links))
        session.commit()

    def page(load):
        """One page: its own session and connection, so one request."""
        with Session(engine) as session:
            result = load(session)
        engine.dispose()
        return result

    books = select(Book).order_by(Book.id)
    authors = select(Author).order_by(Author.id)
    lazy = page(lambda s: [f"{b.title} by {b.author.name}" for b in s.scalars(books)])
    joined = page(
        lambda s: [
            f"{b.title} by {b.author.name}"
            for b in s.scalars(books.options(joinedload(Book.author)))
        ]
    )
    assert lazy == joined and len(lazy) == n

    lazy = page(lambda s: [len(a.books) for a in s.scalars(authors)])
    batched = page(
        lambda s: [len(a.books) for a in s.scalars(authors.options(selectinload(Author.books)))]
    )
    assert lazy == batched == [1] * n

    lazy = page(lambda s: [len(b.tags) for b in s.scalars(books)])
    batched = page(lambda s: [len(b.tags) for b in s.scalars(books.options(selectinload(Book.tags)))])
    assert lazy == batched and sum(lazy) > n

    count = select(func.count(Book.id))
    lazy = page(
        lambda s: [s.scalar(count.where(Book.author_id == a.id)) for a in s.scalars(authors)]
    )
    grouped = page(
        lambda s: [
            row.n
            for row in s.execute(
                select(Author.id, func.count(Book.id).label("n"))
                .outerjoin(Author.books)
                .group_by(Author.id)
                .order_by(Author.id)
            )
        ]
    )
    assert lazy == grouped == [1] * n

    def review_each(s):
        for book in s.scalars(books):
            s.add(Review(book_id=book.id, stars=5))
            s.flush()
        s.commit()

    def review_all(s):
        s.add_all(Review(book_id=b.id, stars=4) for b in s.scalars(books))
        s.commit()

    page(review_each)
    page(review_all)
    assert page(lambda s: s.scalar(select(func.count(Review.id)))) == 2 * n

    def retitle_each(s):
        for book in s.scalars(books):
            book.title = f"{book.title} (2nd ed.)"
            s.flush()
        s.commit()

    def retitle_all(s):
        rows = [{"id": b.id, "title": f"{b.title} (3rd ed.)"} for b in s.scalars(books)]
        s.execute(update(Book), rows)
        s.commit()

    page(retitle_each)
    page(retitle_all)
    titles = page(lambda s: list(s.scalars(select(Book.title))))
    assert all(t.endswith("(2nd ed.) (3rd ed.)") for t in titles), titles

    def unreview_each(s):
        for review in s.scalars(select(Review).where(Review.stars == 5).order_by(Review.id)):
            s.delete(review)
            s.flush()
        s.commit()

    def unreview_all(s):
        ids = list(s.scalars(select(Review.id).where(Review.stars == 4)))
        s.execute(delete(Review).where(Review.id.in_(ids)))
        s.commit()

    page(unreview_each)
    page(unreview_all)
    assert page(lambda s: s.scalar(select(func.count(Review.id)))) == 0
    print("sqlalchemy app done")


if __name__ == "__main__":
    main()
