"""CSV出力 / CSV writers for every ``reconcile export …`` file, and the national export's use-case.

Column order is the contract's (``/work/shared/contract/findings.md``). Encodings: UTF-8 with BOM
(``utf-8-sig``, what Excel on Japanese Windows reads; the command-line default), UTF-8 without BOM,
and CP932 for older Windows tools — CP932 replaces what it cannot hold (look-alike, dropped variation
selector, or 〓) and the writer returns every such character with its count and CSV lines
(:class:`Written`), which the command prints on stderr: never silently.

Excel: a text cell beginning with ``=``, ``+``, ``-``, ``@``, tab or CR is prefixed with ``'`` so a
spreadsheet shows it instead of running it (numbers are left alone); ``export labels``, read back by
``train``, passes ``neutralise=False``.

Privacy guard: before a byte is written the rendered text is checked with
:func:`reports.guard.find_individual_numbers` (the one 12-digit guard of every output, with
its exceptions for member / resident ids); a 12-digit run raises :class:`PrivacyLeak` instead
of writing. Identifier columns (``finding_id``, scan ids, ``insurer_number``,
``member_id``, ``suggested_resident_id``) are not checked: a 24-hex ``finding_id`` holds twelve
decimal digits in a row about once in a few hundred ids, and member / resident ids are the
insurer's and municipality's own codes, not individual numbers.
"""
from __future__ import annotations

import codecs
import io
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Iterable

import numpy as np
import pandas as pd

from reports.guard import find_individual_numbers, identifier_values
# Text cells a spreadsheet would run as a formula (CSV injection) are prefixed with ' — one rule,
# in reports.spreadsheet, which the weekly report's CSVs use too (re-exported here).
from reports.spreadsheet import FORMULA_START, neutralise_formulas  # noqa: F401

FINDINGS_EXPORT_COLUMNS = [
    "finding_id", "scan_id", "insurer_number", "member_id", "rule_id", "category", "severity", "score",
    "summary", "evidence", "suggested_resident_id", "suggested_individual_number_last4", "queue",
    "status", "first_seen_scan", "last_seen_scan",
]
QUARANTINE_EXPORT_COLUMNS = ["file", "line", "column", "value", "reason"]
ENCODINGS = ("utf-8", "utf-8-sig", "cp932")
#: What every CSV meant for people is written in unless told otherwise: Excel on Japanese
#: Windows reads UTF-8 only with a BOM.
DEFAULT_ENCODING = "utf-8-sig"

_UNCHECKED = frozenset({"finding_id", "scan_id", "first_seen_scan", "last_seen_scan", "insurer_number",
                        "member_id", "suggested_resident_id", "line"})

# CP932 output: characters CP932 cannot hold do not fail the export. The usual Unicode/CP932
# look-alikes are mapped to the CP932 character Windows users expect (〜 → ～, − → －, …);
# anything else (𠮷, 髙 is fine, 﨑 is fine, most emoji and rare variants are not) becomes the
# geta mark 〓, the conventional "character could not be represented" sign in Japanese systems.
GETA = "〓"
_CP932_LOOKALIKES = {
    "\u301c": "\uff5e",  # 〜 WAVE DASH → ～
    "\u2016": "\u2225",  # ‖ → ∥
    "\u2212": "\uff0d",  # − MINUS SIGN → －
    "\u00a2": "\uffe0", "\u00a3": "\uffe1", "\u00ac": "\uffe2",
    "\u2014": "\u2015",  # — EM DASH → ―
}


_VARIATION_SELECTOR_RE = re.compile("[\ufe00-\ufe0f\U000e0100-\U000e01ef]")


def cp932_replacement(ch: str) -> str:
    """What a character CP932 cannot hold is written as: its look-alike, nothing for a
    variation selector (the base character stays), else the geta mark 〓."""
    if _VARIATION_SELECTOR_RE.fullmatch(ch):
        return ""
    return _CP932_LOOKALIKES.get(ch, GETA)


def _geta_errors(error: UnicodeError) -> tuple[str, int]:
    if not isinstance(error, UnicodeEncodeError):
        raise error
    bad = error.object[error.start:error.end]
    return "".join(cp932_replacement(ch) for ch in bad), error.end


codecs.register_error("reconcile.geta", _geta_errors)


@dataclass(frozen=True)
class Replaced:
    """One character CP932 could not hold: how often, on which CSV lines (header = line 1)."""
    char: str
    replacement: str
    count: int
    lines: tuple[int, ...]

    def describe(self, lang: str = "ja") -> str:
        code = " ".join(f"U+{ord(c):04X}" for c in self.char)
        selector = bool(_VARIATION_SELECTOR_RE.fullmatch(self.char))
        lines = ", ".join(map(str, self.lines[:20])) + (" …" if len(self.lines) > 20 else "")
        if lang == "en":
            into = f"written as {self.replacement!r}" if self.replacement else "dropped"
            shown = "variation selector" if selector else self.char
            return f"{shown} ({code}) x{self.count}, {into}; lines {lines}"
        into = f"「{self.replacement}」に置換" if self.replacement else "削除（直前の字は残す）"
        shown = "異体字セレクタ" if selector else f"「{self.char}」"
        return f"{shown}（{code}）{self.count} 件を{into}。行: {lines}"


class Written(int):
    """The number of data rows written; ``replaced`` lists what CP932 could not hold."""
    replaced: tuple[Replaced, ...]

    def __new__(cls, rows: int, replaced: Iterable[Replaced] = ()) -> "Written":
        obj = super().__new__(cls, rows)
        obj.replaced = tuple(replaced)
        return obj


def unencodable(frame: pd.DataFrame, encoding: str = "cp932") -> list[Replaced]:
    """Every character of ``frame``'s cells (and headers) that ``encoding`` cannot hold."""
    seen: set[str] = set()
    text_columns = [c for c in frame.columns if not pd.api.types.is_numeric_dtype(frame[c].dtype)]
    cells = {c: frame[c].astype("string").fillna("") for c in text_columns}
    for values in cells.values():
        for value in values.unique():
            seen.update(value)
    for column in frame.columns:
        seen.update(str(column))
    bad = []
    for ch in sorted(seen):
        try:
            ch.encode(encoding)
        except UnicodeEncodeError:
            bad.append(ch)
    out = []
    for ch in bad:
        count, lines = 0, set()
        for values in cells.values():
            hits = values.str.count(re.escape(ch))
            count += int(hits.sum())
            lines.update((np.flatnonzero(hits.to_numpy() > 0) + 2).tolist())   # line 1 is the header
        header_hits = sum(str(c).count(ch) for c in frame.columns)
        if header_hits:
            count += header_hits
            lines.add(1)
        out.append(Replaced(ch, cp932_replacement(ch), count, tuple(sorted(lines))))
    return out


class PrivacyLeak(ValueError):
    """An export would contain a full 12-digit individual number / 個人番号の全桁が出力されようとした."""


def _check_no_full_numbers(frame: pd.DataFrame, columns: Iterable[str]) -> None:
    identifiers = identifier_values(frame)
    for column in columns:
        if column in _UNCHECKED or pd.api.types.is_numeric_dtype(frame[column].dtype):
            continue   # numbers the product computed (a score's 0.999999999999997 is no 個人番号)
        values = frame[column].dropna().astype(str)
        if len(values) and find_individual_numbers("\n".join(values), identifiers):
            offending = values[values.map(lambda v: bool(find_individual_numbers(v, identifiers)))]
            where = frame.loc[offending.index[0], "finding_id"] if "finding_id" in frame.columns \
                else f"row {offending.index[0]}"
            raise PrivacyLeak(f"refusing to export: column {column!r} ({where}) holds a 12-digit number; "
                              f"individual numbers may only appear as their last four digits / "
                              f"個人番号の全桁は出力できません")


def _encode(text: str, encoding: str) -> bytes:
    if encoding not in ENCODINGS:
        raise ValueError(f"encoding {encoding!r}; expected one of {', '.join(ENCODINGS)}")
    if encoding == "cp932":
        return text.encode("cp932", errors="reconcile.geta")
    return text.encode(encoding)


def _write(data: bytes, out: str | os.PathLike | IO, encoding: str) -> None:
    if isinstance(out, (str, os.PathLike)):
        Path(out).write_bytes(data)
    elif isinstance(out, io.TextIOBase) and hasattr(out, "buffer"):   # sys.stdout and friends
        out.flush()
        out.buffer.write(data)
        out.buffer.flush()
    elif isinstance(out, io.TextIOBase):                                # StringIO: already-decoded text
        out.write(data.decode("cp932" if encoding == "cp932" else "utf-8-sig"))
    else:
        out.write(data)


def _render(frame: pd.DataFrame, columns: list[str], what: str, formulas: bool) -> tuple[pd.DataFrame, str]:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"{what} frame lacks column(s): {', '.join(missing)}")
    ordered = frame[columns]
    _check_no_full_numbers(ordered, columns)
    if formulas:
        ordered = neutralise_formulas(ordered)
    return ordered, ordered.to_csv(index=False, lineterminator="\n")


def write_frame_csv(frame: pd.DataFrame, out: str | os.PathLike | IO, *, encoding: str = "utf-8",
                    what: str = "export", columns: list[str] | None = None,
                    neutralise: bool = True) -> Written:
    """Write any export frame as CSV (all columns, or ``columns`` in that order); returns rows.

    Same encodings and the same full-number guard as the findings export; ``what`` names the
    export in error messages. Cells a spreadsheet would take for a formula are prefixed with
    ``'`` unless ``neutralise=False`` (files read back by the product, such as ``export labels``).
    The result is the row count; with ``cp932`` its ``replaced`` lists every character that had
    to be replaced (count and CSV lines), for the caller to report — never silently.
    """
    ordered, text = _render(frame, list(frame.columns) if columns is None else list(columns), what, neutralise)
    replaced = unencodable(ordered) if encoding == "cp932" else []
    _write(_encode(text, encoding), out, encoding)
    return Written(len(ordered), replaced)


def write_findings_csv(frame: pd.DataFrame, out: str | os.PathLike | IO,
                       encoding: str = "utf-8") -> Written:
    """Write the findings export (columns exactly :data:`FINDINGS_EXPORT_COLUMNS`); returns rows.

    ``evidence`` is written as the JSON text the store keeps. With ``cp932`` characters outside
    CP932 become 〓 (see above) instead of failing, and are listed in the result's ``replaced``.
    Raises :class:`PrivacyLeak` (nothing written) when a checked column holds a 12-digit number.
    """
    return write_frame_csv(frame, out, encoding=encoding, what="findings", columns=FINDINGS_EXPORT_COLUMNS)


def write_quarantine_csv(frame: pd.DataFrame, out: str | os.PathLike | IO,
                         encoding: str = "utf-8") -> Written:
    """Write the quarantine export (file, line, column, value, reason); returns rows."""
    return write_frame_csv(frame, out, encoding=encoding, what="quarantine", columns=QUARANTINE_EXPORT_COLUMNS)


# ---------------------------------------------------------------- national export (use-case)

@dataclass
class NationalExport:
    """What ``export national`` wrote: paths (None = standard output) and row counts."""
    path: Path | None
    rows: Written
    totals_path: Path | None = None
    corrections_path: Path | None = None
    corrections: int = 0

    @property
    def replaced(self) -> tuple[Replaced, ...]:
        return self.rows.replaced


def _allowed(insurer_numbers) -> set[str] | None:
    """The insurer scope as a set of strings (None = every insurer)."""
    return None if insurer_numbers is None else {str(i) for i in insurer_numbers}


def _of_insurers(frame: pd.DataFrame, allowed: set[str] | None) -> pd.DataFrame:
    if allowed is None or "insurer_number" not in frame.columns:
        return frame
    return frame.loc[frame["insurer_number"].astype("string").isin(allowed).fillna(False)].reset_index(drop=True)


def scans_in_scope(session, scans: list[dict], allowed: set[str] | None) -> list[dict]:
    """The scans a user of ``allowed`` insurers may see (one of its insurers was in the feed), as
    ``GET /api/v1/scans`` decides it (:func:`reconcile.workflow._scan_insurers`). A feed shared with
    other insurers keeps only what is no other insurer's: its finding count is recounted for the
    scope; the feed-wide counts (queue counts, the outcome message of a done scan) are dropped.
    Each scan gains ``insurer_numbers`` (those in scope) and ``shared`` (others were in the feed).
    """
    import sqlalchemy as sa

    from reconcile import store
    from reconcile.workflow import _scan_insurers

    covered = _scan_insurers(session, [int(s["scan_id"]) for s in scans])
    if allowed is None:
        return [{**s, "insurer_numbers": sorted(covered[int(s["scan_id"])]), "shared": False} for s in scans]
    visible = [s for s in scans if covered[int(s["scan_id"])] & allowed]
    shared = {int(s["scan_id"]) for s in visible if covered[int(s["scan_id"])] - allowed}
    F, SF = store.Finding.__table__, store.ScanFinding.__table__
    recount = dict(session.execute(
        sa.select(SF.c.scan_id, sa.func.count()).join(F, F.c.finding_id == SF.c.finding_id)
        .where(SF.c.scan_id.in_(sorted(shared)), F.c.insurer_number.in_(sorted(allowed)))
        .group_by(SF.c.scan_id)).all()) if shared else {}
    out = []
    for scan in visible:
        scan_id = int(scan["scan_id"])
        scan = {**scan, "insurer_numbers": sorted(covered[scan_id] & allowed), "shared": scan_id in shared}
        if scan["shared"]:
            summary = scan.get("summary") if isinstance(scan.get("summary"), dict) else {}
            kept = {k: v for k, v in summary.items()
                    if k in ("as_of", "period", "seconds", "skipped_rules", "rejected", "feed", "feed_name")}
            if isinstance(summary.get("schedule"), dict):
                schedule = dict(summary["schedule"])
                if schedule.get("outcome") == "done":
                    schedule.pop("messages", None)       # "検出 74 件" counts every insurer of the feed
                kept["schedule"] = schedule
            scan["summary"] = kept
            scan["findings"] = int(recount.get(scan_id, 0))
        out.append(scan)
    return out


def national_frames(session, *, period: str, created_on, lang: str = "ja", insurer_numbers=None
                    ) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(data rows, totals, corrections) of the national export for ``period``, from the store.

    Everything is counted by :mod:`reports.counts` through :mod:`reports.national`; this only
    gathers the store's frames (work items, scans with their feed's period, feed statistics and
    the findings of the period's scans). ``insurer_numbers`` limits every frame to those insurers
    (an insurer-scoped user of the API); None = every insurer in the store.
    """
    import sqlalchemy as sa

    from reconcile import store
    from reports import counts, national

    allowed = _allowed(insurer_numbers)
    scans = pd.DataFrame(scans_in_scope(session, store.list_scans(session), allowed))
    if scans.empty:
        scans = pd.DataFrame(columns=["scan_id", "period", "as_of", "status"])
    items = _of_insurers(store.work_items_frame(session), allowed)
    feed_stats = store.load_feed_history(session, insurer_numbers=None if allowed is None else sorted(allowed))
    scan_ids = [int(s) for s in counts.period_scans(scans, period) if s.isdigit()]
    F, SF = store.Finding.__table__, store.ScanFinding.__table__
    where = [SF.c.scan_id.in_(scan_ids), F.c.rule_id.in_(list(counts.UNLINKED_RULES))]
    if allowed is not None:
        where.append(F.c.insurer_number.in_(sorted(allowed)))
    rows = session.execute(
        sa.select(SF.c.scan_id, F.c.insurer_number, F.c.member_id, F.c.rule_id)
        .join(F, F.c.finding_id == SF.c.finding_id)
        .where(*where)).all() if scan_ids else []
    scan_findings = pd.DataFrame(rows, columns=["scan_id", "insurer_number", "member_id", "rule_id"])
    frame = national.build_national(items, scans, feed_stats, scan_findings, period=period,
                                    created_on=created_on, lang=lang)
    totals = national.build_national_totals(frame, lang=lang)
    corrections = national.build_corrections(items, scans, feed_stats, period=period, lang=lang)
    return frame, totals, corrections


def export_national(out, *, period: str, totals: str | os.PathLike | None = None,
                    corrections: str | os.PathLike | None = None, encoding: str = DEFAULT_ENCODING,
                    lang: str = "ja", settings=None, now: pd.Timestamp | None = None,
                    insurer_numbers=None) -> NationalExport:
    """全国報告用の集計 / write the national export of ``period`` (and its totals / corrections files).

    Read-only: a missing or outdated database is an error, never created here. ``now`` (default the
    current time) dates the export (作成日, Japan time). ``insurer_numbers``: only those insurers'
    rows (None = every insurer).
    """
    import sys

    from reconcile import store
    from reconcile.config import get_settings
    from reports import national

    settings = settings or get_settings()
    moment = pd.Timestamp.now(tz="Asia/Tokyo") if now is None else pd.Timestamp(now)
    if moment.tzinfo is not None:
        moment = moment.tz_convert("Asia/Tokyo")
    from reconcile.service import open_store

    engine = open_store(settings)
    with store.session_scope(engine) as session:
        frame, total_frame, correction_frame = national_frames(session, period=period, created_on=moment.date(),
                                                               lang=lang, insurer_numbers=insurer_numbers)
    target = out if out is not None else sys.stdout
    written = write_frame_csv(national.headed(frame, lang), target, encoding=encoding, what="national")
    result = NationalExport(Path(out) if out is not None else None, written)
    replaced = list(written.replaced)
    if totals is not None:
        extra = write_frame_csv(national.headed(total_frame, lang), totals, encoding=encoding, what="national totals")
        result.totals_path = Path(totals)
        replaced += extra.replaced
    if corrections is not None:
        extra = write_frame_csv(national.headed(correction_frame, lang), corrections, encoding=encoding,
                                what="national corrections")
        result.corrections_path, result.corrections = Path(corrections), int(extra)
        replaced += extra.replaced
    result.rows = Written(int(written), replaced)
    return result


# ---------------------------------------------------------------- weekly report (use-case)

def _read_store(settings):
    """The store for a read-only command (never created or upgraded where the service supports it)."""
    import inspect

    from reconcile.service import open_store

    if "write" in inspect.signature(open_store).parameters:
        return open_store(settings, write=False)
    return open_store(settings)


def _work_items(session) -> pd.DataFrame:
    """The store's work items with their findings, plus ``due_at`` / ``priority`` when the schema has them."""
    import sqlalchemy as sa

    from reconcile import store

    items = store.work_items_frame(session)
    W = store.WorkItem.__table__
    extra = [c for c in ("due_at", "priority") if c in W.c and c not in items.columns]
    if extra and len(items):
        rows = session.execute(sa.select(W.c.finding_id, *(W.c[c] for c in extra))).all()
        more = pd.DataFrame(rows, columns=["finding_id", *extra])
        items = items.merge(more, on="finding_id", how="left")
    elif extra:
        for column in extra:
            items[column] = pd.Series(dtype="object")
    return items


def insurer_names(session, scans: list[dict]) -> dict[str, str]:
    """Insurer names the feeds' manifests give (``insurer_name`` with ``insurer_number``, or an
    ``insurer_names`` table); the newest feed wins."""
    from reconcile import store

    names: dict[str, str] = {}
    for scan in reversed(scans):
        feed = session.get(store.Feed, scan.get("feed_id")) if scan.get("feed_id") is not None else None
        manifest = feed.manifest if feed is not None and isinstance(feed.manifest, dict) else {}
        table = manifest.get("insurer_names")
        if isinstance(table, dict):
            names.update({str(k): str(v) for k, v in table.items()})
        if manifest.get("insurer_name") and manifest.get("insurer_number"):
            names[str(manifest["insurer_number"])] = str(manifest["insurer_name"])
    return names


def weekly_context(session, *, week: str | None = None, lang: str = "ja", now: Any = None,
                   with_charts: bool = True, insurer_numbers=None):
    """The :class:`reports.weekly.WeeklyReport` of ``week`` (default: the latest scan's week) from the store.

    ``insurer_numbers`` limits it to those insurers (the API's scope); None = every insurer.
    Shared by ``reconcile report weekly`` and ``GET /api/v1/reports/weekly/{week}``.
    """
    import importlib.metadata

    from detectors.rules.mislink import REASON_LABELS_JA
    from reconcile import queues, service, store
    from reconcile.errors import InvalidInput
    from reports.weekly import build_weekly, iso_week, week_bounds

    if week is not None:
        try:
            week_bounds(week)
        except ValueError as exc:
            raise InvalidInput(f"週 {week} は指定できません（{exc}）。YYYY-Www（例 2026-W49）で指定してください",
                               f"week {week}: {exc}; use YYYY-Www (e.g. 2026-W49)", field="week", value=week) from exc
    allowed = _allowed(insurer_numbers)
    scans = scans_in_scope(session, store.list_scans(session), allowed)
    scans = service._report_safe_scans(scans) if hasattr(service, "_report_safe_scans") else scans
    if not scans:
        raise service.NoScanYet("スキャンがまだありません。先に reconcile scan FEED_DIR を実行してください",
                                "no scan yet: run reconcile scan FEED_DIR first")
    items = _of_insurers(_work_items(session), allowed)
    events = store.events_frame(session, insurer_numbers=None if allowed is None else sorted(allowed))
    # Validation and quarantine are the latest feed that was scanned (a refused one has neither);
    # a feed shared with insurers outside the scope shows neither (its row counts are theirs too).
    accepted = next((s for s in scans if s.get("status") == store.SCAN_DONE), None)
    if accepted is not None and not accepted.get("shared"):
        quarantine = store.quarantine_frame(session, int(accepted["scan_id"]))
        validation = service._latest_feed_validation(session, [accepted])
    else:
        quarantine, validation = None, None
    shown_feed = accepted.get("path") if accepted is not None and validation is not None else None
    moment = pd.Timestamp.now(tz="UTC") if now is None else pd.Timestamp(now)
    if week is None:
        from reports.timeutil import local_times
        week = iso_week(local_times(pd.Series([scans[0]["started_at"]])).iloc[0])
    try:
        version = importlib.metadata.version("reconcile")
    except importlib.metadata.PackageNotFoundError:
        version = ""
    queue_labels = {name: (q.label_ja if lang == "ja" else q.label_en) for name, q in queues.QUEUES.items()}
    names = insurer_names(session, scans)
    if allowed is not None:
        names = {k: v for k, v in names.items() if k in allowed}
    return build_weekly(items, events, pd.DataFrame(scans), quarantine, validation, week=week, now=moment,
                        lang=lang, version=version, insurer_names=names,
                        queue_labels=queue_labels, reason_labels=REASON_LABELS_JA if lang == "ja" else None,
                        with_charts=with_charts, validation_feed=shown_feed)


def weekly_report(*, week: str | None = None, out_dir: str | os.PathLike = "report", lang: str = "ja",
                  settings=None, now: Any = None, insurer_numbers=None) -> list[Path]:
    """Build and write the weekly report (HTML + CSV + charts); returns the files, index.html first.

    ``insurer_numbers`` limits it to those insurers (None = every insurer in the store)."""
    from reconcile import store
    from reconcile.config import get_settings
    from reports.weekly import write_weekly

    out_path = Path(out_dir)
    if out_path.exists() and not out_path.is_dir():
        from reconcile.errors import InvalidInput
        raise InvalidInput(f"--out {out_path} はファイルです。フォルダを指定してください",
                           f"--out {out_path} is a file: name a folder", field="--out", value=str(out_path))
    engine = _read_store(settings or get_settings())
    with store.session_scope(engine) as session:
        report = weekly_context(session, week=week, lang=lang, now=now, insurer_numbers=insurer_numbers)
    files = write_weekly(report, out_path)
    index = [f for f in files if f.name == "index.html"]
    return index + [f for f in files if f.name != "index.html"]
