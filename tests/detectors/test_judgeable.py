"""Issue #8 defect 14 / domain brief §2b: impossible own dates suspend the age- and date-based rules."""
from __future__ import annotations

import json

import pandas as pd

from detectors import run_rules
from tests.factories import card_status_frame, members_frame, oqs_frame, residents_frame

AS_OF = pd.Timestamp("2026-11-01")


def test_a_2099_birth_date_is_only_a_date_finding():
    member = {"member_id": "M1", "birth_date": "2099-01-01", "acquisition_date": "2025-05-15",
              "card_issue_date": "2025-05-15", "burden_ratio": 30, "limit_category": "IP"}
    frames = {"members": members_frame([member]),
              "residents": residents_frame([{"birth_date": "2099-01-01", "moved_in_date": "2025-04-20",
                                             "status": "deceased", "status_date": "2026-06-10"}]),
              "oqs": oqs_frame([{"birth_date": "2099-01-01", "acquisition_date": "2025-05-15",
                                 "limit_category": "IP"}]),
              "card_status": card_status_frame([{}])}
    found = run_rules(frames, as_of=AS_OF).findings
    assert found["rule_id"].tolist() == ["QUAL_DATE_INVALID"]
    evidence = json.loads(found["evidence"].iloc[0])
    assert evidence["other_rules_suspended"] is True
    assert "birth_after_as_of" in evidence["reason_codes"]
    assert "-73" not in found["summary_ja"].iloc[0]


def test_a_future_loss_date_leaves_the_member_judgeable():
    # Reported as a date problem, but the person's age and ratio can still be judged.
    member = {"member_id": "M1", "birth_date": "1954-03-10", "loss_date": "2026-12-31", "burden_ratio": 30,
              "limit_category": "IP", "taxable_income": 0.0}
    found = run_rules({"members": members_frame([member])}, as_of=AS_OF,
                      rule_ids=["QUAL_DATE_INVALID", "BURDEN_RATIO_RULE"]).findings
    assert sorted(found["rule_id"]) == ["BURDEN_RATIO_RULE", "QUAL_DATE_INVALID"]
