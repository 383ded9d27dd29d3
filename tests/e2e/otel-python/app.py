"""A small psycopg "shop" traced by the real opentelemetry-instrumentation-psycopg, for
querycomb's trace tests (crates/cli/tests/traces_python.rs). Each "request" is a server span
named after its route; the database spans under it come from the instrumentation.

    DATABASE_URL=postgresql://... QC_EXPORT=<how> python app.py

QC_EXPORT: proto-file:PATH  binary ExportTraceServiceRequests, each after its length as 4
                            big-endian bytes (the Collector file exporter's proto format),
                            encoded by the SDK's own OTLP encoder
           http-proto:URL | grpc:URL   the SDK's OTLP exporters
"""

import os
import struct
import threading

import psycopg
from opentelemetry import context, trace
from opentelemetry.instrumentation.psycopg import PsycopgInstrumentor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult


class ProtoFileExporter(SpanExporter):
    def __init__(self, path):
        self.path = path

    def export(self, spans):
        from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans

        body = encode_spans(spans).SerializeToString()
        with open(self.path, "ab") as out:
            out.write(struct.pack(">I", len(body)) + body)
        return SpanExportResult.SUCCESS

    def shutdown(self):
        pass


def exporter(spec):
    kind, _, target = spec.partition(":")
    if kind == "proto-file":
        return ProtoFileExporter(target)
    if kind == "http-proto":
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        return OTLPSpanExporter(endpoint=target)
    if kind == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

        return OTLPSpanExporter(endpoint=target, insecure=True)
    raise SystemExit(f"QC_EXPORT: unknown kind {kind}")


provider = TracerProvider(resource=Resource.create({"service.name": "shop-py"}))
provider.add_span_processor(BatchSpanProcessor(exporter(os.environ["QC_EXPORT"])))
trace.set_tracer_provider(provider)
PsycopgInstrumentor().instrument()
tracer = trace.get_tracer("querycomb-e2e")
url = os.environ["DATABASE_URL"]


def request(route):
    return tracer.start_as_current_span(
        f"GET {route}",
        kind=trace.SpanKind.SERVER,
        attributes={"http.route": route, "http.request.method": "GET"},
    )


def books_n_plus_one(conn):
    with request("/books"):
        books = conn.execute("SELECT id, title, author_id FROM books ORDER BY id").fetchall()
        for _, _, author_id in books:
            conn.execute("SELECT id, name FROM authors WHERE id = %s", (author_id,)).fetchone()


def books_fixed(conn):
    with request("/books-fixed"):
        books = conn.execute("SELECT id, title, author_id FROM books ORDER BY id").fetchall()
        ids = [author_id for _, _, author_id in books]
        conn.execute("SELECT id, name FROM authors WHERE id = ANY(%s)", (ids,)).fetchall()


def books_concurrent(conns):
    """The same loop as a fan-out: eight threads, one connection each, released together."""
    with request("/books-concurrent"):
        books = conns[0].execute("SELECT id, title, author_id FROM books ORDER BY title").fetchall()
        parent = context.get_current()
        go = threading.Barrier(len(books))

        def lookup(conn, author_id):
            token = context.attach(parent)
            try:
                go.wait()
                conn.execute(
                    "SELECT name, pg_sleep(0.05) FROM authors WHERE id = %s", (author_id,)
                ).fetchone()
            finally:
                context.detach(token)

        threads = [
            threading.Thread(target=lookup, args=(conn, author_id))
            for conn, (_, _, author_id) in zip(conns, books)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()


def main():
    conns = [psycopg.connect(url, autocommit=True) for _ in range(8)]
    books_n_plus_one(conns[0])
    books_fixed(conns[0])
    books_concurrent(conns)
    for conn in conns:
        conn.close()
    provider.shutdown()


main()
