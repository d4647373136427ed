"""比較用の列の準備 / per-side comparison columns, computed once per frame and per unique value.

:func:`prepare_side` turns a canonical ``members`` or ``residents`` frame into the columns the
comparisons read (names as keys, tokens, address key, municipality); :func:`pairs_frame` joins
two prepared sides on (left position, right position) with ``_l`` / ``_r`` suffixes.
"""
from __future__ import annotations

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


def _unique_map(values: pd.Series, compute) -> dict[str, np.ndarray]:
    """Run ``compute(uniques) -> {column: list aligned with uniques}`` once per unique value and
    spread the results back over ``values`` (None where missing)."""
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    columns = compute(uniques.tolist())
    out = {}
    for name, column in columns.items():
        arr = np.empty(len(uniques) + 1, dtype=object)
        arr[:-1] = column
        arr[-1] = None
        out[name] = arr[codes]
    return out


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


def prepare_side(frame: pd.DataFrame, kind: str) -> pd.DataFrame:
    """Comparison columns for a canonical ``members`` / ``residents`` / ``oqs`` frame (same order)."""
    n = len(frame)
    kanji, kana = _text(frame, "name_kanji"), _text(frame, "name_kana")
    out: dict[str, object] = {}
    out["kanji_raw"] = kanji.to_numpy(dtype=object, na_value=None)
    out.update(_unique_map(kanji, kanji_features))
    out["latin"] = np.array([bool(v) for v in out["latin"]], dtype=bool)
    out["kanji_wild"] = np.array([k is not None and WILDCARD in k for k in out["kanji_key"]], dtype=bool)
    out["kana_raw"] = kana.to_numpy(dtype=object, na_value=None)
    out.update(_unique_map(kana, kana_features))
    out["kana_ntok"] = np.array([0 if v is None else v for v in out["kana_ntok"]], dtype=np.int16)
    alpha_source = _text(frame, "name_alpha")
    # Foreign residents' registered name is often the alphabet name in name_kanji.
    alpha_source = alpha_source.where(alpha_source.notna(), kanji.where(out["latin"]))
    out.update(_unique_map(alpha_source, alpha_features))
    if kind == "residents":
        out["alias_key"] = _unique_map(_text(frame, "alias_name"), kanji_features)["kanji_key"]
        out["former_key"] = _unique_map(_text(frame, "former_surname"), kanji_features)["kanji_key"]
        out["municipality"] = frame["municipality_code"].to_numpy(dtype=object, na_value=None)
    else:
        out["alias_key"] = np.full(n, None, dtype=object)
        out["former_key"] = np.full(n, None, dtype=object)
        out["municipality"] = np.full(n, None, dtype=object)  # filled by the resolver (insurer's home)
    out["sex"] = frame["sex"].astype("Int64").to_numpy(dtype=object, na_value=None)
    out["number_last4"] = frame["number_last4"].to_numpy(dtype=object, na_value=None)
    out["address_key"] = _unique_map(_text(frame, "address"), lambda u: {"k": address_keys(u)})["k"]
    out["kanji_ambiguous"] = np.array([bool(v) for v in out["kanji_ambiguous"]], dtype=bool)
    prepared = pd.DataFrame({c: pd.Series(out[c], dtype=object) if c not in ("latin", "kanji_wild", "kana_ntok",
                                                                            "kanji_ambiguous")
                             else out[c] for c in SIDE_COLUMNS if c != "birth_date"})
    prepared["birth_date"] = pd.to_datetime(frame["birth_date"]).to_numpy()
    return prepared[SIDE_COLUMNS]


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
                                  ignore_index=True), "residents")
    m = both.iloc[:len(members)].reset_index(drop=True)
    for column in ("alias_key", "former_key", "municipality"):   # as prepare_side(…, "members") leaves them
        m[column] = pd.Series(np.full(len(m), None, dtype=object), dtype=object)
    return m, both.iloc[len(members):].reset_index(drop=True)


def pairs_frame(left: pd.DataFrame, right: pd.DataFrame, li: np.ndarray, ri: np.ndarray) -> pd.DataFrame:
    """Rows ``li`` of the prepared left side beside rows ``ri`` of the right side (``_l`` / ``_r``)."""
    a = left.iloc[li].reset_index(drop=True).add_suffix("_l")
    b = right.iloc[ri].reset_index(drop=True).add_suffix("_r")
    pairs = pd.concat([a, b], axis=1)
    pairs["li"] = np.asarray(li, dtype=np.int64)
    pairs["ri"] = np.asarray(ri, dtype=np.int64)
    return pairs
