"""A psycopg 3 workload for the proxy tests: prepared (auto-prepared after 5 runs)
statements, pipeline mode, a server-side cursor fetched in pieces, COPY, an error inside a
pipeline. Prints every result as JSON so that runs through the proxy and direct compare."""
import json
import sys

import psycopg

conninfo = sys.argv[1]
out = {}
with psycopg.connect(conninfo, autocommit=True) as conn:
    cur = conn.cursor()
    # A loop of one shape: psycopg prepares it server-side from the 5th execution on.
    out["loop"] = [
        cur.execute("SELECT name FROM customers WHERE id = %s", (i,)).fetchone()[0]
        for i in range(1, 13)
    ]
    # Pipeline mode: all statements are sent before the results are read.
    with conn.pipeline():
        cursors = []
        for i in range(1, 21):
            c = conn.cursor()
            c.execute("SELECT id, name FROM customers WHERE id = %s", (i,))
            cursors.append(c)
    out["pipeline"] = [c.fetchone() for c in cursors]
    # An error inside a pipeline: the statements after it are skipped until the sync.
    try:
        with conn.pipeline():
            conn.execute("SELECT 1")
            conn.execute("SELECT 1/0")
            conn.execute("SELECT 2")
    except psycopg.errors.DivisionByZero:
        out["pipeline_error"] = "division_by_zero"
    out["after_error"] = conn.execute("SELECT 42").fetchone()[0]
    # A server-side cursor read 7 rows at a time (DECLARE, then FETCH FORWARD 7 ...).
    with conn.transaction():
        with conn.cursor(name="big") as named:
            named.itersize = 7
            named.execute("SELECT g, g * 2 FROM generate_series(1, 50) g")
            out["cursor"] = [list(r) for r in named]
    # COPY in and out.
    conn.execute("CREATE TEMP TABLE copied (id int, note text)")
    with cur.copy("COPY copied FROM STDIN") as copy:
        for i in range(1, 101):
            copy.write_row((i, f"note {i}"))
    rows = []
    with cur.copy("COPY (SELECT * FROM copied ORDER BY id) TO STDOUT") as copy:
        for row in copy.rows():
            rows.append(list(row))
    out["copy"] = rows
print(json.dumps(out, default=str))
