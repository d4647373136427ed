"""比較用の列の準備 / per-side comparison columns, computed once per frame and per unique value.

:func:`prepare_side` turns a canonical ``members`` or ``residents`` frame into the columns the
comparisons read (names as keys, tokens, address key, municipality); :func:`pairs_frame` joins
two prepared sides on (left position, right position) with ``_l`` / ``_r`` suffixes.
"""
from __future__ import annotations

import itertools
import re

import numpy as np
import pandas as pd

from matchers.normalise import KANA_STEPS, KANJI_STEPS, WILDCARD, alpha_tokens, arrow_chain, nfkc
from matchers.variants import AMBIGUOUS_CHARS

SIDE_COLUMNS = [
    "kanji_raw", "kanji_key", "kanji_wild", "kanji_sur", "kanji_given", "latin", "kanji_kana_key",
    "kanji_ambiguous",
    "kana_raw", "kana_key", "kana_sur", "kana_given", "kana_tokens", "kana_ntok", "kana_sorted",
    "alpha_tokens", "alpha_sorted", "alias_key", "former_key",
    "birth_date", "sex", "number_last4", "address_key", "municipality",
]

# 住所の比較キー, as data read twice (one string / an Arrow array): the prefecture left out
# (insurers of a municipality often omit it), 大字/字 and spaces dropped, 丁目・番地・号 as hyphens
# (「1丁目2番3号」 = 「1-2-3」). Patterns in the syntax Python's re and RE2 share.
ADDRESS_RULES = (
    (r"^(北海道|東京都|京都府|大阪府|[^0-9 -]{2,3}県)", ""),
    ("(大字|字|[ \t\u3000])", ""),
    (r"(丁目|番地の|番地|番|号|の)", "-"),
    (r"[‐－ー―-]+", "-"),
)
_ADDRESS_RE = tuple((re.compile(pattern), repl) for pattern, repl in ADDRESS_RULES)


def address_key(text: str) -> str:
    """住所の比較キー (:data:`ADDRESS_RULES` on one string, after NFKC)."""
    key = nfkc(text)
    for pattern, repl in _ADDRESS_RE:
        key = pattern.sub(repl, key)
    return key.strip("-")


def _factorise(values: pd.Series) -> tuple[np.ndarray, list]:
    """Rows' codes (−1 missing) and the unique values as a list."""
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    return codes, uniques.tolist()


def _unique_map(values: pd.Series, compute, factorised: tuple[np.ndarray, list] | None = None) -> dict[str, "_Spread"]:
    """Run ``compute(uniques) -> {column: list aligned with uniques}`` once per unique value; each
    result is kept per unique value with the rows' codes (:class:`_Spread`), spread over ``values``
    (None where missing) only when asked."""
    codes, uniques = factorised or _factorise(values)
    columns = compute(uniques)
    out = {}
    for name, column in columns.items():
        arr = np.empty(len(uniques) + 1, dtype=object)
        arr[:-1] = column
        arr[-1] = None
        out[name] = _Spread(arr, codes)
    return out


class _Spread:
    """One derived column held per unique source value (``per_unique``, the last entry for a
    missing source) and the rows' codes into it (−1 missing): rows are ``per_unique[codes]``."""

    def __init__(self, per_unique: np.ndarray, codes: np.ndarray):
        self.per_unique = per_unique
        self.codes = codes

    def rows(self) -> np.ndarray:
        return self.per_unique[self.codes]

    def typed(self, convert, dtype) -> np.ndarray:
        """Rows of ``convert(value)`` as a typed array (the conversion runs once per unique value)."""
        return np.array([convert(v) for v in self.per_unique], dtype=dtype)[self.codes]

    @classmethod
    def missing(cls, n: int) -> "_Spread":
        return cls(np.array([None], dtype=object), np.full(n, -1, dtype=np.intp))


# Columns compared for equality, some across columns (kanji_key ~ alias_key, kanji_sur ~ former_key,
# kanji_kana_key ~ kana_key). ``prepare_side(..., codes=True)`` adds ``code_<column>`` (int32, −1
# missing) for each, from one vocabulary per call: equal values, equal codes — so equality and
# presence in the comparisons and the blocking keys are integer tests, not object compares.
CODED_COLUMNS = [
    "kanji_raw", "kanji_key", "kanji_sur", "kanji_given", "kanji_kana_key", "kana_raw", "kana_key", "kana_sur",
    "kana_given", "kana_tokens", "kana_sorted", "alpha_tokens", "alpha_sorted", "alias_key", "former_key",
    "address_key",
]
SEPARATELY_CODED = ["sex", "number_last4", "municipality"]   # compared only with themselves
SIDE_EXTRAS = ["kanji_katakana"]   # read by the blocking, not by the comparisons
# Compared for equality or presence only: when the sides share a vocabulary, their codes stand
# for them in the pairs frame and the values stay behind (half the object columns of 1.7M pairs).
CODES_ONLY_IN_PAIRS = ["kanji_sur", "kanji_given", "kanji_kana_key", "kana_sur", "kana_given", "kana_sorted",
                       "alias_key", "former_key", "sex", "municipality"]
CODE_PREFIX = "code_"
_vocabularies = itertools.count(1)


def code_columns(frame: pd.DataFrame) -> list[str]:
    """The ``code_<column>`` columns of a prepared side or a pairs frame."""
    return [c for c in frame.columns if c.startswith(CODE_PREFIX)]


def _encode(spreads: dict[str, _Spread]) -> tuple[dict[str, np.ndarray], pd.CategoricalDtype]:
    """One vocabulary over the spreads' values: int32 codes per row (−1 missing) and the
    vocabulary as one categorical dtype (category ``k`` is the value of code ``k``)."""
    names = list(spreads)
    joined = np.concatenate([spreads[n].per_unique for n in names]) if names else np.empty(0, dtype=object)
    codes, uniques = pd.factorize(joined, use_na_sentinel=True)
    codes = codes.astype(np.int32)
    out, start = {}, 0
    for name in names:
        spread = spreads[name]
        size = len(spread.per_unique)
        per_unique = codes[start:start + size]
        # The spread's missing entry (its last) is None: code −1.
        out[name] = per_unique[spread.codes]
        start += size
    return out, pd.CategoricalDtype(pd.Index(np.asarray(uniques, dtype=object), dtype=object))


def vocabulary_column(codes: np.ndarray, dtype: pd.CategoricalDtype) -> pd.Series:
    """A coded column as a categorical of the side's vocabulary (no Python object per row)."""
    return pd.Series(pd.Categorical.from_codes(codes, dtype=dtype, validate=False))


def recode(left: pd.DataFrame, right: pd.DataFrame, column: str) -> None:
    """Give ``column`` of two prepared sides (of one vocabulary) joint codes again after it was
    rewritten (in place; the resolver fills the members' municipality after preparing)."""
    if CODE_PREFIX + column not in left or CODE_PREFIX + column not in right:
        return
    values = np.concatenate([left[column].to_numpy(dtype=object), right[column].to_numpy(dtype=object)])
    codes, _ = pd.factorize(values, use_na_sentinel=True)
    codes = codes.astype(np.int32)
    left[CODE_PREFIX + column] = codes[:len(left)]
    right[CODE_PREFIX + column] = codes[len(left):]


def _arrow(values: list[str]):
    import pyarrow as pa
    return pa.array(values, type=pa.string())


def _list(arr) -> list:
    return arr.to_pylist()


def _first_token_and_rest(spaced) -> tuple[list, list]:
    """Surname (first token) and given name (the other tokens joined) of space-separated parts;
    None for a name of one part."""
    import pyarrow.compute as pc

    if len(spaced) == 0:
        return [], []
    parts = pc.split_pattern(spaced, " ", max_splits=1)
    two = pc.fill_null(pc.equal(pc.list_value_length(parts), 2), False)
    first = pc.if_else(two, pc.list_element(pc.if_else(two, parts, None), 0), None)
    rest = pc.if_else(two, pc.list_element(pc.if_else(two, parts, None), 1), None)
    return _list(first), _list(pc.replace_substring(rest, " ", ""))


_KANA_ONLY = r"^[\p{Katakana}\p{Hiragana}ー～ ]+$"


def kanji_features(uniques: list[str]) -> dict[str, list]:
    """Kanji name columns for unique names, in bulk: the KANJI_STEPS chain's Arrow interpretation
    (``kanji_key`` = :func:`matchers.normalise.kanji_key` of each), its parts, whether the name
    is in the Latin alphabet, whether it holds a rare variant compared by candidate sets, and —
    for a name written in kana in the kanji field — its kana key."""
    import pyarrow.compute as pc

    arr = _arrow(uniques)
    spaced = arrow_chain(arr, KANJI_STEPS[:-1])
    key = KANJI_STEPS[-1].arrow(spaced)
    sur, given = _first_token_and_rest(spaced)
    normal = pc.utf8_trim_whitespace(pc.utf8_normalize(arr, form="NFKC"))
    latin = pc.fill_null(pc.match_substring_regex(normal, r"^[A-Za-z][A-Za-z .,'\-]*$"), False)
    # Katakana / hiragana in the kanji field (a foreign name held in kana): the fold and 外字 steps
    # leave kana alone, so the spaced chain tells.
    kana_like = pc.fill_null(pc.match_substring_regex(spaced, _KANA_ONLY), False).to_numpy(zero_copy_only=False)
    keys = [v or None for v in _list(key)]
    kana_keys = [None] * len(uniques)
    if kana_like.any():
        picked = [u for u, k in zip(uniques, kana_like) if k]
        folded = _list(arrow_chain(_arrow(picked), KANA_STEPS))
        it = iter(folded)
        kana_keys = [(next(it) or None) if k else None for k in kana_like]
    if AMBIGUOUS_CHARS and len(arr):
        pattern = "[" + "".join("\\x{%X}" % ord(c) for c in sorted(AMBIGUOUS_CHARS)) + "]"
        ambiguous = _list(pc.fill_null(pc.match_substring_regex(key, pattern), False))
    else:
        ambiguous = [False] * len(uniques)
    return {"kanji_key": keys, "kanji_sur": [v or None for v in sur], "kanji_given": [v or None for v in given],
            "latin": _list(latin), "kanji_kana_key": kana_keys, "kanji_ambiguous": ambiguous}


def kana_features(uniques: list[str]) -> dict[str, list]:
    """Kana name columns for unique readings, in bulk: the KANA_STEPS chain's Arrow interpretation
    (``kana_key`` = :func:`matchers.normalise.kana_key` of each), its tokens and parts."""
    arr = _arrow(uniques)
    spaced = _list(arrow_chain(arr, KANA_STEPS[:-1]))
    keys, surs, givens, out_tokens, ntok, ordered = [], [], [], [], [], []
    for t in spaced:
        parts = t.split(" ") if t else []
        parts = [p for p in parts if p]
        keys.append("".join(parts) or None)
        out_tokens.append(" ".join(parts) or None)
        ntok.append(len(parts))
        surs.append(parts[0] if len(parts) >= 2 else None)
        givens.append("".join(parts[1:]) if len(parts) >= 2 else None)
        ordered.append(" ".join(sorted(parts)) or None)
    return {"kana_key": keys, "kana_sur": surs, "kana_given": givens, "kana_tokens": out_tokens, "kana_ntok": ntok,
            "kana_sorted": ordered}


def address_keys(uniques: list[str]) -> list:
    """Vectorised :func:`address_key` (:data:`ADDRESS_RULES` on an Arrow array)."""
    import pyarrow.compute as pc

    arr = pc.utf8_normalize(_arrow(uniques), form="NFKC")
    for pattern, repl in ADDRESS_RULES:
        arr = pc.replace_substring_regex(arr, pattern, repl)
    arr = pc.utf8_trim(arr, "-")
    return [v or None for v in _list(arr)]


def alpha_features(uniques: list[str]) -> dict[str, list]:
    tokens = [alpha_tokens(u) for u in uniques]
    return {"alpha_tokens": [" ".join(t) or None for t in tokens],
            "alpha_sorted": [" ".join(sorted(t)) or None for t in tokens]}


def _text(frame: pd.DataFrame, column: str) -> pd.Series:
    if column in frame:
        return frame[column]
    return pd.Series(pd.NA, index=frame.index, dtype="string")


_KATAKANA_KEY = re.compile("[ァ-ヶー]+")


def prepare_side(frame: pd.DataFrame, kind: str, *, codes: bool = False) -> pd.DataFrame:
    """Comparison columns for a canonical ``members`` / ``residents`` / ``oqs`` frame (same order).

    With ``codes``, also ``code_<column>`` for :data:`CODED_COLUMNS` and
    :data:`SEPARATELY_CODED` and ``kanji_katakana`` (the key is katakana only: a foreign name
    held in katakana); the frame's ``attrs["vocabulary"]`` names the vocabulary, and only two
    sides of one vocabulary are compared on codes (:func:`pairs_frame`)."""
    n = len(frame)
    kanji, kana = _text(frame, "name_kanji"), _text(frame, "name_kana")
    spreads: dict[str, _Spread] = {}
    kanji_codes, kanji_uniques = factorised = _factorise(kanji)
    spreads["kanji_raw"] = _Spread(np.array([*kanji_uniques, None], dtype=object), kanji_codes)
    spreads.update(_unique_map(kanji, kanji_features, factorised))
    out: dict[str, object] = {}
    out["latin"] = spreads.pop("latin").typed(bool, bool)
    out["kanji_ambiguous"] = spreads.pop("kanji_ambiguous").typed(bool, bool)
    out["kanji_wild"] = spreads["kanji_key"].typed(lambda k: k is not None and WILDCARD in k, bool)
    kana_codes, kana_uniques = factorised = _factorise(kana)
    spreads["kana_raw"] = _Spread(np.array([*kana_uniques, None], dtype=object), kana_codes)
    spreads.update(_unique_map(kana, kana_features, factorised))
    out["kana_ntok"] = spreads.pop("kana_ntok").typed(lambda v: 0 if v is None else v, np.int16)
    alpha_source = _text(frame, "name_alpha")
    # Foreign residents' registered name is often the alphabet name in name_kanji.
    alpha_source = alpha_source.where(alpha_source.notna(), kanji.where(out["latin"]))
    spreads.update(_unique_map(alpha_source, alpha_features))
    if kind == "residents":
        spreads["alias_key"] = _unique_map(_text(frame, "alias_name"), kanji_features)["kanji_key"]
        spreads["former_key"] = _unique_map(_text(frame, "former_surname"), kanji_features)["kanji_key"]
        municipality = frame["municipality_code"].to_numpy(dtype=object, na_value=None)
    else:
        spreads["alias_key"] = _Spread.missing(n)
        spreads["former_key"] = _Spread.missing(n)
        municipality = np.full(n, None, dtype=object)  # filled by the resolver (insurer's home)
    spreads["address_key"] = _unique_map(_text(frame, "address"), lambda u: {"k": address_keys(u)})["k"]
    if codes:
        # One vocabulary: the coded columns are categoricals of it (codes, no object per row).
        coded, vocabulary = _encode({c: spreads[c] for c in CODED_COLUMNS})
        for column in CODED_COLUMNS:
            out[column] = vocabulary_column(coded[column], vocabulary)
    for column, spread in spreads.items():
        if column not in out:
            out[column] = pd.Series(spread.rows(), dtype=object)
    out["municipality"] = pd.Series(municipality, dtype=object)
    out["sex"] = pd.Series(frame["sex"].astype("Int64").to_numpy(dtype=object, na_value=None), dtype=object)
    out["number_last4"] = pd.Series(frame["number_last4"].to_numpy(dtype=object, na_value=None), dtype=object)
    out["birth_date"] = pd.to_datetime(frame["birth_date"]).to_numpy()
    prepared = pd.DataFrame({c: out[c] for c in SIDE_COLUMNS}, copy=False)
    if codes:
        # Compared only with themselves: their own factorisation (numeric or Arrow, no objects).
        coded["sex"] = pd.factorize(frame["sex"].astype("Int64"), use_na_sentinel=True)[0].astype(np.int32)
        coded["number_last4"] = pd.factorize(frame["number_last4"], use_na_sentinel=True)[0].astype(np.int32)
        coded["municipality"] = (pd.factorize(frame["municipality_code"], use_na_sentinel=True)[0].astype(np.int32)
                                 if kind == "residents" else np.full(n, -1, dtype=np.int32))
        extra = {CODE_PREFIX + c: coded[c] for c in [*CODED_COLUMNS, *SEPARATELY_CODED]}
        extra["kanji_katakana"] = spreads["kanji_key"].typed(
            lambda k: k is not None and _KATAKANA_KEY.fullmatch(k) is not None, bool)
        prepared = pd.concat([prepared, pd.DataFrame(extra)], axis=1)
        prepared.attrs["vocabulary"] = next(_vocabularies)
    return prepared


_RESIDENT_ONLY = ("alias_name", "former_surname", "municipality_code")
_SIDE_INPUTS = ("name_kanji", "name_kana", "name_alpha", "address", "sex", "number_last4", "birth_date",
                *_RESIDENT_ONLY)


def prepare_sides(members: pd.DataFrame, residents: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``prepare_side(members, "members")`` and ``prepare_side(residents, "residents")`` in one
    pass: each distinct name and address is normalised once, although most members' names
    are also residents' (a 1M-member feed saves the member side's whole normalisation)."""
    def inputs(frame: pd.DataFrame, kind: str) -> pd.DataFrame:
        return pd.DataFrame({c: frame[c].reset_index(drop=True) for c in _SIDE_INPUTS
                             if c in frame and (kind == "residents" or c not in _RESIDENT_ONLY)})

    both = prepare_side(pd.concat([inputs(members, "members"), inputs(residents, "residents")],
                                  ignore_index=True), "residents", codes=True)
    m = both.iloc[:len(members)].reset_index(drop=True)
    for column in ("alias_key", "former_key", "municipality"):   # as prepare_side(…, "members") leaves them
        m[column] = pd.Series(np.full(len(m), None, dtype=object), dtype=object)
    return m, both.iloc[len(members):].reset_index(drop=True)


def pairs_frame(left: pd.DataFrame, right: pd.DataFrame, li: np.ndarray, ri: np.ndarray) -> pd.DataFrame:
    """Rows ``li`` of the prepared left side beside rows ``ri`` of the right side (``_l`` / ``_r``).

    The ``code_<column>`` columns come along only when both sides are of one vocabulary (one
    :func:`prepare_side` call, or :func:`prepare_sides`): codes of two vocabularies do not compare.
    Then the columns of :data:`CODES_ONLY_IN_PAIRS` travel as their codes only."""
    vocabulary = left.attrs.get("vocabulary")
    same_vocabulary = vocabulary is not None and vocabulary == right.attrs.get("vocabulary")
    left_out = set(SIDE_EXTRAS) | (set(CODES_ONLY_IN_PAIRS) if same_vocabulary else set())

    def side(frame: pd.DataFrame, rows: np.ndarray, suffix: str) -> pd.DataFrame:
        columns = [c for c in frame.columns if c not in left_out
                   and (same_vocabulary or not c.startswith(CODE_PREFIX))]
        return frame[columns].iloc[rows].reset_index(drop=True).add_suffix(suffix)

    pairs = pd.concat([side(left, li, "_l"), side(right, ri, "_r")], axis=1)
    pairs.attrs = {}
    pairs["li"] = np.asarray(li, dtype=np.int64)
    pairs["ri"] = np.asarray(ri, dtype=np.int64)
    return pairs
