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
    active = ages.active_on(members["acquisition_date"], members["loss_date"], as_of)
    insurer = members["insurer_number"].astype("string")
    acquired = members["acquisition_date"].between(start, end).fillna(False).astype(bool)
    lost = members["loss_date"].between(start, end).fillna(False).astype(bool)
    base = pd.DataFrame({"insurer_number": insurer, "members": 1.0, "active_members": active.astype(float),
                         "acquisitions": acquired.astype(float), "losses": lost.astype(float)})
    counts = base.groupby("insurer_number").sum()
    parts = [counts]
    act = members.loc[active]
    act_insurer = insurer.loc[active]
    ratio = act["burden_ratio"].astype("Int64")
    shares = pd.DataFrame({f"burden_ratio_share:{r}": (ratio == r).fillna(False).astype(float) for r in BURDEN_RATIOS})
    shares["insurer_number"] = act_insurer.to_numpy()
    parts.append(shares.groupby("insurer_number").mean())
    if act["limit_category"].notna().any():
        with_category = act.loc[act["limit_category"].notna()]
        category = with_category["limit_category"].astype("string")
        cats = pd.DataFrame({f"limit_category_share:{c}": (category == c).astype(float) for c in LIMIT_CATEGORIES})
        cats["insurer_number"] = insurer.loc[with_category.index].to_numpy()
        parts.append(cats.groupby("insurer_number").mean())
    wide = pd.concat(parts, axis=1)
    long = wide.rename_axis("insurer_number").reset_index().melt(
        id_vars="insurer_number", var_name="statistic", value_name="value")
    long["value"] = long["value"].astype(float)
    # An insurer with no active member has no shares rather than NaN ones.
    return long.dropna(subset=["value"]).sort_values(["insurer_number", "statistic"], ignore_index=True)[STAT_COLUMNS]
