"""Tags every SQL statement a test runs with the test's id, as a sqlcommenter comment
(`/*route='tests%2Ftest_books.py%3A%3Atest_x'*/`), so that querycomb counts queries per
test and applies the test's budget. This is the recipe from docs/ci.md."""

from urllib.parse import quote

import pytest
from django.db import connection


def _tagger(test_id):
    comment = "/*route='" + quote(test_id, safe="") + "'*/"

    # With parameters the driver reads `%` as a placeholder: the URL-encoded `%2F` must
    # be written `%%2F` then.
    escaped = comment.replace("%", "%%")

    def wrapper(execute, sql, params, many, context):
        return execute(f"{sql} {comment if params is None else escaped}", params, many, context)

    return wrapper


@pytest.fixture(autouse=True)
def querycomb_route(request, db):
    with connection.execute_wrapper(_tagger(request.node.nodeid)):
        yield
