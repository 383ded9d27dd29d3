"""A bookshop on SQLAlchemy 2.0 ORM with its default lazy loading, run under
`querycomb run` (crates/cli/tests/advice_orms.rs): one page loads each book's author (a
many-to-one N+1), one each author's books (a one-to-many N+1). QUERYCOMB_SCALE sizes the data.

Usage: DATABASE_URL=postgres://user:pw@host:port/db python app.py
"""

import os

from sqlalchemy import ForeignKey, create_engine, select
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, relationship


class Base(DeclarativeBase):
    pass


class Author(Base):
    __tablename__ = "authors"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str]
    books: Mapped[list["Book"]] = relationship(back_populates="author")


class Book(Base):
    __tablename__ = "books"
    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str]
    author_id: Mapped[int] = mapped_column(ForeignKey("authors.id"), index=True)
    author: Mapped[Author] = relationship(back_populates="books")


def main():
    url = os.environ["DATABASE_URL"].replace("postgres://", "postgresql+psycopg://", 1)
    n = int(os.environ.get("QUERYCOMB_SCALE", "12"))
    engine = create_engine(url)
    Base.metadata.drop_all(engine)
    Base.metadata.create_all(engine)
    with Session(engine) as session:
        authors = [Author(name=f"author {i}") for i in range(1, n + 1)]
        session.add_all(authors)
        session.add_all(Book(title=f"book {i}", author=a) for i, a in enumerate(authors, 1))
        session.commit()
    # Each page in its own session and connection: one request each.
    with Session(engine) as session:
        lines = [f"{b.title} by {b.author.name}" for b in session.scalars(select(Book))]
        assert len(lines) == n
    engine.dispose()
    with Session(engine) as session:
        counts = [len(a.books) for a in session.scalars(select(Author))]
        assert sum(counts) == n
    engine.dispose()
    print("sqlalchemy app done")


if __name__ == "__main__":
    main()
