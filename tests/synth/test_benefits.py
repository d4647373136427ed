"""The issue #4 injector: every pattern lands at its rate, is recorded, and only its rules fire.

Real components end to end: ``generate`` writes the feed, ``load_feed`` reads it back,
``run_rules`` judges it against ``truth.csv``.
"""
from __future__ import annotations

import pandas as pd
import pytest

from detectors import run_rules
from reconcile.feeds import load_feed
from reconcile.synth import benefits
from reconcile.synth.generate import generate

ISSUE_4_RULES = sorted({rule for rules, _ in benefits.PATTERNS.values() for rule in rules})


@pytest.fixture(scope="module")
def scanned(tmp_path_factory):
    out = tmp_path_factory.mktemp("feed")
    generate(out, members=3_000, seed=11, as_of="2026-11-01")
    feed = load_feed(out, key=b"test-key-not-secret")
    truth = pd.read_csv(out / "truth.csv", dtype=str)
    findings = run_rules(feed.frames, as_of=feed.as_of, rule_ids=ISSUE_4_RULES).findings
    return truth, findings


def test_every_pattern_is_injected_at_least_once(scanned):
    truth, _ = scanned
    assert set(benefits.PATTERNS) <= set(truth["pattern"])


def test_injection_counts_scale_with_the_member_count():
    assert benefits.injection_count("history_revert_dropped", 1_000) == 0
    assert benefits.injection_count("history_revert_dropped", 2_000) == 2
    assert benefits.injection_count("history_revert_dropped", 100_000) == 30


def test_each_issue_4_rule_fires_exactly_on_its_injected_members(scanned):
    truth, findings = scanned
    expected = set(truth.loc[truth["rule_id"].isin(ISSUE_4_RULES), ["member_id", "rule_id"]].itertuples(index=False, name=None))
    found = set(findings.loc[findings["member_id"].notna(), ["member_id", "rule_id"]].itertuples(index=False, name=None))
    assert found - expected == set()     # no false positive, clean members stay clean
    assert expected - found == set()     # every injected case found


def test_seed_000_history_revert_is_in_the_feed(scanned):
    truth, findings = scanned
    reverted = truth.loc[truth["pattern"] == "history_revert_dropped", "member_id"]
    divergent = findings.loc[findings["rule_id"] == "BENEFIT_HISTORY_DIVERGENCE"].set_index("member_id")
    for member_id in reverted:
        assert '"insurer": "20", "oqs": "30", "to": ""' in divergent.loc[member_id, "evidence"]
