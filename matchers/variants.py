"""異体字・旧字体の畳み込み表 / variant-kanji folding table.

Three sources, applied per character and cached (names repeat a lot, characters even more):

1. ``jntajis.mj_shrink_candidates`` — the IPA MJ 縮退マップ (MJ → JIS X 0213) shipped offline by
   ``jntajis-python``. Each character has a *candidate set* (渡邉 → {渡辺, 渡邊, 渡邉}); two characters
   are variants when their candidate sets intersect. Since every set contains the JIS X 0213 base
   form first, comparing by set intersection is the same as comparing the first candidate, which
   is what makes the fold a plain ``str.translate`` (vectorisable) instead of a pairwise test.
2. OpenCC ``t2jp`` for common 旧字体 the MJ map leaves alone.
3. A small hand table of surname variants on top (嶋→島 …).

Never folded together: 齋/斎 and 齊/斉 are two different surname families (斎藤 ≠ 斉藤); the
guard :data:`NEVER_FOLD` is checked on every folded character.
"""
from __future__ import annotations

import unicodedata
from functools import lru_cache

# Hand additions for surname kanji (on top of the maintained tables).
SURNAME_VARIANTS: dict[str, str] = {
    "髙": "高", "﨑": "崎", "嵜": "崎", "邉": "辺", "邊": "辺", "澤": "沢", "廣": "広", "𠮷": "吉",
    "栁": "柳", "冨": "富", "濵": "浜", "濱": "浜", "櫻": "桜", "國": "国", "德": "徳", "惠": "恵",
    "眞": "真", "龍": "竜", "嶋": "島", "嶌": "島", "峯": "峰", "舘": "館", "籠": "篭", "槇": "槙",
    "檜": "桧", "藪": "薮", "淵": "渕", "昻": "昂",
}

# Two families per group: anything in one group must never fold onto the other group.
NEVER_FOLD: tuple[frozenset[str], frozenset[str]] = (frozenset("齋斎亝"), frozenset("齊斉"))

_VS_RANGES = ((0xFE00, 0xFE0F), (0xE0100, 0xE01EF))


def is_variation_selector(ch: str) -> bool:
    cp = ord(ch)
    return any(lo <= cp <= hi for lo, hi in _VS_RANGES)


@lru_cache(maxsize=1)
def _jntajis():
    try:
        import jntajis
    except ImportError:  # pragma: no cover - installed with the package
        return None, 0
    combo = jntajis.MJShrinkSchemeCombo
    everything = (combo.JIS_INCORPORATION_UCS_UNIFICATION_RULE | combo.INFERENCE_BY_READING_AND_GLYPH
                  | combo.MOJ_NOTICE_582 | combo.MOJ_FAMILY_REGISTER_ACT_RELATED_NOTICE)
    return jntajis, int(everything)


@lru_cache(maxsize=1)
def _opencc():
    try:
        import opencc
        return opencc.OpenCC("t2jp")
    except Exception:  # pragma: no cover - optional refinement
        return None


def mj_candidates(ch: str) -> tuple[str, ...]:
    """The MJ 縮退 candidate set of one character (itself included)."""
    jntajis, combo = _jntajis()
    if jntajis is None:
        return (ch,)
    try:
        found = tuple(jntajis.mj_shrink_candidates(ch, combo))
    except Exception:
        found = ()
    return found or (ch,)


def _family(ch: str) -> int | None:
    for i, group in enumerate(NEVER_FOLD):
        if ch in group:
            return i
    return None


def _refine(ch: str) -> str:
    """One candidate through OpenCC t2jp (common 旧字体) and the surname table."""
    converter = _opencc()
    folded = ch
    if converter is not None:
        converted = converter.convert(folded)
        if len(converted) == 1:
            folded = converted
    return SURNAME_VARIANTS.get(folded, folded)


def _crosses_family(ch: str, folded: str) -> bool:
    own, new = _family(ch), _family(folded)
    return new is not None and own is not None and new != own


@lru_cache(maxsize=None)
def _bases(ch: str) -> frozenset[str]:
    """The base forms ``ch`` may stand for: its MJ candidates, each refined; never across 齋/齊."""
    if ch.isascii() or not (unicodedata.category(ch) == "Lo" and ord(ch) >= 0x3400):
        return frozenset({ch})
    bases = {_refine(c) for c in mj_candidates(ch) if len(c) == 1} | {_refine(ch)}
    bases = {b for b in bases if not _crosses_family(ch, b)}
    return frozenset(bases) or frozenset({ch})


# Characters whose candidates name two or more different base forms (䅰 → {恩, 穂}): folding
# onto one of them would be a guess, so they stay as they are in the key and are compared by
# candidate-set intersection (:func:`variant_candidates`). Filled as characters are seen.
AMBIGUOUS_CHARS: set[str] = set()


@lru_cache(maxsize=None)
def fold_char(ch: str) -> str:
    """Representative of ``ch``'s variant class (one character, or ``ch`` itself)."""
    others = _bases(ch) - {ch}
    if len(others) == 1:
        return next(iter(others))
    if len(others) > 1:
        AMBIGUOUS_CHARS.add(ch)
    return ch


def variant_candidates(ch: str) -> frozenset[str]:
    """What a (folded) key character may stand for: itself, its fold and, for an ambiguous
    character, every base its MJ candidates name. Two characters are variants when these
    sets intersect (domain brief §2: compare by set intersection)."""
    return frozenset({ch, fold_char(ch)}) | (_bases(ch) if ch in AMBIGUOUS_CHARS else frozenset())


def fold_table(text_chars: set[str]) -> dict[int, str]:
    """``str.translate`` table folding every character of ``text_chars`` that has a variant."""
    table: dict[int, str] = {}
    for ch in text_chars:
        folded = fold_char(ch)
        if folded != ch:
            table[ord(ch)] = folded
    return table
