"""LIMIT_CATEGORY_* rules; income bands and consistency written from domain brief §5."""
from __future__ import annotations

import json

import pandas as pd
import pytest

from detectors import run_rules
from tests.factories import members_frame, oqs_frame, residents_frame

AS_OF = "2026-11-01"
SEVENTY_TWO = "1954-05-10"   # 72 on AS_OF (70-74 band)
FORTY_SIX = "1980-05-10"


def findings(rule_id, members, oqs=None, as_of=AS_OF):
    frames = {"members": members, "residents": residents_frame([{}])}
    if oqs is not None:
        frames["oqs"] = oqs
    return run_rules(frames, as_of=pd.Timestamp(as_of), rule_ids=[rule_id]).findings


def reasons(out):
    return {m: (json.loads(e)["reason_code"], json.loads(e)["expected_category"])
            for m, e in zip(out["member_id"], out["evidence"])}


def under70(kyu, category, **extra):
    return {"birth_date": FORTY_SIX, "burden_ratio": 30, "kyu_tadashigaki_income": kyu, "limit_category": category,
            "resident_tax_exempt": False, **extra}


def over70(taxable, category, ratio, **extra):
    return {"birth_date": SEVENTY_TWO, "burden_ratio": ratio, "taxable_income": taxable, "kyu_tadashigaki_income": 0.0,
            "limit_category": category, "resident_tax_exempt": False, **extra}


CASES = [
    {"description": "an under-70 code on a 72-year-old", "rows": [over70(0.0, "U", 20)],
     "expected": {"M0001": ("under_70_code_on_70_plus", "IP")}},
    {"description": "a 70+ code on a 46-year-old", "rows": [under70(3_500_000.0, "IP")],
     "expected": {"M0001": ("70_plus_code_on_under_70", "U")}},
    {"description": "旧ただし書き所得 2,100,000 is エ", "rows": [under70(2_100_000.0, "E")], "expected": {}},
    {"description": "2,100,001 is ウ, not エ", "rows": [under70(2_100_001.0, "E")],
     "expected": {"M0001": ("income_band", "U")}},
    {"description": "9,010,000 is イ", "rows": [under70(9_010_000.0, "I")], "expected": {}},
    {"description": "9,010,001 is ア", "rows": [under70(9_010_001.0, "I")], "expected": {"M0001": ("income_band", "A")}},
    {"description": "the household's incomes are summed (1.5M + 1.0M = 2.5M → ウ)",
     "rows": [under70(1_500_000.0, "E", member_id="P1", household_id="H1"),
              under70(1_000_000.0, "U", member_id="P2", household_id="H1")],
     "expected": {"P1": ("income_band", "U")}},
    {"description": "オ needs every member exempt",
     "rows": [under70(0.0, "O", member_id="P1", household_id="H1", resident_tax_exempt=True),
              under70(0.0, "O", member_id="P2", household_id="H1", resident_tax_exempt=False)],
     "expected": {"P1": ("income_band", "E"), "P2": ("income_band", "E")}},
    {"description": "an exempt household is オ", "rows": [under70(0.0, "O", resident_tax_exempt=True)], "expected": {}},
    {"description": "現役並みⅢ from 6.9M", "rows": [over70(6_900_000.0, "G2", 30)],
     "expected": {"M0001": ("income_band", "G3")}},
    {"description": "現役並みⅡ from 3.8M", "rows": [over70(3_800_000.0, "G2", 30)], "expected": {}},
    {"description": "現役並みⅠ from 1.45M", "rows": [over70(1_449_999.0, "G1", 20)],
     "expected": {"M0001": ("income_band", "IP")}},
    {"description": "低所得Ⅰ and Ⅱ are both accepted for an exempt household",
     "rows": [over70(0.0, "L1", 20, member_id="A", household_id="H1", resident_tax_exempt=True),
              over70(0.0, "L2", 20, member_id="B", household_id="H2", resident_tax_exempt=True)],
     "expected": {}},
    {"description": "一般 at 20% although income says 現役並み is the 基準収入額適用 case (left to the ratio rule)",
     "rows": [over70(2_000_000.0, "IP", 20)], "expected": {}},
    {"description": "一般 at 30% with 現役並み income is wrong",
     "rows": [over70(2_000_000.0, "IP", 30)], "expected": {"M0001": ("income_band", "G1")}},
    {"description": "without income: 70-74 at 30% needs a 現役並み category",
     "rows": [over70(None, "IP", 30, kyu_tadashigaki_income=None)], "expected": {"M0001": ("ratio_30_not_geneki", None)}},
    {"description": "without income: 70-74 at 20% with a 現役並み category",
     "rows": [over70(None, "G1", 20, kyu_tadashigaki_income=None)], "expected": {"M0001": ("ratio_20_geneki", None)}},
    {"description": "without income: consistent pairs pass",
     "rows": [over70(None, "G2", 30, member_id="A", kyu_tadashigaki_income=None),
              over70(None, "L2", 20, member_id="B", kyu_tadashigaki_income=None)], "expected": {}},
    {"description": "no category, nothing to judge", "rows": [under70(3_500_000.0, None)], "expected": {}},
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c["description"])
def test_limit_category_rule(case):
    out = findings("LIMIT_CATEGORY_RULE", members_frame(case["rows"]))
    assert reasons(out) == case["expected"]


def test_family_mismatch_summary_names_both_sides():
    out = findings("LIMIT_CATEGORY_RULE", members_frame([over70(0.0, "U", 20)]))
    row = out.iloc[0]
    assert row["severity"] == "high"
    assert row["summary_ja"] == "限度額適用区分「ウ」が規定と合いません: 70歳以上に70歳未満の区分（期待: 一般）"


def test_oqs_mismatch():
    members = members_frame([{"member_id": "M1", "limit_category": "U"}, {"member_id": "M2", "limit_category": "U"},
                             {"member_id": "M3", "limit_category": "U"}])
    oqs = oqs_frame([{"member_id": "M1", "limit_category": "E"}, {"member_id": "M2", "limit_category": "U"},
                     {"member_id": "M3", "limit_category": None}])
    out = findings("LIMIT_CATEGORY_OQS_MISMATCH", members, oqs).set_index("member_id")
    assert sorted(out.index) == ["M1", "M3"]
    assert out.loc["M1", "severity"] == "high"
    assert out.loc["M3", "severity"] == "medium"
    assert out.loc["M1", "summary_ja"] == "限度額適用区分が保険者「ウ」と中間サーバー「エ」で異なります"
