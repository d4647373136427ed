"""行の対応付け / row alignment between feed frames, as integer positions (no string merges).

On 1M-member feeds a ``merge`` on ``insurer_number, member_id`` costs seconds each time; the
rules that compare a member with its online copy, its card status or its resident share one
alignment instead (registered as providers in the rule modules).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from detectors.schema import KEY


def _joint_codes(left: pd.DataFrame, right: pd.DataFrame, columns: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """One int64 code per row of each frame, equal exactly when all ``columns`` are equal (NA → −1)."""
    n_left = len(left)
    combined = np.zeros(n_left + len(right), dtype=np.int64)
    missing = np.zeros(n_left + len(right), dtype=bool)
    for column in columns:
        values = pd.concat([left[column].astype("string"), right[column].astype("string")], ignore_index=True)
        codes, uniques = pd.factorize(values)
        missing |= codes < 0
        combined = combined * (len(uniques) + 1) + np.maximum(codes, 0)
    combined[missing] = -1
    return combined[:n_left], combined[n_left:]


def positions(left: pd.DataFrame, right: pd.DataFrame, columns: list[str] = KEY, *, keep: str = "last") -> np.ndarray:
    """For each row of ``left``, the position in ``right`` with the same ``columns`` (−1 none).

    When ``right`` repeats a key, ``keep`` says which row answers (``"last"`` or ``"first"``).
    """
    if len(left) == 0 or len(right) == 0:
        # A header-only optional file (or no members) is an empty input, never an IndexError.
        return np.full(len(left), -1, dtype=np.int64)
    left_codes, right_codes = _joint_codes(left, right, columns)
    order = np.arange(len(right))
    if keep == "last":
        order = order[::-1]
    codes = right_codes[order]
    unique_codes, first = np.unique(codes, return_index=True)
    lookup = pd.Index(unique_codes)
    found = lookup.get_indexer(left_codes)
    out = np.where(found >= 0, order[first[np.maximum(found, 0)]], -1)
    out[left_codes < 0] = -1
    return out


def take(frame: pd.DataFrame, rows: np.ndarray, columns: list[str], suffix: str = "") -> pd.DataFrame:
    """``frame``'s ``columns`` at positions ``rows`` (rows ≥ 0 only), index reset, names suffixed."""
    picked = frame[columns].iloc[rows].reset_index(drop=True)
    return picked.rename(columns={c: f"{c}{suffix}" for c in columns}) if suffix else picked


def rows_of(frame: pd.DataFrame, mask: np.ndarray, columns: list[str]) -> pd.DataFrame:
    """``frame.loc[mask, columns]`` (the columns the frame has; labels kept): a rule judges on the
    few columns it reads instead of copying every column of most members (Arrow strings included)
    and picks its output columns for the failing rows only, with :func:`failing_rows`."""
    return frame.loc[mask, [c for c in columns if c in frame.columns]]


def failing_rows(frame: pd.DataFrame, mask: np.ndarray, failing: np.ndarray, columns: list[str]) -> pd.DataFrame:
    """``frame.loc[mask].loc[failing, columns]`` without copying the judged rows first (positions,
    so the result is the same whatever the index)."""
    return frame[columns].iloc[np.flatnonzero(mask)[failing]]
