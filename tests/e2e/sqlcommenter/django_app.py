"""A Django 5.2 app with google-cloud-sqlcommenter's middleware, its pages requested through
Django's test client under `querycomb run` (crates/cli/tests/advice_orms.rs): `/books/` reads
each book's author lazily (a to-one N+1), `/books-fixed/` with select_related. Every
statement of a request is tagged `framework='django%3A5.2.19'`, `db_driver`, `controller` and
`route`.

Usage: DATABASE_URL=postgres://user:pw@host:port/db python django_app.py
"""

import os
import sys
from urllib.parse import urlparse

import django
from django.conf import settings

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
url = urlparse(os.environ["DATABASE_URL"])
settings.configure(
    DEBUG=False,
    ALLOWED_HOSTS=["testserver"],
    ROOT_URLCONF="djangoshop.urls",
    INSTALLED_APPS=["djangoshop"],
    MIDDLEWARE=["google.cloud.sqlcommenter.django.middleware.SqlCommenter"],
    SQLCOMMENTER_WITH_DB_DRIVER=True,
    DEFAULT_AUTO_FIELD="django.db.models.AutoField",
    DATABASES={
        "default": {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": url.path.lstrip("/"),
            "USER": url.username,
            "PASSWORD": url.password or "",
            "HOST": url.hostname,
            "PORT": url.port,
        }
    },
)
django.setup()

from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402

from djangoshop.models import Author, Book  # noqa: E402


def main():
    n = int(os.environ.get("QUERYCOMB_SCALE", "8"))
    with connection.schema_editor() as editor:
        editor.execute("DROP TABLE IF EXISTS djangoshop_book, djangoshop_author")
        editor.create_model(Author)
        editor.create_model(Book)
    authors = Author.objects.bulk_create(Author(name=f"author {i}") for i in range(1, n + 1))
    Book.objects.bulk_create(Book(title=f"book {a.id}", author=a) for a in authors)
    connection.close()
    client = Client()
    for page in ["/books/", "/books-fixed/"]:
        response = client.get(page)
        assert response.status_code == 200, (page, response.status_code)
    print("django app done")


if __name__ == "__main__":
    main()
