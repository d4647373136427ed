"""API load: concurrent stewards claiming, reading and resolving against PostgreSQL (issue #10).

Loopback only, bounded in time and in requests. Builds a private PostgreSQL schema holding work
items of two insurers, starts a real ``reconcile serve`` process (``--workers`` uvicorn processes)
on a random 127.0.0.1 port, and runs ``--stewards`` stewards (half per insurer), each looping
claim → item detail → resolve with no pause (closed loop: the headline figure).

The client shares the machine's cores with the server and PostgreSQL, so it is kept cheap: one
asyncio event loop, one keep-alive HTTP/1.1 connection per steward, the same requests (method,
path, bearer token, JSON body) as any client would send (``--client threads`` runs the former
httpx-per-thread client for comparison). ``--think MS`` adds a pause of 0.5–1.5 × MS between a
steward's requests — a steward's pace, a secondary figure, never the headline.

Prints throughput, p50/p95/p99 latency (all requests and per kind), double claims (an item handed
to two stewards, or twice: must be 0) and events lost (every claim, detail read and resolve the
clients saw succeed must be in the audit trail exactly once: must be 0). Target: p95 < 200 ms.

    export RECONCILE_TEST_POSTGRES_URL=postgresql+psycopg://postgres@127.0.0.1:55432/reconcile_test
    python benchmarks/api_load.py --seconds 60 --stewards 20
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter, defaultdict
from datetime import date
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import sqlalchemy as sa

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

A, B = "122218", "131011"
MAX_SECONDS = 300
MAX_REQUESTS = 500_000


def build_store(url: str, items_per_insurer: int, stewards: int) -> dict[str, str]:
    """Work items (notation findings) of two insurers, and the stewards' tokens."""
    from detectors.engine import FINDING_COLUMNS, fingerprint, to_json
    from reconcile import auth, store

    engine = store.get_engine(url)
    store.upgrade(engine)
    rows = []
    for insurer in (A, B):
        for n in range(items_per_insurer):
            member = f"{insurer}-{n:06d}"
            rows.append({"finding_id": fingerprint("NOTATION_DIFFERENCE", insurer, member, "load"),
                         "rule_id": "NOTATION_DIFFERENCE", "category": "notation", "severity": "low",
                         "score": (n % 97) / 97, "insurer_number": insurer, "member_id": member,
                         "summary_ja": "氏名の表記のみ異なります", "summary_en": "notation only",
                         "evidence": to_json({"fields": {"name_kanji": {"member": "髙橋 一郎", "resident": "高橋 一郎",
                                                                        "label": "variant", "level": "variant"}}}),
                         "suggested_resident_id": None, "suggested_individual_number_last4": None, "facts": "load"})
    frame = pd.DataFrame(rows, columns=FINDING_COLUMNS)
    with store.session_scope(engine) as session:
        feed_id = store.add_feed(session, fingerprint=f"api-load-{uuid.uuid4().hex}", path="synthetic",
                                 as_of=date(2026, 12, 1), period="2026-12", manifest={}, validation={},
                                 row_counts={})
        scan_id = store.start_scan(session, feed_id=feed_id, as_of=date(2026, 12, 1))
        store.merge_findings(session, scan_id, frame, insurer_numbers=[A, B])
        store.finish_scan(session, scan_id, status="done", summary={})
    tokens = {}
    with store.session_scope(engine) as session:
        for k in range(stewards):
            name = f"steward{k:02d}"
            _, tokens[name] = auth.add_user(session, name, "steward", [A if k % 2 == 0 else B])
    engine.dispose()
    return tokens


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(url: str, workdir: Path, workers: int = 1) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = {**os.environ, "RECONCILE_DATABASE_URL": url, "RECONCILE_SECRET_KEY": "api-load-not-secret",
           "RECONCILE_CONFIG": str(workdir / "none.toml"), "RECONCILE_UPLOAD_DIR": str(workdir / "uploads")}
    proc = subprocess.Popen([sys.executable, "-m", "reconcile.cli.main", "serve", "--host", "127.0.0.1",
                             "--port", str(port), "--workers", str(workers)], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/api/v1/health", timeout=2).status_code == 200:
                return proc, base
        except httpx.HTTPError:
            pass
        if proc.poll() is not None:
            break
        time.sleep(0.3)
    proc.kill()
    raise SystemExit(f"reconcile serve did not start: {proc.stderr.read().decode(errors='replace')[-2000:]}")


class Connection:
    """One keep-alive HTTP/1.1 connection (the client side of what httpx would send, without its cost)."""

    def __init__(self, host: str, port: int, token: str):
        self.host, self.port = host, port
        self.auth = f"Authorization: Bearer {token}\r\nHost: {host}:{port}\r\n"
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def request(self, method: str, path: str, body: dict | None = None) -> tuple[int, bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        payload = json.dumps(body, ensure_ascii=False).encode() if body is not None else b""
        head = f"{method} {path} HTTP/1.1\r\n{self.auth}"
        if body is not None:
            head += "Content-Type: application/json\r\n"
        if body is not None or method != "GET":
            head += f"Content-Length: {len(payload)}\r\n"
        self.writer.write(head.encode() + b"\r\n" + payload)
        status = int((await self.reader.readline()).split()[1])
        length, chunked, closing = 0, False, False
        while True:
            line = await self.reader.readline()
            if line in (b"\r\n", b"\n", b""):
                break
            name, _, value = line.decode("latin-1").partition(":")
            name, value = name.strip().lower(), value.strip().lower()
            if name == "content-length":
                length = int(value)
            elif name == "transfer-encoding" and "chunked" in value:
                chunked = True
            elif name == "connection" and value == "close":
                closing = True
        if chunked:
            parts = []
            while (size := int((await self.reader.readline()).split(b";")[0], 16)) > 0:
                parts.append(await self.reader.readexactly(size))
                await self.reader.readline()
            await self.reader.readline()
            data = b"".join(parts)
        else:
            data = await self.reader.readexactly(length) if length else b""
        if closing:
            await self.close()
        return status, data

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None


def run_load_async(base: str, tokens: dict[str, str], seconds: float, max_requests: int, think_ms: float = 0.0):
    """The stewards as coroutines of one event loop (one connection each); same figures as :func:`run_load`."""
    host, port = base.removeprefix("http://").split(":")
    latencies: dict[str, list[float]] = defaultdict(list)
    claims: list[tuple[str, int]] = []
    ok, errors, sent = Counter(), Counter(), Counter()

    async def steward(name: str, token: str, stop_at: float, pace: random.Random) -> None:
        connection = Connection(host, int(port), token)

        async def timed(kind: str, method: str, path: str, body: dict | None = None) -> tuple[int, bytes]:
            if think_ms:
                await asyncio.sleep(pace.uniform(0.5, 1.5) * think_ms / 1000)
            t0 = time.perf_counter()
            try:
                status, data = await connection.request(method, path, body)
            except (OSError, asyncio.IncompleteReadError, ValueError, IndexError) as exc:
                await connection.close()
                status, data = 0, type(exc).__name__.encode()
            latencies[kind].append(time.perf_counter() - t0)
            sent["all"] += 1
            return status, data

        try:
            while time.monotonic() < stop_at and sent["all"] < max_requests:
                status, data = await timed("claim", "POST", "/api/v1/queues/notation/claim")
                if status == 204:
                    await asyncio.sleep(0.05)
                    continue
                if status != 200:
                    errors[f"claim {status}"] += 1
                    continue
                item_id = json.loads(data)["id"]
                claims.append((name, item_id))
                ok["claimed"] += 1
                status, _ = await timed("detail", "GET", f"/api/v1/work-items/{item_id}")
                if status == 200:
                    ok["viewed"] += 1
                else:
                    errors[f"detail {status}"] += 1
                status, _ = await timed("resolve", "POST", f"/api/v1/work-items/{item_id}/resolve",
                                        {"resolution": "resolved_fixed", "note": "負荷試験"})
                if status == 200:
                    ok["resolved"] += 1
                else:
                    errors[f"resolve {status}"] += 1
        finally:
            await connection.close()

    async def everyone() -> float:
        began = time.perf_counter()
        stop_at = time.monotonic() + seconds
        await asyncio.gather(*(steward(name, token, stop_at, random.Random(n))
                               for n, (name, token) in enumerate(tokens.items())))
        return time.perf_counter() - began

    wall = asyncio.run(everyone())
    return latencies, claims, ok, errors, wall


def run_load(base: str, tokens: dict[str, str], seconds: float, max_requests: int):
    latencies: dict[str, list[float]] = defaultdict(list)
    claims: list[tuple[str, int]] = []
    ok = Counter()
    errors = Counter()
    lock = threading.Lock()
    stop_at = time.monotonic() + seconds
    sent = Counter()
    start = threading.Barrier(len(tokens))

    def timed(client: httpx.Client, kind: str, method: str, path: str, **kw):
        t0 = time.perf_counter()
        r = client.request(method, path, **kw)
        elapsed = time.perf_counter() - t0
        with lock:
            latencies[kind].append(elapsed)
            sent["all"] += 1
        return r

    def steward(name: str, token: str) -> None:
        with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=30) as client:
            start.wait()
            while time.monotonic() < stop_at and sent["all"] < max_requests:
                r = timed(client, "claim", "POST", "/api/v1/queues/notation/claim")
                if r.status_code == 204:
                    time.sleep(0.05)
                    continue
                if r.status_code != 200:
                    with lock:
                        errors[f"claim {r.status_code}"] += 1
                    continue
                item_id = r.json()["id"]
                with lock:
                    claims.append((name, item_id))
                    ok["claimed"] += 1
                r = timed(client, "detail", "GET", f"/api/v1/work-items/{item_id}")
                with lock:
                    if r.status_code == 200:
                        ok["viewed"] += 1
                    else:
                        errors[f"detail {r.status_code}"] += 1
                r = timed(client, "resolve", "POST", f"/api/v1/work-items/{item_id}/resolve",
                          json={"resolution": "resolved_fixed", "note": "負荷試験"})
                with lock:
                    if r.status_code == 200:
                        ok["resolved"] += 1
                    else:
                        errors[f"resolve {r.status_code}"] += 1

    threads = [threading.Thread(target=steward, args=item) for item in tokens.items()]
    began = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=seconds + 120)
    wall = time.perf_counter() - began
    return latencies, claims, ok, errors, wall


def audit_counts(url: str) -> Counter:
    from reconcile import store
    from reconcile.store.models import Event

    engine = store.get_engine(url)
    with engine.connect() as c:
        counts = Counter(dict(c.execute(sa.select(Event.action, sa.func.count()).group_by(Event.action)).all()))
        per_item = c.execute(sa.select(sa.func.count()).select_from(
            sa.select(Event.work_item_id).where(Event.action == "claimed").group_by(Event.work_item_id)
            .having(sa.func.count() > 1).subquery())).scalar_one()
    engine.dispose()
    counts["_items_claimed_twice"] = int(per_item)
    return counts


def process_cpu_seconds(pid: int) -> float:
    """CPU seconds (user + system) of a process and its children (the uvicorn workers), from /proc."""
    total = 0.0
    tick = os.sysconf("SC_CLK_TCK")
    pids = [pid]
    try:
        pids += [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        pass
    for each in pids:
        try:
            fields = Path(f"/proc/{each}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / tick
    return total


def load_average() -> str:
    return "load average " + ", ".join(f"{x:.2f}" for x in os.getloadavg()) + f" ({os.cpu_count()} cores)"


def percentiles(values: list[float]) -> str:
    if not values:
        return "-"
    p50, p95, p99 = np.percentile(np.array(values) * 1000, [50, 95, 99])
    return f"p50 {p50:6.1f} ms  p95 {p95:6.1f} ms  p99 {p99:6.1f} ms  (n={len(values):,})"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--stewards", type=int, default=20)
    parser.add_argument("--items", type=int, default=6000, help="work items per insurer")
    parser.add_argument("--max-requests", type=int, default=200_000)
    parser.add_argument("--workers", type=int, default=1, help="uvicorn worker processes of the server")
    parser.add_argument("--client", choices=("async", "threads"), default="async",
                        help="async: one event loop, one connection per steward (cheap); threads: httpx per thread")
    parser.add_argument("--think", type=float, default=0.0, metavar="MS",
                        help="secondary figure: pause 0.5–1.5 × MS before each request (a steward's pace); "
                             "0 = closed loop, the headline figure")
    parser.add_argument("--database-url", default=os.environ.get("RECONCILE_TEST_POSTGRES_URL"),
                        help="PostgreSQL URL (a private schema is made in it and dropped afterwards)")
    args = parser.parse_args()
    if not args.database_url:
        raise SystemExit("set RECONCILE_TEST_POSTGRES_URL or --database-url (PostgreSQL)")
    seconds = min(args.seconds, MAX_SECONDS)
    max_requests = min(args.max_requests, MAX_REQUESTS)

    from reconcile.store import get_engine, normalise_url
    from sqlalchemy.engine import make_url

    schema = f"api_load_{uuid.uuid4().hex[:10]}"
    admin = get_engine(args.database_url)
    with admin.begin() as c:
        c.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    url = make_url(normalise_url(args.database_url)).update_query_dict(
        {"options": f"-csearch_path={schema}"}).render_as_string(hide_password=False)
    proc = None
    try:
        t0 = time.perf_counter()
        tokens = build_store(url, args.items, args.stewards)
        print(f"store: {2 * args.items:,} work items of 2 insurers, {args.stewards} stewards "
              f"({time.perf_counter() - t0:.1f} s)")
        with tempfile.TemporaryDirectory() as tmp:
            proc, base = start_server(url, Path(tmp), args.workers)
            mode = (f"steward pace: {args.think:.0f} ms think time (secondary figure)" if args.think
                    else "closed loop, no think time")
            print(f"server: {base} ({args.workers} uvicorn worker process{'es' if args.workers > 1 else ''}); "
                  f"client: {args.client}; {mode}; load for {seconds:.0f} s, at most {max_requests:,} requests")
            print(f"before: {load_average()}")
            cpu0, client0 = process_cpu_seconds(proc.pid), time.process_time()
            if args.client == "async":
                latencies, claims, ok, errors, wall = run_load_async(base, tokens, seconds, max_requests, args.think)
            else:
                if args.think:
                    raise SystemExit("--think needs --client async")
                latencies, claims, ok, errors, wall = run_load(base, tokens, seconds, max_requests)
            cpu1, client1 = process_cpu_seconds(proc.pid), time.process_time()
            print(f"after:  {load_average()}")
        total = sum(len(v) for v in latencies.values())
        every = [x for v in latencies.values() for x in v]
        print(f"requests: {total:,} in {wall:.1f} s = {total / wall:,.1f} req/s; "
              f"items resolved {ok['resolved']:,} = {ok['resolved'] / wall:,.1f} items/s")
        print(f"CPU per request: server {(cpu1 - cpu0) / max(total, 1) * 1000:.2f} ms, "
              f"load client {(client1 - client0) / max(total, 1) * 1000:.2f} ms")
        print(f"latency all      {percentiles(every)}")
        for kind in ("claim", "detail", "resolve"):
            print(f"latency {kind:<8} {percentiles(latencies[kind])}")
        by_item = Counter(item for _, item in claims)
        double_claims = sum(1 for n in by_item.values() if n > 1)
        audit = audit_counts(url)
        lost = {action: ok[key] - audit.get(action, 0)
                for key, action in (("claimed", "claimed"), ("viewed", "viewed"), ("resolved", "resolved"))}
        print(f"double claims: {double_claims + audit['_items_claimed_twice']} (must be 0)")
        print(f"events lost: {sum(max(v, 0) for v in lost.values())} (must be 0; per action client-seen minus "
              f"audit: {lost})")
        if errors:
            print(f"errors: {dict(errors)}")
        p95 = float(np.percentile(np.array(every) * 1000, 95)) if every else float("nan")
        print(f"target p95 < 200 ms: {'met' if p95 < 200 else 'NOT met'} ({p95:.1f} ms)")
        return 0 if double_claims == 0 and audit["_items_claimed_twice"] == 0 and not any(lost.values()) else 1
    finally:
        if proc is not None:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
        with admin.begin() as c:
            c.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()


if __name__ == "__main__":
    sys.exit(main())
