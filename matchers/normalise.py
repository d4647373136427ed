"""氏名の正規化 / name normalisation — the steps are data, interpreted twice.

Each :class:`Step` has a reason code and two interpretations of the same transformation:
``py`` on one string (to *explain* a reason: which steps were needed for two names to agree)
and ``arrow`` on a whole Arrow string array (to build the comparison *keys* of a feed in bulk,
:mod:`matchers.prepare`). Both come from the same tables below (separator class, fold table,
kana tables), and a property test (``tests/matchers/test_normalise.py``) checks that the two
interpretations agree on random names, so keys and explanations cannot drift apart.

A *key* is what two names are compared on after a chain of steps. When two names differ raw
but agree on the key, :func:`explain` says which steps were needed (reason codes: the steps
without which they would no longer agree) — the evidence the data team needs to fix notation
in bulk.

Readings are never generated from kanji (no pykakasi): kana keys only ever come from the
registered kana.
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Callable

import numpy as np

from matchers.variants import AMBIGUOUS_CHARS, fold_table, variant_candidates

# --- reason codes (理由コード) ------------------------------------------------------------
VARIATION_SELECTOR = "VARIATION_SELECTOR"   # 異体字セレクタ removed
WIDTH = "WIDTH"                             # 全角/半角, compatibility forms (NFKC)
SPACING = "SPACING"                         # spaces, ・ between surname and given name
VARIANT_KANJI = "VARIANT_KANJI"             # 異体字・旧字体 (MJ 縮退マップ, OpenCC, surname table)
GAIJI = "GAIJI"                             # 外字 placeholder (〓 ● ■, private use) as wildcard
KANA_HALFWIDTH = "KANA_HALFWIDTH"           # 半角カナ
KANA_HIRAGANA = "KANA_HIRAGANA"             # ひらがな vs カタカナ
KANA_VU = "KANA_VU"                         # ヴ row vs バ row
KANA_SMALL = "KANA_SMALL"                   # small kana written large (キヨウコ / キョウコ)
KANA_LONG_VOWEL = "KANA_LONG_VOWEL"         # long-vowel mark present or absent
KANA_READING = "KANA_READING"               # same kanji name, another registered reading (2025–26 振り仮名)
KANA_IN_KANJI_FIELD = "KANA_IN_KANJI_FIELD" # the reading written in the kanji field (イ ミンジュン / 李 敏俊)
KANA_TRANSLITERATION = "KANA_TRANSLITERATION"  # foreign name transliterated otherwise (タン / タイン)
ALPHA_CASE = "ALPHA_CASE"                   # letter case / punctuation in the alphabet name
ALPHA_ORDER = "ALPHA_ORDER"                 # foreign name tokens in another order
ALPHA_MIDDLE_NAME = "ALPHA_MIDDLE_NAME"     # middle / second surname left out
KATAKANA_ALPHABET = "KATAKANA_ALPHABET"     # katakana compared with the alphabet name
ALIAS = "ALIAS"                             # 通称 used by one side
FORMER_SURNAME = "FORMER_SURNAME"           # 旧氏 explains the surname
HOUSEHOLD_SURNAME = "HOUSEHOLD_SURNAME"     # surname changed, same given name, household agrees

REASONS = (VARIATION_SELECTOR, WIDTH, SPACING, VARIANT_KANJI, GAIJI, KANA_HALFWIDTH, KANA_HIRAGANA,
           KANA_VU, KANA_SMALL, KANA_LONG_VOWEL, KANA_READING, KANA_IN_KANJI_FIELD, KANA_TRANSLITERATION,
           ALPHA_CASE, ALPHA_ORDER, ALPHA_MIDDLE_NAME, KATAKANA_ALPHABET, ALIAS, FORMER_SURNAME,
           HOUSEHOLD_SURNAME)


# --- the tables both interpretations read ---------------------------------------------------
WILDCARD = "\uFFFD"  # one 外字 placeholder after normalisation
GAIJI_PLACEHOLDERS = "〓●■◆□○"
# Separators between name parts: ASCII and ideographic spaces, ・ (full and half width), ·, and
# the punctuation alphabet names carry. One explicit class, spelt for Python and for RE2.
SEPARATOR_CHARS = " \t\n\r\f\v\u3000・･·,/.-‐"
SEPARATORS = re.compile("[" + re.escape(SEPARATOR_CHARS) + "]+")
_SEPARATORS_RE2 = "[" + "".join("\\x{%X}" % ord(c) for c in SEPARATOR_CHARS) + "]+"
VARIATION_SELECTOR_RANGES = ((0xFE00, 0xFE0F), (0xE0100, 0xE01EF))
_VS_DELETE = {cp: None for lo, hi in VARIATION_SELECTOR_RANGES for cp in range(lo, hi + 1)}
_VS_RE2 = "[" + "".join("\\x{%X}-\\x{%X}" % r for r in VARIATION_SELECTOR_RANGES) + "]"
GAIJI_TABLE = {ord(ch): WILDCARD for ch in GAIJI_PLACEHOLDERS} | {cp: WILDCARD for cp in range(0xE000, 0xF900)}
HIRAGANA_TO_KATAKANA = {cp: cp + 0x60 for cp in range(0x3041, 0x3097)}
SMALL_KANA = "ァィゥェォッャュョヮヵヶㇰㇱㇲㇳㇴㇵㇶㇷㇸㇹㇺㇻㇼㇽㇾㇿ"
LARGE_KANA = "アイウエオツヤユヨワカケクシストヌハヒフヘホムラリルレロ"
SMALL_TO_LARGE = {ord(a): b for a, b in zip(SMALL_KANA, LARGE_KANA)}
# The large forms too (ヴアン): small kana are often written large, and this step runs first.
VU_ROW = {"ヴァ": "バ", "ヴィ": "ビ", "ヴェ": "ベ", "ヴォ": "ボ", "ヴュ": "ビュ",
          "ヴア": "バ", "ヴイ": "ビ", "ヴエ": "ベ", "ヴオ": "ボ", "ヴユ": "ビユ", "ヴ": "ブ"}
_VU = re.compile("|".join(sorted(VU_ROW, key=len, reverse=True)))
# ～ (U+FF5E) is "~" after NFKC: both are listed.
LONG_VOWEL_MARKS = "ー～〜~\u2015\u2500ｰ"
_LONG_DELETE = {ord(c): None for c in LONG_VOWEL_MARKS}
_LONG_RE2 = "[" + "".join("\\x{%X}" % ord(c) for c in LONG_VOWEL_MARKS) + "]"


# --- one string (py) ----------------------------------------------------------------------
def strip_variation_selectors(text: str) -> str:
    """Drop ideographic variation selectors (U+FE00–FE0F, U+E0100–E01EF): 葛󠄀 → 葛."""
    return text if text.isascii() else text.translate(_VS_DELETE)


def nfkc(text: str) -> str:
    """Unicode NFKC: full-width letters and digits, half-width kana, compatibility ideographs."""
    return unicodedata.normalize("NFKC", text)


def space_separators(text: str) -> str:
    """Every run of separators (spaces, 全角空白, ・ …) as one space, none at either end."""
    return SEPARATORS.sub(" ", text).strip(" ")


def drop_spaces(text: str) -> str:
    """The key joins the name parts: no space left."""
    return text.replace(" ", "")


def split_tokens(text: str) -> list[str]:
    """Name tokens on spaces and ・ (surname first for Japanese names)."""
    return [t for t in SEPARATORS.split(text) if t]


def mark_gaiji(text: str) -> str:
    """外字 placeholders (〓 ● ■, private-use U+E000–F8FF) become one wildcard character."""
    return text if text.isascii() else text.translate(GAIJI_TABLE)


_FOLD: dict[int, str] = {}
_FOLD_SEEN: set[str] = set()


def extend_fold_table(chars: set[str]) -> dict[int, str]:
    """Add the variant folds of ``chars`` to the shared translate table (computed once per character)."""
    new = chars - _FOLD_SEEN
    if new:
        _FOLD.update(fold_table(new))
        _FOLD_SEEN.update(new)
    return _FOLD


def fold_variants(text: str) -> str:
    """異体字・旧字体 to their base form (MJ 縮退マップ + OpenCC t2jp + surname table)."""
    if text.isascii():
        return text
    return text.translate(extend_fold_table(set(text)))


def hiragana_to_katakana(text: str) -> str:
    """ひらがな → カタカナ."""
    return text.translate(HIRAGANA_TO_KATAKANA)


def vu_to_bu(text: str) -> str:
    """ヴ row to バ row: ヴァン → バン, ヴ → ブ."""
    return _VU.sub(lambda m: VU_ROW[m.group(0)], text) if "ヴ" in text else text


def small_to_large(text: str) -> str:
    """Small kana as large: キョウコ → キヨウコ (old systems could not hold small kana)."""
    return text.translate(SMALL_TO_LARGE)


def drop_long_vowels(text: str) -> str:
    """Drop long-vowel marks (ー, ～)."""
    return text.translate(_LONG_DELETE)


# --- a whole array (arrow) -------------------------------------------------------------------
def _pc():
    import pyarrow.compute as pc
    return pc


def translate_where(arr, table: dict[int, str | None], chars: str):
    """``str.translate(table)`` in Arrow terms: only the values containing one of ``chars``
    (rare: variant kanji, 外字, hiragana) leave Arrow, everything else stays there."""
    import pyarrow as pa

    pc = _pc()
    if not chars or len(arr) == 0:
        return arr
    pattern = "[" + "".join("\\x{%X}" % ord(c) for c in sorted(set(chars))) + "]"
    hit = pc.fill_null(pc.match_substring_regex(arr, pattern), False).to_numpy(zero_copy_only=False)
    if not hit.any():
        return arr
    values = arr.to_numpy(zero_copy_only=False).astype(object)
    values[hit] = [v.translate(table) for v in values[hit]]
    return pa.array(values, type=pa.string())


def _chars_of(arr) -> set[str]:
    return set("".join(v for v in arr.to_pylist() if v and not v.isascii()))


def _arrow_fold(arr):
    chars = _chars_of(arr)
    table = extend_fold_table(chars)
    return translate_where(arr, table, "".join(c for c in chars if ord(c) in table))


def _arrow_gaiji(arr):
    chars = _chars_of(arr)
    return translate_where(arr, GAIJI_TABLE, "".join(c for c in chars if ord(c) in GAIJI_TABLE))


def _arrow_vu(arr):
    pc = _pc()
    for source in sorted(VU_ROW, key=len, reverse=True):
        arr = pc.replace_substring(arr, source, VU_ROW[source])
    return arr


# --- the steps ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Step:
    """One normalisation step: a reason code and the same transformation on a string and an array."""
    name: str
    reason: str
    py: Callable[[str], str] = field(repr=False)
    arrow: Callable[[object], object] = field(repr=False)


VS_STEP = Step("strip_variation_selectors", VARIATION_SELECTOR, strip_variation_selectors,
               lambda a: _pc().replace_substring_regex(a, _VS_RE2, ""))
SPACING_STEP = Step("space_separators", SPACING, space_separators,
                    lambda a: _pc().utf8_trim(_pc().replace_substring_regex(a, _SEPARATORS_RE2, " "), " "))
JOIN_STEP = Step("drop_spaces", SPACING, drop_spaces, lambda a: _pc().replace_substring(a, " ", ""))


def _nfkc_step(reason: str) -> Step:
    return Step("nfkc", reason, nfkc, lambda a: _pc().utf8_normalize(a, form="NFKC"))


KANJI_STEPS = (
    VS_STEP,
    _nfkc_step(WIDTH),
    SPACING_STEP,
    Step("fold_variants", VARIANT_KANJI, fold_variants, _arrow_fold),
    Step("mark_gaiji", GAIJI, mark_gaiji, _arrow_gaiji),
    JOIN_STEP,
)

KANA_STEPS = (
    _nfkc_step(KANA_HALFWIDTH),
    Step("hiragana_to_katakana", KANA_HIRAGANA, hiragana_to_katakana,
         lambda a: translate_where(a, HIRAGANA_TO_KATAKANA, "".join(map(chr, HIRAGANA_TO_KATAKANA)))),
    SPACING_STEP,
    Step("vu_to_bu", KANA_VU, vu_to_bu, _arrow_vu),
    Step("small_to_large", KANA_SMALL, small_to_large, lambda a: translate_where(a, SMALL_TO_LARGE, SMALL_KANA)),
    Step("drop_long_vowels", KANA_LONG_VOWEL, drop_long_vowels,
         lambda a: _pc().replace_substring_regex(a, _LONG_RE2, "")),
    JOIN_STEP,
)


def run_chain(text: str, steps: tuple[Step, ...], skip: int | None = None) -> str:
    """Apply ``steps`` in order to one string (leaving out step number ``skip``, if given)."""
    for i, step in enumerate(steps):
        if i != skip:
            text = step.py(text)
    return text


def arrow_chain(arr, steps: tuple[Step, ...]):
    """Apply ``steps`` in order to an Arrow string array (the vectorised :func:`run_chain`)."""
    for step in steps:
        arr = step.arrow(arr)
    return arr


def explain(left: str, right: str, steps: tuple[Step, ...],
            equal: Callable[[str, str], bool] | None = None) -> list[str]:
    """Reason codes without whose steps ``left`` and ``right`` would no longer agree.

    Steps sharing a reason (the two spacing steps) are left out together. Only meaningful
    when the two agree after the full chain; a step both sides needed in the same way (the
    space between surname and given name) is not a reason.
    """
    same = equal or (lambda a, b: a == b)
    if not same(run_chain(left, steps), run_chain(right, steps)):
        return []   # they do not agree: nothing to explain
    reasons: list[str] = []
    for reason in dict.fromkeys(step.reason for step in steps):
        kept = tuple(step for step in steps if step.reason != reason)
        if not same(run_chain(left, kept), run_chain(right, kept)):
            reasons.append(reason)
    if not reasons and left != right:
        # Two steps each sufficed (a full-width space: NFKC or the spacing step): name the first
        # step that brought the two sides together.
        for step in steps:
            new_left, new_right = step.py(left), step.py(right)
            if (new_left, new_right) != (left, right) and (left != right) and (new_left == new_right or
                                                                               same(new_left, new_right)):
                reasons.append(step.reason)
                break
            left, right = new_left, new_right
    return reasons


def explain_many(left: list[str], right: list[str], steps: tuple[Step, ...],
                 equal: Callable[[str, str], bool] | None = None) -> list[list[str]]:
    """:func:`explain` for many pairs at once: each chain (the full one, and one per reason left
    out) runs once over all the pairs in its Arrow interpretation; only pairs that no single
    reason explains (two steps each sufficed) take :func:`explain`'s step-by-step path."""
    import pyarrow as pa

    pc = _pc()
    if not left:
        return []
    # Each side after every prefix of the chain: a chain leaving a reason out shares the full
    # chain's steps up to that reason's first step.
    prefixes = []
    for values in (left, right):
        states = [pa.array(values, type=pa.string())]
        for step in steps:
            states.append(step.arrow(states[-1]))
        prefixes.append(states)

    def agree(x, y) -> np.ndarray:
        if equal is not None:
            return np.array([equal(u, v) for u, v in zip(x.to_pylist(), y.to_pylist())], dtype=bool)
        return pc.equal(x, y).to_numpy(zero_copy_only=False)

    def without(side: list, reason: str):
        skipped = [i for i, step in enumerate(steps) if step.reason == reason]
        values = side[skipped[0]]
        for i in range(skipped[0], len(steps)):
            if i not in skipped:
                values = steps[i].arrow(values)
        return values

    full = agree(prefixes[0][-1], prefixes[1][-1])
    order = list(dict.fromkeys(step.reason for step in steps))
    needed = {reason: ~agree(without(prefixes[0], reason), without(prefixes[1], reason)) for reason in order}
    out: list[list[str]] = []
    for i in range(len(left)):
        if not full[i]:
            out.append([])
            continue
        reasons = [reason for reason in order if needed[reason][i]]
        out.append(reasons if reasons or left[i] == right[i] else explain(left[i], right[i], steps, equal=equal))
    return out


def kanji_key(text: str) -> str:
    """Comparison key of a kanji name: VS stripped, NFKC, no spaces, variants folded, 外字 as wildcard."""
    return run_chain(text, KANJI_STEPS)


def kana_key(text: str) -> str:
    """Comparison key of a kana name (domain brief §2): NFKC → katakana → no spaces/・ → ヴ→ブ → small→large → no ー."""
    return run_chain(text, KANA_STEPS)


def kanji_tokens(text: str) -> str:
    """The kanji chain without the final join: the folded name parts, one space apart."""
    return run_chain(text, KANJI_STEPS[:-1])


def kana_tokens(text: str) -> str:
    """The kana chain without the final join: the folded reading's parts, one space apart."""
    return run_chain(text, KANA_STEPS[:-1])


# --- rare variants: candidate sets -------------------------------------------------------------
def variants_equal(a: str, b: str) -> bool:
    """Two folded keys agree character by character up to MJ candidate sets (䅰 ~ 穂, whose
    candidates are {恩, 穂}: compared by set intersection, never folded onto one of them) or
    a 外字 wildcard on either side."""
    if len(a) != len(b):
        return False
    for x, y in zip(a, b):
        if x == y or x == WILDCARD or y == WILDCARD:
            continue
        if (x in AMBIGUOUS_CHARS or y in AMBIGUOUS_CHARS) and variant_candidates(x) & variant_candidates(y):
            continue
        return False
    return True


# --- foreign names -------------------------------------------------------------------------
def alpha_tokens(text: str) -> tuple[str, ...]:
    """Upper-case alphabet tokens in written order: "Nguyen  Van-An" → (NGUYEN, VAN, AN)."""
    clean = nfkc(text).upper()
    return tuple(t for t in re.split(r"[^A-Z]+", clean) if t)


_PHONETIC_RULES = (
    (re.compile(r"PH"), "F"),             # PHAM = ファム
    (re.compile(r"(?<=[A-Z])H"), ""),     # TH→T, SH→S, CH→C, KH→K: the kana ear drops them
    (re.compile(r"NG$"), "N"), (re.compile(r"^NG"), "G"),
    (re.compile(r"C(?=[EIY])"), "S"),     # GRACE = グレイス
    (re.compile(r"[CKQ]"), "K"), (re.compile(r"X"), "S"), (re.compile(r"Z"), "J"),
    (re.compile(r"V"), "B"), (re.compile(r"L"), "R"), (re.compile(r"W"), ""),
    # フ is romanised FU but stands for H as much as F (HUNG = フング, PHAM = ファム).
    (re.compile(r"Y"), "I"), (re.compile(r"F"), "H"),
    (re.compile(r"(.)\1+"), r"\1"),
    (re.compile(r"(?<=[^AEIOU])[UO]$"), ""),  # epenthetic final vowel of katakana: サントス → SANTOSU
)


@lru_cache(maxsize=200_000)
def phonetic_key(token: str) -> str:
    """A coarse key that survives the katakana round trip: NGUYEN ~ GUEN, SANTOS ~ SANTOSU, VAN ~ BAN."""
    key = token.upper()
    for pattern, repl in _PHONETIC_RULES:
        key = pattern.sub(repl, key)
    return key


_VOICING = str.maketrans("GDJBZ", "KTSPS")


@lru_cache(maxsize=200_000)
def consonant_skeleton(token: str) -> str:
    """The phonetic key's consonants with voicing folded: TAN ~ TAIN, ROSARI ~ ROZARI, BI ~ VI —
    what survives two people transliterating one foreign name into katakana."""
    key = phonetic_key(token).translate(_VOICING)
    return re.sub(r"(.)\1+", r"\1", re.sub(r"[AEIOU]", "", key))


# Spellings whose katakana follows the name's language rather than English: Vietnamese TR is
# チ (TRANG = チャン), Spanish J is ホ (JOSE = ホセ). A token also sounds like these readings.
SPELLING_ALTERNATIVES = ((re.compile(r"^TR"), "CH"), (re.compile(r"^J"), "H"))


def spelling_variants(token: str) -> tuple[str, ...]:
    """The token and its language-specific readings (:data:`SPELLING_ALTERNATIVES`)."""
    return (token, *(p.sub(r, token) for p, r in SPELLING_ALTERNATIVES if p.search(token)))


@lru_cache(maxsize=200_000)
def sounds_alike(a: str, b: str, threshold: float = 0.8) -> bool:
    """Two romanised name tokens sound alike: the same consonant skeleton, or phonetic keys at
    least ``threshold`` Jaro–Winkler apart — for some reading of each (:func:`spelling_variants`)."""
    from rapidfuzz.distance import JaroWinkler

    for x in spelling_variants(a):
        for y in spelling_variants(b):
            skeleton = consonant_skeleton(x)
            if skeleton and skeleton == consonant_skeleton(y):
                return True
            if JaroWinkler.normalized_similarity(phonetic_key(x), phonetic_key(y)) >= threshold:
                return True
    return False


@lru_cache(maxsize=1)
def _cutlet():
    import cutlet
    return cutlet.Cutlet(use_foreign_spelling=False)


@lru_cache(maxsize=200_000)
def romanise_token(katakana: str) -> str:
    """One katakana token in Hepburn romaji via ``cutlet`` (cached: foreign tokens repeat)."""
    try:
        romaji = _cutlet().romaji(katakana)
    except Exception:  # pragma: no cover - cutlet failure on an odd token
        return ""
    return re.sub(r"[^A-Z]", "", romaji.upper())


def katakana_tokens_romanised(text: str) -> tuple[str, ...]:
    """Katakana name tokens (on spaces / ・) romanised: "グエン・ヴァン・アン" → (GUEN, BAN, AN)."""
    tokens = split_tokens(nfkc(text))
    return tuple(r for r in (romanise_token(hiragana_to_katakana(t)) for t in tokens) if r)
