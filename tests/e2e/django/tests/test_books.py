import os

import pytest

from shop.models import Author, Book


@pytest.fixture
def books(db):
    # `querycomb run --scale 10,100` sets QUERYCOMB_SCALE to size the data (default 8).
    n = int(os.environ.get("QUERYCOMB_SCALE", "8"))
    authors = Author.objects.bulk_create(Author(name=f"author {i}") for i in range(1, n + 1))
    Book.objects.bulk_create(Book(title=f"book {i}", author=a) for i, a in enumerate(authors, 1))


def test_books_page_n_plus_one(client, books):
    response = client.get("/books/")
    assert response.status_code == 200
    assert b"book 8 by author 8" in response.content


def test_books_page_clean(client, books):
    response = client.get("/books-clean/")
    assert response.status_code == 200
    assert b"book 8 by author 8" in response.content


# Defined only when querycomb's pass-through test asks (QC_E2E_FAIL=1), so that it always
# runs and fails when it exists and an ordinary run has nothing skipped.
if os.environ.get("QC_E2E_FAIL"):

    def test_fails_when_asked(db):
        assert Book.objects.count() == 42, "failing on purpose (QC_E2E_FAIL)"
