#!/usr/bin/env python3
"""Load measurements of a release build on 127.0.0.1 with wrk, each beside its baseline in the
same run. Prints one table (Markdown) of requests/s, p50, p99 and the server's RSS.

    scripts/bench/load.py [--backend sqlite|postgres] [--seconds 10] [--big] [--no-build]
                          [--forward-auth-only | --second-step-only | --nginx-only]

  forward-auth   GET /auth/verify with a valid session cookie and X-Original-URL, 64 connections, against
                 the bare axum hello (examples/hello.rs) at 64 connections: three rounds of
                 hello then forward-auth, the median ratio counts
  landing page   GET / signed in
  sign-in storm  POST /api/v1/login (right password) at 64 connections, against raw argon2id
                 verifications on all cores (examples/argon2_baseline.rs), three rounds, the
                 median counts; forward-auth p99 of a 200 requests/s probe during the storm
                 and idle, beside the same probe of the hello process (a bystander: what the
                 machine does to any process); peak RSS during the storm; then the same with
                 --hash-concurrency one less than the cores
  second step    POST /api/v1/login/totp, each request a different waiting sign-in with its
                 current code (seeded by examples/seed.rs), three rounds between runs of hello;
                 then wrong codes spread over waiting sign-ins (a brute-force storm), with the
                 forward-auth probe's p99 during it against idle
  nginx          Debian's nginx with docs/proxy/nginx.conf (TLS taken off, as in tests/it/nginx.rs)
                 in front of hello as the viewer, 64 connections signed in: auth_request to
                 nidan, against the same nginx whose auth_request goes to hello's empty-body
                 /auth/verify instead; three alternating rounds, the median counts
  start, idle    start to /readyz 200 on an existing database; RSS after start and sign-in
  --big          forward-auth again with 1,000,000 sessions and 100,000 accounts, against the
                 same with 1,000 sessions

Needs wrk (Debian package), nginx for --nginx-only, and, for postgres, the local server (NIDAN_BENCH_POSTGRES_URL,
default postgres://postgres@127.0.0.1:5432/nidan_bench, dropped and made afresh).
Everything talks to 127.0.0.1 only and every run is bounded by --seconds.
"""
import argparse
import http.client
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TARGET = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
RELEASE = os.path.join(TARGET, "release")
EMAIL = "bench@bench.example"
PASSWORD = "correct horse battery"
LUA = os.path.join(ROOT, "scripts", "bench", "lua")
ORIGINAL_URL = "http://cam.example.home/live/front-door?quality=hd"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_kib(pid, field="VmRSS"):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def to_ms(value):
    m = re.match(r"([\d.]+)(us|ms|s)", value)
    n, unit = float(m.group(1)), m.group(2)
    return n / 1000 if unit == "us" else n * 1000 if unit == "s" else n


def wrk(url, seconds, connections=64, script=None, headers=(), env=None):
    cmd = ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", "--timeout", "10s"]
    for h in headers:
        cmd += ["-H", h]
    if script:
        cmd += ["-s", os.path.join(LUA, script)]
    out = subprocess.run(cmd + [url], capture_output=True, text=True, check=True,
                         env={**os.environ, **(env or {})}).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    p50 = to_ms(re.search(r"\s50%\s+(\S+)", out).group(1))
    p99 = to_ms(re.search(r"\s99%\s+(\S+)", out).group(1))
    total = int(re.search(r"(\d+) requests in", out).group(1))
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    bad = int(bad.group(1)) if bad else 0
    return {"rps": rps, "p50": p50, "p99": p99, "total": total, "bad": bad, "raw": out}


def probe(host, port, path, headers, seconds, rate=200):
    """A light load at `rate` requests/s on one keep-alive connection: its latencies, not
    its throughput, are the point (wrk at full blast would take the CPU it measures)."""
    c = http.client.HTTPConnection(host, port)
    lat, bad = [], 0
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        t = time.perf_counter()
        c.request("GET", path, headers=headers)
        r = c.getresponse()
        r.read()
        lat.append((time.perf_counter() - t) * 1000)
        bad += r.status >= 400
        time.sleep(max(0.0, 1 / rate - (time.perf_counter() - t)))
    lat.sort()
    return {"rps": len(lat) / seconds, "p50": lat[len(lat) // 2],
            "p99": lat[int(len(lat) * 0.99)], "total": len(lat), "bad": bad}


class Nidan:
    def __init__(self, data_dir, database_url):
        self.data_dir, self.database_url = data_dir, database_url
        self.proc = None

    def cli(self, *args, stdin=None):
        cmd = [os.path.join(RELEASE, "nidan"), *args, "--data-dir", self.data_dir]
        if self.database_url:
            cmd += ["--database-url", self.database_url]
        return subprocess.run(cmd, input=stdin, capture_output=True, text=True, check=True)

    def start(self, *flags):
        """Starts serve; returns seconds from spawn to the first /readyz 200."""
        self.port = free_port()
        cmd = [os.path.join(RELEASE, "nidan"), "serve", "--listen", f"127.0.0.1:{self.port}",
               "--data-dir", self.data_dir, *flags]
        if self.database_url:
            cmd += ["--database-url", self.database_url]
        started = time.perf_counter()
        # Logs at nidan's default level (info), as an operator runs it.
        env = {k: v for k, v in os.environ.items() if k != "RUST_LOG"}
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                     env=env)
        while time.perf_counter() - started < 10:
            try:
                c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=1)
                c.request("GET", "/readyz")
                if c.getresponse().status == 200:
                    return time.perf_counter() - started
            except OSError:
                time.sleep(0.001)
        raise RuntimeError("nidan did not get ready")

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=40)

    def url(self, path):
        return f"http://127.0.0.1:{self.port}{path}"

    def sign_in(self):
        c = http.client.HTTPConnection("127.0.0.1", self.port)
        c.request("POST", "/api/v1/login", json.dumps({"email": EMAIL, "password": PASSWORD}),
                  {"Content-Type": "application/json", "X-Requested-With": "bench"})
        r = c.getresponse()
        r.read()
        cookie = [v for k, v in r.getheaders() if k.lower() == "set-cookie"
                  and v.startswith("nidan_session=")][0]
        return cookie.split(";")[0]

    def seed(self, accounts, sessions, second_steps=None):
        cmd = [os.path.join(RELEASE, "examples", "seed"), "--data-dir", self.data_dir,
               "--accounts", str(accounts), "--sessions", str(sessions)]
        if self.database_url:
            cmd += ["--database-url", self.database_url]
        if second_steps:
            cmd += ["--second-steps", str(second_steps[0]), second_steps[1]]
        subprocess.run(cmd, check=True, capture_output=True)


def bracketed(baseline, rate_of, measure, what, rounds=3):
    """`rounds` measurements, each between two baseline runs: [(ratio, baseline rate, m)]."""
    before = rate_of(baseline())
    out = []
    for _ in range(rounds):
        m = measure()
        after = rate_of(baseline())
        base = (before + after) / 2
        out.append((m["rps"] / base, base, m))
        print(f"{what} round: {m['rps']:.1f}/s against {before:.1f} and {after:.1f}/s = "
              f"{m['rps'] / base:.3f}", file=sys.stderr)
        before = after
    return out


def median_round(rounds):
    return sorted(rounds, key=lambda r: r[0])[len(rounds) // 2]


def fresh_postgres(url):
    base, name = url.rsplit("/", 1)
    admin = base + "/postgres"
    subprocess.run(["psql", admin, "-qc", f"DROP DATABASE IF EXISTS {name}"], check=True,
                   capture_output=True)
    subprocess.run(["psql", admin, "-qc", f"CREATE DATABASE {name}"], check=True,
                   capture_output=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--backend", choices=["sqlite", "postgres"], default="sqlite")
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--big", action="store_true")
    ap.add_argument("--no-build", action="store_true")
    ap.add_argument("--forward-auth-only", action="store_true",
                    help="only the forward-auth rounds against hello")
    ap.add_argument("--second-step-only", action="store_true",
                    help="only the second-step rounds against hello and the wrong-code storm")
    ap.add_argument("--nginx-only", action="store_true",
                    help="only forward-auth behind nginx against nginx with a bare auth route")
    a = ap.parse_args()
    if not shutil.which("wrk"):
        sys.exit("wrk is missing: apt-get install wrk")
    if not a.no_build:
        subprocess.run(["cargo", "build", "--release", "--bin", "nidan", "--examples"],
                       cwd=ROOT, check=True)
    rows = []

    def row(what, m, baseline=None, ratio=None, rss=None):
        rows.append((what, m, baseline, ratio, rss))
        print(f"{what}: {m}", file=sys.stderr)

    # Baselines.
    hello = subprocess.Popen([os.path.join(RELEASE, "examples", "hello"), "127.0.0.1:0"],
                             stdout=subprocess.PIPE, text=True)
    hello_url = hello.stdout.readline().split()[-1] + "/"
    hello_port = int(hello_url.rstrip("/").rsplit(":", 1)[1])

    work = tempfile.mkdtemp(prefix="nidan-bench-")
    database_url = None
    if a.backend == "postgres":
        database_url = os.environ.get("NIDAN_BENCH_POSTGRES_URL",
                                      "postgres://postgres@127.0.0.1:5432/nidan_bench")
        fresh_postgres(database_url)
    n = Nidan(work, database_url)
    n.cli("migrate")
    n.cli("user", "add", EMAIL, "--password-stdin", stdin=PASSWORD)
    n.seed(accounts=100, sessions=999)  # with the bench session: 1,000
    n.start()
    n.stop()
    # As docs/proxy/nginx.conf says to start nidan behind it.
    ready_s = n.start(*(["--trusted-proxy", "127.0.0.1"] if a.nginx_only else []))
    cookie = n.sign_in()
    time.sleep(2)  # the hashing threads give their memory back after 1 s idle
    idle_rss = rss_kib(n.proc.pid)
    # What nginx sends: the session cookie and the original URL (nidan refuses a check without one).
    auth_header = [f"Cookie: {cookie}", f"X-Original-URL: {ORIGINAL_URL}"]

    cookie_header = {"Cookie": cookie, "X-Original-URL": ORIGINAL_URL}

    def probes():
        """Forward-auth and, as a bystander, the hello process, probed side by side the
        same way: the bystander shows what the machine itself does to latency."""
        out = [{}, {}]
        threads = [
            threading.Thread(target=lambda: out[0].update(
                probe("127.0.0.1", n.port, "/auth/verify", cookie_header, a.seconds))),
            threading.Thread(target=lambda: out[1].update(
                probe("127.0.0.1", hello_port, "/", {}, a.seconds))),
        ]
        for t in threads:
            t.start()
        return threads, out

    def finish(threads, out):
        for t in threads:
            t.join()
        return out

    if a.nginx_only:
        if not shutil.which("nginx"):
            sys.exit("nginx is missing: apt-get install nginx")
        try:
            base_rps = nginx_rounds(a, n, hello_url, cookie, row)
        finally:
            n.stop()
            hello.terminate()
        report(a, rows, base_rps, ready_s, idle_rss, "nginx with the bare auth route")
        shutil.rmtree(work, ignore_errors=True)
        return

    if a.second_step_only:
        hello_rps = second_step_rounds(a, n, work, hello_url, row, probes, finish)
        n.stop()
        hello.terminate()
        report(a, rows, hello_rps, ready_s, idle_rss)
        shutil.rmtree(work, ignore_errors=True)
        return

    # Three rounds of forward-auth, each between two runs of hello (the machine's speed
    # drifts by a fifth within minutes): a round's ratio is against the mean of the hello
    # runs either side; the median round counts, and its hello is the baseline below.
    fa_rounds = bracketed(lambda: wrk(hello_url, a.seconds), lambda m: m["rps"],
                          lambda: wrk(n.url("/auth/verify"), a.seconds, headers=auth_header),
                          "forward-auth")
    fa_ratio, hello_rps, fa = median_round(fa_rounds)
    row("forward-auth, 64 conn, 1,000 sessions (median of 3 rounds)", fa, "axum hello",
        fa_ratio, rss_kib(n.proc.pid))
    if a.forward_auth_only:
        n.stop()
        hello.terminate()
        report(a, rows, hello_rps, ready_s, idle_rss)
        shutil.rmtree(work, ignore_errors=True)
        return
    landing = wrk(n.url("/"), a.seconds, headers=auth_header)
    row("landing page, 64 conn", landing, "axum hello", landing["rps"] / hello_rps,
        rss_kib(n.proc.pid))

    idle_probe, idle_hello = finish(*probes())
    peak = [0]
    stop = threading.Event()

    def sample():
        while not stop.is_set():
            peak[0] = max(peak[0], rss_kib(n.proc.pid))
            time.sleep(0.05)

    sampler = threading.Thread(target=sample)
    sampler.start()

    def argon2_rate():
        out = subprocess.run([os.path.join(RELEASE, "examples", "argon2_baseline"),
                              str(a.seconds)], capture_output=True, text=True,
                             check=True).stdout
        return float(out.split(":")[-1])

    # Throughput alone, in three rounds between baselines as above. Then again with the
    # latency probes beside it (they take CPU).
    rounds = bracketed(argon2_rate, lambda rate: rate,
                       lambda: wrk(n.url("/api/v1/login"), a.seconds, script="sign_in.lua"),
                       "storm")
    storm_ratio, argon_rate, storm = median_round(rounds)
    running = probes()
    wrk(n.url("/api/v1/login"), a.seconds, script="sign_in.lua")
    during, bystander = finish(*running)
    stop.set()
    sampler.join()
    row("sign-in storm, 64 conn (median of 3 rounds)", storm,
        f"argon2id raw: {argon_rate:.1f}/s", storm_ratio, peak[0])
    row("forward-auth probe, 200/s, idle", idle_probe)
    row("forward-auth probe, 200/s, during the storm", during, "idle p99",
        during["p99"] / idle_probe["p99"])
    row("bystander: axum hello probe, 200/s, idle", idle_hello)
    row("bystander: axum hello probe, 200/s, during the storm", bystander, "its idle p99",
        bystander["p99"] / idle_hello["p99"])

    # The other end of the trade: one core left to everything but hashing.
    cores = os.cpu_count() or 1
    if cores > 1:
        n.stop()
        n.start("--hash-concurrency", str(cores - 1))
        cookie_header = {"Cookie": n.sign_in(), "X-Original-URL": ORIGINAL_URL}
        rate = argon2_rate()
        m = wrk(n.url("/api/v1/login"), a.seconds, script="sign_in.lua")
        row(f"sign-in storm, --hash-concurrency {cores - 1}", m,
            f"argon2id raw: {rate:.1f}/s", m["rps"] / rate)
        idle_fa, _ = finish(*probes())
        running = probes()
        wrk(n.url("/api/v1/login"), a.seconds, script="sign_in.lua")
        during_fa, during_hello = finish(*running)
        row(f"forward-auth probe during that storm (idle p99 {idle_fa['p99']:.2f} ms)",
            during_fa, "idle p99", during_fa["p99"] / idle_fa["p99"])
        row("bystander hello probe during that storm", during_hello, "its idle p99",
            during_hello["p99"] / idle_hello["p99"])

    second_step_rounds(a, n, work, hello_url, row, probes, finish)
    n.stop()

    if a.big:
        n.seed(accounts=100000 - 40100, sessions=1000000 - n_sessions(n))
        n.start()
        # Minutes after the 1,000-session run: each against hello measured just before it,
        # so that the machine's drift in between does not count.
        big_ratio, _, big = median_round(bracketed(
            lambda: wrk(hello_url, a.seconds), lambda m: m["rps"],
            lambda: wrk(n.url("/auth/verify"), a.seconds, headers=auth_header),
            "forward-auth, 1,000,000 sessions", rounds=1))
        row("forward-auth, 64 conn, 1,000,000 sessions / 100,000 accounts", big,
            "1,000 sessions (each / hello beside it)", big_ratio / fa_ratio,
            rss_kib(n.proc.pid))
        n.stop()
    hello.terminate()

    report(a, rows, hello_rps, ready_s, idle_rss)
    shutil.rmtree(work, ignore_errors=True)


def second_step_rounds(a, n, work, hello_url, row, probes, finish):
    """The second step with a right code, three rounds between runs of hello (each round its
    own fresh waiting sign-ins); then a storm of wrong codes over other waiting sign-ins, with
    the forward-auth probe's p99 during it against idle. Returns hello's rate beside the
    median round."""
    seconds = min(a.seconds, 5)
    pairs = os.path.join(work, "pairs.txt")
    per_round = 60000

    def measure(wrong=False):
        n.seed(accounts=per_round, sessions=0, second_steps=(per_round, pairs))
        env = {"PAIRS": pairs, "WRONG": "1" if wrong else "0"}
        return wrk(n.url("/api/v1/login/totp"), seconds, script="second_step.lua", env=env)

    ratio, hello_rps, step = median_round(bracketed(
        lambda: wrk(hello_url, seconds), lambda m: m["rps"], measure, "second step"))
    row("second step (app code), 64 conn (median of 3 rounds)", step, "axum hello", ratio,
        rss_kib(n.proc.pid))
    idle = finish(*probes())[0]
    n.seed(accounts=per_round, sessions=0, second_steps=(per_round, pairs))
    running = probes()
    wrong = wrk(n.url("/api/v1/login/totp"), a.seconds, script="second_step.lua",
                env={"PAIRS": pairs, "WRONG": "1"})
    during = finish(*running)[0]
    row("wrong codes, 64 conn (all refused: non-2xx expected)", wrong, "right codes",
        wrong["rps"] / step["rps"], rss_kib(n.proc.pid))
    row("forward-auth probe, 200/s, idle", idle)
    row("forward-auth probe, 200/s, during the wrong codes", during, "idle p99",
        during["p99"] / idle["p99"])
    return hello_rps


class Nginx:
    """docs/proxy/nginx.conf as tests/it/nginx.rs runs it without TLS, on a free port, with
    the viewer at `viewer` and its "nidan" upstream at `auth` (host:port)."""

    def __init__(self, work, name, auth, viewer):
        self.dir = os.path.join(work, name)
        os.makedirs(self.dir)
        self.port = free_port()
        with open(os.path.join(ROOT, "docs", "proxy", "nginx.conf")) as f:
            site = f.read()
        site = "\n".join(l for l in site.splitlines()
                         if not l.startswith("ssl_") and "ssl_reject_handshake" not in l)
        site = (site.replace("127.0.0.1:8080", auth).replace("127.0.0.1:5000", viewer)
                .replace("listen 80;", f"listen 127.0.0.1:{free_port()};")
                .replace("listen 443 ssl default_server;",
                         f"listen 127.0.0.1:{self.port} default_server;")
                .replace("listen 443 ssl;", f"listen 127.0.0.1:{self.port};"))
        d = self.dir
        with open(os.path.join(d, "site.conf"), "w") as f:
            f.write(site)
        with open(os.path.join(d, "nginx.conf"), "w") as f:
            f.write(f"worker_processes auto; pid {d}/nginx.pid; error_log {d}/error.log;\n"
                    f"events {{ worker_connections 1024; }}\n"
                    f"http {{ access_log off; client_body_temp_path {d}/body; "
                    f"proxy_temp_path {d}/proxy; fastcgi_temp_path {d}/fastcgi; "
                    f"uwsgi_temp_path {d}/uwsgi; scgi_temp_path {d}/scgi; "
                    f"include {d}/site.conf; }}\n")
        self.proc = subprocess.Popen(["nginx", "-p", d, "-c", f"{d}/nginx.conf",
                                      "-g", "daemon off;"], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        for _ in range(100):
            if os.path.exists(os.path.join(d, "nginx.pid")):
                return
            time.sleep(0.05)
        raise RuntimeError(f"nginx did not start: see {d}/error.log")

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=10)


def nginx_rounds(a, n, hello_url, cookie, row):
    """The documented nginx asking nidan, against the same nginx asking hello's empty-body
    route; three rounds, each between two runs of the bare one. Returns the baseline's rate."""
    viewer = hello_url.split("//", 1)[1].rstrip("/")
    bare = Nginx(n.data_dir, "nginx-bare", viewer, viewer)
    real = Nginx(n.data_dir, "nginx-nidan", f"127.0.0.1:{n.port}", viewer)
    headers = ["Host: cam.example.home", f"Cookie: {cookie}"]
    path = "/"  # hello's one page
    try:
        for proxy in (bare, real):
            c = http.client.HTTPConnection("127.0.0.1", proxy.port, timeout=5)
            c.request("GET", path, headers=dict(h.split(": ", 1) for h in headers))
            r = c.getresponse()
            if (r.status, r.read()) != (200, b"hello"):
                raise RuntimeError(f"nginx on {proxy.port} did not let the viewer answer: "
                                   f"{r.status}")

        def through(proxy):
            m = wrk(f"http://127.0.0.1:{proxy.port}{path}", a.seconds, headers=headers)
            if m["bad"]:
                raise RuntimeError(f"{m['bad']} requests through nginx were not let through")
            return m
        rounds = bracketed(lambda: through(bare), lambda m: m["rps"], lambda: through(real),
                           "nginx")
    finally:
        bare.stop()
        real.stop()
    ratio, base_rps, m = median_round(rounds)
    row("nginx + forward-auth to nidan, 64 conn (median of 3 rounds)", m,
        "nginx + bare auth route", ratio, rss_kib(n.proc.pid))
    return base_rps


def report(a, rows, hello_rps, ready_s, idle_rss, baseline="axum hello"):
    print(f"\n{a.backend}, {time.strftime('%Y-%m-%d')}, {a.seconds} s per run, "
          f"{os.cpu_count()} cores\n")
    print("| what | req/s | p50 | p99 | non-2xx | baseline | ratio | RSS |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    print(f"| {baseline} (baseline), 64 conn, mean of the runs beside the median round | "
          f"{hello_rps:.0f} | | | | | | |")
    for what, m, base, ratio, rss in rows:
        print(f"| {what} | {m['rps']:.0f} | {m['p50']:.2f} ms | {m['p99']:.2f} ms | {m['bad']} | "
              f"{base or ''} | {'' if ratio is None else f'{ratio:.3f}' if ratio < 0.1 else f'{ratio:.2f}'} | "
              f"{'' if rss is None else f'{rss / 1024:.1f} MiB'} |")
    print(f"| start to ready (existing database) | | | | | | {ready_s * 1000:.0f} ms | |")
    print(f"| idle RSS after start and one sign-in (2 s later) | | | | | | | {idle_rss / 1024:.1f} MiB |")


def n_sessions(n):
    if n.database_url:
        out = subprocess.run(["psql", n.database_url, "-tAc", "SELECT COUNT(*) FROM sessions"],
                             capture_output=True, text=True, check=True).stdout
    else:
        import sqlite3
        db = sqlite3.connect(os.path.join(n.data_dir, "nidan.db"))
        out = db.execute("SELECT COUNT(*) FROM sessions").fetchone()[0]
        db.close()
    return int(out)


if __name__ == "__main__":
    main()
