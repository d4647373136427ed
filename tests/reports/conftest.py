"""Small hand-made frames for the report builders: one insurer, scans around ISO week 2026-W47.

W47 runs Monday 2026-11-16 to Sunday 2026-11-22 (Japan time). S1 ran the week before, S2 in W47,
S3 the week after; items created after the week must not appear in the W47 report. Times without
a zone are UTC, as the store returns them. The report is made at NOW (Sunday evening in Japan).
"""
from __future__ import annotations

import json
from typing import Any

import pandas as pd
import pytest

WEEK = "2026-W47"
NOW = pd.Timestamp("2026-11-22T12:00:00Z")          # 21:00 JST on the Sunday
REASON_LABELS_JA = {"WIDTH": "全角半角", "VARIANT_KANJI": "異体字・旧字体", "KANA_SMALL": "拗音・促音の大書き"}
QUEUE_LABELS_JA = {"mislink": "紐付け誤り疑い", "notation": "表記ゆれ・データ品質", "benefit": "負担割合・限度額適用区分",
                   "qualification": "資格取得・喪失日", "feed": "フィード異常"}

SUGGESTED = {"suggested": {"fields": {"name_kanji": {"member": "田中 花子", "resident": "田中 花子"},
                                      "birth_date": {"member": "1980-05-10", "resident": "1980-05-10"}}}}


def item(finding_id: str, rule_id: str, category: str, status: str, created_at: str, *, queue: str = "mislink",
         score: float = 1.0, severity: str = "high", member_id: str = "M1", evidence: dict | None = None,
         summary: str | None = None, suggested_resident_id: str | None = None, last4: str | None = None,
         due_at: str | None = None, first: int = 2, last: int = 2, resolved_at: str | None = None) -> dict[str, Any]:
    return {
        "finding_id": finding_id, "insurer_number": "131016", "member_id": member_id, "rule_id": rule_id,
        "category": category, "severity": severity, "score": score,
        "summary_ja": summary or "確認が必要な指摘", "summary_en": f"check {rule_id}",
        "evidence": json.dumps(evidence or {}, ensure_ascii=False), "suggested_resident_id": suggested_resident_id,
        "suggested_individual_number_last4": last4, "queue": queue, "status": status,
        "first_seen_scan": first, "last_seen_scan": last, "created_at": created_at, "resolved_at": resolved_at,
        "due_at": due_at,
    }


@pytest.fixture(scope="module")
def items() -> pd.DataFrame:
    return pd.DataFrame([
        item("f01", "MISLINK_SUSPECTED", "mislink", "open", "2026-11-17T01:00:00Z", score=0.93, member_id="M1",
             suggested_resident_id="R9", last4="9018", evidence=SUGGESTED, due_at="2026-11-30T00:00:00Z",
             summary="紐付け誤りの疑い（93%）: <b>要確認</b>"),
        item("f02", "MISLINK_SUSPECTED", "mislink", "in_progress", "2026-11-09T01:00:00Z", score=0.71, member_id="M2",
             first=1, due_at="2026-11-20T00:00:00Z"),                       # overdue
        item("f03", "MISLINK_SUSPECTED", "mislink", "resolved_false_positive", "2026-11-09T01:00:00Z", first=1,
             member_id="M3"),
        item("f04", "NUMBER_SHARED", "mislink", "open", "2026-11-09T01:00:00Z", score=0.88, member_id="M4",
             suggested_resident_id="R4", last4="123456789018", first=1),    # a full number handed in by mistake
        item("f05", "NUMBER_INVALID", "mislink", "resolved_fixed", "2026-11-09T01:00:00Z", member_id="M5", first=1,
             last=1),                                                       # confirmed, later gone: corrected
        item("f06", "NOTATION_DIFFERENCE", "notation", "open", "2026-11-17T01:00:00Z", queue="notation",
             severity="low", member_id="M6", evidence={"reasons": ["WIDTH", "VARIANT_KANJI"]}),
        item("f07", "NOTATION_DIFFERENCE", "notation", "closed_not_seen", "2026-11-09T01:00:00Z", queue="notation",
             severity="low", member_id="M7", evidence={"reasons": ["VARIANT_KANJI"]}, first=1, last=1),
        item("f08", "NOTATION_DIFFERENCE", "notation", "open", "2026-11-09T01:00:00Z", queue="notation",
             severity="low", member_id="M8", first=1,
             evidence={"name_kana": {"reason_codes": ["KANA_SMALL"]}, "name_kanji": {"reason_codes": ["VARIANT_KANJI"]}}),
        item("f09", "BURDEN_RATIO_OQS_MISMATCH", "burden_ratio", "open", "2026-11-17T01:00:00Z", queue="benefit",
             member_id="M9", severity="medium"),
        item("f10", "FEED_DRIFT", "feed", "open", "2026-11-17T01:00:00Z", queue="feed", member_id=None,
             severity="medium", summary="30%負担の割合が前月から急増しました"),
        item("f11", "QUAL_DATE_INVALID", "qualification_date", "open", "2026-11-24T01:00:00Z", queue="qualification",
             member_id="M10", first=3, last=3),                             # after the week: left out
    ])


@pytest.fixture(scope="module")
def scans() -> pd.DataFrame:
    return pd.DataFrame([
        {"scan_id": 1, "started_at": "2026-11-09T01:00:00Z", "as_of": "2026-11-01", "period": "2026-10"},
        {"scan_id": 2, "started_at": "2026-11-17T01:00:00Z", "as_of": "2026-11-01", "period": "2026-11",
         "findings": 9, "summary": {"skipped_rules": [{"rule_id": "KAKUNINSHO_NOT_ISSUED",
                                                       "reason": "card_status.csv がありません"}]}},
        {"scan_id": 3, "started_at": "2026-11-24T01:00:00Z", "as_of": "2026-12-01", "period": "2026-12"},
    ])


@pytest.fixture(scope="module")
def events() -> pd.DataFrame:
    return pd.DataFrame([
        {"finding_id": "f05", "to_status": "in_progress", "at": "2026-11-16T00:00:00Z"},
        {"finding_id": "f05", "to_status": "resolved_fixed", "at": "2026-11-18T00:00:00Z"},     # this week
        {"finding_id": "f03", "to_status": "resolved_false_positive", "at": "2026-11-10T00:00:00Z"},  # last week
        {"finding_id": "f07", "to_status": "closed_not_seen", "at": "2026-11-17T01:00:00Z"},    # this week
        {"finding_id": "f02", "to_status": "resolved_wont_fix", "at": "2026-11-19T00:00:00Z"},  # reopened:
        {"finding_id": "f02", "to_status": "in_progress", "at": "2026-11-20T00:00:00Z"},        # not resolved
    ])


@pytest.fixture(scope="module")
def quarantine() -> pd.DataFrame:
    return pd.DataFrame([
        {"file": "members.csv", "reason": "日付として読めない / bad date", "count": 3},
        {"file": "residents.csv", "reason": "日付として読めない / bad date", "count": 2},
    ])


@pytest.fixture(scope="module")
def validation() -> dict[str, Any]:
    return {"members": {"file": "members.csv", "rows_read": 100, "rows_valid": 97, "rows_quarantined": 3,
                        "gx": {"success": False, "expectations": [
                            {"expectation": "expect_column_values_to_not_be_null", "column": "birth_date",
                             "success": False, "unexpected_count": 3}]}}}
