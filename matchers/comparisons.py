"""項目ごとの比較 / field comparisons declared as ordered levels (after Splink's comparison library).

A :class:`Comparison` is a field name plus levels from most to least specific; the first level
that holds wins (``np.select`` over the levels' masks). Levels read the *pairs* frame: one row
per (member, resident) pair, member columns suffixed ``_l`` and resident columns ``_r``, with
the normalised keys :func:`matchers.prepare.prepare_side` added on each side.

Output columns per comparison: ``gamma_<field>`` (Splink convention: −1 null, 0 the last
"else" level, higher = closer) and ``label_<field>`` (the level's label, what a steward reads).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np
import pandas as pd
from rapidfuzz import process
from rapidfuzz.distance import JaroWinkler

from matchers.prepare import column_codes
from matchers.normalise import (ALIAS, ALPHA_MIDDLE_NAME, ALPHA_ORDER, FORMER_SURNAME, HOUSEHOLD_SURNAME,
                                KANA_IN_KANJI_FIELD, KANA_READING, KANA_TRANSLITERATION, KATAKANA_ALPHABET,
                                VARIANT_KANJI, WILDCARD, katakana_tokens_romanised, phonetic_key, romanise_token, sounds_alike,
                                variants_equal)

Mask = Callable[[pd.DataFrame], np.ndarray]


# --- vectorised helpers --------------------------------------------------------------------
def _cached(pairs, key: str, compute):
    cache = getattr(pairs, "attrs", None)
    if cache is None or not isinstance(pairs, PairView):
        return compute()
    if key not in cache:
        cache[key] = compute()
    return cache[key]


def _obj(pairs: pd.DataFrame, column: str) -> np.ndarray:
    def compute():
        values = pairs[column]
        if values.dtype == object:
            return values.to_numpy()
        return values.to_numpy(dtype=object, na_value=None)
    return _cached(pairs, f"__obj__{column}", compute)


def _obj_at(pairs: pd.DataFrame, column: str, rows: np.ndarray) -> np.ndarray:
    """``column``'s values at ``rows`` as Python objects (None missing); a categorical column
    (a prepared side's vocabulary) is read through its codes, without objects for every pair."""
    values = pairs[column]
    if isinstance(values.dtype, pd.CategoricalDtype):
        codes = values.cat.codes.to_numpy()[rows]
        if len(values.cat.categories) == 0:
            return np.full(len(codes), None, dtype=object)
        # Only the distinct values asked for become Python objects (the vocabulary stays in Arrow).
        distinct, inverse = np.unique(codes, return_inverse=True)
        taken = np.empty(len(distinct), dtype=object)
        taken[:] = values.cat.categories.take(np.maximum(distinct, 0)).to_numpy(dtype=object)
        taken[distinct < 0] = None
        return taken[inverse]
    return _obj(pairs, column)[rows]


def _codes(pairs: pd.DataFrame, column: str) -> np.ndarray | None:
    """The integer codes of ``column`` (:data:`matchers.prepare.CODED_COLUMNS`), when the pairs carry them."""
    return _cached(pairs, f"__codes__{column}", lambda: column_codes(pairs, column))


def present(pairs: pd.DataFrame, column: str) -> np.ndarray:
    def compute():
        codes = _codes(pairs, column)
        return pairs[column].notna().to_numpy() if codes is None else codes >= 0
    return _cached(pairs, f"__present__{column}", compute)


def equal(pairs: pd.DataFrame, left: str, right: str) -> np.ndarray:
    """Both present and equal (integer codes where the pairs carry them, else object comparison)."""
    code_l, code_r = _codes(pairs, left), _codes(pairs, right)
    if code_l is not None and code_r is not None and _one_vocabulary(pairs, left, right):
        return (code_l >= 0) & (code_l == code_r)
    both = present(pairs, left) & present(pairs, right)
    if pd.api.types.is_datetime64_any_dtype(pairs[left].dtype):
        # Dates compare as int64 nanoseconds (object Timestamps would be built per row).
        return both & (pairs[left].to_numpy().view(np.int64) == pairs[right].to_numpy().view(np.int64))
    a, b = _obj(pairs, left), _obj(pairs, right)
    out = np.zeros(len(pairs), dtype=bool)
    out[both] = a[both] == b[both]
    return out


def _one_vocabulary(pairs, left: str, right: str) -> bool:
    """Two coded columns whose codes compare: ``code_`` columns (one factorisation of the two
    sides) or categoricals of one vocabulary."""
    if ("code_" + left in pairs) and ("code_" + right in pairs):
        return True
    a, b = pairs[left].dtype, pairs[right].dtype
    return isinstance(a, pd.CategoricalDtype) and a is b


def _distinct_rows(pairs: pd.DataFrame, left: str, right: str, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Of ``rows``, one row per distinct (left value, right value) and each row's index into them
    (by codes when the pairs carry them; else every row stands for itself)."""
    code_l, code_r = _codes(pairs, left), _codes(pairs, right)
    if code_l is None or code_r is None or len(rows) == 0:
        return rows, np.arange(len(rows))
    width = np.int64(max(int(code_l.max()), int(code_r.max())) + 2)
    key = code_l[rows].astype(np.int64) * width + code_r[rows]
    inverse, firsts = pd.factorize(key)
    first_row = np.empty(len(firsts), dtype=np.int64)
    first_row[inverse[::-1]] = rows[::-1]   # the first row holding each distinct pair
    return first_row, inverse


def jaro_winkler(pairs: pd.DataFrame, left: str, right: str) -> np.ndarray:
    """Jaro–Winkler similarity per pair (rapidfuzz batch scorer; 0 when either side is missing).

    Computed once per distinct pair of values; two equal values score 1.0 without computing
    (every comparison decides equal keys at an earlier level anyway)."""
    cache_key = f"__jw__{left}__{right}"
    if cache_key in pairs.attrs:
        return pairs.attrs[cache_key]
    both = present(pairs, left) & present(pairs, right)
    same = equal(pairs, left, right)
    out = np.zeros(len(pairs), dtype=np.float64)
    out[same] = 1.0
    rows = np.flatnonzero(both & ~same)
    if len(rows):
        firsts, inverse = _distinct_rows(pairs, left, right, rows)
        a = _obj_at(pairs, left, firsts).tolist()
        b = _obj_at(pairs, right, firsts).tolist()
        out[rows] = process.cpdist(a, b, scorer=JaroWinkler.normalized_similarity, workers=-1)[inverse]
    pairs.attrs[cache_key] = out
    return out


def wildcard_equal(a: str, b: str) -> bool:
    """Same length and equal wherever neither side holds a 外字 wildcard."""
    return len(a) == len(b) and all(x == y or x == WILDCARD or y == WILDCARD for x, y in zip(a, b))


def _pairwise(pairs: pd.DataFrame, left: str, right: str, test: Callable[[object, object], bool],
              where: np.ndarray | None = None) -> np.ndarray:
    """A Python predicate on the (rare) rows selected by ``where``; run once per distinct pair."""
    rows = present(pairs, left) & present(pairs, right)
    if where is not None:
        rows &= where
    out = np.zeros(len(pairs), dtype=bool)
    idx = np.flatnonzero(rows)
    if len(idx):
        firsts, inverse = _distinct_rows(pairs, left, right, idx)
        a = _obj_at(pairs, left, firsts)
        b = _obj_at(pairs, right, firsts)
        cache: dict[tuple, bool] = {}
        results = []
        for x, y in zip(a, b):
            k = (x, y)
            if k not in cache:
                cache[k] = bool(test(x, y))
            results.append(cache[k])
        out[idx] = np.asarray(results, dtype=bool)[inverse]
    return out


def tokens_subset(a: str, b: str) -> bool:
    """The shorter token list (space-separated) is contained in the longer one as a set, ≥ 2 shared."""
    sa, sb = set(a.split()), set(b.split())
    small, large = (sa, sb) if len(sa) <= len(sb) else (sb, sa)
    return len(small) >= 2 and small <= large


def phonetic_tokens_match(a: tuple | str, b: tuple | str, threshold: float = 0.8) -> bool:
    """Every token of the shorter name sounds like a distinct token of the longer one
    (:func:`matchers.normalise.sounds_alike`: same consonant skeleton or close phonetic keys)."""
    a = tuple(a.split()) if isinstance(a, str) else a
    b = tuple(b.split()) if isinstance(b, str) else b
    if not a or not b:
        return False
    small, large = (a, b) if len(a) <= len(b) else (b, a)
    if len(small) < min(2, len(large)):
        return False
    used: set[int] = set()
    for token in small:
        match = next((j for j, other in enumerate(large) if j not in used and token == other), None)
        if match is None:
            match = next((j for j, other in enumerate(large) if j not in used and sounds_alike(token, other, threshold)),
                         None)
        if match is None:
            return False
        used.add(match)
    return True


def kana_sound_alike(a: str, b: str) -> bool:
    """Two katakana names (space-separated tokens) sound alike token by token, in any order —
    transliterations of one foreign name (タン / タイン, ロサリー / ロザリー, ドゥック / ドック)."""
    return phonetic_tokens_match(tuple(romanise_token(t) for t in a.split()), tuple(romanise_token(t) for t in b.split()))


# --- levels ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Level:
    """One comparison level: a code, a readable label and its mask over the pairs frame."""
    code: str
    label: str
    mask: Mask = field(repr=False)
    notation: bool = False   # the level means "same value up to notation"
    reason: str | None = None  # the reason code a notation level stands for (None: the step chain says)

    @property
    def agrees(self) -> bool:
        """The two sides hold the same value, exactly or up to notation."""
        return self.code in ("exact", "same") or self.notation


def NullLevel(left: str, right: str, label: str = "missing / 欠損") -> Level:
    return Level("null", label, lambda p: ~(present(p, left) & present(p, right)))


def ExactLevel(left: str, right: str, label: str = "exact / 完全一致") -> Level:
    return Level("exact", label, lambda p: equal(p, left, right))


def KeyLevel(code: str, left: str, right: str, label: str, notation: bool = True, reason: str | None = None) -> Level:
    return Level(code, label, lambda p: equal(p, left, right), notation=notation, reason=reason)


def JaroWinklerLevel(left: str, right: str, threshold: float) -> Level:
    return Level(f"jw{int(threshold * 100)}", f"similar (Jaro–Winkler ≥ {threshold:.2f}) / 類似",
                 lambda p: jaro_winkler(p, left, right) >= threshold)


def ElseLevel(label: str = "different / 不一致") -> Level:
    return Level("else", label, lambda p: np.ones(len(p), dtype=bool))


@dataclass(frozen=True)
class Comparison:
    """A field compared through ordered levels; the first level that holds wins."""
    field: str
    levels: Sequence[Level]

    @property
    def notation_codes(self) -> frozenset[str]:
        """Codes of the levels meaning "same value up to notation" (what rules call explained)."""
        return frozenset(level.code for level in self.levels if level.notation)

    @property
    def agreeing_codes(self) -> frozenset[str]:
        """Codes of the levels where the two sides agree, exactly or up to notation."""
        return frozenset(level.code for level in self.levels if level.agrees)

    def level(self, code: str) -> Level | None:
        """The level with ``code`` (None for an unknown code)."""
        return next((level for level in self.levels if level.code == code), None)

    @property
    def labels(self) -> list[str]:
        return [level.label for level in self.levels]

    def gamma_of(self, position: int) -> int:
        """Splink-style gamma of the level at ``position`` (null −1, else 0, higher = closer)."""
        if self.levels[position].code == "null":
            return -1
        return len(self.levels) - 1 - position

    def apply(self, pairs: pd.DataFrame) -> dict[str, object]:
        """``gamma_<field>``, ``label_<field>`` and ``level_<field>`` (level code) for every pair."""
        masks = [level.mask(pairs) for level in self.levels]
        position = np.select(masks, np.arange(len(self.levels)), default=len(self.levels) - 1)
        gammas = np.array([self.gamma_of(i) for i in range(len(self.levels))])
        # Categoricals: one copy of each label, and no per-row string inference.
        return {
            f"gamma_{self.field}": gammas[position].astype(np.int8),
            f"label_{self.field}": pd.Categorical.from_codes(position, categories=pd.Index(self.labels, dtype=object)),
            f"level_{self.field}": pd.Categorical.from_codes(
                position, categories=pd.Index([level.code for level in self.levels], dtype=object)),
        }


# --- the declared comparisons -----------------------------------------------------------------
def _kanji_wildcard(p: pd.DataFrame) -> np.ndarray:
    has_wild = (p["kanji_wild_l"].to_numpy(dtype=bool) | p["kanji_wild_r"].to_numpy(dtype=bool))
    return _pairwise(p, "kanji_key_l", "kanji_key_r", wildcard_equal, where=has_wild)


def _given_equal(kind: str) -> Mask:
    return lambda p: equal(p, f"{kind}_given_l", f"{kind}_given_r")


def _former_surname(p: pd.DataFrame) -> np.ndarray:
    # 旧氏: the member holds the former surname with the same given name.
    return equal(p, "kanji_sur_l", "former_key_r") & equal(p, "kanji_given_l", "kanji_given_r")


def _household_surname(p: pd.DataFrame) -> np.ndarray:
    # Surname changed, given name the same and the household agrees: a married name.
    return (equal(p, "kanji_given_l", "kanji_given_r") & ~equal(p, "kanji_sur_l", "kanji_sur_r")
            & (p["level_household"].to_numpy(dtype=object) == "same"))


def _alias(p: pd.DataFrame) -> np.ndarray:
    # 通称: the member holds the alias the registry records (whatever script the real name is in).
    return _cached(p, "__alias__", lambda: equal(p, "kanji_key_l", "alias_key_r"))


def _variant_set(p: pd.DataFrame) -> np.ndarray:
    # Rare variants whose MJ candidates name several bases (䅰 → {恩, 穂}): set intersection.
    ambiguous = p["kanji_ambiguous_l"].to_numpy(dtype=bool) | p["kanji_ambiguous_r"].to_numpy(dtype=bool)
    return _pairwise(p, "kanji_key_l", "kanji_key_r", variants_equal, where=ambiguous)


def _kana_in_kanji_field(p: pd.DataFrame) -> np.ndarray:
    # A CN/KR national held in katakana against the registry's kanji name: the katakana is
    # the registered reading (イ ミンジュン / 李 敏俊, kana イ ミンジュン).
    return equal(p, "kanji_kana_key_l", "kana_key_r") | equal(p, "kanji_kana_key_r", "kana_key_l")


def _kanji_null(p: pd.DataFrame) -> np.ndarray:
    # Alphabet names (either side) are judged by the alphabet comparison, not here — unless
    # the member holds the registered 通称.
    other_script = (~(present(p, "kanji_key_l") & present(p, "kanji_key_r"))
                    | p["latin_l"].to_numpy(dtype=bool) | p["latin_r"].to_numpy(dtype=bool))
    return other_script & ~_alias(p)


NAME_KANJI = Comparison("name_kanji", levels=[
    Level("null", "missing or other script / 欠損・表記体系違い", _kanji_null),
    ExactLevel("kanji_raw_l", "kanji_raw_r"),
    KeyLevel("notation", "kanji_key_l", "kanji_key_r", "same after width / 異体字 folding / 表記ゆれ（異体字・字形）"),
    Level("gaiji", "same except 外字 placeholder / 外字", _kanji_wildcard, notation=True),
    Level("variant_set", "rare variant (MJ candidate sets intersect) / 異体字（MJ縮退候補）", _variant_set, notation=True,
          reason=VARIANT_KANJI),
    Level("alias", "matches the registered alias (通称) / 通称一致", _alias, notation=True, reason=ALIAS),
    Level("kana_in_kanji_field", "katakana in the kanji field equals the registered reading / 漢字欄にカナ（振り仮名と一致）",
          _kana_in_kanji_field, notation=True, reason=KANA_IN_KANJI_FIELD),
    Level("former_surname", "former surname (旧氏) + same given name / 旧氏で一致", _former_surname, notation=True, reason=FORMER_SURNAME),
    Level("household_surname", "surname differs, same given name, same household / 婚姻等による氏の変更",
          _household_surname, notation=True, reason=HOUSEHOLD_SURNAME),
    Level("given_differs", "same surname, different given name / 名が異なる",
          lambda p: equal(p, "kanji_sur_l", "kanji_sur_r") & ~equal(p, "kanji_given_l", "kanji_given_r")),
    JaroWinklerLevel("kanji_key_l", "kanji_key_r", 0.92),
    JaroWinklerLevel("kanji_key_l", "kanji_key_r", 0.80),
    ElseLevel(),
])


def _kana_tokens_subset(p: pd.DataFrame) -> np.ndarray:
    # Only names of three or more tokens (foreign names) can lose one and keep two in common.
    ntok_l, ntok_r = p["kana_ntok_l"].to_numpy(), p["kana_ntok_r"].to_numpy()
    many = (ntok_l >= 2) & (ntok_r >= 2) & ((ntok_l >= 3) | (ntok_r >= 3))
    return _pairwise(p, "kana_tokens_l", "kana_tokens_r", tokens_subset, where=many)


def _kanji_level(p: pd.DataFrame) -> np.ndarray:
    return p["level_name_kanji"].to_numpy(dtype=object)


def _reading_of_alias(p: pd.DataFrame) -> np.ndarray:
    # The member's kana is the reading of the 通称 / 旧氏 it holds; the registry records the
    # reading of the real name only, so the two cannot be compared.
    return np.isin(_kanji_level(p), ["alias", "former_surname"]) & present(p, "kana_key_l") & present(p, "kana_key_r")


def _foreign(p: pd.DataFrame) -> np.ndarray:
    """Pairs where one side is a foreign name: an alphabet name, or katakana in the kanji field."""
    return (present(p, "alpha_tokens_l") | present(p, "alpha_tokens_r") | p["latin_l"].to_numpy(dtype=bool)
            | p["latin_r"].to_numpy(dtype=bool) | present(p, "kanji_kana_key_l") | present(p, "kanji_kana_key_r"))


def _kana_reordered(p: pd.DataFrame) -> np.ndarray:
    # The same tokens in another order (two or more): sorted tokens agree, the written ones not.
    many = (p["kana_ntok_l"].to_numpy() >= 2) & (p["kana_ntok_r"].to_numpy() >= 2)
    return many & equal(p, "kana_sorted_l", "kana_sorted_r") & ~equal(p, "kana_tokens_l", "kana_tokens_r")


def _transliteration(p: pd.DataFrame) -> np.ndarray:
    # Foreign names only: Japanese readings that sound alike (サトウ / サイトウ) are other names.
    return _pairwise(p, "kana_tokens_l", "kana_tokens_r", kana_sound_alike,
                     where=_foreign(p) & ~equal(p, "kana_key_l", "kana_key_r"))


def _reading_changed(p: pd.DataFrame) -> np.ndarray:
    # The kanji name agrees (exactly or in notation) and only the reading differs: the
    # registry's official reading recorded in 2025–26 (振り仮名の記載).
    agreeing = np.isin(_kanji_level(p), ["exact", "notation", "gaiji", "variant_set"])
    return agreeing & present(p, "kana_key_l") & present(p, "kana_key_r") & ~_foreign(p)


NAME_KANA = Comparison("name_kana", levels=[
    NullLevel("kana_key_l", "kana_key_r"),
    ExactLevel("kana_raw_l", "kana_raw_r"),
    KeyLevel("notation", "kana_key_l", "kana_key_r",
             "same after kana folding (width, small kana, ヴ, ー) / カナ表記ゆれ"),
    Level("alias_reading", "reading of the 通称 / 旧氏 held (not registered) / 通称・旧氏の読み",
          _reading_of_alias, notation=True),
    Level("tokens_subset", "same name tokens, some left out or reordered / 一部の名の省略・順序",
          _kana_tokens_subset, notation=True, reason=ALPHA_MIDDLE_NAME),
    Level("order", "same name tokens in another order / 順序違い", _kana_reordered, notation=True, reason=ALPHA_ORDER),
    Level("transliteration", "foreign name transliterated otherwise (sounds alike) / カナ表記の揺れ（外国人氏名）",
          _transliteration, notation=True, reason=KANA_TRANSLITERATION),
    Level("reading", "same kanji name, another registered reading / 振り仮名の変更", _reading_changed, notation=True, reason=KANA_READING),
    Level("surname_differs", "surname differs, same given name / 氏のみ異なる",
          lambda p: equal(p, "kana_given_l", "kana_given_r") & ~equal(p, "kana_sur_l", "kana_sur_r")),
    Level("given_differs", "same surname, different given name / 名が異なる",
          lambda p: equal(p, "kana_sur_l", "kana_sur_r") & ~equal(p, "kana_given_l", "kana_given_r")),
    JaroWinklerLevel("kana_key_l", "kana_key_r", 0.92),
    JaroWinklerLevel("kana_key_l", "kana_key_r", 0.80),
    ElseLevel(),
])


def katakana_matches_alpha(katakana: str, alpha: str) -> bool:
    """A katakana name and alphabet tokens agree through cutlet romanisation + phonetic key."""
    return phonetic_tokens_match(katakana_tokens_romanised(katakana), alpha)


def _alpha_vs_katakana(p: pd.DataFrame) -> np.ndarray:
    # Member katakana against resident alphabet, or the reverse, through romanisation. Only
    # rows where one side has no alphabet name reach cutlet (foreign names: few, and cached).
    alpha_l, alpha_r = present(p, "alpha_tokens_l"), present(p, "alpha_tokens_r")
    left = _pairwise(p, "kana_raw_l", "alpha_tokens_r", katakana_matches_alpha, where=~alpha_l)
    right = _pairwise(p, "kana_raw_r", "alpha_tokens_l", katakana_matches_alpha, where=~alpha_r)
    both = _pairwise(p, "alpha_tokens_l", "alpha_tokens_r", phonetic_tokens_match)
    return left | right | both


def _registered_reading(p: pd.DataFrame) -> np.ndarray:
    # One side has only katakana, the other the alphabet name plus the same registered reading.
    alpha_l, alpha_r = present(p, "alpha_tokens_l"), present(p, "alpha_tokens_r")
    return (alpha_l != alpha_r) & equal(p, "kana_key_l", "kana_key_r")


def _alpha_null(p: pd.DataFrame) -> np.ndarray:
    alpha_l, alpha_r = present(p, "alpha_tokens_l"), present(p, "alpha_tokens_r")
    kata_l, kata_r = present(p, "kana_raw_l"), present(p, "kana_raw_r")
    # A member under the registered 通称: the alphabet name is the other name, not compared.
    return ~((alpha_l & alpha_r) | (alpha_l & kata_r) | (kata_l & alpha_r)) | (_kanji_level(p) == "alias")


NAME_ALPHA = Comparison("name_alpha", levels=[
    Level("null", "no alphabet name to compare / 英字氏名なし", _alpha_null),
    ExactLevel("alpha_tokens_l", "alpha_tokens_r"),
    KeyLevel("order", "alpha_sorted_l", "alpha_sorted_r", "same tokens in another order / 順序違い", reason=ALPHA_ORDER),
    Level("tokens_subset", "middle name or second surname left out / ミドルネーム等の省略",
          lambda p: _pairwise(p, "alpha_tokens_l", "alpha_tokens_r", tokens_subset), notation=True,
          reason=ALPHA_MIDDLE_NAME),
    Level("katakana_alphabet", "katakana matches the alphabet name / カナと英字が一致",
          _alpha_vs_katakana, notation=True, reason=KATAKANA_ALPHABET),
    Level("registered_reading", "katakana equals the registered reading of the alphabet name / 登録フリガナと一致",
          _registered_reading, notation=True, reason=KATAKANA_ALPHABET),
    JaroWinklerLevel("alpha_sorted_l", "alpha_sorted_r", 0.90),
    ElseLevel(),
])


def _differing_rows(p: pd.DataFrame, left: str, right: str) -> np.ndarray:
    """Rows where both sides are present and differ: the only rows a near-miss test (one digit,
    two swapped) can hold on — on equal values each of them is false — so only they are computed."""
    return _cached(p, f"__differing__{left}__{right}",
                   lambda: np.flatnonzero(present(p, left) & present(p, right) & ~equal(p, left, right)))


def _on_rows(n: int, rows: np.ndarray, values: np.ndarray) -> np.ndarray:
    out = np.zeros(n, dtype=bool)
    out[rows] = values
    return out


def _dates(p: pd.DataFrame, column: str, rows: np.ndarray) -> pd.DatetimeIndex:
    return _cached(p, f"__dates__{column}", lambda: pd.DatetimeIndex(p[column].to_numpy()[rows]))


def _date_digits(p: pd.DataFrame, column: str, rows: np.ndarray) -> np.ndarray:
    def compute():
        values = _dates(p, column, rows)
        ymd = (values.year * 10000 + values.month * 100 + values.day).to_numpy(dtype=np.int64)
        # Eight decimal digits per date (YYYYMMDD), most significant first.
        return (ymd[:, None] // (10 ** np.arange(7, -1, -1))) % 10
    return _cached(p, f"__digits__{column}", compute)


def _digit_diff(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a != b).sum(axis=1)


def _transposed(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Exactly two adjacent digits swapped."""
    diff = a != b
    others = diff.sum(axis=1) == 2
    out = np.zeros(len(a), dtype=bool)
    for i in range(a.shape[1] - 1):
        swap = (a[:, i] == b[:, i + 1]) & (a[:, i + 1] == b[:, i]) & diff[:, i] & diff[:, i + 1]
        out |= swap & others
    return out


def _birth(kind: str) -> Mask:
    def mask(p: pd.DataFrame) -> np.ndarray:
        rows = _differing_rows(p, "birth_date_l", "birth_date_r")
        if kind in ("one_digit", "transposed"):
            a, b = _date_digits(p, "birth_date_l", rows), _date_digits(p, "birth_date_r", rows)
            return _on_rows(len(p), rows, _digit_diff(a, b) == 1 if kind == "one_digit" else _transposed(a, b))
        left, right = _dates(p, "birth_date_l", rows), _dates(p, "birth_date_r", rows)
        swapped = ((left.year == right.year) & (left.month == right.day) & (left.day == right.month)
                   & (left.month != left.day))
        return _on_rows(len(p), rows, np.asarray(swapped, dtype=bool))
    return mask


BIRTH_DATE = Comparison("birth_date", levels=[
    NullLevel("birth_date_l", "birth_date_r"),
    ExactLevel("birth_date_l", "birth_date_r"),
    Level("one_digit", "one digit differs / 1桁違い", _birth("one_digit")),
    Level("transposed", "two adjacent digits swapped / 隣接桁の入れ替わり", _birth("transposed")),
    Level("day_month_swap", "day and month swapped / 月日の入れ替わり", _birth("day_month")),
    ElseLevel(),
])

SEX = Comparison("sex", levels=[NullLevel("sex_l", "sex_r"), ExactLevel("sex_l", "sex_r"), ElseLevel()])


def _last4_digits(p: pd.DataFrame, column: str, rows: np.ndarray) -> np.ndarray:
    def compute():
        text = np.asarray(_obj_at(p, column, rows), dtype=object).astype("U4").astype("S4")
        return np.frombuffer(text.tobytes(), dtype=np.uint8).reshape(-1, 4) if len(text) else np.zeros((0, 4), np.uint8)
    return _cached(p, f"__last4__{column}", compute)


def _last4(kind: str) -> Mask:
    def mask(p: pd.DataFrame) -> np.ndarray:
        rows = _differing_rows(p, "number_last4_l", "number_last4_r")
        a, b = _last4_digits(p, "number_last4_l", rows), _last4_digits(p, "number_last4_r", rows)
        return _on_rows(len(p), rows, _transposed(a, b) if kind == "transposed" else _digit_diff(a, b) == 1)
    return mask


LAST4 = Comparison("last4", levels=[
    NullLevel("number_last4_l", "number_last4_r"),
    ExactLevel("number_last4_l", "number_last4_r"),
    Level("transposed", "two adjacent digits swapped / 隣接桁の入れ替わり", _last4("transposed")),
    Level("one_digit", "one digit differs / 1桁違い", _last4("one_digit")),
    ElseLevel(),
])

HOUSEHOLD = Comparison("household", levels=[
    Level("null", "no other household member to compare / 比較できる世帯員なし",
          lambda p: p["household_state"].to_numpy(dtype=object) == "unknown"),
    Level("same", "same registry household as the member's family / 世帯一致",
          lambda p: p["household_state"].to_numpy(dtype=object) == "same"),
    ElseLevel("different household / 世帯不一致"),
])

ADDRESS = Comparison("address", levels=[
    NullLevel("address_key_l", "address_key_r"),
    ExactLevel("address_key_l", "address_key_r", "same address / 住所一致"),
    JaroWinklerLevel("address_key_l", "address_key_r", 0.92),
    ElseLevel("different address / 住所不一致"),
])

MUNICIPALITY = Comparison("municipality", levels=[
    NullLevel("municipality_l", "municipality_r"),
    ExactLevel("municipality_l", "municipality_r", "same municipality / 市区町村一致"),
    ElseLevel("other municipality / 他市区町村"),
])

# Order matters: the name comparisons read ``level_household``.
CONTEXT_COMPARISONS = (HOUSEHOLD, ADDRESS, MUNICIPALITY, BIRTH_DATE, SEX, LAST4)
NAME_COMPARISONS = (NAME_KANJI, NAME_KANA, NAME_ALPHA)
COMPARISONS = CONTEXT_COMPARISONS + NAME_COMPARISONS
# last4 is evidence, not a feature: on the linked path it agrees by construction (same number).
MODEL_COMPARISONS = tuple(c for c in COMPARISONS if c.field != "last4")


def names_agree(pairs: pd.DataFrame) -> np.ndarray:
    """Per compared pair: some name comparison agrees (exactly or up to notation) and none differs."""
    some = np.zeros(len(pairs), dtype=bool)
    none_differs = np.ones(len(pairs), dtype=bool)
    for comparison in NAME_COMPARISONS:
        level = pairs[f"level_{comparison.field}"].to_numpy(dtype=object)
        agrees = np.isin(level, list(comparison.agreeing_codes))
        some |= agrees
        none_differs &= agrees | (level == "null")
    return some & none_differs


class PairView:
    """The pairs frame plus a per-call cache (dates as digit arrays, Jaro–Winkler scores)."""

    def __init__(self, frame: pd.DataFrame):
        self.frame = frame
        self.attrs: dict[str, object] = {}

    def __getitem__(self, column: str) -> pd.Series:
        return self.frame[column]

    def __contains__(self, column: str) -> bool:
        return column in self.frame

    def __len__(self) -> int:
        return len(self.frame)


def compare(pairs: pd.DataFrame, comparisons: Sequence[Comparison] = COMPARISONS) -> pd.DataFrame:
    """Apply ``comparisons`` in order, adding gamma/label/level columns to ``pairs`` (in place)."""
    view = PairView(pairs)
    for comparison in comparisons:
        for column, values in comparison.apply(view).items():
            pairs[column] = values
    return pairs
