"""asyncpg through the proxy, one table per protocol flow (so pg_stat_statements counts
each flow apart): the statement cache (Parse/Describe/Sync, then Bind/Execute/Sync per
call), an explicit prepared statement, executemany, a multi-statement simple query, and a
cursor fetched in pieces inside a transaction."""
import asyncio
import sys

import asyncpg


async def main(dsn):
    conn = await asyncpg.connect(dsn)
    for i in range(5):
        await conn.fetchval("SELECT n FROM flow_cached WHERE n = $1", i)
    stmt = await conn.prepare("SELECT n FROM flow_prepared WHERE n = $1")
    for i in range(4):
        await stmt.fetchval(i)
    await conn.executemany("UPDATE flow_many SET n = n WHERE n = $1", [(i,) for i in range(3)])
    await conn.execute("SELECT count(*) FROM flow_simple; SELECT max(n) FROM flow_simple")
    async with conn.transaction():
        rows = [r async for r in conn.cursor("SELECT n FROM flow_cursor", prefetch=3)]
    assert len(rows) == 10, rows
    await conn.close()


asyncio.run(main(sys.argv[1]))
