"""Builders of canonical frames for tests: a valid default row, overridden per case.

``members_frame([{"member_id": "M1", "birth_date": "1950-04-01"}, …])`` gives a frame in the
canonical shape of :mod:`detectors.schema`, as ingest would hand it to matchers and detectors.
"""
from __future__ import annotations

from typing import Any, Iterable

import pandas as pd

from detectors.schema import coerce
from reconcile.privacy import keyed_hash

TEST_KEY = b"test-key-not-secret"


def number_fields(number: str | None) -> dict[str, Any]:
    """Canonical number columns for a 12-digit number (valid check digit assumed)."""
    if number is None:
        return {"number_hash": None, "number_last4": None, "number_status": "missing"}
    return {"number_hash": keyed_hash(TEST_KEY, number), "number_last4": number[-4:], "number_status": "valid"}


MEMBER_DEFAULTS: dict[str, Any] = {
    "insurer_number": "131016", "insurer_type": "kokuho", "member_id": "M0001", "household_id": "H001",
    "name_kanji": "山田 太郎", "name_kana": "ヤマダ タロウ", "name_alpha": None,
    "birth_date": "1980-05-10", "sex": 1, "address": "東京都千代田区千代田1-1",
    **number_fields("123456789018"),
    "acquisition_date": "2020-04-01", "loss_date": None, "loss_reason": None, "card_issue_date": "2020-04-10",
    "burden_ratio": 30, "limit_category": "U", "taxable_income": 3_000_000.0,
    "kyu_tadashigaki_income": 3_500_000.0, "resident_tax_exempt": False, "_line": 2,
}

RESIDENT_DEFAULTS: dict[str, Any] = {
    "resident_id": "R0001", **number_fields("123456789018"),
    "name_kanji": "山田 太郎", "name_kana": "ヤマダ タロウ", "name_alpha": None, "alias_name": None,
    "former_surname": None, "birth_date": "1980-05-10", "sex": 1, "address": "東京都千代田区千代田1-1",
    "municipality_code": "131016", "household_id": "H001", "status": "active", "status_date": None,
    "moved_in_date": "2020-04-01", "_line": 2,
}

OQS_DEFAULTS: dict[str, Any] = {
    k: MEMBER_DEFAULTS[k] for k in (
        "insurer_number", "member_id", "number_hash", "number_last4", "number_status", "name_kanji",
        "name_kana", "name_alpha", "birth_date", "sex", "acquisition_date", "loss_date",
        "burden_ratio", "limit_category")
} | {"_line": 2}

CARD_STATUS_DEFAULTS: dict[str, Any] = {
    "insurer_number": "131016", "member_id": "M0001", "registered": True, "registration_date": "2023-01-10",
    "cancellation_code": None, "ecert_expiry_date": "2030-01-10", "card_returned_date": None,
    "self_info_restricted": False, "kakuninsho_requested": False, "kakuninsho_issued_date": None,
    "oshirase_issued_date": "2024-12-10", "status_as_of": "2026-09-30", "_line": 2,
}

BENEFIT_DEFAULTS: dict[str, Any] = {
    "source": "insurer", "insurer_number": "131016", "member_id": "M0001", "item": "burden_ratio",
    "value": "30", "valid_from": "2020-04-01", "valid_to": None, "_line": 2,
}


def _frame(kind: str, defaults: dict[str, Any], rows: Iterable[dict[str, Any]]) -> pd.DataFrame:
    records = []
    for line, row in enumerate(rows, start=2):
        record = {**defaults, "_line": line, **row}
        if "number" in row:  # convenience: {"number": "123456789018"} fills the hash columns
            record.update(number_fields(record.pop("number")))
        records.append(record)
    frame = pd.DataFrame.from_records(records, columns=list(dict.fromkeys([*defaults, *[k for r in records for k in r]])))
    return coerce(kind, frame)


def members_frame(rows: Iterable[dict[str, Any]]) -> pd.DataFrame:
    return _frame("members", MEMBER_DEFAULTS, rows)


def residents_frame(rows: Iterable[dict[str, Any]]) -> pd.DataFrame:
    return _frame("residents", RESIDENT_DEFAULTS, rows)


def oqs_frame(rows: Iterable[dict[str, Any]]) -> pd.DataFrame:
    return _frame("oqs", OQS_DEFAULTS, rows)


def card_status_frame(rows: Iterable[dict[str, Any]]) -> pd.DataFrame:
    return _frame("card_status", CARD_STATUS_DEFAULTS, rows)


def benefit_history_frame(rows: Iterable[dict[str, Any]]) -> pd.DataFrame:
    return _frame("benefit_history", BENEFIT_DEFAULTS, rows)
