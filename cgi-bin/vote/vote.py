#!/usr/bin/env python3
"""vote: a CGI program (RFC 3875).  GET shows two options and this
voter's choice; POST vote=a|b queues {"voter_id", "vote", "ts"} on the
Redis stream `votes` and sends the browser back to the form (303).

Environment: OPTION_A, OPTION_B (Cats, Dogs), REDIS_HOST, REDIS_PORT
(127.0.0.1, 6379).  The voter is known by the cookie voter_id."""

import html
import http.cookies
import json
import os
import re
import secrets
import sys
import time
import urllib.parse

# redis is imported where a POST needs it: the import alone costs a GET
# more than the rest of its run (~150 ms on a small machine).

OPTIONS = {"a": os.environ.get("OPTION_A", "Cats"), "b": os.environ.get("OPTION_B", "Dogs")}
# What record-vote-task accepts; new voters get secrets.token_hex(8).
VOTER_RE = re.compile(r"\A[A-Za-z0-9_-]{1,64}\Z")


def reply(status, headers, body=""):
    """The response with its Content-Length: dcgid ends it at the last
    byte, without waiting for this process to exit."""
    data = body.encode("utf-8")
    head = "Status: %s\r\n" % status + "".join(h + "\r\n" for h in headers)
    head += "Content-Length: %d\r\n\r\n" % len(data)
    out = sys.stdout.buffer
    out.write(head.encode("utf-8") + data)
    out.flush()


def page(choice, message=""):
    def button(key):
        chosen = " chosen" if choice == key else ""
        mark = " &#10003;" if choice == key else ""
        return ('<button type="submit" name="vote" value="%s" class="option%s">%s%s</button>'
                % (key, chosen, html.escape(OPTIONS[key]), mark))
    you = ("You voted for <b>%s</b>. You can change your mind." % html.escape(OPTIONS[choice])
           if choice in OPTIONS else "Pick one.")
    return """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>%(a)s or %(b)s?</title>
<style>
body { font: 18px/1.5 system-ui, sans-serif; margin: 0; background: #f4f5f7; color: #222; }
main { max-width: 32em; margin: 4em auto; padding: 2em; background: #fff; border-radius: 12px;
       box-shadow: 0 2px 12px rgba(0,0,0,.08); text-align: center; }
.option { display: block; width: 100%%; margin: .6em 0; padding: .9em; font-size: 1.2em;
          border: 2px solid #2f6fed; border-radius: 8px; background: #fff; color: #2f6fed;
          cursor: pointer; }
.option.chosen { background: #2f6fed; color: #fff; }
p.note { color: #666; } a { color: #2f6fed; }
</style></head>
<body><main>
<h1>%(a)s or %(b)s?</h1>
<form method="post" action="/vote">%(ba)s%(bb)s</form>
<p id="you">%(you)s</p>
<p class="note">%(msg)s<a href="/result/">See the results</a></p>
</main></body></html>
""" % {"a": html.escape(OPTIONS["a"]), "b": html.escape(OPTIONS["b"]), "ba": button("a"),
       "bb": button("b"), "you": you, "msg": html.escape(message) + " " if message else ""}


def main():
    method = os.environ.get("REQUEST_METHOD", "GET")
    cookies = http.cookies.SimpleCookie()
    try:
        cookies.load(os.environ.get("HTTP_COOKIE", ""))
    except http.cookies.CookieError:
        pass
    voter = cookies["voter_id"].value if "voter_id" in cookies else ""
    if not VOTER_RE.match(voter):
        voter = ""
    choice = cookies["vote"].value if "vote" in cookies else ""

    if method in ("GET", "HEAD"):
        reply("200 OK", ["Content-Type: text/html; charset=utf-8",
                         "Cache-Control: private, no-store"], page(choice))
        return
    if method != "POST":
        reply("405 Method Not Allowed", ["Allow: GET, HEAD, POST",
                                         "Content-Type: text/plain"], "GET or POST\n")
        return
    try:
        length = int(os.environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    body = sys.stdin.buffer.read(min(length, 4096)).decode("utf-8", "replace")
    vote = urllib.parse.parse_qs(body).get("vote", [""])[0]
    if vote not in OPTIONS:
        reply("400 Bad Request", ["Content-Type: text/plain"], "vote must be a or b\n")
        return
    voter = voter or secrets.token_hex(8)
    # ts orders one voter's votes: the task keeps the newest, whatever
    # order the queue runs them in.
    item = json.dumps({"voter_id": voter, "vote": vote, "ts": time.time_ns()})
    import redis
    try:
        r = redis.Redis(host=os.environ.get("REDIS_HOST", "127.0.0.1"),
                        port=int(os.environ.get("REDIS_PORT", "6379")),
                        socket_timeout=3, socket_connect_timeout=3)
        # The stream the queue reads (<Queue votes>, Type stream).
        r.xadd("votes", {"item": item})
    except redis.RedisError as e:
        print("vote: redis: %s" % e, file=sys.stderr)
        reply("503 Service Unavailable", ["Content-Type: text/html; charset=utf-8",
                                          "Retry-After: 2"],
              page(choice, "Your vote could not be taken; please try again."))
        return
    year = 365 * 24 * 3600
    reply("303 See Other", [
        "Location: /vote",
        "Set-Cookie: voter_id=%s; Path=/; Max-Age=%d; HttpOnly; SameSite=Lax" % (voter, year),
        "Set-Cookie: vote=%s; Path=/; Max-Age=%d; SameSite=Lax" % (vote, year),
        "Content-Type: text/plain"], "Thank you\n")


main()
