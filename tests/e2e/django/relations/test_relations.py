"""The loops of every relation kind, each with its fixed twin, written the way a Django user
writes them: crates/cli/tests/advice_orms.rs runs this file (with tests/) under
`querycomb run` and checks the fix querycomb names for each loop and that no twin is a
finding. Kept out of `testpaths`, so the budgeted suite of tests/ stays as it is."""

import pytest
from django.db.models import Count

from shop.models import Author, Book, Review, Tag

N = 8


@pytest.fixture
def shelf(db):
    authors = Author.objects.bulk_create(Author(name=f"author {i}") for i in range(1, N + 1))
    books = Book.objects.bulk_create(
        Book(title=f"book {i}", author=a) for i, a in enumerate(authors, 1)
    )
    tags = Tag.objects.bulk_create(Tag(name=f"tag {i}") for i in range(1, 4))
    Book.tags.through.objects.bulk_create(
        Book.tags.through(book=b, tag=t) for b in books for t in tags[: 1 + b.id % 3]
    )


def test_books_per_author_n_plus_one(shelf):
    counts = [len(a.book_set.all()) for a in Author.objects.order_by("id")]
    assert counts == [1] * N


def test_books_per_author_prefetched(shelf):
    authors = Author.objects.prefetch_related("book_set").order_by("id")
    assert [len(a.book_set.all()) for a in authors] == [1] * N


def test_tags_per_book_n_plus_one(shelf):
    names = [[t.name for t in b.tags.all()] for b in Book.objects.order_by("id")]
    assert sum(map(len, names)) > N


def test_tags_per_book_prefetched(shelf):
    books = Book.objects.prefetch_related("tags").order_by("id")
    assert sum(len(b.tags.all()) for b in books) > N


def test_book_counts_n_plus_one(shelf):
    counts = [a.book_set.count() for a in Author.objects.order_by("id")]
    assert counts == [1] * N


def test_book_counts_annotated(shelf):
    authors = Author.objects.annotate(n=Count("book")).order_by("id")
    assert [a.n for a in authors] == [1] * N


def test_reviews_saved_per_row(shelf):
    for book in Book.objects.order_by("id"):
        Review.objects.create(book=book, stars=5)
    assert Review.objects.count() == N


def test_reviews_bulk_created(shelf):
    Review.objects.bulk_create(Review(book=b, stars=5) for b in Book.objects.order_by("id"))
    assert Review.objects.count() == N


def test_titles_saved_per_row(shelf):
    for book in Book.objects.order_by("id"):
        book.title = book.title.upper()
        book.save()
    assert Book.objects.filter(title__startswith="BOOK").count() == N


def test_titles_bulk_updated(shelf):
    books = list(Book.objects.order_by("id"))
    for book in books:
        book.title = book.title.upper()
    Book.objects.bulk_update(books, ["title"])
    assert Book.objects.filter(title__startswith="BOOK").count() == N


def test_reviews_deleted_per_row(shelf):
    Review.objects.bulk_create(Review(book=b, stars=1) for b in Book.objects.order_by("id"))
    for review in Review.objects.order_by("id"):
        review.delete()
    assert Review.objects.count() == 0


def test_reviews_deleted_at_once(shelf):
    Review.objects.bulk_create(Review(book=b, stars=1) for b in Book.objects.order_by("id"))
    ids = [r.id for r in Review.objects.order_by("id")]
    Review.objects.filter(pk__in=ids).delete()
    assert Review.objects.count() == 0
