"""Small hand-made frames for the report builders: one insurer, three scans around ISO week 2026-W47.

W47 runs Monday 2026-11-16 to Sunday 2026-11-22 (Japan time). S1 ran the week before, S2 in
W47, S3 the week after; findings first seen by S3 must not appear in the W47 report.
"""
from __future__ import annotations

import json
from typing import Any

import pandas as pd
import pytest

WEEK = "2026-W47"
# As the service passes the detectors' table (detectors.rules.mislink.REASON_LABELS_JA); a subset.
REASON_LABELS_JA = {"WIDTH": "全角半角", "VARIANT_KANJI": "異体字・旧字体", "KANA_SMALL": "拗音・促音の大書き"}


def finding(finding_id: str, rule_id: str, category: str, status: str, first_seen: str, *,
            queue: str = "mislink", score: float = 1.0, severity: str = "high", member_id: str = "M1",
            evidence: dict | None = None, summary: str | None = None, suggested_resident_id: str | None = None,
            last4: str | None = None) -> dict[str, Any]:
    return {
        "finding_id": finding_id, "scan_id": "S2", "insurer_number": "131016", "member_id": member_id,
        "rule_id": rule_id, "category": category, "severity": severity, "score": score,
        "summary": summary or f"{rule_id} の確認が必要", "evidence": json.dumps(evidence or {}, ensure_ascii=False),
        "suggested_resident_id": suggested_resident_id, "suggested_individual_number_last4": last4,
        "queue": queue, "status": status, "first_seen_scan": first_seen, "last_seen_scan": "S2",
    }


@pytest.fixture(scope="module")
def findings() -> pd.DataFrame:
    return pd.DataFrame([
        finding("f01", "MISLINK_SUSPECTED", "mislink", "open", "S2", score=0.93, member_id="M1",
                suggested_resident_id="R9", last4="9018",
                summary="登録番号の住民（田中 花子）は別人の可能性が高い <b>要確認</b>"),
        finding("f02", "MISLINK_SUSPECTED", "mislink", "in_progress", "S1", score=0.71, member_id="M2"),
        finding("f03", "MISLINK_SUSPECTED", "mislink", "resolved_false_positive", "S1", score=0.99, member_id="M3"),
        finding("f04", "NUMBER_SHARED", "mislink", "open", "S1", score=0.88, member_id="M4",
                suggested_resident_id="R4", last4="123456789018"),   # a full number handed in by mistake
        finding("f05", "NUMBER_INVALID", "mislink", "resolved_fixed", "S1", member_id="M5"),
        finding("f06", "NOTATION_DIFFERENCE", "notation", "open", "S2", queue="notation", severity="low",
                member_id="M6", evidence={"reasons": ["WIDTH", "VARIANT_KANJI"], "pattern": "WIDTH+VARIANT_KANJI",
                                          "fields": {"name_kanji": {"member": "髙橋", "resident": "高橋"}}}),
        finding("f07", "NOTATION_DIFFERENCE", "notation", "resolved_false_positive", "S1", queue="notation",
                severity="low", member_id="M7", evidence={"reasons": ["VARIANT_KANJI"]}),
        finding("f08", "NOTATION_DIFFERENCE", "notation", "open", "S1", queue="notation", severity="low",
                member_id="M8", evidence={"name_kana": {"reason_codes": ["KANA_SMALL"]},      # nested, other key
                                          "name_kanji": {"reason_codes": ["VARIANT_KANJI"]}}),
        finding("f09", "BURDEN_RATIO_OQS_MISMATCH", "burden_ratio", "open", "S2", queue="benefits", member_id="M9"),
        finding("f10", "QUAL_DATE_INVALID", "qualification_date", "open", "S3", queue="qualification",
                member_id="M10"),                                           # after the week: left out
    ])


@pytest.fixture(scope="module")
def scans() -> pd.DataFrame:
    return pd.DataFrame([
        {"scan_id": "S1", "started_at": "2026-11-09T10:00:00+09:00", "as_of": "2026-11-01", "period": "2026-11"},
        {"scan_id": "S2", "started_at": "2026-11-17T01:00:00Z", "as_of": "2026-11-01", "period": "2026-11",
         "finished_at": "2026-11-17T01:03:00Z", "findings": 9},
        {"scan_id": "S3", "started_at": "2026-11-24T10:00:00+09:00", "as_of": "2026-12-01", "period": "2026-12"},
    ])


@pytest.fixture(scope="module")
def events() -> pd.DataFrame:
    return pd.DataFrame([
        {"finding_id": "f05", "status": "in_progress", "changed_at": "2026-11-16T09:00:00+09:00"},
        {"finding_id": "f05", "status": "resolved_fixed", "changed_at": "2026-11-18T09:00:00+09:00"},
        # resolved last week: not this week's
        {"finding_id": "f07", "status": "resolved_false_positive", "changed_at": "2026-11-10T09:00:00+09:00"},
        # resolved this week
        {"finding_id": "f03", "status": "resolved_false_positive", "changed_at": "2026-11-19T15:00:00+09:00"},
        # resolved then reopened in the same week: not resolved
        {"finding_id": "f02", "status": "resolved_wont_fix", "changed_at": "2026-11-19T10:00:00+09:00"},
        {"finding_id": "f02", "status": "in_progress", "changed_at": "2026-11-20T10:00:00+09:00"},
        # auto-resolved finding no longer in the export: its own rule, category and queue
        {"finding_id": "gone", "status": "resolved_fixed", "changed_at": "2026-11-17T10:05:00+09:00",
         "rule_id": "QUAL_LOSS_NOT_LINKED", "category": "qualification_date", "queue": "qualification"},
    ])


@pytest.fixture(scope="module")
def quarantine() -> pd.DataFrame:
    return pd.DataFrame([
        {"file": "members.csv", "reason": "日付として読めない / bad date", "count": 3},
        {"file": "members.csv", "reason": "性別コード不正 / bad sex code", "count": 1},
        {"file": "residents.csv", "reason": "日付として読めない / bad date", "count": 2},
    ])


@pytest.fixture(scope="module")
def validation() -> dict[str, Any]:
    return {
        "success": False,
        "checks": [{"file": "members.csv", "check": "birth_date is a date", "column": "birth_date",
                    "success": False, "unexpected_count": 3, "message": None}],
        "messages": ["card_status.csv がありません / card_status.csv absent"],
        "skipped_rules": [("KAKUNINSHO_NOT_ISSUED", "card_status.csv absent")],
    }
