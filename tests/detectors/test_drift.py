"""Feed statistics (detectors.stats) and FEED_DRIFT against the insurer's earlier feeds."""
from __future__ import annotations

import json

import pandas as pd

from detectors import run_rules
from detectors.rules.drift import drift_status, drift_table
from detectors.stats import feed_stats
from tests.factories import members_frame

AS_OF = pd.Timestamp("2026-11-01")


def test_feed_stats_counts_and_shares_per_insurer():
    members = members_frame([
        {"member_id": "M1", "burden_ratio": 30, "limit_category": "U"},
        {"member_id": "M2", "burden_ratio": 20, "birth_date": "2022-05-10", "limit_category": "E",
         "acquisition_date": "2026-10-15"},
        {"member_id": "M3", "burden_ratio": 30, "loss_date": "2026-10-20", "loss_reason": "1"},
        {"member_id": "M4", "burden_ratio": 30, "limit_category": "U", "acquisition_date": "2026-10-01"},  # outside the month
        {"member_id": "X1", "insurer_number": "131024", "burden_ratio": 30},
    ])
    stats = feed_stats({"members": members}, AS_OF)
    values = {(i, s): v for i, s, v in stats.itertuples(index=False)}
    assert values[("131016", "members")] == 4
    assert values[("131016", "active_members")] == 3
    assert values[("131016", "acquisitions")] == 1   # the month up to as_of: 2026-10-02 … 2026-11-01
    assert values[("131016", "losses")] == 1
    assert values[("131016", "burden_ratio_share:30")] == 2 / 3
    assert values[("131016", "burden_ratio_share:20")] == 1 / 3
    assert values[("131016", "burden_ratio_share:10")] == 0
    assert values[("131016", "limit_category_share:U")] == 2 / 3
    assert values[("131024", "members")] == 1


def history(values, statistic="burden_ratio_share:30", insurer="131016"):
    """Earlier feeds, one per month before AS_OF."""
    rows = []
    for months_back, value in enumerate(reversed(values), start=1):
        as_of = AS_OF - pd.DateOffset(months=months_back)
        rows.append({"scan_id": f"s{months_back}", "as_of": as_of, "period": f"{as_of:%Y-%m}",
                     "insurer_number": insurer, "statistic": statistic, "value": value})
    return pd.DataFrame(rows)


def stats_of(value, statistic="burden_ratio_share:30", insurer="131016"):
    return pd.DataFrame({"insurer_number": [insurer], "statistic": [statistic], "value": [value]})


def test_fewer_than_three_earlier_feeds_are_not_judged_and_say_so():
    status = drift_status(stats_of(0.9), history([0.30, 0.31]), AS_OF)
    assert status[["history_feeds", "judged"]].values.tolist() == [[2, False]]
    assert status["message_en"].iloc[0] == "history too short (n=2, needs 3): not judged"
    assert drift_table(stats_of(0.9), history([0.30, 0.31]), AS_OF).empty


def test_a_share_that_jumps_moves_and_noise_does_not():
    past = history([0.30, 0.31, 0.30, 0.29, 0.30])
    jumped = drift_table(stats_of(0.45), past, AS_OF).iloc[0]
    assert bool(jumped["moved"]) is True
    assert round(jumped["change"], 4) == 0.15
    # One point of change is under the two-point minimum even though MAD is small.
    assert bool(drift_table(stats_of(0.315), past, AS_OF).iloc[0]["moved"]) is False


def test_a_rescan_of_the_same_feed_is_not_its_own_history():
    past = pd.concat([history([0.30, 0.31, 0.30]),
                      history([0.45], statistic="burden_ratio_share:30").assign(as_of=AS_OF, scan_id="s0")])
    assert drift_status(stats_of(0.45), past, AS_OF)["history_feeds"].tolist() == [3]


def test_feed_drift_finding_names_the_statistic_and_the_change():
    # 30 members, all at 30% except 3 → share of 20% = 0.1; earlier feeds had 0.5.
    members = members_frame([{"member_id": f"M{i}", "burden_ratio": 30 if i >= 3 else 20,
                              "birth_date": "1980-05-10" if i >= 3 else "2022-05-10"} for i in range(30)])
    feed_history = pd.concat([
        history([30, 30, 30], statistic="members"),
        history([0.5, 0.5, 0.5], statistic="burden_ratio_share:20"),
        history([0.5, 0.5, 0.5], statistic="burden_ratio_share:30"),
    ])
    run = run_rules({"members": members}, as_of=AS_OF, feed_history=feed_history, rule_ids=["FEED_DRIFT"])
    out = run.findings
    assert len(out) == 1
    row = out.iloc[0]
    assert row["insurer_number"] == "131016" and row["member_id"] is None
    evidence = json.loads(row["evidence"])
    moved = {m["statistic"]: round(m["change"], 6) for m in evidence["moved_statistics"]}
    assert moved == {"burden_ratio_share:20": -0.4, "burden_ratio_share:30": 0.4}
    assert evidence["history_feeds"] == 3
    assert row["summary_en"].startswith("Feed statistics of insurer 131016 moved against 3 earlier feeds: burden_ratio_share:")
    assert "40.0 pt" in row["summary_en"] and row["summary_en"].endswith("(+1 more)")


def test_feed_drift_without_history_is_silent():
    run = run_rules({"members": members_frame([{}])}, as_of=AS_OF, rule_ids=["FEED_DRIFT"])
    assert run.findings.empty
