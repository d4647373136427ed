"""KAKUNINSHO_NOT_ISSUED and the 資格確認書 issuance list (domain brief §8)."""
from __future__ import annotations

import json

import pandas as pd
import pytest

from detectors import run_rules
from detectors.kakuninsho import ISSUANCE_LIST_COLUMNS, ecert_grace_end, issuance_list
from tests.factories import card_status_frame, members_frame

AS_OF = "2026-11-01"   # the national file reflects 2026-09-30 (status_as_of, the factory default)


def findings(member, status, as_of=AS_OF):
    frames = {"members": members_frame([member]), "card_status": card_status_frame([status])}
    return run_rules(frames, as_of=pd.Timestamp(as_of), rule_ids=["KAKUNINSHO_NOT_ISSUED"]).findings


CASES = [
    {"description": "registered, nothing else: not a target", "status": {}, "expected": None},
    {"description": "not registered, none issued", "status": {"registered": False}, "expected": "high"},
    {"description": "not registered, one issued", "status": {"registered": False, "kakuninsho_issued_date": "2025-10-01"},
     "expected": None},
    {"description": "registration cancelled on request (1)", "status": {"cancellation_code": "1"}, "expected": "high"},
    {"description": "registration cancelled ex officio (2)", "status": {"cancellation_code": "2", "ecert_expiry_date": "2026-03-10"},
     "expected": "high"},
    {"description": "certificate expired, still inside the 3-month window on status_as_of",
     "status": {"ecert_expiry_date": "2026-06-15"}, "expected": None},
    {"description": "certificate expired, window over on status_as_of",
     "status": {"ecert_expiry_date": "2026-05-20"}, "expected": "high"},
    {"description": "certificate expired, issued after the expiry",
     "status": {"ecert_expiry_date": "2026-05-20", "kakuninsho_issued_date": "2026-07-01"}, "expected": None},
    {"description": "certificate expired, an older 資格確認書 still valid covers the member",
     "status": {"ecert_expiry_date": "2026-05-20", "kakuninsho_issued_date": "2026-01-05"}, "expected": None},
    {"description": "card returned after the last 資格確認書, which is still valid",
     "status": {"card_returned_date": "2026-10-15", "kakuninsho_issued_date": "2025-12-01"}, "expected": None},
    {"description": "card returned, the latest 資格確認書 expired (valid_until given)",
     "status": {"card_returned_date": "2026-10-15", "kakuninsho_issued_date": "2025-10-01",
                "kakuninsho_valid_until": "2026-09-30"}, "expected": "medium"},
    {"description": "not registered, issued more than 5 years ago (no valid_until): expired",
     "status": {"registered": False, "kakuninsho_issued_date": "2021-10-31"}, "expected": "medium"},
    {"description": "cancellation code 2 while the 資格確認書 runs to 2031",
     "status": {"cancellation_code": "2", "ecert_expiry_date": "2027-03-10", "kakuninsho_issued_date": "2026-04-01",
                "kakuninsho_valid_until": "2031-03-31"}, "expected": None},
    {"description": "viewing restricted", "status": {"self_info_restricted": True}, "expected": "high"},
    {"description": "asked for one", "status": {"kakuninsho_requested": True}, "expected": "high"},
    {"description": "a lost member is not judged", "status": {"registered": False},
     "member": {"loss_date": "2026-06-01", "loss_reason": "1"}, "expected": None},
    {"description": "後期 issues to everyone until July 2026", "status": {}, "member": {"insurer_type": "kouki"},
     "as_of": "2026-07-01", "expected": "high"},
    {"description": "後期 after July 2026: the usual triggers only", "status": {}, "member": {"insurer_type": "kouki"},
     "expected": None},
    {"description": "an old paper card still valid before 2025-12-02", "status": {"registered": False, "status_as_of": "2025-09-30"},
     "as_of": "2025-11-01", "expected": None},
    {"description": "a member who joined after paper cards stopped", "status": {"registered": False, "status_as_of": "2025-09-30"},
     "member": {"acquisition_date": "2025-01-10", "card_issue_date": "2025-01-20"}, "as_of": "2025-11-01", "expected": "high"},
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c["description"])
def test_kakuninsho_not_issued(case):
    out = findings(case.get("member", {}), case["status"], case.get("as_of", AS_OF))
    assert (out["severity"].iloc[0] if len(out) else None) == case["expected"]


def test_evidence_says_the_national_file_lags():
    out = findings({}, {"registered": False})
    evidence = json.loads(out["evidence"].iloc[0])
    assert evidence["status_as_of"] == "2026-09-30"
    assert evidence["status_lag_days"] == 32
    assert "status_as_of" in evidence["status_note"]
    assert out["summary_ja"].iloc[0] == ("資格確認書の職権交付対象（マイナ保険証の利用登録なし）ですが、"
                                        "資格確認書が交付されていません（状況一覧は 2026-09-30 時点）")


def test_grace_end_is_the_end_of_the_third_month_after_expiry():
    expiry = pd.Series(pd.to_datetime(["2026-05-20", "2026-11-30", "2026-12-01"]))
    assert ecert_grace_end(expiry).dt.strftime("%Y-%m-%d").tolist() == ["2026-08-31", "2027-02-28", "2027-03-31"]


def test_issuance_list_has_printable_columns_and_no_full_number():
    members = members_frame([
        {"member_id": "M2", "household_id": "H2", "number": "123456789018"},
        {"member_id": "M1", "household_id": "H1", "number": "000000000019"},
        {"member_id": "M3", "household_id": "H1"},
    ])
    status = card_status_frame([
        {"member_id": "M1", "registered": False},
        {"member_id": "M2", "card_returned_date": "2026-10-15"},
        {"member_id": "M3"},
    ])
    out = issuance_list(members, status, pd.Timestamp(AS_OF))
    assert list(out.columns) == ISSUANCE_LIST_COLUMNS
    assert out["member_id"].tolist() == ["M1", "M2"]
    assert out["number_last4"].tolist() == ["0019", "9018"]
    assert out["reasons"].tolist() == ["not_registered", "card_returned"]
    assert out["reasons_ja"].tolist() == ["マイナ保険証の利用登録なし", "マイナンバーカード返納"]
    assert not out.astype(str).apply(lambda c: c.str.contains(r"\d{12}")).any().any()


def test_an_expired_kakuninsho_is_named_in_the_summary():
    out = findings({}, {"registered": False, "kakuninsho_issued_date": "2025-10-01", "kakuninsho_valid_until": "2026-09-30"})
    assert out["summary_ja"].iloc[0] == ("資格確認書の職権交付対象（マイナ保険証の利用登録なし）ですが、最新の資格確認書（交付日 "
                                        "2025-10-01）は 2026-09-30 で有効期限が切れています（状況一覧は 2026-09-30 時点）")
    evidence = json.loads(out["evidence"].iloc[0])
    assert (evidence["valid_until"], evidence["validity_basis"]) == ("2026-09-30", "kakuninsho_valid_until")
    unknown = findings({}, {"registered": False, "kakuninsho_valid_until": "2026-09-30"})
    assert "交付日 不明" in unknown["summary_ja"].iloc[0]
