"""Qualification-date rules (domain brief §6): issue date as acquisition, OQS differences, exits, 75, overlaps."""
from __future__ import annotations

import json

import pandas as pd
import pytest

from detectors import run_rules
from tests.factories import members_frame, oqs_frame, residents_frame

AS_OF = "2026-11-01"


def findings(rule_id, members, residents=None, oqs=None, as_of=AS_OF):
    frames = {"members": members, "residents": residents if residents is not None else residents_frame([{}])}
    if oqs is not None:
        frames["oqs"] = oqs
    return run_rules(frames, as_of=pd.Timestamp(as_of), rule_ids=[rule_id]).findings.set_index("member_id")


def evidence(out, member_id):
    return json.loads(out.loc[member_id, "evidence"])


# Distinct people: identical names and birth dates on different numbers look like mis-links.
NAMES = [("佐藤 一郎", "サトウ イチロウ"), ("鈴木 花子", "スズキ ハナコ"), ("高田 健", "タカダ ケン"),
         ("田中 美咲", "タナカ ミサキ"), ("伊藤 大輔", "イトウ ダイスケ"), ("渡部 恵", "ワタベ メグミ")]


def person(member_id, number, member=None, resident=None):
    """A member and the resident its number points to (names distinct per member id)."""
    kanji, kana = NAMES[sum(map(ord, member_id)) % len(NAMES)]
    names = {"name_kanji": kanji, "name_kana": kana, "household_id": "H" + member_id}
    return ({"member_id": member_id, "number": number, **names, **(member or {})},
            {"resident_id": "R" + member_id, "number": number, **names, **(resident or {})})


def frames_of(*people):
    return members_frame([m for m, _ in people]), residents_frame([r for _, r in people])


def test_acquisition_equal_to_issue_date_after_an_earlier_move_in():
    members, residents = frames_of(
        person("M1", "000000000001", {"acquisition_date": "2025-05-15", "card_issue_date": "2025-05-15"},
               {"moved_in_date": "2025-04-20"}),
        person("M2", "000000000002", {"acquisition_date": "2025-04-20", "card_issue_date": "2025-05-15"},
               {"moved_in_date": "2025-04-20"}),
        person("M3", "000000000003", {"acquisition_date": "2025-04-20", "card_issue_date": "2025-04-20"},
               {"moved_in_date": "2025-04-20"}),
        person("M4", "000000000004", {"birth_date": "2024-06-10", "acquisition_date": "2024-07-01",
                                      "card_issue_date": "2024-07-01"},
               {"birth_date": "2024-06-10", "moved_in_date": None}),
        person("M5", "000000000005", {"acquisition_date": "2022-09-01", "card_issue_date": "2022-09-01"},
               {"moved_in_date": "2010-04-01"}),
    )
    out = findings("QUAL_DATE_IS_ISSUE_DATE", members, residents)
    assert sorted(out.index) == ["M1", "M4", "M5"]
    assert evidence(out, "M1")["proposed_acquisition_date"] == "2025-04-20"
    assert evidence(out, "M1")["trigger"] == "move_in"
    assert out.loc["M1", "severity"] == "high"
    assert out.loc["M1", "suggested_resident_id"] == "RM1"
    assert out.loc["M1", "summary_ja"] == ("資格取得日 2025-05-15 が交付日と同じですが、転入日 2025-04-20 の方が早いです"
                                           "（取得日 2025-04-20 に訂正を検討）")
    assert evidence(out, "M4")["trigger"] == "birth"
    assert evidence(out, "M4")["proposed_acquisition_date"] == "2024-06-10"
    # Twelve years after the move-in another acquisition cause is plausible: softer.
    assert out.loc["M5", "severity"] == "medium"


def test_oqs_date_differences():
    members = members_frame([
        {"member_id": "M1", "acquisition_date": "2020-04-01"},
        {"member_id": "M2"},
        {"member_id": "M3", "loss_date": "2026-05-01", "loss_reason": "1"},
        {"member_id": "M4", "loss_date": "2026-05-01", "loss_reason": "1"},
        {"member_id": "M5"},
    ])
    oqs = oqs_frame([
        {"member_id": "M1", "acquisition_date": "2020-05-01"},
        {"member_id": "M2", "loss_date": "2026-10-01"},
        {"member_id": "M3", "loss_date": "2026-06-01"},
        {"member_id": "M4", "loss_date": None},
        {"member_id": "M5"},
    ])
    out = findings("QUAL_DATE_OQS_MISMATCH", members, oqs=oqs)
    assert sorted(out.index) == ["M1", "M2", "M3"]
    assert out.loc["M1", "summary_ja"] == "資格取得日が保険者 2020-04-01 と中間サーバー 2020-05-01 で異なります"
    assert out.loc["M2", "severity"] == "high"
    assert evidence(out, "M2")["shown_uninsured_at_counter"] is True
    assert out.loc["M2", "summary_ja"] == "資格喪失日が保険者 なし と中間サーバー 2026-10-01 で異なります"
    assert out.loc["M3", "severity"] == "medium"


def test_loss_not_linked_only_for_losses_in_effect():
    members = members_frame([
        {"member_id": "M1", "loss_date": "2026-09-30", "loss_reason": "2"},
        {"member_id": "M2", "loss_date": "2026-12-01", "loss_reason": "1"},
        {"member_id": "M3", "loss_date": "2026-09-30", "loss_reason": "1"},
        {"member_id": "M4"},
    ])
    oqs = oqs_frame([{"member_id": "M1"}, {"member_id": "M2"}, {"member_id": "M3", "loss_date": "2026-09-30"},
                     {"member_id": "M4"}])
    out = findings("QUAL_LOSS_NOT_LINKED", members, oqs=oqs)
    assert out.index.tolist() == ["M1"]
    assert out.loc["M1", "summary_en"] == ("The insurer lost the member on 2026-09-30 (死亡 / death) "
                                           "but the online copy still shows them active")
    assert evidence(out, "M1")["days_since_loss"] == 32


EXIT_CASES = [
    {"description": "deceased, still active", "status": "deceased", "loss": None, "expected": "high"},
    {"description": "deceased, lost the day after death", "status": "deceased", "loss": "2026-06-11", "expected": None},
    {"description": "deceased, lost on the day of death (accepted)", "status": "deceased", "loss": "2026-06-10", "expected": None},
    {"description": "deceased, lost two days after", "status": "deceased", "loss": "2026-06-12", "expected": "medium"},
    {"description": "moved out, lost on the move-out day", "status": "moved_out", "loss": "2026-06-10", "expected": None},
    {"description": "moved out, lost the day after", "status": "moved_out", "loss": "2026-06-11", "expected": None},
    {"description": "moved out, still active", "status": "moved_out", "loss": None, "expected": "high"},
    {"description": "moved out, lost earlier for another reason", "status": "moved_out", "loss": "2025-04-01", "expected": None},
    {"description": "被用者保険 does not end on move-out", "status": "moved_out", "loss": None, "type": "employee",
     "expected": None},
    {"description": "被用者保険 ends on death", "status": "deceased", "loss": None, "type": "employee", "expected": "high"},
]


@pytest.mark.parametrize("case", EXIT_CASES, ids=lambda c: c["description"])
def test_active_after_exit(case):
    members, residents = frames_of(person(
        "M1", "000000000001", {"loss_date": case["loss"], "insurer_type": case.get("type", "kokuho")},
        {"status": case["status"], "status_date": "2026-06-10"}))
    out = findings("QUAL_ACTIVE_AFTER_EXIT", members, residents)
    assert (out.loc["M1", "severity"] if len(out) else None) == case["expected"]


def test_active_after_exit_summary():
    members, residents = frames_of(person("M1", "000000000001", {}, {"status": "deceased", "status_date": "2026-06-10"}))
    out = findings("QUAL_ACTIVE_AFTER_EXIT", members, residents)
    assert out.loc["M1", "summary_ja"] == "住基では 2026-06-10 に死亡していますが、資格が有効のままです（喪失日は 2026-06-10〜2026-06-11）"


AGE_CASES = [
    # Born 1951-10-30: 75th birthday 2026-10-30, 国保 lost 2026-10-31 at the latest.
    {"description": "the day before the 75th birthday", "as_of": "2026-10-29", "loss": None, "expected": None},
    {"description": "on the 75th birthday", "as_of": "2026-10-30", "loss": None, "expected": None},
    {"description": "the day after the birthday (the loss date itself)", "as_of": "2026-10-31", "loss": None, "expected": None},
    {"description": "two days after, still active", "as_of": "2026-11-01", "loss": None, "expected": "high"},
    {"description": "lost on the birthday (accepted)", "as_of": "2026-11-01", "loss": "2026-10-30", "expected": None},
    {"description": "lost the day after the birthday", "as_of": "2026-11-01", "loss": "2026-10-31", "expected": None},
    {"description": "lost a day too late", "as_of": "2026-11-02", "loss": "2026-11-01", "expected": "medium"},
    {"description": "被用者保険 is not judged here", "as_of": "2026-11-01", "loss": None, "type": "employee", "expected": None},
]


@pytest.mark.parametrize("case", AGE_CASES, ids=lambda c: c["description"])
def test_active_past_age_limit(case):
    members = members_frame([{"member_id": "M1", "birth_date": "1951-10-30", "loss_date": case["loss"],
                              "insurer_type": case.get("type", "kokuho"), "burden_ratio": 20}])
    out = findings("QUAL_ACTIVE_PAST_AGE_LIMIT", members, as_of=case["as_of"])
    assert (out.loc["M1", "severity"] if len(out) else None) == case["expected"]


def test_overlap_of_the_same_person():
    members = members_frame([
        # An old qualification left valid: one number carries two members.
        {"member_id": "M1", "number": "000000000001", "acquisition_date": "2018-04-01"},
        {"member_id": "M2", "number": "000000000001", "acquisition_date": "2024-06-01"},
        # 国保 → 被用者保険: lost the day after the employer insurance began (legal one-day overlap).
        {"member_id": "M3", "number": "000000000002", "acquisition_date": "2018-04-01", "loss_date": "2024-04-02"},
        {"member_id": "M4", "number": "000000000002", "insurer_type": "employee", "acquisition_date": "2024-04-01"},
        # The same one day between two 国保 qualifications is not legal.
        {"member_id": "M5", "number": "000000000003", "acquisition_date": "2018-04-01", "loss_date": "2024-04-02"},
        {"member_id": "M6", "number": "000000000003", "acquisition_date": "2024-04-01"},
        # Different birth dates: different persons sharing a number (NUMBER_SHARED, not this rule).
        {"member_id": "M7", "number": "000000000004", "birth_date": "1980-01-01"},
        {"member_id": "M8", "number": "000000000004", "birth_date": "1990-01-01"},
        # Back-to-back without a common day.
        {"member_id": "M9", "number": "000000000005", "acquisition_date": "2018-04-01", "loss_date": "2024-04-01"},
        {"member_id": "MA", "number": "000000000005", "acquisition_date": "2024-04-01"},
        # Twins: same birth date and sex, different given name — the number is on the wrong twin.
        {"member_id": "MB", "number": "000000000006", "name_kanji": "山田 一郎", "name_kana": "ヤマダ イチロウ"},
        {"member_id": "MC", "number": "000000000006", "name_kanji": "山田 次郎", "name_kana": "ヤマダ ジロウ"},
        # The same person written with a full-width space is still the same person.
        {"member_id": "MD", "number": "000000000007", "acquisition_date": "2018-04-01", "name_kanji": "山田\u3000太郎",
         "name_kana": "ヤマダ\u3000タロウ"},
        {"member_id": "ME", "number": "000000000007", "acquisition_date": "2025-04-01"},
    ])
    out = findings("QUAL_OVERLAP", members)
    assert sorted(out.index) == ["M1", "M2", "M5", "M6", "MD", "ME"]
    assert out.loc["M1", "severity"] == "high"
    assert evidence(out, "M1")["other_members"] == "131016:M2"
    assert evidence(out, "M1")["overlap_from"] == "2024-06-01"
    assert evidence(out, "M1")["overlap_to"] is None
    assert out.loc["M5", "severity"] == "medium"
    assert evidence(out, "M5")["overlap_to"] == "2024-04-01"


def test_an_exit_of_another_person_on_the_number_is_left_to_the_mislink_rules():
    # A household swap: the member carries the number of a relative who died (other birth date).
    members, residents = frames_of(person("M1", "000000000001", {"birth_date": "1985-02-01"},
                                          {"birth_date": "1950-07-07", "status": "deceased", "status_date": "2025-02-12"}))
    assert findings("QUAL_ACTIVE_AFTER_EXIT", members, residents).empty
    same_person = residents_frame([{"resident_id": "RM1", "number": "000000000001", "birth_date": "1985-02-01",
                                    "status": "deceased", "status_date": "2025-02-12",
                                    "name_kanji": members["name_kanji"].iloc[0], "name_kana": members["name_kana"].iloc[0],
                                    "household_id": "HM1"}])
    assert findings("QUAL_ACTIVE_AFTER_EXIT", members, same_person).index.tolist() == ["M1"]
