"""Detector case corpus — the traps of domain brief §2a, §2b, §4–8, one table row each.

Written from the brief, not from the code: each row builds a tiny feed with
``tests/factories.py``, runs the real rules (``detectors.engine.run_rules``) and says what must
be raised and what must not. A row fails when the product gets the rule wrong.

Row keys:
- ``trap``: the brief's section and the trap's name (the benchmark counts pass rates per trap);
- ``members`` (and ``residents``, ``oqs``, ``card_status``, ``benefit_history``): factory rows;
  the first member is ``M1`` unless said otherwise;
- ``raises``: rule ids (on M1) or ``(member_id, rule_id)`` that must be raised;
  ``severity``: optional ``{rule_id: severity}`` for M1;
- ``not_raised``: rule ids (on M1) or pairs that must not be raised;
- ``only``: default True — no other rule of :data:`DETECTOR_RULES` may fire on the case's
  members (one problem, one finding);
- ``evidence``: optional ``{rule_id: {key: value}}`` that M1's finding's evidence must hold;
- ``history``: earlier feeds for FEED_DRIFT (``feeds``, ``shift`` per statistic, ``same_as_of``);
  a feed-level finding has member ``""``;
- ``xfail``: a known product bug outside the detectors (the reason names it); the row still runs.
"""
from __future__ import annotations

import json
from typing import Any

import pandas as pd
import pytest

import detectors.rules  # noqa: F401  (registers every rule)
from detectors.engine import run_rules
from detectors.registry import RULES
from tests.factories import (benefit_history_frame, card_status_frame, members_frame, oqs_frame,
                             residents_frame)

AS_OF = "2026-11-01"

# The rules of the detectors family (mis-link, notation and number rules have their own corpus).
DETECTOR_RULES = (
    "BURDEN_RATIO_OQS_MISMATCH", "BURDEN_RATIO_RULE", "LIMIT_CATEGORY_OQS_MISMATCH", "LIMIT_CATEGORY_RULE",
    "BENEFIT_HISTORY_DIVERGENCE", "QUAL_DATE_IS_ISSUE_DATE", "QUAL_DATE_OQS_MISMATCH", "QUAL_LOSS_NOT_LINKED",
    "QUAL_ACTIVE_AFTER_EXIT", "QUAL_ACTIVE_PAST_AGE_LIMIT", "QUAL_OVERLAP", "QUAL_DATE_INVALID",
    "KAKUNINSHO_NOT_ISSUED", "FEED_DRIFT",
)

# --- people ---------------------------------------------------------------------------------
# Distinct names per case member: identical people on different numbers would be mis-links.
NAMES = [("佐藤 一郎", "サトウ イチロウ"), ("鈴木 花子", "スズキ ハナコ"), ("高田 健", "タカダ ケン"),
         ("田中 美咲", "タナカ ミサキ"), ("伊藤 大輔", "イトウ ダイスケ"), ("渡部 恵", "ワタベ メグミ")]
NUMBERS = {"M1": "123456789018", "M2": "000000000019", "M3": "000000000027", "M4": "000000000035"}

POOR = {"taxable_income": 0.0, "kyu_tadashigaki_income": 0.0, "resident_tax_exempt": False}


def member(member_id: str = "M1", **fields: Any) -> dict[str, Any]:
    """A member with its own name, household and number; ``fields`` override."""
    kanji, kana = NAMES[int(member_id[1:]) % len(NAMES)]
    row = {"member_id": member_id, "name_kanji": kanji, "name_kana": kana, "household_id": "H" + member_id,
           "number": NUMBERS[member_id]}
    return {**row, **fields}


def resident_of(row: dict[str, Any], **fields: Any) -> dict[str, Any]:
    """The registry row of the person ``row`` is (same name, birth date, sex, household)."""
    res = {"resident_id": "R" + row["member_id"], "name_kanji": row["name_kanji"], "name_kana": row["name_kana"],
           "household_id": row.get("household_id"), "birth_date": row.get("birth_date", "1980-05-10"),
           "sex": row.get("sex", 1), "moved_in_date": row.get("acquisition_date", "2020-04-01")}
    if "number" in row:
        res["number"] = row["number"]
    else:  # a last-four-only member: the registry holds the full number
        res["number"] = NUMBERS[row["member_id"]]
    return {**res, **fields}


def last4_only(row: dict[str, Any]) -> dict[str, Any]:
    """The same member as delivered with only the last four digits (domain brief §2a)."""
    number = row.pop("number")
    return {**row, "number_hash": None, "number_last4": number[-4:], "number_status": "last4_only"}


def child(born: str, ratio: int, **fields: Any) -> dict[str, Any]:
    return member(birth_date=born, acquisition_date=born, card_issue_date=born, burden_ratio=ratio,
                  limit_category="U", **fields)


def elderly(born: str, ratio: int, category: str = "IP", member_id: str = "M1", **fields: Any) -> dict[str, Any]:
    return member(member_id, birth_date=born, burden_ratio=ratio, limit_category=category, **{**POOR, **fields})


def overlap_pair(first: dict[str, Any], second: dict[str, Any]) -> list[dict[str, Any]]:
    """Two member records of one person (same number, name, birth date and sex)."""
    base = member("M1", **POOR, limit_category="E")
    return [{**base, **first}, {**base, "member_id": "M2", **second}]


# --- the corpus -----------------------------------------------------------------------------
CASES: list[dict[str, Any]] = [
    # §4 未就学: 20% up to the first March 31 on or after reaching 6 (the day before the birthday).
    {"trap": "§4 preschool April 1 / April 2", "description": "born April 1: reaches 6 on March 31, 20% ends that day; 30% in November is right",
     "members": [child("2020-04-01", 30)], "raises": []},
    {"trap": "§4 preschool April 1 / April 2", "description": "born April 1, still 20% after the March 31 of reaching 6",
     "members": [child("2020-04-01", 20)], "raises": ["BURDEN_RATIO_RULE"], "severity": {"BURDEN_RATIO_RULE": "high"}},
    {"trap": "§4 preschool April 1 / April 2", "description": "born April 2: reaches 6 on April 1, 20% until the next March 31",
     "members": [child("2020-04-02", 20)], "raises": []},
    {"trap": "§4 preschool April 1 / April 2", "description": "born April 2, switched to 30% a school year early",
     "members": [child("2020-04-02", 30)], "raises": ["BURDEN_RATIO_RULE"]},
    {"trap": "§4 preschool April 1 / April 2", "description": "born April 1: 20% on the March 31 itself is right",
     "members": [child("2020-04-01", 20)], "as_of": "2026-03-31", "raises": []},
    {"trap": "§4 preschool April 1 / April 2", "description": "born April 1: 20% on the April 1 after is wrong",
     "members": [child("2020-04-01", 20)], "as_of": "2026-04-01", "raises": ["BURDEN_RATIO_RULE"]},
    {"trap": "§4 preschool April 1 / April 2", "description": "born April 2: 20% on the next March 31 is still right",
     "members": [child("2020-04-02", 20)], "as_of": "2027-03-31", "raises": []},

    # §4 70: 20% from the first of the month after reaching 70 (born on the 1st: the birthday month).
    {"trap": "§4 reaching 70, born on the 1st vs the 2nd", "description": "born Nov 1: reaches 70 on Oct 31, 20% from Nov 1",
     "members": [elderly("1956-11-01", 20)], "raises": []},
    {"trap": "§4 reaching 70, born on the 1st vs the 2nd", "description": "born Nov 1, still 30% without income on Nov 1",
     "members": [elderly("1956-11-01", 30)], "raises": ["BURDEN_RATIO_RULE"], "not_raised": ["LIMIT_CATEGORY_RULE"]},
    {"trap": "§4 reaching 70, born on the 1st vs the 2nd", "description": "born Nov 2: reaches 70 on Nov 1, still 30% in November",
     "members": [member(birth_date="1956-11-02", burden_ratio=30, limit_category="E", **POOR)], "raises": []},
    {"trap": "§4 reaching 70, born on the 1st vs the 2nd", "description": "born Nov 2, lowered to 20% a month early",
     "members": [member(birth_date="1956-11-02", burden_ratio=20, limit_category="E", **POOR)], "raises": ["BURDEN_RATIO_RULE"]},
    {"trap": "§4 reaching 70, born on the 1st vs the 2nd", "description": "born Nov 2: 20% and 一般 from Dec 1",
     "members": [elderly("1956-11-02", 20)], "as_of": "2026-12-01", "raises": []},
    {"trap": "§4 reaching 70, born on the 1st vs the 2nd", "description": "born Oct 1: 20% from Oct 1 (reaches 70 on Sep 30)",
     "members": [elderly("1956-10-01", 20)], "as_of": "2026-10-01", "raises": []},

    # §4 household 現役並み: any 70–74 member with 課税所得 ≥ 1.45M makes every 70–74 member 30%.
    {"trap": "§4 household 現役並み income", "description": "spouse without income at 30% because the partner reaches 1.45M",
     "members": [elderly("1954-03-10", 30, "G1", household_id="HH"),
                 elderly("1953-06-20", 30, "G1", member_id="M2", household_id="HH", taxable_income=2_000_000.0)],
     "raises": []},
    {"trap": "§4 household 現役並み income", "description": "spouse at 20% although the partner reaches 1.45M: soft (基準収入額)",
     "members": [elderly("1954-03-10", 20, "IP", household_id="HH"),
                 elderly("1953-06-20", 30, "G1", member_id="M2", household_id="HH", taxable_income=2_000_000.0)],
     "raises": ["BURDEN_RATIO_RULE"], "severity": {"BURDEN_RATIO_RULE": "low"}, "not_raised": ["LIMIT_CATEGORY_RULE"]},
    {"trap": "§4 household 現役並み income", "description": "only an under-70 member earns: the 70–74 member at 30% is wrong",
     "members": [elderly("1954-03-10", 30, "IP", household_id="HH", kyu_tadashigaki_income=0.0),
                 member("M2", birth_date="1966-01-15", household_id="HH", burden_ratio=30, limit_category="U",
                        taxable_income=5_000_000.0, kyu_tadashigaki_income=5_000_000.0, resident_tax_exempt=False)],
     "raises": ["BURDEN_RATIO_RULE"], "severity": {"BURDEN_RATIO_RULE": "high"}, "not_raised": ["LIMIT_CATEGORY_RULE"]},
    {"trap": "§4 household 現役並み income", "description": "the earner is in another household: 30% is wrong",
     "members": [elderly("1954-03-10", 30, "IP", household_id="HA"),
                 elderly("1953-06-20", 30, "G1", member_id="M2", household_id="HB", taxable_income=2_000_000.0)],
     "raises": ["BURDEN_RATIO_RULE"]},
    {"trap": "§4 household 現役並み income", "description": "1,449,999 yen is below 現役並み: 20% is right",
     "members": [elderly("1954-03-10", 20, "IP", taxable_income=1_449_999.0)], "raises": []},
    {"trap": "§4 household 現役並み income", "description": "exactly 1,450,000 yen is 現役並み: 30% with 現役並みⅠ is right",
     "members": [elderly("1954-03-10", 30, "G1", taxable_income=1_450_000.0)], "raises": []},

    # §4 基準収入額適用: "20% although ≥ 1.45M" is soft; "30% although nobody reaches it" is hard.
    {"trap": "§4 基準収入額 soft finding", "description": "single 70–74 at 20% with 2M taxable income: check the application",
     "members": [elderly("1954-03-10", 20, "IP", taxable_income=2_000_000.0)],
     "raises": ["BURDEN_RATIO_RULE"], "severity": {"BURDEN_RATIO_RULE": "low"}},
    {"trap": "§4 基準収入額 soft finding", "description": "20% with 2M and a 現役並みⅠ category: still only the soft ratio finding",
     "members": [elderly("1954-03-10", 20, "G1", taxable_income=2_000_000.0)],
     "raises": ["BURDEN_RATIO_RULE"], "severity": {"BURDEN_RATIO_RULE": "low"}},
    {"trap": "§4 基準収入額 soft finding", "description": "20% with exactly 1.45M: soft",
     "members": [elderly("1954-03-10", 20, "IP", taxable_income=1_450_000.0)],
     "raises": ["BURDEN_RATIO_RULE"], "severity": {"BURDEN_RATIO_RULE": "low"}},
    {"trap": "§4 基準収入額 soft finding", "description": "30% with 1.2M (nobody reaches 1.45M): hard",
     "members": [elderly("1954-03-10", 30, "IP", taxable_income=1_200_000.0)],
     "raises": ["BURDEN_RATIO_RULE"], "severity": {"BURDEN_RATIO_RULE": "high"}},
    {"trap": "§4 基準収入額 soft finding", "description": "30% with 2M and 現役並みⅠ: right",
     "members": [elderly("1954-03-10", 30, "G1", taxable_income=2_000_000.0)], "raises": []},
    {"trap": "§4 基準収入額 soft finding", "description": "30% while a 70–74 household member's income is unknown: the ratio is not asserted",
     "members": [elderly("1954-03-10", 30, "G1", household_id="HH"),
                 elderly("1953-06-20", 30, "G1", member_id="M2", household_id="HH", taxable_income=None)],
     "not_raised": ["BURDEN_RATIO_RULE", ("M2", "BURDEN_RATIO_RULE")], "only": False},

    # §4 August 1 re-determination from the previous year's income.
    {"trap": "§4 August re-determination", "description": "in July the ratio in force was set on the previous August 1",
     "members": [elderly("1954-03-10", 30, "IP")], "as_of": "2026-07-31", "raises": ["BURDEN_RATIO_RULE"],
     "evidence": {"BURDEN_RATIO_RULE": {"redetermined_on": "2025-08-01", "income_year": 2024}}},
    {"trap": "§4 August re-determination", "description": "from August 1 the new determination uses last year's income",
     "members": [elderly("1954-03-10", 30, "IP")], "as_of": "2026-08-01", "raises": ["BURDEN_RATIO_RULE"],
     "evidence": {"BURDEN_RATIO_RULE": {"redetermined_on": "2026-08-01", "income_year": 2025}}},
    {"trap": "§4 August re-determination", "description": "the August change registered on both sides: no divergence",
     "members": [member()], "benefit_history": [
         {"source": "insurer", "value": "30", "valid_from": "2025-08-01", "valid_to": "2026-07-31"},
         {"source": "insurer", "value": "20", "valid_from": "2026-08-01"},
         {"source": "oqs", "value": "30", "valid_from": "2025-08-01", "valid_to": "2026-07-31"},
         {"source": "oqs", "value": "20", "valid_from": "2026-08-01"}], "rules": ["BENEFIT_HISTORY_DIVERGENCE"],
     "raises": []},
    {"trap": "§4 August re-determination", "description": "a change registered for next August, not yet sent online, is not a divergence",
     "members": [member()], "benefit_history": [
         {"source": "insurer", "value": "30", "valid_from": "2025-08-01", "valid_to": "2027-07-31"},
         {"source": "insurer", "value": "20", "valid_from": "2027-08-01"},
         {"source": "oqs", "value": "30", "valid_from": "2025-08-01"}], "rules": ["BENEFIT_HISTORY_DIVERGENCE"],
     "raises": []},
    {"trap": "§4 August re-determination", "description": "the August change never reached the online copy",
     "members": [member()], "benefit_history": [
         {"source": "insurer", "value": "30", "valid_from": "2025-08-01", "valid_to": "2026-07-31"},
         {"source": "insurer", "value": "20", "valid_from": "2026-08-01"},
         {"source": "oqs", "value": "30", "valid_from": "2025-08-01"}], "rules": ["BENEFIT_HISTORY_DIVERGENCE"],
     "raises": ["BENEFIT_HISTORY_DIVERGENCE"]},

    # §5 a category of the other age band.
    {"trap": "§5 under-70 code on a 70+ person", "description": "72 with ウ",
     "members": [elderly("1954-03-10", 20, "U")], "raises": ["LIMIT_CATEGORY_RULE"], "not_raised": ["BURDEN_RATIO_RULE"]},
    {"trap": "§5 under-70 code on a 70+ person", "description": "72 with ア",
     "members": [elderly("1954-03-10", 20, "A")], "raises": ["LIMIT_CATEGORY_RULE"]},
    {"trap": "§5 under-70 code on a 70+ person", "description": "45 with 一般 (a 70+ code)",
     "members": [member(limit_category="IP")], "raises": ["LIMIT_CATEGORY_RULE"], "not_raised": ["BURDEN_RATIO_RULE"]},
    {"trap": "§5 under-70 code on a 70+ person", "description": "45 with 現役並みⅠ",
     "members": [member(limit_category="G1")], "raises": ["LIMIT_CATEGORY_RULE"]},
    {"trap": "§5 under-70 code on a 70+ person", "description": "72 at 20% with 一般 and no income: right",
     "members": [elderly("1954-03-10", 20, "IP")], "raises": []},
    {"trap": "§5 under-70 code on a 70+ person", "description": "reached 70 on Nov 1 (born Nov 2): 一般 only from Dec 1",
     "members": [member(birth_date="1956-11-02", burden_ratio=30, limit_category="IP", **POOR)],
     "raises": ["LIMIT_CATEGORY_RULE"], "not_raised": ["BURDEN_RATIO_RULE"]},

    # §5 under-70 income bands (household sum of 旧ただし書き所得).
    {"trap": "§5 under-70 income bands", "description": "household sum 9.5M → ア",
     "members": [member(kyu_tadashigaki_income=9_500_000.0, limit_category="A")], "raises": []},
    {"trap": "§5 under-70 income bands", "description": "two members 4M + 3M = 7M → イ, not ウ",
     "members": [member(kyu_tadashigaki_income=4_000_000.0, limit_category="U", household_id="HH"),
                 member("M2", birth_date="1982-01-01", kyu_tadashigaki_income=3_000_000.0, limit_category="I",
                        household_id="HH")],
     "raises": ["LIMIT_CATEGORY_RULE"], "not_raised": [("M2", "LIMIT_CATEGORY_RULE")]},
    {"trap": "§5 under-70 income bands", "description": "exactly 2,100,000 → エ",
     "members": [member(kyu_tadashigaki_income=2_100_000.0, limit_category="E")], "raises": []},
    {"trap": "§5 under-70 income bands", "description": "2,100,001 → ウ, so エ is wrong",
     "members": [member(kyu_tadashigaki_income=2_100_001.0, limit_category="E")], "raises": ["LIMIT_CATEGORY_RULE"]},
    {"trap": "§5 under-70 income bands", "description": "every member exempt from 住民税 → オ",
     "members": [member(kyu_tadashigaki_income=0.0, taxable_income=0.0, resident_tax_exempt=True, limit_category="O")],
     "raises": []},

    # §2b one problem, one finding.
    {"trap": "§2b one problem, one finding", "description": "70–74 at 30%, no income, 一般: the ratio only",
     "members": [elderly("1954-03-10", 30, "IP")], "raises": ["BURDEN_RATIO_RULE"], "not_raised": ["LIMIT_CATEGORY_RULE"]},
    {"trap": "§2b one problem, one finding", "description": "same, tax-exempt status unknown: still the ratio only",
     "members": [elderly("1954-03-10", 30, "IP", resident_tax_exempt=None)],
     "raises": ["BURDEN_RATIO_RULE"], "not_raised": ["LIMIT_CATEGORY_RULE"]},
    {"trap": "§2b one problem, one finding", "description": "70–74 at 30% with 現役並みⅠ but no income: one finding (the ratio)",
     "members": [elderly("1954-03-10", 30, "G1")], "raises": ["BURDEN_RATIO_RULE"], "not_raised": ["LIMIT_CATEGORY_RULE"]},
    {"trap": "§2b one problem, one finding", "description": "born in 2099: impossible dates, no age verdicts",
     "members": [member(birth_date="2099-01-01", burden_ratio=30, limit_category="U")],
     "raises": ["QUAL_DATE_INVALID"], "not_raised": ["BURDEN_RATIO_RULE", "LIMIT_CATEGORY_RULE"]},
    {"trap": "§2b one problem, one finding", "description": "born after as_of with a 70+ category: only the date finding",
     "members": [member(birth_date="2027-01-01", burden_ratio=20, limit_category="IP")],
     "raises": ["QUAL_DATE_INVALID"]},
    {"trap": "§2b one problem, one finding", "description": "acquired before birth: only the date finding",
     "members": [elderly("1954-03-10", 30, "IP", acquisition_date="1950-04-01")], "raises": ["QUAL_DATE_INVALID"]},
    {"trap": "§2b one problem, one finding", "description": "born 2099 at 国保 'past 75' of nobody: no age-limit finding",
     "members": [member(birth_date="2099-05-01", acquisition_date="2020-04-01")],
     "raises": ["QUAL_DATE_INVALID"], "not_raised": ["QUAL_ACTIVE_PAST_AGE_LIMIT"]},

    {"trap": "§2b one problem, one finding", "description": "acquisition and issue date after as_of with an earlier move-in: only the date finding",
     "members": [member(acquisition_date="2026-12-01", card_issue_date="2026-12-01")],
     "residents": [{"moved_in_date": "2026-10-01"}], "raises": ["QUAL_DATE_INVALID"],
     "not_raised": ["QUAL_DATE_IS_ISSUE_DATE"]},

    # §4–5 insurer vs online copy on as_of (the clinic charges by the online copy).
    {"trap": "§4–5 insurer vs online copy", "description": "ratio 30% at the insurer, 20% online",
     "members": [member()], "oqs": [{"burden_ratio": 20}], "raises": ["BURDEN_RATIO_OQS_MISMATCH"]},
    {"trap": "§4–5 insurer vs online copy", "description": "the same ratio and category online: clean",
     "members": [member()], "oqs": [{}], "raises": []},
    {"trap": "§4–5 insurer vs online copy", "description": "70–74 at a right 20%, online still 30%: the copy is wrong, not the ratio",
     "members": [elderly("1954-03-10", 20, "IP")], "oqs": [{"burden_ratio": 30, "limit_category": "IP",
                                                            "birth_date": "1954-03-10"}],
     "raises": ["BURDEN_RATIO_OQS_MISMATCH"], "not_raised": ["BURDEN_RATIO_RULE"]},
    {"trap": "§4–5 insurer vs online copy", "description": "a member lost before as_of is not compared on as_of",
     "members": [member(loss_date="2026-09-30", loss_reason="1")],
     "oqs": [{"burden_ratio": 20, "limit_category": "A", "loss_date": "2026-09-30"}], "raises": []},
    {"trap": "§4–5 insurer vs online copy", "description": "a member missing from the online copy: no comparison",
     "members": [member(), member("M2")], "oqs": [{"member_id": "M2", "number": NUMBERS["M2"]}],
     "raises": []},
    {"trap": "§4–5 insurer vs online copy", "description": "category ウ at the insurer, ア online",
     "members": [member()], "oqs": [{"limit_category": "A"}],
     "raises": ["LIMIT_CATEGORY_OQS_MISMATCH"], "severity": {"LIMIT_CATEGORY_OQS_MISMATCH": "high"}},
    {"trap": "§4–5 insurer vs online copy", "description": "一般 at the insurer, 現役並みⅠ online",
     "members": [elderly("1954-03-10", 20, "IP")], "oqs": [{"burden_ratio": 20, "limit_category": "G1",
                                                            "birth_date": "1954-03-10"}],
     "raises": ["LIMIT_CATEGORY_OQS_MISMATCH"], "not_raised": ["LIMIT_CATEGORY_RULE"]},
    {"trap": "§4–5 insurer vs online copy", "description": "the online copy lacks the category for one member only: soft",
     "members": [member(), member("M2")], "oqs": [{"limit_category": None}, {"member_id": "M2", "number": NUMBERS["M2"]}],
     "raises": ["LIMIT_CATEGORY_OQS_MISMATCH"], "severity": {"LIMIT_CATEGORY_OQS_MISMATCH": "medium"}},
    {"trap": "§4–5 insurer vs online copy", "description": "ratio and category both differ: two facts, two findings",
     "members": [member()], "oqs": [{"burden_ratio": 20, "limit_category": "E"}],
     "raises": ["BURDEN_RATIO_OQS_MISMATCH", "LIMIT_CATEGORY_OQS_MISMATCH"]},

    # Feed drift: a feed's statistics against the insurer's earlier feeds (feed-level: member "").
    {"trap": "feed drift against earlier feeds", "description": "six quiet earlier feeds: no finding",
     "members": [member(f"M{i}") for i in range(1, 4)], "history": {"feeds": 6}, "rules": ["FEED_DRIFT"],
     "not_raised": [("", "FEED_DRIFT")]},
    {"trap": "feed drift against earlier feeds", "description": "the 30% share was 40 points lower in six earlier feeds",
     "members": [member(f"M{i}") for i in range(1, 4)], "history": {"feeds": 6, "shift": {"burden_ratio_share:30": 0.4}},
     "rules": ["FEED_DRIFT"], "raises": [("", "FEED_DRIFT")]},
    {"trap": "feed drift against earlier feeds", "description": "the same shift with two earlier feeds: history too short",
     "members": [member(f"M{i}") for i in range(1, 4)], "history": {"feeds": 2, "shift": {"burden_ratio_share:30": 0.4}},
     "rules": ["FEED_DRIFT"], "not_raised": [("", "FEED_DRIFT")]},
    {"trap": "feed drift against earlier feeds", "description": "a re-scan of the same feed is not its own history",
     "members": [member(f"M{i}") for i in range(1, 4)],
     "history": {"feeds": 6, "shift": {"burden_ratio_share:30": 0.4}, "same_as_of": True},
     "rules": ["FEED_DRIFT"], "not_raised": [("", "FEED_DRIFT")]},
    {"trap": "feed drift against earlier feeds", "description": "one member more than before (a count moving by 1): no finding",
     "members": [member(f"M{i}") for i in range(1, 4)], "history": {"feeds": 6, "shift": {"members": 1.0}},
     "rules": ["FEED_DRIFT"], "not_raised": [("", "FEED_DRIFT")]},

    # §6 資格適用日 = 交付日.
    {"trap": "§6 資格適用日 = 交付日", "description": "acquisition = issue date after an earlier move-in",
     "members": [member(acquisition_date="2025-05-15", card_issue_date="2025-05-15")],
     "residents": [{"moved_in_date": "2025-04-20"}], "raises": ["QUAL_DATE_IS_ISSUE_DATE"],
     "severity": {"QUAL_DATE_IS_ISSUE_DATE": "high"},
     "evidence": {"QUAL_DATE_IS_ISSUE_DATE": {"proposed_acquisition_date": "2025-04-20"}}},
    {"trap": "§6 資格適用日 = 交付日", "description": "acquisition = move-in, card issued later: right",
     "members": [member(acquisition_date="2025-04-20", card_issue_date="2025-05-15")],
     "residents": [{"moved_in_date": "2025-04-20"}], "raises": []},
    {"trap": "§6 資格適用日 = 交付日", "description": "acquisition = issue = move-in: right",
     "members": [member(acquisition_date="2025-04-20", card_issue_date="2025-04-20")],
     "residents": [{"moved_in_date": "2025-04-20"}], "raises": []},
    {"trap": "§6 資格適用日 = 交付日", "description": "a newborn whose acquisition is the issue date: the birth is earlier",
     "members": [member(birth_date="2024-06-10", acquisition_date="2024-07-01", card_issue_date="2024-07-01",
                        burden_ratio=20)],
     "residents": [{"moved_in_date": None}], "raises": ["QUAL_DATE_IS_ISSUE_DATE"],
     "evidence": {"QUAL_DATE_IS_ISSUE_DATE": {"trigger": "birth", "proposed_acquisition_date": "2024-06-10"}}},
    {"trap": "§6 資格適用日 = 交付日", "description": "a last-four-only member: judged on the resolved resident",
     "members": [last4_only(member(acquisition_date="2025-05-15", card_issue_date="2025-05-15"))],
     "residents": [{"moved_in_date": "2025-04-20"}], "raises": ["QUAL_DATE_IS_ISSUE_DATE"]},
    {"trap": "§6 資格適用日 = 交付日", "description": "born 2099 with acquisition = issue date: only the date finding",
     "members": [member(birth_date="2099-01-01", acquisition_date="2025-05-15", card_issue_date="2025-05-15")],
     "residents": [{"moved_in_date": "2025-04-20"}], "raises": ["QUAL_DATE_INVALID"],
     "not_raised": ["QUAL_DATE_IS_ISSUE_DATE"]},

    {"trap": "§6 資格適用日 = 交付日", "description": "moved in after the acquisition (acquisition = issue date): nothing earlier, clean",
     "members": [member(acquisition_date="2025-05-15", card_issue_date="2025-05-15")],
     "residents": [{"moved_in_date": "2025-06-01"}], "raises": []},

    # §6 無資格者 / loss not linked to the online copy.
    {"trap": "§6 loss not linked", "description": "insurer lost the member, the online copy still active",
     "members": [member(loss_date="2026-09-30", loss_reason="1")], "oqs": [{}],
     "raises": ["QUAL_LOSS_NOT_LINKED"], "not_raised": ["QUAL_DATE_OQS_MISMATCH"]},
    {"trap": "§6 loss not linked", "description": "both sides lost on the same day: clean",
     "members": [member(loss_date="2026-09-30", loss_reason="1")], "oqs": [{"loss_date": "2026-09-30"}], "raises": []},
    {"trap": "§6 loss not linked", "description": "online copy lost, insurer active: shown uninsured at the counter",
     "members": [member()], "oqs": [{"loss_date": "2026-09-30"}],
     "raises": ["QUAL_DATE_OQS_MISMATCH"], "not_raised": ["QUAL_LOSS_NOT_LINKED"],
     "severity": {"QUAL_DATE_OQS_MISMATCH": "high"}},
    {"trap": "§6 loss not linked", "description": "both lost on different days: a date mismatch, not an unlinked loss",
     "members": [member(loss_date="2026-09-30", loss_reason="1")], "oqs": [{"loss_date": "2026-10-15"}],
     "raises": ["QUAL_DATE_OQS_MISMATCH"], "not_raised": ["QUAL_LOSS_NOT_LINKED"],
     "severity": {"QUAL_DATE_OQS_MISMATCH": "medium"}},
    {"trap": "§6 loss not linked", "description": "a lost member whose online copy is also lost earlier elsewhere: the loss dates differ",
     "members": [member(loss_date="2026-06-01", loss_reason="3")], "oqs": [{"loss_date": "2026-05-01"}],
     "raises": ["QUAL_DATE_OQS_MISMATCH"], "not_raised": ["QUAL_LOSS_NOT_LINKED"]},

    # §6 active after death / move-out: loss due the day after (the day itself accepted).
    {"trap": "§6 active after death or move-out", "description": "died in June, still active",
     "members": [member()], "residents": [{"status": "deceased", "status_date": "2026-06-10"}],
     "raises": ["QUAL_ACTIVE_AFTER_EXIT"], "severity": {"QUAL_ACTIVE_AFTER_EXIT": "high"}},
    {"trap": "§6 active after death or move-out", "description": "lost the day after death: right",
     "members": [member(loss_date="2026-06-11", loss_reason="2")],
     "residents": [{"status": "deceased", "status_date": "2026-06-10"}], "raises": []},
    {"trap": "§6 active after death or move-out", "description": "lost on the day of death: accepted",
     "members": [member(loss_date="2026-06-10", loss_reason="2")],
     "residents": [{"status": "deceased", "status_date": "2026-06-10"}], "raises": []},
    {"trap": "§6 active after death or move-out", "description": "lost a month after death: late",
     "members": [member(loss_date="2026-07-10", loss_reason="2")],
     "residents": [{"status": "deceased", "status_date": "2026-06-10"}],
     "raises": ["QUAL_ACTIVE_AFTER_EXIT"], "severity": {"QUAL_ACTIVE_AFTER_EXIT": "medium"}},
    {"trap": "§6 active after death or move-out", "description": "moved out in September, 国保 still active",
     "members": [member()], "residents": [{"status": "moved_out", "status_date": "2026-09-30"}],
     "raises": ["QUAL_ACTIVE_AFTER_EXIT"]},
    {"trap": "§6 active after death or move-out", "description": "moved out, lost on the move-out day: right",
     "members": [member(loss_date="2026-09-30", loss_reason="1")],
     "residents": [{"status": "moved_out", "status_date": "2026-09-30"}], "raises": []},
    {"trap": "§6 active after death or move-out", "description": "moved out: employee insurance does not end with the address",
     "members": [member(insurer_number="06130012", insurer_type="employee")],
     "residents": [{"status": "moved_out", "status_date": "2026-09-30"}], "raises": []},
    {"trap": "§6 active after death or move-out", "description": "a last-four-only member whose resolved resident died",
     "members": [last4_only(member())], "residents": [{"status": "deceased", "status_date": "2026-06-10"}],
     "raises": ["QUAL_ACTIVE_AFTER_EXIT"]},
    {"trap": "§6 active after death or move-out", "description": "lost for another reason before the death: clean",
     "members": [member(loss_date="2026-03-01", loss_reason="3")],
     "residents": [{"status": "deceased", "status_date": "2026-06-10"}], "raises": []},
    {"trap": "§6 active after death or move-out", "description": "born 2099 and the resident died: only the date finding",
     "members": [member(birth_date="2099-01-01")], "residents": [{"status": "deceased", "status_date": "2026-06-10"}],
     "raises": ["QUAL_DATE_INVALID"], "not_raised": ["QUAL_ACTIVE_AFTER_EXIT"]},

    # §4 75: 国保 lost the day after the 75th birthday (the birthday itself accepted).
    {"trap": "§4 past 75: birthday vs day after", "description": "75 on Oct 31: still active on Nov 1 (the day after) is not flagged yet",
     "members": [elderly("1951-10-31", 20)], "raises": []},
    {"trap": "§4 past 75: birthday vs day after", "description": "75 on Oct 31: still active on Nov 2",
     "members": [elderly("1951-10-31", 20)], "as_of": "2026-11-02",
     "raises": ["QUAL_ACTIVE_PAST_AGE_LIMIT"], "severity": {"QUAL_ACTIVE_PAST_AGE_LIMIT": "high"}},
    {"trap": "§4 past 75: birthday vs day after", "description": "lost on the 75th birthday: accepted",
     "members": [elderly("1951-10-31", 20, loss_date="2026-10-31", loss_reason="4")], "as_of": "2026-11-05", "raises": []},
    {"trap": "§4 past 75: birthday vs day after", "description": "lost the day after the 75th birthday: right",
     "members": [elderly("1951-10-31", 20, loss_date="2026-11-01", loss_reason="4")], "as_of": "2026-11-05", "raises": []},
    {"trap": "§4 past 75: birthday vs day after", "description": "lost two weeks after the birthday: late",
     "members": [elderly("1951-10-31", 20, loss_date="2026-11-15", loss_reason="4")], "as_of": "2026-11-20",
     "raises": ["QUAL_ACTIVE_PAST_AGE_LIMIT"], "severity": {"QUAL_ACTIVE_PAST_AGE_LIMIT": "medium"}},
    {"trap": "§4 past 75: birthday vs day after", "description": "国保組合 is under 国保法 too",
     "members": [elderly("1950-02-10", 20, insurer_number="01130012", insurer_type="kumiai")],
     "raises": ["QUAL_ACTIVE_PAST_AGE_LIMIT"], "not_raised": ["LIMIT_CATEGORY_RULE", "BURDEN_RATIO_RULE"]},
    {"trap": "§4 past 75: birthday vs day after", "description": "employee insurance at 76 is not this rule",
     "members": [elderly("1950-02-10", 30, "IP", insurer_number="06130012", insurer_type="employee")],
     "not_raised": ["QUAL_ACTIVE_PAST_AGE_LIMIT"], "only": False},

    {"trap": "§4 past 75: birthday vs day after", "description": "joined 国保 at 76 and active: past the age limit all the same",
     "members": [elderly("1950-02-10", 20, acquisition_date="2026-09-01", card_issue_date="2026-09-01")],
     "raises": ["QUAL_ACTIVE_PAST_AGE_LIMIT"]},
    {"trap": "§4 past 75: birthday vs day after", "description": "後期 at 80 is where a 75+ person belongs",
     "members": [elderly("1946-02-10", 10, insurer_number="39131016", insurer_type="kouki")], "raises": []},

    # §6 overlaps: one person, two active qualifications; legal one-day overlaps accepted.
    {"trap": "§6 overlaps and legal one-day overlaps", "description": "国保 → employee insurance, lost the day after: legal",
     "members": overlap_pair({"acquisition_date": "2012-04-01", "loss_date": "2020-04-02", "loss_reason": "3"},
                             {"insurer_number": "06130012", "insurer_type": "employee", "acquisition_date": "2020-04-01"}),
     "raises": []},
    {"trap": "§6 overlaps and legal one-day overlaps", "description": "国保 → employee insurance, lost two days late",
     "members": overlap_pair({"acquisition_date": "2012-04-01", "loss_date": "2020-04-03", "loss_reason": "3"},
                             {"insurer_number": "06130012", "insurer_type": "employee", "acquisition_date": "2020-04-01"}),
     "raises": ["QUAL_OVERLAP", ("M2", "QUAL_OVERLAP")], "severity": {"QUAL_OVERLAP": "medium"}},
    {"trap": "§6 overlaps and legal one-day overlaps", "description": "国保 → 後期 on the 75th birthday, lost the day after: legal",
     "members": [elderly("1951-06-15", 20, acquisition_date="2010-04-01", loss_date="2026-06-16", loss_reason="4"),
                 elderly("1951-06-15", 10, member_id="M2", insurer_number="39131016", insurer_type="kouki",
                         acquisition_date="2026-06-15", number=NUMBERS["M1"], name_kanji=NAMES[1][0],
                         name_kana=NAMES[1][1], household_id="HM1")],
     "raises": []},
    {"trap": "§6 overlaps and legal one-day overlaps", "description": "an old 国保 record left valid, the second acquired years later",
     "members": overlap_pair({"acquisition_date": "2012-04-01"}, {"member_id": "M2", "acquisition_date": "2019-10-01"}),
     "raises": ["QUAL_OVERLAP", ("M2", "QUAL_OVERLAP")], "severity": {"QUAL_OVERLAP": "high"}},
    {"trap": "§6 overlaps and legal one-day overlaps", "description": "the two records sit in two insurers of one feed",
     "members": overlap_pair({"acquisition_date": "2012-04-01"},
                             {"insurer_number": "01130012", "insurer_type": "kumiai", "acquisition_date": "2018-04-01"}),
     "raises": ["QUAL_OVERLAP", ("M2", "QUAL_OVERLAP")]},
    {"trap": "§6 overlaps and legal one-day overlaps", "description": "the second record carries only the last four digits",
     "members": [overlap_pair({"acquisition_date": "2012-04-01"}, {"acquisition_date": "2019-10-01"})[0],
                 last4_only(overlap_pair({}, {"acquisition_date": "2019-10-01"})[1])],
     "raises": ["QUAL_OVERLAP", ("M2", "QUAL_OVERLAP")]},
    {"trap": "§6 overlaps and legal one-day overlaps", "description": "the second record in half-width kana and a full-width space",
     "members": overlap_pair({"acquisition_date": "2012-04-01"},
                             {"acquisition_date": "2019-10-01", "name_kana": "ｽｽﾞｷ ﾊﾅｺ", "name_kanji": "鈴木\u3000花子"}),
     "raises": ["QUAL_OVERLAP", ("M2", "QUAL_OVERLAP")]},
    {"trap": "§6 overlaps and legal one-day overlaps",
     "description": "a stranger with the same name, birth date and sex on the number (another resident): a mis-link, no overlap",
     "members": overlap_pair({"acquisition_date": "2012-04-01"},
                             {"acquisition_date": "2019-10-01", "household_id": "HX", "address": "大阪府大阪市北区梅田3-3"}),
     "residents": [{}, {"resident_id": "RX", "number": NUMBERS["M2"], "household_id": "HX",
                        "address": "大阪府大阪市北区梅田3-3", "municipality_code": "271276"}],
     "not_raised": ["QUAL_OVERLAP", ("M2", "QUAL_OVERLAP")]},
    {"trap": "§6 overlaps and legal one-day overlaps",
     "description": "twins given the same name, both in the registry, one number on both records: not an overlap",
     "members": overlap_pair({"acquisition_date": "2014-02-01", "birth_date": "2014-02-01", "burden_ratio": 30},
                             {"acquisition_date": "2014-02-01", "birth_date": "2014-02-01", "burden_ratio": 30}),
     "residents": [{"birth_date": "2014-02-01", "moved_in_date": "2014-02-01"},
                   {"resident_id": "RT", "number": NUMBERS["M2"], "birth_date": "2014-02-01",
                    "moved_in_date": "2014-02-01"}],
     "not_raised": ["QUAL_OVERLAP", ("M2", "QUAL_OVERLAP")], "only": False},
    {"trap": "§6 overlaps and legal one-day overlaps", "description": "twins on one number are not one person: no overlap",
     "members": overlap_pair({"acquisition_date": "2012-04-01", "name_kanji": "鈴木 花子", "name_kana": "スズキ ハナコ"},
                             {"acquisition_date": "2012-04-01", "name_kanji": "鈴木 桃子", "name_kana": "スズキ モモコ"}),
     "not_raised": ["QUAL_OVERLAP", ("M2", "QUAL_OVERLAP")], "only": False},
    {"trap": "§6 overlaps and legal one-day overlaps", "description": "国保 → 国保 after a move, lost on the move-in day: no overlap",
     "members": overlap_pair({"acquisition_date": "2012-04-01", "loss_date": "2021-07-01", "loss_reason": "1"},
                             {"insurer_number": "131024", "acquisition_date": "2021-07-01"}),
     "raises": []},

    # §8 資格確認書: a valid one covers the member, whenever it was issued.
    {"trap": "§8 資格確認書 validity", "description": "not registered, one issued a year ago (valid 5 years): nothing needed",
     "members": [member()], "card_status": [{"registered": False, "kakuninsho_issued_date": "2025-10-01"}], "raises": []},
    {"trap": "§8 資格確認書 validity", "description": "not registered, the latest one expired yesterday",
     "members": [member()], "card_status": [{"registered": False, "kakuninsho_issued_date": "2025-11-01",
                                             "kakuninsho_valid_until": "2026-10-31"}],
     "raises": ["KAKUNINSHO_NOT_ISSUED"], "severity": {"KAKUNINSHO_NOT_ISSUED": "medium"}},
    {"trap": "§8 資格確認書 validity", "description": "valid until as_of itself: still valid",
     "members": [member()], "card_status": [{"registered": False, "kakuninsho_issued_date": "2025-11-02",
                                             "kakuninsho_valid_until": "2026-11-01"}], "raises": []},
    {"trap": "§8 資格確認書 validity", "description": "cancellation code 2 with a certificate running to 2027, 資格確認書 valid to 2031",
     "members": [member()], "card_status": [{"cancellation_code": "2", "ecert_expiry_date": "2027-03-10",
                                             "kakuninsho_issued_date": "2026-04-01",
                                             "kakuninsho_valid_until": "2031-03-31"}], "raises": []},
    {"trap": "§8 資格確認書 validity", "description": "card returned after the 資格確認書 was issued, which is still valid",
     "members": [member()], "card_status": [{"card_returned_date": "2026-10-15", "kakuninsho_issued_date": "2025-12-01"}],
     "raises": []},
    {"trap": "§8 資格確認書 validity", "description": "viewing restricted, none issued",
     "members": [member()], "card_status": [{"self_info_restricted": True}],
     "raises": ["KAKUNINSHO_NOT_ISSUED"], "severity": {"KAKUNINSHO_NOT_ISSUED": "high"}},
    {"trap": "§8 資格確認書 validity", "description": "asked for one, the last issued 5½ years ago without a valid-until: expired",
     "members": [member()], "card_status": [{"kakuninsho_requested": True, "kakuninsho_issued_date": "2021-05-01"}],
     "raises": ["KAKUNINSHO_NOT_ISSUED"], "severity": {"KAKUNINSHO_NOT_ISSUED": "medium"}},
    {"trap": "§8 資格確認書 validity", "description": "a new member given one at enrolment (valid one year)",
     "members": [member(acquisition_date="2026-06-01", card_issue_date="2026-06-01")],
     "residents": [{"moved_in_date": "2026-06-01"}],
     "card_status": [{"registered": False, "kakuninsho_issued_date": "2026-06-01", "kakuninsho_valid_until": "2027-05-31"}],
     "raises": []},
    {"trap": "§8 資格確認書 validity", "description": "registered, nothing else: not a target",
     "members": [member()], "card_status": [{}], "raises": []},
    {"trap": "§8 資格確認書 validity", "description": "registration cancelled on request (code 1), none issued",
     "members": [member()], "card_status": [{"cancellation_code": "1"}], "raises": ["KAKUNINSHO_NOT_ISSUED"]},

    {"trap": "§8 資格確認書 validity", "description": "後期 issues to everyone until July 2026: none issued is a finding",
     "members": [elderly("1946-02-10", 10, insurer_number="39131016", insurer_type="kouki")], "card_status": [{}],
     "as_of": "2026-07-01", "raises": ["KAKUNINSHO_NOT_ISSUED"]},
    {"trap": "§8 資格確認書 validity", "description": "後期 in July 2026 with a valid one: nothing needed",
     "members": [elderly("1946-02-10", 10, insurer_number="39131016", insurer_type="kouki")],
     "card_status": [{"kakuninsho_issued_date": "2025-07-20", "kakuninsho_valid_until": "2026-07-31"}],
     "as_of": "2026-07-01", "raises": []},
    {"trap": "§8 資格確認書 validity", "description": "valid-until given without an issue date: still valid",
     "members": [member()], "card_status": [{"registered": False, "kakuninsho_valid_until": "2027-03-31"}], "raises": []},
    {"trap": "§8 資格確認書 validity", "description": "an old paper card covers a member enrolled before 2024-12-02 until 2025-12-01",
     "members": [member()], "card_status": [{"registered": False, "status_as_of": "2025-09-30"}], "as_of": "2025-11-01",
     "raises": []},

    # §8 the national file lags: registration and certificate judged on status_as_of.
    {"trap": "§8 lagging status_as_of", "description": "certificate grace runs to Sep 30, the file is as of Sep 30: not yet a target",
     "members": [member()], "card_status": [{"ecert_expiry_date": "2026-06-15", "status_as_of": "2026-09-30"}],
     "raises": []},
    {"trap": "§8 lagging status_as_of", "description": "grace over on status_as_of, none issued: a target",
     "members": [member()], "card_status": [{"ecert_expiry_date": "2026-05-20", "status_as_of": "2026-09-30"}],
     "raises": ["KAKUNINSHO_NOT_ISSUED"], "evidence": {"KAKUNINSHO_NOT_ISSUED": {"status_as_of": "2026-09-30",
                                                                                "status_lag_days": 32}}},
    {"trap": "§8 lagging status_as_of", "description": "grace ends on the file's own date: not yet",
     "members": [member()], "card_status": [{"ecert_expiry_date": "2026-05-20", "status_as_of": "2026-08-31"}],
     "raises": []},
    {"trap": "§8 lagging status_as_of", "description": "not registered in a file two month-ends old: the evidence says so",
     "members": [member()], "card_status": [{"registered": False, "status_as_of": "2026-08-31"}],
     "raises": ["KAKUNINSHO_NOT_ISSUED"], "evidence": {"KAKUNINSHO_NOT_ISSUED": {"status_as_of": "2026-08-31",
                                                                                "status_lag_days": 62}}},
    {"trap": "§8 lagging status_as_of", "description": "card returned although the lagging file still shows it registered",
     "members": [member()], "card_status": [{"registered": True, "card_returned_date": "2026-10-15"}],
     "raises": ["KAKUNINSHO_NOT_ISSUED"]},

    # §7 the history revert dropped online.
    {"trap": "§7 history revert", "description": "20% → 30% → 20%: online kept 30%",
     "members": [member()], "benefit_history": [
         {"source": "insurer", "value": "20", "valid_from": "2023-08-01", "valid_to": "2024-07-31"},
         {"source": "insurer", "value": "30", "valid_from": "2024-08-01", "valid_to": "2025-07-31"},
         {"source": "insurer", "value": "20", "valid_from": "2025-08-01"},
         {"source": "oqs", "value": "20", "valid_from": "2023-08-01", "valid_to": "2024-07-31"},
         {"source": "oqs", "value": "30", "valid_from": "2024-08-01"}], "rules": ["BENEFIT_HISTORY_DIVERGENCE"],
     "raises": ["BENEFIT_HISTORY_DIVERGENCE"]},
    {"trap": "§7 history revert", "description": "the same three periods online: clean",
     "members": [member()], "benefit_history": [
         {"source": s, "value": v, "valid_from": f, "valid_to": t} for s in ("insurer", "oqs")
         for v, f, t in (("20", "2023-08-01", "2024-07-31"), ("30", "2024-08-01", "2025-07-31"), ("20", "2025-08-01", None))],
     "rules": ["BENEFIT_HISTORY_DIVERGENCE"], "raises": []},
    {"trap": "§7 history revert", "description": "online splits one period in two with the same value: clean",
     "members": [member()], "benefit_history": [
         {"source": "insurer", "value": "30", "valid_from": "2023-08-01"},
         {"source": "oqs", "value": "30", "valid_from": "2023-08-01", "valid_to": "2024-07-31"},
         {"source": "oqs", "value": "30", "valid_from": "2024-08-01"}], "rules": ["BENEFIT_HISTORY_DIVERGENCE"],
     "raises": []},
    {"trap": "§7 history revert", "description": "online history starts later with the same values: clean",
     "members": [member()], "benefit_history": [
         {"source": "insurer", "value": "20", "valid_from": "2023-08-01", "valid_to": "2024-07-31"},
         {"source": "insurer", "value": "30", "valid_from": "2024-08-01"},
         {"source": "oqs", "value": "30", "valid_from": "2024-08-01"}], "rules": ["BENEFIT_HISTORY_DIVERGENCE"],
     "raises": []},
    {"trap": "§7 history revert", "description": "limit category 一般 → 現役並みⅠ → 一般: online kept 現役並みⅠ",
     "members": [member()], "benefit_history": [
         {"source": "insurer", "item": "limit_category", "value": "IP", "valid_from": "2023-08-01", "valid_to": "2024-07-31"},
         {"source": "insurer", "item": "limit_category", "value": "G1", "valid_from": "2024-08-01", "valid_to": "2025-07-31"},
         {"source": "insurer", "item": "limit_category", "value": "IP", "valid_from": "2025-08-01"},
         {"source": "oqs", "item": "limit_category", "value": "IP", "valid_from": "2023-08-01", "valid_to": "2024-07-31"},
         {"source": "oqs", "item": "limit_category", "value": "G1", "valid_from": "2024-08-01"}],
     "rules": ["BENEFIT_HISTORY_DIVERGENCE"], "raises": ["BENEFIT_HISTORY_DIVERGENCE"]},
]


# --- running a row --------------------------------------------------------------------------
def _pairs(items, default_member: str = "M1") -> set[tuple[str, str]]:
    return {(i if isinstance(i, tuple) else (default_member, i)) for i in items}


def frames_of(case: dict[str, Any]) -> dict[str, pd.DataFrame]:
    members = [dict(m) for m in case["members"]]
    frames = {"members": members_frame(members)}
    if "residents" not in case and case["trap"].startswith("§6 overlaps"):
        case = {**case, "residents": [{}]}   # QUAL_OVERLAP reads the member's resident
    if "residents" in case:
        first = members[0]
        frames["residents"] = residents_frame([resident_of(dict(first), **r) for r in case["residents"]])
    for name, build in (("oqs", oqs_frame), ("card_status", card_status_frame),
                        ("benefit_history", benefit_history_frame)):
        if name in case:
            owner = {"member_id": members[0]["member_id"], "insurer_number": members[0].get("insurer_number", "131016")}
            rows = [{**owner, **r} for r in case[name]]
            if name == "oqs":
                rows = [{**{k: v for k, v in members[0].items() if k in ("number",)}, **r} for r in rows]
            frames[name] = build(rows)
    return frames


def feed_history(frames: dict[str, pd.DataFrame], as_of: pd.Timestamp, feeds: int,
                 shift: dict[str, float] | None = None, same_as_of: bool = False) -> pd.DataFrame:
    """Earlier feeds' statistics: this feed's own, less ``shift`` per statistic, one per month back."""
    from detectors.stats import feed_stats

    stats = feed_stats(frames, as_of)
    moved = stats["statistic"].map(shift or {}).fillna(0.0).to_numpy()
    rows = []
    for back in range(1, feeds + 1):
        month = as_of if same_as_of else as_of - pd.DateOffset(months=back)
        rows.append(stats.assign(scan_id=f"s{back}", as_of=month, period=f"{month:%Y-%m}", value=stats["value"] - moved))
    return pd.concat(rows, ignore_index=True)


def run_case(case: dict[str, Any]) -> pd.DataFrame:
    frames = frames_of(case)
    as_of = pd.Timestamp(case.get("as_of", AS_OF))
    rules = case.get("rules") or [r for r in DETECTOR_RULES if all(frames.get(n) is not None for n in RULES[r].requires)]
    history = feed_history(frames, as_of, **case["history"]) if "history" in case else None
    found = run_rules(frames, as_of=as_of, rule_ids=rules, feed_history=history).findings
    return found.assign(member_id=found["member_id"].fillna(""))


def check(case: dict[str, Any], found: pd.DataFrame) -> list[str]:
    """What the row got wrong (empty = the row holds)."""
    got = set(zip(found["member_id"], found["rule_id"]))
    must = _pairs(case.get("raises", []))
    must_not = _pairs(case.get("not_raised", []))
    problems = [f"missing {m}:{r}" for m, r in sorted(must - got)]
    problems += [f"raised {m}:{r} (must not be)" for m, r in sorted(must_not & got)]
    if case.get("only", True):
        members = {m["member_id"] for m in case["members"]}
        extra = {(m, r) for m, r in got if m in members and r in DETECTOR_RULES} - must
        problems += [f"also raised {m}:{r}" for m, r in sorted(extra)]
    for rule_id, severity in case.get("severity", {}).items():
        rows = found[(found["member_id"] == "M1") & (found["rule_id"] == rule_id)]
        if len(rows) and rows["severity"].iloc[0] != severity:
            problems.append(f"{rule_id} severity {rows['severity'].iloc[0]} (expected {severity})")
    for rule_id, expected in case.get("evidence", {}).items():
        rows = found[(found["member_id"] == "M1") & (found["rule_id"] == rule_id)]
        if len(rows):
            evidence = json.loads(rows["evidence"].iloc[0])
            for key, value in expected.items():
                if evidence.get(key) != value:
                    problems.append(f"{rule_id} evidence {key}={evidence.get(key)!r} (expected {value!r})")
    return problems


def test_every_trap_has_at_least_five_rows():
    counts = pd.Series([c["trap"] for c in CASES]).value_counts()
    assert counts.min() >= 5, counts[counts < 5].to_dict()


def _param(case: dict[str, Any]):
    marks = [pytest.mark.xfail(reason=case["xfail"], strict=False)] if case.get("xfail") else []
    return pytest.param(case, id=f"{case['trap']}: {case['description']}", marks=marks)


@pytest.mark.parametrize("case", [_param(c) for c in CASES])
def test_detector_case(case):
    assert check(case, run_case(case)) == []
