"""Score the product on an independent feed (black box, through its CLI).

    python -m benchmarks.independent.score FEED_DIR [--findings CSV] [--previous PREV_FEED]
        [--compare OTHER_FINDINGS] [--json OUT] [--keep-store DIR]

Without --findings it scans FEED_DIR (after PREV_FEED, when given, in the same store) into a
private temporary SQLite store and exports the findings.  It prints, per rule, precision and
recall over (insurer_number, member_id, rule_id) as findings.md "How accuracy is scored" says,
the mis-link family review queue, the right-resident-suggested share, a per-pattern recall
table, trap false positives, and up to 20 example misses / false positives per rule (member
ids and pattern only).  --compare prints whether two findings exports hold the same
(insurer_number, member_id, rule_id, finding_id) set.
"""
from __future__ import annotations

import argparse
import csv
import io
import json
import os
import re
import subprocess
import sys
import tempfile
from collections import Counter, defaultdict

from .truth import RULES

MIS = ("MISLINK_SUSPECTED", "NUMBER_SHARED")
TWELVE = re.compile(r"(?<!\d)\d{12}(?!\d)")


def read_csv(path):
    with open(path, "rb") as f:
        data = f.read()
    for enc in ("utf-8-sig", "cp932"):
        try:
            text = data.decode(enc)
            break
        except UnicodeDecodeError:
            continue
    rows = list(csv.DictReader(io.StringIO(text)))
    out = []
    for r in rows:
        out.append({(k or "").strip().lower(): (v or "").strip() for k, v in r.items()})
    return out


def _clean(v):
    # exports prefix formula-like cells with a quote (findings.md); ids never start with one
    return v[1:] if v.startswith("'") else v


def run_product(feed_dirs, store_dir, env_extra=None, product_tree=None):
    """Scan each feed in order into one private store; return the findings CSV path of each.
    product_tree: run the CLI from that source tree (e.g. a `git archive HEAD` snapshot) instead of
    the installed one — still only through its command line."""
    env = dict(os.environ)
    cmd = ["reconcile"]
    if product_tree:
        env["PYTHONPATH"] = os.path.abspath(product_tree) + os.pathsep + env.get("PYTHONPATH", "")
        cmd = [sys.executable, "-c", "import sys; from reconcile.cli.main import main; sys.argv[0]='reconcile'; sys.exit(main())"]
    env["RECONCILE_DATABASE_URL"] = f"sqlite:///{os.path.join(store_dir, 'store.sqlite3')}"
    env.setdefault("RECONCILE_SECRET_KEY", "independent-benchmark-key")
    env.update(env_extra or {})
    outs = []
    for i, feed in enumerate(feed_dirs):
        p = subprocess.run(cmd + ["scan", feed], env=env, capture_output=True, text=True, cwd=store_dir)
        if p.returncode != 0:
            sys.stderr.write(p.stdout[-2000:] + p.stderr[-4000:])
            raise SystemExit(f"reconcile scan {feed} failed with exit {p.returncode}")
        out = os.path.join(store_dir, f"findings_{i}.csv")
        p = subprocess.run(cmd + ["export", "findings", "--out", out, "--encoding", "utf-8"], env=env,
                           capture_output=True, text=True, cwd=store_dir)
        if p.returncode != 0:
            sys.stderr.write(p.stdout[-2000:] + p.stderr[-4000:])
            raise SystemExit(f"reconcile export findings failed with exit {p.returncode}")
        outs.append(out)
    return outs


def load_findings(path):
    rows = read_csv(path)
    out = []
    for r in rows:
        out.append({"insurer_number": _clean(r.get("insurer_number", "")), "member_id": _clean(r.get("member_id", "")),
                    "rule_id": r.get("rule_id", ""), "finding_id": r.get("finding_id", ""),
                    "suggested_resident_id": _clean(r.get("suggested_resident_id", "")),
                    "status": r.get("status", ""), "severity": r.get("severity", "")})
    return out


def score(feed_dir, findings):
    truth = read_csv(os.path.join(feed_dir, "truth.csv"))
    traps_path = os.path.join(feed_dir, "traps.csv")
    traps = read_csv(traps_path) if os.path.exists(traps_path) else []
    # the latest scan's findings only (closed_not_seen rows are not raised by this scan)
    raised = [f for f in findings if f["status"] != "closed_not_seen"]
    T = {(t["insurer_number"], t["member_id"], t["rule_id"]): t for t in truth}
    F = {}
    for f in raised:
        F.setdefault((f["insurer_number"], f["member_id"], f["rule_id"]), f)
    member_patterns = defaultdict(list)
    for t in truth:
        member_patterns[(t["insurer_number"], t["member_id"])].append(t["pattern"])
    for t in traps:
        member_patterns[(t["insurer_number"], t["member_id"])].append(t["pattern"])

    rules = list(RULES) + sorted({k[2] for k in F} - set(RULES))
    per_rule = {}
    for rule in rules:
        tk = {k for k in T if k[2] == rule}
        fk = {k for k in F if k[2] == rule}
        tp = len(tk & fk)
        misses = sorted(tk - fk)
        fps = sorted(fk - tk)
        per_rule[rule] = {
            "truth": len(tk), "raised": len(fk), "tp": tp,
            "precision": (tp / len(fk)) if fk else None, "recall": (tp / len(tk)) if tk else None,
            "example_misses": [{"member_id": k[1], "pattern": T[k]["pattern"]} for k in misses[:20]],
            "example_false_positives": [{"member_id": k[1], "patterns": sorted(set(member_patterns.get(k[:2], [])))
                                         or ["(none: clean member)"]} for k in fps[:20]],
        }
    # mis-link family (findings.md): queue = MISLINK_SUSPECTED ∪ NUMBER_SHARED findings vs true mis-links
    tmis = {k[:2] for k in T if k[2] in MIS}
    fmis_rows = [k for k in F if k[2] in MIS]
    fmis = {k[:2] for k in fmis_rows}
    family = {"true_mislinks": len(tmis), "queue": len(fmis_rows),
              "queue_ratio": (len(fmis_rows) / len(tmis)) if tmis else None,
              "members_found_by_either_rule": len(tmis & fmis),
              "family_recall": (len(tmis & fmis) / len(tmis)) if tmis else None,
              "family_precision": (len(tmis & fmis) / len(fmis)) if fmis else None}
    found_ms = [k for k in T if k[2] == "MISLINK_SUSPECTED" and k in F]
    right = sum(1 for k in found_ms if T[k]["suggested_resident_id"] and F[k]["suggested_resident_id"] == T[k]["suggested_resident_id"])
    family["right_resident_suggested"] = (right / len(found_ms)) if found_ms else None
    found_ns = [k for k in T if k[2] == "NUMBER_SHARED" and k in F]
    right_ns = sum(1 for k in found_ns if T[k]["suggested_resident_id"] and F[k]["suggested_resident_id"] == T[k]["suggested_resident_id"])
    family["right_resident_suggested_number_shared"] = (right_ns / len(found_ns)) if found_ns else None

    per_pattern = defaultdict(lambda: {"truth": 0, "found": 0})
    for k, t in T.items():
        e = per_pattern[(t["rule_id"], t["pattern"])]
        e["truth"] += 1
        e["found"] += k in F
    pattern_rows = [{"rule_id": r, "pattern": p, "truth": v["truth"], "found": v["found"],
                     "recall": v["found"] / v["truth"]} for (r, p), v in sorted(per_pattern.items())]
    # traps: members carrying a trap pattern that got a finding not in truth
    trap_fp = defaultdict(lambda: {"members": 0, "raised_on": 0, "rules": Counter()})
    tkeys_by_member = defaultdict(set)
    for k in T:
        tkeys_by_member[k[:2]].add(k[2])
    fkeys_by_member = defaultdict(set)
    for k in F:
        fkeys_by_member[k[:2]].add(k[2])
    for t in traps:
        mk = (t["insurer_number"], t["member_id"])
        e = trap_fp[t["pattern"]]
        e["members"] += 1
        extra = fkeys_by_member.get(mk, set()) - tkeys_by_member.get(mk, set())
        if extra:
            e["raised_on"] += 1
            e["rules"].update(extra)
    trap_rows = [{"pattern": p, "members": v["members"], "false_positive_members": v["raised_on"],
                  "rules": dict(v["rules"])} for p, v in sorted(trap_fp.items())]
    # members delivered with the last four digits only (domain §2a): recall per rule
    last4_only = set()
    mp = os.path.join(feed_dir, "members.csv")
    if os.path.exists(mp):
        for m in read_csv(mp):
            if not m.get("individual_number") and m.get("individual_number_last4"):
                last4_only.add((m.get("insurer_number", ""), m.get("member_id", "")))
    l4 = defaultdict(lambda: [0, 0])
    for k in T:
        if k[:2] in last4_only:
            l4[k[2]][0] += 1
            l4[k[2]][1] += k in F
    last4_rows = [{"rule_id": r, "truth": v[0], "found": v[1], "recall": v[1] / v[0]} for r, v in sorted(l4.items())]
    last4_fp = Counter(k[2] for k in F if k not in T and k[:2] in last4_only)
    clean_fp = Counter(k[2] for k in F if k not in T and k[:2] not in member_patterns)
    return {"feed": feed_dir, "truth_rows": len(T), "findings_rows": len(F), "per_rule": per_rule,
            "mislink_family": family, "per_pattern": pattern_rows, "traps": trap_rows,
            "false_positives_on_clean_members": dict(clean_fp),
            "last4_only": {"members": len(last4_only), "per_rule": last4_rows, "false_positives": dict(last4_fp)},
            "feed_level_findings": sum(1 for k in F if not k[1])}


def compare(a_rows, b_rows):
    ka = {(f["insurer_number"], f["member_id"], f["rule_id"], f["finding_id"]) for f in a_rows if f["status"] != "closed_not_seen"}
    kb = {(f["insurer_number"], f["member_id"], f["rule_id"], f["finding_id"]) for f in b_rows if f["status"] != "closed_not_seen"}
    keys_a = {k[:3]: k[3] for k in ka}
    keys_b = {k[:3]: k[3] for k in kb}
    common = set(keys_a) & set(keys_b)
    same_id = sum(1 for k in common if keys_a[k] == keys_b[k])
    return {"identical": ka == kb, "only_in_this": len(ka - kb), "only_in_other": len(kb - ka),
            "common_member_rule_keys": len(common), "common_keys_same_finding_id": same_id,
            "examples_only_in_this": [{"member_id": k[1], "rule_id": k[2]} for k in sorted(ka - kb)[:10]],
            "examples_only_in_other": [{"member_id": k[1], "rule_id": k[2]} for k in sorted(kb - ka)[:10]]}


def persisting(feed_dir, prev_rows, this_rows):
    """Month-to-month: persisting true problems (truth in both months) keep their finding id."""
    prev_truth_path = None
    gj = os.path.join(feed_dir, "carried.csv")
    if not os.path.exists(gj):
        return None
    carried = {(r["insurer_number"], r["member_id"], r["rule_id"]) for r in read_csv(gj)}
    pa = {(f["insurer_number"], f["member_id"], f["rule_id"]): f["finding_id"] for f in prev_rows if f["status"] != "closed_not_seen"}
    pb = {(f["insurer_number"], f["member_id"], f["rule_id"]): f["finding_id"] for f in this_rows if f["status"] != "closed_not_seen"}
    both = [k for k in carried if k in pa and k in pb]
    same = sum(1 for k in both if pa[k] == pb[k])
    return {"persisting_true_problems": len(carried), "found_in_both_months": len(both),
            "same_finding_id": same, "share_same_id": (same / len(both)) if both else None,
            "examples_changed_id": [{"member_id": k[1], "rule_id": k[2]} for k in sorted(both) if pa[k] != pb[k]][:10]}


def fmt(x):
    return "  -  " if x is None else f"{x:.3f}"


def print_report(res, out=sys.stdout):
    p = lambda *a: print(*a, file=out)  # noqa: E731
    p(f"feed {res['feed']}: {res['truth_rows']} truth rows, {res['findings_rows']} findings")
    p(f"{'rule':30s} {'truth':>6s} {'raised':>6s} {'tp':>6s} {'prec':>6s} {'recall':>6s}")
    for rule, v in res["per_rule"].items():
        if v["truth"] == 0 and v["raised"] == 0:
            continue
        p(f"{rule:30s} {v['truth']:6d} {v['raised']:6d} {v['tp']:6d} {fmt(v['precision']):>6s} {fmt(v['recall']):>6s}")
    f = res["mislink_family"]
    p(f"mis-link family: {f['true_mislinks']} true mis-links, review queue {f['queue']} "
      f"({fmt(f['queue_ratio'])}x), found by either rule {f['members_found_by_either_rule']} "
      f"(recall {fmt(f['family_recall'])}, precision {fmt(f['family_precision'])})")
    p(f"right resident suggested (MISLINK_SUSPECTED found): {fmt(f['right_resident_suggested'])}; "
      f"on NUMBER_SHARED: {fmt(f['right_resident_suggested_number_shared'])}")
    p("")
    p("per-pattern recall (worst first):")
    for r in sorted(res["per_pattern"], key=lambda r: (r["recall"], r["rule_id"], r["pattern"])):
        p(f"  {r['rule_id']:28s} {r['pattern']:40s} {r['found']:5d}/{r['truth']:<5d} {r['recall']:.3f}")
    p("")
    p("traps (must not be raised): members, members with a finding not in truth")
    for r in res["traps"]:
        extra = ", ".join(f"{k}×{v}" for k, v in sorted(r["rules"].items()))
        p(f"  {r['pattern']:45s} {r['members']:5d} {r['false_positive_members']:5d}  {extra}")
    l4 = res.get("last4_only")
    if l4 and l4["members"]:
        p("")
        p(f"members with only the last four digits ({l4['members']}): recall per rule")
        for r in l4["per_rule"]:
            p(f"  {r['rule_id']:28s} {r['found']:5d}/{r['truth']:<5d} {r['recall']:.3f}")
        if l4["false_positives"]:
            p("  false positives on them: " + ", ".join(f"{k}×{v}" for k, v in sorted(l4["false_positives"].items())))
    if res["false_positives_on_clean_members"]:
        p("false positives on members with no injected pattern: " +
          ", ".join(f"{k}×{v}" for k, v in sorted(res["false_positives_on_clean_members"].items())))
    if res["feed_level_findings"]:
        p(f"feed-level findings (no member): {res['feed_level_findings']}")
    p("")
    for rule, v in res["per_rule"].items():
        if v["example_misses"] or v["example_false_positives"]:
            p(f"{rule}:")
            if v["example_misses"]:
                p("  misses: " + "; ".join(f"{e['member_id']} ({e['pattern']})" for e in v["example_misses"]))
            if v["example_false_positives"]:
                p("  false positives: " + "; ".join(f"{e['member_id']} ({'/'.join(e['patterns'])})"
                                                   for e in v["example_false_positives"]))


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m benchmarks.independent.score")
    ap.add_argument("feed_dir")
    ap.add_argument("--findings", help="score this findings export instead of running the product")
    ap.add_argument("--previous", help="scan this earlier month first, in the same private store")
    ap.add_argument("--compare", metavar="OTHER_FINDINGS", help="compare with another findings export")
    ap.add_argument("--json", metavar="OUT")
    ap.add_argument("--keep-store", metavar="DIR", help="use (and keep) this directory for the private store")
    ap.add_argument("--product-tree", metavar="DIR", help="run the CLI from this source snapshot "
                    "(git -C /work/main archive HEAD | tar -x -C DIR) instead of the installed work tree")
    a = ap.parse_args(argv)
    prev_rows = None
    if a.findings:
        rows = load_findings(a.findings)
    else:
        store = a.keep_store or tempfile.mkdtemp(prefix="independent-score-")
        os.makedirs(store, exist_ok=True)
        feeds = ([os.path.abspath(a.previous)] if a.previous else []) + [os.path.abspath(a.feed_dir)]
        outs = run_product(feeds, store, product_tree=a.product_tree)
        rows = load_findings(outs[-1])
        if a.previous:
            prev_rows = load_findings(outs[0])
        print(f"findings export: {outs[-1]}" + (f" (previous month: {outs[0]})" if a.previous else ""))
    res = score(a.feed_dir, rows)
    print_report(res)
    if prev_rows is not None:
        pers = persisting(a.feed_dir, prev_rows, rows)
        res["month_to_month"] = pers
        if pers:
            print(f"\nmonth to month: {pers['persisting_true_problems']} persisting true problems, "
                  f"{pers['found_in_both_months']} found in both months, {pers['same_finding_id']} kept their finding id "
                  f"({fmt(pers['share_same_id'])})")
    if a.compare:
        c = compare(rows, load_findings(a.compare))
        res["compare"] = c
        print(f"\ncompare with {a.compare}: identical (insurer, member, rule, finding_id) sets: "
              f"{'YES' if c['identical'] else 'NO'}; only here {c['only_in_this']}, only there {c['only_in_other']}; "
              f"{c['common_keys_same_finding_id']}/{c['common_member_rule_keys']} common (member, rule) keep the same id")
    if a.json:
        with open(a.json, "w", encoding="utf-8") as f:
            json.dump(res, f, ensure_ascii=False, indent=1, default=str)
    return 0


if __name__ == "__main__":
    sys.exit(main())
