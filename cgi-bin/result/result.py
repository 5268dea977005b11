#!/usr/bin/env python3
"""result: a CGI program (RFC 3875) answering GET with the vote counts:
{"options": {"a": "Cats", "b": "Dogs"}, "counts": {"a": N, "b": M}, "total": N+M}

Served under a route /result/votes (PATH_INFO empty) or /result
(PATH_INFO /votes); any other PATH_INFO is 404.  A missing table counts
as no votes; a database that does not answer is 503 with {"error": ...}.

Environment: OPTION_A, OPTION_B (Cats, Dogs), and PostgreSQL's own
PGHOST, PGPORT, PGUSER, PGPASSWORD, PGDATABASE, and PGPASSWORD_FILE (a
file holding the password: a dcgi Secret) (PGCONNECT_TIMEOUT: 3 s
unless set).  The connection comes from db.py: made ahead, while a
prestarted container waited, when the route preloads db."""

import json
import os
import sys

import psycopg2

import db

OPTIONS = {"a": os.environ.get("OPTION_A", "Cats"), "b": os.environ.get("OPTION_B", "Dogs")}


def reply(status, body, extra=()):
    """With its Content-Length: dcgid ends the response at the last byte."""
    data = (json.dumps(body) + "\n").encode("utf-8")
    head = "Status: %s\r\nContent-Type: application/json\r\n" % status
    head += "".join(h + "\r\n" for h in extra)
    head += "Content-Length: %d\r\n\r\n" % len(data)
    sys.stdout.buffer.write(head.encode("utf-8") + data)
    sys.stdout.flush()


def count(conn):
    """The counts per option; closes conn."""
    try:
        got = db.counts(conn)
    finally:
        conn.close()
    return {k: got.get(k, 0) for k in ("a", "b")}


def main():
    if os.environ.get("PATH_INFO", "") not in ("", "/", "/votes"):
        reply("404 Not Found", {"error": "no such resource"})
        return
    if os.environ.get("REQUEST_METHOD", "GET") not in ("GET", "HEAD"):
        reply("405 Method Not Allowed", {"error": "GET only"}, ["Allow: GET, HEAD"])
        return
    try:
        conn, ahead = db.connection()
        try:
            counts = count(conn)
        except (psycopg2.OperationalError, psycopg2.InterfaceError):
            if not ahead:
                raise
            # made ahead and lost since (the server restarted): once more
            counts = count(db.connect())
    except psycopg2.Error as e:
        print("result: database: %s" % str(e).strip(), file=sys.stderr)
        reply("503 Service Unavailable", {"error": "database unavailable"}, ["Retry-After: 2"])
        return
    reply("200 OK", {"options": OPTIONS, "counts": counts, "total": counts["a"] + counts["b"]},
          ["Cache-Control: public, max-age=1"])


main()
