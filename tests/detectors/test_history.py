"""BENEFIT_HISTORY_DIVERGENCE: period-by-period comparison of insurer and online histories (domain brief §7)."""
from __future__ import annotations

import json

import pandas as pd

from detectors import run_rules
from detectors.rules.history import diverging_periods
from tests.factories import benefit_history_frame, members_frame

AS_OF = "2026-11-01"


def periods(source, values, member_id="M0001", item="burden_ratio"):
    """[(value, from, to)] → history rows of one side."""
    return [{"source": source, "member_id": member_id, "item": item, "value": v, "valid_from": f, "valid_to": t}
            for v, f, t in values]


def findings(history, as_of=AS_OF):
    frames = {"members": members_frame([{}]), "benefit_history": benefit_history_frame(history)}
    return run_rules(frames, as_of=pd.Timestamp(as_of), rule_ids=["BENEFIT_HISTORY_DIVERGENCE"]).findings


SEED_000_INSURER = [("20", "2023-08-01", "2024-07-31"), ("30", "2024-08-01", "2025-07-31"), ("20", "2025-08-01", None)]
# The aggregation system merged the third entry into the first and kept sending 30% online.
SEED_000_OQS = [("20", "2023-08-01", "2024-07-31"), ("30", "2024-08-01", None)]


def test_seed_000_revert_dropped_online_is_caught_with_its_period():
    out = findings(periods("insurer", SEED_000_INSURER) + periods("oqs", SEED_000_OQS))
    assert len(out) == 1
    row = out.iloc[0]
    assert row["category"] == "burden_ratio"
    evidence = json.loads(row["evidence"])
    assert evidence["diverging_periods"] == [{"from": "2025-08-01", "to": "", "insurer": "20", "oqs": "30"}]
    assert row["summary_ja"] == ("一部負担割合の履歴が 2025-08-01〜継続中 / continuing で異なります: "
                                 "保険者 20、中間サーバー 30（相違 1 期間）")


def test_identical_histories_and_different_cuts_of_the_same_values_do_not_fire():
    same = periods("insurer", SEED_000_INSURER) + periods("oqs", SEED_000_INSURER)
    # The online side split one period into two with the same value: same value on every day.
    split = periods("insurer", [("30", "2020-04-01", None)]) + periods(
        "oqs", [("30", "2020-04-01", "2022-03-31"), ("30", "2022-04-01", None)], )
    assert findings(same).empty
    assert findings(split).empty


def test_a_closed_past_divergence_is_reported_with_from_and_to():
    history = (periods("insurer", [("30", "2020-04-01", "2023-07-31"), ("20", "2023-08-01", None)])
               + periods("oqs", [("30", "2020-04-01", "2023-09-30"), ("20", "2023-10-01", None)]))
    out = diverging_periods(benefit_history_frame(history), pd.Timestamp(AS_OF))
    assert out[["period_from", "period_to", "value_insurer", "value_oqs"]].astype(str).values.tolist() == [
        ["2023-08-01", "2023-09-30", "20", "30"]]


def test_limit_category_history_has_its_own_category_and_a_gap_online_counts():
    history = (periods("insurer", [("U", "2020-04-01", None)], item="limit_category")
               + periods("oqs", [("U", "2020-04-01", "2024-03-31"), ("U", "2024-06-01", None)], item="limit_category"))
    out = findings(history)
    assert out["category"].tolist() == ["limit_category"]
    assert json.loads(out["evidence"].iloc[0])["diverging_periods"] == [
        {"from": "2024-04-01", "to": "2024-05-31", "insurer": "U", "oqs": None}]


def test_history_before_the_online_side_starts_and_future_changes_are_not_compared():
    history = (periods("insurer", [("30", "2015-04-01", "2026-11-30"), ("20", "2026-12-01", None)])
               + periods("oqs", [("30", "2021-10-01", None)]))
    assert findings(history).empty


def test_members_with_one_side_only_are_not_compared():
    assert findings(periods("insurer", SEED_000_INSURER)).empty


def test_pairs_are_the_same_whether_keys_are_joined_or_coded_column_by_column():
    # (insurer, member, item) are coded by one factorisation of the three joined with a
    # separator; a value holding the separator takes the per-column path. Either way the same
    # members diverge, and no two members run together ("M1" + "\x1fA" is not "M1\x1f" + "A").
    rows = (periods("insurer", SEED_000_INSURER, member_id="M1") + periods("oqs", SEED_000_OQS, member_id="M1")
            + periods("insurer", SEED_000_INSURER, member_id="M2") + periods("oqs", SEED_000_INSURER, member_id="M2")
            + periods("insurer", [("20", "2023-08-01", None)], member_id="M3", item="limit_category")
            + periods("oqs", [("20", "2023-08-01", None)], member_id="M3"))
    plain = diverging_periods(benefit_history_frame(rows), pd.Timestamp(AS_OF))
    assert plain["member_id"].tolist() == ["M1"]
    tricky = [{**r, "member_id": r["member_id"] + "\x1fx"} for r in rows]
    coded = diverging_periods(benefit_history_frame(tricky), pd.Timestamp(AS_OF))
    assert coded["member_id"].tolist() == ["M1\x1fx"]
    assert coded.drop(columns="member_id").equals(plain.drop(columns="member_id"))
