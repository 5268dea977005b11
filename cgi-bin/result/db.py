"""db: result's PostgreSQL connection and query, made ready ahead of the
request where it can be.

With `Preload python psycopg2 json db` in the route, a container imports
this before its request, with the route's Env (PGHOST, PGPORT, PGUSER,
PGDATABASE, PGPASSWORD_FILE, ...) already in its environment: a prestarted container
connects while it waits and runs the query once, so that the request finds
the connection made and the server's caches warm (what a new PostgreSQL
backend costs, ~15 ms here, is off its time).  Imported at the request,
without Preload, it connects only when the request asks: as before.

A connection made ahead may have been closed since (the server
restarted): connection() gives it once, and the caller runs its query
again on a new one when the first attempt fails on it.
"""
import os

import psycopg2
import psycopg2.errors

_ahead = None


def password():
    """The password in the file PGPASSWORD_FILE names (a dcgi Secret,
    /run/secrets/pg-password), or None: then libpq's own (PGPASSWORD,
    ~/.pgpass) or none."""
    path = os.environ.get("PGPASSWORD_FILE")
    if not path:
        return None
    with open(path) as f:
        return f.read().strip("\r\n")


def connect():
    timeout = os.environ.get("PGCONNECT_TIMEOUT") or "3"
    kw = {"connect_timeout": timeout}
    pw = password()
    if pw is not None:
        kw["password"] = pw
    conn = psycopg2.connect("", **kw)
    conn.autocommit = True      # one read: no BEGIN and COMMIT round trips
    return conn


def connection():
    """(conn, ahead): the connection made ahead, once, if there is one;
    else a new one (psycopg2.Error when the database does not answer)."""
    global _ahead
    conn, _ahead = _ahead, None
    if conn is not None and not conn.closed:
        return conn, True
    return connect(), False


def counts(conn):
    """{vote: count} of the table votes ({} while there is no table)."""
    with conn.cursor() as cur:
        try:
            cur.execute("SELECT vote, count(*) FROM votes GROUP BY vote")
        except psycopg2.errors.UndefinedTable:
            return {}
        return dict(cur.fetchall())


# Ahead only while preloaded (dcgi-preload.py sets DCGI_PRELOAD) and when the
# Env names a database; imported with the request it is the request's own
# connect.  A failure here is no error: the request connects again and says
# what went wrong.
if os.environ.get("DCGI_PRELOAD") and (os.environ.get("PGHOST") or
                                       os.environ.get("PGDATABASE")):
    try:
        _ahead = connect()
        counts(_ahead)
    except psycopg2.Error:
        _ahead = None
