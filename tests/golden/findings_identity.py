"""Findings byte-identical across speed commits (issue #12).

A speed change must not change a single finding. This module builds a fixed set of small feeds
(our generator in both profiles, the blind generator in both profiles, and a two-insurer
prefecture feed), reads each one with ``load_feed`` and runs every rule, and writes the findings
as canonical JSON lines (every column, sorted by finding id) next to this file. The test compares
a fresh run with the stored lines; a deliberate change of findings (an accuracy fix) rewrites
them in its own commit, which says why:

    python -m tests.golden.findings_identity --update
"""
from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import math
import sys
import tempfile
from pathlib import Path

import pandas as pd

HERE = Path(__file__).resolve().parent
KEY = b"golden-findings-key-0000"
AS_OF = "2026-11-01"

#: name → how to write the feed into a directory (small enough for CI, varied enough to matter)
FEEDS = ("ours-default", "ours-hard", "blind-realistic", "blind-hard", "prefecture")


def _write_feed(name: str, out: Path, scratch: Path) -> Path:
    from reconcile.synth.generate import generate

    if name == "ours-default":
        generate(out, members=4000, seed=11, as_of=AS_OF)
    elif name == "ours-hard":
        generate(out, members=3000, seed=12, as_of=AS_OF, profile="hard")
    elif name in ("blind-realistic", "blind-hard"):
        from benchmarks.independent import generate as blind

        profile = name.split("-")[1]
        blind.main([str(out), "--members", "4000" if profile == "realistic" else "3000",
                    "--seed", "21" if profile == "realistic" else "22", "--profile", profile,
                    "--as-of", AS_OF, "--quiet"])
    elif name == "prefecture":
        from tests.dask.multifeed import build_prefecture_feed

        parts = []
        for i, seed in enumerate((31, 32)):
            part = scratch / f"part{i}"
            generate(part, members=1500, seed=seed, as_of=AS_OF)
            parts.append(part)
        build_prefecture_feed(out, parts)
    else:  # pragma: no cover - a typo in FEEDS
        raise ValueError(name)
    return out


def _canonical(value):
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return None
    if hasattr(value, "item"):          # numpy scalars
        value = value.item()
    if isinstance(value, float):
        return repr(value)              # exact, so a changed last bit shows
    return value


def findings_lines(name: str) -> list[str]:
    """The findings of feed ``name`` as sorted canonical JSON lines (with the quarantine count)."""
    from detectors import run_rules
    from reconcile.feeds import load_feed

    with tempfile.TemporaryDirectory() as tmp:
        feed_dir = _write_feed(name, Path(tmp) / "feed", Path(tmp))
        feed = load_feed(feed_dir, key=KEY, as_of=AS_OF)
        findings = run_rules(feed.frames, as_of=feed.as_of).findings
        quarantine = feed.quarantine
    rows = findings.sort_values("finding_id", kind="stable")
    lines = [json.dumps({"feed": name, "quarantined": int(len(quarantine)), "findings": int(len(rows))},
                        ensure_ascii=False)]
    # where and why rows were quarantined (not the value: it may hold a number)
    kept = [c for c in ("file", "line", "column", "reason") if c in quarantine.columns]
    for record in quarantine[kept].astype(str).sort_values(kept).to_dict("records"):
        lines.append(json.dumps({"quarantine": record}, ensure_ascii=False, sort_keys=True))
    for record in rows.to_dict("records"):
        lines.append(json.dumps({k: _canonical(v) for k, v in sorted(record.items())},
                                ensure_ascii=False, sort_keys=True))
    return lines


def golden_path(name: str) -> Path:
    return HERE / f"findings-{name}.jsonl.gz"


def read_golden(name: str) -> list[str]:
    with gzip.open(golden_path(name), "rt", encoding="utf-8") as fh:
        return fh.read().splitlines()


def write_golden(name: str, lines: list[str]) -> None:
    data = ("\n".join(lines) + "\n").encode("utf-8")
    with open(golden_path(name), "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as fh:
        fh.write(data)


def digest(lines: list[str]) -> str:
    return hashlib.sha256("\n".join(lines).encode("utf-8")).hexdigest()[:16]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--update", action="store_true", help="rewrite the stored findings")
    ap.add_argument("feeds", nargs="*", default=list(FEEDS))
    args = ap.parse_args(argv)
    changed = 0
    for name in args.feeds:
        lines = findings_lines(name)
        old = read_golden(name) if golden_path(name).exists() else []
        same = old == lines
        changed += not same
        print(f"{name:16s} {len(lines) - 1:6d} findings  {digest(lines)}  {'same' if same else 'CHANGED'}")
        if args.update and not same:
            write_golden(name, lines)
    return 0 if args.update or not changed else 1


if __name__ == "__main__":
    sys.exit(main())
