"""A clean municipality on which no rule fires (every boundary on its right side)."""
from __future__ import annotations

import pandas as pd

from detectors import run_rules
from tests.factories import (benefit_history_frame, card_status_frame, members_frame, oqs_frame,
                             residents_frame)

AS_OF = pd.Timestamp("2026-11-01")

# member_id, number, birth, ratio, category, household, taxable, kyu, extra member fields, extra resident fields
PEOPLE = [
    ("C01", "100000000001", "1980-05-10", 30, "U", "H1", 3_000_000.0, 3_500_000.0, {}, {}),
    ("C02", "100000000002", "2020-11-02", 20, "U", "H1", 0.0, 0.0,                           # preschool until 2027-03-31
     {"acquisition_date": "2020-11-02", "card_issue_date": "2020-11-16"}, {"moved_in_date": None}),
    ("C03", "100000000003", "1954-05-10", 20, "IP", "H2", 1_000_000.0, 1_200_000.0, {}, {}),  # 70-74, 一般
    ("C04", "100000000004", "1955-05-10", 20, "IP", "H2", 0.0, 0.0, {}, {}),
    ("C05", "100000000005", "1953-01-01", 30, "G1", "H3", 2_000_000.0, 2_500_000.0, {}, {}),  # 現役並みⅠ
    ("C06", "100000000006", "1956-11-01", 20, "IP", "H4", 0.0, 1_000_000.0, {}, {}),          # born on the 1st: 70-74 from 2026-11
    ("C07", "100000000007", "1956-11-02", 30, "E", "H5", 0.0, 1_000_000.0, {}, {}),           # born on the 2nd: from 2026-12
    ("C08", "100000000008", "1951-10-30", 20, "IP", "H6", 0.0, 0.0,                           # turned 75: lost on the day after
     {"loss_date": "2026-10-31", "loss_reason": "4"}, {}),
    ("C09", "100000000009", "1970-02-01", 30, "O", "H7", 0.0, 0.0,                            # exempt household
     {"resident_tax_exempt": True}, {}),
    ("C10", "100000000010", "1975-03-03", 30, "U", "H8", 3_000_000.0, 3_000_000.0,            # moved out, lost the day after
     {"loss_date": "2026-06-11", "loss_reason": "1"}, {"status": "moved_out", "status_date": "2026-06-10"}),
    ("C11", "100000000011", "1950-03-03", 20, "IP", "H9", 0.0, 0.0,                           # died, lost the day after
     {"loss_date": "2021-06-11", "loss_reason": "2", "acquisition_date": "2010-04-01", "card_issue_date": "2010-04-05"},
     {"status": "deceased", "status_date": "2021-06-10"}),
    ("C12", "100000000012", "2025-01-20", 20, "E", "H10", 0.0, 1_500_000.0,                   # newborn
     {"acquisition_date": "2025-01-20", "card_issue_date": "2025-02-03"}, {"moved_in_date": None}),
]


def clean_frames():
    members, residents, oqs, cards, history = [], [], [], [], []
    for mid, number, birth, ratio, cat, hh, tax, kyu, mextra, rextra in PEOPLE:
        member = {"member_id": mid, "number": number, "birth_date": birth, "burden_ratio": ratio, "limit_category": cat,
                  "household_id": hh, "taxable_income": tax, "kyu_tadashigaki_income": kyu, "resident_tax_exempt": False,
                  **mextra}
        members.append(member)
        residents.append({"resident_id": "R" + mid, "number": number, "birth_date": birth, "household_id": hh,
                          "moved_in_date": member.get("acquisition_date", "2020-04-01"), **rextra})
        oqs.append({k: v for k, v in member.items() if k in (
            "member_id", "number", "birth_date", "burden_ratio", "limit_category", "acquisition_date", "loss_date")})
        cards.append({"member_id": mid, "kakuninsho_issued_date": "2025-10-01" if mid == "C12" else None,
                      "registered": mid != "C12"})
        for source in ("insurer", "oqs"):
            history.append({"source": source, "member_id": mid, "value": str(ratio), "valid_from": "2024-08-01"})
            history.append({"source": source, "member_id": mid, "item": "limit_category", "value": cat,
                            "valid_from": "2024-08-01"})
    return {"members": members_frame(members), "residents": residents_frame(residents), "oqs": oqs_frame(oqs),
            "card_status": card_status_frame(cards), "benefit_history": benefit_history_frame(history)}


def test_no_rule_fires_on_a_clean_municipality():
    run = run_rules(clean_frames(), as_of=AS_OF)
    assert run.skipped == []
    assert run.findings[["rule_id", "member_id", "summary_en"]].values.tolist() == []


def test_the_clean_frame_does_break_when_one_fact_is_wrong():
    frames = clean_frames()
    members = frames["members"].copy()
    members.loc[members["member_id"] == "C07", "burden_ratio"] = 20   # one day too early for 70-74
    frames["members"] = members
    run = run_rules(frames, as_of=AS_OF)
    assert sorted(run.findings["rule_id"]) == ["BURDEN_RATIO_OQS_MISMATCH", "BURDEN_RATIO_RULE"]
