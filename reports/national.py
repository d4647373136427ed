"""National-reporting export (紐付け誤り等の点検結果報告) — one month's outcome per insurer and category.

The ministry asked insurers to report how many suspected mis-links they checked, how many were
real and corrected, and how many remain. ``build_national`` gives that aggregate for one month
(``period`` ``YYYY-MM``, a Japan-time calendar month) from the work queue.

Format — one row per 保険者番号 × 区分, then one 合計 (total) row per insurer; every catalogue
category is listed, with zeros where nothing happened, so the shape does not depend on the data.
Feed-level findings (no insurer) are not reported. Columns (English header / Japanese header):

=====================  ========================  ===========================================================
``period``             報告対象月                the month reported, ``YYYY-MM``
``insurer_number``     保険者番号                the insurer
``category``           区分                      rule category (``mislink``, ``notation``, …) or ``total``
``found``              検出件数                  work items created in the month (findings first raised)
``confirmed``          誤り確定・修正件数        status ``resolved_fixed``, resolved in the month
``false_positive``     誤検知件数                status ``resolved_false_positive``, resolved in the month
``wont_fix``           対応不要件数              status ``resolved_wont_fix``, resolved in the month
``resolved``           処理済件数                confirmed + false_positive + wont_fix
``open_at_end``        期末未処理件数            created before the month ended and not resolved by then
``mislinks_confirmed`` 紐付け誤り確定件数        ``confirmed`` of category ``mislink``
``notation_fixed``     表記修正件数              ``confirmed`` of category ``notation``
=====================  ========================  ===========================================================

With ``lang="ja"`` the headers are the Japanese ones and categories their Japanese labels
(紐付け誤り, 表記ゆれ, …, 合計). Outcomes are judged on each work item's *current* status and
``resolved_at``: a finding resolved in the month and reopened since counts as open, and a finding
closed automatically because a later scan no longer raised it counts as confirmed (the store
closes those as ``resolved_fixed``). Timestamps without a zone are UTC, as the store returns them.

Inputs: ``work_items`` with ``finding_id, status, created_at, resolved_at`` (``updated_at`` stands
in for a missing ``resolved_at`` of resolved items); ``findings`` with ``finding_id,
insurer_number, category`` — for a finding absent from ``findings`` the work item's own
``insurer_number`` / ``category`` are used when it has them (``list_work_items`` rows do).
"""
from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from reports import labels
from reports.guard import assert_no_individual_number
from reports.timeutil import local_times

NATIONAL_COLUMNS = [
    "period", "insurer_number", "category", "found", "confirmed", "false_positive", "wont_fix",
    "resolved", "open_at_end", "mislinks_confirmed", "notation_fixed",
]
NATIONAL_COLUMNS_JA = {
    "period": "報告対象月", "insurer_number": "保険者番号", "category": "区分", "found": "検出件数",
    "confirmed": "誤り確定・修正件数", "false_positive": "誤検知件数", "wont_fix": "対応不要件数",
    "resolved": "処理済件数", "open_at_end": "期末未処理件数", "mislinks_confirmed": "紐付け誤り確定件数",
    "notation_fixed": "表記修正件数",
}
TOTAL = "total"
# Reported categories: the catalogue's, less feed-level findings which belong to no insurer.
NATIONAL_CATEGORIES = tuple(c for c in labels.CATEGORY_ORDER if c != "feed")
_COUNTS = NATIONAL_COLUMNS[3:]
_PERIOD_RE = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")


def period_bounds(period: str) -> tuple[pd.Timestamp, pd.Timestamp]:
    """First instant of the month and of the next (naive Japan time)."""
    if not _PERIOD_RE.match(period or ""):
        raise ValueError(f"period must look like 2026-11, not {period!r}")
    start = pd.Timestamp(f"{period}-01")
    return start, start + pd.offsets.MonthBegin(1)


def _items(findings: pd.DataFrame, work_items: pd.DataFrame) -> pd.DataFrame:
    for column in ("finding_id", "status", "created_at"):
        if column not in work_items.columns:
            raise ValueError(f"work_items lacks column {column!r}")
    items = pd.DataFrame({"finding_id": work_items["finding_id"].astype("string"),
                          "status": work_items["status"].astype("string"),
                          "created_at": local_times(work_items["created_at"])})
    resolved_at = (local_times(work_items["resolved_at"]) if "resolved_at" in work_items.columns
                   else pd.Series(pd.NaT, index=work_items.index, dtype="datetime64[us]"))
    if "updated_at" in work_items.columns:
        stand_in = local_times(work_items["updated_at"]).where(items["status"].isin(labels.RESOLVED_STATUSES))
        resolved_at = resolved_at.fillna(stand_in)
    items["resolved_at"] = resolved_at
    known = (findings.drop_duplicates("finding_id").assign(finding_id=lambda f: f["finding_id"].astype("string"))
             .set_index("finding_id"))
    for column in ("insurer_number", "category"):
        from_finding = items["finding_id"].map(known[column]).astype("string") if column in known.columns else None
        own = work_items[column].astype("string") if column in work_items.columns else None
        if from_finding is None and own is None:
            raise ValueError(f"neither findings nor work_items has {column!r}")
        items[column] = own if from_finding is None else from_finding if own is None else from_finding.fillna(own)
    items = items.loc[items["insurer_number"].fillna("").str.strip() != ""]
    return items.loc[items["category"] != "feed"]


def build_national(findings: pd.DataFrame, work_items: pd.DataFrame, *, period: str,
                   lang: str = "en") -> pd.DataFrame:
    """Counts per insurer and category for the month ``period`` — 点検結果報告の集計 (see module doc)."""
    lang = labels.check_lang(lang)
    start, end = period_bounds(period)
    items = _items(findings, work_items)
    resolved_in = (items["resolved_at"] >= start) & (items["resolved_at"] < end)
    status = items["status"]
    confirmed = (status == "resolved_fixed") & resolved_in
    resolved_before_end = status.isin(labels.RESOLVED_STATUSES) & (items["resolved_at"] < end)
    flags = pd.DataFrame({
        "insurer_number": items["insurer_number"], "category": items["category"],
        "found": (items["created_at"] >= start) & (items["created_at"] < end),
        "confirmed": confirmed,
        "false_positive": (status == "resolved_false_positive") & resolved_in,
        "wont_fix": (status == "resolved_wont_fix") & resolved_in,
        "open_at_end": (items["created_at"] < end) & ~resolved_before_end.fillna(False),
        "mislinks_confirmed": confirmed & (items["category"] == "mislink"),
        "notation_fixed": confirmed & (items["category"] == "notation"),
    })
    flags["resolved"] = flags["confirmed"] | flags["false_positive"] | flags["wont_fix"]
    sums = flags.groupby(["insurer_number", "category"])[_COUNTS].sum()

    # Fixed shape: every insurer seen up to the month's end × every category, zeros included.
    insurers = sorted(items.loc[items["created_at"] < end, "insurer_number"].dropna().unique())
    extra = sorted(set(items["category"].dropna()) - set(NATIONAL_CATEGORIES))
    categories = [*NATIONAL_CATEGORIES, *extra]
    grid = pd.MultiIndex.from_product([insurers, categories], names=["insurer_number", "category"])
    by_category = sums.reindex(grid, fill_value=0).astype("int64").reset_index()
    totals = by_category.groupby("insurer_number", as_index=False)[_COUNTS].sum().assign(category=TOTAL)
    out = pd.concat([by_category, totals], ignore_index=True)
    rank = {c: i for i, c in enumerate([*categories, TOTAL])}
    out = (out.assign(_r=out["category"].map(rank)).sort_values(["insurer_number", "_r"])
           .drop(columns="_r").reset_index(drop=True))
    out.insert(0, "period", period)
    out = out[NATIONAL_COLUMNS].astype({c: "int64" for c in _COUNTS})
    out = out.astype({"period": "string", "insurer_number": "string", "category": "string"})
    if lang == "ja":
        out["category"] = out["category"].map(lambda c: "合計" if c == TOTAL else labels.category(c, "ja"))
        out = out.rename(columns=NATIONAL_COLUMNS_JA)
    return out


def write_national(frame: pd.DataFrame, out: str | Path, *, encoding: str = "utf-8-sig") -> Path:
    """Write the export as CSV (default UTF-8 with BOM; ``cp932`` for older systems), refusing a 12-digit run."""
    text = frame.to_csv(index=False)
    assert_no_individual_number(text, str(out))
    path = Path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode(encoding))
    return path
