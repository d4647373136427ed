"""紐付け誤りの事例集 / the mis-link case corpus — domain brief §1, §2a, §2b, written from the brief.

Each case is a small household (or two) of one town: who lives there, what the insurer holds,
and per member what must be raised and what must not — and, for a mis-link, which resident
must be suggested. Kinds: twins, a family member's number, a number typo that passes the check
digit, the same name + birth date + sex but another person, a household swap, last-four-only
members (mis-link, correct, nobody), one number on several members (§2b), a check-digit failure
(NUMBER_INVALID only) and an unknown number. All cases are scanned together by the real rules
(``detectors.engine.run_rules``); each has its own surnames, birth dates and households.

A failing row is a bug in the product, not in the table.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date, timedelta

import numpy as np
import pandas as pd
import pytest

from reconcile.privacy import check_digits
from tests.cases.test_notation_cases import raised, scan

MISLINK, SHARED, NOTATION = "MISLINK_SUSPECTED", "NUMBER_SHARED", "NOTATION_DIFFERENCE"
NOT_FOUND, INVALID = "RESIDENT_NOT_FOUND", "NUMBER_INVALID"
ALL = {MISLINK, SHARED, NOTATION, NOT_FOUND, INVALID}
OTHER_TOWN = "271004"   # 大阪市: residents found by the J-LIS look-up of a linked number


def _check_ok(number: str) -> bool:
    digits = [int(c) for c in number]
    return int(check_digits(np.array([digits[:11]]))[0]) == digits[11]


def _with_check(body: str) -> str:
    return body + str(int(check_digits(np.array([[int(c) for c in body]]))[0]))


def passing_typo(seed: int, swap: bool = False) -> tuple[str, str]:
    """A valid number and a single-digit typo (or an adjacent swap) of it that passes the check digit too."""
    for s in range(seed, seed + 10_000):
        number = _with_check(f"{(s * 7_919_104_729 + 31_337) % 10**11:011d}")
        for p in range(11):
            variants = ([number[:p] + number[p + 1] + number[p] + number[p + 2:]] if swap and p < 10 else
                        [number[:p] + d + number[p + 1:] for d in "0123456789"] if not swap else [])
            for typo in variants:
                if typo != number and _check_ok(typo):
                    return number, typo
    raise AssertionError("no passing typo found")


@dataclass
class Expect:
    kind: str
    description: str
    member_id: str
    must: set[str]
    must_not: set[str]
    suggested: str | None = None
    partner: str | None = None


@dataclass
class Town:
    residents: list[dict] = field(default_factory=list)
    members: list[dict] = field(default_factory=list)
    expectations: list[Expect] = field(default_factory=list)
    seq: int = 0

    def number(self) -> str:
        self.seq += 1
        return _with_check(f"{(self.seq * 104_729 * 7_919 + 424_242) % 10**11:011d}")

    def resident(self, rid: str, name_kanji: str, name_kana: str, birth: str, sex: int, household: str,
                 address: str, number: str | None = None, **other) -> dict:
        row = {"resident_id": rid, "number": number or self.number(), "name_kanji": name_kanji, "name_kana": name_kana,
               "birth_date": birth, "sex": sex, "household_id": household, "address": address, **other}
        self.residents.append(row)
        return row

    def member(self, mid: str, of: dict, household: str, number: str | None = "same", last4: str | None = None,
               **changes) -> dict:
        row = {k: of[k] for k in ("name_kanji", "name_kana", "birth_date", "sex", "address") if k in of}
        row.update({"member_id": mid, "household_id": household, **changes})
        if last4 is not None:
            row.update({"number_hash": None, "number_last4": last4, "number_status": "last4_only"})
        else:
            row["number"] = of["number"] if number == "same" else number
        self.members.append(row)
        return row

    def expect(self, kind, description, member_id, must=(), must_not=None, suggested=None, partner=None):
        must = set(must)
        self.expectations.append(Expect(kind, description, member_id, must,
                                        set(ALL - must) if must_not is None else set(must_not), suggested, partner))


def born(case: int, offset: int = 0) -> str:
    return (date(1945, 3, 5) + timedelta(days=173 * case + offset)).isoformat()


def address(case: int) -> str:
    return f"東京都千代田区神田{case + 1}-{case % 7 + 1}-1"


# --- the cases -------------------------------------------------------------------------------------
SURNAMES = [("山田", "ヤマダ"), ("佐々木", "ササキ"), ("井上", "イノウエ"), ("木村", "キムラ"), ("林", "ハヤシ"),
            ("清水", "シミズ"), ("山崎", "ヤマザキ"), ("森", "モリ"), ("池田", "イケダ"), ("橋本", "ハシモト"),
            ("阿部", "アベ"), ("石川", "イシカワ"), ("前田", "マエダ"), ("藤田", "フジタ"), ("後藤", "ゴトウ"),
            ("岡田", "オカダ"), ("長谷川", "ハセガワ"), ("村上", "ムラカミ"), ("近藤", "コンドウ"), ("石井", "イシイ"),
            ("坂本", "サカモト"), ("遠藤", "エンドウ"), ("青木", "アオキ"), ("藤井", "フジイ"), ("西村", "ニシムラ"),
            ("福田", "フクダ"), ("太田", "オオタ"), ("三浦", "ミウラ"), ("藤原", "フジワラ"), ("岡本", "オカモト"),
            ("松田", "マツダ"), ("中川", "ナカガワ"), ("中野", "ナカノ"), ("原田", "ハラダ"), ("小野", "オノ"),
            ("田村", "タムラ"), ("竹内", "タケウチ"), ("金子", "カネコ"), ("和田", "ワダ"), ("中山", "ナカヤマ"),
            ("石田", "イシダ"), ("上田", "ウエダ"), ("森田", "モリタ"), ("原", "ハラ"), ("柴田", "シバタ"),
            ("酒井", "サカイ"), ("工藤", "クドウ"), ("横山", "ヨコヤマ"), ("宮崎", "ミヤザキ"), ("宮本", "ミヤモト")]


def family(town: Town, case: int, *people: tuple[str, str, str, int, int]) -> list[dict]:
    """Residents of one registry household: (given kanji, given kana, id suffix, sex, birth offset days)."""
    sur, sur_kana = SURNAMES[case % len(SURNAMES)]
    return [town.resident(f"R{case}-{suffix}", f"{sur} {given}", f"{sur_kana} {given_kana}", born(case, offset), sex,
                          f"RH{case}", address(case)) for given, given_kana, suffix, sex, offset in people]


TWINS = [("翔太", "ショウタ", "健太", "ケンタ", 1), ("美咲", "ミサキ", "美羽", "ミウ", 2), ("大輝", "ダイキ", "大和", "ヤマト", 1),
         ("結衣", "ユイ", "結菜", "ユイナ", 2), ("蓮", "レン", "湊", "ミナト", 1), ("陽菜", "ヒナ", "陽葵", "ヒマリ", 2)]


def build() -> Town:
    town = Town()
    case = 0

    # Twins: same birth date, surname and household, another given name (§1).
    for i, (g1, k1, g2, k2, sex) in enumerate(TWINS[:5]):
        a, b, _ = family(town, case, (g1, k1, "A", sex, 9000), (g2, k2, "B", sex, 9000), ("一郎", "イチロウ", "P", 1, 0))
        if i < 4:   # only twin B is insured here, holding twin A's number
            town.member(f"M{case}-P", town.residents[-1], f"IH{case}")
            town.member(f"M{case}-B", b, f"IH{case}", number=a["number"])
            town.expect("twins", f"{g2} holds the twin {g1}'s number", f"M{case}-B", {MISLINK}, suggested=b["resident_id"])
            town.expect("twins", f"{g2}'s father is linked correctly", f"M{case}-P", ())
        else:       # both insured: one number, two holders (§2b)
            town.member(f"M{case}-A", a, f"IH{case}")
            town.member(f"M{case}-B", b, f"IH{case}", number=a["number"])
            town.expect("twins", f"both twins insured, {g2} holds {g1}'s number", f"M{case}-B", {SHARED},
                        suggested=b["resident_id"])
            town.expect("twins", f"{g1}, the number's resident, gets nothing", f"M{case}-A", ())
        case += 1
    # Twin held on the last four digits only: the twin's last four.
    a, b = family(town, case, ("拓海", "タクミ", "A", 1, 9000), ("海斗", "カイト", "B", 1, 9000))
    town.member(f"M{case}-B", b, f"IH{case}", last4=a["number"][-4:])
    town.expect("twins", "last-four-only twin with the twin's last four", f"M{case}-B", {MISLINK}, suggested=b["resident_id"])
    case += 1

    # A family member's number (the 6% of the public figures).
    for i, (holder, owner) in enumerate([(("真央", "マオ", "C", 2, 12000), ("一郎", "イチロウ", "F", 1, 0)),
                                         (("花子", "ハナコ", "W", 2, 700), ("次郎", "ジロウ", "H", 1, 0)),
                                         (("茂", "シゲル", "G", 1, 0), ("健", "ケン", "S", 1, 9500)),
                                         (("ハル", "ハル", "O", 2, 0), ("さくら", "サクラ", "D", 2, 19000)),
                                         (("恵", "メグミ", "M", 2, 300), ("翼", "ツバサ", "C", 1, 10000))]):
        h, o = family(town, case, holder, owner)
        town.member(f"M{case}-H", h, f"IH{case}", number=o["number"])
        town.expect("family_member", f"{h['name_kanji']} holds {o['name_kanji']}'s number", f"M{case}-H", {MISLINK},
                    suggested=h["resident_id"])
        case += 1
    # … and with the number's resident insured too: one problem, one work item on the wrong holder.
    h, o = family(town, case, ("陽介", "ヨウスケ", "C", 1, 11000), ("和子", "カズコ", "M", 2, 0))
    town.member(f"M{case}-O", o, f"IH{case}")
    town.member(f"M{case}-H", h, f"IH{case}", number=o["number"])
    town.expect("family_member", "son holds his insured mother's number", f"M{case}-H", {SHARED}, suggested=h["resident_id"])
    town.expect("family_member", "the mother, the number's resident, gets nothing", f"M{case}-O", ())
    case += 1

    # A typo in the number that passes the check digit: it points to a resident elsewhere.
    for i, swap in enumerate([False, False, False, True, True]):
        true_number, typo = passing_typo(100 + 37 * i, swap=swap)
        (person,) = family(town, case, ("正樹", "マサキ", "T", 1, 0))
        person["number"] = true_number
        town.residents[-1]["number"] = true_number
        stranger = town.resident(f"R{case}-X", "大森 聡子", "オオモリ サトコ", born(case, 4000), 2, f"RX{case}",
                                 "大阪府大阪市北区梅田1-1", number=typo, municipality_code=OTHER_TOWN)
        town.member(f"M{case}-T", person, f"IH{case}", number=typo)
        town.expect("number_typo", f"{'adjacent swap' if swap else 'one-digit typo'} passing the check digit",
                    f"M{case}-T", {MISLINK}, suggested=person["resident_id"])
        case += 1
    # A typo that fails the check digit: NUMBER_INVALID only, never RESIDENT_NOT_FOUND beside it (§2b).
    for i in range(5):
        (person,) = family(town, case, ("光", "ヒカル", "T", 1 + i % 2, 0))
        bad = person["number"][:11] + str((int(person["number"][11]) + 1 + i) % 10)
        assert not _check_ok(bad)
        row = town.member(f"M{case}-T", person, f"IH{case}")
        row.pop("number")
        from tests.factories import number_fields
        row.update({**number_fields(bad), "number_status": "bad_check"})
        town.expect("check_digit", f"check digit fails ({i + 1})", f"M{case}-T", {INVALID})
        case += 1

    # Same name + birth date + sex, another person: the namesake elsewhere holds the number.
    for i, (given, kana) in enumerate([("一郎", "イチロウ"), ("誠", "マコト"), ("直樹", "ナオキ"), ("裕子", "ユウコ"), ("恵子", "ケイコ")]):
        sex = 2 if given.endswith("子") else 1
        local, spouse = family(town, case, (given, kana, "L", sex, 0), ("亮", "リョウ", "S", 3 - sex, 800))
        namesake = town.resident(f"R{case}-Y", local["name_kanji"], local["name_kana"], local["birth_date"], sex,
                                 f"RY{case}", "大阪府大阪市北区梅田3-1-1", municipality_code=OTHER_TOWN)
        town.member(f"M{case}-S", spouse, f"IH{case}")
        town.member(f"M{case}-L", local, f"IH{case}", number=namesake["number"])
        town.expect("same_name_birth_sex", f"{local['name_kanji']} linked to the namesake in Osaka", f"M{case}-L", {MISLINK},
                    suggested=local["resident_id"])
        town.expect("same_name_birth_sex", "the spouse, linked correctly, gets nothing", f"M{case}-S", ())
        case += 1
    # … and a correctly linked namesake raises nothing.
    for i, given in enumerate(["博", "明美"]):
        sex = 2 if i else 1
        (local,) = family(town, case, (given, "ヒロシ" if not i else "アケミ", "L", sex, 0))
        town.resident(f"R{case}-Y", local["name_kanji"], local["name_kana"], local["birth_date"], sex, f"RY{case}",
                      "大阪府大阪市北区梅田3-2-2", municipality_code=OTHER_TOWN)
        town.member(f"M{case}-L", local, f"IH{case}")
        town.expect("same_name_birth_sex", "correctly linked while a namesake lives elsewhere", f"M{case}-L", ())
        case += 1

    # A household swap: two members of one household hold each other's numbers (two findings).
    for i, (p1, p2) in enumerate([(("健一", "ケンイチ", "H", 1, 0), ("和美", "カズミ", "W", 2, 500)),
                                  (("勇", "イサム", "F", 1, 0), ("勇太", "ユウタ", "S", 1, 10000)),
                                  (("咲", "サキ", "A", 2, 8000), ("凛", "リン", "B", 2, 9000)),
                                  (("正", "タダシ", "F", 1, 0), ("千尋", "チヒロ", "D", 2, 11000)),
                                  (("明", "アキラ", "H", 1, 0), ("幸", "サチ", "W", 2, 200))]):
        a, b = family(town, case, p1, p2)
        town.member(f"M{case}-A", a, f"IH{case}", number=b["number"])
        town.member(f"M{case}-B", b, f"IH{case}", number=a["number"])
        town.expect("household_swap", f"swap {a['name_kanji']} ↔ {b['name_kanji']}", f"M{case}-A", {MISLINK},
                    suggested=a["resident_id"], partner=f"M{case}-B")
        town.expect("household_swap", f"swap {b['name_kanji']} ↔ {a['name_kanji']}", f"M{case}-B", {MISLINK},
                    suggested=b["resident_id"], partner=f"M{case}-A")
        case += 1

    # Last-four-only members (§2a).
    for i, kind in enumerate(["family", "typo", "stranger", "family", "typo"]):
        me, relative = family(town, case, ("美穂", "ミホ", "M", 2, 0), ("修", "オサム", "R", 1, -900))
        if kind == "family":
            last4 = relative["number"][-4:]
        elif kind == "typo":
            last4 = me["number"][-4:-1] + str((int(me["number"][-1]) + 3) % 10)
        else:
            last4 = f"{(int(me['number'][-4:]) + 4321) % 10000:04d}"
        town.member(f"M{case}-R", relative, f"IH{case}")
        town.member(f"M{case}-M", me, f"IH{case}", last4=last4)
        town.expect("last4_only_mislink", f"last four digits of {'a family member' if kind == 'family' else 'a typo' if kind == 'typo' else 'someone else'}",
                    f"M{case}-M", {MISLINK}, suggested=me["resident_id"])
        town.expect("last4_only_mislink", "the relative with a full number gets nothing", f"M{case}-R", ())
        case += 1
    for i in range(5):   # last four agree: the resolved resident is the member's resident
        (me,) = family(town, case, ("和也", "カズヤ", "M", 1, 0))
        changes = [{}, {"name_kanji": me["name_kanji"].replace(" ", "　")}, {"name_kana": "ｶｽﾞﾔ"},
                   {"address": address(case).replace("-", "丁目", 1)}, {"household_id": f"IH{case}"}][i]
        if i == 2:
            changes = {"name_kana": SURNAMES[case % len(SURNAMES)][1] + " ｶｽﾞﾔ"}
        town.member(f"M{case}-M", me, f"IH{case}", last4=me["number"][-4:], **changes)
        town.expect("last4_only_correct", f"last four agree ({i + 1})", f"M{case}-M", (), must_not={MISLINK, SHARED, NOT_FOUND, INVALID})
        case += 1
    for i in range(5):   # nobody like the member lives here or was looked up: not found
        sur, sur_kana = SURNAMES[(case + 17) % len(SURNAMES)]
        town.members.append({"member_id": f"M{case}-N", "name_kanji": f"{sur} 五郎", "name_kana": f"{sur_kana} ゴロウ",
                             "birth_date": born(case), "sex": 1, "household_id": f"IH{case}", "address": "北海道札幌市中央区1-1",
                             "number_hash": None, "number_last4": f"{(1234 + 1111 * i) % 10000:04d}", "number_status": "last4_only"})
        town.expect("last4_only_not_found", f"no resident matches at all ({i + 1})", f"M{case}-N", {NOT_FOUND})
        case += 1

    # One number on three members: the rightful holder nothing, the two others NUMBER_SHARED.
    owner, child, other = family(town, case, ("隆", "タカシ", "O", 1, 0), ("隼", "ハヤト", "C", 1, 10000),
                                 ("直子", "ナオコ", "W", 2, 400))
    for m, r in (("O", owner), ("C", child), ("W", other)):
        town.member(f"M{case}-{m}", r, f"IH{case}", number=owner["number"])
    town.expect("number_shared", "rightful holder of a number held three times", f"M{case}-O", ())
    town.expect("number_shared", "son on his father's number", f"M{case}-C", {SHARED}, suggested=child["resident_id"])
    town.expect("number_shared", "wife on her husband's number", f"M{case}-W", {SHARED}, suggested=other["resident_id"])
    case += 1
    # One person insured twice on one number (an old qualification left valid): no NUMBER_SHARED.
    (me,) = family(town, case, ("房子", "フサコ", "M", 2, 0))
    town.member(f"M{case}-1", me, f"IH{case}")
    town.member(f"M{case}-2", me, f"IH{case}b", acquisition_date="2024-04-01")
    town.expect("number_shared", "one person, two member records", f"M{case}-1", (), must_not={SHARED, MISLINK})
    town.expect("number_shared", "one person, two member records (second)", f"M{case}-2", (), must_not={SHARED, MISLINK})
    case += 1
    # Correctly linked, but the resident has since moved to another town: only the context
    # differs — not a mis-link (the identity items agree and nobody else is the member).
    for i in range(3):
        (me,) = family(town, case, ("和彦", "カズヒコ", "M", 1, 0))
        town.residents[-1].update({"address": "大阪府大阪市北区梅田9-9-9", "municipality_code": OTHER_TOWN,
                                   "household_id": f"RZ{case}"})
        town.member(f"M{case}-M", me, f"IH{case}", address=address(case))
        town.expect("moved_elsewhere", f"resident moved to another town ({i + 1})", f"M{case}-M", ())
        case += 1
    # A valid number nobody holds.
    for i in range(3):
        (me,) = family(town, case, ("実", "ミノル", "M", 1, 0))
        town.member(f"M{case}-M", me, f"IH{case}", number=town.number())
        town.expect("resident_not_found", f"valid number with no resident ({i + 1})", f"M{case}-M", {NOT_FOUND},
                    must_not={MISLINK, SHARED, INVALID})
        case += 1
    return town


TOWN = build()


@pytest.fixture(scope="module")
def corpus_findings() -> pd.DataFrame:
    return scan(TOWN.members, TOWN.residents)


def check(findings: pd.DataFrame, expect: Expect) -> list[str]:
    got = raised(findings, expect.member_id)
    problems = [f"{r} not raised" for r in sorted(expect.must - got)]
    problems += [f"{r} raised" for r in sorted(expect.must_not & got)]
    for rule_id in expect.must & got & {MISLINK, SHARED}:
        row = findings[(findings["member_id"] == expect.member_id) & (findings["rule_id"] == rule_id)].iloc[0]
        if expect.suggested and row["suggested_resident_id"] != expect.suggested:
            problems.append(f"{rule_id} suggests {row['suggested_resident_id']}, not {expect.suggested}")
        if expect.partner:
            evidence = json.loads(row["evidence"])
            if evidence.get("partner_member_id") != expect.partner or evidence.get("pattern") != "household_swap":
                problems.append(f"partner {evidence.get('partner_member_id')} / pattern {evidence.get('pattern')}")
    return problems


@pytest.mark.parametrize("expect", TOWN.expectations, ids=[f"{e.kind}: {e.description}" for e in TOWN.expectations])
def test_mislink_case(corpus_findings, expect):
    assert check(corpus_findings, expect) == []


def test_every_mislink_kind_has_five_examples():
    kinds = pd.Series([e.kind for e in TOWN.expectations if e.must & {MISLINK, SHARED, NOT_FOUND, INVALID}]).value_counts()
    assert (kinds[kinds.index.isin(["twins", "family_member", "number_typo", "same_name_birth_sex", "household_swap",
                                    "last4_only_mislink", "check_digit", "last4_only_not_found"])] >= 5).all(), kinds.to_dict()


def corpus_pass_rate() -> tuple[int, int, list[str]]:
    """(passed, total, failures) for the benchmark's first line of evidence."""
    findings = scan(TOWN.members, TOWN.residents)
    failures = [f"{e.kind}: {e.description}: {'; '.join(p)}" for e in TOWN.expectations if (p := check(findings, e))]
    return len(TOWN.expectations) - len(failures), len(TOWN.expectations), failures
