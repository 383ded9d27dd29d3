"""psycopg 3 over TLS through the proxy: a query, that TLS is in use on the client's leg,
and a cancel of a long query (libpq sends the CancelRequest on a new connection)."""
import json
import sys
import threading

import psycopg

conninfo = sys.argv[1]
out = {}
with psycopg.connect(conninfo, autocommit=True) as conn:
    out["ssl_in_use"] = conn.pgconn.ssl_in_use
    out["sum"] = conn.execute("SELECT sum(g) FROM generate_series(1, 100) g").fetchone()[0]
    timer = threading.Timer(0.5, conn.cancel)
    timer.start()
    try:
        conn.execute("SELECT pg_sleep(60)")
        out["cancel"] = "not cancelled"
    except psycopg.errors.QueryCanceled:
        out["cancel"] = "query_canceled"
    finally:
        timer.cancel()
    out["after_cancel"] = conn.execute("SELECT 2").fetchone()[0]
print(json.dumps(out, sort_keys=True))
