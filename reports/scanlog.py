"""The week's scans as a steward's manager reads them (今週のスキャンと結果) — frames in, a frame out.

One row per scan of the week (``list_scans`` rows: ``scan_id, started_at, status, path, period,
findings, summary``) plus one row per re-delivered folder the drop-folder watcher recognised as
already scanned (``summary["schedule"]["redeliveries"]`` of the scan that covered it). For scans the
watcher ran, ``summary["schedule"]`` holds the outcome (``done``, ``rejected``, ``failed``), the
feed folder, the stage timings and, for refusals, the reason (see :mod:`reconcile.schedule`); a scan
run by hand (``reconcile scan``, an API upload) has only the scan's own stage timings
(``summary["seconds"]``).

Outcome and stage words are data here, in both languages, so the page and the CSV say the same.
Seconds are the stages' wall-clock times as measured by the process that ran them.
"""
from __future__ import annotations

from pathlib import PurePath
from typing import Any, Mapping

import pandas as pd

from reports.timeutil import local_times

#: outcome code → (Japanese, English). ``rejected``/``failed`` are scans with status ``rejected``.
OUTCOMES: dict[str, tuple[str, str]] = {
    "done": ("完了", "done"),
    "rejected": ("受付不可", "rejected"),
    "failed": ("中止（内部エラー）", "failed (internal error)"),
    "duplicate": ("再送（点検済み）", "re-sent (already scanned)"),
    "running": ("実行中", "running"),
}
#: how the feed came in → (Japanese, English): the drop-folder watcher, or a person (command, API upload)
SOURCES: dict[str, tuple[str, str]] = {
    "watch": ("自動", "automatic"),
    "manual": ("手動", "by hand"),
}
#: stage key → (Japanese, English), in the order they run. ``scan`` contains the ``scan:*`` stages.
STAGES: tuple[tuple[str, str, str], ...] = (
    ("fingerprint", "重複確認", "duplicate check"),
    ("scan", "スキャン", "scan"),
    ("scan:ingest_and_validation", "取込・検証", "ingest and validation"),
    ("scan:rules", "ルール", "rules"),
    ("scan:persist", "保存", "persist"),
    ("report", "レポート更新", "report"),
    ("move", "移動", "move"),
)
#: CSV column of each stage's seconds
STAGE_COLUMNS = {key: "seconds_" + key.replace("scan:", "") for key, _, _ in STAGES}

COLUMNS = ["scan_id", "started_at", "source", "source_label", "folder", "outcome", "outcome_label", "period",
           "findings", "stages", *STAGE_COLUMNS.values(), "seconds_total", "details", "retry"]


def _lang_index(lang: str) -> int:
    return 0 if lang == "ja" else 1


def seconds_text(value: float, lang: str = "ja") -> str:
    """2.34 → 「2.3秒」 / "2.3 s"; a minute or more → 「1分05秒」 / "1 min 05 s"."""
    value = float(value)
    if value >= 60:
        minutes, rest = divmod(int(round(value)), 60)
        return f"{minutes}分{rest:02d}秒" if lang == "ja" else f"{minutes} min {rest:02d} s"
    return f"{value:.1f}秒" if lang == "ja" else f"{value:.1f} s"


def stages_text(stages: Mapping[str, Any] | None, lang: str = "ja") -> str:
    """「重複確認 0.3秒、スキャン 12.1秒（取込・検証 7.8秒、ルール 3.8秒、保存 0.4秒）、移動 0.0秒」."""
    if not stages:
        return ""
    i = _lang_index(lang)
    words = {key: (ja, en)[i] for key, ja, en in STAGES}
    sep, open_, close = ("、", "（", "）") if lang == "ja" else (", ", " (", ")")

    def part(key: str) -> str:
        return f"{words[key]} {seconds_text(stages[key], lang)}"

    inner = [part(k) for k, _, _ in STAGES if k.startswith("scan:") and k in stages]
    parts = []
    for key, _, _ in STAGES:
        if key.startswith("scan:") or key not in stages:
            continue
        parts.append(part(key) + (f"{open_}{sep.join(inner)}{close}" if key == "scan" and inner else ""))
    if "scan" not in stages and inner:       # a scan run by hand: only its own stages
        parts = inner + parts
    return sep.join(parts)


def _when(value: Any) -> str:
    moment = local_times(pd.Series([value])).iloc[0]
    return "" if pd.isna(moment) else moment.strftime("%Y-%m-%d %H:%M")


def retry_text(retry_of: Mapping[str, Any] | None, lang: str = "ja") -> str:
    """Why this attempt is a retry, in plain words (empty when it is not one)."""
    if not retry_of:
        return ""
    since = _when(retry_of.get("failed_at") or retry_of.get("since")) if (
        retry_of.get("failed_at") or retry_of.get("since")) else ""
    attempts = retry_of.get("attempts")
    reason = retry_of.get("reason")
    if lang == "ja":
        when = f"（{since}）" if since else ""
        text = (f"前回の試行{when}が失敗したため、やり直しました: {reason}" if reason else
                f"前回の処理{when}が途中で止まったため（プロセス停止）、やり直しました。")
        return text + (f" {int(attempts) + 1} 回目の試行です。" if attempts else "")
    when = f" ({since} JST)" if since else ""
    text = (f"Retried: the previous attempt{when} failed: {reason}" if reason else
            f"Retried: the previous attempt{when} stopped before finishing (its process was gone).")
    return text + (f" Attempt {int(attempts) + 1}." if attempts else "")


def _done_details(summary: Mapping[str, Any], lang: str) -> str:
    queues = summary.get("queues") if isinstance(summary.get("queues"), Mapping) else None
    if not queues:
        return ""
    new, carried, gone = (int(queues.get(k) or 0) for k in ("new", "carried", "closed_not_seen"))
    if lang == "ja":
        return f"新規 {new:,} 件、前回から継続 {carried:,} 件、検出されなくなった {gone:,} 件。"
    return f"{new:,} new, {carried:,} carried over, {gone:,} no longer detected."


def _reason(schedule: Mapping[str, Any], summary: Mapping[str, Any], lang: str) -> str:
    """The plain-words reason a feed was refused or failed (without the outcome it prefixes)."""
    reason = schedule.get("reason") if isinstance(schedule.get("reason"), Mapping) else None
    if reason and reason.get(lang):
        return str(reason[lang])
    for messages in (schedule.get("messages"), summary.get("rejected")):
        if isinstance(messages, Mapping) and messages.get(lang):
            return str(messages[lang])
    return ""


def _folder(scan: Mapping[str, Any], schedule: Mapping[str, Any], summary: Mapping[str, Any]) -> str:
    name = schedule.get("folder") or summary.get("feed_name")
    if not name and scan.get("path"):
        name = PurePath(str(scan["path"])).name
    return str(name or "")


def _number(value: Any) -> float | None:
    try:
        return None if value is None else float(value)
    except (TypeError, ValueError):
        return None


def _row(scan: Mapping[str, Any], lang: str) -> dict[str, Any]:
    i = _lang_index(lang)
    summary = scan.get("summary") if isinstance(scan.get("summary"), Mapping) else {}
    schedule = summary.get("schedule") if isinstance(summary.get("schedule"), Mapping) else {}
    status = str(scan.get("status") or "done")      # frames without a status: scans that ran
    if schedule:
        source = "watch"
        outcome = str(schedule.get("outcome") or status)
        stages = {k: v for k, v in (schedule.get("stages") or {}).items() if _number(v) is not None}
    else:
        source = "manual"
        outcome = status
        seconds = summary.get("seconds") if isinstance(summary.get("seconds"), Mapping) else {}
        stages = {f"scan:{k}": v for k, v in seconds.items() if ":" not in k and _number(v) is not None}
    if status == "rejected" and outcome == "done":      # a record written before the refusal was known
        outcome = "rejected"
    refused = status == "rejected" or outcome in ("rejected", "failed")
    details = _reason(schedule, summary, lang) if refused else _done_details(summary, lang)
    row: dict[str, Any] = {
        "scan_id": scan.get("scan_id"), "started_at": scan.get("started_at"), "source": source,
        "source_label": SOURCES[source][i], "folder": _folder(scan, schedule, summary), "outcome": outcome,
        "outcome_label": OUTCOMES.get(outcome, (outcome, outcome))[i], "period": scan.get("period"),
        "findings": None if refused else scan.get("findings"), "stages": stages_text(stages, lang),
        "details": details, "retry": retry_text(schedule.get("retry_of"), lang),
    }
    for key, column in STAGE_COLUMNS.items():
        row[column] = _number(stages.get(key))
    top = [k for k in stages if not k.startswith("scan:")] or list(stages)
    row["seconds_total"] = round(sum(float(stages[k]) for k in top), 3) if stages else None
    return row


def _redeliveries(scans: pd.DataFrame, start: pd.Timestamp, end: pd.Timestamp, lang: str) -> list[dict[str, Any]]:
    i = _lang_index(lang)
    rows = []
    for scan in scans.to_dict("records") if "summary" in scans.columns else []:
        summary = scan.get("summary") if isinstance(scan.get("summary"), Mapping) else {}
        schedule = summary.get("schedule") if isinstance(summary.get("schedule"), Mapping) else {}
        for again in schedule.get("redeliveries") or []:
            at = local_times(pd.Series([again.get("at")])).iloc[0]
            if pd.isna(at) or not (start <= at < end):
                continue
            earlier = scan.get("scan_id")
            rows.append({
                "scan_id": earlier, "started_at": at, "source": "watch", "source_label": SOURCES["watch"][i],
                "folder": str(again.get("folder") or ""), "outcome": "duplicate",
                "outcome_label": OUTCOMES["duplicate"][i], "period": scan.get("period"), "findings": None,
                "stages": "", **{c: None for c in STAGE_COLUMNS.values()}, "seconds_total": None,
                "details": (f"同じ内容をスキャン {earlier} で点検済みのため、再スキャンせずに done/ へ移しました。"
                            if lang == "ja" else
                            f"The same content was scanned as scan {earlier}; moved to done/ without a second scan."),
                "retry": retry_text(again.get("retry_of"), lang),
            })
    return rows


def scan_log(week_scans: pd.DataFrame, all_scans: pd.DataFrame | None, start: pd.Timestamp, end: pd.Timestamp,
             lang: str = "ja") -> pd.DataFrame:
    """The week's scans and re-deliveries, oldest first (:data:`COLUMNS`; ``started_at`` in Japan time).

    ``week_scans``: the scans that ran in the week (``started_at`` already Japan time); ``all_scans``:
    every scan, searched for re-deliveries that happened in ``[start, end)`` (Japan time).
    """
    rows = [_row(scan, lang) for scan in week_scans.to_dict("records")] if len(week_scans) else []
    if all_scans is not None and len(all_scans):
        rows += _redeliveries(all_scans, start, end, lang)
    frame = pd.DataFrame(rows, columns=COLUMNS)
    # Both kinds of row already hold naive Japan time (week_scans comes from the report's own filter).
    frame["started_at"] = pd.to_datetime(frame["started_at"]) if len(frame) else pd.Series(dtype="datetime64[us]")
    frame["findings"] = pd.to_numeric(frame["findings"], errors="coerce").astype("Int64")
    for column in [*STAGE_COLUMNS.values(), "seconds_total"]:
        frame[column] = pd.to_numeric(frame[column], errors="coerce").astype("Float64")
    order = frame.assign(_dup=(frame["outcome"] == "duplicate").astype(int))
    return (order.sort_values(["started_at", "_dup", "scan_id"], kind="stable").drop(columns="_dup")
            .reset_index(drop=True))


def outcome_counts(log: pd.DataFrame) -> dict[str, int]:
    """How many of the week's scans were done, rejected, failed; how many folders were re-sent."""
    outcome = log["outcome"] if len(log) else pd.Series(dtype="string")
    return {"scans_done": int((outcome == "done").sum()), "scans_rejected": int((outcome == "rejected").sum()),
            "scans_failed": int((outcome == "failed").sum()), "feeds_resent": int((outcome == "duplicate").sum())}
