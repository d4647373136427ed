"""比較用の列の準備 / per-side comparison columns, computed once per frame and per unique value.

:func:`prepare_side` turns a canonical ``members`` or ``residents`` frame into the columns the
comparisons read (names as keys, tokens, address key, municipality); :func:`pairs_frame` joins
two prepared sides on (left position, right position) with ``_l`` / ``_r`` suffixes.
"""
from __future__ import annotations

import contextlib
import itertools
import re
import weakref

import numpy as np
import pandas as pd

from matchers.normalise import KANA_STEPS, KANJI_STEPS, WILDCARD, alpha_tokens, arrow_chain, nfkc
from matchers.memory import release_memory
from matchers.variants import AMBIGUOUS_CHARS

SIDE_COLUMNS = [
    "kanji_raw", "kanji_key", "kanji_wild", "kanji_sur", "kanji_given", "latin", "kanji_kana_key",
    "kanji_ambiguous",
    "kana_raw", "kana_key", "kana_sur", "kana_given", "kana_tokens", "kana_ntok", "kana_sorted",
    "alpha_tokens", "alpha_sorted", "alias_key", "former_key",
    "birth_date", "sex", "number_last4", "address_key", "municipality",
]

# 住所の比較キー, as data read twice (one string / an Arrow array): the prefecture left out
# (insurers of a municipality often omit it), 大字/字 and spaces dropped, 丁目・番地・号 and dash
# runs as one hyphen (「1丁目2番3号」 = 「1-2-3」). Patterns in the syntax Python's re and RE2 share.
# Two passes: the prefix (only at the start) with the dropped words, then every run of unit words
# and dashes — the same keys as four passes (prefix; words; units → "-"; dash runs → "-"), since
# the prefix alternative is tried first at the start and a run of units and dashes becomes one
# hyphen either way (checked on the 370k distinct addresses of a prefecture feed).
ADDRESS_RULES = (
    (r"^(北海道|東京都|京都府|大阪府|[^0-9 -]{2,3}県)" "|(大字|字|[ \t\u3000])", ""),
    (r"(丁目|番地の|番地|番|号|の|[‐－ー―-])+", "-"),
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


def _arrow_strings(values) -> "pa.Array":
    """A text column as one Arrow ``string`` array (nulls where missing)."""
    import pyarrow as pa

    if isinstance(values, pd.Series):
        values = pa.array(values, from_pandas=True)
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    if not pa.types.is_string(values.type):
        values = values.cast(pa.string())
    return values


def _dictionary(values) -> tuple[np.ndarray, "pa.Array"]:
    """Rows' codes (−1 missing) into the distinct values, in Arrow (first-seen order). The
    column's chunks are encoded as they are (no combined or cast copy of the rows): Arrow
    gives every chunk the one final dictionary."""
    import pyarrow as pa
    import pyarrow.compute as pc

    arr = pa.array(values, from_pandas=True) if isinstance(values, pd.Series) else values
    if isinstance(arr, pa.ChunkedArray) and arr.num_chunks > 0 and \
            (pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type)):
        encoded = pc.dictionary_encode(arr)
        dictionary = encoded.chunk(encoded.num_chunks - 1).dictionary if encoded.num_chunks else None
        if dictionary is not None and all(len(chunk.dictionary) == len(dictionary) for chunk in encoded.chunks):
            indices = pa.chunked_array([chunk.indices for chunk in encoded.chunks], type=pa.int32())
            codes = indices.fill_null(-1).to_numpy().astype(np.int64)
            return codes, _arrow_strings(dictionary)
    encoded = pc.dictionary_encode(_arrow_strings(arr))
    codes = encoded.indices.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)
    return codes, encoded.dictionary


def _none_if_empty(arr):
    """Empty strings as missing (what ``value or None`` does to one string)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    return pc.if_else(pc.fill_null(pc.equal(arr, ""), False), pa.scalar(None, pa.string()), arr)


class _Spread:
    """One derived column held per unique source value (``per_unique``: an Arrow string array
    or a numpy array) and the rows' codes into it (−1 missing): rows are ``per_unique[codes]``."""

    def __init__(self, per_unique, codes: np.ndarray):
        self.per_unique = per_unique
        self.codes = codes

    def objects(self) -> np.ndarray:
        """The per-unique values as Python objects (None missing), the missing entry last."""
        values = self.per_unique
        if not isinstance(values, np.ndarray):
            values = values.to_numpy(zero_copy_only=False)
        out = np.empty(len(values) + 1, dtype=object)
        out[:-1] = values
        out[-1] = None
        return out

    def rows(self) -> np.ndarray:
        return self.objects()[self.codes]

    def flags(self, missing=False, dtype=bool) -> np.ndarray:
        """Rows of a per-unique numpy column (``missing`` where the source is missing)."""
        return np.append(np.asarray(self.per_unique, dtype=dtype), np.asarray(missing, dtype=dtype))[self.codes]

    @classmethod
    def missing(cls, n: int) -> "_Spread":
        import pyarrow as pa
        return cls(pa.nulls(0, pa.string()), np.full(n, -1, dtype=np.intp))


def _unique_map(values, compute, factorised=None) -> dict[str, _Spread]:
    """Run ``compute(uniques) -> {column: Arrow or numpy array aligned with uniques}`` once per
    unique value (the uniques as an Arrow array); each result is kept per unique value with the
    rows' codes (:class:`_Spread`), spread over the rows only when asked."""
    codes, uniques = factorised or _dictionary(values)
    return {name: _Spread(column, codes) for name, column in compute(uniques).items()}


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


def column_codes(frame, column: str) -> np.ndarray | None:
    """The integer codes of ``column`` in a prepared side or pairs frame of one vocabulary (−1
    missing): its ``code_<column>`` (:data:`SEPARATELY_CODED`), or the codes of the vocabulary
    categorical that :data:`CODED_COLUMNS` are held in; None when the frame has no codes for it."""
    if CODE_PREFIX + column in frame:
        return frame[CODE_PREFIX + column].to_numpy()
    if column in frame:
        values = frame[column]
        if isinstance(values.dtype, pd.CategoricalDtype) and _is_vocabulary(values.dtype):
            return values.cat.codes.to_numpy()
    return None


# The vocabularies' categorical dtypes, by identity: their codes stand for the values.
_VOCABULARY_DTYPES: dict[int, "weakref.ref"] = {}


def _is_vocabulary(dtype) -> bool:
    ref = _VOCABULARY_DTYPES.get(id(dtype))
    return ref is not None and ref() is dtype


def _register_vocabulary(dtype) -> None:
    key = id(dtype)
    _VOCABULARY_DTYPES[key] = weakref.ref(dtype, lambda _, key=key: _VOCABULARY_DTYPES.pop(key, None))


def _encode(spreads: dict[str, _Spread]) -> tuple[dict[str, np.ndarray], pd.CategoricalDtype]:
    """One vocabulary over the spreads' values: int32 codes per row (−1 missing) and the
    vocabulary as one categorical dtype (category ``k`` is the value of code ``k``), in Arrow:
    no Python object per value."""
    import pyarrow as pa
    import pyarrow.compute as pc

    names = list(spreads)
    joined = pa.concat_arrays([_arrow_strings(spreads[n].per_unique) for n in names]) if names \
        else pa.array([], pa.string())
    encoded = pc.dictionary_encode(joined)
    codes = encoded.indices.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int32)
    out, start = {}, 0
    for name in names:
        spread = spreads[name]
        size = len(spread.per_unique)
        # The spread's missing entry (code −1 of the rows) is the appended −1.
        out[name] = np.append(codes[start:start + size], np.int32(-1))[spread.codes]
        start += size
    dtype = _categorical_dtype(encoded.dictionary)
    _register_vocabulary(dtype)
    return out, dtype


def _categorical_dtype(distinct) -> pd.CategoricalDtype:
    """A categorical dtype of distinct Arrow strings. The values are distinct by construction
    (a dictionary), so pandas' uniqueness check — a hash table of Python strings over the whole
    vocabulary, ~1.5 s and ~480 MB for 3M values, kept as long as the dtype lives — is skipped
    where pandas offers its fast path."""
    categories = pd.Index(pd.array(distinct, dtype="str"))
    fastpath = getattr(pd.CategoricalDtype, "_from_fastpath", None)
    return fastpath(categories, False) if fastpath is not None else pd.CategoricalDtype(categories)


def vocabulary_column(codes: np.ndarray, dtype: pd.CategoricalDtype) -> pd.Series:
    """A coded column as a categorical of the side's vocabulary (no Python object per row)."""
    return pd.Series(pd.Categorical.from_codes(codes, dtype=dtype, validate=False))


def recode(left: pd.DataFrame, right: pd.DataFrame, column: str) -> None:
    """Give ``column`` of two prepared sides (of one vocabulary) joint codes again after it was
    rewritten (in place; the resolver fills the members' municipality after preparing)."""
    if CODE_PREFIX + column not in left or CODE_PREFIX + column not in right:
        return

    def values(frame: pd.DataFrame) -> np.ndarray:
        # A categorical side (the residents' municipality codes) only as its distinct values.
        series = frame[column]
        if isinstance(series.dtype, pd.CategoricalDtype):
            distinct = np.append(series.cat.categories.to_numpy(dtype=object), None)
            return distinct[series.cat.codes.to_numpy()]
        return series.to_numpy(dtype=object)

    codes, _ = pd.factorize(np.concatenate([values(left), values(right)]), use_na_sentinel=True)
    codes = codes.astype(np.int32)
    left[CODE_PREFIX + column] = codes[:len(left)]
    right[CODE_PREFIX + column] = codes[len(left):]


def _arrow(values: list[str]):
    import pyarrow as pa
    return pa.array(values, type=pa.string())


def _list(arr) -> list:
    return arr.to_pylist()


def _bools(arr) -> np.ndarray:
    import pyarrow.compute as pc
    return pc.fill_null(arr, False).to_numpy(zero_copy_only=False).astype(bool)


def _first_token_and_rest(spaced):
    """Surname (first token) and given name (the other tokens joined) of space-separated parts;
    missing for a name of one part (Arrow arrays)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if len(spaced) == 0:
        return spaced, spaced
    parts = pc.split_pattern(spaced, " ", max_splits=1)
    two = pc.fill_null(pc.equal(pc.list_value_length(parts), 2), False)
    null = pa.scalar(None, pa.string())
    first = pc.if_else(two, pc.list_element(pc.if_else(two, parts, None), 0), null)
    rest = pc.if_else(two, pc.list_element(pc.if_else(two, parts, None), 1), null)
    return first, pc.replace_substring(rest, " ", "")


_KANA_ONLY = r"^[\p{Katakana}\p{Hiragana}ー～ ]+$"


def _scatter(values, hit: np.ndarray, n: int):
    """An array of length ``n``: ``values`` (computed for the ``hit`` rows, in order) there, missing elsewhere."""
    import pyarrow as pa

    at = np.full(n, len(values), dtype=np.int64)
    at[np.flatnonzero(hit)] = np.arange(len(values))
    return pa.concat_arrays([values, pa.nulls(1, values.type)]).take(pa.array(at))


def kanji_arrays(arr) -> dict[str, object]:
    """Kanji name columns for unique names (an Arrow array), in bulk: the KANJI_STEPS chain's
    Arrow interpretation (``kanji_key`` = :func:`matchers.normalise.kanji_key` of each), its parts,
    whether the name is in the Latin alphabet, whether it holds a rare variant compared by
    candidate sets, and — for a name written in kana in the kanji field — its kana key. Text
    columns as Arrow arrays (missing for empty), flags as numpy booleans."""
    import pyarrow.compute as pc

    spaced = arrow_chain(arr, KANJI_STEPS[:-1])
    key = _none_if_empty(KANJI_STEPS[-1].arrow(spaced))
    sur, given = _first_token_and_rest(spaced)
    normal = pc.utf8_trim_whitespace(pc.utf8_normalize(arr, form="NFKC"))
    latin = _bools(pc.match_substring_regex(normal, r"^[A-Za-z][A-Za-z .,'\-]*$"))
    # Katakana / hiragana in the kanji field (a foreign name held in kana): the fold and 外字 steps
    # leave kana alone, so the spaced chain tells.
    kana_like = _bools(pc.match_substring_regex(spaced, _KANA_ONLY))
    folded = _none_if_empty(arrow_chain(arr.filter(kana_like), KANA_STEPS))
    kana_keys = _scatter(folded, kana_like, len(arr))
    if AMBIGUOUS_CHARS and len(arr):
        pattern = "[" + "".join("\\x{%X}" % ord(c) for c in sorted(AMBIGUOUS_CHARS)) + "]"
        ambiguous = _bools(pc.match_substring_regex(key, pattern))
    else:
        ambiguous = np.zeros(len(arr), dtype=bool)
    return {"kanji_key": key, "kanji_sur": _none_if_empty(sur), "kanji_given": _none_if_empty(given),
            "latin": latin, "kanji_kana_key": kana_keys, "kanji_ambiguous": ambiguous,
            "kanji_wild": _bools(pc.match_substring(key, WILDCARD)),
            "kanji_katakana": _bools(pc.match_substring_regex(key, r"^[ァ-ヶー]+$"))}


def _plain_lists(columns: dict[str, object]) -> dict[str, list]:
    return {name: (column.tolist() if isinstance(column, np.ndarray) else column.to_pylist())
            for name, column in columns.items()}


def kanji_features(uniques: list[str]) -> dict[str, list]:
    """:func:`kanji_arrays` of a list of names, as lists."""
    columns = kanji_arrays(_arrow(uniques))
    return _plain_lists({c: columns[c] for c in ("kanji_key", "kanji_sur", "kanji_given", "latin",
                                                 "kanji_kana_key", "kanji_ambiguous")})


def kana_arrays(arr) -> dict[str, object]:
    """Kana name columns for unique readings (an Arrow array), in bulk: the KANA_STEPS chain's
    Arrow interpretation (``kana_key`` = :func:`matchers.normalise.kana_key` of each), its
    tokens (space-separated, empty ones dropped), their number, surname / given name (two or
    more tokens) and the tokens sorted (by code point, as Python sorts strings)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    spaced = pc.utf8_trim(arrow_chain(arr, KANA_STEPS[:-1]), " ")
    tokens = pc.replace_substring_regex(spaced, " +", " ")
    parts = pc.split_pattern(tokens, " ")
    empty = _bools(pc.equal(tokens, ""))
    ntok = np.where(empty, 0, pc.fill_null(pc.list_value_length(parts), 0).to_numpy(zero_copy_only=False))
    many = ntok >= 2
    null = pa.scalar(None, pa.string())
    sur, given = _first_token_and_rest(tokens)
    # Tokens sorted within each name: sort (name, token) once over all the tokens.
    flat = pc.list_flatten(parts)
    parent = pc.list_parent_indices(parts)
    order = pc.sort_indices(pa.table({"p": parent, "t": flat}), sort_keys=[("p", "ascending"), ("t", "ascending")])
    offsets = parts.offsets if isinstance(parts, pa.ListArray) else pa.array(np.zeros(1, np.int32))
    ordered = pc.binary_join(pa.ListArray.from_arrays(offsets, flat.take(order)), " ")
    mask = pa.array(many)
    return {"kana_key": _none_if_empty(pc.replace_substring(tokens, " ", "")),
            "kana_sur": pc.if_else(mask, sur, null), "kana_given": pc.if_else(mask, given, null),
            "kana_tokens": _none_if_empty(tokens), "kana_ntok": ntok.astype(np.int16),
            "kana_sorted": _none_if_empty(ordered)}


def kana_features(uniques: list[str]) -> dict[str, list]:
    """:func:`kana_arrays` of a list of readings, as lists."""
    return _plain_lists(kana_arrays(_arrow(uniques)))


def address_arrays(arr):
    """Vectorised :func:`address_key` (:data:`ADDRESS_RULES` on an Arrow array; missing for empty)."""
    import pyarrow.compute as pc

    arr = pc.utf8_normalize(arr, form="NFKC")
    for pattern, repl in ADDRESS_RULES:
        arr = pc.replace_substring_regex(arr, pattern, repl)
    return _none_if_empty(pc.utf8_trim(arr, "-"))


def address_keys(uniques: list[str]) -> list:
    """Vectorised :func:`address_key` on a list."""
    return address_arrays(_arrow(uniques)).to_pylist()


def alpha_arrays(arr) -> dict[str, object]:
    tokens = [alpha_tokens(u) for u in arr.to_pylist()]
    return {"alpha_tokens": _arrow([" ".join(t) or None for t in tokens]),
            "alpha_sorted": _arrow([" ".join(sorted(t)) or None for t in tokens])}


def alpha_features(uniques: list[str]) -> dict[str, list]:
    return _plain_lists(alpha_arrays(_arrow(uniques)))


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
    out: dict[str, object] = {}
    # Per distinct value, in Arrow (dictionary encoding): no Python string per name or row.
    kanji_codes, kanji_uniques = factorised = _dictionary(kanji)
    spreads["kanji_raw"] = _Spread(kanji_uniques, kanji_codes)
    spreads.update(_unique_map(kanji, kanji_arrays, factorised))
    flags = {c: spreads.pop(c) for c in ("latin", "kanji_ambiguous", "kanji_wild", "kanji_katakana")}
    for column in ("latin", "kanji_ambiguous", "kanji_wild"):
        out[column] = flags[column].flags()
    kana_codes, kana_uniques = factorised = _dictionary(kana)
    spreads["kana_raw"] = _Spread(kana_uniques, kana_codes)
    spreads.update(_unique_map(kana, kana_arrays, factorised))
    out["kana_ntok"] = spreads.pop("kana_ntok").flags(0, np.int16)
    alpha_source = _text(frame, "name_alpha")
    # Foreign residents' registered name is often the alphabet name in name_kanji.
    alpha_source = alpha_source.where(alpha_source.notna(), kanji.where(out["latin"]))
    spreads.update(_unique_map(alpha_source, alpha_arrays))
    if kind == "residents":
        spreads["alias_key"] = _unique_map(_text(frame, "alias_name"), kanji_arrays)["kanji_key"]
        spreads["former_key"] = _unique_map(_text(frame, "former_surname"), kanji_arrays)["kanji_key"]
    else:
        spreads["alias_key"] = _Spread.missing(n)
        spreads["former_key"] = _Spread.missing(n)
    spreads["address_key"] = _unique_map(_text(frame, "address"), lambda u: {"k": address_arrays(u)})["k"]
    if codes:
        # One vocabulary: the coded columns are categoricals of it (codes, no object per row).
        coded, vocabulary = _encode({c: spreads[c] for c in CODED_COLUMNS})
        for column in CODED_COLUMNS:
            out[column] = vocabulary_column(coded[column], vocabulary)
        # Compared only with themselves: each its own dictionary (also what the values hold).
        last4_codes, last4_values = _dictionary(frame["number_last4"])
        out["number_last4"] = vocabulary_column(last4_codes, _categorical_dtype(last4_values))
        if kind == "residents":
            muni_codes, muni_values = _dictionary(frame["municipality_code"])
            out["municipality"] = vocabulary_column(muni_codes, _categorical_dtype(muni_values))
    for column, spread in spreads.items():
        if column not in out:
            out[column] = pd.Series(spread.rows(), dtype=object)
    if "municipality" not in out:
        out["municipality"] = pd.Series(frame["municipality_code"].to_numpy(dtype=object, na_value=None)
                                        if kind == "residents" else np.full(n, None, dtype=object),  # members: the
                                        dtype=object)                                    # resolver fills the home
    out["sex"] = pd.Series(frame["sex"].astype("Int64").to_numpy(dtype=object, na_value=None), dtype=object)
    if "number_last4" not in out:
        out["number_last4"] = pd.Series(frame["number_last4"].to_numpy(dtype=object, na_value=None), dtype=object)
    out["birth_date"] = pd.to_datetime(frame["birth_date"]).to_numpy()
    prepared = pd.DataFrame({c: out[c] for c in SIDE_COLUMNS}, copy=False)
    if codes:
        coded["sex"] = pd.factorize(frame["sex"].astype("Int64"), use_na_sentinel=True)[0].astype(np.int32)
        coded["number_last4"] = last4_codes.astype(np.int32)
        coded["municipality"] = (muni_codes.astype(np.int32) if kind == "residents" else np.full(n, -1, dtype=np.int32))
        # The coded columns' codes are their categoricals' (column_codes); the others get their own.
        extra = {CODE_PREFIX + c: coded[c] for c in SEPARATELY_CODED}
        extra["kanji_katakana"] = flags["kanji_katakana"].flags()
        prepared = pd.concat([prepared, pd.DataFrame(extra)], axis=1)
        prepared.attrs["vocabulary"] = next(_vocabularies)
    return prepared


_RESIDENT_ONLY = ("alias_name", "former_surname", "municipality_code")
_SIDE_INPUTS = ("name_kanji", "name_kana", "name_alpha", "address", "sex", "number_last4", "birth_date",
                *_RESIDENT_ONLY)


def _side_inputs(frame: pd.DataFrame, kind: str) -> pd.DataFrame:
    return pd.DataFrame({c: frame[c].reset_index(drop=True) for c in _SIDE_INPUTS
                         if c in frame and (kind == "residents" or c not in _RESIDENT_ONLY)})


def _as_members(m: pd.DataFrame) -> pd.DataFrame:
    for column in ("alias_key", "former_key", "municipality"):   # as prepare_side(…, "members") leaves them
        m[column] = pd.Series(np.full(len(m), None, dtype=object), dtype=object)
    return m


# Residents frames whose prepared side is kept while :func:`shared_residents` is open:
# id → [the frame, its prepared side or None until the first resolution prepares it].
_SHARED: dict[int, list] = {}


@contextlib.contextmanager
def shared_residents(residents: pd.DataFrame):
    """While open, :func:`prepare_sides` prepares ``residents`` (this very frame) once: the
    partitions of one feed, resolved one after the other against the same residents, then
    prepare only their own members (5M x4: the 6.5M residents' names and addresses were
    normalised again in every partition). The prepared side is dropped on leaving."""
    key = id(residents)
    _SHARED[key] = [residents, None]
    try:
        yield
    finally:
        _SHARED.pop(key, None)
        release_memory()


def prepare_sides(members: pd.DataFrame, residents: pd.DataFrame, *,
                  shared_as: pd.DataFrame | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``prepare_side(members, "members")`` and ``prepare_side(residents, "residents")`` in one
    pass: each distinct name and address is normalised once, although most members' names
    are also residents' (a 1M-member feed saves the member side's whole normalisation).

    ``shared_as``: the frame ``residents`` was taken from; when it is open in
    :func:`shared_residents`, the residents' side prepared by an earlier call is reused and only
    the members are prepared, their codes joined to its vocabulary (:func:`_join_members`)."""
    entry = _SHARED.get(id(shared_as)) if shared_as is not None else None
    if entry is not None and entry[0] is shared_as and entry[1] is not None:
        m, r = _join_members(prepare_side(_side_inputs(members, "members"), "members", codes=True),
                             entry[1], members, residents)
        # The joined side is kept instead (one vocabulary in memory, not the old one beside it).
        entry[1] = r
        r = r.copy(deep=False)
        r.attrs = dict(entry[1].attrs)
        return m, r
    both = prepare_side(pd.concat([_side_inputs(members, "members"), _side_inputs(residents, "residents")],
                                  ignore_index=True), "residents", codes=True)
    m = _as_members(both.iloc[:len(members)].reset_index(drop=True))
    r = both.iloc[len(members):].reset_index(drop=True)
    r.attrs = dict(both.attrs)
    del both
    release_memory()
    if entry is not None and entry[0] is shared_as:
        entry[1] = r
        r = r.copy(deep=False)         # the caller may rewrite columns (recode); the kept side stays
        r.attrs = dict(entry[1].attrs)
    return m, r


def _joined_categories(left, right) -> tuple[np.ndarray, "pa.Array"]:
    """For categories ``left`` (a pandas Index or Arrow array of distinct strings): each one's
    code among ``right``'s categories followed by the ones ``right`` lacks (−1 appended last, for
    a missing value), and those joint categories."""
    import pyarrow as pa
    import pyarrow.compute as pc

    left, right = _arrow_strings(pa.array(left)), _arrow_strings(pa.array(right))
    at = pc.index_in(left, value_set=right)
    found = np.asarray(at.is_valid(), dtype=bool)
    codes = at.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)
    new = np.flatnonzero(~found)
    codes[new] = len(right) + np.arange(len(new))
    return np.append(codes, -1).astype(np.int32), pa.concat_arrays([right, left.take(pa.array(new))])


def _join_members(m: pd.DataFrame, kept: pd.DataFrame, members: pd.DataFrame,
                  residents: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A members' side prepared alone beside a kept residents' side, both of one new vocabulary:
    the residents' codes unchanged, the members' values coded as the residents' (the values the
    residents lack after them) — what one :func:`prepare_side` of both gives, but for the codes'
    numbering (only equal codes mean anything)."""
    r = kept.copy(deep=False)
    codes, categories = _joined_categories(m[CODED_COLUMNS[0]].cat.categories, kept[CODED_COLUMNS[0]].cat.categories)
    vocabulary = _categorical_dtype(categories)
    _register_vocabulary(vocabulary)
    for column in CODED_COLUMNS:
        m[column] = vocabulary_column(codes[m[column].cat.codes.to_numpy()], vocabulary)
        r[column] = vocabulary_column(kept[column].cat.codes.to_numpy(), vocabulary)
    codes, categories = _joined_categories(m["number_last4"].cat.categories, kept["number_last4"].cat.categories)
    last4 = _categorical_dtype(categories)
    m_last4 = codes[m["number_last4"].cat.codes.to_numpy()]
    m["number_last4"] = vocabulary_column(m_last4, last4)
    m[CODE_PREFIX + "number_last4"] = m_last4
    r["number_last4"] = vocabulary_column(kept["number_last4"].cat.codes.to_numpy(), last4)
    sex = pd.factorize(pd.concat([members["sex"], residents["sex"]], ignore_index=True).astype("Int64"),
                       use_na_sentinel=True)[0].astype(np.int32)
    m[CODE_PREFIX + "sex"] = sex[:len(m)]
    r[CODE_PREFIX + "sex"] = sex[len(m):]
    m = _as_members(m)
    m.attrs["vocabulary"] = r.attrs["vocabulary"] = next(_vocabularies)
    return m, r


def drop_codes(pairs: pd.DataFrame) -> pd.DataFrame:
    """The pairs without the columns that only served the comparisons as codes: ``code_<column>``
    and, of one vocabulary, the :data:`CODES_ONLY_IN_PAIRS` columns."""
    one_vocabulary = "kanji_raw_l" in pairs and _is_vocabulary(pairs["kanji_raw_l"].dtype)
    only = {f"{c}{suffix}" for c in CODES_ONLY_IN_PAIRS for suffix in ("_l", "_r")} if one_vocabulary else set()
    return pairs.drop(columns=code_columns(pairs) + [c for c in pairs.columns if c in only])


def pairs_frame(left: pd.DataFrame, right: pd.DataFrame, li: np.ndarray, ri: np.ndarray) -> pd.DataFrame:
    """Rows ``li`` of the prepared left side beside rows ``ri`` of the right side (``_l`` / ``_r``).

    The ``code_<column>`` columns come along only when both sides are of one vocabulary (one
    :func:`prepare_side` call, or :func:`prepare_sides`): codes of two vocabularies do not compare.
    Then the columns of :data:`CODES_ONLY_IN_PAIRS` travel as their codes only."""
    vocabulary = left.attrs.get("vocabulary")
    same_vocabulary = vocabulary is not None and vocabulary == right.attrs.get("vocabulary")
    # Of one vocabulary, the CODES_ONLY_IN_PAIRS columns travel as their categorical codes
    # (no values taken) and are dropped with the codes (:func:`drop_codes`).
    left_out = set(SIDE_EXTRAS)
    if same_vocabulary:
        # Compared by their own code_ column only: no values needed.
        left_out |= {c for c in CODES_ONLY_IN_PAIRS if c in SEPARATELY_CODED}

    def side(frame: pd.DataFrame, rows: np.ndarray, suffix: str) -> pd.DataFrame:
        columns = [c for c in frame.columns if c not in left_out
                   and (same_vocabulary or not c.startswith(CODE_PREFIX))]
        return frame[columns].iloc[rows].reset_index(drop=True).add_suffix(suffix)

    pairs = pd.concat([side(left, li, "_l"), side(right, ri, "_r")], axis=1)
    pairs.attrs = {}
    pairs["li"] = np.asarray(li, dtype=np.int64)
    pairs["ri"] = np.asarray(ri, dtype=np.int64)
    return pairs
