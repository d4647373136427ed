"""Scan speed: generate feeds of 100k and 1M members, time `reconcile scan`, print the figures.

    python benchmarks/scan_speed.py                 # 100k and 1M members
    python benchmarks/scan_speed.py --members 200000

Each size runs `reconcile scan` in a fresh process against a fresh SQLite file; the peak
memory is that process's own ru_maxrss (benchmarks/measured.py). Targets (issue #2, 2-core machine):
1M members scanned — ingest + validation + the issue's four rules (NUMBER_INVALID,
RESIDENT_NOT_FOUND, NUMBER_SHARED, QUAL_DATE_INVALID) + persist — in ≤ 120 s with ≤ 6 GB peak
memory, and 1M members generated in < 120 s.

The scan always runs every registered rule (that is what `reconcile scan` does); the
issue-2 scope is read from the same scan's own stage timings (the scan records the seconds
of ingest, of each rule and provider, and of persisting), so both figures come from one run.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path


MEASURED = str(Path(__file__).with_name("measured.py"))


def run(args: list[str], env: dict[str, str]) -> tuple[float, float, str]:
    """Run one CLI command in a fresh process; wall seconds, its own peak RSS in GB, stdout."""
    started = time.perf_counter()
    proc = subprocess.run([sys.executable, MEASURED, *args], env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if proc.returncode != 0:
        sys.stderr.write(proc.stdout + proc.stderr)
        raise SystemExit(f"reconcile {' '.join(args)} exited {proc.returncode}")
    peak_kb = int(proc.stderr.rsplit("PEAK_RSS_KB=", 1)[1].split()[0])
    return seconds, peak_kb / 1024 / 1024, proc.stdout


ISSUE2_RULES = ("NUMBER_INVALID", "RESIDENT_NOT_FOUND", "NUMBER_SHARED", "QUAL_DATE_INVALID")


def scan_seconds(database_url: str) -> dict[str, float]:
    """The latest scan's own timings by stage, rule and provider (``rule:…`` keys)."""
    import sqlalchemy as sa

    engine = sa.create_engine(database_url)
    with engine.connect() as conn:
        summary = conn.execute(sa.text("SELECT summary FROM scans ORDER BY id DESC LIMIT 1")).scalar_one()
    engine.dispose()
    return (json.loads(summary) if isinstance(summary, str) else summary)["seconds"]


def issue2_scope(seconds: dict[str, float]) -> float:
    """Ingest + validation + the four issue-2 rules (and the ``linked`` provider they share) + persist."""
    parts = ["ingest_and_validation", "persist", "rule:provider:linked", *(f"rule:{r}" for r in ISSUE2_RULES)]
    return sum(seconds.get(k, 0.0) for k in parts)


def stage_seconds(database_url: str) -> list[tuple[str, float]]:
    """The latest scan's own stage timings (ingest, rules, persist, slowest rules), from the store."""
    seconds = scan_seconds(database_url)
    main_stages = [(k, seconds[k]) for k in ("ingest_and_validation", "rules", "persist", "total") if k in seconds]
    slowest = sorted(((k, v) for k, v in seconds.items() if k.startswith("rule:")), key=lambda kv: -kv[1])[:6]
    return main_stages + slowest


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--members", type=int, nargs="*", default=[100_000, 1_000_000])
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--workdir", default=None, help="keep feeds and databases here")
    args = parser.parse_args()

    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="reconcile-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "RECONCILE_SECRET_KEY": "benchmark-key-0123456789", "CI": "true"}
    rows = []
    for members in sorted(args.members):
        feed = workdir / f"feed-{members}"
        env["RECONCILE_DATABASE_URL"] = f"sqlite:///{workdir / f'scan-{members}.sqlite3'}"
        gen_s, _, _ = run(["generate", str(feed), "--members", str(members), "--seed", str(args.seed)], env)
        scan_s, peak_gb, out = run(["--lang", "en", "scan", str(feed)], env)
        residents = sum(1 for _ in open(feed / "residents.csv", "rb")) - 1 if (feed / "residents.csv").exists() else 0
        rows.append({"members": members, "residents": residents, "generate_s": round(gen_s, 1),
                     "scan_s": round(scan_s, 1), "issue2_scope_s": round(issue2_scope(scan_seconds(env["RECONCILE_DATABASE_URL"])), 1),
                     "members_per_s": round(members / scan_s), "peak_gb": round(peak_gb, 2)})
        print(out)
        stages = stage_seconds(env["RECONCILE_DATABASE_URL"])
        print("stages (s): " + ", ".join(f"{k} {v:.1f}" for k, v in stages))
    print(f"{'members':>10} {'residents':>10} {'generate s':>11} {'scan s (all rules)':>19} "
          f"{'issue-2 scope s':>16} {'members/s':>10} {'peak GB':>8}")
    for r in rows:
        print(f"{r['members']:>10,} {r['residents']:>10,} {r['generate_s']:>11} {r['scan_s']:>19} "
              f"{r['issue2_scope_s']:>16} {r['members_per_s']:>10,} {r['peak_gb']:>8}")
    print(json.dumps(rows))
    print("targets (issue #2, 2-core machine): 1,000,000 members generated in < 120 s; scanned "
          "(ingest + validation + NUMBER_INVALID, RESIDENT_NOT_FOUND, NUMBER_SHARED, QUAL_DATE_INVALID + persist) "
          "in <= 120 s; peak <= 6 GB. 'scan s (all rules)' is the whole `reconcile scan` with every "
          "matcher and detector, wall time of the process including start-up.")


if __name__ == "__main__":
    main()
