#!/usr/bin/env python3
"""Where a request's work goes: the release build under valgrind's callgrind, which counts
instructions (repeatable on a shared, noisy machine, unlike seconds). Instrumentation is on only
while the requests run, so start-up and the first-use costs are left out.

    scripts/bench/profile.py [forward-auth|sign-in|hello] [--requests N] [--top 25]

  forward-auth  GET /auth/verify with a valid session cookie and X-Original-URL (as nginx sends
                them) on one keep-alive connection
  sign-in       POST /api/v1/login with the right password (argon2id is most of it)
  hello         the bare axum hello (examples/hello.rs) the same way: the floor

Prints instructions per request and the functions that executed them (self cost). Needs
valgrind (Debian package) and a release build (cargo build --release --bin nidan).
"""
import argparse
import http.client
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import load  # noqa: E402  (the same release build, account and sign-in as the load runs)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("what", choices=["forward-auth", "sign-in", "hello"], nargs="?", default="forward-auth")
    ap.add_argument("--requests", type=int, default=None)
    ap.add_argument("--top", type=int, default=25)
    a = ap.parse_args()
    requests = a.requests or (10 if a.what == "sign-in" else 2000)
    for tool in ("valgrind", "callgrind_control", "callgrind_annotate"):
        if not shutil.which(tool):
            sys.exit(f"{tool} is missing: apt-get install valgrind")

    work = tempfile.mkdtemp(prefix="nidan-profile-")
    n = load.Nidan(work, None)
    n.cli("migrate")
    n.cli("user", "add", load.EMAIL, "--password-stdin", stdin=load.PASSWORD)
    n.port = load.free_port()
    out = os.path.join(work, "callgrind.out")
    if a.what == "hello":
        served = [os.path.join(load.RELEASE, "examples", "hello"), f"127.0.0.1:{n.port}"]
    else:
        served = [os.path.join(load.RELEASE, "nidan"), "serve", "--listen",
                  f"127.0.0.1:{n.port}", "--data-dir", work]
    n.proc = subprocess.Popen(
        ["valgrind", "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={out}",
         *served], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while True:
        try:
            c = http.client.HTTPConnection("127.0.0.1", n.port, timeout=5)
            c.request("GET", "/" if a.what == "hello" else "/readyz")
            if c.getresponse().status == 200:
                break
        except OSError:
            if time.time() > deadline:
                sys.exit("nidan did not get ready under valgrind")
            time.sleep(0.2)

    c = http.client.HTTPConnection("127.0.0.1", n.port, timeout=60)
    path = "/" if a.what == "hello" else "/auth/verify"
    headers = {} if a.what == "hello" else {"Cookie": n.sign_in(), "X-Original-URL": load.ORIGINAL_URL}
    c.request("GET", path, headers=headers)  # warm: the session is read once
    c.getresponse().read()
    subprocess.run(["callgrind_control", "-i", "on", str(n.proc.pid)], check=True,
                   capture_output=True)
    for _ in range(requests):
        if a.what != "sign-in":
            c.request("GET", path, headers=headers)
        else:
            c.request("POST", "/api/v1/login",
                      json.dumps({"email": load.EMAIL, "password": load.PASSWORD}),
                      {"Content-Type": "application/json", "X-Requested-With": "profile"})
        r = c.getresponse()
        r.read()
        assert r.status == 200, r.status
    subprocess.run(["callgrind_control", "-i", "off", str(n.proc.pid)], check=True,
                   capture_output=True)
    n.proc.terminate()
    n.proc.wait(timeout=120)

    report = subprocess.run(["callgrind_annotate", "--threshold=100", out],
                            capture_output=True, text=True, check=True).stdout
    found = re.search(r"([\d,]+) \(100\.0%\)\s+PROGRAM TOTALS", report)
    if not found:
        sys.exit("callgrind_annotate printed no totals:\n" + report[:2000])
    total = int(re.search(r"([\d,]+) \(100\.0%\)\s+PROGRAM TOTALS", report).group(1)
                .replace(",", ""))
    print(f"{a.what}: {requests} requests, {total / requests:,.0f} instructions per request\n")
    rows = re.findall(r"^\s*([\d,]+) \(\s*([\d.]+)%\)\s+(.+)$",
                      report.split("file:function", 1)[1], re.M)
    for count, share, where in rows[: a.top]:
        name = where.split(":", 1)[-1].split(" [")[0]
        print(f"{share:>6}%  {int(count.replace(',', '')) / requests:>12,.0f}  {name[:110]}")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
