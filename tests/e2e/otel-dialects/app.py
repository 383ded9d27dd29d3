"""Two databases in one traced process, for querycomb's per-span dialect test
(crates/cli/tests/traces_dialects.rs): MariaDB through PyMySQL and SQLite through sqlite3,
each traced by its real OpenTelemetry instrumentation (db.system `mysql` / `sqlite`). Each
"request" is a server span named after its route.

    MYSQL_PORT=... MYSQL_USER=... MYSQL_PASSWORD=... SQLITE_PATH=... QC_EXPORT=PATH python app.py

QC_EXPORT: a file of binary ExportTraceServiceRequests, each after its length as 4
big-endian bytes (the Collector file exporter's proto format), encoded by the SDK's own
OTLP encoder.
"""

import os
import sqlite3
import struct

import pymysql
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.instrumentation.pymysql import PyMySQLInstrumentor
from opentelemetry.instrumentation.sqlite3 import SQLite3Instrumentor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult


class ProtoFileExporter(SpanExporter):
    def __init__(self, path):
        self.path = path

    def export(self, spans):
        body = encode_spans(spans).SerializeToString()
        with open(self.path, "ab") as out:
            out.write(struct.pack(">I", len(body)) + body)
        return SpanExportResult.SUCCESS

    def shutdown(self):
        pass


provider = TracerProvider(resource=Resource.create({"service.name": "dialects-py"}))
provider.add_span_processor(SimpleSpanProcessor(ProtoFileExporter(os.environ["QC_EXPORT"])))
trace.set_tracer_provider(provider)
PyMySQLInstrumentor().instrument()
SQLite3Instrumentor().instrument()
tracer = trace.get_tracer("querycomb-e2e")


def request(route):
    return tracer.start_as_current_span(
        f"GET {route}",
        kind=trace.SpanKind.SERVER,
        attributes={"http.route": route, "http.request.method": "GET"},
    )


def authors_n_plus_one(conn):
    """Legacy MySQL code: the name pasted into the text in double quotes (a string there)."""
    with request("/authors"), conn.cursor() as cur:
        cur.execute("SELECT id, name FROM authors ORDER BY id")
        for _, name in cur.fetchall():
            cur.execute('SELECT id, title FROM books WHERE author_name = "%s"' % name)
            cur.fetchall()


def authors_fixed(conn):
    with request("/authors-fixed"), conn.cursor() as cur:
        cur.execute("SELECT id, name FROM authors ORDER BY id")
        names = [name for _, name in cur.fetchall()]
        marks = ", ".join(["%s"] * len(names))
        cur.execute(f"SELECT id, title, author_name FROM books WHERE author_name IN ({marks})", names)
        cur.fetchall()


def notes_n_plus_one(db):
    with request("/notes"):
        cur = db.cursor()
        notes = cur.execute('SELECT "id" FROM "notes" ORDER BY "id"').fetchall()
        for (note_id,) in notes:
            cur.execute('SELECT "body" FROM "revisions" WHERE "note_id" = ?', (note_id,)).fetchall()


def notes_fixed(db):
    with request("/notes-fixed"):
        cur = db.cursor()
        ids = [i for (i,) in cur.execute('SELECT "id" FROM "notes" ORDER BY "id"').fetchall()]
        marks = ", ".join(["?"] * len(ids))
        cur.execute(f'SELECT "note_id", "body" FROM "revisions" WHERE "note_id" IN ({marks})', ids).fetchall()


def main():
    conn = pymysql.connect(
        host="127.0.0.1",
        port=int(os.environ["MYSQL_PORT"]),
        user=os.environ["MYSQL_USER"],
        password=os.environ["MYSQL_PASSWORD"],
        database="shop",
        autocommit=True,
    )
    db = sqlite3.connect(os.environ["SQLITE_PATH"])
    authors_n_plus_one(conn)
    authors_fixed(conn)
    notes_n_plus_one(db)
    notes_fixed(db)
    conn.close()
    db.close()
    provider.shutdown()


if __name__ == "__main__":
    main()
