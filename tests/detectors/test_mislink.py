"""紐付け誤り・表記ゆれ / MISLINK_SUSPECTED, NOTATION_DIFFERENCE and the refined NUMBER_SHARED, end to end
on small frames: each true mis-link pattern of the domain brief, the notation cases that must not
be queued, and what the evidence holds."""
from __future__ import annotations

import json

import pandas as pd
import pytest

from detectors.engine import run_rules
from tests.factories import members_frame, residents_frame

AS_OF = pd.Timestamp("2026-11-01")
RULES = ["MISLINK_SUSPECTED", "NOTATION_DIFFERENCE", "NUMBER_SHARED"]

# Numbers (12 digits; the factories hash them, the check digit is not what is tested here).
N = {k: f"{i:011d}{i % 10}" for i, k in enumerate(
    ["taro", "hanako", "shota", "kenta", "ichiro", "ichiro_b", "jiro", "sachiko", "typo", "an", "mei", "x1", "x2"], start=1)}

# A small town: the Yamada family (twins 翔太/健太), the Suzuki couple, a single 佐藤 一郎 — and
# another 佐藤 一郎 with the same birth date registered in Osaka; a foreign resident.
TOWN = [
    {"resident_id": "R-TARO", "number": N["taro"], "name_kanji": "山田 太郎", "name_kana": "ヤマダ タロウ",
     "birth_date": "1960-04-01", "sex": 1, "household_id": "H1", "address": "東京都千代田区千代田1-1"},
    {"resident_id": "R-HANAKO", "number": N["hanako"], "name_kanji": "山田 花子", "name_kana": "ヤマダ ハナコ",
     "birth_date": "1962-07-07", "sex": 2, "household_id": "H1", "address": "東京都千代田区千代田1-1"},
    {"resident_id": "R-SHOTA", "number": N["shota"], "name_kanji": "山田 翔太", "name_kana": "ヤマダ ショウタ",
     "birth_date": "2000-02-02", "sex": 1, "household_id": "H1", "address": "東京都千代田区千代田1-1"},
    {"resident_id": "R-KENTA", "number": N["kenta"], "name_kanji": "山田 健太", "name_kana": "ヤマダ ケンタ",
     "birth_date": "2000-02-02", "sex": 1, "household_id": "H1", "address": "東京都千代田区千代田1-1"},
    {"resident_id": "R-ICHIRO", "number": N["ichiro"], "name_kanji": "佐藤 一郎", "name_kana": "サトウ イチロウ",
     "birth_date": "1970-03-03", "sex": 1, "household_id": "H2", "address": "東京都千代田区神田2-2-2"},
    {"resident_id": "R-ICHIRO-OSAKA", "number": N["ichiro_b"], "name_kanji": "佐藤 一郎", "name_kana": "サトウ イチロウ",
     "birth_date": "1970-03-03", "sex": 1, "household_id": "H90", "address": "大阪府大阪市北区梅田3-1-1",
     "municipality_code": "271004"},
    {"resident_id": "R-JIRO", "number": N["jiro"], "name_kanji": "鈴木 次郎", "name_kana": "スズキ ジロウ",
     "birth_date": "1975-05-05", "sex": 1, "household_id": "H3", "address": "東京都千代田区神田3-3-3"},
    {"resident_id": "R-SACHIKO", "number": N["sachiko"], "name_kanji": "鈴木 幸子", "name_kana": "スズキ サチコ",
     "birth_date": "1977-08-08", "sex": 2, "household_id": "H3", "address": "東京都千代田区神田3-3-3",
     "former_surname": "高橋"},
    {"resident_id": "R-TYPO", "number": N["typo"], "name_kanji": "中村 美咲", "name_kana": "ナカムラ ミサキ",
     "birth_date": "1988-11-11", "sex": 2, "household_id": "H91", "address": "神奈川県横浜市西区1-1",
     "municipality_code": "141003"},
    {"resident_id": "R-AN", "number": N["an"], "name_kanji": "NGUYEN VAN AN", "name_alpha": "NGUYEN VAN AN",
     "name_kana": None, "birth_date": "1995-09-09", "sex": 1, "household_id": "H4", "address": "東京都千代田区神田4-4-4"},
    {"resident_id": "R-MEI", "number": N["mei"], "name_kanji": "髙橋 芽衣", "name_kana": "タカハシ メイ",
     "birth_date": "1990-12-12", "sex": 2, "household_id": "H5", "address": "東京都千代田区神田5-5-5"},
]


def member(member_id: str, resident: str, number: str | None = None, household: str | None = None, **changes) -> dict:
    base = next(r for r in TOWN if r["resident_id"] == resident)
    row = {k: v for k, v in base.items() if k in ("name_kanji", "name_kana", "name_alpha", "birth_date", "sex", "address")}
    row.update({"member_id": member_id, "number": number or base["number"],
                "household_id": household or base["household_id"]})
    row.update(changes)
    return row


def scan(members: list[dict], residents: list[dict] = TOWN, settings: dict | None = None) -> pd.DataFrame:
    frames = {"members": members_frame(members), "residents": residents_frame(residents)}
    return run_rules(frames, as_of=AS_OF, settings=settings, rule_ids=RULES).findings


def by_rule(findings: pd.DataFrame, rule_id: str) -> pd.DataFrame:
    return findings[findings["rule_id"] == rule_id].set_index("member_id").sort_index()


CLEAN = [member("M-TARO", "R-TARO"), member("M-HANAKO", "R-HANAKO"), member("M-ICHIRO", "R-ICHIRO"),
         member("M-JIRO", "R-JIRO"), member("M-SACHIKO", "R-SACHIKO"), member("M-MEI", "R-MEI")]


def test_clean_town_raises_nothing():
    assert scan(CLEAN).empty


def test_twin_holding_the_twins_number():
    findings = scan([*CLEAN, member("M-SHOTA", "R-SHOTA"), member("M-KENTA", "R-KENTA", number=N["shota"])])
    # One number, two different persons: NUMBER_SHARED on the holder who is not the number's
    # resident only, suggesting the right resident; no separate MISLINK_SUSPECTED (§2b).
    assert by_rule(findings, "MISLINK_SUSPECTED").empty
    shared = by_rule(findings, "NUMBER_SHARED")
    assert list(shared.index) == ["M-KENTA"]
    row = shared.loc["M-KENTA"]
    assert (row["suggested_resident_id"], row["suggested_individual_number_last4"]) == ("R-KENTA", N["kenta"][-4:])
    assert row["severity"] == "high"
    assert "R-KENTA" in row["summary_ja"]
    evidence = json.loads(row["evidence"])
    assert evidence["number_resident_id"] == "R-SHOTA"
    assert [c["member"] for c in evidence["compared"]] == ["131016:M-SHOTA"]


def test_twin_holding_the_twins_number_while_the_twin_is_not_insured_here():
    findings = scan([*CLEAN, member("M-KENTA", "R-KENTA", number=N["shota"])])
    mislink = by_rule(findings, "MISLINK_SUSPECTED")
    assert list(mislink.index) == ["M-KENTA"]
    row = mislink.loc["M-KENTA"]
    assert (row["suggested_resident_id"], row["suggested_individual_number_last4"]) == ("R-KENTA", N["kenta"][-4:])
    evidence = json.loads(row["evidence"])
    assert evidence["pattern"] == "twin"
    assert evidence["linked_resident_id"] == "R-SHOTA"
    assert evidence["linked"]["name_kanji"]["level"] == "given_differs"
    assert "双子" in row["summary_ja"] and "twin" in row["summary_en"]


WITHOUT_HANAKO = [m for m in CLEAN if m["member_id"] != "M-HANAKO"]


def test_family_members_number():
    # 花子 is not insured here (employer insurance), so her number is held once: a mis-link.
    findings = scan([*WITHOUT_HANAKO, member("M-SHOTA", "R-SHOTA", number=N["hanako"])])
    mislink = by_rule(findings, "MISLINK_SUSPECTED")
    assert list(mislink.index) == ["M-SHOTA"]
    assert mislink.loc["M-SHOTA", "suggested_resident_id"] == "R-SHOTA"
    assert json.loads(mislink.loc["M-SHOTA", "evidence"])["pattern"] == "family_member"


def test_same_name_and_birth_date_stranger_is_told_apart_by_household_and_address():
    members = [m for m in CLEAN if m["member_id"] != "M-ICHIRO"]
    # 佐藤 一郎 of this town holds the number of the 佐藤 一郎 registered in Osaka; his wife is
    # linked correctly, so the household speaks for the local resident.
    town = [*TOWN, {"resident_id": "R-ICHIRO-WIFE", "number": N["x1"], "name_kanji": "佐藤 友子",
                    "name_kana": "サトウ トモコ", "birth_date": "1972-01-01", "sex": 2, "household_id": "H2",
                    "address": "東京都千代田区神田2-2-2"}]
    members += [member("M-ICHIRO", "R-ICHIRO", number=N["ichiro_b"]),
                {"member_id": "M-ICHIRO-WIFE", "number": N["x1"], "name_kanji": "佐藤 友子", "name_kana": "サトウ トモコ",
                 "birth_date": "1972-01-01", "sex": 2, "household_id": "H2", "address": "東京都千代田区神田2-2-2"}]
    mislink = by_rule(scan(members, town), "MISLINK_SUSPECTED")
    assert list(mislink.index) == ["M-ICHIRO"]
    row = mislink.loc["M-ICHIRO"]
    assert row["suggested_resident_id"] == "R-ICHIRO"
    evidence = json.loads(row["evidence"])
    assert evidence["pattern"] == "same_name_birth_date"
    assert evidence["linked"]["name_kanji"]["level"] == "exact"
    assert evidence["linked"]["municipality"]["level"] == "else"
    assert evidence["suggested"]["fields"]["address"]["level"] == "exact"
    assert [c["resident_id"] for c in evidence["candidates"]][:2] == ["R-ICHIRO", "R-ICHIRO-OSAKA"]


def test_same_name_and_birth_date_correctly_linked_is_not_queued():
    # The local 佐藤 一郎 holds his own number although an Osaka namesake exists.
    assert by_rule(scan(CLEAN), "MISLINK_SUSPECTED").empty


def test_number_typo_pointing_to_another_resident():
    # 鈴木 次郎's number was typed one digit off; the result belongs to someone in Yokohama.
    typo = N["jiro"][:-1] + "9"
    town = [r if r["resident_id"] != "R-TYPO" else {**r, "number": typo} for r in TOWN]
    members = [m for m in CLEAN if m["member_id"] != "M-JIRO"] + [member("M-JIRO", "R-JIRO", number=typo)]
    mislink = by_rule(scan(members, town), "MISLINK_SUSPECTED")
    assert list(mislink.index) == ["M-JIRO"]
    row = mislink.loc["M-JIRO"]
    assert row["suggested_resident_id"] == "R-JIRO"
    evidence = json.loads(row["evidence"])
    assert evidence["pattern"] == "number_typo"
    assert "SUGGESTED_LAST4_ONE_DIGIT" in evidence["reasons"]


def test_household_swap_reported_on_both_members_as_such():
    members = [m for m in CLEAN if m["member_id"] not in ("M-JIRO", "M-SACHIKO")]
    members += [member("M-JIRO", "R-JIRO", number=N["sachiko"]), member("M-SACHIKO", "R-SACHIKO", number=N["jiro"])]
    mislink = by_rule(scan(members), "MISLINK_SUSPECTED")
    assert list(mislink.index) == ["M-JIRO", "M-SACHIKO"]
    for own, partner, suggested in (("M-JIRO", "M-SACHIKO", "R-JIRO"), ("M-SACHIKO", "M-JIRO", "R-SACHIKO")):
        evidence = json.loads(mislink.loc[own, "evidence"])
        assert evidence["pattern"] == "household_swap"
        assert evidence["partner_member_id"] == partner
        assert mislink.loc[own, "suggested_resident_id"] == suggested


def test_equal_household_ids_of_two_insurers_are_no_household_swap():
    """世帯番号 are numbered per insurer: two insurers' members who happen to share a household id
    and hold each other's numbers are two mis-links, not one household's swap."""
    members = [m for m in CLEAN if m["member_id"] not in ("M-JIRO", "M-SACHIKO")]
    members += [member("M-JIRO", "R-JIRO", number=N["sachiko"]),
                {**member("M-SACHIKO", "R-SACHIKO", number=N["jiro"]), "insurer_number": "272000"}]
    mislink = by_rule(scan(members), "MISLINK_SUSPECTED")
    assert list(mislink.index) == ["M-JIRO", "M-SACHIKO"]
    for own in ("M-JIRO", "M-SACHIKO"):
        evidence = json.loads(mislink.loc[own, "evidence"])
        assert evidence["pattern"] != "household_swap"
        assert evidence.get("partner_member_id") is None


NOTATION_CASES = [
    {"description": "旧字体 髙橋 on the registry, 高橋 at the insurer", "member": member("M-MEI", "R-MEI", name_kanji="高橋 芽衣"),
     "reasons": ["VARIANT_KANJI"], "severity": "low"},
    {"description": "外字 placeholder at the insurer", "member": member("M-MEI", "R-MEI", name_kanji="〓橋 芽衣"),
     "reasons": ["GAIJI"], "severity": "low"},
    {"description": "half-width kana", "member": member("M-MEI", "R-MEI", name_kana="ﾀｶﾊｼ ﾒｲ"),
     "reasons": ["KANA_HALFWIDTH"], "severity": "info"},
    {"description": "married name under the 旧氏", "member": member("M-SACHIKO", "R-SACHIKO", name_kanji="高橋 幸子",
                                                               name_kana="タカハシ サチコ"),
     "reasons": ["FORMER_SURNAME"], "severity": "low"},
    {"description": "Nguyen Van An held in katakana", "member": member("M-AN", "R-AN", name_kanji="グエン・ヴァン・アン",
                                                                      name_kana="グエン・ヴァン・アン", name_alpha=None),
     "reasons": ["KATAKANA_ALPHABET"], "severity": "low"},
]


@pytest.mark.parametrize("case", NOTATION_CASES, ids=[c["description"] for c in NOTATION_CASES])
def test_notation_difference_is_not_a_mislink(case):
    others = [m for m in CLEAN if m["member_id"] != case["member"]["member_id"]]
    findings = scan([*others, case["member"]])
    assert by_rule(findings, "MISLINK_SUSPECTED").empty
    notation = by_rule(findings, "NOTATION_DIFFERENCE")
    assert list(notation.index) == [case["member"]["member_id"]]
    evidence = json.loads(notation.iloc[0]["evidence"])
    assert evidence["reasons"] == case["reasons"]
    assert notation.iloc[0]["severity"] == case["severity"]


def test_saito_is_not_saito():
    # 斎藤 and 斉藤 share the reading サイトウ but are different surnames: not notation.
    town = [*TOWN, {"resident_id": "R-SAITO", "number": N["x2"], "name_kanji": "斉藤 茂", "name_kana": "サイトウ シゲル",
                    "birth_date": "1950-06-06", "sex": 1, "household_id": "H6", "address": "東京都千代田区神田6-6-6"}]
    members = [*CLEAN, {"member_id": "M-SAITO", "number": N["x2"], "name_kanji": "斎藤 茂", "name_kana": "サイトウ シゲル",
                        "birth_date": "1950-06-06", "sex": 1, "household_id": "H6", "address": "東京都千代田区神田6-6-6"}]
    findings = scan(members, town)
    assert by_rule(findings, "NOTATION_DIFFERENCE").empty


def test_last4_only_member_is_linked_to_the_resolved_resident_holding_those_digits():
    row = member("M-KENTA", "R-KENTA")
    row.pop("number")
    row.update({"number_hash": None, "number_last4": N["shota"][-4:], "number_status": "last4_only"})
    findings = scan([*CLEAN, row])
    # The last four digits are 翔太's, and 翔太 shares the birth date: linked to 翔太, so queued.
    mislink = by_rule(findings, "MISLINK_SUSPECTED")
    evidence = json.loads(mislink.loc["M-KENTA", "evidence"])
    assert evidence["linked_by"] == "last4"
    assert mislink.loc["M-KENTA", "suggested_resident_id"] == "R-KENTA"


def test_evidence_shows_both_sides_levels_contributions_and_never_a_full_number():
    findings = scan([*WITHOUT_HANAKO, member("M-SHOTA", "R-SHOTA", number=N["hanako"])])
    row = by_rule(findings, "MISLINK_SUSPECTED").loc["M-SHOTA"]
    evidence = json.loads(row["evidence"])
    linked = evidence["linked"]
    assert set(linked) == {"name_kanji", "name_kana", "name_alpha", "birth_date", "sex", "last4", "household",
                           "address", "municipality"}
    assert linked["birth_date"] == {**linked["birth_date"], "member": "2000-02-02", "resident": "1962-07-07", "level": "else"}
    assert isinstance(linked["birth_date"]["contribution"], float) and linked["birth_date"]["contribution"] < 0
    assert linked["last4"]["member"] == N["hanako"][-4:]
    assert 0.5 <= evidence["p_wrong"] <= 1.0 and row["score"] == pytest.approx(evidence["p_wrong"], abs=1e-3)
    assert evidence["candidates"][0]["resident_id"] == "R-SHOTA"
    text = row["evidence"] + row["summary_ja"] + row["summary_en"]
    assert all(number not in text for number in N.values())


def test_thresholds_come_from_settings():
    members = [*WITHOUT_HANAKO, member("M-SHOTA", "R-SHOTA", number=N["hanako"])]
    assert not by_rule(scan(members), "MISLINK_SUSPECTED").empty
    assert by_rule(scan(members, settings={"mislink_queue_threshold": 1.01}), "MISLINK_SUSPECTED").empty


def _last4_only(row: dict, last4: str) -> dict:
    row = dict(row)
    row.pop("number", None)
    return {**row, "number_hash": None, "number_last4": last4, "number_status": "last4_only"}


def test_member_resident_is_the_one_answer_for_full_numbers_and_last_four_only_members():
    from detectors.rules.mislink import member_resident
    from matchers.resolve import resolve

    rows = [
        member("M-TARO", "R-TARO"),                                         # full number
        _last4_only(member("M-HANAKO", "R-HANAKO"), N["hanako"][-4:]),      # last four agree
        _last4_only(member("M-MEI", "R-MEI"), "9999"),                      # best match holds other digits
        _last4_only({"member_id": "M-NOBODY", "name_kanji": "木村 拓也", "name_kana": "キムラ タクヤ",
                     "birth_date": "1999-01-01", "sex": 1, "household_id": "HX", "address": "北海道札幌市"}, "1234"),
        {**member("M-GONE", "R-JIRO"), "number": "999999999999"},           # nobody holds this number
    ]
    members = members_frame(rows)
    residents = residents_frame(TOWN)
    frame = member_resident(members, resolve(members, residents)).set_index("member_id")
    assert frame.loc["M-TARO", ["resident_id", "linked_by", "birth_sex_agree", "mislink_suspected"]].tolist() == \
        ["R-TARO", "number_hash", True, False]
    assert frame.loc["M-HANAKO", ["resident_id", "linked_by", "mislink_suspected"]].tolist() == ["R-HANAKO", "last4", False]
    assert frame.loc["M-MEI", ["resident_pos", "mislink_suspected", "suggested_resident_id"]].tolist() == [-1, True, "R-MEI"]
    assert frame["not_found"].to_dict() == {"M-TARO": False, "M-HANAKO": False, "M-MEI": False,
                                            "M-NOBODY": True, "M-GONE": True}
