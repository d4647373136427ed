"""照合精度ベンチマーク / match-quality benchmark: three lines of evidence (issue #9).

1. **The case corpus** (``tests/cases/test_notation_cases.py``, ``tests/cases/test_mislink_cases.py``):
   hand-written rows for every notation and mis-link kind of the domain brief §1–2b, each saying
   what must and must not be raised; the pass rate and every failing row.
2. **The independent feed** (``benchmarks/independent/``, written from the contract and the
   domain brief alone): its README's commands — ``python -m benchmarks.independent.generate``
   then ``python -m benchmarks.independent.score`` — on dev seeds (realistic 20k, hard 10k);
   the figures are read from the scorer's JSON. Never tune a threshold on it: its misses say
   which real-world pattern the product does not know.
3. **Held-out seeds of our own generator** (default 201–203, both profiles):
   ``reconcile.synth.generate.generate`` writes a feed with ``truth.csv`` →
   ``reconcile.feeds.load_feed`` → ``run_rules`` → findings against the truth, side by side with
   two baselines on the same frames:

   - ``exact4``: the ministry's method — the linked resident's 氏名 (kanji and kana), 生年月日,
     性別 and 住所 compared exactly; any difference goes to the review queue (the name-only
     subset is also scored as its "notation" answer); suggestion = the first resident with the
     same kana name, birth date and sex (the three-item look-up behind the 2023 cases);
   - ``jaro``: generic Jaro–Winkler on the raw names, no Japanese normalisation: queue when the
     linked name similarity < 0.90 or birth date / sex differ; notation when 0.90 ≤ sim < 1;
     suggestion = the most similar raw name among residents with the same birth date.

   The seeds are neither the training seeds of ``train_matcher.py`` (1–3) nor seeds looked at
   while developing (11, 12, 101–103). Thresholds were set on the training seeds only.

Targets (issue #9), printed beside the figures: MISLINK_SUSPECTED recall ≥ 0.995, precision ≥ 0.95,
review queue (MISLINK_SUSPECTED ∪ NUMBER_SHARED) ≤ 1.05× the true mis-links, right resident
suggested ≥ 0.97; NOTATION_DIFFERENCE precision and recall ≥ 0.98; NUMBER_SHARED,
RESIDENT_NOT_FOUND, NUMBER_INVALID ≥ 0.98.

Usage: ``python benchmarks/match_quality.py [--members 20000] [--seeds 201 202 203]
[--profiles default hard] [--independent-seeds 1] [--skip-independent] [--skip-held-out]
[--speed 1000000] [--feed-cpu FEED_DIR [--feed-cache FRAMES.pkl] [--insurer N]]``
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

AS_OF = "2026-11-01"
KEY = b"benchmark-key-not-secret"
RULES = ("MISLINK_SUSPECTED", "NOTATION_DIFFERENCE", "NUMBER_SHARED", "RESIDENT_NOT_FOUND", "NUMBER_INVALID")
MISLINK_FAMILY = ("MISLINK_SUSPECTED", "NUMBER_SHARED")
TARGETS = {"MISLINK_SUSPECTED": (0.95, 0.995), "NOTATION_DIFFERENCE": (0.98, 0.98), "NUMBER_SHARED": (0.98, 0.98),
           "RESIDENT_NOT_FOUND": (0.98, 0.98), "NUMBER_INVALID": (0.98, 0.98)}   # (precision, recall)
QUEUE_TARGET, TOP1_TARGET = 1.05, 0.97
MEMBER_KEY = ["insurer_number", "member_id"]


def feed_frames(members: int, seed: int, profile: str, work: Path) -> tuple[dict, pd.DataFrame]:
    """generate → load_feed: canonical frames as a scan sees them, plus the truth."""
    from reconcile.feeds import load_feed
    from reconcile.synth.generate import generate

    out = work / f"feed_{profile}_{seed}"
    generate(out, members=members, seed=seed, as_of=AS_OF, profile=profile)
    feed = load_feed(out, key=KEY)
    truth = pd.read_csv(out / "truth.csv", dtype=str, keep_default_na=False)
    return dict(feed.frames), truth


def _keys(frame: pd.DataFrame) -> set[tuple[str, str]]:
    return set(zip(frame["insurer_number"].astype(str), frame["member_id"].astype(str)))


def score(found: pd.DataFrame, truth: pd.DataFrame, rule_id: str) -> dict[str, float]:
    """Recall / precision / F1 / queue / top-1 of ``found`` (rule_id, KEY, suggested_resident_id)."""
    got = found[found["rule_id"] == rule_id]
    want = truth[truth["rule_id"] == rule_id]
    g, w = _keys(got), _keys(want)
    tp = len(g & w)
    recall = tp / len(w) if w else float("nan")
    precision = tp / len(g) if g else float("nan")
    f1 = 2 * recall * precision / (recall + precision) if g and w and (recall + precision) else float("nan")
    out = {"true": len(w), "found": len(g), "tp": tp, "recall": recall, "precision": precision, "f1": f1}
    if rule_id in MISLINK_FAMILY:
        want_res = dict(zip(zip(want["insurer_number"], want["member_id"]), want["true_resident_id"]))
        sugg = dict(zip(zip(got["insurer_number"].astype(str), got["member_id"].astype(str)),
                        got["suggested_resident_id"]))
        hits = [str(sugg.get(k)) == want_res[k] for k in g & w if want_res.get(k)]
        out["top1"] = float(np.mean(hits)) if hits else float("nan")
        out["queue_ratio"] = len(g) / len(w) if w else float("nan")
    return out


# --- baselines ------------------------------------------------------------------------------------
def _linked(members: pd.DataFrame, residents: pd.DataFrame) -> pd.DataFrame:
    res = residents.dropna(subset=["number_hash"]).drop_duplicates("number_hash")
    return members.merge(res, on="number_hash", how="inner", suffixes=("", "_r"))


def baseline_exact4(members: pd.DataFrame, residents: pd.DataFrame) -> pd.DataFrame:
    """The ministry's exact comparison of the basic items, and the three-item look-up."""
    pairs = _linked(members, residents)
    same = lambda a, b: (pairs[a].fillna("") == pairs[b].fillna("")).to_numpy()  # noqa: E731
    name_ok = same("name_kanji", "name_kanji_r") & same("name_kana", "name_kana_r")
    other_ok = (pairs["birth_date"] == pairs["birth_date_r"]).to_numpy() & (pairs["sex"] == pairs["sex_r"]).to_numpy()
    addr_ok = same("address", "address_r")
    # Every mismatch goes to the review queue (the ~1.39 million of the 2023 review); the
    # name-only subset is what this method could at best call "notation".
    mislink = pairs[~(name_ok & other_ok & addr_ok)].copy()
    notation = pairs[~name_ok & other_ok & addr_ok].copy()
    lookup = residents.dropna(subset=["name_kana"]).drop_duplicates(["name_kana", "birth_date", "sex"])
    mislink = mislink.merge(lookup[["name_kana", "birth_date", "sex", "resident_id"]].rename(
        columns={"resident_id": "suggested_resident_id"}), on=["name_kana", "birth_date", "sex"], how="left")
    mislink["rule_id"] = "MISLINK_SUSPECTED"
    notation["rule_id"] = "NOTATION_DIFFERENCE"
    notation["suggested_resident_id"] = None
    return pd.concat([mislink[[*MEMBER_KEY, "rule_id", "suggested_resident_id"]],
                      notation[[*MEMBER_KEY, "rule_id", "suggested_resident_id"]]], ignore_index=True)


def baseline_jaro(members: pd.DataFrame, residents: pd.DataFrame) -> pd.DataFrame:
    """Generic Jaro–Winkler on raw names, no Japanese normalisation."""
    from rapidfuzz import process
    from rapidfuzz.distance import JaroWinkler

    pairs = _linked(members, residents)
    a = pairs["name_kanji"].fillna("").astype(str).tolist()
    b = pairs["name_kanji_r"].fillna("").astype(str).tolist()
    sim = process.cpdist(a, b, scorer=JaroWinkler.normalized_similarity, workers=-1)
    other_ok = (pairs["birth_date"] == pairs["birth_date_r"]).to_numpy() & (pairs["sex"] == pairs["sex_r"]).to_numpy()
    mislink = pairs[(sim < 0.90) | ~other_ok].copy()
    notation = pairs[(sim >= 0.90) & (sim < 1.0) & other_ok].copy()
    # Suggestion: most similar raw name among residents with the same birth date.
    cand = mislink[[*MEMBER_KEY, "name_kanji", "birth_date"]].merge(
        residents[["resident_id", "name_kanji", "birth_date"]].rename(columns={"name_kanji": "cand_name"}),
        on="birth_date", how="left")
    cand["sim"] = process.cpdist(cand["name_kanji"].fillna("").astype(str).tolist(),
                                 cand["cand_name"].fillna("").astype(str).tolist(),
                                 scorer=JaroWinkler.normalized_similarity, workers=-1)
    best = cand.sort_values("sim", ascending=False).drop_duplicates(MEMBER_KEY)
    mislink = mislink.merge(best[[*MEMBER_KEY, "resident_id"]].rename(columns={"resident_id": "suggested_resident_id"}),
                            on=MEMBER_KEY, how="left")
    mislink["rule_id"] = "MISLINK_SUSPECTED"
    notation["rule_id"] = "NOTATION_DIFFERENCE"
    notation["suggested_resident_id"] = None
    return pd.concat([mislink[[*MEMBER_KEY, "rule_id", "suggested_resident_id"]],
                      notation[[*MEMBER_KEY, "rule_id", "suggested_resident_id"]]], ignore_index=True)


def run_matcher(frames: dict, settings: dict | None = None) -> tuple[pd.DataFrame, float]:
    from detectors.engine import run_rules

    started = time.perf_counter()
    run = run_rules(frames, as_of=pd.Timestamp(AS_OF), settings=settings or {}, rule_ids=list(RULES))
    return run.findings, time.perf_counter() - started


def _fmt(value: float) -> str:
    return "  n/a" if value != value else f"{value:5.3f}"


def speed(members: int, seed: int = 7) -> None:
    """Matcher wall time on one big synthetic feed (frames built in memory, not timed)."""
    from matchers.resolve import resolve
    from reconcile.synth.generate import build

    print(f"\n== speed: {members:,} members ==", flush=True)
    t0 = time.perf_counter()
    world = build(members, seed=seed, as_of=AS_OF)
    frames = world_frames(world)
    print(f"built world + frames in {time.perf_counter() - t0:.1f}s: {len(frames['members']):,} members, "
          f"{len(frames['residents']):,} residents", flush=True)
    t0 = time.perf_counter()
    res = resolve(frames["members"], frames["residents"])
    seconds = time.perf_counter() - t0
    print(f"resolve (both paths, {len(res.pairs):,} scored pairs): {seconds:.1f}s", flush=True)
    from detectors.engine import run_rules
    t0 = time.perf_counter()
    run = run_rules(frames, as_of=pd.Timestamp(AS_OF), rule_ids=list(RULES))
    print(f"run_rules {RULES} incl. resolve and evidence: {time.perf_counter() - t0:.1f}s "
          f"({ {k: round(v, 1) for k, v in run.seconds.items()} })", flush=True)


def feed_cpu(feed: Path, cache: Path | None = None, insurer: str | None = None) -> None:
    """CPU time of the matcher's rules (resolution, MISLINK_SUSPECTED, NOTATION_DIFFERENCE,
    NUMBER_SHARED, RESIDENT_NOT_FOUND, with their providers and each rule's finalise) on a feed
    directory read by ``load_feed`` (not timed; frames pickled to ``cache`` and read from there
    next time), and the process's peak RSS during those rules (a /proc/self/statm sampler).
    ``insurer``: only that insurer's members (and all residents)."""
    import json
    import os
    import pickle
    import resource
    import threading

    import detectors.engine as engine
    import detectors.rules  # noqa: F401

    if cache is not None and cache.exists():
        frames = pickle.loads(cache.read_bytes())
    else:
        from reconcile.feeds import load_feed

        frames = dict(load_feed(feed, key=KEY).frames)
        if cache is not None:
            cache.write_bytes(pickle.dumps(frames, protocol=5))
    if insurer:
        frames = {k: (v[v["insurer_number"] == insurer].reset_index(drop=True)
                      if v is not None and k != "residents" and "insurer_number" in v else v) for k, v in frames.items()}
    page = os.sysconf("SC_PAGE_SIZE")

    def rss_mb() -> float:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * page / 2 ** 20

    peak = [rss_mb()]
    before = peak[0]
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            peak[0] = max(peak[0], rss_mb())
            stop.wait(0.01)

    finalise_cpu: dict[str, float] = {}
    original = engine.finalise

    def timed_finalise(rule, raw):
        started = time.process_time()
        out = original(rule, raw)
        finalise_cpu[rule.rule_id] = time.process_time() - started
        return out

    threading.Thread(target=sample, daemon=True).start()
    engine.finalise = timed_finalise
    clock, engine.time.perf_counter = engine.time.perf_counter, time.process_time   # per-rule seconds as CPU
    try:
        started = time.process_time()
        manifest = feed / "manifest.json"
        as_of = json.loads(manifest.read_text())["as_of"] if manifest.exists() else AS_OF
        run = engine.run_rules(frames, as_of=pd.Timestamp(as_of), rule_ids=[
            "MISLINK_SUSPECTED", "NOTATION_DIFFERENCE", "NUMBER_SHARED", "RESIDENT_NOT_FOUND"])
        total = time.process_time() - started
    finally:
        engine.time.perf_counter = clock
        engine.finalise = original
        stop.set()
    print(f"\n== matcher rules CPU: {feed} ({len(frames['members']):,} members, "
          f"{len(frames['residents']):,} residents) ==")
    for name, seconds in run.seconds.items():
        extra = f" (finalise {finalise_cpu[name]:.2f})" if name in finalise_cpu else ""
        print(f"  {name:<28} {seconds:6.2f} s{extra}")
    print(f"  total {total:.2f} s CPU; RSS {before:.0f} MiB before the rules, peak {peak[0]:.0f} MiB "
          f"(+{peak[0] - before:.0f}); ru_maxrss {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")
    print("  findings", run.findings["rule_id"].value_counts().to_dict())


def world_frames(world) -> dict:
    """Canonical frames straight from a World (no CSV round trip) — for the speed run only."""
    from detectors.schema import coerce
    from reconcile.privacy import protect_numbers

    out = {}
    for kind, frame in (("members", world.members), ("residents", world.residents)):
        frame = frame[[c for c in frame.columns if not c.startswith("_")]].copy()
        last4 = frame["individual_number_last4"] if "individual_number_last4" in frame else pd.Series(None, index=frame.index)
        prot = protect_numbers(frame["individual_number"].astype("string"), last4.astype("string"), KEY)
        frame = pd.concat([frame.drop(columns=["individual_number", "individual_number_last4"]), prot], axis=1)
        frame["_line"] = np.arange(len(frame)) + 2
        out[kind] = coerce(kind, frame)
    return out


def mislink_family(found: pd.DataFrame, truth: pd.DataFrame) -> dict[str, float]:
    """The review queue of the mis-link family (contract: MISLINK_SUSPECTED ∪ NUMBER_SHARED)."""
    got = _keys(found[found["rule_id"].isin(MISLINK_FAMILY)])
    want = _keys(truth[truth["rule_id"].isin(MISLINK_FAMILY)])
    return {"true": len(want), "queue": int(found["rule_id"].isin(MISLINK_FAMILY).sum()),
            "found": len(got & want)}


def _mark(ok: bool) -> str:
    return "ok " if ok else "MISS"


def _target_line(rule_id: str, precision: float, recall: float) -> str:
    p_min, r_min = TARGETS[rule_id]
    return (f"P {_fmt(precision)} {_mark(precision >= p_min)} (≥{p_min})  "
            f"R {_fmt(recall)} {_mark(recall >= r_min)} (≥{r_min})")


# --- evidence 1: the case corpus ---------------------------------------------------------------------
def corpus_evidence() -> tuple[int, int]:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from tests.cases import test_mislink_cases, test_notation_cases

    print("\n== evidence 1: case corpus (tests/cases) ==", flush=True)
    passed = total = 0
    for name, module in (("notation", test_notation_cases), ("mis-link", test_mislink_cases)):
        ok, n, failures = module.corpus_pass_rate()
        passed, total = passed + ok, total + n
        print(f"{name:<9} {ok}/{n} rows hold ({ok / n:.3f})")
        for failure in failures:
            print(f"   FAIL {failure}")
    return passed, total


# --- evidence 2: the independent feed ------------------------------------------------------------------
def independent_evidence(seeds: list[int], members: dict[str, int], work: Path) -> list[dict]:
    """Run the independent generator and scorer as its README documents; read the scorer's JSON."""
    import json
    import subprocess

    print("\n== evidence 2: independent feed (benchmarks/independent, dev seeds) ==", flush=True)
    results = []
    for profile, size in members.items():
        for seed in seeds:
            out = work / f"independent_{profile}_{seed}"
            generate = [sys.executable, "-m", "benchmarks.independent.generate", str(out), "--members", str(size),
                        "--seed", str(seed), *(["--profile", "hard"] if profile == "hard" else [])]
            score_cmd = [sys.executable, "-m", "benchmarks.independent.score", str(out), "--json", f"{out}.json"]
            print("$ " + " ".join(generate[1:]).replace(str(work), "WORK"), flush=True)
            print("$ " + " ".join(score_cmd[1:]).replace(str(work), "WORK"), flush=True)
            root = Path(__file__).resolve().parent.parent
            for cmd in (generate, score_cmd):
                done = subprocess.run(cmd, cwd=root, capture_output=True, text=True)
                if done.returncode != 0:
                    print(f"   failed ({done.returncode}): {(done.stderr or done.stdout).strip()[-500:]}")
                    break
            else:
                figures = json.loads(Path(f"{out}.json").read_text(encoding="utf-8"))
                figures["profile"], figures["seed"] = profile, seed
                results.append(figures)
                family = figures["mislink_family"]
                print(f"[{profile} seed {seed}, {size:,} members]")
                for rule_id in RULES:
                    r = figures["per_rule"].get(rule_id)
                    if r:
                        print(f"   {rule_id:<20} {_target_line(rule_id, r['precision'], r['recall'])}"
                              f"  (truth {r['truth']}, raised {r['raised']}, tp {r['tp']})")
                print(f"   mis-link family: queue {family['queue']}/{family['true_mislinks']} = "
                      f"{family['queue_ratio']:.3f}x {_mark(family['queue_ratio'] <= QUEUE_TARGET)} (≤{QUEUE_TARGET}); "
                      f"right resident suggested {_fmt(family['right_resident_suggested'])} "
                      f"{_mark(family['right_resident_suggested'] >= TOP1_TARGET)} (≥{TOP1_TARGET})")
                for rule_id in RULES:
                    misses = [m for m in figures["per_rule"].get(rule_id, {}).get("example_misses", [])][:5]
                    if misses:
                        print(f"   {rule_id} misses e.g. " + ", ".join(f"{m['member_id']} ({m['pattern']})" for m in misses))
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=20_000)
    parser.add_argument("--seeds", type=int, nargs="+", default=[201, 202, 203])
    parser.add_argument("--profiles", nargs="+", default=["default", "hard"])
    parser.add_argument("--independent-seeds", type=int, nargs="+", default=[1])
    parser.add_argument("--skip-corpus", action="store_true")
    parser.add_argument("--skip-independent", action="store_true")
    parser.add_argument("--skip-held-out", action="store_true")
    parser.add_argument("--speed", type=int, default=0, help="also time the matcher on this many members")
    parser.add_argument("--feed-cpu", type=Path, default=None,
                        help="CPU + peak RSS of the matcher's rules on this feed directory (read-only)")
    parser.add_argument("--feed-cache", type=Path, default=None, help="pickle of the feed's frames (written once)")
    parser.add_argument("--insurer", default=None, help="with --feed-cpu: only this insurer's members")
    args = parser.parse_args(argv)
    if args.feed_cpu:
        feed_cpu(args.feed_cpu, args.feed_cache, args.insurer)
        return 0

    corpus = None if args.skip_corpus else corpus_evidence()
    with tempfile.TemporaryDirectory(prefix="match_quality_") as tmp:
        independent = ([] if args.skip_independent else
                       independent_evidence(args.independent_seeds, {"realistic": 20_000, "hard": 10_000}, Path(tmp)))
        held_out = None if args.skip_held_out else held_out_evidence(args, Path(tmp))
    print("\n== the three lines of evidence ==")
    if corpus:
        print(f"1. case corpus: {corpus[0]}/{corpus[1]} rows hold ({corpus[0] / corpus[1]:.3f})")
    for figures in independent:
        r = figures["per_rule"]
        fam = figures["mislink_family"]
        print(f"2. independent {figures['profile']} seed {figures['seed']}: "
              + "; ".join(f"{k} P {_fmt(r[k]['precision'])} R {_fmt(r[k]['recall'])}" for k in RULES if k in r)
              + f"; queue {fam['queue_ratio']:.3f}x; right resident {_fmt(fam['right_resident_suggested'])}")
    if held_out is not None:
        for line in held_out:
            print(f"3. held-out {line}")
    if args.speed:
        speed(args.speed)
    return 0


def held_out_evidence(args, work: Path) -> list[str]:
    print("\n== evidence 3: held-out seeds of our generator (reconcile generate) ==", flush=True)
    rows, families = [], []
    for profile in args.profiles:
        for seed in args.seeds:
            t0 = time.perf_counter()
            frames, truth = feed_frames(args.members, seed, profile, work)
            found, seconds = run_matcher(frames)
            families.append({"profile": profile, **mislink_family(found, truth)})
            methods = {"matcher": found,
                       "exact4": baseline_exact4(frames["members"], frames["residents"]),
                       "jaro": baseline_jaro(frames["members"], frames["residents"])}
            for method, result in methods.items():
                for rule_id in RULES:
                    if method != "matcher" and rule_id not in ("MISLINK_SUSPECTED", "NOTATION_DIFFERENCE"):
                        continue
                    rows.append({"profile": profile, "seed": seed, "method": method, "rule": rule_id,
                                 **score(result, truth, rule_id)})
            print(f"[{profile} seed {seed}] {len(frames['members']):,} members, "
                  f"{len(frames['residents']):,} residents; rules {seconds:.1f}s "
                  f"(total {time.perf_counter() - t0:.1f}s)", flush=True)
    table = pd.DataFrame(rows)
    print("\n-- per seed --")
    for _, r in table.iterrows():
        extra = (f" queue {r['found']:>5}/{r['true']:<4} ({_fmt(r.get('queue_ratio', float('nan')))}x)"
                 f" top1 {_fmt(r.get('top1', float('nan')))}") if r["rule"] == "MISLINK_SUSPECTED" else ""
        print(f"{r['profile']:<7} {r['seed']:>4} {r['method']:<7} {r['rule']:<20} "
              f"R {_fmt(r['recall'])} P {_fmt(r['precision'])} F1 {_fmt(r['f1'])}"
              f" (tp {r['tp']}/{r['true']}, found {r['found']}){extra}")
    print("\n-- pooled over seeds (matcher against the targets; baselines for comparison) --")
    pooled = table.groupby(["profile", "method", "rule"], sort=False)[["true", "found", "tp"]].sum().reset_index()
    summary = []
    for _, r in pooled.iterrows():
        recall = r["tp"] / r["true"] if r["true"] else float("nan")
        precision = r["tp"] / r["found"] if r["found"] else float("nan")
        top1 = table[(table["profile"] == r["profile"]) & (table["method"] == r["method"]) & (table["rule"] == r["rule"])]
        top1 = (top1["top1"] * top1["tp"]).sum() / top1["tp"].sum() if "top1" in top1 and top1["tp"].sum() else float("nan")
        extra = f" top1 {_fmt(top1)}" if r["rule"] in MISLINK_FAMILY else ""
        line = (f"{r['profile']:<7} {r['method']:<7} {r['rule']:<20} "
                + (_target_line(r["rule"], precision, recall) if r["method"] == "matcher"
                   else f"P {_fmt(precision)} R {_fmt(recall)}") + extra)
        print(line)
        if r["method"] == "matcher":
            summary.append(line)
    fam = pd.DataFrame(families).groupby("profile", sort=False)[["true", "queue", "found"]].sum()
    for profile, f in fam.iterrows():
        ratio = f["queue"] / f["true"] if f["true"] else float("nan")
        line = (f"{profile:<7} mis-link family: queue {f['queue']}/{f['true']} = {ratio:.3f}x "
                f"{_mark(ratio <= QUEUE_TARGET)} (≤{QUEUE_TARGET}); found {f['found']}/{f['true']}")
        print(line)
        summary.append(line)
    return summary


if __name__ == "__main__":
    sys.exit(main())
