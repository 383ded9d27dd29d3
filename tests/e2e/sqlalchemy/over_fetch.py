"""Over-fetch on SQLAlchemy 2.0, run under `querycomb run` (crates/cli/tests/over_fetch.rs):
a list page loads articles with their 8 KB bodies (SQLAlchemy's default select of every
column) only to load their comments by article id (selectinload), and the same page fixed
with load_only, which selects the id and title alone. Each page runs on its own connection,
so each is one request.

Usage: DATABASE_URL=postgres://user:pw@host:port/db python over_fetch.py
"""

import os

from sqlalchemy import ForeignKey, Text, create_engine, select
from sqlalchemy.orm import (
    DeclarativeBase,
    Mapped,
    Session,
    load_only,
    mapped_column,
    relationship,
    selectinload,
)


class Base(DeclarativeBase):
    pass


class Article(Base):
    __tablename__ = "articles"
    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str]
    body: Mapped[str] = mapped_column(Text)
    comments: Mapped[list["Comment"]] = relationship(back_populates="article")


class Comment(Base):
    __tablename__ = "comments"
    id: Mapped[int] = mapped_column(primary_key=True)
    article_id: Mapped[int] = mapped_column(ForeignKey("articles.id"), index=True)
    text: Mapped[str]
    article: Mapped[Article] = relationship(back_populates="comments")


def titles_with_comment_counts(session, *options):
    query = select(Article).options(selectinload(Article.comments), *options)
    return [f"{a.title} ({len(a.comments)} comments)" for a in session.scalars(query)]


def main():
    url = os.environ["DATABASE_URL"].replace("postgres://", "postgresql+psycopg://", 1)
    engine = create_engine(url)
    Base.metadata.drop_all(engine)
    Base.metadata.create_all(engine)
    with Session(engine) as session:
        for i in range(1, 11):
            article = Article(title=f"article {i}", body=f"paragraph {i}. " * 600)
            article.comments = [Comment(text=f"comment {i}.{j}") for j in range(3)]
            session.add(article)
        session.commit()
    engine.dispose()
    with Session(engine) as session:
        wide = titles_with_comment_counts(session)
    engine.dispose()
    with Session(engine) as session:
        narrow = titles_with_comment_counts(session, load_only(Article.id, Article.title))
    engine.dispose()
    assert wide == narrow and len(wide) == 10, (wide, narrow)
    print("over-fetch app done")


if __name__ == "__main__":
    main()
