"""Findings frames for store tests, shaped exactly as ``detectors.engine.run_rules`` returns them."""
from __future__ import annotations

from typing import Any, Iterable

import pandas as pd

from detectors.engine import FINDING_COLUMNS, fingerprint, to_json

CATEGORIES = {
    "MISLINK_SUSPECTED": "mislink", "NUMBER_INVALID": "mislink", "NUMBER_SHARED": "mislink",
    "RESIDENT_NOT_FOUND": "mislink", "NOTATION_DIFFERENCE": "notation",
    "BURDEN_RATIO_OQS_MISMATCH": "burden_ratio", "LIMIT_CATEGORY_RULE": "limit_category",
    "QUAL_OVERLAP": "qualification_date", "KAKUNINSHO_NOT_ISSUED": "card_issuance", "FEED_DRIFT": "feed",
}


def finding(rule_id: str = "MISLINK_SUSPECTED", member_id: str | None = "M0001", *,
            insurer_number: str | None = "131016", facts: str = "f", severity: str = "high",
            score: float = 0.9, evidence: dict | None = None, summary_ja: str | None = None,
            summary_en: str | None = None, suggested_resident_id: str | None = None,
            suggested_individual_number_last4: str | None = None) -> dict[str, Any]:
    return {
        "finding_id": fingerprint(rule_id, insurer_number, member_id, facts),
        "rule_id": rule_id, "category": CATEGORIES[rule_id], "severity": severity, "score": score,
        "insurer_number": insurer_number, "member_id": member_id,
        "summary_ja": summary_ja or f"{rule_id} の指摘（{member_id}）",
        "summary_en": summary_en or f"{rule_id} finding ({member_id})",
        "evidence": to_json(evidence if evidence is not None else {"member_id": member_id, "facts": facts}),
        "suggested_resident_id": suggested_resident_id,
        "suggested_individual_number_last4": suggested_individual_number_last4,
        "facts": facts,
    }


def findings_input(rows: Iterable[dict[str, Any]]) -> pd.DataFrame:
    rows = list(rows)
    return pd.DataFrame(rows, columns=FINDING_COLUMNS) if rows else pd.DataFrame(columns=FINDING_COLUMNS)
