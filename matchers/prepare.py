"""比較用の列の準備 / per-side comparison columns, computed once per frame and per unique value.

:func:`prepare_side` turns a canonical ``members`` or ``residents`` frame into the columns the
comparisons read (names as keys, tokens, address key, municipality); :func:`pairs_frame` joins
two prepared sides on (left position, right position) with ``_l`` / ``_r`` suffixes.
"""
from __future__ import annotations

import re

import numpy as np
import pandas as pd

from matchers.normalise import (KANA_STEPS, KANJI_STEPS, WILDCARD, alpha_tokens, chain_series, is_latin,
                                kana_part_key, kanji_part_key, nfkc, per_unique, split_tokens,
                                strip_variation_selectors)

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


def _parts(text: str) -> tuple[str | None, str | None]:
    parts = split_tokens(nfkc(strip_variation_selectors(text)))
    if len(parts) < 2:
        return None, None
    return parts[0], "".join(parts[1:])


def _kanji_parts(text: str) -> tuple[str | None, str | None]:
    sur, given = _parts(text)
    return kanji_part_key(sur), kanji_part_key(given)


def _kana_parts(text: str) -> tuple[str | None, str | None, str, int]:
    parts = split_tokens(nfkc(text))
    keys = [kana_part_key(p) or "" for p in parts]
    keys = [k for k in keys if k]
    if len(parts) < 2:
        return None, None, " ".join(keys), len(keys)
    return keys[0] if keys else None, "".join(keys[1:]) or None, " ".join(keys), len(keys)


def _alpha(text: str) -> tuple[str | None, str | None]:
    tokens = alpha_tokens(text)
    if not tokens:
        return None, None
    return " ".join(tokens), " ".join(sorted(tokens))


def _unzip(values: np.ndarray, width: int) -> list[np.ndarray]:
    out = [np.empty(len(values), dtype=object) for _ in range(width)]
    for i in range(width):
        out[i][:] = [None if v is None else v[i] for v in values]
    return out


def prepare_side(frame: pd.DataFrame, kind: str) -> pd.DataFrame:
    """Comparison columns for a canonical ``members`` / ``residents`` / ``oqs`` frame (same order)."""
    n = len(frame)
    kanji = frame["name_kanji"] if "name_kanji" in frame else pd.Series(pd.NA, index=frame.index, dtype="string")
    kana = frame["name_kana"] if "name_kana" in frame else pd.Series(pd.NA, index=frame.index, dtype="string")
    out: dict[str, object] = {}
    out["kanji_raw"] = kanji.str.strip().to_numpy(dtype=object, na_value=None)
    out["kanji_key"] = chain_series(kanji, KANJI_STEPS)
    out["kanji_wild"] = np.array([k is not None and WILDCARD in k for k in out["kanji_key"]], dtype=bool)
    latin = per_unique(kanji, is_latin)
    out["latin"] = np.array([bool(v) for v in latin], dtype=bool)
    out["kanji_sur"], out["kanji_given"] = _unzip(per_unique(kanji, _kanji_parts), 2)
    out["kana_raw"] = kana.str.strip().to_numpy(dtype=object, na_value=None)
    out["kana_key"] = chain_series(kana, KANA_STEPS)
    sur, given, tokens, ntok = _unzip(per_unique(kana, _kana_parts), 4)
    out["kana_sur"], out["kana_given"], out["kana_tokens"] = sur, given, tokens
    out["kana_ntok"] = np.array([0 if v is None else v for v in ntok], dtype=np.int16)

    alpha_source = frame["name_alpha"] if "name_alpha" in frame else pd.Series(pd.NA, index=frame.index, dtype="string")
    # Foreign residents' registered name is often the alphabet name in name_kanji.
    alpha_source = alpha_source.where(alpha_source.notna(), kanji.where(out["latin"]))
    out["alpha_tokens"], out["alpha_sorted"] = _unzip(per_unique(alpha_source, _alpha), 2)
    if kind == "residents":
        out["alias_key"] = chain_series(frame["alias_name"], KANJI_STEPS)
        out["former_key"] = per_unique(frame["former_surname"], lambda t: kanji_part_key(nfkc(t).strip()))
        out["municipality"] = frame["municipality_code"].to_numpy(dtype=object, na_value=None)
    else:
        out["alias_key"] = np.full(n, None, dtype=object)
        out["former_key"] = np.full(n, None, dtype=object)
        if "insurer_type" in frame:
            # 市町村国保: the insurer number is the municipality's own code.
            kokuho = (frame["insurer_type"].fillna("kokuho") == "kokuho").to_numpy()
            out["municipality"] = np.where(kokuho, frame["insurer_number"].to_numpy(dtype=object, na_value=None), None)
        else:
            out["municipality"] = np.full(n, None, dtype=object)
    out["birth_date"] = frame["birth_date"].to_numpy()
    out["sex"] = frame["sex"].astype("Int64").to_numpy(dtype=object, na_value=None)
    out["number_last4"] = frame["number_last4"].to_numpy(dtype=object, na_value=None)
    address = frame["address"] if "address" in frame else pd.Series(pd.NA, index=frame.index, dtype="string")
    out["address_key"] = per_unique(address, lambda t: address_key(t) or None)
    prepared = pd.DataFrame(out)
    prepared["birth_date"] = pd.to_datetime(prepared["birth_date"])
    return prepared[SIDE_COLUMNS]


def pairs_frame(left: pd.DataFrame, right: pd.DataFrame, li: np.ndarray, ri: np.ndarray) -> pd.DataFrame:
    """Rows ``li`` of the prepared left side beside rows ``ri`` of the right side (``_l`` / ``_r``)."""
    a = left.iloc[li].reset_index(drop=True).add_suffix("_l")
    b = right.iloc[ri].reset_index(drop=True).add_suffix("_r")
    pairs = pd.concat([a, b], axis=1)
    pairs["li"] = np.asarray(li, dtype=np.int64)
    pairs["ri"] = np.asarray(ri, dtype=np.int64)
    return pairs
