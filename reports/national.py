"""National-reporting export (紐付け誤り等の点検結果報告) — one reporting month per insurer and category.

The ministry asks insurers how many members they checked, how many links they verified, how many
suspected mis-links and notation differences they found, how many a steward confirmed, how many
were corrected and how many remain. ``build_national`` gives that for one feed reporting month
(対象月 ``YYYY-MM``: the feed's manifest ``period``, else the month of its ``as_of``) — never the
day a scan happened to run. Counting follows :mod:`reports.counts` (one set of definitions).

Fixed layout — one row per 保険者番号 × 区分, every catalogue category listed (zeros where nothing
happened), so the shape does not depend on the data; feed-level findings (no insurer) are not
reported; no total row among the data rows (``build_national_totals`` gives them for their own
file). Columns, in this order (English header / Japanese header):

======================  ==========================  ==============================================
``period``              報告対象月                  the reporting month, ``YYYY-MM``
``insurer_number``      保険者番号                  the insurer
``category_code``       区分コード                  ``mislink``, ``notation``, ``burden_ratio``,
                                                    ``limit_category``, ``qualification_date``,
                                                    ``card_issuance``
``category_label``      区分                        its Japanese (or English) label
``members_checked``     点検被保険者数              members in the insurer's latest feed of the
                                                    month (the same figure on each category row)
``links_verified``      紐付け確認被保険者数        of those, members with a linked or resolved
                                                    resident (no NUMBER_INVALID/RESIDENT_NOT_FOUND)
``found``               検出件数                    work items first raised by the month's scans
``confirmed``           誤り確定件数                a steward confirmed it (``resolved_fixed``)
``corrected``           修正反映件数                confirmed, and a later scan no longer raised it
``false_positive``      誤検知件数                  ``resolved_false_positive``
``wont_fix``            対応不要件数                ``resolved_wont_fix``
``no_longer_detected``  検出されなくなった件数      ``closed_not_seen``: the source changed
``still_open``          未処理件数                  ``open`` + ``in_progress``
``created_on``          作成日                      the day the export was made (Japan time)
======================  ==========================  ==============================================

``found`` = ``confirmed + false_positive + wont_fix + no_longer_detected + still_open`` on every
row; ``corrected`` is a part of ``confirmed``. The mis-link row's ``found`` is the suspected
mis-links, the notation row's the notation differences.

Inputs: ``work_items`` with ``finding_id, status, insurer_number, category, first_seen_scan,
last_seen_scan`` (the store's ``work_items_frame``); ``scans`` with ``scan_id, period, as_of``
(``list_scans`` rows); ``feed_stats`` with ``scan_id, insurer_number, statistic, value``;
``scan_findings`` with ``scan_id, insurer_number, member_id, rule_id`` of the period's scans.
"""
from __future__ import annotations

import re
from datetime import date

import pandas as pd

from reports import counts, labels

NATIONAL_COLUMNS = [
    "period", "insurer_number", "category_code", "category_label", "members_checked", "links_verified",
    "found", "confirmed", "corrected", "false_positive", "wont_fix", "no_longer_detected", "still_open",
    "created_on",
]
NATIONAL_COLUMNS_JA = {
    "period": "報告対象月", "insurer_number": "保険者番号", "category_code": "区分コード", "category_label": "区分",
    "members_checked": "点検被保険者数", "links_verified": "紐付け確認被保険者数", "found": "検出件数",
    "confirmed": "誤り確定件数", "corrected": "修正反映件数", "false_positive": "誤検知件数",
    "wont_fix": "対応不要件数", "no_longer_detected": "検出されなくなった件数", "still_open": "未処理件数",
    "created_on": "作成日", "insurers": "保険者数",
}
TOTAL_COLUMNS = ["period", "category_code", "category_label", "insurers", "members_checked", "links_verified",
                 *counts.OUTCOME_COLUMNS, "created_on"]
CORRECTION_COLUMNS = ["period", "insurer_number", "member_id", "rule_id", "rule_label", "suggested_resident_id",
                      "suggested_number_last4", "confirmed_on", "corrected", "finding_id"]
CORRECTION_COLUMNS_JA = {
    "period": "報告対象月", "insurer_number": "保険者番号", "member_id": "被保険者ID", "rule_id": "ルールID",
    "rule_label": "内容", "suggested_resident_id": "本来の住民（宛名番号）", "suggested_number_last4": "本来の個人番号下4桁",
    "confirmed_on": "確定日", "corrected": "修正反映", "finding_id": "指摘ID",
}
ALL_CATEGORIES = "all"
# Reported categories: the catalogue's, less feed-level findings which belong to no insurer.
NATIONAL_CATEGORIES = tuple(c for c in labels.CATEGORY_ORDER if c != "feed")
_COUNTS = ["members_checked", "links_verified", *counts.OUTCOME_COLUMNS]
_PERIOD_RE = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")


def check_period(period: str) -> str:
    if not _PERIOD_RE.match(period or ""):
        raise ValueError(f"period must look like 2026-11, not {period!r}")
    return period


def _text(frame: pd.DataFrame, column: str) -> pd.Series:
    return frame[column].astype("string") if column in frame.columns else \
        pd.Series(pd.NA, index=frame.index, dtype="string")


def _reported(items: pd.DataFrame) -> pd.DataFrame:
    insurer = _text(items, "insurer_number")
    keep = (insurer.fillna("").str.strip() != "") & (_text(items, "category") != "feed").fillna(True)
    return items.loc[keep]


def build_national(work_items: pd.DataFrame, scans: pd.DataFrame, feed_stats: pd.DataFrame,
                   scan_findings: pd.DataFrame, *, period: str, created_on: date,
                   lang: str = "ja") -> pd.DataFrame:
    """Counts per insurer and category for the reporting month ``period`` (see the module doc)."""
    lang = labels.check_lang(lang)
    check_period(period)
    scan_ids = counts.period_scans(scans, period)
    items = _reported(counts.cohort(work_items, scans, period))
    checked = counts.members_checked(feed_stats, scan_ids)
    checked = checked.assign(links_verified=counts.links_verified(checked, scan_findings))
    latest = counts.latest_scan_per_insurer(feed_stats)
    outcome = counts.outcome_counts(items, ["insurer_number", "category"], latest)

    insurers = sorted(set(checked["insurer_number"].dropna()) | set(outcome["insurer_number"].dropna()))
    extra = sorted(set(outcome["category"].dropna()) - set(NATIONAL_CATEGORIES) - {"feed"})
    categories = [*NATIONAL_CATEGORIES, *extra]
    grid = pd.MultiIndex.from_product([insurers, categories], names=["insurer_number", "category"])
    out = (outcome.set_index(["insurer_number", "category"])[counts.OUTCOME_COLUMNS]
           .reindex(grid, fill_value=0).reset_index())
    per_insurer = checked.set_index("insurer_number")
    for column in ("members_checked", "links_verified"):
        out[column] = out["insurer_number"].map(per_insurer[column]).fillna(0).astype("int64")
    out = out.assign(period=period, category_code=out["category"],
                     category_label=out["category"].map(lambda c: labels.category(c, lang)),
                     created_on=created_on.isoformat())
    out = out[NATIONAL_COLUMNS].astype({**{c: "int64" for c in _COUNTS},
                                        **{c: "string" for c in NATIONAL_COLUMNS if c not in _COUNTS}})
    return out.reset_index(drop=True)


def build_national_totals(frame: pd.DataFrame, *, lang: str = "ja") -> pd.DataFrame:
    """Totals of a :func:`build_national` frame (English headers): one row per category over the
    insurers, then one ``all`` row over every category; members are counted once per insurer."""
    lang = labels.check_lang(lang)
    outcome = list(counts.OUTCOME_COLUMNS)
    if frame.empty:
        return pd.DataFrame({c: pd.Series(dtype="int64" if c in ("insurers", *_COUNTS) else "string")
                             for c in TOTAL_COLUMNS})
    by_category = frame.groupby("category_code", sort=False).agg(
        period=("period", "first"), category_label=("category_label", "first"),
        insurers=("insurer_number", "nunique"), created_on=("created_on", "first"),
        **{c: (c, "sum") for c in _COUNTS}).reset_index()
    per_insurer = frame.drop_duplicates("insurer_number")
    everything = {"period": frame["period"].iloc[0], "category_code": ALL_CATEGORIES,
                  "category_label": "全区分" if lang == "ja" else "All categories",
                  "insurers": int(frame["insurer_number"].nunique()),
                  "members_checked": int(per_insurer["members_checked"].sum()),
                  "links_verified": int(per_insurer["links_verified"].sum()),
                  **{c: int(frame[c].sum()) for c in outcome}, "created_on": frame["created_on"].iloc[0]}
    out = pd.concat([by_category, pd.DataFrame([everything])], ignore_index=True)[TOTAL_COLUMNS]
    return out.astype({**{c: "int64" for c in ("insurers", *_COUNTS)},
                       **{c: "string" for c in TOTAL_COLUMNS if c not in ("insurers", *_COUNTS)}})


def build_corrections(work_items: pd.DataFrame, scans: pd.DataFrame, feed_stats: pd.DataFrame, *,
                      period: str, lang: str = "ja") -> pd.DataFrame:
    """Per-record list of the month's confirmed mis-links (category ``mislink``, ``resolved_fixed``).

    The suggested resident's number appears only as its last four digits.
    """
    lang = labels.check_lang(lang)
    check_period(period)
    items = _reported(counts.cohort(work_items, scans, period))
    items = items.loc[(_text(items, "category") == "mislink").fillna(False)
                      & _text(items, "status").isin(counts.CONFIRMED).fillna(False)]
    corrected = counts.corrected_flags(items, counts.latest_scan_per_insurer(feed_stats))
    resolved = pd.to_datetime(items["resolved_at"].astype("object"), errors="coerce", utc=True) \
        if "resolved_at" in items.columns else pd.Series(pd.NaT, index=items.index)
    yes, no = ("済", "未") if lang == "ja" else ("yes", "no")
    last4 = _text(items, "suggested_individual_number_last4").str.extract(r"(\d{4})$", expand=False)
    out = pd.DataFrame({
        "period": period, "insurer_number": _text(items, "insurer_number"),
        "member_id": _text(items, "member_id"), "rule_id": _text(items, "rule_id"),
        "rule_label": _text(items, "rule_id").map(lambda r: labels.rule(r, lang)),
        "suggested_resident_id": _text(items, "suggested_resident_id"),
        "suggested_number_last4": last4.astype("string"),
        "confirmed_on": resolved.dt.tz_convert("Asia/Tokyo").dt.strftime("%Y-%m-%d").astype("string"),
        "corrected": corrected.map({True: yes, False: no}).astype("string"),
        "finding_id": _text(items, "finding_id"),
    }, index=items.index)
    return out.sort_values(["insurer_number", "member_id", "finding_id"]).reset_index(drop=True)[CORRECTION_COLUMNS]


def headed(frame: pd.DataFrame, lang: str) -> pd.DataFrame:
    """The frame with Japanese headers for ``lang="ja"`` (codes stay in their own columns)."""
    if labels.check_lang(lang) != "ja":
        return frame
    table = CORRECTION_COLUMNS_JA if list(frame.columns) == CORRECTION_COLUMNS else NATIONAL_COLUMNS_JA
    return frame.rename(columns=table)
