"""Weekly report (週次点検レポート) for the data stewards' manager — frames in, page and files out.

The page opens with what to do this week (期限超過, 重要度「高」, this week's new suspected mis-links
with the person the member probably is), then the backlog by age, service-level breaches, the
trend over the last weeks, mis-links confirmed and corrected, notation clean-up, feed validation
and quarantine, drift alerts, and the counts per category and rule (every catalogue rule listed,
NUMBER_SHARED included). Every figure is counted by :mod:`reports.counts` — the definitions the
national export and the API use too — and is kept by name in :attr:`WeeklyReport.figures`, so a
test can recompute each one from the store.

``build_weekly`` turns frames into a :class:`WeeklyReport` (plain values, tables as DataFrames,
charts as PNG bytes); ``render_weekly_html`` renders it with ``templates/weekly.html`` (A4 print
CSS); ``weekly_json`` gives the same context as JSON; ``write_weekly`` writes a directory:

- ``index.html``            self-contained page (inline CSS, charts embedded as base64 PNG)
- ``findings_by_rule.csv``  outcome counts per category and rule (UTF-8 with BOM for Excel)
- ``queue_status.csv``      backlog per work queue
- ``backlog_ageing.csv``, ``trend.csv``  the tables of those sections
- ``chart_*.png``           the charts shown in the page

Inputs (extra columns are ignored):

``items``  every work item with its finding — the store's ``work_items_frame``: ``finding_id,
    queue, status, insurer_number, member_id, rule_id, category, severity, score, summary_ja,
    summary_en`` (or ``summary``), ``evidence`` (dict or JSON text), ``suggested_resident_id``,
    ``suggested_individual_number_last4``, ``first_seen_scan, last_seen_scan, created_at,
    resolved_at`` and, when the store has them, ``due_at`` and ``priority``.
``events``  the audit trail (``events_frame``): ``finding_id``, ``to_status`` (or ``status``), ``at``
    (or ``changed_at``); or None (then nothing is said about resolutions).
``scans``  ``list_scans`` rows: ``scan_id, started_at, as_of, period, status, path, summary``.
``quarantine``  ``file, reason, count`` (or raw rows ``file, line, column, value, reason``).
``validation``  the feed loader's per-file validation dict (``feeds.validation``) or the
    ``{"success", "checks", "messages", "skipped_rules"}`` shape.

Times: naive timestamps are UTC (as SQLite returns them); weeks are Japan-time calendar weeks.
A full individual number never reaches the output: every file is checked by
:func:`reports.guard.assert_no_individual_number` before anything is written.
"""
from __future__ import annotations

import base64
import json
import re
from dataclasses import asdict, dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import jinja2
import pandas as pd

from reports import charts, counts, labels, scanlog
from reports.evidence import parse as parse_evidence
from reports.evidence import suggested_person
from reports.guard import assert_no_individual_number, identifier_values, last4
from reports.spreadsheet import neutralise_formulas
from reports.timeutil import REPORT_TZ, local_times

SUSPECT_RULES = counts.MISLINK_FAMILY
MISLINK_RULES = ("MISLINK_SUSPECTED", "NUMBER_SHARED", "NUMBER_INVALID", "RESIDENT_NOT_FOUND")
NOTATION_RULE = "NOTATION_DIFFERENCE"
DRIFT_RULE = "FEED_DRIFT"
REASON_KEYS = ("reasons", "reason_codes", "reason_code")
TOP_N = 20
TREND_WEEKS = 8
SEVERITY_ORDER = ("high", "medium", "low", "info")

_WEEK_RE = re.compile(r"^(\d{4})-W(\d{2})$")
#: the years a report week may fall in
WEEK_YEARS = (1900, 2199)
_TEMPLATES = Path(__file__).parent / "templates"


# ---------------------------------------------------------------- the report object

@dataclass
class WeeklyReport:
    """Everything the weekly page shows: plain values, tables as frames, charts as PNG bytes."""
    week: str
    lang: str
    week_start: date
    week_end: date                       # Sunday, inclusive
    created_at: pd.Timestamp             # Japan time
    version: str
    insurers: list[tuple[str, str]]      # (insurer number, name or "")
    periods: list[str]                   # feed reporting months of the week's scans
    figures: dict[str, int | None]       # every headline number, by name
    scans: pd.DataFrame
    overdue: pd.DataFrame                # to-do lists (each at most top_n rows)
    high: pd.DataFrame
    new_mislinks: pd.DataFrame
    ageing: pd.DataFrame                 # queue × age band (open items)
    sla: pd.DataFrame                    # per queue: open, overdue, oldest overdue, due this week
    trend: pd.DataFrame                  # last weeks: new, closed by stewards, no longer detected, backlog
    by_period: pd.DataFrame              # per feed reporting month (cohort): counts.OUTCOME_COLUMNS
    mislink: pd.DataFrame                # per mis-link rule: counts.OUTCOME_COLUMNS
    top_suspects: pd.DataFrame
    notation: pd.DataFrame               # one row: counts.OUTCOME_COLUMNS + new_this_week
    notation_reasons: pd.DataFrame | None
    by_rule: pd.DataFrame
    queue_status: pd.DataFrame
    drift: pd.DataFrame
    validation_success: bool | None
    validation_files: pd.DataFrame
    validation_failed: pd.DataFrame
    validation_messages: list[str]
    quarantine: pd.DataFrame
    skipped_rules: pd.DataFrame
    has_due_dates: bool
    has_events: bool
    top_n: int = TOP_N
    charts: dict[str, bytes] = field(default_factory=dict)
    chart_font: str | None = None
    scan_log: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=scanlog.COLUMNS))
    validation_feed: str | None = None   # the feed validation and quarantine belong to


# ---------------------------------------------------------------- helpers

def week_bounds(week: str) -> tuple[date, date]:
    """Monday and Sunday of an ISO week ``YYYY-Www`` (ISO 8601 週番号)."""
    match = _WEEK_RE.match(week or "")
    if not match:
        raise ValueError(f"week must look like 2026-W47, not {week!r}")
    try:
        monday = date.fromisocalendar(int(match.group(1)), int(match.group(2)), 1)
    except ValueError as exc:
        raise ValueError(f"no such ISO week: {week!r}") from exc
    if not WEEK_YEARS[0] <= monday.year <= WEEK_YEARS[1]:
        # pandas timestamps end in 1677 / 2262; no store holds scans outside these years anyway
        raise ValueError(f"week {week!r} is outside the years {WEEK_YEARS[0]}–{WEEK_YEARS[1]}")
    return monday, monday + timedelta(days=6)


def iso_week(moment: pd.Timestamp) -> str:
    year, week, _ = pd.Timestamp(moment).isocalendar()
    return f"{year}-W{week:02d}"


def _text(frame: pd.DataFrame, column: str) -> pd.Series:
    if column in frame.columns:
        return frame[column].astype("string")
    return pd.Series(pd.NA, index=frame.index, dtype="string")


def _local_now(now: Any) -> pd.Timestamp:
    moment = pd.Timestamp(now)
    if moment.tzinfo is None:
        moment = moment.tz_localize("UTC")
    return moment.tz_convert(REPORT_TZ).tz_localize(None)


def _items(items: pd.DataFrame, lang: str) -> pd.DataFrame:
    missing = {"finding_id", "rule_id", "category", "status"} - set(items.columns)
    if missing:
        raise ValueError(f"items lacks column(s) {sorted(missing)}")
    frame = pd.DataFrame({c: _text(items, c) for c in (
        "finding_id", "insurer_number", "member_id", "rule_id", "category", "severity", "queue", "status",
        "suggested_resident_id", "first_seen_scan", "last_seen_scan")}, index=items.index)
    summary_column = f"summary_{lang}" if f"summary_{lang}" in items.columns else "summary"
    frame["summary"] = _text(items, summary_column)
    frame["evidence"] = items["evidence"] if "evidence" in items.columns else None
    frame["score"] = pd.to_numeric(items["score"], errors="coerce") if "score" in items.columns else float("nan")
    frame["suggested_last4"] = last4(_text(items, "suggested_individual_number_last4"))
    frame["queue"] = frame["queue"].fillna("")
    for column in ("created_at", "resolved_at", "due_at"):
        frame[column] = local_times(items[column]) if column in items.columns else \
            pd.Series(pd.NaT, index=items.index, dtype="datetime64[us]")
    frame["priority"] = pd.to_numeric(items["priority"], errors="coerce") if "priority" in items.columns else 0
    frame["is_open"] = counts.open_mask(frame)
    return frame.reset_index(drop=True)


def _events(events: pd.DataFrame | None) -> pd.DataFrame | None:
    if events is None:
        return None
    frame = events.rename(columns={k: v for k, v in (("to_status", "status"), ("at", "changed_at"))
                                   if k in events.columns and v not in events.columns})
    for column in ("finding_id", "status", "changed_at"):
        if column not in frame.columns:
            raise ValueError(f"events lacks column {column!r}")
    out = pd.DataFrame({"finding_id": _text(frame, "finding_id"), "status": _text(frame, "status"),
                        "changed_at": local_times(frame["changed_at"])})
    return out.dropna(subset=["status"]).sort_values("changed_at", kind="stable").reset_index(drop=True)


def _scans_of_week(scans: pd.DataFrame, start: pd.Timestamp, end: pd.Timestamp) -> pd.DataFrame:
    frame = scans.copy() if scans is not None and len(scans) else pd.DataFrame(columns=["scan_id", "started_at"])
    if "started_at" not in frame.columns and "as_of" not in frame.columns:
        raise ValueError("scans needs a started_at or an as_of column")
    when = local_times(frame["started_at"]) if "started_at" in frame.columns else local_times(frame["as_of"])
    if "as_of" in frame.columns and "started_at" in frame.columns:
        when = when.fillna(local_times(frame["as_of"]))
    week = frame.loc[(when >= start) & (when < end)].assign(started_at=when)
    periods = counts.scan_periods(week) if len(week) else pd.DataFrame({"period": pd.Series(dtype="string")})
    week = week.assign(period=periods["period"].to_numpy()) if len(week) else week.assign(period=pd.Series(dtype="string"))
    return week.sort_values(["started_at"]).reset_index(drop=True)


def _quarantine(quarantine: pd.DataFrame | None) -> pd.DataFrame:
    if quarantine is None or len(quarantine) == 0:
        return pd.DataFrame({"file": pd.Series(dtype="string"), "reason": pd.Series(dtype="string"),
                             "count": pd.Series(dtype="int64")})
    frame = quarantine.copy()
    if "count" not in frame.columns:
        frame["count"] = 1
    frame["file"], frame["reason"] = _text(frame, "file").fillna(""), _text(frame, "reason").fillna("")
    frame["count"] = pd.to_numeric(frame["count"], errors="coerce").fillna(0).astype("int64")
    out = frame.groupby(["file", "reason"], as_index=False, sort=False)["count"].sum()
    return out.sort_values(["file", "count", "reason"], ascending=[True, False, True]).reset_index(drop=True)


def _validation(validation: Mapping[str, Any] | None) -> tuple[bool | None, pd.DataFrame, pd.DataFrame, list[str]]:
    """(overall success, per-file intake, failed checks, messages) from either accepted shape."""
    file_cols = ["file", "rows_read", "rows_valid", "rows_quarantined", "success"]
    check_cols = ["file", "check", "column", "unexpected_count"]
    if not validation:
        return None, pd.DataFrame(columns=file_cols), pd.DataFrame(columns=check_cols), []
    files, failed = [], []
    for check in validation.get("checks") or []:
        if not check.get("success"):
            failed.append({c: check.get(c) for c in check_cols})
    for kind, part in validation.items():
        if not isinstance(part, Mapping) or not isinstance(part.get("gx"), Mapping):
            continue
        gx = part["gx"]
        files.append({"file": part.get("file") or kind, "rows_read": part.get("rows_read"),
                      "rows_valid": part.get("rows_valid"), "rows_quarantined": part.get("rows_quarantined"),
                      "success": gx.get("success")})
        for item in gx.get("expectations") or []:
            if not item.get("success"):
                column = item.get("column") or item.get("column_list")
                failed.append({"file": part.get("file") or kind, "check": item.get("expectation"),
                               "column": ", ".join(column) if isinstance(column, list) else column,
                               "unexpected_count": item.get("unexpected_count")})
    success = validation.get("success")
    if success is None and (files or failed):
        success = not failed and all(bool(f["success"]) for f in files)
    return (None if success is None else bool(success), pd.DataFrame(files, columns=file_cols),
            pd.DataFrame(failed, columns=check_cols), [str(m) for m in validation.get("messages") or []])


def _skipped(skipped: Any) -> pd.DataFrame:
    rows = []
    for item in skipped or []:
        if isinstance(item, Mapping):
            rows.append({"rule_id": item.get("rule_id"), "reason": item.get("reason")})
        else:
            rows.append({"rule_id": item[0], "reason": item[1]})
    return pd.DataFrame(rows, columns=["rule_id", "reason"]).astype("string")


def _reason_codes(evidence: Any) -> list[str]:
    """Reason codes anywhere in one evidence object (top level or per compared field)."""
    found: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, Mapping):
            for key, value in node.items():
                if key in REASON_KEYS:
                    found.extend(str(v) for v in (value if isinstance(value, (list, tuple)) else [value])
                                 if v not in (None, ""))
                else:
                    walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(parse_evidence(evidence))
    return list(dict.fromkeys(found))


# ---------------------------------------------------------------- sections

def _order_rules(frame: pd.DataFrame) -> pd.DataFrame:
    rule_rank = {r: i for i, r in enumerate(labels.RULES)}
    cat_rank = {c: i for i, c in enumerate(labels.CATEGORY_ORDER)}
    return (frame.assign(_c=frame["category"].map(lambda c: cat_rank.get(c, 99)),
                         _r=frame["rule_id"].map(lambda r: rule_rank.get(r, 999)))
            .sort_values(["_c", "_r", "rule_id"]).drop(columns=["_c", "_r"]).reset_index(drop=True))


def _by_rule(items: pd.DataFrame, new: pd.Series, latest: pd.Series) -> pd.DataFrame:
    """Outcome counts per rule, every catalogue rule listed (zeros included)."""
    outcome = counts.outcome_counts(items, ["category", "rule_id"], latest)
    catalogue = pd.DataFrame({"rule_id": list(labels.RULES), "category": [labels.RULE_CATEGORIES[r] for r in labels.RULES]})
    table = catalogue.merge(outcome, on=["category", "rule_id"], how="outer")
    table[counts.OUTCOME_COLUMNS] = table[counts.OUTCOME_COLUMNS].fillna(0).astype("int64")
    news = items.loc[new].groupby("rule_id").size()
    table["new_this_week"] = table["rule_id"].map(news).fillna(0).astype("int64")
    return _order_rules(table)[["category", "rule_id", "new_this_week", *counts.OUTCOME_COLUMNS]]


def _queue_status(items: pd.DataFrame, new: pd.Series, overdue: pd.Series, queues: Iterable[str]) -> pd.DataFrame:
    frame = items.assign(_new=new, _overdue=overdue, _inprog=items["status"] == "in_progress")
    grouped = frame.groupby("queue")
    table = pd.DataFrame({"open": grouped["is_open"].sum(), "in_progress": grouped["_inprog"].sum(),
                          "overdue": grouped["_overdue"].sum(), "new_this_week": grouped["_new"].sum(),
                          "total": grouped.size()})
    table = table.reindex(sorted(set(table.index) | set(queues))).fillna(0).astype("int64")
    return (table.reset_index(names="queue").sort_values(["open", "queue"], ascending=[False, True])
            .reset_index(drop=True))


def _ageing(items: pd.DataFrame, now: pd.Timestamp) -> pd.DataFrame:
    open_items = items.loc[items["is_open"]]
    bands = [label for _, _, label in counts.AGE_BANDS]
    band = counts.age_band(counts.age_days(open_items, now, local=True))
    table = pd.crosstab(open_items["queue"], band) if len(open_items) else pd.DataFrame()
    table = table.reindex(columns=bands, fill_value=0)
    table["total"] = table.sum(axis=1)
    return table.reset_index(names="queue").astype({b: "int64" for b in [*bands, "total"]})


def _sla(items: pd.DataFrame, overdue: pd.Series, now: pd.Timestamp) -> pd.DataFrame:
    frame = items.assign(_overdue=overdue,
                         _overdue_days=(now - items["due_at"]).dt.days.where(overdue),
                         _due_week=items["is_open"] & (items["due_at"] >= now).fillna(False)
                         & (items["due_at"] < now + pd.Timedelta(days=7)).fillna(False))
    grouped = frame.groupby("queue")
    table = pd.DataFrame({"open": grouped["is_open"].sum(), "overdue": grouped["_overdue"].sum(),
                          "oldest_overdue_days": grouped["_overdue_days"].max(),
                          "due_next_7_days": grouped["_due_week"].sum()})
    table = table.loc[table["open"] > 0]
    return table.reset_index(names="queue").astype({"open": "int64", "overdue": "int64", "due_next_7_days": "int64",
                                                    "oldest_overdue_days": "Int64"})


def _status_at(items: pd.DataFrame, events: pd.DataFrame | None, moment: pd.Timestamp) -> pd.Series:
    """Each item's status just before ``moment``: its last event's status, else ``open`` if it existed."""
    existed = (items["created_at"] < moment).fillna(False)
    status = pd.Series(pd.NA, index=items.index, dtype="string").mask(existed, "open")
    if events is not None and len(events):
        before = events.loc[events["changed_at"] < moment].drop_duplicates("finding_id", keep="last")
        last = items["finding_id"].map(before.set_index("finding_id")["status"])
        status = last.where(last.notna() & existed, status).astype("string")
    return status


def _trend(items: pd.DataFrame, events: pd.DataFrame | None, monday: date, weeks: int) -> pd.DataFrame:
    rows = []
    for k in range(weeks - 1, -1, -1):
        start = pd.Timestamp(monday - timedelta(days=7 * k))
        end = start + pd.Timedelta(days=7)
        new = int(((items["created_at"] >= start) & (items["created_at"] < end)).sum())
        row = {"week": iso_week(start), "new": new, "closed_by_steward": None, "no_longer_detected": None,
               "backlog_end": None}
        if events is not None:
            closed = counts.resolved_in(events, start, end)
            row["closed_by_steward"] = int(closed["group"].isin(["confirmed", "false_positive", "wont_fix"]).sum())
            row["no_longer_detected"] = int((closed["group"] == "no_longer_detected").sum())
            row["backlog_end"] = int(_status_at(items, events, end).isin(counts.OPEN).sum())
        rows.append(row)
    return pd.DataFrame(rows).astype({"new": "int64", "closed_by_steward": "Int64", "no_longer_detected": "Int64",
                                      "backlog_end": "Int64"})


def _by_period(items: pd.DataFrame, scans: pd.DataFrame, latest: pd.Series, periods: int = 6) -> pd.DataFrame:
    """Outcome of each feed month's cohort (the national export's definition), newest months last."""
    columns = ["period", *counts.OUTCOME_COLUMNS]
    if scans is None or not len(scans):
        return pd.DataFrame(columns=columns)
    months = sorted(set(counts.scan_periods(scans)["period"].dropna()))[-periods:]
    rows = []
    for month in months:
        cohort = counts.cohort(items, scans, month)
        outcome = counts.outcome_counts(cohort.assign(_all="all"), ["_all"], latest)
        values = outcome.iloc[0].to_dict() if len(outcome) else {c: 0 for c in counts.OUTCOME_COLUMNS}
        rows.append({"period": month, **{c: int(values[c]) for c in counts.OUTCOME_COLUMNS}})
    return pd.DataFrame(rows, columns=columns)


def _person_columns(frame: pd.DataFrame, lang: str) -> pd.DataFrame:
    people = [suggested_person(e, r, l) for e, r, l in
              zip(frame["evidence"], frame["suggested_resident_id"], frame["suggested_last4"])]
    return frame.assign(suggested_person=[p.label(lang) if p else "" for p in people])


def _rank(frame: pd.DataFrame) -> pd.DataFrame:
    severity = frame["severity"].map({s: i for i, s in enumerate(SEVERITY_ORDER)}).fillna(9)
    rule = frame["rule_id"].map({r: i for i, r in enumerate(SUSPECT_RULES)}).fillna(9)
    return (frame.assign(_s=severity, _p=-frame["priority"].fillna(0), _r=rule, _score=-frame["score"].fillna(0))
            .sort_values(["_p", "_s", "_score", "_r", "insurer_number", "member_id"], kind="stable")
            .drop(columns=["_s", "_p", "_r", "_score"]))


def _notation(items: pd.DataFrame, new: pd.Series, latest: pd.Series,
              reason_labels: Mapping[str, str] | None) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    notation = items.loc[items["rule_id"] == NOTATION_RULE]
    summary = counts.outcome_counts(notation.assign(_all="all"), ["_all"], latest)
    summary = summary.drop(columns="_all") if len(summary) else pd.DataFrame(
        [{c: 0 for c in counts.OUTCOME_COLUMNS}])
    summary["new_this_week"] = int(new[notation.index].sum()) if len(notation) else 0
    codes = notation.assign(reason_code=[_reason_codes(e) for e in notation["evidence"]]).explode("reason_code")
    codes = codes.dropna(subset=["reason_code"])
    if codes.empty:
        return summary.astype("int64"), None
    reasons = counts.outcome_counts(codes, ["reason_code"], latest)
    reasons = reasons.sort_values(["found", "reason_code"], ascending=[False, True]).reset_index(drop=True)
    reasons.insert(1, "reason_label", [(reason_labels or {}).get(c, c) for c in reasons["reason_code"]])
    return summary.astype("int64"), reasons


# ---------------------------------------------------------------- public API

def build_weekly(items: pd.DataFrame, events: pd.DataFrame | None, scans: pd.DataFrame,
                 quarantine: pd.DataFrame | None, validation: Mapping[str, Any] | None, *,
                 week: str, now: Any, lang: str = "ja", version: str = "", insurer_names: Mapping[str, str] | None = None,
                 queue_labels: Mapping[str, str] | None = None, reason_labels: Mapping[str, str] | None = None,
                 skipped_rules: Any = None, top_n: int = TOP_N, trend_weeks: int = TREND_WEEKS,
                 validation_feed: str | None = None,
                 chart_font: str | None | bool = True, with_charts: bool = True) -> WeeklyReport:
    """Build the weekly report for ISO ``week`` as of ``now`` (the moment the report is made).

    ``queue_labels``: queue name → label in ``lang`` (the queue table); ``reason_labels``: notation
    reason code → label (the detectors' table); codes are shown only where no label exists.
    ``chart_font``: True finds a Japanese font (matplotlib-fontja), False forces ASCII labels.
    ``validation_feed``: the feed (folder name) ``validation`` and ``quarantine`` belong to, shown
    beside them (a refused later feed has neither).
    """
    lang = labels.check_lang(lang)
    monday, sunday = week_bounds(week)
    start, end = pd.Timestamp(monday), pd.Timestamp(monday + timedelta(days=7))
    moment = _local_now(now)
    frame = _items(items, lang)
    # Items raised after the week belong to later reports.
    frame = frame.loc[(frame["created_at"] < end).fillna(True)].reset_index(drop=True)
    evts = _events(events)
    week_scans = _scans_of_week(scans, start, end)
    latest = counts.latest_scan_per_insurer(pd.DataFrame({
        "scan_id": _text(frame, "last_seen_scan"), "insurer_number": frame["insurer_number"]}).dropna())
    new = ((frame["created_at"] >= start) & (frame["created_at"] < end)).fillna(False)
    has_due = bool(frame["due_at"].notna().any())
    overdue = counts.overdue_mask(frame, moment, local=True) if has_due else pd.Series(False, index=frame.index)
    high = frame["is_open"] & (frame["severity"] == "high")

    rich = _person_columns(frame.loc[frame["is_open"] & (overdue | high | new)], lang) if len(frame) else frame
    overdue_list = _rank(rich.loc[overdue[rich.index]]).head(top_n) if has_due else rich.iloc[0:0]
    new_mislinks = _rank(rich.loc[new[rich.index] & rich["rule_id"].isin(SUSPECT_RULES)])
    listed = overdue[rich.index] | rich.index.isin(new_mislinks.index)
    high_rest = rich.loc[high[rich.index] & ~listed]
    high_list = _rank(high_rest).head(top_n)
    suspects_open = frame.loc[frame["is_open"] & frame["rule_id"].isin(SUSPECT_RULES)]
    top_suspects = _person_columns(_rank(suspects_open).head(top_n), lang)

    resolved = counts.resolved_in(evts, start, end) if evts is not None else None
    mislink = counts.outcome_counts(frame.loc[frame["rule_id"].isin(MISLINK_RULES)], ["rule_id"], latest)
    mislink = (pd.DataFrame({"rule_id": list(MISLINK_RULES)}).merge(mislink, on="rule_id", how="left")
               .fillna(0).astype({c: "int64" for c in counts.OUTCOME_COLUMNS}))
    notation, reasons = _notation(frame, new, latest, reason_labels)
    drift = frame.loc[frame["is_open"] & (frame["rule_id"] == DRIFT_RULE)]
    success, files, failed, messages = _validation(validation)
    quarantine_table = _quarantine(quarantine)
    if skipped_rules is None and validation:
        skipped_rules = validation.get("skipped_rules")
    ran = week_scans.loc[_text(week_scans, "status").fillna("done") != "rejected"] if len(week_scans) else week_scans
    if skipped_rules is None and len(ran) and "summary" in ran.columns:
        latest_summary = ran["summary"].iloc[-1]
        skipped_rules = latest_summary.get("skipped_rules") if isinstance(latest_summary, Mapping) else None
    log = scanlog.scan_log(week_scans, scans, start, end, lang)

    closed_groups = resolved["group"].value_counts() if resolved is not None else pd.Series(dtype="int64")
    figures: dict[str, int | None] = {
        "scans": len(week_scans),
        "new_this_week": int(new.sum()),
        "new_mislinks": int(len(new_mislinks)),
        "backlog": int(frame["is_open"].sum()),
        "in_progress": int((frame["status"] == "in_progress").sum()),
        "high_backlog": int(high.sum()),
        "high_not_listed_above": int(len(high_rest)),
        "overdue": int(overdue.sum()) if has_due else None,
        "mislink_backlog": int(suspects_open.shape[0]),
        "closed_by_steward_this_week": None if resolved is None else
        int(closed_groups.reindex(["confirmed", "false_positive", "wont_fix"]).fillna(0).sum()),
        "confirmed_this_week": None if resolved is None else int(closed_groups.get("confirmed", 0)),
        "no_longer_detected_this_week": None if resolved is None else int(closed_groups.get("no_longer_detected", 0)),
        "mislinks_confirmed": int(mislink.loc[mislink["rule_id"].isin(SUSPECT_RULES), "confirmed"].sum()),
        "mislinks_corrected": int(mislink.loc[mislink["rule_id"].isin(SUSPECT_RULES), "corrected"].sum()),
        "quarantined_rows": int(quarantine_table["count"].sum()),
        "drift_alerts": int(len(drift)),
        "suspects_total": int(len(suspects_open)),
        **scanlog.outcome_counts(log),
    }
    insurers = sorted(set(frame["insurer_number"].dropna()) | set(_text(week_scans, "insurer_number").dropna()))
    names = dict(insurer_names or {})
    report = WeeklyReport(
        week=week, lang=lang, week_start=monday, week_end=sunday, created_at=moment, version=version,
        insurers=[(i, names.get(i, "")) for i in insurers] or [(i, n) for i, n in names.items()],
        periods=sorted(set(ran["period"].dropna())) if len(ran) else [],
        figures=figures, scans=week_scans.drop(columns=["summary"], errors="ignore"),
        overdue=overdue_list, high=high_list, new_mislinks=new_mislinks, ageing=_ageing(frame, moment),
        sla=_sla(frame, overdue, moment) if has_due else pd.DataFrame(),
        trend=_trend(frame, evts, monday, trend_weeks),
        by_period=_by_period(frame, scans.loc[(local_times(scans["started_at"]) < end).fillna(True)]
                             if scans is not None and "started_at" in scans.columns else scans, latest),
        mislink=mislink, top_suspects=top_suspects,
        notation=notation, notation_reasons=reasons,
        by_rule=_by_rule(frame, new, latest),
        queue_status=_queue_status(frame, new, overdue, (queue_labels or {}).keys()),
        drift=drift, validation_success=success, validation_files=files, validation_failed=failed,
        validation_messages=messages, quarantine=quarantine_table, skipped_rules=_skipped(skipped_rules),
        has_due_dates=has_due, has_events=evts is not None, top_n=top_n, scan_log=log,
    )
    report._queue_labels = dict(queue_labels or {})    # type: ignore[attr-defined]
    report.validation_feed = validation_feed
    font = charts.japanese_font() if chart_font is True else (chart_font or None)
    report.chart_font = font
    report.charts = _charts(report, font) if with_charts else {}
    return report


# ---------------------------------------------------------------- charts

def _charts(report: WeeklyReport, font: str | None) -> dict[str, bytes]:
    lang = report.lang if font else "en"
    t = TEXT[lang]
    out: dict[str, bytes] = {}
    ageing = report.ageing.loc[report.ageing["total"] > 0] if len(report.ageing) else report.ageing
    if len(ageing):
        bands = [label for _, _, label in counts.AGE_BANDS]
        colours = ["#1b9e77", "#66a61e", "#e6ab02", "#d95f02", "#b42318"]
        out["chart_backlog_ageing.png"] = charts.stacked_barh(
            [queue_label(report, q, lang) for q in ageing["queue"]],
            [(t["age_band"].format(band=b), ageing[b].tolist(), c) for b, c in zip(bands, colours)],
            charts.ChartText(t["chart_ageing"], t["chart_count"], font))
    trend = report.trend
    if len(trend):
        out["chart_trend.png"] = charts.weekly_trend(
            [w.split("-")[1] for w in trend["week"]], trend["new"].tolist(),
            None if trend["closed_by_steward"].isna().all() else
            (trend["closed_by_steward"].fillna(0) + trend["no_longer_detected"].fillna(0)).astype(int).tolist(),
            None if trend["backlog_end"].isna().all() else trend["backlog_end"].fillna(0).astype(int).tolist(),
            labels=(t["trend_new"], t["trend_closed"], t["trend_backlog"]),
            text=charts.ChartText(t["chart_trend"], t["chart_count"], font))
    if report.notation_reasons is not None:
        reasons = report.notation_reasons.head(12)
        names = [label if font else code for code, label in zip(reasons["reason_code"], reasons["reason_label"])]
        out["chart_notation_reasons.png"] = charts.stacked_barh(
            names, [(t["still_open"], reasons["still_open"].tolist(), charts.PALETTE["open"]),
                    (t["done"], (reasons["found"] - reasons["still_open"]).tolist(), charts.PALETTE["bar"])],
            charts.ChartText(t["chart_notation"], t["chart_count"], font))
    return out


# ---------------------------------------------------------------- words

TEXT: dict[str, dict[str, str]] = {
    "ja": {
        "title": "週次点検レポート", "week": "対象週", "insurer": "保険者", "periods": "フィード対象月",
        "created": "作成日時", "version": "バージョン", "no_insurer": "（保険者なし）",
        "h_todo": "今週やること", "todo_overdue": "処理期限を過ぎた項目が {n} 件あります。最優先で対応してください。",
        "todo_overdue_none": "処理期限を過ぎた項目はありません。",
        "todo_no_due": "作業項目に処理期限が設定されていないため、期限超過は判定していません。",
        "todo_high": "重要度「高」の未処理が {n} 件あります。",
        "todo_new_mislinks": "今週、紐付け誤りの疑いが新たに {n} 件見つかりました。本人と思われる住民と照らして確認してください。",
        "todo_none": "今週新たに見つかった紐付け誤りの疑いはありません。",
        "todo_drift": "フィードの統計に急な変化が {n} 件あります（下の「フィードの急変」）。",
        "todo_quarantine": "取り込めなかった行が {n} 行あります。提供元に修正を依頼してください。",
        "h_overdue": "期限を過ぎた項目", "h_high": "重要度「高」の未処理（上の一覧以外）", "h_new_mislinks": "今週の新たな紐付け誤りの疑い",
        "shown": "上位{shown}件（全{total}件中）", "shown_all": "全{total}件",
        "h_ageing": "未処理の滞留（経過日数別）", "age_band": "{band}日", "no_backlog": "未処理の項目はありません。",
        "h_sla": "処理期限の超過（キュー別）", "h_trend": "推移（直近{n}週）",
        "trend_note": "「解決」は担当者の判断（修正済み・誤検知・対応不要）と、以後のスキャンで検出されなくなったものの合計。",
        "no_events_trend": "作業履歴がないため、解決件数と未処理の推移は表示していません。",
        "h_by_period": "フィード対象月ごとの結果", "by_period_note": "各月のフィードのスキャンで初めて検出された指摘の、現在の状態（全国報告と同じ数え方）。",
        "c_period_cohort": "対象月",
        "h_mislink": "紐付け誤り：確定と修正", "mislink_note": "「修正反映」は担当者が誤りと確定し、その後のスキャンで検出されなくなったもの。",
        "h_suspects": "未処理の紐付け誤りの疑い（スコア順）", "no_suspects": "未処理の紐付け誤りの疑いはありません。",
        "h_notation": "表記ゆれの整理状況", "h_notation_reasons": "理由別", "no_notation": "表記ゆれの指摘はありません。",
        "h_feed": "フィードの受付・検証と隔離", "validation_ok": "検証：合格", "validation_ng": "検証：不合格あり",
        "validation_none": "検証結果はありません。", "h_files": "ファイル別の取り込み", "h_failed": "不合格の検証項目",
        "h_quarantine": "隔離された行（ファイル・理由別）", "no_quarantine": "隔離された行はありません。",
        "h_drift": "フィードの急変", "no_drift": "フィード統計の急な変化はありません。",
        "h_rules": "区分・ルール別の件数", "rules_note": "件数は作成時点の状態。「今週の新規」は今週作成された作業項目。",
        "h_queues": "作業キュー別", "h_scans": "今週のスキャンと結果", "no_scans": "この週に実行されたスキャンはありません。",
        "validation_of": "以下の検証結果と隔離行は、最後に受け付けたフィード「{feed}」のものです。",
        "todo_rejected": "今週、受け付けられなかったフィードが {n} 件あります（理由は下の「今週のスキャンと結果」）。提供元に修正版の再送を依頼してください。",
        "scans_note": "所要時間は各段階の実測です。「スキャン」の内訳は取込・検証、ルール、保存。受付方法の「自動」は受信フォルダの監視、「手動」はコマンドまたは API からの実行です。",
        "c_folder": "フィード（フォルダ）", "c_source_label": "受付方法", "c_outcome_label": "結果", "c_stages": "所要時間",
        "c_details": "内容",
        "h_skipped": "実行しなかったルールと理由", "no_skipped": "すべてのルールを実行しました。",
        "privacy": "個人番号は下4桁のみ表示しています。", "total": "合計",
        "definitions": "件数の定義：確定＝担当者が「修正済み」と判断、検出されなくなった＝以後のスキャンで指摘が出なくなったもの（担当者の確定には数えない）、未処理＝未対応＋対応中。",
        "chart_ageing": "未処理の経過日数（キュー別）", "chart_trend": "週ごとの新規・解決と未処理",
        "chart_notation": "表記ゆれの理由別件数", "chart_count": "件数",
        "trend_new": "新規", "trend_closed": "解決", "trend_backlog": "週末時点の未処理",
        "still_open": "未処理", "done": "処理済み", "yes": "合格", "no": "不合格", "unassigned": "（未割当）",
        "kpi_backlog": "未処理（未対応＋対応中）", "kpi_new": "今週の新規", "kpi_overdue": "期限超過",
        "kpi_high": "重要度「高」の未処理", "kpi_closed": "今週の解決（担当者）", "kpi_gone": "今週検出されなくなった",
        "kpi_mislinks": "紐付け誤りの疑い（未処理）", "kpi_quarantine": "隔離行数",
        "c_queue": "キュー", "c_insurer_number": "保険者番号", "c_member_id": "被保険者ID", "c_rule": "内容",
        "c_summary": "概要", "c_suggested_person": "本人と思われる住民", "c_score": "確率", "c_due": "処理期限", "c_age": "経過日数",
        "c_status": "状態", "c_category": "区分", "c_new_this_week": "今週の新規", "c_found": "検出",
        "c_confirmed": "確定", "c_corrected": "修正反映", "c_false_positive": "誤検知", "c_wont_fix": "対応不要",
        "c_no_longer_detected": "検出されなくなった", "c_still_open": "未処理", "c_open": "未処理",
        "c_in_progress": "うち対応中", "c_overdue": "期限超過", "c_total": "計", "c_oldest_overdue_days": "最大超過日数",
        "c_due_next_7_days": "7日以内に期限", "c_week": "週", "c_new": "新規", "c_closed_by_steward": "担当者が解決",
        "c_backlog_end": "週末の未処理", "c_reason": "理由", "c_file": "ファイル", "c_count": "行数",
        "c_rows_read": "読込行数", "c_rows_valid": "有効行数", "c_rows_quarantined": "隔離行数", "c_success": "結果",
        "c_check": "検証項目", "c_column": "列", "c_unexpected_count": "不適合件数", "c_started_at": "実行日時",
        "c_scan_id": "スキャン", "c_period": "対象月", "c_as_of": "基準日", "c_findings": "指摘件数",
        "c_rule_id": "ルール", "c_severity": "重要度",
    },
    "en": {
        "title": "Weekly reconciliation report", "week": "Week", "insurer": "Insurer", "periods": "Feed months",
        "created": "Created", "version": "Version", "no_insurer": "(no insurer)",
        "h_todo": "This week", "todo_overdue": "{n} items are past their due date. Deal with them first.",
        "todo_overdue_none": "No item is past its due date.",
        "todo_no_due": "Work items carry no due dates, so nothing is judged overdue.",
        "todo_high": "{n} high-severity items are open.",
        "todo_new_mislinks": "{n} new suspected mis-links this week: check each against the person the member probably is.",
        "todo_none": "No new suspected mis-links this week.",
        "todo_drift": "{n} feed statistics moved abnormally (see Drift alerts).",
        "todo_quarantine": "{n} rows could not be read; ask the sender to fix them.",
        "h_overdue": "Past due", "h_high": "Open, high severity (not listed above)", "h_new_mislinks": "New suspected mis-links this week",
        "shown": "top {shown} of {total}", "shown_all": "all {total}",
        "h_ageing": "Backlog by age", "age_band": "{band} days", "no_backlog": "Nothing is open.",
        "h_sla": "Service-level breaches by queue", "h_trend": "Trend (last {n} weeks)",
        "trend_note": "Resolved = a steward's verdict (fixed, false positive, won't fix) plus items later scans no longer raised.",
        "no_events_trend": "No work-item history, so resolutions and backlog are not shown.",
        "h_by_period": "By feed month", "by_period_note": "Findings first raised by each month's feeds, by their status now (as the national export counts).",
        "c_period_cohort": "Feed month",
        "h_mislink": "Mis-links confirmed and corrected",
        "mislink_note": "Corrected = confirmed by a steward and no longer raised by a later scan.",
        "h_suspects": "Open suspected mis-links (by probability)", "no_suspects": "No open suspected mis-links.",
        "h_notation": "Notation clean-up", "h_notation_reasons": "By reason", "no_notation": "No notation differences.",
        "h_feed": "Feeds received, validation and quarantine", "validation_ok": "Validation: passed",
        "validation_ng": "Validation: failures", "validation_none": "No validation results.", "h_files": "Files read",
        "h_failed": "Failed checks", "h_quarantine": "Quarantined rows (by file and reason)",
        "no_quarantine": "No rows were quarantined.", "h_drift": "Drift alerts", "no_drift": "No feed statistic drifted.",
        "h_rules": "Counts by category and rule", "rules_note": "Counts by status when the report was made. 'New' = created this week.",
        "h_queues": "By work queue", "h_scans": "Scans this week and their outcome", "no_scans": "No scan ran in this week.",
        "validation_of": "The validation and quarantine below are those of the last feed accepted, \"{feed}\".",
        "todo_rejected": "Feeds not accepted this week: {n} (the reasons are under Scans this week). Ask the sender for a corrected feed.",
        "scans_note": "Times are each stage's measured duration; the scan consists of ingest and validation, rules and persist. Automatic = the drop-folder watcher; by hand = a command or an API upload.",
        "c_folder": "Feed (folder)", "c_source_label": "Came in", "c_outcome_label": "Outcome", "c_stages": "Time taken",
        "c_details": "Details",
        "h_skipped": "Rules not run, and why", "no_skipped": "Every rule ran.",
        "privacy": "Individual numbers are shown by their last four digits only.", "total": "Total",
        "definitions": "Definitions: confirmed = a steward marked it fixed; no longer detected = later scans stopped raising it (never counted as confirmed); open = open + in progress.",
        "chart_ageing": "Open items by age (per queue)", "chart_trend": "New, resolved and open per week",
        "chart_notation": "Notation differences by reason", "chart_count": "items",
        "trend_new": "new", "trend_closed": "resolved", "trend_backlog": "open at week end",
        "still_open": "open", "done": "done", "yes": "passed", "no": "failed", "unassigned": "(unassigned)",
        "kpi_backlog": "Open (incl. in progress)", "kpi_new": "New this week", "kpi_overdue": "Past due",
        "kpi_high": "Open, high severity", "kpi_closed": "Resolved by stewards", "kpi_gone": "No longer detected",
        "kpi_mislinks": "Suspected mis-links open", "kpi_quarantine": "Quarantined rows",
        "c_queue": "Queue", "c_insurer_number": "Insurer", "c_member_id": "Member", "c_rule": "Finding",
        "c_summary": "Summary", "c_suggested_person": "Probably this resident", "c_score": "Probability", "c_due": "Due",
        "c_age": "Age (days)", "c_status": "Status", "c_category": "Category", "c_new_this_week": "New",
        "c_found": "Found", "c_confirmed": "Confirmed", "c_corrected": "Corrected", "c_false_positive": "False positive",
        "c_wont_fix": "Won't fix", "c_no_longer_detected": "No longer detected", "c_still_open": "Open",
        "c_open": "Open", "c_in_progress": "in progress", "c_overdue": "Past due", "c_total": "Total",
        "c_oldest_overdue_days": "Most days past due", "c_due_next_7_days": "Due within 7 days", "c_week": "Week",
        "c_new": "New", "c_closed_by_steward": "Resolved by stewards", "c_backlog_end": "Open at week end",
        "c_reason": "Reason", "c_file": "File", "c_count": "Rows", "c_rows_read": "Read", "c_rows_valid": "Valid",
        "c_rows_quarantined": "Quarantined", "c_success": "Result", "c_check": "Check", "c_column": "Column",
        "c_unexpected_count": "Unexpected", "c_started_at": "Started", "c_scan_id": "Scan", "c_period": "Month",
        "c_as_of": "As of", "c_findings": "Findings", "c_rule_id": "Rule", "c_severity": "Severity",
    },
}

SEVERITY_LABELS = {"high": ("高", "high"), "medium": ("中", "medium"), "low": ("低", "low"), "info": ("参考", "info")}


def queue_label(report: WeeklyReport, queue: str, lang: str | None = None) -> str:
    lang = lang or report.lang
    if not queue:
        return TEXT[lang]["unassigned"]
    table = getattr(report, "_queue_labels", {}) if lang == report.lang else {}
    return table.get(queue, queue)


# Identifiers and short codes never break inside (02-0100290-02 stays one line).
_ID_COLUMNS = {"insurer_number", "member_id", "score", "due_at", "week", "scan_id", "started_at", "as_of", "period",
               "outcome_label", "source_label"}


@dataclass
class Table:
    """A table as the template draws it: headings, cell strings, a CSS class per column."""
    headings: list[str]
    rows: list[list[str]]
    classes: list[str]          # "n" number, "w" free text (wraps), "" other
    total: list[str] | None = None
    note: str = ""              # e.g. 上位20件（全52件中）


def _num(value: Any) -> str:
    if value is None or value is pd.NA or (isinstance(value, float) and value != value):
        return "–"
    try:
        return f"{int(value):,}"
    except (TypeError, ValueError):
        return str(value)


def _cell(value: Any) -> str:
    if value is None or value is pd.NA or value is pd.NaT or (isinstance(value, float) and value != value):
        return ""
    if isinstance(value, pd.Timestamp):
        return value.strftime("%Y-%m-%d %H:%M") if value != value.normalize() else value.strftime("%Y-%m-%d")
    return str(value)


def _table(frame: pd.DataFrame, columns: Sequence[str], lang: str, *, numeric: Iterable[str] = (),
           wrap: Iterable[str] = (), formatters: Mapping[str, Any] | None = None, total: bool = False,
           headings: Mapping[str, str] | None = None, note: str = "") -> Table:
    t = TEXT[lang]
    numeric, wrap, formatters = set(numeric), set(wrap), dict(formatters or {})
    rows = []
    for record in frame[list(columns)].to_dict("records") if len(frame) else []:
        rows.append([formatters[c](record[c]) if c in formatters else _num(record[c]) if c in numeric
                     else _cell(record[c]) for c in columns])
    total_row = None
    if total and len(frame):
        total_row = [t["total"] if i == 0 else (_num(pd.to_numeric(frame[c], errors="coerce").sum()) if c in numeric else "")
                     for i, c in enumerate(columns)]
    heads = [(headings or {}).get(c) or t.get(f"c_{c}", c) for c in columns]
    classes = ["n" if c in numeric else "w" if c in wrap else "id" if c in _ID_COLUMNS else "" for c in columns]
    return Table(heads, rows, classes, total_row, note)


def _shown(lang: str, shown: int, total: int) -> str:
    t = TEXT[lang]
    return t["shown"].format(shown=shown, total=total) if shown < total else t["shown_all"].format(total=total)


def _context(report: WeeklyReport) -> dict[str, Any]:
    lang, t = report.lang, TEXT[report.lang]
    f = report.figures
    rule = lambda r: labels.rule(r, lang)                       # noqa: E731
    category = lambda c: labels.category(c, lang)               # noqa: E731
    status = lambda s: labels.status(s, lang)                   # noqa: E731
    queue = lambda q: queue_label(report, q)                    # noqa: E731
    severity = lambda s: SEVERITY_LABELS.get(s, (s, s))[0 if lang == "ja" else 1]   # noqa: E731
    pct = lambda v: "" if v is None or v != v else f"{float(v) * 100:.0f}%"          # noqa: E731
    day = lambda v: _cell(v)[:10]                               # noqa: E731
    todo_cols = ["queue", "insurer_number", "member_id", "rule_id", "summary", "suggested_person", "score"]
    todo_fmt = {"queue": queue, "rule_id": rule, "score": pct, "due_at": day, "severity": severity}
    wrap = ["summary", "suggested_person", "rule_id", "reason", "check"]
    counts_cols = ["found", "confirmed", "corrected", "false_positive", "wont_fix", "no_longer_detected", "still_open"]
    bands = [label for _, _, label in counts.AGE_BANDS]
    tables: dict[str, Table] = {
        "overdue": _table(report.overdue, ["due_at", *todo_cols[:5]], lang, wrap=wrap, formatters=todo_fmt,
                          note=_shown(lang, len(report.overdue), f["overdue"] or 0)),
        "high": _table(report.high, todo_cols[:5], lang, wrap=wrap, formatters=todo_fmt,
                       note=_shown(lang, len(report.high), f["high_not_listed_above"])),
        "new_mislinks": _table(report.new_mislinks.head(report.top_n), todo_cols[1:], lang, wrap=wrap,
                               formatters=todo_fmt, numeric=[], note=_shown(lang, min(len(report.new_mislinks),
                                                                                         report.top_n),
                                                                            len(report.new_mislinks))),
        "ageing": _table(report.ageing, ["queue", *bands, "total"], lang, numeric=[*bands, "total"],
                         formatters={"queue": queue}, total=True,
                         headings={b: t["age_band"].format(band=b) for b in bands}),
        "sla": _table(report.sla, ["queue", "open", "overdue", "oldest_overdue_days", "due_next_7_days"], lang,
                      numeric=["open", "overdue", "oldest_overdue_days", "due_next_7_days"],
                      formatters={"queue": queue}, total=True) if len(report.sla) else None,
        "by_period": _table(report.by_period, ["period", *counts_cols], lang, numeric=counts_cols,
                            headings={"period": t["c_period_cohort"]}),
        "trend": _table(report.trend, ["week", "new", "closed_by_steward", "no_longer_detected", "backlog_end"], lang,
                        numeric=["new", "closed_by_steward", "no_longer_detected", "backlog_end"]),
        "mislink": _table(report.mislink, ["rule_id", *counts_cols], lang, numeric=counts_cols,
                          formatters={"rule_id": rule}, total=True, wrap=["rule_id"]),
        "suspects": _table(report.top_suspects, todo_cols[1:], lang, wrap=wrap, formatters=todo_fmt,
                           note=_shown(lang, len(report.top_suspects), f["suspects_total"])),
        "notation": _table(report.notation, ["new_this_week", *counts_cols], lang, numeric=["new_this_week", *counts_cols]),
        "notation_reasons": _table(report.notation_reasons, ["reason_label", *counts_cols], lang,
                                   numeric=counts_cols, headings={"reason_label": t["c_reason"]}, wrap=["reason_label"])
        if report.notation_reasons is not None else None,
        "rules": _table(report.by_rule, ["category", "rule_id", "new_this_week", *counts_cols], lang,
                        numeric=["new_this_week", *counts_cols], formatters={"category": category, "rule_id": rule},
                        total=True, wrap=["rule_id"]),
        "queues": _table(report.queue_status, ["queue", "open", "in_progress", "overdue", "new_this_week", "total"],
                         lang, numeric=["open", "in_progress", "overdue", "new_this_week", "total"],
                         formatters={"queue": queue, "overdue": lambda v: _num(v) if report.has_due_dates else "–"},
                         total=True),
        "drift": _table(report.drift, ["insurer_number", "summary"], lang, wrap=["summary"]),
        "files": _table(report.validation_files, ["file", "rows_read", "rows_valid", "rows_quarantined", "success"],
                        lang, numeric=["rows_read", "rows_valid", "rows_quarantined"],
                        formatters={"success": lambda v: "" if v is None else t["yes"] if v else t["no"]}),
        "failed": _table(report.validation_failed, ["file", "check", "column", "unexpected_count"], lang,
                         numeric=["unexpected_count"], wrap=["check"]),
        "quarantine": _table(report.quarantine, ["file", "reason", "count"], lang, numeric=["count"], wrap=["reason"],
                             total=True),
        "scans": _table(report.scan_log, ["started_at", "folder", "source_label", "outcome_label", "period",
                                          "findings", "stages", "details"], lang, numeric=["findings"],
                        wrap=["stages", "details", "folder"],
                        formatters={"started_at": lambda v: _cell(v)[:16],
                                    "findings": lambda v: "–" if v is None or v is pd.NA else _num(v)}),
        "skipped": _table(report.skipped_rules, ["rule_id", "reason"], lang, formatters={"rule_id": rule},
                          wrap=["reason"]),
    }
    if len(report.scan_log):
        for row, retry in zip(tables["scans"].rows, report.scan_log["retry"].fillna("")):
            if retry:
                row[-1] = f"{row[-1]} {retry}".strip()
    todo = []
    if report.has_due_dates:
        todo.append(("alert" if f["overdue"] else "ok",
                     t["todo_overdue"].format(n=f"{f['overdue']:,}") if f["overdue"] else t["todo_overdue_none"]))
    else:
        todo.append(("muted", t["todo_no_due"]))
    if f["high_backlog"]:
        todo.append(("alert", t["todo_high"].format(n=f"{f['high_backlog']:,}")))
    todo.append(("alert" if f["new_mislinks"] else "ok",
                 t["todo_new_mislinks"].format(n=f"{f['new_mislinks']:,}") if f["new_mislinks"] else t["todo_none"]))
    if f["drift_alerts"]:
        todo.append(("alert", t["todo_drift"].format(n=f"{f['drift_alerts']:,}")))
    if f.get("scans_rejected") or f.get("scans_failed"):
        todo.append(("alert", t["todo_rejected"].format(n=f"{(f['scans_rejected'] or 0) + (f['scans_failed'] or 0):,}")))
    if f["quarantined_rows"]:
        todo.append(("warn", t["todo_quarantine"].format(n=f"{f['quarantined_rows']:,}")))
    kpis = [("kpi_backlog", f["backlog"], False), ("kpi_new", f["new_this_week"], False),
            ("kpi_overdue", f["overdue"], bool(f["overdue"])), ("kpi_high", f["high_backlog"], bool(f["high_backlog"])),
            ("kpi_mislinks", f["mislink_backlog"], False)]
    if report.has_events:
        kpis += [("kpi_closed", f["closed_by_steward_this_week"], False),
                 ("kpi_gone", f["no_longer_detected_this_week"], False)]
    kpis.append(("kpi_quarantine", f["quarantined_rows"], False))
    chart_uris = {name: "data:image/png;base64," + base64.b64encode(png).decode("ascii")
                  for name, png in report.charts.items()}
    insurers = [f"{name}（{number}）" if name else f"{t['insurer']} {number}" for number, name in report.insurers]
    return {"r": report, "t": t, "lang": lang, "tables": tables, "charts": chart_uris, "todo": todo,
            "kpis": [(t[k], _num(v), alert) for k, v, alert in kpis],
            "insurers": "、".join(insurers) if lang == "ja" else ", ".join(insurers),
            "periods": "、".join(report.periods) if lang == "ja" else ", ".join(report.periods),
            "created": report.created_at.strftime("%Y-%m-%d %H:%M") + (" (JST)" if lang == "en" else "（日本時間）"),
            "week_start": report.week_start.isoformat(), "week_end": report.week_end.isoformat(),
            "trend_weeks": len(report.trend)}


def render_weekly_html(report: WeeklyReport) -> str:
    """The report as one self-contained HTML page (autoescaped; charts inline as base64)."""
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(_TEMPLATES), autoescape=True,
                             undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    return env.get_template("weekly.html").render(**_context(report))


def _identifiers(report: WeeklyReport) -> set[str]:
    """Member / resident ids the report shows in their own columns (exempt from the number guard)."""
    return identifier_values(report.top_suspects) | identifier_values(report.new_mislinks) \
        | identifier_values(report.high) | identifier_values(report.overdue)


def weekly_json(report: WeeklyReport) -> dict[str, Any]:
    """The same context as the page, as JSON-ready values (figures, to-do lines, every table as the
    page shows it, and ``scans``: the week's scans with their outcome and stage seconds as numbers).
    Checked for full individual numbers like the files."""
    context = _context(report)
    scans = json.loads(report.scan_log.to_json(orient="records", date_format="iso", force_ascii=False)) \
        if len(report.scan_log) else []
    out = {"week": report.week, "lang": report.lang, "week_start": context["week_start"],
           "week_end": context["week_end"], "created_at": report.created_at.isoformat(),
           "version": report.version, "insurers": [{"insurer_number": n, "name": m} for n, m in report.insurers],
           "periods": report.periods, "figures": report.figures,
           "todo": [text for _, text in context["todo"]], "scans": scans,
           "tables": {name: None if tb is None else asdict(tb) for name, tb in context["tables"].items()}}
    assert_no_individual_number(json.dumps(out, ensure_ascii=False), "weekly.json", _identifiers(report))
    return out


def _csv(frame: pd.DataFrame) -> bytes:
    """UTF-8 with BOM (Excel on Japanese Windows), formula-like text cells prefixed with '."""
    return neutralise_formulas(frame).to_csv(index=False).encode("utf-8-sig")


def weekly_files(report: WeeklyReport, *, html: bool = True) -> dict[str, bytes]:
    """The report's files by name (index.html, the CSVs, the chart PNGs), each checked for full
    individual numbers (:class:`reports.guard` raises before anything is returned). ``html=False``
    leaves the page out (a caller that only wants the tables)."""
    files: dict[str, bytes] = {
        **({"index.html": render_weekly_html(report).encode("utf-8")} if html else {}),
        "findings_by_rule.csv": _csv(report.by_rule),
        "queue_status.csv": _csv(report.queue_status),
        "backlog_ageing.csv": _csv(report.ageing),
        "trend.csv": _csv(report.trend),
        "scans.csv": _csv(report.scan_log),      # folder names come from the sender: never a formula
    }
    identifiers = _identifiers(report)
    for name, content in files.items():
        assert_no_individual_number(content.decode("utf-8-sig"), name, identifiers)
    files.update(report.charts)
    return files


def write_weekly(report: WeeklyReport, out_dir: str | Path) -> list[Path]:
    """Write index.html, the CSVs and the chart PNGs; return their paths (index.html first).

    Everything is rendered and checked for full individual numbers first; on a leak nothing is written.
    """
    out = Path(out_dir)
    files = weekly_files(report)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, content in files.items():
        path = out / name
        path.write_bytes(content)
        written.append(path)
    return written


def figures_json(report: WeeklyReport) -> str:
    return json.dumps(report.figures, ensure_ascii=False, sort_keys=True)
