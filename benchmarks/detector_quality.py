"""Detector quality — three lines of evidence per rule (issue #9) — and detector speed.

    python benchmarks/detector_quality.py --members 20000 --seeds 101,102 \
        --independent /tmp/ind/r1,/tmp/ind/h1 --messy /tmp/ind/r1m --speed-members 0
    python benchmarks/detector_quality.py --members 0 --speed-members 1000000   # speed only

Per detector rule it prints three lines:

1. **corpus** — the hand-written rows of ``tests/cases/test_detector_cases.py`` that name the
   rule (must / must not be raised): rows passing / rows;
2. **independent** — the blind feed of ``benchmarks/independent/`` (generated with its
   documented command when the folder is missing; scored with its documented
   ``score --findings``): precision and recall per feed. Its source is never read here and no
   threshold is tuned on it: its misses are what the product does not know;
3. **held-out** — our own generator (``reconcile.synth.generate``) on seeds not used while
   developing: precision and recall per seed.

Findings come from ``reconcile.feeds.load_feed`` + ``detectors.run_rules`` (what a scan
stores), written as a findings export. A finding is a true positive when (insurer, member,
rule) is in the truth. Targets: precision and recall ≥ 0.98 on every line. ``--messy`` checks
that the messy-notation rewrite of an independent feed gives identical
(insurer, member, rule, finding_id) sets (the scorer's ``--compare``).

FEED_DRIFT is feed-level: it is checked on a history of earlier feeds the script builds from
the feed's own statistics (quiet history → no finding; a shifted statistic → one finding).

Speed: the injected 1M-member world is turned into canonical frames in memory (numbers keyed the
way ingest does it) and ``run_rules`` is timed (target ≤ ~15 s for the detector rules).
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from detectors import run_rules  # noqa: E402
from detectors.schema import coerce  # noqa: E402
from detectors.stats import feed_stats  # noqa: E402

KEY = b"detector-quality-benchmark-key"
ISSUE_4_RULES = (
    "BURDEN_RATIO_OQS_MISMATCH", "BURDEN_RATIO_RULE", "LIMIT_CATEGORY_OQS_MISMATCH", "LIMIT_CATEGORY_RULE",
    "BENEFIT_HISTORY_DIVERGENCE", "QUAL_DATE_IS_ISSUE_DATE", "QUAL_DATE_OQS_MISMATCH", "QUAL_LOSS_NOT_LINKED",
    "QUAL_ACTIVE_AFTER_EXIT", "QUAL_ACTIVE_PAST_AGE_LIMIT", "QUAL_OVERLAP", "QUAL_DATE_INVALID",
    "KAKUNINSHO_NOT_ISSUED", "FEED_DRIFT",
)
TARGET = 0.98
INDEPENDENT_KEY = b"detector-quality-independent-key"
EXPORT_COLUMNS = ["finding_id", "scan_id", "insurer_number", "member_id", "rule_id", "category", "severity", "score",
                  "summary", "evidence", "suggested_resident_id", "suggested_individual_number_last4", "queue",
                  "status", "first_seen_scan", "last_seen_scan"]


def score(findings: pd.DataFrame, truth: pd.DataFrame) -> pd.DataFrame:
    """Per rule: findings, truth rows, true positives, precision, recall."""
    found = findings.loc[findings["member_id"].notna(), ["insurer_number", "member_id", "rule_id"]].drop_duplicates()
    expected = truth[["insurer_number", "member_id", "rule_id"]].astype(str).drop_duplicates()
    found = found.astype(str)
    hits = found.merge(expected, how="inner")
    rules = sorted(set(found["rule_id"]) | set(expected["rule_id"]))
    rows = []
    for rule_id in rules:
        f = int((found["rule_id"] == rule_id).sum())
        t = int((expected["rule_id"] == rule_id).sum())
        tp = int((hits["rule_id"] == rule_id).sum())
        rows.append({"rule_id": rule_id, "findings": f, "truth": t, "tp": tp,
                     "precision": tp / f if f else float("nan"), "recall": tp / t if t else float("nan")})
    return pd.DataFrame(rows)


def examples(findings: pd.DataFrame, truth: pd.DataFrame, rule_id: str, limit: int = 3) -> tuple[list, list]:
    """A few false positives (finding summaries) and misses (truth patterns) of ``rule_id``."""
    found = findings.loc[findings["rule_id"] == rule_id]
    expected = truth.loc[truth["rule_id"] == rule_id]
    keys_t = set(zip(expected["insurer_number"].astype(str), expected["member_id"].astype(str)))
    keys_f = set(zip(found["insurer_number"].astype(str), found["member_id"].astype(str)))
    fp = [f"{m}: {s}" for i, m, s in zip(found["insurer_number"], found["member_id"], found["summary_en"])
          if (str(i), str(m)) not in keys_t][:limit]
    fn = [f"{m}: {p}" for i, m, p in zip(expected["insurer_number"], expected["member_id"], expected["pattern"])
          if (str(i), str(m)) not in keys_f][:limit]
    return fp, fn


def drift_check(frames: dict, as_of: pd.Timestamp) -> list[str]:
    """FEED_DRIFT on histories built from the feed's own statistics."""
    stats = feed_stats(frames, as_of)
    rng = np.random.default_rng(0)

    def history(shift: dict[str, float]) -> pd.DataFrame:
        rows = []
        for back in range(1, 7):
            month = as_of - pd.DateOffset(months=back)
            noise = rng.normal(0, 0.002, len(stats))
            values = stats["value"].to_numpy() * (1 + noise)
            shifted = stats["statistic"].map(shift).fillna(0.0).to_numpy()
            rows.append(stats.assign(scan_id=f"s{back}", as_of=month, period=f"{month:%Y-%m}", value=values - shifted))
        return pd.concat(rows, ignore_index=True)

    lines = []
    quiet = run_rules(frames, as_of=as_of, feed_history=history({}), rule_ids=["FEED_DRIFT"]).findings
    lines.append(f"  quiet history (6 feeds, ±0.2% noise): {len(quiet)} finding(s) (expected 0)")
    moved = run_rules(frames, as_of=as_of, feed_history=history({"burden_ratio_share:30": 0.10}),
                      rule_ids=["FEED_DRIFT"]).findings
    summary = moved["summary_en"].iloc[0] if len(moved) else "-"
    insurers = stats["insurer_number"].nunique()
    lines.append(f"  30% share 10 pt lower in earlier feeds: {len(moved)} finding(s) (expected {insurers}, one per insurer): {summary}")
    short = run_rules(frames, as_of=as_of, feed_history=history({"burden_ratio_share:30": 0.10}).query("scan_id in ['s1', 's2']"),
                      rule_ids=["FEED_DRIFT"]).findings
    lines.append(f"  same shift, only 2 earlier feeds: {len(short)} finding(s) (expected 0: history too short)")
    return lines


def quality(members: int, seed: int, workdir: Path) -> None:
    from reconcile.feeds import load_feed
    from reconcile.synth.generate import generate

    feed_dir = workdir / f"feed-{members}-{seed}"
    started = time.perf_counter()
    result = generate(feed_dir, members=members, seed=seed)
    generated = time.perf_counter() - started
    started = time.perf_counter()
    feed = load_feed(feed_dir, key=KEY)
    loaded = time.perf_counter() - started
    truth = pd.read_csv(result.truth_path, dtype=str)
    run = run_rules(feed.frames, as_of=feed.as_of)
    print(f"quality: {members:,} members, seed {seed}, as_of {feed.as_of.date()}; generate {generated:.1f} s, "
          f"load {loaded:.1f} s, rules {sum(v for k, v in run.seconds.items()):.1f} s; "
          f"quarantined rows {len(feed.quarantine)}; skipped {run.skipped or 'none'}")
    table = score(run.findings, truth)
    table["issue_4"] = table["rule_id"].isin(ISSUE_4_RULES)
    print(f"{'rule':<30} {'findings':>8} {'truth':>6} {'tp':>5} {'precision':>9} {'recall':>7}")
    for r in table.sort_values(["issue_4", "rule_id"], ascending=[False, True]).itertuples():
        flag = "" if not r.issue_4 else ("  ok" if (r.precision >= TARGET or np.isnan(r.precision)) and
                                          (r.recall >= TARGET or np.isnan(r.recall)) else "  BELOW TARGET")
        print(f"{r.rule_id:<30} {r.findings:>8} {r.truth:>6} {r.tp:>5} {r.precision:>9.3f} {r.recall:>7.3f}{flag}")
    for r in table.loc[table["issue_4"]].itertuples():
        if r.precision < 1 or r.recall < 1:
            fp, fn = examples(run.findings, truth, r.rule_id)
            for line in fp:
                print(f"    FP {r.rule_id}: {line}")
            for line in fn:
                print(f"    FN {r.rule_id}: {line}")
    clean = set(zip(truth["insurer_number"], truth["member_id"]))
    findings = run.findings.loc[run.findings["rule_id"].isin(ISSUE_4_RULES) & run.findings["member_id"].notna()]
    on_clean = sum((str(i), str(m)) not in clean for i, m in zip(findings["insurer_number"], findings["member_id"]))
    print(f"issue #4 findings on members absent from truth (clean members): {on_clean}")
    print("FEED_DRIFT:")
    for line in drift_check(feed.frames, feed.as_of):
        print(line)


def canonical_frames(world) -> dict[str, pd.DataFrame]:
    """The world's frames as ingest would hand them over: numbers keyed, canonical dtypes, _line."""
    from reconcile.privacy import protect_numbers

    out = {}
    for kind in ("members", "residents", "oqs", "benefit_history", "card_status"):
        frame = getattr(world, kind)
        frame = frame[[c for c in frame.columns if not c.startswith("_")]].copy()
        if "individual_number" in frame.columns:
            last4 = frame["individual_number_last4"] if "individual_number_last4" in frame.columns else \
                pd.Series(pd.NA, index=frame.index)
            protected = protect_numbers(frame["individual_number"].astype("string"), last4.astype("string"), KEY)
            frame = frame.drop(columns=["individual_number", "individual_number_last4"], errors="ignore")
            frame = pd.concat([frame, protected], axis=1)
        if "burden_ratio" in frame.columns:
            frame["burden_ratio"] = pd.to_numeric(frame["burden_ratio"])
        frame["_line"] = np.arange(2, len(frame) + 2)
        out[kind] = coerce(kind, frame)
    return out


def speed(members: int, seed: int, all_injectors: bool = False, all_rules: bool = True) -> None:
    from reconcile.synth import benefits
    from reconcile.synth.generate import build, default_as_of
    from reconcile.synth.population import build_world

    started = time.perf_counter()
    if all_injectors:
        world = build(members, seed=seed)
    else:
        # Detector time does not depend on which few thousand members are broken: the clean base
        # plus this issue's injector keeps the 1M build short.
        world = build_world(members, seed=seed, as_of=default_as_of())
        benefits.inject(world)
    built = time.perf_counter() - started
    started = time.perf_counter()
    frames = canonical_frames(world)
    prepared = time.perf_counter() - started
    history = []
    stats = feed_stats(frames, world.as_of)
    for back in range(1, 7):
        month = world.as_of - pd.DateOffset(months=back)
        history.append(stats.assign(scan_id=f"s{back}", as_of=month, period=f"{month:%Y-%m}"))
    feed_history = pd.concat(history, ignore_index=True)
    from detectors.registry import RULES
    import detectors.rules  # noqa: F401
    mine = [r for r in sorted(RULES) if r in ISSUE_4_RULES]
    started = time.perf_counter()
    run_mine = run_rules(frames, as_of=world.as_of, feed_history=feed_history, rule_ids=mine)
    mine_s = time.perf_counter() - started
    print(f"speed: {len(frames['members']):,} member rows, {len(frames['residents']):,} residents, "
          f"{len(frames['benefit_history']):,} history rows; build {built:.0f} s, canonical frames {prepared:.0f} s")
    print(f"  issue #4 rules: {mine_s:.1f} s ({len(run_mine.findings):,} findings) — target ≤ 30 s", flush=True)
    slow = sorted(run_mine.seconds.items(), key=lambda kv: -kv[1])
    print("  per rule: " + ", ".join(f"{k} {v:.1f}s" for k, v in slow), flush=True)
    if not all_rules:
        return
    started = time.perf_counter()
    run_all = run_rules(frames, as_of=world.as_of, feed_history=feed_history)
    all_s = time.perf_counter() - started
    print(f"  all rules (incl. mis-link / notation): {all_s:.1f} s ({len(run_all.findings):,} findings)")
    slow = sorted(run_all.seconds.items(), key=lambda kv: -kv[1])[:8]
    print("  slowest: " + ", ".join(f"{k} {v:.1f}s" for k, v in slow))


def _ok(value: float) -> bool:
    return value != value or value >= TARGET


def corpus_evidence() -> dict[str, tuple[int, int, list[str]]]:
    """Per rule: (rows passing, rows naming the rule, descriptions of failing rows) of the case corpus."""
    from tests.cases.test_detector_cases import CASES, check, run_case

    out: dict[str, list] = {}
    for case in CASES:
        named = {r if isinstance(r, str) else r[1] for r in [*case.get("raises", []), *case.get("not_raised", [])]}
        problems = check(case, run_case(case))
        for rule_id in named or {"(clean rows)"}:
            row = out.setdefault(rule_id, [0, 0, []])
            row[1] += 1
            if problems:
                row[2].append(f"{case['description']}: {'; '.join(problems)}" + (" [known: xfail]" if case.get("xfail") else ""))
            else:
                row[0] += 1
    return {k: (v[0], v[1], v[2]) for k, v in out.items()}


def export_findings(feed_dir: Path, out: Path) -> tuple[pd.DataFrame, float]:
    """Scan-equivalent findings of ``feed_dir`` (load_feed + run_rules) written as a findings export."""
    from reconcile.feeds import load_feed

    started = time.perf_counter()
    feed = load_feed(feed_dir, key=INDEPENDENT_KEY)
    run = run_rules(feed.frames, as_of=feed.as_of)
    f = run.findings.copy()
    f["summary"] = f["summary_ja"]
    f["scan_id"], f["queue"], f["status"], f["first_seen_scan"], f["last_seen_scan"] = 1, "", "open", 1, 1
    f[EXPORT_COLUMNS].to_csv(out, index=False)
    return f, time.perf_counter() - started


def independent_evidence(feed_dirs: list[Path], messy: list[Path]) -> tuple[dict[str, dict[str, tuple]], list[str]]:
    """Per rule and feed: (precision, recall, truth, raised) from the independent scorer; plus notes."""
    per_rule: dict[str, dict[str, tuple]] = {}
    notes = []
    for feed_dir in [*feed_dirs, *messy]:
        if not (feed_dir / "truth.csv").exists():
            notes.append(f"independent feed {feed_dir} missing: generate it with `python -m benchmarks.independent.generate "
                         f"{feed_dir} --members N --seed S [--profile hard] [--messy]` (see its README)")
            continue
    for feed_dir in feed_dirs:
        if not (feed_dir / "truth.csv").exists():
            continue
        csv = feed_dir.parent / f"{feed_dir.name}-detector-findings.csv"
        report = feed_dir.parent / f"{feed_dir.name}-detector-score.json"
        _, seconds = export_findings(feed_dir, csv)
        cmd = [sys.executable, "-m", "benchmarks.independent.score", str(feed_dir), "--findings", str(csv),
               "--json", str(report)]
        done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
        if done.returncode != 0 or not report.exists():
            notes.append(f"{' '.join(cmd)} failed: {done.stderr.strip()[-300:]}")
            continue
        scored = json.loads(report.read_text(encoding="utf-8"))
        notes.append(f"independent {feed_dir.name}: load + rules {seconds:.0f} s; command: {' '.join(cmd[1:])}")
        for rule_id, figures in scored.get("per_rule", {}).items():
            def fig(name):
                value = figures.get(name)
                return float("nan") if value is None else float(value)

            per_rule.setdefault(rule_id, {})[feed_dir.name] = (
                fig("precision"), fig("recall"),
                figures.get("truth", 0), figures.get("raised", 0),
                [m.get("member_id", "") + " " + ",".join(m.get("patterns", [])) for m in figures.get("example_misses", [])][:3],
                [m.get("member_id", "") + " " + ",".join(m.get("patterns", [])) for m in
                 figures.get("example_false_positives", [])][:3])
        for trap in scored.get("traps", []):
            if trap.get("false_positive_members"):
                notes.append(f"  trap {trap['pattern']} on {feed_dir.name}: {trap['false_positive_members']} of "
                             f"{trap['members']} members raised {trap.get('rules')}")
    for messy_dir in messy:
        if not (messy_dir / "truth.csv").exists():
            continue
        clean_name = messy_dir.name[:-1] if messy_dir.name.endswith("m") else messy_dir.name
        clean_csv = messy_dir.parent / f"{clean_name}-detector-findings.csv"
        csv = messy_dir.parent / f"{messy_dir.name}-detector-findings.csv"
        export_findings(messy_dir, csv)
        if clean_csv.exists():
            a = pd.read_csv(clean_csv, dtype=str)[["insurer_number", "member_id", "rule_id", "finding_id"]]
            b = pd.read_csv(csv, dtype=str)[["insurer_number", "member_id", "rule_id", "finding_id"]]
            sa, sb = set(map(tuple, a.fillna("").to_numpy())), set(map(tuple, b.fillna("").to_numpy()))
            notes.append(f"messy rewrite {messy_dir.name} vs {clean_name}: {'identical' if sa == sb else 'DIFFERENT'} "
                         f"findings ({len(sa)} vs {len(sb)}; only clean {len(sa - sb)}, only messy {len(sb - sa)}); "
                         f"scorer: python -m benchmarks.independent.score {messy_dir} --compare {clean_csv}")
    return per_rule, notes


def heldout_evidence(members: int, seeds: list[int], workdir: Path) -> tuple[dict[str, dict[int, tuple]], list[str]]:
    """Per rule and seed of our generator: (precision, recall, truth, findings, misses, false positives);
    plus the FEED_DRIFT history check on the first seed."""
    from reconcile.feeds import load_feed
    from reconcile.synth.generate import generate

    out: dict[str, dict[int, tuple]] = {}
    drift: list[str] = []
    for seed in seeds:
        feed_dir = workdir / f"heldout-{members}-{seed}"
        result = generate(feed_dir, members=members, seed=seed)
        feed = load_feed(feed_dir, key=KEY)
        truth = pd.read_csv(result.truth_path, dtype=str)
        run = run_rules(feed.frames, as_of=feed.as_of)
        table = score(run.findings, truth)
        for r in table.itertuples():
            fp, fn = examples(run.findings, truth, r.rule_id, limit=2)
            out.setdefault(r.rule_id, {})[seed] = (r.precision, r.recall, r.truth, r.findings, fn, fp)
        if not drift:
            drift = [f"FEED_DRIFT on histories built from seed {seed}'s statistics:", *drift_check(feed.frames, feed.as_of)]
    return out, drift


def three_lines(members: int, seeds: list[int], independent: list[Path], messy: list[Path], workdir: Path) -> None:
    """Print corpus, independent-feed and held-out evidence per detector rule."""
    corpus = corpus_evidence()
    ind, notes = independent_evidence(independent, messy)
    held, drift = heldout_evidence(members, seeds, workdir) if members and seeds else ({}, [])
    print(f"three lines of evidence per rule (target precision and recall ≥ {TARGET}):")
    for rule_id in ISSUE_4_RULES:
        passed, total, failing = corpus.get(rule_id, (0, 0, []))
        flag = "ok" if passed == total and total else ("NO ROWS" if not total else "FAILING ROWS")
        print(f"{rule_id}")
        print(f"  corpus       {passed}/{total} rows pass  {flag}")
        for line in failing[:3]:
            print(f"      fails: {line}")
        if rule_id in ind:
            parts = [f"{name}: P {p:.3f} R {r:.3f} ({raised}/{truth})" + ("" if _ok(p) and _ok(r) else " BELOW")
                     for name, (p, r, truth, raised, _, _) in ind[rule_id].items()]
            print(f"  independent  " + "; ".join(parts))
            for name, (p, r, _, _, misses, fps) in ind[rule_id].items():
                if misses and r < 1:
                    print(f"      {name} misses: {'; '.join(misses)}")
                if fps and p < 1:
                    print(f"      {name} false positives: {'; '.join(fps)}")
        else:
            print("  independent  (no feed scored)" if rule_id != "FEED_DRIFT" else
                  "  independent  feed-level, never in a first month's truth")
        if rule_id in held:
            parts = [f"seed {seed}: P {p:.3f} R {r:.3f} ({f}/{t})" + ("" if _ok(p) and _ok(r) else " BELOW")
                     for seed, (p, r, t, f, _, _) in held[rule_id].items()]
            print(f"  held-out     " + "; ".join(parts))
            for seed, (p, r, _, _, fn, fp) in held[rule_id].items():
                for line in ([*fn] if r < 1 else []) + ([*fp] if p < 1 else []):
                    print(f"      seed {seed}: {line}")
        elif rule_id == "FEED_DRIFT":
            print("  held-out     see the FEED_DRIFT history check below")
    for note in [*notes, *drift]:
        print(note)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--members", type=int, default=20_000, help="quality run size (0 = skip)")
    parser.add_argument("--seed", type=int, default=0, help="the detailed single-seed quality table (--table)")
    parser.add_argument("--seeds", default="101,102", help="held-out seeds of our generator, comma separated")
    parser.add_argument("--independent", default="", help="independent feed folders, comma separated")
    parser.add_argument("--messy", default="", help="messy rewrites of those feeds (folder name = clean name + 'm')")
    parser.add_argument("--table", action="store_true", help="also print the detailed table for --seed")
    parser.add_argument("--speed-members", type=int, default=1_000_000, help="speed run size (0 = skip)")
    parser.add_argument("--all-injectors", action="store_true", help="speed run with every injector (slower build)")
    parser.add_argument("--issue-4-only", action="store_true", help="speed run without the mis-link / notation rules")
    parser.add_argument("--workdir", default=None)
    args = parser.parse_args()
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="reconcile-detectors-"))
    workdir.mkdir(parents=True, exist_ok=True)
    seeds = [int(x) for x in args.seeds.split(",") if x.strip()]
    independent = [Path(x) for x in args.independent.split(",") if x.strip()]
    messy = [Path(x) for x in args.messy.split(",") if x.strip()]
    if args.members or independent:
        three_lines(args.members, seeds, independent, messy, workdir)
    if args.members and args.table:
        quality(args.members, args.seed, workdir)
    if args.speed_members:
        speed(args.speed_members, args.seed, args.all_injectors, all_rules=not args.issue_4_only)


if __name__ == "__main__":
    main()
