#!/usr/bin/env python3
"""bench/poll.py: BROWSERS simulated browsers poll /result/votes over
HTTPS once a second for SECONDS seconds, against the voting app (its own
Redis and PostgreSQL, as the tests make them), once with `Cache 1s` on the
route and once without.  Reports containers started per second (docker
events), p50/p99 latency and the answers that were not 200.

    python3 bench/poll.py [BROWSERS=500] [SECONDS=30]

Run as root, with dcgid built and the images made (make images)."""

import asyncio
import os
import ssl
import statistics
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests",
                                "integration"))
os.environ.setdefault("DCGID", os.path.join(os.path.dirname(os.path.abspath(__file__)), "..",
                                            "httpd", "dcgid"))
import voteapp  # noqa: E402

BROWSERS = int(sys.argv[1]) if len(sys.argv) > 1 else 500
SECONDS = int(sys.argv[2]) if len(sys.argv) > 2 else 30
CTX = ssl.create_default_context()
CTX.check_hostname = False
CTX.verify_mode = ssl.CERT_NONE


async def browser(port, until, lat, statuses):
    reader = writer = None
    while time.monotonic() < until:
        start = time.monotonic()
        try:
            if writer is None:
                reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=CTX)
            writer.write(b"GET /result/votes HTTP/1.1\r\nHost: localhost\r\n\r\n")
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head.split(b" ", 2)[1])
            length = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            if b"chunked" in head.lower():
                while True:
                    size = int((await reader.readline()).strip(), 16)
                    await reader.readexactly(size + 2)
                    if size == 0:
                        break
            else:
                await reader.readexactly(length)
            lat.append(time.monotonic() - start)
            statuses[status] = statuses.get(status, 0) + 1
        except Exception:
            statuses["error"] = statuses.get("error", 0) + 1
            if writer is not None:
                writer.close()
            reader = writer = None
        await asyncio.sleep(max(0, 1 - (time.monotonic() - start)))
    if writer is not None:
        writer.close()


def run(cache):
    app = voteapp.App(cache=cache)
    try:
        ev = subprocess.Popen(["docker", "events", "--filter", "event=create", "--filter",
                               "label=dcgi.route=/result/votes", "--format", "{{.ID}}"],
                              stdout=subprocess.PIPE, text=True)
        created = []
        threading.Thread(target=lambda: created.extend(ev.stdout), daemon=True).start()
        time.sleep(1)
        lat, statuses = [], {}

        async def main():
            until = time.monotonic() + SECONDS
            tasks = []
            for i in range(BROWSERS):
                tasks.append(asyncio.create_task(browser(app.server.tls_port, until, lat,
                                                         statuses)))
                await asyncio.sleep(1 / BROWSERS)    # spread the polls over the second
            await asyncio.gather(*tasks)

        asyncio.run(main())
        time.sleep(1)
        ev.terminate()
        ev.wait(10)
        lat.sort()
        return {"containers_per_s": len(created) / SECONDS, "requests": len(lat),
                "p50_ms": 1000 * statistics.median(lat) if lat else None,
                "p99_ms": 1000 * lat[int(0.99 * (len(lat) - 1))] if lat else None,
                "statuses": statuses}
    finally:
        app.stop()


if __name__ == "__main__":
    print("== %d browsers polling /result/votes over HTTPS every second for %ds, %s UTC"
          % (BROWSERS, SECONDS, time.strftime("%Y-%m-%d %H:%M", time.gmtime())))
    for label, cache in (("Cache 1s", "1s"), ("no cache", "0")):
        r = run(cache)
        print("%-9s containers/s %6.2f  requests %6d  p50 %8.1f ms  p99 %8.1f ms  answers %s"
              % (label, r["containers_per_s"], r["requests"], r["p50_ms"] or -1,
                 r["p99_ms"] or -1, r["statuses"]))
