#!/usr/bin/env python3
"""The voting app in a real browser: headless chromium (Debian's) driven
by playwright-core opens the vote page, clicks an option, opens the result
page over HTTPS (trusting the test certificate) and waits until the page
shows the vote.  The screenshot is kept outside the repository."""

import json
import os
import subprocess
import tempfile

from dcgitest import REPO, Tap
from voteapp import App, images_present

t = Tap()
missing = images_present()
if missing:
    t.ok(False, "image %s is missing: run make images" % missing)
    t.done()
t.ok(os.access("/usr/bin/chromium", os.X_OK), "Debian's chromium is installed")
browser_dir = os.path.join(REPO, "tests", "browser")
t.ok(os.path.isdir(os.path.join(browser_dir, "node_modules", "playwright-core")),
     "playwright-core is installed (tests/setup.sh)")

app = App()
try:
    cert = os.path.join(app.tmp, "cert.pem")
    spki = subprocess.run(
        "openssl x509 -in %s -pubkey -noout | openssl pkey -pubin -outform der | "
        "openssl dgst -sha256 -binary | base64" % cert, shell=True, capture_output=True,
        text=True, check=True).stdout.strip()
    shot = os.path.join(tempfile.gettempdir(), "dcgi-result-page.png")
    p = subprocess.run(["node", os.path.join(browser_dir, "vote.mjs"),
                        "http://127.0.0.1:%d/vote" % app.server.port,
                        "https://localhost:%d/result/" % app.server.tls_port, spki, shot],
                       capture_output=True, text=True, timeout=180, cwd=browser_dir)
    try:
        seen = json.loads(p.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        seen = {"ok": False, "error": p.stdout + p.stderr}
    t.ok(seen.get("ok"), "the browser went through: %s" % seen.get("error", "ok"))
    t.is_(seen.get("options"), ["Cats", "Dogs"], "the vote page shows both options")
    t.ok("You voted for Cats" in (seen.get("you") or ""), "after the click it shows the choice")
    t.is_(seen.get("total"), "1 vote", "the result page, over HTTPS, shows the vote live")
    t.is_((seen.get("nameA"), seen.get("pctA"), seen.get("pctB")), ("Cats", "100%", "0%"),
          "with the percentages")
    t.ok(seen.get("statusHidden"), "and no connection-lost note")
    t.ok(os.path.getsize(shot) > 1000 if os.path.exists(shot) else False,
         "screenshot saved to %s" % shot)
finally:
    code = app.stop()
t.is_(code, 0, "dcgid stops cleanly")
t.done()
