"""Use-cases that the CLI, the scheduler and the API all call (one transaction each)."""
from __future__ import annotations

import hashlib
import hmac
import logging
import sys
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import pandas as pd

from detectors import RULES
from reconcile import pipeline, store
from reconcile.config import ConfigError, Settings, get_settings
from reconcile.errors import EnvironmentProblem, InvalidInput, NotFound, ReconcileError, Refused
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
    # work queues (issue #10): what the merge did with the items, and why some were kept
    queue_counts: dict[str, Any] = field(default_factory=dict)
    forced: list[dict[str, Any]] = field(default_factory=list)    # refusals overridden by --force
    insurers: dict[str, int] = field(default_factory=dict)         # members per insurer in the feed
    rules_closing_nothing: list[str] = field(default_factory=list)  # a file they read lost rows of unknown members

    @property
    def total_findings(self) -> int:
        return sum(self.findings_by_rule.values())


# --- opening the store: one engine per URL and process, migrations checked once ------------------

_ENGINES: dict[str, Any] = {}
_READY: set[str] = set()           # URLs whose schema was found (or brought) at head in this process
_ENGINE_LOCK = threading.RLock()


def _display_url(url: str) -> str:
    from sqlalchemy.engine import make_url
    return make_url(store.normalise_url(url)).render_as_string(hide_password=True)


def _sqlite_file(url: str) -> Path | None:
    """The database file of an SQLite URL (None for in-memory or another backend)."""
    from sqlalchemy.engine import make_url
    parsed = make_url(store.normalise_url(url))
    if parsed.get_backend_name() != "sqlite" or not parsed.database or parsed.database == ":memory:" \
            or parsed.database.startswith("file:"):
        return None
    return Path(parsed.database)


def engine_for(url: str):
    """The process's one engine (and connection pool) for ``url``."""
    key = store.normalise_url(url)
    with _ENGINE_LOCK:
        engine = _ENGINES.get(key)
        if engine is None:
            engine = _ENGINES[key] = store.get_engine(key)
        return engine


def session_factory(settings: Settings | None = None, *, write: bool = True):
    """A ``sessionmaker`` bound to the process's engine (store opened as :func:`open_store` does)."""
    from sqlalchemy.orm import sessionmaker
    return sessionmaker(open_store(settings or get_settings(), write=write), expire_on_commit=False)


def dispose_engines() -> None:
    """Close every cached engine (tests; a forked worker before it opens its own)."""
    with _ENGINE_LOCK:
        for engine in _ENGINES.values():
            engine.dispose()
        _ENGINES.clear()
        _READY.clear()


def _unreachable(url: str, exc: Exception) -> EnvironmentProblem:
    detail = " ".join(str(getattr(exc, "orig", None) or exc).split())[:300]
    return EnvironmentProblem(
        f"データベースに接続できません: {_display_url(url)}（{detail}）。RECONCILE_DATABASE_URL と "
        "サーバーの状態を確かめてください（reconcile doctor）",
        f"cannot reach the database {_display_url(url)} ({detail}); check RECONCILE_DATABASE_URL and the "
        "server (reconcile doctor)")


def open_store(settings: Settings, *, write: bool = True):
    """The process's engine for the configured database, its schema checked once per process.

    ``write=True`` (commands that write: scan, serve, schedule, user, train, the API): pending
    migrations are applied (once per process and URL). ``write=False`` (exports, reports, doctor):
    nothing is created or upgraded — no database at the URL, or an outdated schema, raises
    :class:`~reconcile.errors.EnvironmentProblem` saying what to run. An unreachable database
    raises EnvironmentProblem too.
    """
    import sqlalchemy as sa

    url = settings.database_url
    key = store.normalise_url(url)
    if key in _READY:
        return engine_for(url)
    with _ENGINE_LOCK:
        if key in _READY:
            return engine_for(url)
        path = _sqlite_file(url)
        if not write and path is not None and not path.exists():
            raise EnvironmentProblem(
                f"データベースがありません: {path}。先に reconcile scan FEED_DIR（または reconcile demo）を"
                "実行するか、RECONCILE_DATABASE_URL を確かめてください",
                f"no database at {path}: run reconcile scan FEED_DIR (or reconcile demo) first, or check "
                "RECONCILE_DATABASE_URL")
        if write and path is not None and not path.parent.exists():
            raise EnvironmentProblem(f"データベースのフォルダがありません: {path.parent}",
                                     f"the database folder does not exist: {path.parent}")
        engine = engine_for(url)
        try:
            current = store.current_revision(engine)
        except sa.exc.DBAPIError as exc:
            raise _unreachable(url, exc) from exc
        head = store.head_revision()
        if current != head:
            known = current is None or _known_revision(current)
            if not known:
                raise EnvironmentProblem(
                    f"データベースのスキーマ {current} はこのプログラムより新しい版です（最新 {head}）。"
                    "reconcile を更新してください",
                    f"the database schema {current} is newer than this program knows (head {head}): "
                    "upgrade reconcile")
            if not write:
                what = "スキーマがありません" if current is None else f"スキーマが古い版です（{current}、最新 {head}）"
                what_en = "has no schema" if current is None else f"has an outdated schema ({current}, head {head})"
                raise EnvironmentProblem(
                    f"データベース {_display_url(url)} は{what}。reconcile migrate（または reconcile scan）で"
                    "最新にしてください",
                    f"the database {_display_url(url)} {what_en}: run reconcile migrate (or reconcile scan) first")
            try:
                store.upgrade(engine)
            except sa.exc.DBAPIError as exc:
                raise _unreachable(url, exc) from exc
            log.info("database %s migrated %s -> %s", _display_url(url), current, head)
        _READY.add(key)
        return engine


def _known_revision(revision: str) -> bool:
    from alembic.script import ScriptDirectory
    try:
        ScriptDirectory.from_config(store.db.alembic_config()).get_revision(revision)
        return True
    except Exception:  # noqa: BLE001 — alembic raises several kinds for an unknown id
        return False


def migrate(settings: Settings | None = None) -> tuple[str | None, str | None]:
    """Apply pending migrations (``reconcile migrate``); returns (before, after) revisions."""
    settings = settings or get_settings()
    engine = engine_for(settings.database_url)
    import sqlalchemy as sa
    try:
        before = store.current_revision(engine)
    except sa.exc.DBAPIError as exc:
        raise _unreachable(settings.database_url, exc) from exc
    open_store(settings, write=True)
    return before, store.current_revision(engine)


# --- the secret key's fingerprint (issue #8 defect 8) -----------------------------------------------

KEY_FINGERPRINT = "key_fingerprint"
_KEY_FINGERPRINT_MESSAGE = b"reconcile/secret-key-fingerprint/v1"


def key_fingerprint(key: bytes) -> str:
    """An HMAC of a constant under the key: tells keys apart, reveals nothing of the key."""
    return hmac.new(key, _KEY_FINGERPRINT_MESSAGE, hashlib.sha256).hexdigest()[:32]


def check_key(engine, key: bytes) -> str | None:
    """Compare the key with the fingerprint stored with the data; raise :class:`Refused` when they
    differ. Returns the stored fingerprint (None: the store has none yet)."""
    with store.session_scope(engine) as session:
        stored = store.get_meta(session, KEY_FINGERPRINT)
    if stored is not None and stored != key_fingerprint(key):
        raise Refused(
            "RECONCILE_SECRET_KEY がこのデータベースの鍵と違います（鍵の指紋が一致しません）。このまま走査すると"
            "すべての指摘 ID が変わり、作業項目が閉じて開き直されます。正しい鍵を設定してください"
            "（鍵の変更手順は README「鍵の変更」）",
            "RECONCILE_SECRET_KEY is not the key this database was filled with (fingerprints differ): a scan "
            "would change every finding id and close and reopen the work items. Set the right key "
            "(key rotation: see the README)", field="RECONCILE_SECRET_KEY")
    return stored


# --- scan locks (one scan per insurer at a time) -------------------------------------------------

@contextmanager
def scan_lock(insurers, *, wait: bool = True, timeout: float | None = None, settings: Settings | None = None,
              engine=None, holder: str | None = None):
    """Hold the per-insurer scan lock for the block (what ``scan`` does; the scheduler may too).

    ``wait=False``: :class:`~reconcile.errors.Refused` (exit 2, HTTP 409) at once when another scan
    of one of the insurers runs; otherwise wait (up to ``timeout`` seconds, then Refused). A lock of
    a crashed process lapses (heartbeat expiry, or at once when its pid is gone on this host).
    """
    from reconcile.store import locks

    engine = engine or open_store(settings or get_settings(), write=True)
    try:
        with locks.scan_lock(engine, insurers, wait=wait, timeout=timeout, holder=holder) as held:
            yield held
    except locks.LockHeld as exc:
        raise Refused(f"保険者 {exc.insurer_number} は別の走査（{exc.holder}）が実行中です。"
                      "終わってから実行してください（--no-wait なしなら待ちます）",
                      f"insurer {exc.insurer_number} is being scanned by {exc.holder}; try again when it "
                      "is done (without --no-wait the scan waits)", field="insurer_number",
                      value=exc.insurer_number) from None


# --- scan ---------------------------------------------------------------------------------------

#: Feed files whose rows belong to one member (insurer_number + member_id).
MEMBER_KEYED_FILES = ("members", "oqs", "benefit_history", "card_status")


def _close_scope(feed: Feed, rules_run: list[str]) -> tuple[pd.DataFrame | None, bool, list[str]]:
    """What quarantined rows protect from being closed (issue #8 defect 2).

    Returns ``(protected_members, present_only, deferred_rules)``: the members whose rows were
    quarantined (from ``feed.quarantined_keys`` when the ingest gives it); whether only members
    present in members.csv may close items (a members.csv row was quarantined whose member is not
    known); and the rules that may close nothing this scan because a row of a file they read was
    quarantined without a readable member key.
    """
    from detectors import RULES as registered

    kinds = lambda files: {Path(str(f)).stem for f in files}  # noqa: E731
    keys = getattr(feed, "quarantined_keys", None)
    protected, unknown_files = None, set()
    if keys is None:
        unknown_files = kinds(feed.quarantine["file"]) if len(feed.quarantine) else set()
    elif len(keys):
        known = keys["insurer_number"].notna() & keys["member_id"].notna()
        protected = keys.loc[known, ["insurer_number", "member_id"]] if known.any() else None
        unknown_files = kinds(keys.loc[~known, "file"]) if (~known).any() else set()
    unknown_files &= set(MEMBER_KEYED_FILES)
    present_only = "members" in unknown_files
    deferred = sorted(r for r in rules_run
                      if r in registered and set(registered[r].requires) & (unknown_files - {"members"}))
    return protected, present_only, deferred


def _refusals(feed: Feed, members: dict[str, int], previous: dict[str, dict]) -> list[dict[str, Any]]:
    """Why this feed should not be scanned as things stand (contract cli.md ``scan``)."""
    out = []
    for insurer, count in sorted(members.items()):
        before = previous.get(insurer)
        if not before:
            continue
        latest = before.get("latest_period")
        if latest and feed.period and feed.period < latest:
            out.append({"reason": "older_period", "insurer_number": insurer, "period": feed.period,
                        "latest_period": latest,
                        "ja": f"保険者 {insurer}: 対象月 {feed.period} は走査済みの最新 {latest} より古いフィードです",
                        "en": f"insurer {insurer}: period {feed.period} is older than the latest scanned ({latest})"})
        if before.get("members") and count * 2 < before["members"]:
            out.append({"reason": "truncated", "insurer_number": insurer, "members": count,
                        "previous_members": before["members"],
                        "ja": f"保険者 {insurer}: 被保険者 {count:,} 人は前回のフィード（{before['members']:,} 人）の"
                              "半分未満です（ファイルが途中で切れていませんか）",
                        "en": f"insurer {insurer}: {count:,} members is less than half of the previous feed's "
                              f"{before['members']:,} (is the file cut short?)"})
    return out


def scan(feed_dir: str | Path, *, as_of: str | None = None, settings: Settings | None = None,
         progress: Callable[[str, int], None] | None = None, force: bool = False, wait: bool = True,
         lock_timeout: float | None = None, skip_if_scanned: bool = False,
         engine: str = "local", workers: int | None = None, scheduler: str | None = None) -> ScanSummary:
    """Validate a feed, run every matcher and detector, merge findings into the work queues.

    Raises :class:`reconcile.feeds.FeedRejected` when the feed cannot be accepted and
    :class:`~reconcile.errors.Refused` (unless ``force``) when its period is older than the latest
    scanned for one of its insurers or an insurer's member count fell below half of its previous
    feed, when the key is not the store's, or (``wait=False``) when another scan of one of its
    insurers runs; then nothing in the store changes. Everything a scan stores is written in one
    transaction, under the per-insurer scan lock. ``skip_if_scanned`` (the scheduler): a feed whose
    content already has a finished scan raises :class:`AlreadyScanned` (a Refused; ``scan_id``),
    checked inside the lock, so two watchers receiving the same content scan it once.
    """
    from reconcile.engines import evaluator  # scale (#12): --engine local|dask
    evaluate = evaluator(engine, workers=workers, scheduler=scheduler)
    # The Dask engine starts its workers while the feed is read, and stops them if the scan stops.
    engine_object = getattr(evaluate, "__self__", None)
    if hasattr(engine_object, "start"):
        engine_object.start()
    try:
        return _scan(evaluate, feed_dir, as_of=as_of, settings=settings, progress=progress, force=force,
                     wait=wait, lock_timeout=lock_timeout, skip_if_scanned=skip_if_scanned)
    finally:
        if hasattr(engine_object, "close"):
            engine_object.close()


def _scan(evaluate: Callable, feed_dir: str | Path, *, as_of: str | None, settings: Settings | None,
          progress: Callable[[str, int], None] | None, force: bool, wait: bool, lock_timeout: float | None,
          skip_if_scanned: bool) -> ScanSummary:
    """:func:`scan` with its engine's ``evaluate`` chosen."""
    settings = settings or get_settings()
    key = settings.require_key()
    queue_config = _queue_config(settings)
    engine = open_store(settings, write=True)
    check_key(engine, key)
    timings: dict[str, float] = {}
    started = time.perf_counter()
    # The Dask engine starts work on the members and residents while the other files are read
    # (load_feed's on_file hook, when the loader has it).
    engine_object = getattr(evaluate, "__self__", None)
    hook = {}
    if hasattr(engine_object, "on_file") and _takes(load_feed, "on_file"):
        engine_object.expect(_detector_settings(settings))
        hook = {"on_file": engine_object.on_file}
    feed: Feed = load_feed(Path(feed_dir), key=key, as_of=as_of, progress=progress, **hook)
    # What reading freed (chunks, validation frames) goes back to the system before the rules
    # allocate theirs (Arrow's pool keeps it otherwise).
    from matchers.memory import release_memory
    release_memory()
    timings["ingest_and_validation"] = time.perf_counter() - started
    log.info("feed %s read: %s, %d rows quarantined", feed.path, feed.row_counts, len(feed.quarantine))

    member_frame = feed.frames["members"]
    members = {str(k): int(v) for k, v in
               member_frame.groupby("insurer_number", observed=True).size().items()}
    insurers = sorted(members)
    with scan_lock(insurers, wait=wait, timeout=lock_timeout, engine=engine):
        with store.session_scope(engine) as session:
            if skip_if_scanned:
                done = _done_scan_of(session, feed.fingerprint)
                if done is not None:
                    raise AlreadyScanned(f"このフィードは走査 {done} で走査済みです",
                                         f"this feed was already scanned (scan {done})", scan_id=done)
            history = store.load_feed_history(session, insurers)
            previous = store.previous_feeds(session, insurers, exclude_fingerprint=feed.fingerprint)
        refusals = _refusals(feed, members, previous)
        if refusals and not force:
            raise Refused("走査を中止しました（--force で強制できます）: " + "; ".join(r["ja"] for r in refusals),
                          "scan refused (--force overrides): " + "; ".join(r["en"] for r in refusals),
                          refusals=refusals)
        truncated = sorted({r["insurer_number"] for r in refusals if r["reason"] == "truncated"})
        # Rerunning a feed must not count it as its own history.
        if len(history) and "fingerprint" in history.columns:
            history = history.loc[history["fingerprint"] != feed.fingerprint]

        step = time.perf_counter()
        # Persist needs only the members' keys of the frames: a partitioned scan releases the
        # feed's frames once every partition's rows are written out (release_frames), so the
        # rules' working set does not come on top of the whole feed (5M members: ~8 GB of frames;
        # the local engine's on_file hook already wrote a large feed's member-keyed files out as
        # they were read, and left only the members' keys in the feed).
        present_keys = member_frame[["insurer_number", "member_id"]]
        del member_frame
        evaluation = evaluate(
            feed.frames, as_of=feed.as_of, quarantine=feed.quarantine, row_counts=feed.row_counts,
            detector_settings=_detector_settings(settings), feed_history=history,
            on_rule=(lambda rule_id: progress(f"rule {rule_id}", 0)) if progress else None,
            release_frames=True)
        timings["rules"] = time.perf_counter() - step
        timings.update({f"rule:{k}": v for k, v in evaluation.seconds.items()})

        step = time.perf_counter()
        findings_by_rule = evaluation.findings["rule_id"].value_counts().sort_index().to_dict()
        import detectors.rules  # noqa: F401 — every rule registered, so rules_run is complete
        skipped_ids = {rule_id for rule_id, _ in evaluation.skipped}
        rules_run = [r for r in RULES if r not in skipped_ids]
        protected, present_only_all, deferred = _close_scope(feed, rules_run)
        present_only = sorted(set(truncated) | (set(insurers) if present_only_all else set()))
        summary_record: dict[str, Any] = {
            "feed": str(feed.path), "feed_name": feed.path.name, "as_of": feed.as_of.date().isoformat(),
            "period": feed.period, "rows": feed.row_counts, "quarantined_rows": int(len(feed.quarantine)),
            "findings_by_rule": {k: int(v) for k, v in findings_by_rule.items()},
            "skipped_rules": [{"rule_id": r, "reason": why} for r, why in evaluation.skipped],
            "insurers": members, "forced": [{k: v for k, v in r.items()} for r in refusals],
        }
        with store.session_scope(engine) as session:
            feed_id, existed = store.ensure_feed(
                session, fingerprint=feed.fingerprint, path=str(feed.path), as_of=feed.as_of.date(),
                period=feed.period, manifest=feed.manifest, validation=feed.validation,
                row_counts=feed.row_counts)
            scan_id = store.start_scan(session, feed_id=feed_id, as_of=feed.as_of.date())
            store.save_scan_insurers(session, scan_id, members, feed.period)
            store.save_quarantine(session, scan_id, feed.quarantine)
            merged = store.merge_findings(
                session, scan_id, evaluation.findings, rules_run=[r for r in rules_run if r not in deferred],
                insurer_numbers=insurers, protected_members=protected,
                present_members=present_keys if present_only else None,
                present_only_insurers=present_only, queue_config=queue_config)
            store.save_feed_stats(session, scan_id, evaluation.stats)
            if store.get_meta(session, KEY_FINGERPRINT) is None:
                store.set_meta(session, KEY_FINGERPRINT, key_fingerprint(key))
            timings["persist"] = time.perf_counter() - step
            timings["total"] = time.perf_counter() - started
            queue_counts = merged.as_dict()
            summary_record["queues"] = queue_counts
            summary_record["kept"] = {"quarantined": merged.kept_quarantined, "absent_from_truncated_feed":
                                      merged.kept_absent, "in_progress_not_seen": merged.not_seen_in_progress,
                                      "rules_closing_nothing": deferred}
            summary_record["seconds"] = {k: round(v, 3) for k, v in timings.items()}
            store.finish_scan(session, scan_id, status="done", summary=summary_record)
    log.info("scan %s done: %d findings", scan_id, len(evaluation.findings))
    return ScanSummary(
        scan_id=scan_id, feed_path=str(feed.path), as_of=feed.as_of.date().isoformat(),
        period=feed.period, rows=dict(feed.row_counts), quarantined_rows=int(len(feed.quarantine)),
        findings_by_rule={k: int(v) for k, v in findings_by_rule.items()},
        new_findings=int(merged.new), seen_again=int(merged.seen_again),
        skipped=evaluation.skipped, seconds=timings, reused_feed=existed,
        queue_counts=queue_counts, forced=refusals, insurers=members, rules_closing_nothing=deferred)


def _takes(function: Callable, name: str) -> bool:
    import inspect
    try:
        return name in inspect.signature(function).parameters
    except (TypeError, ValueError):
        return False


class AlreadyScanned(Refused):
    """``scan(..., skip_if_scanned=True)``: the same content has a finished scan (``details['scan_id']``)."""


def _done_scan_of(session, fingerprint: str) -> int | None:
    import sqlalchemy as sa
    return session.scalar(sa.select(sa.func.max(store.Scan.id)).join(store.Feed, store.Feed.id == store.Scan.feed_id)
                          .where(store.Feed.fingerprint == fingerprint, store.Scan.status == store.SCAN_DONE))


def _queue_config(settings: Settings):
    from reconcile.queues import QueueConfigError
    try:
        return settings.queue_settings()
    except QueueConfigError as exc:
        raise ConfigError(f"設定ファイル {settings.config_path}: {exc}") from exc


def _detector_settings(settings: Settings) -> dict[str, Any]:
    out = dict(settings.detectors)
    if settings.model_path:
        out.setdefault("mislink_model_path", str(settings.model_path))
    return out


def export_findings(out: str | Path | None, *, scan_id: int | None = None, encoding: str = "utf-8",
                    lang: str = "ja", settings: Settings | None = None) -> tuple[Path | None, int]:
    from reconcile.exports import write_findings_csv

    check_out(out, "--out")
    engine = open_store(settings or get_settings(), write=False)
    with store.session_scope(engine) as session:
        _check_scan(session, scan_id)
        frame = store.findings_frame(session, scan_id=scan_id, lang=lang)
    count = write_findings_csv(frame, out if out is not None else sys.stdout.buffer, encoding=encoding)
    return (Path(out) if out is not None else None), count


def export_quarantine(out: str | Path | None, *, scan_id: int | None = None, encoding: str = "utf-8-sig",
                      settings: Settings | None = None) -> tuple[Path | None, int]:
    from reconcile.exports import write_quarantine_csv

    check_out(out, "--out")
    engine = open_store(settings or get_settings(), write=False)
    with store.session_scope(engine) as session:
        _check_scan(session, scan_id)
        frame = store.quarantine_frame(session, scan_id=scan_id)
    count = write_quarantine_csv(frame, out if out is not None else sys.stdout.buffer, encoding=encoding)
    return (Path(out) if out is not None else None), count


def check_out(out: str | Path | None, flag: str = "--out") -> None:
    """An output file's folder must exist (exit 2 naming it); the file itself is (re)written."""
    if out is None or not isinstance(out, (str, Path)):
        return
    path = Path(out)
    if path.exists() and path.is_dir():
        raise InvalidInput(f"{flag} {path} はフォルダです。ファイル名を指定してください",
                           f"{flag} {path} is a folder: name a file", field=flag, value=str(path))
    parent = path.parent
    if not parent.exists() or not parent.is_dir():
        raise InvalidInput(f"{flag} の出力先フォルダ {parent} がありません。先に作成してください",
                           f"{flag}: the folder {parent} does not exist; create it first", field=flag,
                           value=str(path))


def _check_scan(session, scan_id: int | None) -> None:
    if scan_id is not None and not store.scan_exists(session, scan_id):
        raise NotFound(f"走査 {scan_id} はありません（reconcile export findings の --scan を確かめてください）",
                       f"no scan {scan_id}", field="--scan", value=scan_id)


def parse_week(week: str) -> str:
    """``YYYY-Www`` that exists in the ISO calendar, else :class:`InvalidInput` (exit 2 / 422)."""
    import re
    from datetime import date

    match = re.fullmatch(r"(\d{4})-W(\d{2})", str(week).strip())
    if match:
        try:
            date.fromisocalendar(int(match.group(1)), int(match.group(2)), 1)
            return f"{match.group(1)}-W{match.group(2)}"
        except ValueError:
            pass
    raise InvalidInput(f"--week {week!r} は ISO 週 YYYY-Www（例 2026-W49、01〜52 または 53）で指定してください",
                       f"--week {week!r}: use an ISO week YYYY-Www that exists (e.g. 2026-W49)",
                       field="week", value=week)


def _report_safe_scans(scans: list[dict]) -> list[dict]:
    """Scans as the weekly report shows them: the feed by its folder name only (never the whole
    path). A folder named like a 12-digit run (``202612011200``) is shown masked, so the report's
    individual-number guard does not refuse the whole report over a folder name."""
    from reports.guard import find_individual_numbers, mask_individual_numbers

    def shown(path: Any) -> Any:
        if not path:
            return path
        name = Path(str(path)).name or str(path)
        return mask_individual_numbers(name) if find_individual_numbers(name) else name

    out = []
    for scan in scans:
        scan = dict(scan)
        scan["path"] = shown(scan.get("path"))
        if isinstance(scan.get("summary"), dict):
            summary = dict(scan["summary"])
            for key in ("feed", "feed_name"):
                if key in summary:
                    summary[key] = shown(summary[key])
            scan["summary"] = summary
        out.append(scan)
    return out


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
                  settings: Settings | None = None, now: Any = None,
                  insurer_numbers: list[str] | set[str] | None = None) -> list[Path]:
    """Build and write the weekly report (HTML + CSV + charts); returns the files, index.html first.

    Delegates to :func:`reconcile.exports.weekly_report` (reports engineer); ``week`` is checked here.
    ``insurer_numbers``: only those insurers' work, scans and names (an insurer-scoped user);
    None = every insurer in the store.
    """
    from reconcile.exports import weekly_report as _weekly_report

    week = parse_week(week) if week is not None else None
    return _weekly_report(week=week, out_dir=out_dir, lang=lang, settings=settings or get_settings(), now=now,
                          insurer_numbers=insurer_numbers)


def export_national(out: str | Path | None, *, period: str, lang: str = "ja", encoding: str = "utf-8-sig",
                    totals: str | Path | None = None, corrections: str | Path | None = None,
                    settings: Settings | None = None, now: Any = None,
                    insurer_numbers: list[str] | set[str] | None = None):
    """全国報告用の集計 / national-reporting export of one feed reporting month (YYYY-MM).

    Delegates to :func:`reconcile.exports.export_national` (owned with the reports); returns its
    :class:`reconcile.exports.NationalExport` (paths, rows, characters CP932 replaced).
    ``insurer_numbers``: only those insurers' rows (None = every insurer in the store).
    """
    from reconcile.exports import export_national as _export_national

    for value, flag in ((out, "--out"), (totals, "--totals"), (corrections, "--corrections")):
        check_out(value, flag)
    settings = settings or get_settings()
    open_store(settings, write=False)   # read-only: never creates or upgrades (checked once per process)
    return _export_national(out, period=period, totals=totals, corrections=corrections, encoding=encoding,
                            lang=lang, settings=settings, now=now, insurer_numbers=insurer_numbers)


def export_kakuninsho(out: str | Path | None, *, feed_dir: str | Path | None = None, as_of: str | None = None,
                      encoding: str = "utf-8", settings: Settings | None = None) -> tuple[Path | None, int]:
    """資格確認書 職権交付対象者一覧 from a feed (default: the feed of the latest scan)."""
    from detectors.kakuninsho import issuance_list
    from reconcile.exports import write_frame_csv
    from reconcile.feeds import FeedRejected

    settings = settings or get_settings()
    check_out(out, "--out")
    if feed_dir is None:
        engine = open_store(settings, write=False)
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
