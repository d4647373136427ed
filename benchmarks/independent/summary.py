"""Pool several `score --json` results (e.g. dev seeds 1–3 of one profile) into one table.

    python -m benchmarks.independent.summary r1.json r2.json r3.json [--worst 15]
"""
from __future__ import annotations

import argparse
import json
from collections import defaultdict


def pool(paths):
    rules = defaultdict(lambda: {"truth": 0, "raised": 0, "tp": 0})
    pats = defaultdict(lambda: {"truth": 0, "found": 0})
    fam = defaultdict(float)
    right = [0, 0]
    for p in paths:
        with open(p, encoding="utf-8") as f:
            r = json.load(f)
        for rule, v in r["per_rule"].items():
            for k in ("truth", "raised", "tp"):
                rules[rule][k] += v[k]
        for x in r["per_pattern"]:
            e = pats[(x["rule_id"], x["pattern"])]
            e["truth"] += x["truth"]
            e["found"] += x["found"]
        f_ = r["mislink_family"]
        fam["true_mislinks"] += f_["true_mislinks"]
        fam["queue"] += f_["queue"]
        fam["found"] += f_["members_found_by_either_rule"]
        ms = r["per_rule"]["MISLINK_SUSPECTED"]["tp"]
        if f_["right_resident_suggested"] is not None:
            right[0] += round(f_["right_resident_suggested"] * ms)
            right[1] += ms
    return rules, pats, fam, right


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("json", nargs="+")
    ap.add_argument("--worst", type=int, default=15)
    a = ap.parse_args(argv)
    rules, pats, fam, right = pool(a.json)
    print(f"{len(a.json)} runs pooled")
    print(f"{'rule':30s} {'truth':>6s} {'raised':>6s} {'prec':>6s} {'recall':>6s}")
    for rule, v in rules.items():
        if not v["truth"] and not v["raised"]:
            continue
        p = f"{v['tp'] / v['raised']:.3f}" if v["raised"] else "  -  "
        r = f"{v['tp'] / v['truth']:.3f}" if v["truth"] else "  -  "
        print(f"{rule:30s} {v['truth']:6d} {v['raised']:6d} {p:>6s} {r:>6s}")
    if fam["true_mislinks"]:
        print(f"mis-link family: queue {fam['queue']:.0f} / {fam['true_mislinks']:.0f} true = "
              f"{fam['queue'] / fam['true_mislinks']:.3f}x; found by either rule {fam['found'] / fam['true_mislinks']:.3f}")
    if right[1]:
        print(f"right resident suggested: {right[0] / right[1]:.3f}")
    print("worst per-pattern recall:")
    rows = sorted(((v["found"] / v["truth"], k, v) for k, v in pats.items() if v["truth"]), key=lambda x: (x[0], x[1]))
    for rec, (rule, pat), v in rows[:a.worst]:
        print(f"  {rule:28s} {pat:42s} {v['found']:5d}/{v['truth']:<5d} {rec:.3f}")


if __name__ == "__main__":
    main()
