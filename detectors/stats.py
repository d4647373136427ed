"""フィード統計 / per-insurer statistics of one feed, kept by the store for drift detection.

``feed_stats(frames, as_of)`` returns one row per (insurer, statistic). The pipeline stores
them with the scan (``scan_id, as_of, period``) and hands the earlier ones back to FEED_DRIFT
as ``feed_history``. It adds its own statistics in the same shape — ``quarantine_rate_members``
(quarantined member rows / rows read) and ``share_notation_findings`` (NOTATION_DIFFERENCE
findings / members) — which :func:`statistic_kind` treats as shares. FEED_DRIFT judges a
statistic of the current feed only when it is given one: pass such figures known before the
rules run as ``settings["feed_stats_extra"]``.

Statistics (values are floats):

==================================  ==========================================================
``members``                         member rows of the insurer
``active_members``                  members active on ``as_of``
``acquisitions``                    acquisition dates in the month up to ``as_of``
``losses``                          loss dates in the month up to ``as_of``
``burden_ratio_share:<10|20|30>``   share of active members at that ratio
``limit_category_share:<code>``     share of active members with a category holding that code
                                    (only when the feed carries categories)
==================================  ==========================================================
"""
from __future__ import annotations

from typing import Mapping

import numpy as np
import pandas as pd

from detectors import ages
from detectors.codes import BURDEN_RATIOS, LIMIT_CATEGORIES

STAT_COLUMNS = ["insurer_number", "statistic", "value"]
COUNT_STATISTICS = ("members", "active_members", "acquisitions", "losses")
PIPELINE_SHARES = ("quarantine_rate_members", "share_notation_findings")


def statistic_kind(statistic: str) -> str:
    """``count`` for head counts, ``share`` for proportions (0..1)."""
    return "count" if statistic in COUNT_STATISTICS else "share"


def period_window(as_of: pd.Timestamp) -> tuple[pd.Timestamp, pd.Timestamp]:
    """The month up to and including ``as_of`` (the monthly feed's period of movements)."""
    as_of = pd.Timestamp(as_of).normalize()
    return as_of - pd.DateOffset(months=1) + pd.Timedelta(days=1), as_of


def feed_stats(frames: Mapping[str, pd.DataFrame | None], as_of: pd.Timestamp) -> pd.DataFrame:
    """Per-insurer statistics of a feed's canonical frames on ``as_of`` (columns ``STAT_COLUMNS``)."""
    members = frames.get("members")
    if members is None or members.empty:
        return pd.DataFrame(columns=STAT_COLUMNS)
    as_of = pd.Timestamp(as_of).normalize()
    start, end = period_window(as_of)
    # Counts per insurer on integer codes (bincount): no copy of the members frame.
    codes, insurers = pd.factorize(members["insurer_number"].astype("string"), sort=True)
    known = codes >= 0
    n = len(insurers)

    def count(mask: np.ndarray) -> np.ndarray:
        return np.bincount(codes[known & mask], minlength=n).astype(float)

    def share(mask: np.ndarray, among: np.ndarray, total: np.ndarray) -> np.ndarray:
        # An insurer with nobody to count has no share (NaN, dropped below) rather than 0.
        return np.divide(count(mask & among), total, out=np.full(n, np.nan), where=total > 0)

    active = ages.active_on(members["acquisition_date"], members["loss_date"], as_of).to_numpy(bool)
    every = np.ones(len(members), dtype=bool)
    values = {
        "members": count(every), "active_members": count(active),
        "acquisitions": count(members["acquisition_date"].between(start, end).fillna(False).to_numpy(bool)),
        "losses": count(members["loss_date"].between(start, end).fillna(False).to_numpy(bool)),
    }
    n_active = values["active_members"]
    ratio = members["burden_ratio"].astype("Int64")
    for r in BURDEN_RATIOS:
        values[f"burden_ratio_share:{r}"] = share((ratio == r).fillna(False).to_numpy(bool), active, n_active)
    category = members["limit_category"].astype("string")
    with_category = active & category.notna().to_numpy(bool)
    if with_category.any():
        n_category = count(with_category)
        for c in LIMIT_CATEGORIES:
            values[f"limit_category_share:{c}"] = share((category == c).fillna(False).to_numpy(bool),
                                                        with_category, n_category)
    long = pd.DataFrame({
        "insurer_number": pd.array(np.tile(np.asarray(insurers, dtype=object), len(values)), dtype="string"),
        "statistic": pd.array(np.repeat(np.array(list(values), dtype=object), n), dtype="str"),
        "value": np.concatenate(list(values.values())) if values else np.zeros(0),
    })
    # An insurer with no active member has no shares rather than NaN ones.
    return long.dropna(subset=["value"]).sort_values(["insurer_number", "statistic"], ignore_index=True)[STAT_COLUMNS]
