#!/usr/bin/env python3
"""Writes a labelled OTLP/JSON lines file (the Collector file exporter's format) for the
trace benchmark: requests of three instrumentation styles, each an N+1 route or its fixed
twin, with the statement texts real instrumentations emit (placeholders, sqlcommenter
comments, Django's LIMIT 21). Every route has its own tables, so each labelled pattern is
one finding signature.

    gen_otlp.py OUT.jsonl SIZE_MB [LABELS.json]

Labels: {route: "n_plus_one" | "clean"}; 36 N+1 routes (12 per style, a third of them
concurrent fan-outs) and 36 clean twins.
"""
import json
import os
import random
import sys

STYLES = {
    # Django + psycopg (old semconv keys), Django's LIMIT 21 and a sqlcommenter comment.
    "django": dict(
        system="db.system", text="db.statement",
        parent="SELECT \"t{k}_order\".\"id\", \"t{k}_order\".\"customer_id\" FROM \"t{k}_order\" ORDER BY \"t{k}_order\".\"id\" ASC",
        child="SELECT \"t{k}_customer\".\"id\", \"t{k}_customer\".\"name\" FROM \"t{k}_customer\" WHERE \"t{k}_customer\".\"id\" = %s LIMIT 21 /*controller='orders{k}',framework='django%3A5.2'*/",
        fixed="SELECT \"t{k}_customer\".\"id\", \"t{k}_customer\".\"name\" FROM \"t{k}_customer\" WHERE \"t{k}_customer\".\"id\" IN ({ins})",
        ph="%s",
    ),
    # SQLAlchemy + psycopg: named pyformat placeholders.
    "sqlalchemy": dict(
        system="db.system", text="db.statement",
        parent="SELECT t{k}_orders.id, t{k}_orders.customer_id FROM t{k}_orders ORDER BY t{k}_orders.id",
        child="SELECT t{k}_customers.id, t{k}_customers.name FROM t{k}_customers WHERE t{k}_customers.id = %(pk_1)s",
        fixed="SELECT t{k}_customers.id, t{k}_customers.name FROM t{k}_customers WHERE t{k}_customers.id IN (__[POSTCOMPILE_id_1])",
        ph=None,
    ),
    # node-postgres (new semconv keys).
    "node": dict(
        system="db.system.name", text="db.query.text",
        parent="SELECT id, customer_id FROM t{k}_orders ORDER BY id",
        child="SELECT id, name FROM t{k}_customers WHERE id = $1",
        fixed="SELECT id, name FROM t{k}_customers WHERE id = ANY($1)",
        ph=None,
    ),
}


def attr(key, value):
    if isinstance(value, int):
        return {"key": key, "value": {"intValue": str(value)}}
    return {"key": key, "value": {"stringValue": value}}


def routes():
    out = []
    for style in STYLES:
        for i in range(12):
            k = f"{style[:2]}{i}"
            fanout = i % 3 == 2
            out.append((f"/{style}/orders{i}", style, k, "n_plus_one", fanout))
            out.append((f"/{style}/orders{i}/fixed", style, k + "f", "clean", False))
    return out


def trace_spans(rng, route, style, k, label, fanout, t0):
    s = STYLES[style]
    trace = "%032x" % rng.getrandbits(128)
    root = "%016x" % rng.getrandbits(64)
    n = rng.randint(6, 14)
    spans = []
    t = t0

    def db(sql, start, dur):
        spans.append({
            "traceId": trace, "spanId": "%016x" % rng.getrandbits(64), "parentSpanId": root,
            "name": sql.split()[0], "kind": 3,
            "startTimeUnixNano": str(start), "endTimeUnixNano": str(start + dur),
            "attributes": [attr(s["system"], "postgresql"), attr(s["text"], sql), attr("db.name", "shop")],
        })

    db(s["parent"].format(k=k), t, 400_000)
    t += 500_000
    if label == "n_plus_one":
        for i in range(n):
            start = t + (i * 20_000 if fanout else i * 300_000)
            db(s["child"].format(k=k), start, 250_000 if not fanout else 2_000_000)
        t += n * 300_000 if not fanout else 2_500_000
    else:
        ins = ", ".join([s["ph"] or "%s"] * n)
        db(s["fixed"].format(k=k, ins=ins), t, 600_000)
        t += 700_000
    spans.append({
        "traceId": trace, "spanId": root, "name": f"GET {route}", "kind": 2,
        "startTimeUnixNano": str(t0 - 100_000), "endTimeUnixNano": str(t + 100_000),
        "attributes": [attr("http.route", route), attr("http.request.method", "GET"), attr("http.response.status_code", 200)],
    })
    return spans


def main():
    out, size_mb = sys.argv[1], float(sys.argv[2])
    labels_path = sys.argv[3] if len(sys.argv) > 3 else None
    rng = random.Random(7)
    all_routes = routes()
    if labels_path:
        with open(labels_path, "w") as f:
            json.dump({r: label for r, _, _, label, _ in all_routes}, f, indent=1)
    limit = int(size_mb * 1e6)
    written = 0
    t0 = 1_765_000_000_000_000_000
    with open(out, "w") as f:
        while written < limit:
            # One exported batch: 20 requests, each of a random route.
            spans = []
            for _ in range(20):
                route, style, k, label, fanout = rng.choice(all_routes)
                spans.extend(trace_spans(rng, route, style, k, label, fanout, t0))
                t0 += 5_000_000
            request = {"resourceSpans": [{
                "resource": {"attributes": [attr("service.name", "shop")]},
                "scopeSpans": [{"scope": {"name": "bench"}, "spans": spans}],
            }]}
            line = json.dumps(request, separators=(",", ":")) + "\n"
            f.write(line)
            written += len(line)


main()
