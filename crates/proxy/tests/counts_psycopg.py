"""psycopg 3 through the proxy, one table per protocol flow: auto-prepared after 5 runs,
a pipeline, executemany, a server-side cursor fetched in pieces, a simple query."""
import sys

import psycopg

with psycopg.connect(sys.argv[1], autocommit=True) as conn:
    for i in range(8):
        conn.execute("SELECT n FROM flow_pg3_loop WHERE n = %s", (i,)).fetchall()
    with conn.pipeline():
        for i in range(6):
            conn.execute("SELECT n FROM flow_pg3_pipe WHERE n = %s", (i,))
    with conn.cursor() as cur:
        cur.executemany("UPDATE flow_pg3_many SET n = n WHERE n = %s", [(i,) for i in range(4)])
    with conn.transaction():
        with conn.cursor(name="c1") as cur:
            cur.itersize = 3
            cur.execute("SELECT n FROM flow_pg3_named")
            assert len(list(cur)) == 10
    conn.execute("SELECT count(*) FROM flow_pg3_simple", prepare=False)
