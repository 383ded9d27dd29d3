"""psycopg 3 against a proxy enforcing `/orders*: max_statements = 3` (reject) and
`/warned*: max_statements = 2` (warn). Prints what the client saw as JSON: each statement's
result or the SQLSTATE of its exception, and the notices received."""
import json
import sys

import psycopg

conninfo = sys.argv[1]
out = {}


def tagged(route):
    return f"SELECT %s::int AS n /*route='{route}'*/"


def attempt(conn, sql, params=(), prepare=None):
    try:
        return conn.execute(sql, params, prepare=prepare).fetchone()[0]
    except psycopg.Error as e:
        return e.sqlstate


with psycopg.connect(conninfo, autocommit=True) as conn:
    notices = []
    conn.add_notice_handler(lambda d: notices.append([d.sqlstate, d.message_primary]))
    # Autocommit, extended protocol: the 4th and 5th are rejected, another route runs.
    out["autocommit"] = [attempt(conn, tagged("/orders/a"), (i,)) for i in range(5)]
    try:
        conn.execute(tagged("/orders/msg"), (0,))
        conn.execute(tagged("/orders/msg"), (0,))
        conn.execute(tagged("/orders/msg"), (0,))
        conn.execute(tagged("/orders/msg"), (0,))
    except psycopg.Error as e:
        out["message"] = e.diag.message_primary
        out["class"] = type(e).__name__
    out["other_route"] = attempt(conn, tagged("/other"), (7,))
    # Named prepared statements (psycopg prepares server-side with prepare=True).
    out["prepared"] = [attempt(conn, tagged("/orders/p"), (i,), prepare=True) for i in range(5)]
    # In a transaction: the rejection aborts it, as any error would, until ROLLBACK.
    conn.autocommit = False
    out["transaction"] = [attempt(conn, tagged("/orders/tx"), (i,)) for i in range(4)]
    out["after_rejection"] = attempt(conn, "SELECT 1 /*route='/other'*/")
    conn.rollback()
    out["after_rollback"] = attempt(conn, "SELECT 2")
    conn.rollback()
    conn.autocommit = True
    # A pipeline: the 4th fails, the 5th is skipped by the server up to the Sync.
    results = []
    try:
        with conn.pipeline():
            cursors = []
            for i in range(5):
                cursors.append(conn.execute(tagged("/orders/pipe"), (i,)))
    except psycopg.Error as e:
        results.append(e.sqlstate)
    out["pipeline"] = results
    out["after_pipeline"] = attempt(conn, tagged("/next"), (9,))
    # Warn: the statements run, one notice per request.
    out["warned"] = [attempt(conn, tagged("/warned/a"), (i,)) for i in range(4)]
    out["notices"] = notices
print(json.dumps(out, sort_keys=True))
