"""The independent feed (benchmarks/independent): self-consistent truth, and the scorer runs the
product through its CLI and prints its figures. No accuracy thresholds here (the lead sets them)."""
from __future__ import annotations

import csv
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.independent import generate, score
from benchmarks.independent.truth import RULES
from benchmarks.independent.world import valid_number

ROOT = Path(__file__).resolve().parents[2]
TWELVE = re.compile(r"(?<!\d)\d{12}(?!\d)")
pytestmark = pytest.mark.timeout(900)


def _rows(path):
    return score.read_csv(str(path))


@pytest.fixture(scope="module")
def feed(tmp_path_factory):
    out = tmp_path_factory.mktemp("independent") / "feed"
    assert generate.main([str(out), "--members", "2000", "--seed", "1", "--quiet"]) == 0
    return out


def test_truth_is_self_consistent(feed):
    members = _rows(feed / "members.csv")
    residents = _rows(feed / "residents.csv")
    truth = _rows(feed / "truth.csv")
    assert truth, "the feed injects problems"
    mids = {(m["insurer_number"], m["member_id"]) for m in members}
    rids = {r["resident_id"] for r in residents}
    assert len(mids) == len(members), "member ids are unique"
    for t in truth:
        assert (t["insurer_number"], t["member_id"]) in mids
        assert t["rule_id"] in RULES and t["rule_id"] != "FEED_DRIFT"
        assert t["pattern"] and t["pattern"] != "untagged"
        if t["suggested_resident_id"]:
            assert t["suggested_resident_id"] in rids
    # one problem, one work item (domain §2b)
    by_member = {}
    for t in truth:
        by_member.setdefault(t["member_id"], set()).add(t["rule_id"])
    for rules in by_member.values():
        assert not {"NUMBER_INVALID", "RESIDENT_NOT_FOUND"} <= rules
        assert not {"NUMBER_SHARED", "MISLINK_SUSPECTED"} <= rules
        if "QUAL_DATE_INVALID" in rules:
            assert not rules & {"BURDEN_RATIO_RULE", "LIMIT_CATEGORY_RULE", "QUAL_ACTIVE_PAST_AGE_LIMIT",
                                "QUAL_DATE_IS_ISSUE_DATE", "QUAL_ACTIVE_AFTER_EXIT"}
    # every resident number passes the check digit (§3); a member's failing number is NUMBER_INVALID
    for r in residents:
        assert valid_number(r["individual_number"]), r["resident_id"]
    invalid = {t["member_id"] for t in truth if t["rule_id"] == "NUMBER_INVALID"}
    for m in members:
        if m["individual_number"] and not valid_number(m["individual_number"]):
            assert m["member_id"] in invalid
    # about one member in ten with only the last four digits (§2a)
    last4 = sum(1 for m in members if not m["individual_number"] and m["individual_number_last4"])
    assert 0.05 < last4 / len(members) < 0.15
    # no full individual number in the truth or traps files
    for name in ("truth.csv", "traps.csv"):
        assert not TWELVE.search((feed / name).read_text(encoding="utf-8"))
    # residents of other municipalities are present for linked numbers
    assert len({r["municipality_code"] for r in residents}) > 1
    assert json.loads((feed / "manifest.json").read_text(encoding="utf-8"))["as_of"] == "2026-11-01"


def test_messy_rewrite_keeps_the_truth(feed, tmp_path):
    out = tmp_path / "messy"
    assert generate.main([str(out), "--members", "2000", "--seed", "1", "--messy", "--quiet"]) == 0
    assert (out / "truth.csv").read_bytes() == (feed / "truth.csv").read_bytes()
    header = (out / "members.csv").read_bytes().split(b"\n")[0]
    assert header != (feed / "members.csv").read_bytes().split(b"\n")[0]


def test_scorer_on_the_truth_itself(feed, tmp_path):
    """The scorer's arithmetic: the truth as findings scores 1.0; a dropped row is a miss."""
    truth = _rows(feed / "truth.csv")
    path = tmp_path / "findings.csv"
    with open(path, "w", encoding="utf-8", newline="") as f:
        wr = csv.writer(f)
        wr.writerow(["finding_id", "insurer_number", "member_id", "rule_id", "suggested_resident_id", "status"])
        for i, t in enumerate(truth[1:]):
            wr.writerow([f"f{i}", t["insurer_number"], t["member_id"], t["rule_id"], t["suggested_resident_id"], "open"])
        wr.writerow(["fx", truth[0]["insurer_number"], "NO-SUCH-MEMBER", "MISLINK_SUSPECTED", "", "open"])
    res = score.score(str(feed), score.load_findings(str(path)))
    dropped = truth[0]["rule_id"]
    assert res["per_rule"][dropped]["tp"] == res["per_rule"][dropped]["truth"] - 1
    for rule, v in res["per_rule"].items():
        if v["truth"] and rule != dropped:
            assert v["recall"] == 1.0
    assert res["per_rule"]["MISLINK_SUSPECTED"]["raised"] == res["per_rule"]["MISLINK_SUSPECTED"]["tp"] + 1
    c = score.compare(score.load_findings(str(path)), score.load_findings(str(path)))
    assert c["identical"]


def test_scorer_runs_the_product_cli(feed, tmp_path):
    env = dict(os.environ)
    env.pop("RECONCILE_DATABASE_URL", None)
    out_json = tmp_path / "score.json"
    p = subprocess.run([sys.executable, "-m", "benchmarks.independent.score", str(feed), "--json", str(out_json),
                        "--keep-store", str(tmp_path / "store")],
                       cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    assert "per-pattern recall" in p.stdout and "mis-link family" in p.stdout
    assert not TWELVE.search(p.stdout)
    res = json.loads(out_json.read_text(encoding="utf-8"))
    for rule in RULES:
        assert rule in res["per_rule"]
    assert res["mislink_family"]["true_mislinks"] > 0
    assert res["per_pattern"]


def test_deterministic_and_following_month(feed, tmp_path):
    again = tmp_path / "again"
    assert generate.main([str(again), "--members", "2000", "--seed", "1", "--quiet"]) == 0
    for name in ("members.csv", "residents.csv", "oqs.csv", "benefit_history.csv", "card_status.csv", "truth.csv"):
        assert (again / name).read_bytes() == (feed / name).read_bytes(), name
    nxt = tmp_path / "next"
    assert generate.main([str(nxt), "--next-month", str(feed), "--quiet"]) == 0
    m0 = {r["member_id"] for r in _rows(feed / "members.csv")}
    m1 = {r["member_id"] for r in _rows(nxt / "members.csv")}
    assert len(m0 & m1) / len(m0) > 0.98, "the same people"
    assert json.loads((nxt / "manifest.json").read_text(encoding="utf-8"))["as_of"] == "2026-12-01"
    t0 = {(r["member_id"], r["rule_id"]) for r in _rows(feed / "truth.csv")}
    t1 = {(r["member_id"], r["rule_id"]) for r in _rows(nxt / "truth.csv")}
    carried = {(r["member_id"], r["rule_id"]) for r in _rows(nxt / "carried.csv")}
    assert carried == t0 & t1
    assert t0 - t1, "some problems were fixed"
    assert t1 - t0, "some problems are new"
    assert len(carried) > len(t0) / 2, "most persist"
    for r in _rows(nxt / "truth.csv"):
        assert r["pattern"] != "untagged"
