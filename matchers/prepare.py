"""比較用の列の準備 / per-side comparison columns, computed once per frame and per unique value.

:func:`prepare_side` turns a canonical ``members`` or ``residents`` frame into the columns the
comparisons read (names as keys, tokens, address key, municipality); :func:`pairs_frame` joins
two prepared sides on (left position, right position) with ``_l`` / ``_r`` suffixes.
"""
from __future__ import annotations

import re

import numpy as np
import pandas as pd

from matchers.normalise import (GAIJI_TABLE, SEPARATORS, WILDCARD, alpha_tokens, drop_long_vowels,
                                extend_fold_table, fold_table_now, hiragana_to_katakana, nfkc,
                                small_to_large, split_tokens, strip_spacing, strip_variation_selectors,
                                vu_to_bu)

SIDE_COLUMNS = [
    "kanji_raw", "kanji_key", "kanji_wild", "kanji_sur", "kanji_given", "latin",
    "kana_raw", "kana_key", "kana_sur", "kana_given", "kana_tokens", "kana_ntok",
    "alpha_tokens", "alpha_sorted", "alias_key", "former_key",
    "birth_date", "sex", "number_last4", "address_key", "municipality",
]

_ADDRESS_UNITS = re.compile(r"(丁目|番地の|番地|番|号|の)")
_ADDRESS_DROP = re.compile(r"(大字|字|\s|　)")


def address_key(text: str) -> str:
    """住所の比較キー: NFKC, 大字/字 dropped, 丁目・番地・号 as hyphens (「1丁目2番3号」 = 「1-2-3」)."""
    key = _ADDRESS_DROP.sub("", nfkc(text))
    key = _ADDRESS_UNITS.sub("-", key)
    key = re.sub(r"[‐－ー―-]+", "-", key)
    return key.strip("-")


_LATIN = re.compile(r"[A-Za-z][A-Za-z .,'\-]*")


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


def kanji_features(uniques: list[str]) -> dict[str, list]:
    """Kanji name columns for unique names (same result as the KANJI_STEPS chain, in bulk)."""
    normal = [nfkc(strip_variation_selectors(u)).strip() for u in uniques]
    extend_fold_table(set("".join(normal)))
    table = {**fold_table_now(), **GAIJI_TABLE}
    keys, surs, givens, latin = [], [], [], []
    for text in normal:
        keys.append(strip_spacing(text).translate(table) or None)
        parts = SEPARATORS.split(text, maxsplit=1)
        if len(parts) == 2 and parts[0] and parts[1]:
            surs.append(parts[0].translate(table))
            givens.append(strip_spacing(parts[1]).translate(table) or None)
        else:
            surs.append(None)
            givens.append(None)
        latin.append(bool(_LATIN.fullmatch(text)))
    return {"kanji_key": keys, "kanji_sur": surs, "kanji_given": givens, "latin": latin}


def _kana_token(token: str) -> str:
    return drop_long_vowels(small_to_large(vu_to_bu(token)))


def kana_features(uniques: list[str]) -> dict[str, list]:
    """Kana name columns for unique readings (same result as the KANA_STEPS chain, in bulk)."""
    keys, surs, givens, tokens, ntok = [], [], [], [], []
    for u in uniques:
        parts = [t for t in (_kana_token(p) for p in split_tokens(hiragana_to_katakana(nfkc(u)))) if t]
        keys.append("".join(parts) or None)
        tokens.append(" ".join(parts) or None)
        ntok.append(len(parts))
        if len(parts) >= 2:
            surs.append(parts[0])
            givens.append("".join(parts[1:]))
        else:
            surs.append(None)
            givens.append(None)
    return {"kana_key": keys, "kana_sur": surs, "kana_given": givens, "kana_tokens": tokens, "kana_ntok": ntok}


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
    out["address_key"] = _unique_map(_text(frame, "address"), lambda u: {"k": [address_key(t) or None for t in u]})["k"]
    prepared = pd.DataFrame({c: pd.Series(out[c], dtype=object) if c not in ("latin", "kanji_wild", "kana_ntok")
                             else out[c] for c in SIDE_COLUMNS if c != "birth_date"})
    prepared["birth_date"] = pd.to_datetime(frame["birth_date"]).to_numpy()
    return prepared[SIDE_COLUMNS]


def pairs_frame(left: pd.DataFrame, right: pd.DataFrame, li: np.ndarray, ri: np.ndarray) -> pd.DataFrame:
    """Rows ``li`` of the prepared left side beside rows ``ri`` of the right side (``_l`` / ``_r``)."""
    a = left.iloc[li].reset_index(drop=True).add_suffix("_l")
    b = right.iloc[ri].reset_index(drop=True).add_suffix("_r")
    pairs = pd.concat([a, b], axis=1)
    pairs["li"] = np.asarray(li, dtype=np.int64)
    pairs["ri"] = np.asarray(ri, dtype=np.int64)
    return pairs
