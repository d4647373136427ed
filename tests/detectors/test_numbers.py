"""Rules of detectors/rules/numbers.py and QUAL_DATE_INVALID on small canonical frames."""
from __future__ import annotations

import json

import pandas as pd

from detectors import run_rules
from tests.factories import members_frame, residents_frame

AS_OF = pd.Timestamp("2026-11-01")


def findings(members, residents=None, rule_id=None):
    frames = {"members": members, "residents": residents if residents is not None else residents_frame([{}])}
    run = run_rules(frames, as_of=AS_OF, rule_ids=[rule_id] if rule_id else None)
    return run.findings


def test_number_invalid_flags_bad_check_digit_and_missing_number():
    members = members_frame([
        {"member_id": "M1", "number": "123456789018"},
        {"member_id": "M2", "number_hash": "h2", "number_last4": "9017", "number_status": "bad_check"},
        {"member_id": "M3", "number": None},
        {"member_id": "M4", "number_hash": None, "number_last4": "1234", "number_status": "last4_only"},
    ])
    out = findings(members, rule_id="NUMBER_INVALID").set_index("member_id")
    assert sorted(out.index) == ["M2", "M3"]
    assert out.loc["M2", "severity"] == "high"
    assert out.loc["M3", "severity"] == "medium"
    assert "検査用数字" in out.loc["M2", "summary_ja"]


def test_resident_not_found_when_the_linked_number_has_no_resident():
    members = members_frame([{"member_id": "M1", "number": "123456789018"},
                             {"member_id": "M2", "number": "000000000019"},
                             {"member_id": "M3", "number": "000000000027", "loss_date": "2025-01-01"}])
    residents = residents_frame([{"resident_id": "R1", "number": "123456789018"}])
    out = findings(members, residents, "RESIDENT_NOT_FOUND").set_index("member_id")
    assert sorted(out.index) == ["M2", "M3"]
    assert out.loc["M2", "severity"] == "high"
    assert out.loc["M3", "severity"] == "low"


def test_number_shared_only_when_the_members_are_different_persons():
    members = members_frame([
        # one person, two member records (old qualification left valid): not NUMBER_SHARED
        {"member_id": "M1", "number": "123456789018", "birth_date": "1980-05-10", "sex": 1},
        {"member_id": "M2", "number": "123456789018", "birth_date": "1980-05-10", "sex": 1},
        # different birth dates on one number: NUMBER_SHARED on both
        {"member_id": "M3", "number": "000000000019", "birth_date": "1950-01-01"},
        {"member_id": "M4", "number": "000000000019", "birth_date": "1952-02-02"},
    ])
    out = findings(members, rule_id="NUMBER_SHARED")
    assert sorted(out["member_id"]) == ["M3", "M4"]
    evidence = json.loads(out.set_index("member_id").loc["M3", "evidence"])
    assert evidence["other_members"] == "131016:M4"
    assert evidence["member_count"] == 2


def test_qual_date_invalid_names_each_impossible_date():
    members = members_frame([
        {"member_id": "OK"},
        {"member_id": "B", "birth_date": "1990-01-01", "acquisition_date": "1989-12-31"},
        {"member_id": "L", "acquisition_date": "2020-04-01", "loss_date": "2020-03-31"},
        {"member_id": "F", "acquisition_date": "2026-11-02", "card_issue_date": "2026-11-02"},
    ])
    out = findings(members, rule_id="QUAL_DATE_INVALID").set_index("member_id")
    assert sorted(out.index) == ["B", "F", "L"]
    assert json.loads(out.loc["B", "evidence"])["reason_codes"] == ["acquisition_before_birth"]
    assert json.loads(out.loc["L", "evidence"])["reason_codes"] == ["loss_before_acquisition"]
    assert json.loads(out.loc["F", "evidence"])["reason_codes"] == ["acquisition_after_as_of", "issue_after_as_of"]


def test_same_facts_give_the_same_finding_ids_on_a_rerun():
    members = members_frame([{"member_id": "M3", "number": None}])
    assert findings(members)["finding_id"].tolist() == findings(members)["finding_id"].tolist()
