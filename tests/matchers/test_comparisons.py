"""比較レベル / every comparison level, one real example each (first level that holds wins)."""
from __future__ import annotations

import numpy as np
import pytest

from matchers.comparisons import COMPARISONS, NAME_KANJI, compare
from matchers.prepare import pairs_frame, prepare_side
from tests.factories import members_frame, residents_frame


def compare_one(member: dict, resident: dict, household: str = "unknown", municipality: str | None = None):
    left = prepare_side(members_frame([member]), "members")
    left["municipality"] = municipality
    right = prepare_side(residents_frame([resident]), "residents")
    pairs = pairs_frame(left, right, np.array([0]), np.array([0]))
    pairs["household_state"] = household
    return compare(pairs).iloc[0]


FOREIGN = {"name_kanji": "NGUYEN VAN AN", "name_alpha": "NGUYEN VAN AN", "name_kana": "グエン ヴァン アン"}

CASES = [
    # name_kanji
    {"description": "kanji exact", "field": "name_kanji", "member": {}, "resident": {}, "level": "exact"},
    {"description": "旧字体 髙橋 vs 高橋", "field": "name_kanji", "member": {"name_kanji": "髙橋 一郎"},
     "resident": {"name_kanji": "高橋 一郎"}, "level": "notation"},
    {"description": "﨑 vs 崎", "field": "name_kanji", "member": {"name_kanji": "山崎 花子"},
     "resident": {"name_kanji": "山﨑 花子"}, "level": "notation"},
    {"description": "邊 vs 辺", "field": "name_kanji", "member": {"name_kanji": "渡邊 恵"},
     "resident": {"name_kanji": "渡辺 恵"}, "level": "notation"},
    {"description": "𠮷 vs 吉", "field": "name_kanji", "member": {"name_kanji": "𠮷田 茂"},
     "resident": {"name_kanji": "吉田 茂"}, "level": "notation"},
    {"description": "外字 〓 on the insurer side", "field": "name_kanji", "member": {"name_kanji": "〓田 花子"},
     "resident": {"name_kanji": "𠮷田 花子"}, "level": "gaiji"},
    {"description": "斎藤 vs 斉藤 is not notation", "field": "name_kanji", "member": {"name_kanji": "斎藤 茂"},
     "resident": {"name_kanji": "斉藤 茂"}, "level": "else"},
    {"description": "one kanji off in a longer name is only similar", "field": "name_kanji",
     "member": {"name_kanji": "長谷川 健太郎"}, "resident": {"name_kanji": "長谷山 健太郎"}, "level": "jw80"},
    {"description": "通称: WANG XIAOMING registered, insurer holds the alias 王 小明", "field": "name_kanji",
     "member": {"name_kanji": "王 小明", "name_kana": "ワン シャオミン"},
     "resident": {"name_kanji": "WANG XIAOMING", "name_alpha": "WANG XIAOMING", "alias_name": "王 小明",
                  "name_kana": "ワン シャオミン"}, "level": "alias"},
    {"description": "通称 in kanji on both sides' kanji field", "field": "name_kanji",
     "member": {"name_kanji": "王 小明"}, "resident": {"name_kanji": "汪 暁明", "alias_name": "王 小明"}, "level": "alias"},
    {"description": "married name: insurer holds the 旧氏", "field": "name_kanji",
     "member": {"name_kanji": "佐藤 花子", "name_kana": "サトウ ハナコ"},
     "resident": {"name_kanji": "鈴木 花子", "name_kana": "スズキ ハナコ", "former_surname": "佐藤"}, "level": "former_surname"},
    {"description": "married name without 旧氏, same household", "field": "name_kanji", "household": "same",
     "member": {"name_kanji": "佐藤 花子"}, "resident": {"name_kanji": "鈴木 花子"}, "level": "household_surname"},
    {"description": "married name without 旧氏 and no household evidence is not explained", "field": "name_kanji",
     "member": {"name_kanji": "佐藤 花子"}, "resident": {"name_kanji": "鈴木 花子"}, "level": "else"},
    {"description": "twin: same surname, other given name", "field": "name_kanji",
     "member": {"name_kanji": "山田 翔太"}, "resident": {"name_kanji": "山田 健太"}, "level": "given_differs"},
    {"description": "different person", "field": "name_kanji", "member": {"name_kanji": "山田 太郎"},
     "resident": {"name_kanji": "鈴木 一郎"}, "level": "else"},
    # name_kana
    {"description": "kana exact", "field": "name_kana", "member": {}, "resident": {}, "level": "exact"},
    {"description": "half-width kana", "field": "name_kana", "member": {"name_kana": "ﾔﾏﾀﾞ ﾀﾛｳ"},
     "resident": {}, "level": "notation"},
    {"description": "キヨウコ vs キョウコ", "field": "name_kana", "member": {"name_kana": "サトウ キヨウコ"},
     "resident": {"name_kana": "サトウ キョウコ"}, "level": "notation"},
    {"description": "ヴ vs ブ", "field": "name_kana", "member": {"name_kana": "ブー タン"},
     "resident": {"name_kana": "ヴー タン"}, "level": "notation"},
    {"description": "Silva Santos Maria vs マリア・サントス in kana", "field": "name_kana",
     "member": {"name_kana": "マリア・サントス"}, "resident": {"name_kana": "シルバ サントス マリア"}, "level": "tokens_subset"},
    {"description": "married: surname reading differs", "field": "name_kana",
     "member": {"name_kanji": "佐藤 花子", "name_kana": "サトウ ハナコ"},
     "resident": {"name_kanji": "鈴木 花子", "name_kana": "スズキ ハナコ"}, "level": "surname_differs"},
    {"description": "twin readings", "field": "name_kana", "member": {"name_kanji": "山田 翔太", "name_kana": "ヤマダ ショウタ"},
     "resident": {"name_kanji": "山田 健太", "name_kana": "ヤマダ ケンタ"}, "level": "given_differs"},
    {"description": "same kanji name, another registered reading (2025–26)", "field": "name_kana",
     "member": {"name_kanji": "山田 光宙", "name_kana": "ヤマダ ピカチュウ"},
     "resident": {"name_kanji": "山田 光宙", "name_kana": "ヤマダ ヒカル"}, "level": "reading"},
    {"description": "Japanese readings that sound alike are not a transliteration", "field": "name_kana",
     "member": {"name_kanji": "佐藤 一郎", "name_kana": "サトウ イチロウ"},
     "resident": {"name_kanji": "斉藤 一郎", "name_kana": "サイトウ イチロウ"}, "level": "surname_differs"},
    {"description": "foreign transliterations that sound alike (タン / タイン)", "field": "name_kana",
     "member": {"name_kanji": "グエン タン", "name_kana": "グエン タン"},
     "resident": {"name_kanji": "NGUYEN THANH", "name_alpha": "NGUYEN THANH", "name_kana": "グエン タイン"},
     "level": "transliteration"},
    {"description": "no kana on the registry", "field": "name_kana", "member": {}, "resident": {"name_kana": None},
     "level": "null"},
    # name_alpha
    {"description": "Japanese names have no alphabet to compare", "field": "name_alpha", "member": {}, "resident": {},
     "level": "null"},
    {"description": "alphabet exact", "field": "name_alpha", "member": FOREIGN, "resident": FOREIGN, "level": "exact"},
    {"description": "alphabet order differs", "field": "name_alpha",
     "member": {**FOREIGN, "name_kanji": "VAN AN NGUYEN", "name_alpha": "VAN AN NGUYEN"}, "resident": FOREIGN, "level": "order"},
    {"description": "middle name left out", "field": "name_alpha",
     "member": {"name_kanji": "MARIA SANTOS", "name_alpha": "MARIA SANTOS", "name_kana": None},
     "resident": {"name_kanji": "SILVA SANTOS MARIA", "name_alpha": "SILVA SANTOS MARIA", "name_kana": None},
     "level": "tokens_subset"},
    {"description": "Nguyen Van An vs グエン・ヴァン・アン", "field": "name_alpha",
     "member": {"name_kanji": "グエン・ヴァン・アン", "name_kana": "グエン・ヴァン・アン"},
     "resident": {**FOREIGN, "name_kana": None}, "level": "katakana_alphabet"},
    {"description": "Silva Santos Maria vs マリア・サントス", "field": "name_alpha",
     "member": {"name_kanji": "マリア・サントス", "name_kana": "マリア・サントス"},
     "resident": {"name_kanji": "SILVA SANTOS MARIA", "name_alpha": "SILVA SANTOS MARIA", "name_kana": None},
     "level": "katakana_alphabet"},
    {"description": "katakana equal to the registered reading (チェ ジヨン / CHOI JIYOUNG)", "field": "name_alpha",
     "member": {"name_kanji": "チェ・ジヨン", "name_kana": "チェ ジヨン"},
     "resident": {"name_kanji": "CHOI JIYOUNG", "name_alpha": "CHOI JIYOUNG", "name_kana": "チェ ジヨン"},
     "level": "registered_reading"},
    {"description": "different foreign names", "field": "name_alpha",
     "member": {"name_kanji": "KIM MINJUN", "name_alpha": "KIM MINJUN", "name_kana": None},
     "resident": {**FOREIGN, "name_kana": None}, "level": "else"},
    # birth_date
    {"description": "birth exact", "field": "birth_date", "member": {}, "resident": {}, "level": "exact"},
    {"description": "one digit typo", "field": "birth_date", "member": {"birth_date": "1980-05-16"},
     "resident": {"birth_date": "1980-05-10"}, "level": "one_digit"},
    {"description": "adjacent digits transposed", "field": "birth_date", "member": {"birth_date": "1980-05-01"},
     "resident": {"birth_date": "1980-05-10"}, "level": "transposed"},
    {"description": "day and month swapped", "field": "birth_date", "member": {"birth_date": "1980-10-05"},
     "resident": {"birth_date": "1980-05-10"}, "level": "day_month_swap"},
    {"description": "another birth date", "field": "birth_date", "member": {"birth_date": "1950-01-01"},
     "resident": {"birth_date": "1980-05-10"}, "level": "else"},
    # sex
    {"description": "sex equal", "field": "sex", "member": {}, "resident": {}, "level": "exact"},
    {"description": "sex differs", "field": "sex", "member": {"sex": 2}, "resident": {"sex": 1}, "level": "else"},
    # last4
    {"description": "last4 equal", "field": "last4", "member": {}, "resident": {}, "level": "exact"},
    {"description": "last4 swapped digits", "field": "last4", "member": {"number": "123456780918"},
     "resident": {"number": "123456789018"}, "level": "transposed"},
    {"description": "last4 one digit", "field": "last4", "member": {"number": "123456789019"},
     "resident": {"number": "123456789018"}, "level": "one_digit"},
    {"description": "last4 different", "field": "last4", "member": {"number": "000000000019"},
     "resident": {"number": "123456789018"}, "level": "else"},
    # household / address / municipality
    {"description": "household agrees", "field": "household", "household": "same", "member": {}, "resident": {}, "level": "same"},
    {"description": "household disagrees", "field": "household", "household": "different", "member": {}, "resident": {},
     "level": "else"},
    {"description": "single-member household: unknown", "field": "household", "member": {}, "resident": {}, "level": "null"},
    {"description": "丁目番号 vs hyphens is the same address", "field": "address",
     "member": {"address": "千葉県八千代市大和田1-2-3"}, "resident": {"address": "千葉県八千代市大和田1丁目2番3号"},
     "level": "exact"},
    {"description": "same street, other number", "field": "address", "member": {"address": "千葉県八千代市大和田1-2-3"},
     "resident": {"address": "千葉県八千代市大和田1-2-5"}, "level": "jw92"},
    {"description": "other town", "field": "address", "member": {"address": "千葉県八千代市大和田1-2-3"},
     "resident": {"address": "大阪府大阪市北区梅田3-1-1"}, "level": "else"},
    {"description": "same municipality", "field": "municipality", "municipality": "131016", "member": {},
     "resident": {"municipality_code": "131016"}, "level": "exact"},
    {"description": "resident registered elsewhere", "field": "municipality", "municipality": "131016", "member": {},
     "resident": {"municipality_code": "271004"}, "level": "else"},
]


@pytest.mark.parametrize("case", CASES, ids=[c["description"] for c in CASES])
def test_level(case):
    row = compare_one(case["member"], case["resident"], case.get("household", "unknown"), case.get("municipality"))
    assert row[f"level_{case['field']}"] == case["level"]


def test_output_columns_follow_the_splink_convention():
    row = compare_one({"name_kanji": "髙橋 一郎"}, {"name_kanji": "高橋 一郎"})
    for comparison in COMPARISONS:
        assert {f"gamma_{comparison.field}", f"label_{comparison.field}", f"level_{comparison.field}"} <= set(row.index)
    position = [level.code for level in NAME_KANJI.levels].index("notation")
    assert row["gamma_name_kanji"] == len(NAME_KANJI.levels) - 1 - position
    assert row["label_name_kanji"] == NAME_KANJI.levels[position].label
    assert compare_one({"name_kanji": None}, {})["gamma_name_kanji"] == -1
