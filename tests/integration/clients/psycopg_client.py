#!/usr/bin/python3
"""psycopg2 (Debian's python3-psycopg2) through sluice: run by psycopg_test.cpp.

Usage: psycopg_client.py DSN EXPECT_DB_TLS(t|f) [EXPECT_USER]
Prints one "ok NAME" line per check; exits non-zero with a traceback on the first failure.
"""
import io
import select
import sys
import threading
import time

import psycopg2
import psycopg2.extensions


def ok(name):
    print("ok " + name, flush=True)


def main():
    dsn, expect_tls = sys.argv[1], sys.argv[2]
    expect_user = sys.argv[3] if len(sys.argv) > 3 else None
    conn = psycopg2.connect(dsn)
    conn.autocommit = True
    cur = conn.cursor()

    # Queries with client-side parameters.
    cur.execute("select %s::int + %s, %s::text", (40, 2, "it's"))
    assert cur.fetchone() == (42, "it's")
    cur.execute("select count(*) from generate_series(1, %s)", (1000,))
    assert cur.fetchone()[0] == 1000
    cur.execute("select ssl from pg_stat_ssl where pid = pg_backend_pid()")
    ssl = cur.fetchone()[0]
    assert ssl == (expect_tls == "t"), ssl
    if expect_user is not None:
        cur.execute("select current_user")
        assert cur.fetchone()[0] == expect_user
    ok("query")

    # A server-side prepared statement.
    cur.execute("prepare twice(int) as select $1 * 2")
    cur.execute("execute twice(%s)", (21,))
    assert cur.fetchone()[0] == 42
    cur.execute("select count(*) from pg_prepared_statements where name = 'twice'")
    assert cur.fetchone()[0] == 1
    ok("prepared")

    # COPY in and out.
    cur.execute("create temp table py_copy(id int, name text)")
    data = "1\tone\n2\ttwo\n3\tthree\n" + "".join("%d\tpad-%d\n" % (i, i) for i in range(4, 20001))
    cur.copy_expert("copy py_copy from stdin", io.StringIO(data))
    cur.execute("select count(*) from py_copy")
    assert cur.fetchone()[0] == 20000
    out = io.StringIO()
    cur.copy_expert("copy (select * from py_copy order by id) to stdout", out)
    assert out.getvalue() == data, out.getvalue()[:200]
    ok("copy")

    # LISTEN/NOTIFY: to itself, then from another connection, read with poll().
    cur.execute("listen py_self")
    cur.execute("notify py_self, 'to-self'")
    assert [(n.channel, n.payload) for n in conn.notifies] == [("py_self", "to-self")]
    conn.notifies.clear()
    other = psycopg2.connect(dsn)
    other.autocommit = True
    cur.execute("listen py_ch")
    other.cursor().execute("notify py_ch, 'from-other'")
    deadline = time.time() + 10
    while not conn.notifies and time.time() < deadline:
        if select.select([conn], [], [], 1) != ([], [], []):
            conn.poll()
    assert [(n.channel, n.payload) for n in conn.notifies] == [("py_ch", "from-other")], conn.notifies
    ok("notify")

    # conn.cancel() from another thread while pg_sleep runs.
    cancelled_at = []

    def canceller():
        watch = other.cursor()
        for _ in range(200):
            watch.execute("select count(*) from pg_stat_activity where query = 'select pg_sleep(30)'")
            if watch.fetchone()[0] == 1:
                break
            time.sleep(0.05)
        cancelled_at.append(time.monotonic())
        conn.cancel()

    t = threading.Thread(target=canceller)
    t.start()
    try:
        cur.execute("select pg_sleep(30)")
        raise AssertionError("pg_sleep was not cancelled")
    except psycopg2.extensions.QueryCanceledError as e:
        took = time.monotonic() - cancelled_at[0]
        assert "canceling statement due to user request" in str(e), str(e)
        print("cancel took %.3f s" % took, flush=True)
        assert took < 1.0, took
    t.join()
    cur.execute("select 'alive'")
    assert cur.fetchone()[0] == "alive"
    ok("cancel")

    other.close()
    conn.close()
    ok("all")


if __name__ == "__main__":
    main()
