"""氏名正規化の各段階 / each normalisation step, with real Japanese examples."""
from __future__ import annotations

import pandas as pd
import pytest

from matchers import normalise as n
from matchers.normalise import KANA_STEPS, KANJI_STEPS, explain, kana_key, kanji_key
from matchers.prepare import address_key, kana_features, kanji_features
from matchers.variants import NEVER_FOLD, fold_char, mj_candidates

STEP_CASES = [
    {"description": "IVS after 葛 is dropped", "step": n.strip_variation_selectors, "text": "葛\U000E0100飾", "out": "葛飾"},
    {"description": "standard variation selector dropped", "step": n.strip_variation_selectors, "text": "辻\ufe00", "out": "辻"},
    {"description": "NFKC folds full-width letters and half-width kana", "step": n.nfkc, "text": "ＳＡＴＯ ｷﾖｳｺ", "out": "SATO キヨウコ"},
    {"description": "NFKC does not fold 髙 or 﨑", "step": n.nfkc, "text": "髙﨑", "out": "髙﨑"},
    {"description": "spaces, 全角空白 and ・ become one space", "step": n.space_separators, "text": " グエン・ヴァン　アン", "out": "グエン ヴァン アン"},
    {"description": "旧字体 folded: 髙橋 → 高橋", "step": n.fold_variants, "text": "髙橋", "out": "高橋"},
    {"description": "山﨑 → 山崎", "step": n.fold_variants, "text": "山﨑", "out": "山崎"},
    {"description": "渡邊 and 渡邉 → 渡辺", "step": n.fold_variants, "text": "渡邊渡邉", "out": "渡辺渡辺"},
    {"description": "𠮷田 (outside the BMP) → 吉田", "step": n.fold_variants, "text": "𠮷田", "out": "吉田"},
    {"description": "澤・廣・國・櫻 → 沢・広・国・桜", "step": n.fold_variants, "text": "澤廣國櫻", "out": "沢広国桜"},
    {"description": "嶋 → 島 (hand surname table)", "step": n.fold_variants, "text": "嶋田", "out": "島田"},
    {"description": "齋藤 → 斎藤 but never 斉藤", "step": n.fold_variants, "text": "齋藤", "out": "斎藤"},
    {"description": "齊藤 → 斉藤 but never 斎藤", "step": n.fold_variants, "text": "齊藤", "out": "斉藤"},
    {"description": "〓 is a one-character wildcard", "step": n.mark_gaiji, "text": "〓田", "out": n.WILDCARD + "田"},
    {"description": "private-use code point is a wildcard", "step": n.mark_gaiji, "text": "\ue001木", "out": n.WILDCARD + "木"},
    {"description": "ひらがな → カタカナ", "step": n.hiragana_to_katakana, "text": "きょうこ", "out": "きょうこ".translate({c: c + 0x60 for c in range(0x3041, 0x3097)})},
    {"description": "ヴァン → バン", "step": n.vu_to_bu, "text": "ヴァン", "out": "バン"},
    {"description": "ヴ alone → ブ", "step": n.vu_to_bu, "text": "ヴー", "out": "ブー"},
    {"description": "ヴア (small ァ written large) → バ", "step": n.vu_to_bu, "text": "ヴアン", "out": "バン"},
    {"description": "small kana written large", "step": n.small_to_large, "text": "キョウコ ホッタ", "out": "キヨウコ ホツタ"},
    {"description": "long-vowel marks dropped", "step": n.drop_long_vowels, "text": "ルーカス～", "out": "ルカス"},
]


@pytest.mark.parametrize("case", STEP_CASES, ids=[c["description"] for c in STEP_CASES])
def test_each_step(case):
    assert case["step"](case["text"]) == case["out"]


KEY_CASES = [
    {"description": "旧字体 髙 matches 高", "left": "髙橋 一郎", "right": "高橋 一郎", "kind": "kanji", "same": True},
    {"description": "﨑 matches 崎", "left": "山﨑 花子", "right": "山崎 花子", "kind": "kanji", "same": True},
    {"description": "邊 matches 辺", "left": "渡邊 恵", "right": "渡辺 恵", "kind": "kanji", "same": True},
    {"description": "𠮷 matches 吉", "left": "𠮷田 茂", "right": "吉田 茂", "kind": "kanji", "same": True},
    {"description": "斎藤 is not 斉藤 (two surname families)", "left": "斎藤 茂", "right": "斉藤 茂", "kind": "kanji", "same": False},
    {"description": "齋藤 is not 齊藤", "left": "齋藤 茂", "right": "齊藤 茂", "kind": "kanji", "same": False},
    {"description": "half-width kana matches full-width", "left": "ﾀｶﾊｼ ｲﾁﾛｳ", "right": "タカハシ イチロウ", "kind": "kana", "same": True},
    {"description": "キヨウコ matches キョウコ", "left": "キヨウコ", "right": "キョウコ", "kind": "kana", "same": True},
    {"description": "ヴ matches ブ", "left": "ヴー", "right": "ブー", "kind": "kana", "same": True},
    {"description": "ひらがな matches カタカナ", "left": "さとう きょうこ", "right": "サトウ キョウコ", "kind": "kana", "same": True},
    {"description": "グエン・ヴァン・アン matches グエン バン アン", "left": "グエン・ヴァン・アン", "right": "グエン バン アン", "kind": "kana", "same": True},
    {"description": "different readings stay different", "left": "サイトウ", "right": "サトウ", "kind": "kana", "same": False},
]


@pytest.mark.parametrize("case", KEY_CASES, ids=[c["description"] for c in KEY_CASES])
def test_keys(case):
    key = kanji_key if case["kind"] == "kanji" else kana_key
    assert (key(case["left"]) == key(case["right"])) is case["same"]


def test_saito_families_never_fold_together():
    family_a, family_b = NEVER_FOLD
    folded_a = {fold_char(c) for c in family_a}
    folded_b = {fold_char(c) for c in family_b}
    assert folded_a.isdisjoint(folded_b)
    assert kanji_key("斎藤") != kanji_key("斉藤")


def test_mj_candidate_sets_come_from_jntajis():
    assert set(mj_candidates("邉")) == {"辺", "邊", "邉"}
    assert set(mj_candidates("辺")) == {"辺"}


EXPLAIN_CASES = [
    {"left": "髙橋 一郎", "right": "高橋 一郎", "steps": KANJI_STEPS, "reasons": ["VARIANT_KANJI"]},
    {"left": "山田　太郎", "right": "山田太郎", "steps": KANJI_STEPS, "reasons": ["SPACING"]},
    {"left": "葛\U000E0100西 一郎", "right": "葛西 一郎", "steps": KANJI_STEPS, "reasons": ["VARIATION_SELECTOR"]},
    {"left": "ｷﾖｳｺ", "right": "キョウコ", "steps": KANA_STEPS, "reasons": ["KANA_HALFWIDTH", "KANA_SMALL"]},
    {"left": "グエン・ヴァン", "right": "グエン バン", "steps": KANA_STEPS, "reasons": ["SPACING", "KANA_VU"]},
    {"left": "グエン ヴァン", "right": "グエン バン", "steps": KANA_STEPS, "reasons": ["KANA_VU"]},
    {"left": "ルーカス", "right": "ルカス", "steps": KANA_STEPS, "reasons": ["KANA_LONG_VOWEL"]},
]


@pytest.mark.parametrize("case", EXPLAIN_CASES, ids=[f"{c['left']}|{c['right']}" for c in EXPLAIN_CASES])
def test_explain_names_only_the_needed_steps(case):
    assert explain(case["left"], case["right"], case["steps"]) == case["reasons"]


def test_explaining_many_pairs_at_once_gives_each_pair_its_own_reasons():
    from matchers.comparisons import wildcard_equal
    from matchers.normalise import explain_many

    extra = [("山田 太郎", "山田 太郎"), ("山田 太郎", "佐藤 花子"), ("ＹＡＭＡＤＡ　Ｔａｒｏ", "YAMADA Taro"), ("", "")]
    for steps in (KANJI_STEPS, KANA_STEPS):
        pairs = [(c["left"], c["right"]) for c in EXPLAIN_CASES if c["steps"] is steps] + extra
        assert explain_many([a for a, _ in pairs], [b for _, b in pairs], steps) == [explain(a, b, steps) for a, b in pairs]
    wild = [("〓橋 一郎", "高橋 一郎"), ("髙〓 一郎", "高橋 一郎"), ("〓橋", "山田")]
    assert explain_many([a for a, _ in wild], [b for _, b in wild], KANJI_STEPS, equal=wildcard_equal) == \
        [explain(a, b, KANJI_STEPS, equal=wildcard_equal) for a, b in wild]


def test_bulk_features_match_the_step_chains():
    names = ["髙橋 一郎", "渡邉　恵", "〓田 花子", "NGUYEN VAN AN"]
    bulk = kanji_features(names)
    assert bulk["kanji_key"] == [kanji_key(x) for x in names]
    assert bulk["kanji_sur"] == ["高橋", "渡辺", n.WILDCARD + "田", "NGUYEN"]
    assert bulk["latin"] == [False, False, False, True]
    readings = ["ｷﾖｳｺ ｻﾄｳ", "グエン・ヴァン・アン"]
    kana = kana_features(readings)
    assert kana["kana_key"] == [kana_key(x) for x in readings]
    assert kana["kana_tokens"] == ["キヨウコ サトウ", "グエン バン アン"]


def test_katakana_romanisation_and_phonetic_key():
    assert n.katakana_tokens_romanised("グエン・ヴァン・アン") == ("GUEN", "VAN", "AN")
    assert n.phonetic_key("SANTOSU") == n.phonetic_key("SANTOS")
    assert n.phonetic_key("VAN") == n.phonetic_key("BAN")


def test_address_key_folds_banchi_notation():
    assert address_key("千葉県八千代市大和田1丁目2番3号") == address_key("千葉県八千代市大和田１－２－３")
    assert address_key("大字小池123番地") == "小池123"


def test_bulk_address_keys_match_the_single_function():
    from matchers.prepare import address_keys
    addresses = ["千葉県八千代市大和田1丁目2番3号", "千葉県八千代市大和田１－２－３ ハイツ 101号室", "大字小池123番地"]
    assert address_keys(addresses) == [address_key(a) for a in addresses]


# --- the two interpretations of the steps agree ------------------------------------------------
from hypothesis import given, settings, strategies as st  # noqa: E402

# What names in feeds are made of: common and variant kanji (incl. outside the BMP and the
# ambiguous 䅰), 外字 placeholders and private use, kana of every width and size, hiragana,
# long-vowel marks, Latin letters full and half width, every separator, variation selectors.
NAME_ALPHABET = ("山田太郎花子髙高橋﨑崎𠮷吉邉邊辺澤沢齋斎齊斉䅰穂穗恩嶋島李敏俊金"
                 "〓●■◆\ue001\uf8ff"
                 "アイウエオカキクケコサシスセソタチツテトナハマヤユヨラワンガギグゲゴヴァィゥェォッャュョヮヵヶ"
                 "ｱｲｳｶﾞｷﾞｯｬｮｰﾞﾟ" "あいうきょうこゔ" "ー～〜―"
                 "ABCxyzＡＢＣａｂ" " \u3000・･·,/.-‐\t" "\ufe00\U000E0100")


@settings(max_examples=150, deadline=None)
@given(st.lists(st.text(alphabet=NAME_ALPHABET, max_size=10), min_size=1, max_size=12))
def test_vectorised_keys_equal_the_per_string_chains_on_random_names(names):
    kanji = kanji_features(names)
    assert kanji["kanji_key"] == [kanji_key(x) or None for x in names]
    spaced = [n.kanji_tokens(x).split(" ") for x in names]
    assert kanji["kanji_sur"] == [p[0] or None if len(p) >= 2 else None for p in spaced]
    assert kanji["kanji_given"] == ["".join(p[1:]) or None if len(p) >= 2 else None for p in spaced]
    kana = kana_features(names)
    assert kana["kana_key"] == [kana_key(x) or None for x in names]
    assert kana["kana_tokens"] == [" ".join(t for t in n.kana_tokens(x).split(" ") if t) or None for x in names]
    # The token columns computed in Arrow agree with splitting each reading in Python.
    parts = [[t for t in n.kana_tokens(x).split(" ") if t] for x in names]
    assert kana["kana_ntok"] == [len(t) for t in parts]
    assert kana["kana_sur"] == [t[0] if len(t) >= 2 else None for t in parts]
    assert kana["kana_given"] == ["".join(t[1:]) if len(t) >= 2 else None for t in parts]
    assert kana["kana_sorted"] == [" ".join(sorted(t)) or None for t in parts]


def test_every_step_is_used_by_a_chain():
    # Dead steps are removed: each declared step function is part of a chain.
    chained = {step.py for step in (*KANJI_STEPS, *KANA_STEPS)}
    for name in ("strip_variation_selectors", "nfkc", "space_separators", "fold_variants", "mark_gaiji",
                 "hiragana_to_katakana", "vu_to_bu", "small_to_large", "drop_long_vowels", "drop_spaces"):
        assert getattr(n, name) in chained


def test_two_address_passes_give_the_four_pass_keys():
    """ADDRESS_RULES in two passes = the four passes they replace (prefix; 大字/字/spaces;
    丁目・番地・号 → "-"; dash runs → "-"), for the single-string and the Arrow forms."""
    import random
    import re

    from matchers.normalise import nfkc
    from matchers.prepare import address_keys

    four = ((r"^(北海道|東京都|京都府|大阪府|[^0-9 -]{2,3}県)", ""), ("(大字|字|[ \t\u3000])", ""),
            (r"(丁目|番地の|番地|番|号|の)", "-"), (r"[‐－ー―-]+", "-"))

    def four_pass(text: str) -> str:
        key = nfkc(text)
        for pattern, repl in four:
            key = re.sub(pattern, repl, key)
        return key.strip("-")

    rng = random.Random(7)
    alphabet = list("丁目番地の号ー―‐-－ 　\t大字県東京都北海道京府阪12３山田")
    cases = [" 千葉県八千代市大和田1丁目2番3号", "　千葉県千葉市", "字山県X", "大字千葉県", "丁丁目", "センター1番地の2",
             *("".join(rng.choice(alphabet) for _ in range(rng.randint(0, 12))) for _ in range(3000))]
    assert [address_key(c) for c in cases] == [four_pass(c) for c in cases]
    assert [k or "" for k in address_keys(cases)] == [four_pass(c) for c in cases]
