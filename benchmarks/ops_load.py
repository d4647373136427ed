"""The API under load while a scan runs (issue #13): stewards working the queues through the HTTP
API while the drop-folder watcher scans a large feed into the same PostgreSQL store.

    export RECONCILE_TEST_POSTGRES_URL=postgresql+psycopg://postgres@127.0.0.1:55432/reconcile_test
    python benchmarks/ops_load.py [--members 100000] [--stewards 20] [--seconds 120]

What it does (loopback only; bounded in time, requests and threads):

1. generates a feed (``--members``, seed 5, as of 2026-10-31) and its following month
   (``generate --previous``);
2. **reference**: in a fresh schema, scans the first month, then the second, with nothing else
   running;
3. **under load**: in another fresh schema, scans the first month (the stewards' backlog), creates
   ``--stewards`` steward users for its insurers, starts ``reconcile serve`` on 127.0.0.1, and lets
   one thread per steward work the queues (queue overview → claim → item detail → comment → resolve,
   and a page of the queue's open items) with ``--think-ms`` pauses, for ``--seconds`` — and at
   least until the scan is done (at most ``--max-seconds``); a supervisor scrapes ``/metrics``
   every 5 s. A few seconds in, the second month is dropped into a drop folder with ``_READY`` and
   ``reconcile schedule watch DROP --once`` scans it (and refreshes the weekly report);
4. prints requests/s, p50/p95/p99 overall and while the scan ran, per route, errors (any
   unexpected status or exception; must be 0), double claims (an item handed out by claim twice;
   must be 0; stewards never release, so any repeat is a double claim), and whether the scan's
   findings (the finding ids it raised) equal the reference scan's. Target: p95 < 300 ms while the
   scan runs.

The scan runs at a lower OS priority than the server (``--scan-nice``, default 10, the same
``nice`` an operator gives ``reconcile schedule`` next to ``reconcile serve``: docs/operations.md):
on a machine with few cores, the scan's CPU-bound pandas work would otherwise take the cores the
stewards' requests wait for. ``--scan-nice 0`` measures the scan at the server's priority.

The schemas are dropped at the end (``--keep`` keeps them). Exit 0 when errors and double claims
are 0 and the findings are equal, else 1. The machine running it is named with its core count; on a
shared machine the figures are an upper bound of latency.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import sqlalchemy as sa
from sqlalchemy.engine import make_url

KEY = "ops-load-benchmark-key-0001"
RESOLUTIONS = ("resolved_fixed", "resolved_false_positive", "resolved_wont_fix")
#: Hard bounds whatever the flags say: threads, requests, wall time.
MAX_STEWARDS, MAX_REQUESTS, MAX_WALL = 100, 500_000, 1800


def reconcile(args: list[str], env: dict, cwd: Path, timeout: float = 1800) -> subprocess.CompletedProcess:
    done = subprocess.run([sys.executable, "-m", "reconcile.cli.main", *args], env=env, cwd=cwd,
                          capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:
        raise SystemExit(f"reconcile {' '.join(args)} failed ({done.returncode}): {done.stderr[-2000:]}")
    return done


def schema_url(base: str, schema: str) -> str:
    from reconcile.store import normalise_url
    url = make_url(normalise_url(base))
    return url.update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(hide_password=False)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Sample:
    route: str
    started: float      # monotonic
    seconds: float
    status: int         # 0 = exception


@dataclass
class Ledger:
    samples: list[Sample] = field(default_factory=list)
    claimed: Counter = field(default_factory=Counter)
    #: item id -> [(steward, held from (claim response received), held until (resolve request sent) or None)]
    holds: dict = field(default_factory=lambda: defaultdict(list))
    errors: Counter = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)
    requests: int = 0

    def record(self, sample: Sample, ok: bool, what: str = "") -> None:
        with self.lock:
            self.samples.append(sample)
            self.requests += 1
            if not ok:
                self.errors[f"{sample.route} {sample.status} {what}"[:400]] += 1


class Steward(threading.Thread):
    def __init__(self, base: str, token: str, ledger: Ledger, stop: threading.Event, think_ms: float, seed: int):
        super().__init__(daemon=True)
        self.client = httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=30.0)
        self.ledger, self.stop, self.think = ledger, stop, think_ms / 1000.0
        self.random = random.Random(seed)

    def call(self, method: str, route: str, url: str, ok=(200,), **kwargs):
        if self.ledger.requests >= MAX_REQUESTS:
            self.stop.set()
            return None
        started = time.monotonic()
        try:
            response = self.client.request(method, url, **kwargs)
        except httpx.HTTPError as exc:
            self.ledger.record(Sample(route, started, time.monotonic() - started, 0), False, type(exc).__name__)
            return None
        sample = Sample(route, started, time.monotonic() - started, response.status_code)
        good = response.status_code in ok
        detail = ""
        if not good:
            try:
                detail = response.json().get("detail", response.text)
            except ValueError:
                detail = response.text
        self.ledger.record(sample, good, str(detail)[:300])
        return response if good else None

    def pause(self) -> None:
        self.stop.wait(self.random.uniform(0.5, 1.5) * self.think)

    def run(self) -> None:
        try:
            while not self.stop.is_set():
                self.one_item()
        finally:
            self.client.close()

    def one_item(self) -> None:
        overview = self.call("GET", "GET /queues", "/api/v1/queues")
        self.pause()
        if overview is None:
            return
        open_queues = [q for q in overview.json()["items"] if q.get("open")]
        if not open_queues:
            self.stop.wait(1.0)
            return
        queue = self.random.choices(open_queues, weights=[q["open"] for q in open_queues])[0]["name"]
        claimed = self.call("POST", "POST /queues/{q}/claim", f"/api/v1/queues/{queue}/claim", ok=(200, 204))
        self.pause()
        if claimed is None or claimed.status_code == 204:
            return
        item_id = claimed.json()["id"]
        hold = [self.name, time.monotonic(), None]
        with self.ledger.lock:
            self.ledger.claimed[item_id] += 1
            self.ledger.holds[item_id].append(hold)
        self.call("GET", "GET /work-items/{id}", f"/api/v1/work-items/{item_id}")
        self.pause()
        if self.random.random() < 0.3:
            self.call("POST", "POST /work-items/{id}/comments", f"/api/v1/work-items/{item_id}/comments",
                      ok=(201,), json={"text": "負荷試験のコメント / load test comment"})
            self.pause()
        hold[2] = time.monotonic()  # from here on the steward no longer counts on holding it
        self.call("POST", "POST /work-items/{id}/resolve", f"/api/v1/work-items/{item_id}/resolve",
                  json={"resolution": self.random.choice(RESOLUTIONS), "note": "負荷試験 / load test"})
        self.pause()
        if self.random.random() < 0.3:
            self.call("GET", "GET /work-items?queue", "/api/v1/work-items",
                      params={"queue": queue, "status": "open", "limit": 50})
            self.pause()


class Scraper(Steward):
    def run(self) -> None:
        try:
            while not self.stop.is_set():
                self.call("GET", "GET /metrics", "/metrics")
                self.stop.wait(5.0)
        finally:
            self.client.close()


def double_claims(holds: dict, end: float) -> tuple[int, int]:
    """Claims of an item while another steward still held it (its claim answered, its resolve not
    yet sent): the server handed one item to two callers. Second: items claimed again only after
    the earlier holder let go (legitimate: the scan's merge may return a resolved item to open)."""
    doubles, again = 0, 0
    for item_holds in holds.values():
        if len(item_holds) < 2:
            continue
        spans = sorted((start, stop if stop is not None else end) for _, start, stop in item_holds)
        held_until = spans[0][1]
        for start, stop in spans[1:]:
            if start < held_until:
                doubles += 1
            else:
                again += 1
            held_until = max(held_until, stop)
    return doubles, again


def percentiles(values: list[float]) -> tuple[float, float, float]:
    if not values:
        return (float("nan"),) * 3
    if len(values) == 1:
        return (values[0],) * 3
    cuts = statistics.quantiles(values, n=100, method="inclusive")
    return cuts[49], cuts[94], cuts[98]


def scan_findings(url: str) -> tuple[int, set[tuple], dict[str, int], set[str]]:
    """The newest done scan of the store: its id, what it found (rule, insurer, member, suggested
    resident, severity, score), findings per rule, and the finding ids (compared separately)."""
    from reconcile.store import get_engine
    engine = get_engine(url)
    try:
        with engine.connect() as conn:
            scan_id = conn.execute(sa.text("SELECT max(id) FROM scans WHERE status = 'done'")).scalar_one()
            rows = conn.execute(sa.text(
                "SELECT f.finding_id, f.rule_id, f.insurer_number, f.member_id, f.suggested_resident_id, f.severity, "
                "f.score FROM scan_findings s JOIN findings f ON f.finding_id = s.finding_id WHERE s.scan_id = :s"),
                {"s": scan_id}).all()
            ids = {r[0] for r in rows}
            found = {(r[1], r[2], r[3], r[4], r[5], None if r[6] is None else round(float(r[6]), 6)) for r in rows}
            rules = dict(conn.execute(sa.text(
                "SELECT f.rule_id, count(*) FROM scan_findings s JOIN findings f ON f.finding_id = s.finding_id "
                "WHERE s.scan_id = :s GROUP BY f.rule_id ORDER BY f.rule_id"), {"s": scan_id}).all())
        return scan_id, found, rules, ids
    finally:
        engine.dispose()


def make_stewards(url: str, count: int) -> tuple[list[str], str, list[str]]:
    from reconcile import auth
    from reconcile.store import get_engine, session_scope
    engine = get_engine(url)
    try:
        with engine.connect() as conn:
            insurers = sorted({r[0] for r in conn.execute(sa.text("SELECT DISTINCT insurer_number FROM scan_insurers"))})
        tokens = []
        with session_scope(engine) as session:
            for n in range(count):
                tokens.append(auth.add_user(session, f"steward{n:02d}", "steward", insurers)[1])
            supervisor = auth.add_user(session, "supervisor00", "supervisor", insurers)[1]
        return tokens, supervisor, insurers
    finally:
        engine.dispose()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default=os.environ.get("RECONCILE_BENCH_POSTGRES_URL")
                        or os.environ.get("RECONCILE_TEST_POSTGRES_URL"),
                        help="PostgreSQL URL (a private schema per run is created and dropped)")
    parser.add_argument("--members", type=int, default=100_000)
    parser.add_argument("--stewards", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=120.0, help="stewards work at least this long")
    parser.add_argument("--max-seconds", type=float, default=900.0, help="and at most this long")
    parser.add_argument("--think-ms", type=float, default=250.0, help="mean pause between a steward's requests")
    parser.add_argument("--scan-after", type=float, default=30.0,
                        help="seconds of load before the feed is dropped (the 'before the scan' figures)")
    parser.add_argument("--scan-nice", type=int, default=10,
                        help="OS priority (nice increment) of the background scan; 0 = the server's priority")
    parser.add_argument("--workers", type=int, default=1, help="uvicorn worker processes of the server")
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--keep", action="store_true", help="keep the schemas and files")
    args = parser.parse_args()
    if not args.database_url or make_url(args.database_url).get_backend_name() != "postgresql":
        parser.error("a PostgreSQL --database-url (or RECONCILE_TEST_POSTGRES_URL) is needed")
    stewards = min(args.stewards, MAX_STEWARDS)
    max_wall = min(args.max_seconds, MAX_WALL)

    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="ops_load_"))
    workdir.mkdir(parents=True, exist_ok=True)
    base_env = {**os.environ, "RECONCILE_SECRET_KEY": KEY, "CI": "true", "RECONCILE_LOG_FORMAT": "json",
                "RECONCILE_CONFIG": str(workdir / "reconcile.toml")}
    print(f"machine: {os.cpu_count()} cores ({socket.gethostname()}), shared with other work: figures are an "
          f"upper bound of latency")
    print(f"members {args.members:,}, stewards {stewards}, at least {args.seconds:.0f} s, think {args.think_ms:.0f} ms")

    first, second = workdir / "month1", workdir / "month2"
    t0 = time.perf_counter()
    if not first.exists():
        reconcile(["generate", str(first), "--members", str(args.members), "--seed", "5", "--as-of", "2026-10-31"],
                  base_env, workdir)
    if not second.exists():
        reconcile(["generate", str(second), "--previous", str(first)], base_env, workdir)
    print(f"feeds generated in {time.perf_counter() - t0:.0f} s")

    from reconcile.store import get_engine
    admin = get_engine(args.database_url)
    tag = uuid.uuid4().hex[:8]
    schemas = {"reference": f"ops_load_ref_{tag}", "load": f"ops_load_{tag}"}
    with admin.begin() as conn:
        for schema in schemas.values():
            conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    urls = {k: schema_url(args.database_url, v) for k, v in schemas.items()}
    server = None
    try:
        # Reference: the same two scans, nothing else running.
        env = {**base_env, "RECONCILE_DATABASE_URL": urls["reference"]}
        reconcile(["scan", str(first)], env, workdir)
        t0 = time.perf_counter()
        reconcile(["scan", str(second)], env, workdir)
        reference_seconds = time.perf_counter() - t0
        print(f"reference scan of month 2 without load: {reference_seconds:.1f} s")

        # Under load.
        env = {**base_env, "RECONCILE_DATABASE_URL": urls["load"]}
        reconcile(["scan", str(first)], env, workdir)
        tokens, supervisor, insurers = make_stewards(urls["load"], stewards)
        port = free_port()
        server_log = (workdir / "serve.log").open("w", encoding="utf-8")
        server = subprocess.Popen([sys.executable, "-m", "reconcile.cli.main", "serve", "--host", "127.0.0.1",
                                   "--port", str(port), "--workers", str(args.workers)], env=env, cwd=workdir,
                                  stdout=server_log, stderr=server_log)
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/api/v1/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or server.poll() is not None:
                raise SystemExit(f"server did not start: {(workdir / 'serve.log').read_text()[-2000:]}")
            time.sleep(0.3)

        ledger, stop = Ledger(), threading.Event()
        threads = [Steward(base, token, ledger, stop, args.think_ms, seed=n) for n, token in enumerate(tokens)]
        threads.append(Scraper(base, supervisor, ledger, stop, 0, seed=999))
        load_started = time.monotonic()
        for thread in threads:
            thread.start()
        stop.wait(args.scan_after)
        drop = workdir / "drop"
        shutil.rmtree(drop, ignore_errors=True)
        drop.mkdir()
        shutil.copytree(second, drop / "2026-11", ignore=shutil.ignore_patterns("truth.csv"))
        (drop / "2026-11" / "_READY").write_text("", encoding="utf-8")
        scan_started = time.monotonic()
        print(f"scan dropped {scan_started - load_started:.0f} s into the load, at nice {args.scan_nice}; "
              f"load average {', '.join(f'{x:.2f}' for x in os.getloadavg())}")
        watcher = subprocess.Popen([sys.executable, "-m", "reconcile.cli.main", "schedule", "watch", str(drop),
                                    "--once", "--report-dir", str(workdir / "report")], env=env, cwd=workdir,
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                   preexec_fn=(lambda: os.nice(args.scan_nice)) if args.scan_nice else None)
        scan_ended = None
        while True:
            now = time.monotonic()
            if scan_ended is None and watcher.poll() is not None:
                scan_ended = now
            if scan_ended is not None and now - load_started >= args.seconds:
                break
            if now - load_started >= max_wall or stop.is_set():
                break
            time.sleep(0.2)
        stop.set()
        for thread in threads:
            thread.join(60)
        load_ended = time.monotonic()
        if scan_ended is None:
            watcher.kill()
            print(f"!! the scan did not finish within {max_wall:.0f} s")
        watch_out, watch_err = watcher.communicate(timeout=60)
        outcome_file = drop / "done" / "2026-11" / "_OUTCOME.json"
        outcome = json.loads(outcome_file.read_text(encoding="utf-8")) if outcome_file.is_file() else {}
    finally:
        if server is not None:
            server.terminate()
            try:
                server.wait(30)
            except subprocess.TimeoutExpired:
                server.kill()

    # Figures.
    samples = ledger.samples
    wall = load_ended - load_started
    during = [s for s in samples if scan_ended is not None and scan_started <= s.started <= scan_ended]
    print()
    print(f"scan under load: {outcome.get('status', 'not finished')}, scan stage {outcome.get('stages', {}).get('scan', 0):.1f} s"
          f" (reference {reference_seconds:.1f} s), watcher wall {((scan_ended or load_ended) - scan_started):.1f} s")
    print(f"load average at the end: {', '.join(f'{x:.2f}' for x in os.getloadavg())} ({os.cpu_count()} cores)")
    print(f"load: {len(samples):,} requests in {wall:.1f} s = {len(samples) / wall:.1f} req/s; "
          f"{sum(ledger.claimed.values()):,} items claimed")
    before = [s for s in samples if s.started < scan_started]
    spans = {"all": wall, "before the scan": scan_started - load_started,
             "during the scan": (scan_ended or load_ended) - scan_started}
    for label, chosen in (("all", samples), ("before the scan", before), ("during the scan", during)):
        p50, p95, p99 = percentiles([s.seconds * 1000 for s in chosen])
        span = spans[label]
        print(f"  {label:<16} n={len(chosen):>7,}  {len(chosen) / max(span, 1e-9):6.1f} req/s  "
              f"p50 {p50:6.1f} ms  p95 {p95:6.1f} ms  p99 {p99:6.1f} ms")
    by_route = defaultdict(list)
    for s in during or samples:
        by_route[s.route].append(s.seconds * 1000)
    print("  per route (during the scan):")
    for route, values in sorted(by_route.items()):
        p50, p95, p99 = percentiles(values)
        print(f"    {route:<32} n={len(values):>6,}  p50 {p50:6.1f}  p95 {p95:6.1f}  p99 {p99:6.1f} ms")
    errors = sum(ledger.errors.values())
    doubles, again = double_claims(ledger.holds, load_ended)
    print(f"errors: {errors}")
    for what, n in ledger.errors.most_common(5):
        print(f"  {n} x {what}")
    print(f"double claims: {doubles} (items claimed again after their resolve, e.g. reopened by the scan's "
          f"merge: {again})")
    _, p95_during, _ = percentiles([s.seconds * 1000 for s in during])
    print(f"p95 during the scan: {p95_during:.1f} ms (target < 300 ms): {'met' if p95_during < 300 else 'NOT met'}")

    ref_id, ref_found, ref_rules, ref_ids = scan_findings(urls["reference"])
    load_id, load_found, load_rules, load_ids = scan_findings(urls["load"])
    equal = ref_found == load_found and len(ref_ids) == len(load_ids) and outcome.get("status") == "done"
    print(f"findings of the scan under load (scan {load_id}): {len(load_found):,}; without load (scan {ref_id}): "
          f"{len(ref_found):,}; equal (rule, insurer, member, suggested resident, severity, score): "
          f"{'yes' if equal else 'NO'}; same finding ids: {len(load_ids & ref_ids):,} of {len(ref_ids):,}")
    if not equal:
        print(f"  only under load: {len(load_found - ref_found)}, only without: {len(ref_found - load_found)}")
        print(f"  rules under load {load_rules}\n  rules without     {ref_rules}")
        if watch_err:
            print("  watcher stderr:", watch_err[-1500:])

    if not args.keep:
        with admin.begin() as conn:
            for schema in schemas.values():
                conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        if args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)
    else:
        print(f"kept: schemas {', '.join(schemas.values())}, files in {workdir}")
    admin.dispose()
    return 0 if (errors == 0 and doubles == 0 and equal) else 1


if __name__ == "__main__":
    sys.exit(main())
