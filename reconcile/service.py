"""Use-cases that the CLI, the scheduler and the API all call (one transaction each)."""
from __future__ import annotations

import logging
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import pandas as pd

from detectors import RULES
from reconcile import pipeline, store
from reconcile.config import Settings, get_settings
from reconcile.errors import ReconcileError
from reconcile.feeds import Feed, load_feed

log = logging.getLogger("reconcile")


@dataclass
class ScanSummary:
    scan_id: int
    feed_path: str
    as_of: str
    period: str
    rows: dict[str, int]
    quarantined_rows: int
    findings_by_rule: dict[str, int]
    new_findings: int
    seen_again: int
    skipped: list[tuple[str, str]]
    seconds: dict[str, float] = field(default_factory=dict)
    reused_feed: bool = False

    @property
    def total_findings(self) -> int:
        return sum(self.findings_by_rule.values())


def open_store(settings: Settings):
    """Engine for the configured database, migrated to the latest schema."""
    engine = store.get_engine(settings.database_url)
    store.upgrade(engine)
    return engine


def scan(feed_dir: str | Path, *, as_of: str | None = None, settings: Settings | None = None,
         progress: Callable[[str, int], None] | None = None) -> ScanSummary:
    """Validate a feed, run every matcher and detector, merge findings into the work queues.

    Raises :class:`reconcile.feeds.FeedRejected` when the feed cannot be accepted; then nothing
    in the store changes. Everything a scan stores is written in one transaction.
    """
    settings = settings or get_settings()
    key = settings.require_key()
    timings: dict[str, float] = {}
    started = time.perf_counter()
    feed: Feed = load_feed(Path(feed_dir), key=key, as_of=as_of, progress=progress)
    timings["ingest_and_validation"] = time.perf_counter() - started
    log.info("feed %s read: %s, %d rows quarantined", feed.path, feed.row_counts, len(feed.quarantine))

    engine = open_store(settings)
    insurers = sorted(feed.frames["members"]["insurer_number"].dropna().unique().tolist())
    with store.session_scope(engine) as session:
        history = store.load_feed_history(session, insurers)
    # Rerunning a feed must not count it as its own history.
    if len(history) and "fingerprint" in history.columns:
        history = history.loc[history["fingerprint"] != feed.fingerprint]

    step = time.perf_counter()
    evaluation = pipeline.evaluate(
        feed.frames, as_of=feed.as_of, quarantine=feed.quarantine, row_counts=feed.row_counts,
        detector_settings=_detector_settings(settings), feed_history=history,
        on_rule=(lambda rule_id: progress(f"rule {rule_id}", 0)) if progress else None)
    timings["rules"] = time.perf_counter() - step
    timings.update({f"rule:{k}": v for k, v in evaluation.seconds.items()})

    step = time.perf_counter()
    findings_by_rule = evaluation.findings["rule_id"].value_counts().sort_index().to_dict()
    summary_record: dict[str, Any] = {
        "feed": str(feed.path), "as_of": feed.as_of.date().isoformat(), "period": feed.period,
        "rows": feed.row_counts, "quarantined_rows": int(len(feed.quarantine)),
        "findings_by_rule": {k: int(v) for k, v in findings_by_rule.items()},
        "skipped_rules": [{"rule_id": r, "reason": why} for r, why in evaluation.skipped],
    }
    with store.session_scope(engine) as session:
        existing = store.find_feed(session, feed.fingerprint)
        feed_id = existing.id if existing is not None else store.add_feed(
            session, fingerprint=feed.fingerprint, path=str(feed.path), as_of=feed.as_of.date(),
            period=feed.period, manifest=feed.manifest, validation=feed.validation,
            row_counts=feed.row_counts)
        scan_id = store.start_scan(session, feed_id=feed_id, as_of=feed.as_of.date())
        store.save_quarantine(session, scan_id, feed.quarantine)
        skipped_ids = {rule_id for rule_id, _ in evaluation.skipped}
        merged = store.merge_findings(session, scan_id, evaluation.findings,
                                      rules_run=[r for r in RULES if r not in skipped_ids],
                                      insurer_numbers=insurers)
        store.save_feed_stats(session, scan_id, evaluation.stats)
        timings["persist"] = time.perf_counter() - step
        timings["total"] = time.perf_counter() - started
        summary_record["seconds"] = {k: round(v, 3) for k, v in timings.items()}
        store.finish_scan(session, scan_id, status="done", summary=summary_record)
    log.info("scan %s done: %d findings", scan_id, len(evaluation.findings))
    return ScanSummary(
        scan_id=scan_id, feed_path=str(feed.path), as_of=feed.as_of.date().isoformat(),
        period=feed.period, rows=dict(feed.row_counts), quarantined_rows=int(len(feed.quarantine)),
        findings_by_rule={k: int(v) for k, v in findings_by_rule.items()},
        new_findings=int(merged.new), seen_again=int(merged.seen_again),
        skipped=evaluation.skipped, seconds=timings, reused_feed=existing is not None)


def _detector_settings(settings: Settings) -> dict[str, Any]:
    out = dict(settings.detectors)
    if settings.model_path:
        out.setdefault("mislink_model_path", str(settings.model_path))
    return out


def export_findings(out: str | Path | None, *, scan_id: int | None = None, encoding: str = "utf-8",
                    lang: str = "ja", settings: Settings | None = None) -> tuple[Path | None, int]:
    from reconcile.exports import write_findings_csv

    engine = open_store(settings or get_settings())
    with store.session_scope(engine) as session:
        frame = store.findings_frame(session, scan_id=scan_id, lang=lang)
    count = write_findings_csv(frame, out if out is not None else sys.stdout.buffer, encoding=encoding)
    return (Path(out) if out is not None else None), count


def export_quarantine(out: str | Path | None, *, scan_id: int | None = None, encoding: str = "utf-8-sig",
                      settings: Settings | None = None) -> tuple[Path | None, int]:
    from reconcile.exports import write_quarantine_csv

    engine = open_store(settings or get_settings())
    with store.session_scope(engine) as session:
        frame = store.quarantine_frame(session, scan_id=scan_id)
    count = write_quarantine_csv(frame, out if out is not None else sys.stdout.buffer, encoding=encoding)
    return (Path(out) if out is not None else None), count


def _latest_feed_validation(session, scans: list[dict]) -> dict | None:
    if not scans:
        return None
    feed = session.get(store.Feed, scans[0]["feed_id"])
    return feed.validation if feed is not None else None


def current_week(scans: list[dict]) -> str:
    """The ISO week (Japan time) of the latest scan, else of today."""
    from reports.timeutil import local_times

    if scans and scans[0].get("started_at") is not None:
        moment = local_times(pd.Series([scans[0]["started_at"]])).iloc[0]
    else:
        moment = pd.Timestamp.now(tz="Asia/Tokyo")
    year, week, _ = moment.isocalendar()
    return f"{year}-W{week:02d}"


class NoScanYet(ReconcileError):
    """The store holds no scan, so there is nothing to report / 走査がまだない (exit 1, HTTP 404)."""
    exit_code, http_status, title = 1, 404, "No scan yet"


def weekly_report(*, week: str | None = None, out_dir: str | Path = "report", lang: str = "ja",
                  settings: Settings | None = None) -> list[Path]:
    """Build and write the weekly report (HTML + CSV + charts); returns the files, index.html first."""
    from detectors.rules.mislink import REASON_LABELS_JA
    from reports import build_weekly, write_weekly

    engine = open_store(settings or get_settings())
    with store.session_scope(engine) as session:
        scans = store.list_scans(session)
        if not scans:
            raise NoScanYet("走査がまだありません。先に reconcile scan FEED_DIR を実行してください / "
                            "no scan yet: run reconcile scan FEED_DIR first")
        findings = store.findings_frame(session, lang=lang)
        events = store.events_frame(session)
        quarantine = store.quarantine_frame(session)
        validation = _latest_feed_validation(session, scans)
    report = build_weekly(findings, events, pd.DataFrame(scans), quarantine, validation,
                          week=week or current_week(scans), lang=lang,
                          reason_labels=REASON_LABELS_JA if lang == "ja" else None)
    files = write_weekly(report, Path(out_dir))
    index = [f for f in files if f.name == "index.html"]
    return index + [f for f in files if f.name != "index.html"]


def export_national(out: str | Path | None, *, period: str, lang: str = "ja", encoding: str = "utf-8-sig",
                    totals: str | Path | None = None, corrections: str | Path | None = None,
                    settings: Settings | None = None, now: Any = None):
    """全国報告用の集計 / national-reporting export of one feed reporting month (YYYY-MM).

    Delegates to :func:`reconcile.exports.export_national` (owned with the reports); returns its
    :class:`reconcile.exports.NationalExport` (paths, rows, characters CP932 replaced).
    """
    from reconcile.exports import export_national as _export_national

    return _export_national(out, period=period, totals=totals, corrections=corrections, encoding=encoding,
                            lang=lang, settings=settings or get_settings(), now=now)


def export_kakuninsho(out: str | Path | None, *, feed_dir: str | Path | None = None, as_of: str | None = None,
                      encoding: str = "utf-8", settings: Settings | None = None) -> tuple[Path | None, int]:
    """資格確認書 職権交付対象者一覧 from a feed (default: the feed of the latest scan)."""
    from detectors.kakuninsho import issuance_list
    from reconcile.exports import write_frame_csv
    from reconcile.feeds import FeedRejected

    settings = settings or get_settings()
    if feed_dir is None:
        engine = open_store(settings)
        with store.session_scope(engine) as session:
            scans = store.list_scans(session, limit=1)
        if not scans:
            raise FeedRejected("-", None, "走査がまだありません。--feed でフィードを指定してください / "
                                          "no scan yet: name the feed with --feed")
        feed_dir = scans[0]["path"]
        as_of = as_of or (scans[0]["as_of"].isoformat() if scans[0]["as_of"] else None)
    feed = load_feed(Path(feed_dir), key=settings.require_key(), as_of=as_of)
    if feed.frames.get("card_status") is None:
        raise FeedRejected("card_status.csv", None, f"{feed_dir} に card_status.csv がないため一覧を作れません / "
                                                    "card_status.csv is needed for the issuance list")
    frame = issuance_list(feed.frames["members"], feed.frames["card_status"], feed.as_of)
    count = write_frame_csv(frame, out if out is not None else sys.stdout.buffer, encoding=encoding,
                            what="kakuninsho")
    return (Path(out) if out is not None else None), count


def train_scorer(labels: str | Path, *, out: str | Path | None = None,
                 settings: Settings | None = None) -> tuple[Path, dict[str, Any]]:
    """Retrain the mis-link scorer from a labelled-pairs CSV of stewards' decisions."""
    from matchers.scorer import train_from_labels

    settings = settings or get_settings()
    target = Path(out) if out else (settings.model_path or Path("mislink_model.json"))
    saved = train_from_labels(labels, out_path=target)
    import json
    trained_on = json.loads(Path(saved).read_text(encoding="utf-8")).get("trained_on", {})
    return saved, trained_on
