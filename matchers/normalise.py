"""氏名の正規化 / name normalisation — each step a small named function with a reason code.

A *key* is what two names are compared on after a chain of steps. When two names differ raw but
agree on the key, :func:`explain` says which steps were needed (reason codes: the steps without
which they would no longer agree) — the evidence the data team needs to fix notation in bulk.

Everything is computed once per *unique* value (``per_unique``): names repeat a lot, and the
steps themselves are C-level (``unicodedata``, ``str.translate``).

Readings are never generated from kanji (no pykakasi): kana keys only ever come from the
registered kana.
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from typing import Callable

import numpy as np
import pandas as pd

from matchers.variants import fold_table, is_variation_selector

# --- reason codes (理由コード) ------------------------------------------------------------
VARIATION_SELECTOR = "VARIATION_SELECTOR"   # 異体字セレクタ removed
WIDTH = "WIDTH"                             # 全角/半角, compatibility forms (NFKC)
SPACING = "SPACING"                         # spaces, ・ between surname and given name
VARIANT_KANJI = "VARIANT_KANJI"             # 異体字・旧字体
GAIJI = "GAIJI"                             # 外字 placeholder (〓 ● ■, private use) as wildcard
KANA_HALFWIDTH = "KANA_HALFWIDTH"           # 半角カナ
KANA_HIRAGANA = "KANA_HIRAGANA"             # ひらがな vs カタカナ
KANA_VU = "KANA_VU"                         # ヴ row vs バ row
KANA_SMALL = "KANA_SMALL"                   # small kana written large (キヨウコ / キョウコ)
KANA_LONG_VOWEL = "KANA_LONG_VOWEL"         # long-vowel mark present or absent
ALPHA_CASE = "ALPHA_CASE"                   # letter case / punctuation in the alphabet name
ALPHA_ORDER = "ALPHA_ORDER"                 # foreign name tokens in another order
ALPHA_MIDDLE_NAME = "ALPHA_MIDDLE_NAME"     # middle / second surname left out
KATAKANA_ALPHABET = "KATAKANA_ALPHABET"     # katakana compared with the alphabet name
ALIAS = "ALIAS"                             # 通称 used by one side
FORMER_SURNAME = "FORMER_SURNAME"           # 旧氏 explains the surname
HOUSEHOLD_SURNAME = "HOUSEHOLD_SURNAME"     # surname changed, same given name, household agrees

REASONS = (VARIATION_SELECTOR, WIDTH, SPACING, VARIANT_KANJI, GAIJI, KANA_HALFWIDTH, KANA_HIRAGANA,
           KANA_VU, KANA_SMALL, KANA_LONG_VOWEL, ALPHA_CASE, ALPHA_ORDER, ALPHA_MIDDLE_NAME,
           KATAKANA_ALPHABET, ALIAS, FORMER_SURNAME, HOUSEHOLD_SURNAME)


WILDCARD = "\uFFFD"  # one 外字 placeholder after normalisation
_GAIJI_PLACEHOLDERS = "〓●■◆□○"
SEPARATORS = re.compile(r"[\s\u3000・･·,/\.\-‐]+")


# --- single steps (one character class each) ---------------------------------------------
_VS_DELETE = {cp: None for lo, hi in ((0xFE00, 0xFE0F), (0xE0100, 0xE01EF)) for cp in range(lo, hi + 1)}


def strip_variation_selectors(text: str) -> str:
    """Drop ideographic variation selectors (U+FE00–FE0F, U+E0100–E01EF): 葛󠄀 → 葛."""
    return text if text.isascii() else text.translate(_VS_DELETE)


def nfkc(text: str) -> str:
    """Unicode NFKC: full-width letters and digits, half-width kana, compatibility ideographs."""
    return unicodedata.normalize("NFKC", text)


def strip_spacing(text: str) -> str:
    """Remove spaces (ASCII and 全角), ・ and similar separators."""
    return SEPARATORS.sub("", text)


def split_tokens(text: str) -> list[str]:
    """Name tokens on spaces and ・ (surname first for Japanese names)."""
    return [t for t in SEPARATORS.split(text) if t]


GAIJI_TABLE = {ord(ch): WILDCARD for ch in _GAIJI_PLACEHOLDERS} | {cp: WILDCARD for cp in range(0xE000, 0xF900)}


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


def fold_table_now() -> dict[int, str]:
    """The shared fold table as extended so far."""
    return _FOLD


def fold_variants(text: str) -> str:
    """異体字・旧字体 to their base form (MJ 縮退マップ + OpenCC t2jp + surname table)."""
    if text.isascii():
        return text
    return text.translate(extend_fold_table(set(text)))


_HIRA_TO_KATA = {cp: cp + 0x60 for cp in range(0x3041, 0x3097)}
_SMALL_TO_LARGE = str.maketrans("ァィゥェォッャュョヮヵヶㇰㇱㇲㇳㇴㇵㇶㇷㇸㇹㇺㇻㇼㇽㇾㇿ",
                                "アイウエオツヤユヨワカケクシストヌハヒフヘホムラリルレロ")
# The large forms too (ヴアン): small kana are often written large, and this step runs first.
_VU_ROW = {"ヴァ": "バ", "ヴィ": "ビ", "ヴェ": "ベ", "ヴォ": "ボ", "ヴュ": "ビュ",
           "ヴア": "バ", "ヴイ": "ビ", "ヴエ": "ベ", "ヴオ": "ボ", "ヴユ": "ビユ", "ヴ": "ブ"}
_VU = re.compile("|".join(sorted(_VU_ROW, key=len, reverse=True)))


def hiragana_to_katakana(text: str) -> str:
    """ひらがな → カタカナ."""
    return text.translate(_HIRA_TO_KATA)


def vu_to_bu(text: str) -> str:
    """ヴ row to バ row: ヴァン → バン, ヴ → ブ."""
    return _VU.sub(lambda m: _VU_ROW[m.group(0)], text) if "ヴ" in text else text


_LONG_DELETE = {ord(c): None for c in "ー～〜\u2015\u2500ｰ"}


def small_to_large(text: str) -> str:
    """Small kana as large: キョウコ → キヨウコ (old systems could not hold small kana)."""
    return text.translate(_SMALL_TO_LARGE)


def drop_long_vowels(text: str) -> str:
    """Drop long-vowel marks (ー, ～)."""
    return text.translate(_LONG_DELETE)


def is_latin(text: str) -> bool:
    """True when the (NFKC) text is written in the Latin alphabet."""
    letters = [ch for ch in text if ch.isalpha()]
    return bool(letters) and all(ch.isascii() for ch in letters)


def is_katakana(text: str) -> bool:
    letters = [ch for ch in text if ch.isalpha()]
    return bool(letters) and all("\u30a0" <= ch <= "\u30ff" or "\u3040" <= ch <= "\u309f" for ch in letters)


# --- chains: key + mask of steps that changed the value ----------------------------------
@dataclass(frozen=True)
class Step:
    name: str
    reason: str
    func: Callable[[str], str]


KANJI_STEPS = (
    Step("strip_variation_selectors", VARIATION_SELECTOR, strip_variation_selectors),
    Step("nfkc", WIDTH, nfkc),
    Step("strip_spacing", SPACING, strip_spacing),
    Step("fold_variants", VARIANT_KANJI, fold_variants),
    Step("mark_gaiji", GAIJI, mark_gaiji),
)

KANA_STEPS = (
    Step("nfkc", KANA_HALFWIDTH, nfkc),
    Step("hiragana_to_katakana", KANA_HIRAGANA, hiragana_to_katakana),
    Step("strip_spacing", SPACING, strip_spacing),
    Step("vu_to_bu", KANA_VU, vu_to_bu),
    Step("small_to_large", KANA_SMALL, small_to_large),
    Step("drop_long_vowels", KANA_LONG_VOWEL, drop_long_vowels),
)


def run_chain(text: str, steps: tuple[Step, ...], skip: int | None = None) -> str:
    """Apply ``steps`` in order (leaving out step number ``skip``, if given)."""
    for i, step in enumerate(steps):
        if i != skip:
            text = step.func(text)
    return text


def per_unique(values: pd.Series, func: Callable[[str], object]) -> np.ndarray:
    """``func`` applied once per unique non-missing value, spread back (None where missing)."""
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    results = np.empty(len(uniques) + 1, dtype=object)
    results[:-1] = [func(u) for u in uniques.tolist()]
    results[-1] = None
    return results[codes]  # code -1 (missing) takes the trailing None


def chain_series(values: pd.Series, steps: tuple[Step, ...]) -> np.ndarray:
    """Vectorised :func:`run_chain` (object array; None where missing or empty)."""
    return per_unique(values, lambda t: run_chain(t, steps) or None)


def explain(left: str, right: str, steps: tuple[Step, ...],
            equal: Callable[[str, str], bool] | None = None) -> list[str]:
    """Reason codes of the steps without which ``left`` and ``right`` would no longer agree.

    Only meaningful when the two agree after the full chain; a step both sides needed in the
    same way (the space between surname and given name) is not a reason.
    """
    same = equal or (lambda a, b: a == b)
    reasons = []
    for i, step in enumerate(steps):
        if not same(run_chain(left, steps, skip=i), run_chain(right, steps, skip=i)):
            reasons.append(step.reason)
    return reasons


def kanji_key(text: str) -> str:
    """Comparison key of a kanji name: VS stripped, NFKC, no spaces, variants folded, 外字 as wildcard."""
    return run_chain(text, KANJI_STEPS)


def kana_key(text: str) -> str:
    """Comparison key of a kana name (domain brief §2): NFKC → katakana → no spaces/・ → ヴ→ブ → small→large → no ー."""
    return run_chain(text, KANA_STEPS)


# --- name parts ----------------------------------------------------------------------------
def surname_given(text: str) -> tuple[str | None, str | None]:
    """Split a Japanese name at its first space (surname, given name); None when not split."""
    parts = split_tokens(nfkc(strip_variation_selectors(text)))
    if len(parts) < 2:
        return None, None
    return parts[0], "".join(parts[1:])


def kanji_part_key(part: str | None) -> str | None:
    return None if part is None else run_chain(part, KANJI_STEPS[3:]) or None


def kana_part_key(part: str | None) -> str | None:
    return None if part is None else run_chain(part, KANA_STEPS) or None


# --- foreign names -------------------------------------------------------------------------
def alpha_tokens(text: str) -> tuple[str, ...]:
    """Upper-case alphabet tokens in written order: "Nguyen  Van-An" → (NGUYEN, VAN, AN)."""
    clean = nfkc(text).upper()
    return tuple(t for t in re.split(r"[^A-Z]+", clean) if t)


_PHONETIC_RULES = (
    (re.compile(r"(?<=[A-Z])H"), ""),     # TH→T, PH→P, SH→S, CH→C, KH→K: the kana ear drops them
    (re.compile(r"NG$"), "N"), (re.compile(r"^NG"), "G"),
    (re.compile(r"[CKQ]"), "K"), (re.compile(r"X"), "S"), (re.compile(r"Z"), "J"),
    (re.compile(r"V"), "B"), (re.compile(r"L"), "R"), (re.compile(r"W"), ""),
    (re.compile(r"Y"), "I"), (re.compile(r"F"), "P"),
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
