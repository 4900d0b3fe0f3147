#!/usr/bin/python3
"""asyncpg (Debian's python3-asyncpg: its own protocol code, no libpq) through sluice.

Usage: asyncpg_client.py DSN EXPECT_USER EXPECT_DB_TLS(t|f)
The password comes from PGPASSWORD. Prints one "ok NAME" line per check; exits non-zero
with a traceback on the first failure. Run by terminate_matrix_test.cpp.
"""
import asyncio
import io
import sys
import time

import asyncpg


def ok(name):
    print("ok " + name, flush=True)


async def main():
    dsn, expect_user, expect_tls = sys.argv[1], sys.argv[2], sys.argv[3] == "t"
    conn = await asyncpg.connect(dsn, timeout=10)
    other = await asyncpg.connect(dsn, timeout=10)

    # asyncpg sends every query as Parse/Bind/Execute with a named, cached statement.
    assert await conn.fetchval("select $1::int + $2", 40, 2) == 42
    row = await conn.fetchrow(
        "select current_user::text, ssl from pg_stat_ssl where pid = pg_backend_pid()")
    assert row[0] == expect_user, row
    assert row[1] == expect_tls, row
    ok("query")

    stmt = await conn.prepare("select $1::int * 2, $2::text")
    for i in range(1, 6):
        assert tuple(await stmt.fetchrow(i, "v%d" % i)) == (2 * i, "v%d" % i)
    ok("prepared")

    # COPY in (binary, from records) and out (text, to a buffer).
    await conn.execute("create temp table apg_copy(id int, name text)")
    records = [(i, "row-%d" % i) for i in range(1, 20001)]
    await conn.copy_records_to_table("apg_copy", records=records)
    assert await conn.fetchval("select count(*) from apg_copy") == 20000
    out = io.BytesIO()
    await conn.copy_from_query("select * from apg_copy order by id", output=out)
    expected = "".join("%d\t%s\n" % r for r in records).encode()
    assert out.getvalue() == expected, out.getvalue()[:200]
    ok("copy")

    got = asyncio.get_running_loop().create_future()
    await conn.add_listener("apg_ch", lambda c, pid, ch, payload: got.set_result(payload))
    await other.execute("notify apg_ch, 'from-other'")
    assert await asyncio.wait_for(got, 10) == "from-other"
    ok("notify")

    # Cancelling the task makes asyncpg send a CancelRequest on a new connection.
    sleeper = asyncio.create_task(conn.execute("select pg_sleep(30)"))
    for _ in range(200):
        n = await other.fetchval(
            "select count(*) from pg_stat_activity where query = 'select pg_sleep(30)'")
        if n == 1:
            break
        await asyncio.sleep(0.05)
    t0 = time.monotonic()
    sleeper.cancel()
    try:
        await sleeper
        raise AssertionError("pg_sleep was not cancelled")
    except asyncio.CancelledError:
        pass
    # The server must have stopped the statement (the cancel key reached the right backend).
    for _ in range(100):
        n = await other.fetchval(
            "select count(*) from pg_stat_activity where query = 'select pg_sleep(30)' "
            "and state = 'active'")
        if n == 0:
            break
        await asyncio.sleep(0.02)
    took = time.monotonic() - t0
    print("cancel took %.3f s" % took, flush=True)
    assert n == 0 and took < 1.5, (n, took)
    assert await conn.fetchval("select 'alive'") == "alive"
    ok("cancel")

    await other.close()
    await conn.close()
    ok("all")


if __name__ == "__main__":
    asyncio.run(main())
