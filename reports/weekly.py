"""Weekly report (週次点検レポート) for data stewards and their manager — frames in, files out.

``build_weekly`` turns frames into a :class:`WeeklyReport` (tables as DataFrames, charts as PNG
bytes); ``write_weekly`` renders it to a directory:

- ``index.html``            self-contained page (inline CSS, charts embedded as base64 PNG)
- ``findings_by_rule.csv``  counts per category and rule (UTF-8 with BOM so Excel reads it)
- ``queue_status.csv``      work-queue backlog per queue and status
- ``chart_*.png``           the charts shown in the page, as files

Inputs (every frame may hold more columns than listed; extra ones are ignored):

``findings``  one row per finding the work queues know, with the export columns of
    ``contract/findings.md``: ``finding_id, scan_id, insurer_number, member_id, rule_id, category,
    severity, score, summary, evidence, suggested_resident_id, suggested_individual_number_last4,
    queue, status, first_seen_scan, last_seen_scan``; ``summary`` already in the report language.
``work_items_events``  status changes of work items, or None: ``finding_id, status`` (the new
    status; ``to_status`` as in the store's audit trail is read too), ``changed_at`` (or ``at``);
    optionally ``rule_id, category, queue`` (used when the finding is no longer in ``findings``, as
    with findings auto-resolved because a scan stopped raising them). Gives "resolved this week"
    (a finding's last change in the week is a resolution); without it that figure is not shown.
``scans``  ``scan_id`` and ``started_at`` (when the scan ran) and/or ``as_of`` (基準日); optionally
    ``period`` (feed period, YYYY-MM), ``finished_at``, ``status``, ``path``, ``findings``, and
    ``summary`` (the store's scan summary dict, whose ``skipped_rules`` is read). ``list_scans()``
    rows fit as they are. A scan belongs to the week its ``started_at`` (else ``as_of``) falls in,
    in Japan time (aware timestamps are converted; naive ones are UTC, as the store returns them).
    Findings first seen by a scan after the week are left out.
``quarantine_counts``  ``file, reason, count`` (or the raw quarantined rows ``file, line, column,
    value, reason``, which are counted), or None.
``validation``  feed validation summary, or None: ``{"success": bool, "checks": [{"file", "check",
    "column", "success", "unexpected_count", "message"}, ...], "messages": [str, ...],
    "skipped_rules": [(rule_id, reason), ...]}``. The feed loader's per-file shape (what the store
    keeps in ``feeds.validation``) is read too: ``{"members": {"file", "format", "encoding",
    "rows_read", "rows_valid", "rows_quarantined", "gx": {"success", "expectations": [{"expectation",
    "column", "success", "unexpected_count", "exception"}, ...]}}, ...}``.
Notation reason codes are read from the evidence key ``reasons`` (as the NOTATION_DIFFERENCE detector
    writes it) or ``reason_codes``, at the top level or inside a compared field.
``skipped_rules`` (keyword)  ``[(rule_id, reason), ...]`` or dicts; default: the validation dict's,
    else the latest scan of the week's ``summary["skipped_rules"]``.

A full individual number never reaches the output: last-4 columns are cut to four digits and
every file is checked by :func:`reports.guard.assert_no_individual_number` before anything is
written.
"""
from __future__ import annotations

import base64
import json
import re
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import jinja2
import pandas as pd

from reports import charts, labels
from reports.guard import assert_no_individual_number, identifier_values, last4
from reports.timeutil import local_times

# Rules whose findings are "this member is probably someone else" — the suspects list.
SUSPECT_RULES = ("MISLINK_SUSPECTED", "NUMBER_SHARED")
NOTATION_RULE = "NOTATION_DIFFERENCE"
# Evidence keys holding notation reason codes: the detector writes ``reasons`` (VARIANT_KANJI, …).
REASON_KEYS = ("reasons", "reason_codes", "reason_code")
TOP_SUSPECTS = 20

BY_RULE_COLUMNS = [
    "category", "rule_id", "rule_label", "new_this_week", "open", "in_progress", "backlog",
    "resolved_fixed", "resolved_false_positive", "resolved_wont_fix", "total", "resolved_this_week",
]
QUEUE_COLUMNS = [
    "queue", "open", "in_progress", "backlog", "resolved_fixed", "resolved_false_positive",
    "resolved_wont_fix", "total", "new_this_week", "resolved_this_week",
]
SUSPECT_COLUMNS = [
    "score", "rule_id", "insurer_number", "member_id", "summary", "suggested_resident_id",
    "suggested_last4", "status", "first_seen_scan",
]
CHECK_COLUMNS = ["file", "check", "column", "success", "unexpected_count", "message"]
FILE_COLUMNS = ["file", "format", "encoding", "rows_read", "rows_valid", "rows_quarantined", "success"]

_WEEK_RE = re.compile(r"^(\d{4})-W(\d{2})$")
_TEMPLATES = Path(__file__).parent / "templates"


@dataclass
class WeeklyReport:
    """Everything the weekly page shows; frames are plain data, charts are PNG bytes."""
    week: str
    lang: str
    week_start: date
    week_end: date                     # Sunday, inclusive
    scans: pd.DataFrame                # the week's scans
    by_rule: pd.DataFrame              # BY_RULE_COLUMNS
    by_category: pd.DataFrame          # BY_RULE_COLUMNS without rule_id / rule_label
    queue_status: pd.DataFrame         # QUEUE_COLUMNS
    resolved_this_week: pd.DataFrame | None   # category × resolved status; None without events
    top_suspects: pd.DataFrame         # SUSPECT_COLUMNS, score descending
    notation_reasons: pd.DataFrame | None     # reason_code, reason_label, findings, backlog; None if no codes
    validation_success: bool | None
    validation_checks: pd.DataFrame    # CHECK_COLUMNS, every check (the page lists the failed ones)
    validation_files: pd.DataFrame     # FILE_COLUMNS, one row per feed file read
    validation_messages: list[str]
    quarantine: pd.DataFrame           # file, reason, count
    skipped_rules: pd.DataFrame        # rule_id, reason
    totals: dict[str, Any]
    charts: dict[str, bytes] = field(default_factory=dict)   # file name -> PNG
    chart_font: str | None = None      # Japanese font used in charts; None = ASCII labels


# ---------------------------------------------------------------- week and time helpers

def week_bounds(week: str) -> tuple[date, date]:
    """Monday and Sunday of an ISO week ``YYYY-Www`` (ISO 8601 週番号)."""
    match = _WEEK_RE.match(week or "")
    if not match:
        raise ValueError(f"week must look like 2026-W47, not {week!r}")
    try:
        monday = date.fromisocalendar(int(match.group(1)), int(match.group(2)), 1)
    except ValueError as exc:
        raise ValueError(f"no such ISO week: {week!r}") from exc
    return monday, monday + timedelta(days=6)


def _text(frame: pd.DataFrame, column: str) -> pd.Series:
    if column in frame.columns:
        return frame[column].astype("string")
    return pd.Series(pd.NA, index=frame.index, dtype="string")


# ---------------------------------------------------------------- input normalisation

def _scans_of_week(scans: pd.DataFrame, monday: date) -> tuple[pd.DataFrame, set[str], set[str]]:
    """The week's scans (sorted), their ids, and ids of scans after the week."""
    frame = scans.copy() if scans is not None else pd.DataFrame(columns=["scan_id"])
    frame["scan_id"] = _text(frame, "scan_id")
    started = local_times(frame["started_at"]) if "started_at" in frame.columns else None
    as_of = local_times(frame["as_of"]) if "as_of" in frame.columns else None
    if started is None and as_of is None:
        raise ValueError("scans needs a started_at or an as_of column")
    when = started if as_of is None else as_of if started is None else started.fillna(as_of)
    start, end = pd.Timestamp(monday), pd.Timestamp(monday + timedelta(days=7))
    in_week = (when >= start) & (when < end)
    after = when >= end
    week = frame.loc[in_week].assign(_when=when[in_week]).sort_values(["_when", "scan_id"])
    for column in ("started_at", "finished_at"):      # shown in Japan time, like the week itself
        if column in week.columns:
            week[column] = local_times(week[column])
    keep = [c for c in ("scan_id", "started_at", "finished_at", "as_of", "period", "status", "path", "source",
                        "members", "findings", "summary") if c in week.columns]
    return (week[keep].reset_index(drop=True), set(week["scan_id"].dropna()),
            set(frame.loc[after, "scan_id"].dropna()))


def _findings(findings: pd.DataFrame, future_scans: set[str], week_scans: set[str]) -> pd.DataFrame:
    needed = {"rule_id", "category", "status"}
    missing = needed - set(findings.columns)
    if missing:
        raise ValueError(f"findings lacks column(s) {sorted(missing)}")
    frame = pd.DataFrame({
        column: _text(findings, column) for column in (
            "finding_id", "insurer_number", "member_id", "rule_id", "category", "severity", "summary",
            "evidence", "suggested_resident_id", "queue", "status", "first_seen_scan", "last_seen_scan")
    })
    frame["score"] = pd.to_numeric(findings["score"], errors="coerce") if "score" in findings.columns else pd.NA
    frame["suggested_last4"] = last4(_text(findings, "suggested_individual_number_last4"))
    frame["queue"] = frame["queue"].fillna("")
    frame = frame.loc[~frame["first_seen_scan"].isin(future_scans)].reset_index(drop=True)
    frame["is_new"] = frame["first_seen_scan"].isin(week_scans)
    frame["is_open"] = frame["status"].isin(labels.OPEN_STATUSES)
    return frame


def _resolved_events(events: pd.DataFrame | None, findings: pd.DataFrame, monday: date) -> pd.DataFrame | None:
    """Findings whose last status change in the week is a resolution: finding_id, status, rule_id, category, queue."""
    if events is None:
        return None
    # The store's audit trail names them to_status / at; both spellings are read.
    events = events.rename(columns={k: v for k, v in (("to_status", "status"), ("at", "changed_at"))
                                    if k in events.columns and v not in events.columns})
    for column in ("finding_id", "status", "changed_at"):
        if column not in events.columns:
            raise ValueError(f"work_items_events lacks column {column!r}")
    frame = pd.DataFrame({"finding_id": _text(events, "finding_id"), "status": _text(events, "status"),
                          "changed_at": local_times(events["changed_at"])})
    start, end = pd.Timestamp(monday), pd.Timestamp(monday + timedelta(days=7))
    frame = frame.loc[(frame["changed_at"] >= start) & (frame["changed_at"] < end)]
    # A finding resolved and reopened in the same week is not resolved: its last change counts.
    last = frame.sort_values("changed_at", kind="stable").drop_duplicates("finding_id", keep="last")
    last = last.loc[last["status"].isin(labels.RESOLVED_STATUSES)]
    own = events.loc[last.index]
    known = findings.drop_duplicates("finding_id").set_index("finding_id")
    out = last[["finding_id", "status"]].reset_index(drop=True)
    for column in ("rule_id", "category", "queue"):
        from_event = _text(own, column).reset_index(drop=True)
        from_finding = out["finding_id"].map(known[column]).astype("string")
        out[column] = from_event.fillna(from_finding).fillna("" if column == "queue" else "unknown")
    return out


def _quarantine(quarantine_counts: pd.DataFrame | None) -> pd.DataFrame:
    columns = ["file", "reason", "count"]
    if quarantine_counts is None or len(quarantine_counts) == 0:
        return pd.DataFrame({"file": pd.Series(dtype="string"), "reason": pd.Series(dtype="string"),
                             "count": pd.Series(dtype="int64")})
    frame = quarantine_counts.copy()
    if "count" not in frame.columns and "rows" in frame.columns:
        frame = frame.rename(columns={"rows": "count"})
    frame["file"], frame["reason"] = _text(frame, "file").fillna(""), _text(frame, "reason").fillna("")
    if "count" not in frame.columns:       # raw quarantined rows: count them
        frame["count"] = 1
    frame["count"] = pd.to_numeric(frame["count"], errors="coerce").fillna(0).astype("int64")
    out = frame.groupby(["file", "reason"], as_index=False, sort=False)["count"].sum()
    return out.sort_values(["file", "count", "reason"], ascending=[True, False, True]).reset_index(drop=True)[columns]


def _check_column(item: Mapping[str, Any]) -> Any:
    columns = item.get("column") or item.get("column_list") or item.get("column_set")
    return ", ".join(map(str, columns)) if isinstance(columns, (list, tuple)) else columns


def _validation(validation: Mapping[str, Any] | None
                ) -> tuple[bool | None, pd.DataFrame, pd.DataFrame, list[str]]:
    """(overall success, checks, per-file intake, messages) from either accepted shape."""
    if not validation:
        return None, pd.DataFrame(columns=CHECK_COLUMNS), pd.DataFrame(columns=FILE_COLUMNS), []
    rows: list[dict[str, Any]] = [dict(c) for c in validation.get("checks") or []]
    files: list[dict[str, Any]] = []
    # The feed loader's shape: {kind: {"file", "rows_read", …, "gx": {"success", "expectations"}}}.
    per_file = {kind: part for kind, part in validation.items()
                if isinstance(part, Mapping) and isinstance(part.get("gx"), Mapping)}
    for kind, part in per_file.items():
        name, gx = part.get("file") or kind, part["gx"]
        files.append({**{c: part.get(c) for c in FILE_COLUMNS}, "file": name, "success": gx.get("success")})
        rows += [{"file": name, "check": item.get("expectation"), "column": _check_column(item),
                  "success": item.get("success"), "unexpected_count": item.get("unexpected_count"),
                  "message": item.get("exception")} for item in gx.get("expectations") or []]
    checks = pd.DataFrame(rows, columns=CHECK_COLUMNS) if rows else pd.DataFrame(columns=CHECK_COLUMNS)
    success = validation.get("success")
    if success is None and rows:
        success = all(bool(r.get("success")) for r in rows) and all(bool(f["success"]) for f in files)
    messages = [str(m) for m in validation.get("messages") or []]
    return (None if success is None else bool(success)), checks, pd.DataFrame(files, columns=FILE_COLUMNS), messages


def _skipped(skipped: Any) -> pd.DataFrame:
    if skipped is None:
        return pd.DataFrame({"rule_id": pd.Series(dtype="string"), "reason": pd.Series(dtype="string")})
    if isinstance(skipped, pd.DataFrame):
        frame = skipped.rename(columns={0: "rule_id", 1: "reason"})
    else:
        rows = [dict(s) if isinstance(s, Mapping) else {"rule_id": s[0], "reason": s[1]} for s in skipped]
        frame = pd.DataFrame(rows, columns=["rule_id", "reason"])
    return frame[["rule_id", "reason"]].astype("string").sort_values("rule_id").reset_index(drop=True)


def _reason_codes(evidence: Any) -> list[str]:
    """Reason codes anywhere in one evidence JSON object (top level or per compared field)."""
    if not isinstance(evidence, str) or not evidence:
        return []
    try:
        parsed = json.loads(evidence)
    except ValueError:
        return []
    found: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, Mapping):
            for key, value in node.items():
                if key in REASON_KEYS:
                    values = value if isinstance(value, (list, tuple)) else [value]
                    found.extend(str(v) for v in values if v not in (None, ""))
                else:
                    walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(parsed)
    return list(dict.fromkeys(found))    # one count per finding and code


def _notation_reasons(findings: pd.DataFrame, reason_labels: Mapping[str, str] | None) -> pd.DataFrame | None:
    notation = findings.loc[findings["rule_id"] == NOTATION_RULE, ["evidence", "is_open"]]
    if notation.empty:
        return None
    # Parsing is per row but only over notation findings (a small share of a feed), not the feed.
    codes = notation.assign(reason_code=[_reason_codes(e) for e in notation["evidence"]]).explode("reason_code")
    codes = codes.dropna(subset=["reason_code"])
    if codes.empty:
        return None
    out = (codes.groupby("reason_code").agg(findings=("reason_code", "size"), backlog=("is_open", "sum"))
           .reset_index().sort_values(["findings", "reason_code"], ascending=[False, True]))
    out["backlog"] = out["backlog"].astype("int64")
    out.insert(1, "reason_label", [(reason_labels or {}).get(c, c) for c in out["reason_code"]])
    return out.reset_index(drop=True)


# ---------------------------------------------------------------- aggregation

def _status_counts(frame: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Per key: new_this_week, one column per status, backlog, total."""
    grouped = frame.groupby(keys, dropna=False, sort=False)
    out = pd.DataFrame({"new_this_week": grouped["is_new"].sum(), "total": grouped.size()})
    by_status = pd.crosstab([frame[k] for k in keys], frame["status"]) if len(frame) else None
    for status in labels.STATUS_ORDER:
        if by_status is not None and status in by_status.columns:
            out[status] = by_status[status].reindex(out.index).fillna(0)
        else:
            out[status] = 0
    out["backlog"] = out["open"] + out["in_progress"]
    return out.astype("int64")


def _with_resolved(counts: pd.DataFrame, resolved: pd.DataFrame | None, keys: list[str]) -> pd.DataFrame:
    if resolved is None:
        counts["resolved_this_week"] = pd.array([pd.NA] * len(counts), dtype="Int64")
        return counts
    week = resolved.groupby(keys, sort=False).size().rename("resolved_this_week")
    counts = counts.join(week, how="outer").fillna(0)
    return counts.astype("int64").astype({"resolved_this_week": "Int64"})


def _category_rank(values: pd.Series) -> pd.Series:
    order = {c: i for i, c in enumerate(labels.CATEGORY_ORDER)}
    return values.map(lambda c: order.get(c, len(order)))


def _by_rule(findings: pd.DataFrame, resolved: pd.DataFrame | None, lang: str) -> pd.DataFrame:
    keys = ["category", "rule_id"]
    counts = _with_resolved(_status_counts(findings, keys), resolved, keys).reset_index()
    rule_rank = {r: i for i, r in enumerate(labels.RULES)}
    counts = counts.assign(_c=_category_rank(counts["category"]),
                           _r=counts["rule_id"].map(lambda r: rule_rank.get(r, len(rule_rank))))
    counts = counts.sort_values(["_c", "category", "_r", "rule_id"]).reset_index(drop=True)
    counts["rule_label"] = [labels.rule(r, lang) for r in counts["rule_id"]]
    return counts[BY_RULE_COLUMNS]


def _by_category(by_rule: pd.DataFrame) -> pd.DataFrame:
    numeric = [c for c in BY_RULE_COLUMNS if c not in ("category", "rule_id", "rule_label")]
    out = by_rule.groupby("category", sort=False)[numeric].sum(min_count=1).reset_index()
    if by_rule["resolved_this_week"].isna().all():
        out["resolved_this_week"] = pd.array([pd.NA] * len(out), dtype="Int64")
    return out


def _queue_status(findings: pd.DataFrame, resolved: pd.DataFrame | None) -> pd.DataFrame:
    counts = _with_resolved(_status_counts(findings, ["queue"]), resolved, ["queue"]).reset_index()
    counts = counts.sort_values(["backlog", "queue"], ascending=[False, True]).reset_index(drop=True)
    return counts[QUEUE_COLUMNS]


def _resolved_table(resolved: pd.DataFrame | None) -> pd.DataFrame | None:
    if resolved is None:
        return None
    table = pd.crosstab(resolved["category"], resolved["status"]) if len(resolved) else pd.DataFrame()
    table = table.reindex(columns=list(labels.RESOLVED_STATUSES), fill_value=0)
    table["total"] = table.sum(axis=1)
    table = table.reset_index().rename(columns={"index": "category"})
    if "category" not in table.columns:
        table.insert(0, "category", pd.Series(dtype="string"))
    table = table.assign(_c=_category_rank(table["category"])).sort_values(["_c", "category"])
    return table.drop(columns="_c").reset_index(drop=True)


def _top_suspects(findings: pd.DataFrame, top_n: int) -> pd.DataFrame:
    suspects = findings.loc[findings["rule_id"].isin(SUSPECT_RULES) & findings["is_open"]]
    # Ties (many scores are 1.0) go to MISLINK_SUSPECTED first: it names the resident to check.
    suspects = suspects.assign(_rule=suspects["rule_id"].map({r: i for i, r in enumerate(SUSPECT_RULES)}))
    suspects = suspects.sort_values(["score", "_rule", "insurer_number", "member_id"],
                                    ascending=[False, True, True, True], na_position="last", kind="stable")
    return suspects.head(top_n)[SUSPECT_COLUMNS].reset_index(drop=True)


# ---------------------------------------------------------------- charts

def _chart_label(text: str, fallback: str, font: str | None) -> str:
    return text if (font or charts.is_ascii(text)) else fallback


def _charts(report: WeeklyReport, findings: pd.DataFrame, font: str | None) -> dict[str, bytes]:
    lang = report.lang if font else "en"      # without a Japanese font, chart text is ASCII
    t = TEXT[lang]
    out: dict[str, bytes] = {}
    backlog = report.by_rule.loc[report.by_rule["backlog"] > 0]
    if len(backlog):
        new_open = (findings.loc[findings["is_new"] & findings["is_open"]]
                    .groupby("rule_id").size().reindex(backlog["rule_id"]).fillna(0).astype(int).tolist())
        carried = [b - n for b, n in zip(backlog["backlog"].tolist(), new_open)]
        out["chart_findings_by_rule.png"] = charts.stacked_barh(
            backlog["rule_id"].tolist(),
            [(t["chart_new"], new_open, charts.PALETTE["new"]),
             (t["chart_carried"], carried, charts.PALETTE["carried"])],
            charts.ChartText(t["chart_by_rule"], t["chart_count"], font))
    queues = report.queue_status.loc[report.queue_status["backlog"] > 0]
    if len(queues):
        names = [_chart_label(q or t["no_queue"], f"Q{i + 1}", font)
                 for i, q in zip(queues.index, queues["queue"])]
        out["chart_queue_backlog.png"] = charts.stacked_barh(
            names,
            [(labels.status("open", lang), queues["open"].tolist(), charts.PALETTE["open"]),
             (labels.status("in_progress", lang), queues["in_progress"].tolist(), charts.PALETTE["in_progress"])],
            charts.ChartText(t["chart_queue"], t["chart_count"], font))
    if report.notation_reasons is not None:
        reasons = report.notation_reasons
        names = [_chart_label(label if font else code, f"R{i + 1}", font)
                 for i, code, label in zip(reasons.index, reasons["reason_code"], reasons["reason_label"])]
        out["chart_notation_reasons.png"] = charts.barh(
            names, reasons["findings"].tolist(), charts.ChartText(t["chart_notation"], t["chart_count"], font))
    return out


# ---------------------------------------------------------------- public API

def build_weekly(findings: pd.DataFrame, work_items_events: pd.DataFrame | None, scans: pd.DataFrame,
                 quarantine_counts: pd.DataFrame | None, validation: Mapping[str, Any] | None, *,
                 week: str, lang: str = "ja", skipped_rules: Any = None, top_n: int = TOP_SUSPECTS,
                 reason_labels: Mapping[str, str] | None = None, chart_font: str | None | bool = True,
                 with_charts: bool = True) -> WeeklyReport:
    """Build the weekly report for ISO ``week`` (``YYYY-Www``) — 週次点検レポートを組み立てる.

    ``skipped_rules``: ``[(rule_id, reason), ...]`` as the engine's ``RuleRun.skipped``; default
    ``validation["skipped_rules"]``. ``reason_labels``: notation reason code → label in the report
    language (the detectors' ``REASON_LABELS_JA``; codes are shown as they are without it).
    ``chart_font``: True finds an installed Japanese font, False
    forces ASCII chart labels, a string names the family to use. ``with_charts=False`` skips the
    charts (about half a second each), e.g. for a JSON view of the same figures.
    """
    lang = labels.check_lang(lang)
    monday, sunday = week_bounds(week)
    week_scans, week_ids, future_ids = _scans_of_week(scans, monday)
    frame = _findings(findings, future_ids, week_ids)
    resolved = _resolved_events(work_items_events, frame, monday)
    by_rule = _by_rule(frame, resolved, lang)
    success, checks, files, messages = _validation(validation)
    quarantine = _quarantine(quarantine_counts)
    if skipped_rules is None and validation:
        skipped_rules = validation.get("skipped_rules")
    if skipped_rules is None and "summary" in week_scans.columns and len(week_scans):
        latest = week_scans["summary"].iloc[-1]      # the store keeps each scan's skips in its summary
        skipped_rules = latest.get("skipped_rules") if isinstance(latest, Mapping) else None
    week_scans = week_scans.drop(columns="summary", errors="ignore")
    totals = {
        "scans": len(week_scans),
        "new_this_week": int(frame["is_new"].sum()),
        "backlog": int(frame["is_open"].sum()),
        "high_backlog": int((frame["is_open"] & (frame["severity"] == "high")).sum()),
        "mislink_backlog": int((frame["is_open"] & (frame["category"] == "mislink")).sum()),
        "resolved_this_week": None if resolved is None else len(resolved),
        "quarantined_rows": int(quarantine["count"].sum()),
    }
    report = WeeklyReport(
        week=week, lang=lang, week_start=monday, week_end=sunday, scans=week_scans,
        by_rule=by_rule, by_category=_by_category(by_rule), queue_status=_queue_status(frame, resolved),
        resolved_this_week=_resolved_table(resolved), top_suspects=_top_suspects(frame, top_n),
        notation_reasons=_notation_reasons(frame, reason_labels), validation_success=success,
        validation_checks=checks, validation_files=files, validation_messages=messages, quarantine=quarantine,
        skipped_rules=_skipped(skipped_rules), totals=totals,
    )
    font = charts.japanese_font() if chart_font is True else (chart_font or None)
    report.chart_font = font
    report.charts = _charts(report, frame, font) if with_charts else {}
    return report


def render_weekly_html(report: WeeklyReport) -> str:
    """The report as one self-contained HTML page (autoescaped; charts inline as base64)."""
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(_TEMPLATES), autoescape=True,
                             undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters["num"] = _num
    return env.get_template("weekly.html").render(**_context(report))


def write_weekly(report: WeeklyReport, out_dir: str | Path) -> list[Path]:
    """Write index.html, findings_by_rule.csv, queue_status.csv and the chart PNGs; return their paths.

    Everything is rendered and checked for full individual numbers first; on a leak nothing is written.
    """
    out = Path(out_dir)
    files: dict[str, bytes] = {
        "index.html": render_weekly_html(report).encode("utf-8"),
        "findings_by_rule.csv": report.by_rule.to_csv(index=False).encode("utf-8-sig"),
        "queue_status.csv": report.queue_status.to_csv(index=False).encode("utf-8-sig"),
    }
    identifiers = identifier_values(report.top_suspects)
    for name, content in files.items():
        assert_no_individual_number(content.decode("utf-8-sig"), name, identifiers)
    files.update(report.charts)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, content in files.items():
        path = out / name
        path.write_bytes(content)
        written.append(path)
    return written


# ---------------------------------------------------------------- page text and context

TEXT: dict[str, dict[str, str]] = {
    "ja": {
        "title": "週次点検レポート", "period": "対象週", "generated_for": "対象",
        "kpi_scans": "今週のスキャン", "kpi_new": "今週の新規検出", "kpi_backlog": "未処理（未対応＋対応中）",
        "kpi_high": "うち重要度「高」", "kpi_mislink": "うち紐付け誤り関連", "kpi_resolved": "今週の解決",
        "kpi_quarantine": "隔離行数",
        "h_scans": "今週のスキャン", "no_scans": "この週に実行されたスキャンはありません。",
        "h_category": "区分別の件数", "h_rule": "ルール別の件数",
        "h_resolved": "今週の解決（区分・結果別）", "no_events": "作業履歴が渡されていないため、今週の解決件数は表示していません。",
        "none_resolved": "今週解決した指摘はありません。",
        "h_queue": "作業キューの滞留状況", "h_suspects": "紐付け誤りの疑い（スコア上位）",
        "no_suspects": "未処理の紐付け誤りの疑いはありません。",
        "h_notation": "表記ゆれの理由別内訳", "no_notation": "表記ゆれの検出結果に理由コードが含まれていないため、内訳は表示していません。",
        "h_validation": "フィード検証結果", "validation_ok": "検証：合格", "validation_ng": "検証：不合格あり",
        "validation_none": "検証結果は渡されていません。", "h_checks": "不合格の検証項目", "h_messages": "メッセージ",
        "h_files": "ファイル別の取込結果", "checks_passed": "検証項目 {passed} / {total} 件合格",
        "h_quarantine": "隔離された行（ファイル・理由別）", "no_quarantine": "隔離された行はありません。",
        "h_skipped": "実行しなかったルールと理由", "no_skipped": "すべてのルールを実行しました。",
        "privacy": "個人番号は下4桁のみ表示しています。", "total": "合計",
        "chart_by_rule": "未処理件数（ルール別）", "chart_queue": "作業キュー別の未処理件数",
        "chart_notation": "表記ゆれの理由別件数", "chart_count": "件数",
        "chart_new": "今週の新規", "chart_carried": "前週以前から", "no_queue": "（未割当）",
        "notes_counts": "件数は現在の状態による累計。「今週の新規」は今週のスキャンで初めて検出されたもの。",
        "yes": "合格", "no": "不合格",
        # column headings
        "c_scan_id": "スキャンID", "c_started_at": "実行日時", "c_finished_at": "終了日時", "c_as_of": "基準日",
        "c_period": "フィード対象月", "c_path": "フィード", "c_source": "提供元", "c_members": "被保険者数", "c_findings": "検出件数",
        "c_category": "区分", "c_rule_id": "ルールID", "c_rule_label": "内容", "c_new_this_week": "今週新規",
        "c_backlog": "未処理計", "c_total": "総数", "c_resolved_this_week": "今週解決",
        "c_queue": "キュー", "c_no": "#", "c_score": "スコア", "c_insurer_number": "保険者番号",
        "c_member_id": "被保険者ID", "c_summary": "概要", "c_suggested_resident_id": "本来の住民（候補）",
        "c_suggested_last4": "候補の番号下4桁", "c_status": "状態", "c_first_seen_scan": "初回検出スキャン",
        "c_reason_code": "理由コード", "c_reason_label": "理由", "c_file": "ファイル", "c_check": "検証項目",
        "c_column": "列", "c_success": "結果", "c_unexpected_count": "不適合件数", "c_message": "メッセージ",
        "c_reason": "理由", "c_count": "行数", "c_format": "形式", "c_encoding": "文字コード",
        "c_rows_read": "読込行数", "c_rows_valid": "有効行数", "c_rows_quarantined": "隔離行数", "c_count_findings": "件数",
    },
    "en": {
        "title": "Weekly reconciliation report", "period": "Week", "generated_for": "For",
        "kpi_scans": "Scans this week", "kpi_new": "New this week", "kpi_backlog": "Backlog (open + in progress)",
        "kpi_high": "of which high severity", "kpi_mislink": "of which mis-link", "kpi_resolved": "Resolved this week",
        "kpi_quarantine": "Quarantined rows",
        "h_scans": "Scans this week", "no_scans": "No scan ran in this week.",
        "h_category": "Findings by category", "h_rule": "Findings by rule",
        "h_resolved": "Resolved this week (by category and outcome)",
        "no_events": "No work-item history was given, so resolutions this week are not shown.",
        "none_resolved": "Nothing was resolved this week.",
        "h_queue": "Work-queue backlog", "h_suspects": "Top mis-link suspects (by score)",
        "no_suspects": "No open mis-link suspects.",
        "h_notation": "Notation differences by reason",
        "no_notation": "Notation findings carry no reason codes, so no breakdown is shown.",
        "h_validation": "Feed validation", "validation_ok": "Validation: passed", "validation_ng": "Validation: failures",
        "validation_none": "No validation results were given.", "h_checks": "Failed checks", "h_messages": "Messages",
        "h_files": "Files read", "checks_passed": "{passed} of {total} checks passed",
        "h_quarantine": "Quarantined rows (by file and reason)", "no_quarantine": "No rows were quarantined.",
        "h_skipped": "Rules not run, and why", "no_skipped": "Every rule ran.",
        "privacy": "Individual numbers are shown by their last four digits only.", "total": "Total",
        "chart_by_rule": "Open findings by rule", "chart_queue": "Backlog by work queue",
        "chart_notation": "Notation differences by reason", "chart_count": "findings",
        "chart_new": "New this week", "chart_carried": "Carried over", "no_queue": "(unassigned)",
        "notes_counts": "Counts are by current status. 'New this week' were first found by this week's scans.",
        "yes": "passed", "no": "failed",
        "c_scan_id": "Scan", "c_started_at": "Started", "c_finished_at": "Finished", "c_as_of": "As of",
        "c_period": "Feed period", "c_path": "Feed", "c_source": "Source", "c_members": "Members", "c_findings": "Findings",
        "c_category": "Category", "c_rule_id": "Rule", "c_rule_label": "Meaning", "c_new_this_week": "New",
        "c_backlog": "Backlog", "c_total": "Total", "c_resolved_this_week": "Resolved this week",
        "c_queue": "Queue", "c_no": "#", "c_score": "Score", "c_insurer_number": "Insurer",
        "c_member_id": "Member", "c_summary": "Summary", "c_suggested_resident_id": "Suggested resident",
        "c_suggested_last4": "Suggested number (last 4)", "c_status": "Status", "c_first_seen_scan": "First seen",
        "c_reason_code": "Reason code", "c_reason_label": "Reason", "c_file": "File", "c_check": "Check",
        "c_column": "Column", "c_success": "Result", "c_unexpected_count": "Unexpected", "c_message": "Message",
        "c_reason": "Reason", "c_count": "Rows", "c_format": "Format", "c_encoding": "Encoding",
        "c_rows_read": "Rows read", "c_rows_valid": "Valid", "c_rows_quarantined": "Quarantined", "c_count_findings": "Findings",
    },
}


# Free-text columns may wrap; every other cell stays on one line.
_WRAP_COLUMNS = {"summary", "rule_label", "reason", "message", "path", "reason_label", "check"}


@dataclass
class Table:
    """A table as the template draws it: headings, cell strings, a CSS class per column."""
    headings: list[str]
    rows: list[list[str]]
    classes: list[str]          # "n" number (right-aligned), "w" free text (wraps), "" other
    total: list[str] | None = None


def _num(value: Any) -> str:
    if value is None or value is pd.NA or (isinstance(value, float) and value != value):
        return "–"
    if isinstance(value, float) and not value.is_integer():
        return f"{value:.3f}"
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


def _table(frame: pd.DataFrame, columns: Sequence[str], lang: str, *,
           numeric: Iterable[str] = (), formatters: Mapping[str, Any] | None = None,
           total: bool = False, heading_keys: Mapping[str, str] | None = None) -> Table:
    t = TEXT[lang]
    numeric = set(numeric)
    formatters = dict(formatters or {})
    heading_keys = dict(heading_keys or {})
    rows = []
    for record in frame[list(columns)].to_dict("records"):
        row = []
        for column in columns:
            value = record[column]
            if column in formatters:
                row.append(formatters[column](value))
            elif column in numeric:
                row.append(_num(value))
            else:
                row.append(_cell(value))
        rows.append(row)
    total_row = None
    if total:
        total_row = [t["total"] if i == 0 else (_num(frame[c].sum(min_count=1)) if c in numeric else "")
                     for i, c in enumerate(columns)]
    headings = [t[heading_keys[c]] if c in heading_keys
                else labels.status(c, lang) if c in labels.STATUSES else t[f"c_{c}"] for c in columns]
    classes = ["n" if c in numeric else "w" if c in _WRAP_COLUMNS else "" for c in columns]
    return Table(headings, rows, classes, total_row)


def _context(report: WeeklyReport) -> dict[str, Any]:
    lang, t = report.lang, TEXT[report.lang]
    has_events = report.totals["resolved_this_week"] is not None
    counts = ["new_this_week", *labels.STATUS_ORDER, "backlog", "total"]
    counts += ["resolved_this_week"] if has_events else []
    category = {"category": lambda c: labels.category(c, lang)}
    when = {c: (lambda v: _cell(pd.to_datetime(v, errors="coerce")) or _cell(v))
            for c in ("started_at", "finished_at", "as_of")}
    verdict = {"success": lambda v: "" if v is None or v is pd.NA else (t["yes"] if bool(v) else t["no"])}
    checks = report.validation_checks
    failed = checks.loc[checks["success"].map(lambda v: v is not None and v is not pd.NA and not bool(v))]
    checks_passed = t["checks_passed"].format(passed=len(checks) - len(failed), total=len(checks))
    cat_cols = ["category", *counts]
    rule_cols = ["rule_id", "rule_label", "category", *counts]
    queue_frame = report.queue_status.assign(no=range(1, len(report.queue_status) + 1),
                                             queue=report.queue_status["queue"].replace("", t["no_queue"]))
    queue_cols = ["no", "queue", *[c for c in QUEUE_COLUMNS
                                   if c != "queue" and (c != "resolved_this_week" or has_events)]]
    tables: dict[str, Table | None] = {
        "scans": _table(report.scans, list(report.scans.columns), lang, formatters=when,
                        numeric=[c for c in ("members", "findings") if c in report.scans.columns]),
        "category": _table(report.by_category, cat_cols, lang, numeric=counts, formatters=category, total=True),
        "rule": _table(report.by_rule, rule_cols, lang, numeric=counts, formatters=category, total=True),
        "queue": _table(queue_frame, queue_cols, lang, numeric=queue_cols[2:]),
        "suspects": _table(report.top_suspects, SUSPECT_COLUMNS, lang, numeric=["score"],
                           formatters={"status": lambda s: labels.status(s, lang),
                                       "score": lambda v: "–" if pd.isna(v) else f"{float(v):.2f}"}),
        "quarantine": _table(report.quarantine, ["file", "reason", "count"], lang, numeric=["count"], total=True),
        "checks": _table(failed, CHECK_COLUMNS, lang, numeric=["unexpected_count"], formatters=verdict),
        "files": _table(report.validation_files, FILE_COLUMNS, lang, formatters=verdict,
                        numeric=["rows_read", "rows_valid", "rows_quarantined"]),
        "skipped": _table(report.skipped_rules, ["rule_id", "reason"], lang),
        "resolved": None,
        "notation": None,
    }
    if report.resolved_this_week is not None:
        resolved_cols = ["category", *labels.RESOLVED_STATUSES, "total"]
        tables["resolved"] = _table(report.resolved_this_week, resolved_cols, lang, numeric=resolved_cols[1:],
                                    formatters=category, total=True)
    if report.notation_reasons is not None:
        tables["notation"] = _table(report.notation_reasons, ["reason_code", "reason_label", "findings", "backlog"],
                                    lang, numeric=["findings", "backlog"],
                                    heading_keys={"findings": "c_count_findings", "backlog": "c_backlog"})
    chart_uris = {name: "data:image/png;base64," + base64.b64encode(png).decode("ascii")
                  for name, png in report.charts.items()}
    return {"r": report, "t": t, "lang": lang, "tables": tables, "charts": chart_uris, "checks_passed": checks_passed,
            "week_start": report.week_start.isoformat(), "week_end": report.week_end.isoformat()}
