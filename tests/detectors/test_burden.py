"""BURDEN_RATIO_* rules on small canonical frames; boundaries written from domain brief §4."""
from __future__ import annotations

import json

import pandas as pd
import pytest

from detectors import run_rules
from tests.factories import members_frame, oqs_frame, residents_frame

AS_OF = "2026-11-01"


def findings(rule_id, members, oqs=None, as_of=AS_OF):
    frames = {"members": members, "residents": residents_frame([{}])}
    if oqs is not None:
        frames["oqs"] = oqs
    return run_rules(frames, as_of=pd.Timestamp(as_of), rule_ids=[rule_id]).findings


def reasons(out):
    return {m: json.loads(e)["reason_code"] for m, e in zip(out["member_id"], out["evidence"])}


def test_oqs_mismatch_on_active_members_only():
    members = members_frame([
        {"member_id": "M1", "burden_ratio": 30},
        {"member_id": "M2", "burden_ratio": 30},
        {"member_id": "M3", "burden_ratio": 30, "loss_date": "2026-01-01", "loss_reason": "1"},
    ])
    oqs = oqs_frame([{"member_id": "M1", "burden_ratio": 20}, {"member_id": "M2", "burden_ratio": 30},
                     {"member_id": "M3", "burden_ratio": 20}])
    out = findings("BURDEN_RATIO_OQS_MISMATCH", members, oqs)
    assert out["member_id"].tolist() == ["M1"]
    assert out["summary_ja"].iloc[0].startswith("一部負担割合が保険者 30% と中間サーバー 20% で異なります")
    assert json.loads(out["evidence"].iloc[0])["burden_ratio_oqs"] == 20


def test_oqs_without_ratios_compares_nothing():
    members = members_frame([{"member_id": "M1", "burden_ratio": 30}])
    oqs = oqs_frame([{"member_id": "M1", "burden_ratio": None}])
    assert findings("BURDEN_RATIO_OQS_MISMATCH", members, oqs).empty


NO_INCOME = {"taxable_income": 0.0, "kyu_tadashigaki_income": 0.0}

CASES = [
    {"description": "born April 1: 20% still right on March 31 of the year they reach 6",
     "as_of": "2025-03-31", "rows": [{"birth_date": "2019-04-01", "burden_ratio": 20}], "expected": {}},
    {"description": "born April 1: 30% on that March 31 is wrong (preschool)",
     "as_of": "2025-03-31", "rows": [{"birth_date": "2019-04-01", "burden_ratio": 30}],
     "expected": {"M0001": "preschool_not_20"}},
    {"description": "born April 1: 20% on April 1 is wrong (school age)",
     "as_of": "2025-04-01", "rows": [{"birth_date": "2019-04-01", "burden_ratio": 20}],
     "expected": {"M0001": "working_age_not_30"}},
    {"description": "born April 2: still preschool (20%) on April 1",
     "as_of": "2025-04-01", "rows": [{"birth_date": "2019-04-02", "burden_ratio": 20}], "expected": {}},
    {"description": "born on the 1st: 20% from the birthday month itself",
     "as_of": "2026-03-01", "rows": [{"birth_date": "1956-03-01", "burden_ratio": 20, **NO_INCOME}], "expected": {}},
    {"description": "born on the 2nd: 20% on the 1st of the birthday month is too early",
     "as_of": "2026-03-01", "rows": [{"birth_date": "1956-03-02", "burden_ratio": 20, **NO_INCOME}],
     "expected": {"M0001": "working_age_not_30"}},
    {"description": "born on the 2nd: 20% from the 1st of the next month",
     "as_of": "2026-04-01", "rows": [{"birth_date": "1956-03-02", "burden_ratio": 20, **NO_INCOME}], "expected": {}},
    {"description": "70-74 at 30% with no household 70-74 member reaching 1.45M is a hard finding",
     "as_of": AS_OF, "rows": [{"birth_date": "1954-05-10", "burden_ratio": 30, "taxable_income": 1_449_999.0}],
     "expected": {"M0001": "elderly_30_without_income"}},
    {"description": "70-74 at 30% with 1.45M taxable income is right",
     "as_of": AS_OF, "rows": [{"birth_date": "1954-05-10", "burden_ratio": 30, "taxable_income": 1_450_000.0}],
     "expected": {}},
    {"description": "one 70-74 member at 1.45M makes the spouse 30% too; 20% for both is the soft case",
     "as_of": AS_OF, "rows": [
         {"member_id": "A1", "household_id": "H1", "birth_date": "1954-05-10", "burden_ratio": 30, "taxable_income": 2_000_000.0},
         {"member_id": "A2", "household_id": "H1", "birth_date": "1955-05-10", "burden_ratio": 30, "taxable_income": 0.0},
         {"member_id": "B1", "household_id": "H2", "birth_date": "1954-05-10", "burden_ratio": 20, "taxable_income": 2_000_000.0},
         {"member_id": "B2", "household_id": "H2", "birth_date": "1955-05-10", "burden_ratio": 20, "taxable_income": 0.0}],
     "expected": {"B1": "elderly_20_with_income", "B2": "elderly_20_with_income"}},
    {"description": "a working-age son's income does not make his 70-74 father 30%",
     "as_of": AS_OF, "rows": [
         {"member_id": "F", "household_id": "H1", "birth_date": "1954-05-10", "burden_ratio": 30, "taxable_income": 0.0},
         {"member_id": "S", "household_id": "H1", "birth_date": "1980-05-10", "burden_ratio": 30, "taxable_income": 5_000_000.0}],
     "expected": {"F": "elderly_30_without_income"}},
    {"description": "70-74 at 10% is never right for 国保",
     "as_of": AS_OF, "rows": [{"birth_date": "1954-05-10", "burden_ratio": 10, **NO_INCOME}],
     "expected": {"M0001": "elderly_not_20_30"}},
    {"description": "75 and over is a qualification problem, not a ratio one",
     "as_of": AS_OF, "rows": [{"birth_date": "1950-05-10", "burden_ratio": 30, **NO_INCOME}], "expected": {}},
    {"description": "a lost member is not judged",
     "as_of": AS_OF, "rows": [{"birth_date": "2022-05-10", "burden_ratio": 30, "loss_date": "2025-01-01"}], "expected": {}},
    {"description": "without income columns only the age part runs: 70-74 at 30% passes",
     "as_of": AS_OF, "rows": [{"birth_date": "1954-05-10", "burden_ratio": 30, "taxable_income": None,
                               "kyu_tadashigaki_income": None}], "expected": {}},
    {"description": "被用者保険: 70-74 at 30% is not judged on income (標準報酬 is not in the feed)",
     "as_of": AS_OF, "rows": [{"insurer_type": "employee", "birth_date": "1954-05-10", "burden_ratio": 30, **NO_INCOME}],
     "expected": {}},
    {"description": "後期: 30% without 現役並み income in the household is hard",
     "as_of": AS_OF, "rows": [{"insurer_type": "kouki", "birth_date": "1945-05-10", "burden_ratio": 30, **NO_INCOME}],
     "expected": {"M0001": "kouki_30_without_income"}},
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c["description"])
def test_burden_ratio_rule(case):
    out = findings("BURDEN_RATIO_RULE", members_frame(case["rows"]), as_of=case["as_of"])
    assert reasons(out) == case["expected"]


def test_hard_and_soft_severities_and_the_august_1_context():
    members = members_frame([
        {"member_id": "H", "household_id": "H1", "birth_date": "1954-05-10", "burden_ratio": 30, "taxable_income": 0.0},
        {"member_id": "S", "household_id": "H2", "birth_date": "1954-05-10", "burden_ratio": 20, "taxable_income": 1_500_000.0},
    ])
    out = findings("BURDEN_RATIO_RULE", members, as_of="2026-08-01").set_index("member_id")
    assert out.loc["H", "severity"] == "high"
    assert out.loc["S", "severity"] == "low"
    assert "基準収入額適用" in out.loc["S", "summary_ja"]
    evidence = json.loads(out.loc["H", "evidence"])
    assert evidence["redetermined_on"] == "2026-08-01"
    assert evidence["income_year"] == 2025
    assert evidence["next_redetermination"] == "2027-08-01"
    assert evidence["household_max_taxable_income"] == 0
    assert evidence["elderly_start"] == "2024-06-01"
    # The day before August 1 the ratio in force was determined the year before.
    before = findings("BURDEN_RATIO_RULE", members, as_of="2026-07-31").set_index("member_id")
    assert json.loads(before.loc["H", "evidence"])["redetermined_on"] == "2025-08-01"


def test_finding_id_is_stable_across_scans_of_the_same_facts():
    members = members_frame([{"birth_date": "2022-05-10", "burden_ratio": 30}])
    first = findings("BURDEN_RATIO_RULE", members, as_of="2026-10-01")
    second = findings("BURDEN_RATIO_RULE", members, as_of="2026-11-01")
    assert first["finding_id"].tolist() == second["finding_id"].tolist()
