"""フィードの異常変動 / feed drift: a feed's statistics against the insurer's earlier feeds.

Robust statistics, per insurer and statistic: the median of the earlier feeds' values and
the median absolute deviation (MAD); ``robust_z = (value − median) / (1.4826·MAD)`` with a
floor on the scale (a statistic that never moved would otherwise flag any wiggle). A
statistic *moved* when ``|robust_z| ≥ drift_z`` **and** the absolute change is at least the
minimum for its kind (shares: 2 points; counts: max(10, 10% of the median)), so noise on
small insurers does not page anyone. With fewer than three earlier feeds nothing is judged:
:func:`drift_status` says "history too short (n=…)".
"""
from __future__ import annotations

from typing import Any, Mapping

import numpy as np
import pandas as pd

from detectors.registry import Param, provider, rule
from detectors.stats import STAT_COLUMNS, feed_stats, statistic_kind

MIN_HISTORY_FEEDS = 3
MAD_TO_SIGMA = 1.4826
DRIFT_PARAMS = (
    Param("drift_z", float, 4.0, "robust z-score a statistic must reach"),
    Param("drift_min_share_change", float, 0.02, "and at least this change for shares (2 percentage points)"),
    Param("drift_min_count_change", float, 10.0, "and at least this many for counts"),
    Param("drift_min_count_ratio", float, 0.10, "and at least this share of the median for counts"),
    Param("drift_share_scale_floor", float, 0.005, "floor of the robust scale for shares"),
    Param("drift_count_scale_floor_ratio", float, 0.02, "floor of the robust scale for counts, as a share of the median"),
)
DEFAULT_SETTINGS = {p.name: p.default for p in DRIFT_PARAMS}
HISTORY_COLUMNS = ["scan_id", "as_of", "period", "insurer_number", "statistic", "value"]


def _setting(settings: Mapping[str, Any] | None, name: str) -> float:
    return float((settings or {}).get(name, DEFAULT_SETTINGS[name]))


def earlier_feeds(history: pd.DataFrame | None, as_of: pd.Timestamp | None) -> pd.DataFrame:
    """History rows of feeds strictly before ``as_of`` (a re-scan of the same feed is not its own history)."""
    if history is None or len(history) == 0 or "statistic" not in history.columns:
        return pd.DataFrame(columns=HISTORY_COLUMNS)
    history = history.copy()
    history["as_of"] = pd.to_datetime(history["as_of"])
    if as_of is not None:
        history = history.loc[history["as_of"] < pd.Timestamp(as_of).normalize()]
    if "scan_id" not in history.columns:
        history["scan_id"] = history["as_of"].astype("string")
    # Several scans of one feed: the latest scan of each as_of speaks for it.
    history = history.sort_values("scan_id").drop_duplicates(["as_of", "insurer_number", "statistic"], keep="last")
    return history


def drift_status(stats: pd.DataFrame, history: pd.DataFrame | None, as_of: pd.Timestamp | None = None) -> pd.DataFrame:
    """Per insurer of ``stats``: how many earlier feeds there are and whether drift can be judged.

    Columns ``insurer_number, history_feeds, judged, message_ja, message_en``.
    """
    earlier = earlier_feeds(history, as_of)
    counts = earlier.groupby("insurer_number")["as_of"].nunique()
    insurers = pd.Index(stats["insurer_number"].dropna().unique(), name="insurer_number")
    n = counts.reindex(insurers).fillna(0).astype(int)
    judged = n >= MIN_HISTORY_FEEDS
    out = pd.DataFrame({"insurer_number": insurers, "history_feeds": n.to_numpy(), "judged": judged.to_numpy()})
    out["message_ja"] = np.where(out["judged"], "過去 " + out["history_feeds"].astype(str) + " 回分のフィードと比較",
                                 "履歴が不足（n=" + out["history_feeds"].astype(str) + "、3回以上必要）のため判定しません")
    out["message_en"] = np.where(out["judged"], "compared with " + out["history_feeds"].astype(str) + " earlier feeds",
                                 "history too short (n=" + out["history_feeds"].astype(str) + ", needs 3): not judged")
    return out


def drift_table(stats: pd.DataFrame, history: pd.DataFrame | None, as_of: pd.Timestamp | None = None,
                settings: Mapping[str, Any] | None = None) -> pd.DataFrame:
    """Every statistic of insurers with enough history, against its median / MAD, with ``moved``.

    Columns: ``insurer_number, statistic, kind, value, median, mad, robust_z, change,
    history_feeds, moved``.
    """
    earlier = earlier_feeds(history, as_of)
    status = drift_status(stats, earlier)
    judged = status.loc[status["judged"], "insurer_number"]
    current = stats.loc[stats["insurer_number"].isin(judged), STAT_COLUMNS]
    if current.empty:
        return pd.DataFrame(columns=["insurer_number", "statistic", "kind", "value", "median", "mad", "robust_z",
                                     "change", "history_feeds", "moved"])
    past = earlier.loc[earlier["insurer_number"].isin(judged)].copy()
    past["value"] = past["value"].astype(float)
    grouped = past.groupby(["insurer_number", "statistic"])["value"]
    median = grouped.median().rename("median")
    mad = (past.join(median, on=["insurer_number", "statistic"])
           .assign(dev=lambda f: (f["value"] - f["median"]).abs())
           .groupby(["insurer_number", "statistic"])["dev"].median().rename("mad"))
    feeds = past.groupby(["insurer_number", "statistic"])["as_of"].nunique().rename("history_feeds")
    table = current.join(median, on=["insurer_number", "statistic"]).join(mad, on=["insurer_number", "statistic"]) \
        .join(feeds, on=["insurer_number", "statistic"])
    # feed_stats emits every ratio and category share (zeros included), so a statistic without
    # three earlier values was not kept then (e.g. added later): it is not judged either.
    table["history_feeds"] = table["history_feeds"].fillna(0).astype(int)
    table = table.loc[table["history_feeds"] >= MIN_HISTORY_FEEDS]
    table["kind"] = table["statistic"].map(statistic_kind)
    is_count = (table["kind"] == "count").to_numpy(bool)
    floor = np.where(is_count, np.maximum(1.0, _setting(settings, "drift_count_scale_floor_ratio") * table["median"].abs()),
                     _setting(settings, "drift_share_scale_floor"))
    scale = np.maximum(MAD_TO_SIGMA * table["mad"].to_numpy(float), floor)
    table["change"] = table["value"] - table["median"]
    table["robust_z"] = table["change"] / scale
    min_change = np.where(is_count,
                          np.maximum(_setting(settings, "drift_min_count_change"),
                                     _setting(settings, "drift_min_count_ratio") * table["median"].abs()),
                          _setting(settings, "drift_min_share_change"))
    table["moved"] = (table["robust_z"].abs() >= _setting(settings, "drift_z")) & (table["change"].abs() >= min_change)
    return table.reset_index(drop=True)[["insurer_number", "statistic", "kind", "value", "median", "mad", "robust_z",
                                         "change", "history_feeds", "moved"]]


def _describe(row: pd.Series) -> str:
    if row["kind"] == "share":
        return f"{row['statistic']}: {row['median']:.1%} → {row['value']:.1%} ({row['change'] * 100:+.1f} pt, z={row['robust_z']:+.1f})"
    return f"{row['statistic']}: {row['median']:,.0f} → {row['value']:,.0f} ({row['change']:+,.0f}, z={row['robust_z']:+.1f})"


@provider("feed_statistics")
def feed_statistics(members: pd.DataFrame, as_of: pd.Timestamp) -> pd.DataFrame:
    """フィード統計 / the feed's per-insurer statistics (:func:`detectors.stats.feed_stats`); the
    pipeline computes them once for the store and hands them in (``run_rules(values=)``)."""
    return feed_stats({"members": members}, as_of)


@rule("FEED_DRIFT", category="feed", severity="medium", requires=("members",),
      summary_ja="保険者 {insurer_number} のフィード統計が過去 {history_feeds} 回分から大きく変動: {top_change}（他 {others} 項目）",
      summary_en="Feed statistics of insurer {insurer_number} moved against {history_feeds} earlier feeds: {top_change} (+{others} more)",
      params=DRIFT_PARAMS)
def feed_drift(feed_statistics: pd.DataFrame, as_of: pd.Timestamp, settings: Mapping[str, Any],
               feed_history: pd.DataFrame) -> pd.DataFrame:
    """フィード統計が保険者の過去フィードから異常に変動 / A feed-level statistic moved abnormally against earlier feeds.

    One finding per insurer and feed, member empty. Statistics from :func:`detectors.stats.feed_stats`
    plus any the pipeline passes as ``settings["feed_stats_extra"]`` (same columns, e.g.
    quarantine rate, notation share). Fewer than three earlier feeds: no finding (see
    :func:`drift_status`).
    """
    stats = feed_statistics
    extra = (settings or {}).get("feed_stats_extra")
    if isinstance(extra, pd.DataFrame) and len(extra):
        stats = pd.concat([stats, extra[STAT_COLUMNS]], ignore_index=True)
    table = drift_table(stats, feed_history, as_of, settings)
    moved = table.loc[table["moved"].astype(bool)] if len(table) else table
    if moved.empty:
        return pd.DataFrame(columns=["insurer_number", "member_id"])
    moved = moved.assign(abs_z=moved["robust_z"].abs()).sort_values(["insurer_number", "abs_z"], ascending=[True, False])
    moved["described"] = moved.apply(_describe, axis=1)
    rows = []
    for insurer, group in moved.groupby("insurer_number", sort=True):
        rows.append({
            "insurer_number": insurer, "member_id": None,
            "history_feeds": int(group["history_feeds"].max()),
            "top_change": group["described"].iloc[0], "others": len(group) - 1,
            "moved_statistics": group[["statistic", "kind", "value", "median", "mad", "change", "robust_z"]]
            .round(6).to_dict("records"),
            "as_of": as_of,
            "score": float(min(1.0, group["abs_z"].iloc[0] / 10.0)),
            "facts": f"{pd.Timestamp(as_of):%Y-%m-%d}|" + ",".join(sorted(group["statistic"])),
        })
    return pd.DataFrame(rows)
