"""無人運転 / unattended operation: the drop-folder watcher and the cron-style job runner.

Drop folder (``reconcile schedule watch DROP_DIR``)
    The sender copies one feed per sub-folder of DROP_DIR and writes ``_READY`` last. A folder
    without ``_READY`` is still being copied and is left alone. A ready folder is

    1. claimed (``DROP_DIR/.reconcile/claims/<folder>.json``: host, pid, time) so that a second
       watcher on the same folder skips it; a claim whose process is gone is a crashed attempt,
       taken over and named in the outcome (``retry_of``);
    2. fingerprinted (the same content fingerprint the scan stores, :func:`feed_fingerprint`):
       content already scanned ``done`` is not scanned again — the folder goes to ``done/`` with
       status ``duplicate`` and the earlier scan's id;
    3. scanned through :func:`reconcile.service.scan` (validation, every rule, merge into the
       work queues, one transaction — a killed process leaves nothing half-stored, the next tick
       scans the folder again), and the weekly report refreshed;
    4. given ``_OUTCOME.json`` (status, scan id, messages in Japanese and English, stage timings)
       and moved to ``DROP_DIR/done/`` — or ``DROP_DIR/rejected/`` when the feed was refused
       (missing file or column, older period, truncated feed …) or failed
       :data:`MAX_ATTEMPTS` times. Name clashes get a UTC time suffix.

    The outcome is stored too: a scanned feed's ``scans.summary["schedule"]``; a rejected feed
    becomes a scan with status ``rejected`` whose summary holds the outcome, so ``GET
    /api/v1/scans`` and the weekly report list it.

Job runner (``reconcile schedule run``)
    Jobs from the ``[schedule]`` table of ``reconcile.toml`` (format: :func:`parse_schedule`,
    README "Scheduled operation"), run by APScheduler 3. Each job runs at most once at a time;
    an exception or a killed process is written to the job's state file
    (``state_dir/<job>.json``) and the job is retried on its next tick, which logs that it is a
    retry and why. One scan per insurer at a time across processes is the store's scan lock,
    taken inside :func:`reconcile.service.scan`.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import socket
import threading
import time
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any, Callable

from reconcile.config import Settings, get_settings
from reconcile.errors import FeedRejected, InvalidInput, ReconcileError, Refused

log = logging.getLogger("reconcile.schedule")

READY = "_READY"
OUTCOME = "_OUTCOME.json"
DONE_DIR = "done"
REJECTED_DIR = "rejected"
STATE_DIR = ".reconcile"
#: A folder whose scan failed (not refused: an internal or environment error) this many times in
#: a row is moved to ``rejected/`` instead of being retried forever.
MAX_ATTEMPTS = 3

STATUS_DONE = "done"            # scanned and merged
STATUS_DUPLICATE = "duplicate"  # same content already scanned: moved to done/ without a scan
STATUS_REJECTED = "rejected"    # refused (bad feed, older period, truncated): moved to rejected/
STATUS_FAILED = "failed"        # internal / environment error: left in place, retried next tick
STATUS_WAITING = "waiting"      # another process holds the folder or its insurer's scan lock


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _iso(moment: datetime | None = None) -> str:
    return (moment or _now()).isoformat(timespec="seconds").replace("+00:00", "Z")


# ----------------------------------------------------------------------------- fingerprint

def feed_fingerprint(folder: Path) -> str:
    """The content fingerprint :func:`reconcile.feeds.load_feed` gives the feed in ``folder``.

    sha256 over the sorted ``name:sha256(bytes)`` of manifest.json and each feed file found
    (Parquet before CSV, as the loader picks them) — without parsing anything, so a re-dropped
    folder is recognised before any scan. ``tests/ops/test_watch.py`` checks it equals the
    loader's fingerprint.
    """
    from reconcile.feeds import loader, spec

    digests = []
    manifest = folder / "manifest.json"
    if manifest.is_file():
        digests.append(f"manifest.json:{_sha256(manifest)}")
    for feed_file in spec.FEED_FILES:
        path = loader._locate(folder, feed_file)
        if path is not None:
            digests.append(f"{path.name}:{_sha256(path)}")
    return hashlib.sha256("\n".join(sorted(digests)).encode()).hexdigest()


def _sha256(path: Path) -> str:
    sha = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 24):
            sha.update(chunk)
    return sha.hexdigest()


# ----------------------------------------------------------------------------- folders and claims

def ready_folders(drop_dir: Path) -> list[Path]:
    """Sub-folders of ``drop_dir`` holding ``_READY``, oldest name first (done/, rejected/, dot-folders excluded)."""
    return [p for p in _candidates(drop_dir) if (p / READY).is_file()]


def incomplete_folders(drop_dir: Path) -> list[Path]:
    """Sub-folders still being copied (no ``_READY`` yet)."""
    return [p for p in _candidates(drop_dir) if not (p / READY).is_file()]


def _candidates(drop_dir: Path) -> list[Path]:
    if not drop_dir.is_dir():
        raise InvalidInput(f"受付フォルダ {drop_dir} がありません", f"drop folder {drop_dir} does not exist",
                           field="DROP_DIR", value=str(drop_dir))
    return sorted(p for p in drop_dir.iterdir()
                  if p.is_dir() and p.name not in (DONE_DIR, REJECTED_DIR) and not p.name.startswith((".", "_")))


def _pid_alive(pid: int) -> bool:
    if not isinstance(pid, int) or pid <= 0:
        return False  # (os.kill(-1, 0) would ask about every process)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie (killed, not yet reaped by its parent) is gone for our purposes.
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as handle:
            return handle.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return True


class _Claim:
    """One process's claim on a drop folder: a small JSON file created exclusively."""

    def __init__(self, drop_dir: Path, folder: Path):
        self.path = drop_dir / STATE_DIR / "claims" / f"{folder.name}.json"
        self.previous: dict | None = None

    def acquire(self) -> bool:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        mine = {"host": socket.gethostname(), "pid": os.getpid(), "since": _iso(), "attempts": 1}
        for _ in range(2):
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                held = self._read()
                if held is None:
                    return False  # being written by its owner this very moment
                same_host = held.get("host") == mine["host"]
                if held.get("pid") == mine["pid"] and same_host:
                    return False  # this process already works on it (another thread)
                if same_host and isinstance(held.get("pid"), int) and _pid_alive(held["pid"]):
                    return False  # another live watcher has it
                if not same_host:
                    return False  # cannot tell whether it is alive: leave it to its host
                self.previous = held
                mine["attempts"] = int(held.get("attempts", 1)) + 1
                self.path.unlink(missing_ok=True)
                continue
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(mine, handle)
            return True
        return False

    def _read(self) -> dict | None:
        try:
            return json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None

    def mark_failed(self, reason: str) -> None:
        """Keep the claim as a record of the failure (dead pid): the next tick counts the attempt."""
        held = self._read() or {}
        held.update({"pid": None, "failed_at": _iso(), "reason": reason})
        self.path.write_text(json.dumps(held, ensure_ascii=False), encoding="utf-8")

    def release(self) -> None:
        self.path.unlink(missing_ok=True)


# ----------------------------------------------------------------------------- outcome

@dataclass
class FolderOutcome:
    """What happened to one drop folder (written as ``_OUTCOME.json``)."""
    folder: str
    status: str
    scan_id: int | None = None
    messages: dict[str, str] = field(default_factory=dict)     # {"ja": …, "en": …}
    stages: dict[str, float] = field(default_factory=dict)     # stage → seconds
    fingerprint: str | None = None
    moved_to: str | None = None
    retry_of: dict | None = None                               # the crashed / failed attempt taken over
    started_at: str = field(default_factory=_iso)
    finished_at: str | None = None
    summary: dict[str, Any] | None = None                      # counts of the scan (no personal data)
    reason: dict[str, str] | None = None                       # why refused / failed, plain words {"ja", "en"}

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None}


def _scan_summary(summary) -> dict[str, Any]:
    return {"period": summary.period, "as_of": summary.as_of, "rows": dict(summary.rows),
            "quarantined_rows": summary.quarantined_rows, "findings": summary.total_findings,
            "new_findings": summary.new_findings, "seen_again": summary.seen_again,
            "findings_by_rule": dict(summary.findings_by_rule)}


def _unique_target(parent: Path, name: str) -> Path:
    parent.mkdir(parents=True, exist_ok=True)
    target = parent / name
    if not target.exists():
        return target
    stamp = _now().strftime("%Y%m%dT%H%M%SZ")
    for n in range(1000):
        target = parent / (f"{name}.{stamp}" if n == 0 else f"{name}.{stamp}.{n}")
        if not target.exists():
            return target
    raise RuntimeError(f"no free name for {name} in {parent}")


# ----------------------------------------------------------------------------- the watcher

class Watcher:
    """Handles the ready folders of one drop folder (:meth:`tick`); :meth:`run` polls until stopped."""

    def __init__(self, drop_dir: str | Path, *, settings: Settings | None = None,
                 report_dir: str | Path | None = "report", lang: str = "ja",
                 scan: Callable[..., Any] | None = None):
        self.drop_dir = Path(drop_dir)
        self.settings = settings or get_settings()
        self.report_dir = Path(report_dir) if report_dir is not None else None
        self.lang = lang
        self._scan = scan

    # -- one pass ---------------------------------------------------------------------------
    def tick(self) -> list[FolderOutcome]:
        """Handle every ready folder once (in name order); incomplete ones are left alone."""
        waiting = incomplete_folders(self.drop_dir)
        for folder in waiting:
            log.info("feed folder %s has no %s yet: left alone", folder.name, READY,
                     extra={"event": "watch.incomplete", "folder": folder.name})
        outcomes = []
        for folder in ready_folders(self.drop_dir):
            outcome = self.handle(folder)
            if outcome is not None:
                outcomes.append(outcome)
        return outcomes

    def run(self, poll: float = 60.0, stop: threading.Event | None = None) -> None:
        """Tick every ``poll`` seconds until ``stop`` is set (or forever)."""
        stop = stop or threading.Event()
        while not stop.is_set():
            try:
                self.tick()
            except ReconcileError as exc:
                log.error("watch tick failed: %s", exc, extra={"event": "watch.tick_failed"})
            except Exception:  # noqa: BLE001 — a watcher must outlive one bad tick; next tick retries
                log.exception("watch tick crashed; retried on the next tick", extra={"event": "watch.tick_failed"})
            stop.wait(poll)

    # -- one folder -------------------------------------------------------------------------
    def handle(self, folder: Path) -> FolderOutcome | None:
        claim = _Claim(self.drop_dir, folder)
        if not claim.acquire():
            log.info("feed folder %s is being handled by another process", folder.name,
                     extra={"event": "watch.claimed_elsewhere", "folder": folder.name})
            return None
        outcome = FolderOutcome(folder=folder.name, status=STATUS_FAILED)
        if claim.previous is not None:
            outcome.retry_of = {k: claim.previous.get(k) for k in ("host", "pid", "since", "failed_at", "reason",
                                                                  "attempts") if claim.previous.get(k) is not None}
            log.warning("feed folder %s: the previous attempt (%s, started %s) did not finish; retrying",
                        folder.name, claim.previous.get("reason") or f"process {claim.previous.get('pid')} gone",
                        claim.previous.get("since"),
                        extra={"event": "watch.retry", "folder": folder.name, "retry_of": outcome.retry_of})
        try:
            self._handle(folder, outcome, attempts=1 + int((claim.previous or {}).get("attempts", 0)))
        except BaseException as exc:
            # Not refused, not done: leave the folder for the next tick, remember the failure.
            claim.mark_failed(f"{type(exc).__name__}: {exc}"[:300])
            raise
        if outcome.status == STATUS_FAILED and outcome.moved_to is None:
            claim.mark_failed(outcome.messages.get("en", "")[:300])  # the next tick counts the attempt
        else:
            claim.release()
        return outcome

    def _handle(self, folder: Path, outcome: FolderOutcome, *, attempts: int) -> None:
        stages = outcome.stages
        started = time.perf_counter()
        outcome.fingerprint = feed_fingerprint(folder)
        stages["fingerprint"] = round(time.perf_counter() - started, 3)
        extra = {"folder": folder.name, "fingerprint": outcome.fingerprint[:16]}

        earlier = self._scanned_before(outcome.fingerprint)
        if earlier is not None:
            self._duplicate(folder, outcome, earlier)
            return

        log.info("feed folder %s: scan started", folder.name, extra={**extra, "event": "watch.scan_started"})
        step = time.perf_counter()
        try:
            summary = self._run_scan(folder)
        except FeedRejected as exc:
            stages["scan"] = round(time.perf_counter() - step, 3)
            self._rejected(folder, outcome, exc, "フィードを受け付けられませんでした", "Feed rejected")
            return
        except Refused as exc:
            stages["scan"] = round(time.perf_counter() - step, 3)
            if type(exc).__name__ == "AlreadyScanned" and exc.details.get("scan_id") is not None:
                # Another process scanned the same content while this one read it (checked under the lock).
                del stages["scan"]
                self._duplicate(folder, outcome, int(exc.details["scan_id"]))
                return
            if _lock_busy(exc):
                outcome.status = STATUS_WAITING
                outcome.messages = {"ja": f"この保険者は別の走査中のため次回に回します: {exc.text('ja')}",
                                    "en": f"Another scan of this insurer is running; left for the next tick: "
                                          f"{exc.text('en')}"}
                log.info("feed folder %s waits: %s", folder.name, exc.text("en"),
                         extra={**extra, "event": "watch.waiting"})
                return
            self._rejected(folder, outcome, exc, "フィードの走査を拒否しました", "Scan refused")
            return
        except Exception as exc:  # noqa: BLE001 — an internal or environment error: retry, then give up
            stages["scan"] = round(time.perf_counter() - step, 3)
            text = exc.text("en") if isinstance(exc, ReconcileError) else f"{type(exc).__name__}: {exc}"
            text_ja = exc.text("ja") if isinstance(exc, ReconcileError) else text
            log.error("feed folder %s: scan failed (attempt %d of %d): %s", folder.name, attempts, MAX_ATTEMPTS,
                      text, exc_info=not isinstance(exc, ReconcileError),
                      extra={**extra, "event": "watch.failed", "attempt": attempts})
            outcome.messages = {
                "ja": f"走査が内部エラーで失敗しました（{attempts} 回目、保存内容は変わっていません）: {text_ja}",
                "en": f"The scan failed with an internal error (attempt {attempts}; nothing stored changed): {text}"}
            if attempts >= MAX_ATTEMPTS:
                outcome.messages["ja"] += f" {MAX_ATTEMPTS} 回失敗したため rejected/ に移しました。"
                outcome.messages["en"] += f" Moved to rejected/ after {MAX_ATTEMPTS} failed attempts."
                outcome.reason = {"ja": f"内部エラーで {MAX_ATTEMPTS} 回失敗しました（保存内容は変わっていません）: {text_ja}",
                                  "en": f"failed {MAX_ATTEMPTS} times with an internal error (nothing stored "
                                        f"changed): {text}"}
                self._record_rejected(outcome, self._finish(folder, outcome, REJECTED_DIR))
                self._refresh_report(outcome, update=True)
            return
        stages["scan"] = round(time.perf_counter() - step, 3)
        # The scan's own stages (ingest and validation, rules, persist); per-rule times stay in the scan summary.
        stages.update({f"scan:{k}": round(float(v), 3) for k, v in summary.seconds.items() if ":" not in k})
        outcome.status, outcome.scan_id = STATUS_DONE, summary.scan_id
        outcome.summary = _scan_summary(summary)
        outcome.messages = {
            "ja": f"走査 {summary.scan_id} を完了しました（対象月 {summary.period}、検出 {summary.total_findings:,} 件、"
                  f"新規 {summary.new_findings:,} 件、隔離した行 {summary.quarantined_rows:,}）。",
            "en": f"Scan {summary.scan_id} done (period {summary.period}, {summary.total_findings:,} findings, "
                  f"{summary.new_findings:,} new, {summary.quarantined_rows:,} rows quarantined)."}
        log.info("feed folder %s: scan %s done", folder.name, summary.scan_id,
                 extra={**extra, "event": "watch.scanned", "scan_id": summary.scan_id,
                        "findings": summary.total_findings, "seconds": stages["scan"]})
        # Stored before the report is refreshed, so the refreshed report lists this scan's outcome.
        self._record_done(outcome, None)
        self._refresh_report(outcome)
        self._record_done(outcome, self._finish(folder, outcome, DONE_DIR))

    def _duplicate(self, folder: Path, outcome: FolderOutcome, earlier: int) -> None:
        outcome.status, outcome.scan_id = STATUS_DUPLICATE, earlier
        outcome.messages = {
            "ja": f"同じ内容のフィードは走査 {earlier} で点検済みです。再走査せず done/ に移しました。",
            "en": f"The same content was already scanned (scan {earlier}); moved to done/ without a second scan."}
        log.info("feed folder %s already scanned as scan %s: not scanned again", folder.name, earlier,
                 extra={"event": "watch.duplicate", "folder": folder.name, "scan_id": earlier})
        self._record_redelivery(outcome, self._finish(folder, outcome, DONE_DIR))

    def _run_scan(self, folder: Path):
        if self._scan is not None:
            return self._scan(folder, settings=self.settings)
        import inspect

        from reconcile import service
        if "skip_if_scanned" in inspect.signature(service.scan).parameters:
            return service.scan(folder, settings=self.settings, skip_if_scanned=True)
        return service.scan(folder, settings=self.settings)

    def _rejected(self, folder: Path, outcome: FolderOutcome, exc: ReconcileError, ja: str, en: str) -> None:
        outcome.status = STATUS_REJECTED
        outcome.messages = {"ja": f"{ja}: {exc.text('ja')}", "en": f"{en}: {exc.text('en')}"}
        outcome.reason = {"ja": exc.text("ja"), "en": exc.text("en")}
        log.warning("feed folder %s rejected: %s", folder.name, exc.text("en"),
                    extra={"event": "watch.rejected", "folder": folder.name})
        self._record_rejected(outcome, self._finish(folder, outcome, REJECTED_DIR))
        # The week's report says a feed was refused and why (the stewards' manager reads it there).
        self._refresh_report(outcome, update=True)

    def _refresh_report(self, outcome: FolderOutcome, *, update: bool = False) -> None:
        """Rewrite the weekly report; ``update``: then store the report's time with the (already
        recorded, already moved) outcome and rewrite its ``_OUTCOME.json``."""
        if self.report_dir is None:
            return
        from reconcile import service
        step = time.perf_counter()
        try:
            files = service.weekly_report(out_dir=self.report_dir, lang=self.lang, settings=self.settings)
        except Exception as exc:  # noqa: BLE001 — the scan stands; the report is retried after the next scan
            log.error("weekly report not refreshed: %s", exc, exc_info=not isinstance(exc, ReconcileError),
                      extra={"event": "watch.report_failed", "folder": outcome.folder})
            outcome.messages["ja"] += f" 週次レポートは更新できませんでした: {exc}"
            outcome.messages["en"] += f" The weekly report was not refreshed: {exc}"
        else:
            outcome.messages["ja"] += f" 週次レポートを更新しました: {files[0]}"
            outcome.messages["en"] += f" Weekly report refreshed: {files[0]}"
        outcome.stages["report"] = round(time.perf_counter() - step, 3)
        if update and outcome.scan_id is not None and outcome.moved_to is not None:
            self._update_rejected(outcome)

    def _update_rejected(self, outcome: FolderOutcome) -> None:
        from reconcile import store
        with store.session_scope(self._engine()) as session:
            scan = session.get(store.Scan, outcome.scan_id)
            if scan is not None:
                scan.summary = {**(scan.summary or {}), "seconds": dict(outcome.stages),
                                "schedule": self._schedule_record(outcome)}
        (self.drop_dir / outcome.moved_to / OUTCOME).write_text(
            json.dumps(outcome.as_dict(), ensure_ascii=False, indent=2) + "\n", encoding="utf-8")

    def _finish(self, folder: Path, outcome: FolderOutcome, where: str) -> Path:
        """Write ``_OUTCOME.json`` into the folder, then move it (one rename) to done/ or rejected/."""
        step = time.perf_counter()
        target = _unique_target(self.drop_dir / where, folder.name)
        outcome.moved_to = str(Path(where) / target.name)
        outcome.finished_at = _iso()
        outcome.stages["move"] = 0.0
        (folder / OUTCOME).write_text(json.dumps(outcome.as_dict(), ensure_ascii=False, indent=2) + "\n",
                                      encoding="utf-8")
        os.replace(folder, target)
        outcome.stages["move"] = round(time.perf_counter() - step, 3)
        # Rewrite with the measured move time (the folder is in its final place now).
        (target / OUTCOME).write_text(json.dumps(outcome.as_dict(), ensure_ascii=False, indent=2) + "\n",
                                      encoding="utf-8")
        log.info("feed folder %s moved to %s (%s)", folder.name, outcome.moved_to, outcome.status,
                 extra={"event": f"watch.{outcome.status}", "folder": folder.name, "status": outcome.status,
                        "scan_id": outcome.scan_id, "stages": outcome.stages})
        return target

    # -- the store ----------------------------------------------------------------------------
    def _engine(self):
        if getattr(self, "_engine_obj", None) is None:
            from reconcile import service
            self._engine_obj = service.open_store(self.settings)
        return self._engine_obj

    def _scanned_before(self, fingerprint: str) -> int | None:
        import sqlalchemy as sa

        from reconcile import store
        with store.session_scope(self._engine()) as session:
            return session.scalar(
                sa.select(sa.func.max(store.Scan.id)).join(store.Feed, store.Feed.id == store.Scan.feed_id)
                .where(store.Feed.fingerprint == fingerprint, store.Scan.status == store.SCAN_DONE))

    def _schedule_record(self, outcome: FolderOutcome) -> dict[str, Any]:
        return {"source": "watch", "folder": outcome.folder, "outcome": outcome.status,
                "moved_to": outcome.moved_to, "stages": dict(outcome.stages), "messages": dict(outcome.messages),
                "reason": dict(outcome.reason) if outcome.reason else None,
                "retry_of": outcome.retry_of, "started_at": outcome.started_at, "finished_at": outcome.finished_at}

    def _record_done(self, outcome: FolderOutcome, moved: Path | None) -> None:
        """Add the outcome and stage timings to the scan's summary; point the feed at its new place
        (``moved`` None: not moved yet, the outcome so far)."""
        from reconcile import store
        with store.session_scope(self._engine()) as session:
            scan = session.get(store.Scan, outcome.scan_id)
            if scan is None:
                return
            scan.summary = {**(scan.summary or {}), "schedule": self._schedule_record(outcome)}
            feed = session.get(store.Feed, scan.feed_id) if moved is not None else None
            if feed is not None:
                feed.path = str(moved)

    def _record_redelivery(self, outcome: FolderOutcome, moved: Path) -> None:
        """A re-delivered folder is noted on the scan that already covered its content."""
        from reconcile import store
        with store.session_scope(self._engine()) as session:
            scan = session.get(store.Scan, outcome.scan_id)
            if scan is None:
                return
            summary = dict(scan.summary or {})
            schedule = dict(summary.get("schedule") or {"source": "watch"})
            schedule["redeliveries"] = [*schedule.get("redeliveries", []),
                                        {"folder": outcome.folder, "moved_to": outcome.moved_to,
                                         "at": outcome.finished_at, "retry_of": outcome.retry_of}][-50:]
            summary["schedule"] = schedule
            scan.summary = summary

    def _record_rejected(self, outcome: FolderOutcome, moved: Path) -> None:
        """A refused feed is a scan with status ``rejected`` (its summary says why)."""
        from reconcile import store
        manifest = _read_manifest(moved)
        as_of = _manifest_date(manifest) or _now().date()
        with store.session_scope(self._engine()) as session:
            existing = store.find_feed(session, outcome.fingerprint) if outcome.fingerprint else None
            feed_id = existing.id if existing is not None else store.add_feed(
                session, fingerprint=outcome.fingerprint or "", path=str(moved), as_of=as_of,
                period=manifest.get("period") if manifest else None, manifest=manifest or None,
                validation=None, row_counts=None)
            scan_id = store.start_scan(session, feed_id=feed_id, as_of=as_of)
            _record_insurers(session, scan_id, moved, manifest.get("period") if manifest else None)
            store.finish_scan(session, scan_id, status=store.SCAN_REJECTED,
                              summary={"feed": str(moved), "rejected": dict(outcome.messages),
                                       "seconds": dict(outcome.stages), "schedule": self._schedule_record(outcome)})
        outcome.scan_id = scan_id
        # The outcome file names the scan record too.
        (moved / OUTCOME).write_text(json.dumps(outcome.as_dict(), ensure_ascii=False, indent=2) + "\n",
                                           encoding="utf-8")


def _lock_busy(exc: Refused) -> bool:
    """True when the refusal only means another process is scanning the same insurer right now
    (:func:`reconcile.service.scan_lock` turns the store's ``LockHeld`` into ``Refused``)."""
    if type(exc).__name__ in ("ScanLocked", "ScanLockHeld", "LockHeld") or exc.details.get("lock"):
        return True
    try:
        from reconcile.store.locks import LockHeld
    except ImportError:  # pragma: no cover
        return False
    return isinstance(exc.__context__, LockHeld) or isinstance(exc.__cause__, LockHeld)


def _feed_insurers(folder: Path) -> dict[str, int]:
    """Members per insurer of a feed that could not be scanned (best effort: only the
    ``insurer_number`` column of members.csv / .parquet is read), so a rejected scan is visible
    to the stewards of its insurers."""
    import pandas as pd

    parquet, csv = folder / "members.parquet", folder / "members.csv"
    try:
        if parquet.is_file():
            import pyarrow.parquet as pq
            names = {n.strip().lower(): n for n in pq.read_schema(parquet).names}
            if "insurer_number" not in names:
                return {}
            column = pq.read_table(parquet, columns=[names["insurer_number"]]).column(0).to_pandas().astype(str)
        elif csv.is_file():
            # Insurer numbers are ASCII digits: latin-1 reads that column right in any of the feed encodings.
            frame = pd.read_csv(csv, dtype=str, encoding="latin-1", keep_default_na=False,
                                usecols=lambda c: c.replace("\u00ef\u00bb\u00bf", "").strip().strip('"').lower()
                                == "insurer_number")
            if frame.shape[1] != 1:
                return {}
            column = frame.iloc[:, 0]
        else:
            return {}
    except Exception:  # noqa: BLE001 — a broken file is why the feed was rejected; no insurers then
        return {}
    column = column.str.strip()
    column = column[column.str.fullmatch(r"\d{6,8}")]
    return {str(k): int(v) for k, v in column.value_counts().sort_index().items()}


def _record_insurers(session, scan_id: int, folder: Path, period: str | None) -> None:
    from reconcile import store
    members = _feed_insurers(folder)
    if members and hasattr(store, "save_scan_insurers"):
        store.save_scan_insurers(session, scan_id, members, period)


def _read_manifest(folder: Path | None) -> dict:
    if folder is None:
        return {}
    try:
        value = json.loads((folder / "manifest.json").read_text(encoding="utf-8-sig"))
    except (OSError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def _manifest_date(manifest: dict) -> date | None:
    try:
        return date.fromisoformat(str(manifest.get("as_of"))[:10]) if manifest.get("as_of") else None
    except ValueError:
        return None


def watch(drop_dir: str | Path, *, once: bool = False, poll: float = 60.0, settings: Settings | None = None,
          report_dir: str | Path | None = "report", lang: str = "ja",
          stop: threading.Event | None = None) -> list[FolderOutcome]:
    """``reconcile schedule watch``: one pass (``once``) or poll until ``stop``."""
    watcher = Watcher(drop_dir, settings=settings, report_dir=report_dir, lang=lang)
    if once:
        return watcher.tick()
    watcher.run(poll=poll, stop=stop)
    return []


# ----------------------------------------------------------------------------- the [schedule] table

#: Keys of each job kind: key → (required, type, default).
_COMMON = {"cron": (False, str, None), "every": (False, int, None), "name": (False, str, None)}
_KINDS: dict[str, dict[str, tuple[bool, type, Any]]] = {
    "watch": {"drop_dir": (True, str, None), "report_dir": (False, str, "report"), "lang": (False, str, "ja")},
    "weekly_report": {"out": (False, str, "report"), "lang": (False, str, "ja")},
    "export": {"what": (True, str, None), "out": (True, str, None), "encoding": (False, str, None),
               "period": (False, str, "previous"), "lang": (False, str, "ja")},
}
_TOP = {"timezone": str, "state_dir": str, "watch": list, "weekly_report": (dict, list),
        "export": list}
EXPORTS = ("findings", "quarantine", "national", "kakuninsho")
DEFAULT_WATCH_EVERY = 60


@dataclass
class Job:
    """One scheduled job: ``kind`` (watch, weekly_report, export), its trigger and parameters."""
    name: str
    kind: str
    cron: str | None
    every: int | None
    params: dict[str, Any]

    def trigger(self, timezone_name: str):
        from apscheduler.triggers.cron import CronTrigger
        from apscheduler.triggers.interval import IntervalTrigger
        if self.cron:
            return CronTrigger.from_crontab(self.cron, timezone=timezone_name)
        return IntervalTrigger(seconds=self.every, timezone=timezone_name)


@dataclass
class ScheduleConfig:
    timezone: str = "Asia/Tokyo"
    state_dir: Path = Path(".reconcile-schedule")
    jobs: list[Job] = field(default_factory=list)


def _bad(key: str, ja: str, en: str, value: Any = None) -> InvalidInput:
    import reconcile.config as config
    error = getattr(config, "ConfigKeyError", InvalidInput)  # the config file's key error (an InvalidInput)
    return error(f"schedule.{key}: {ja}", f"schedule.{key}: {en}", field=f"schedule.{key}", value=value)


def parse_schedule(table: dict[str, Any] | None) -> ScheduleConfig:
    """Validate the ``[schedule]`` table; an unknown key, a missing one or a bad value is
    :class:`~reconcile.errors.InvalidInput` naming it (``schedule.watch[0].drop_dir`` …)."""
    table = dict(table or {})
    config = ScheduleConfig()
    for key, value in table.items():
        if key not in _TOP:
            raise _bad(key, "未知のキーです（使えるキー: " + ", ".join(_TOP) + "）",
                       "unknown key (known: " + ", ".join(_TOP) + ")", key)
        expected = _TOP[key]
        if not isinstance(value, expected) or isinstance(value, bool):
            raise _bad(key, f"値 {value!r} の型が違います", f"value {value!r} has the wrong type", value)
    if "timezone" in table:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError
        try:
            ZoneInfo(table["timezone"])
        except (ZoneInfoNotFoundError, ValueError):
            raise _bad("timezone", f"タイムゾーン {table['timezone']!r} がありません",
                       f"unknown time zone {table['timezone']!r}", table["timezone"]) from None
        config.timezone = table["timezone"]
    if "state_dir" in table:
        config.state_dir = Path(table["state_dir"])
    names: set[str] = set()
    for kind in _KINDS:
        entries = table.get(kind, [])
        entries = [entries] if isinstance(entries, dict) else entries
        for index, entry in enumerate(entries):
            where = f"{kind}[{index}]" if kind != "weekly_report" or len(entries) > 1 else kind
            job = _parse_job(kind, where, entry, config.timezone)
            if job.name in names:
                raise _bad(f"{where}.name", f"ジョブ名 {job.name!r} が重複しています", f"duplicate job name {job.name!r}")
            names.add(job.name)
            config.jobs.append(job)
    return config


def _parse_job(kind: str, where: str, entry: Any, timezone_name: str) -> Job:
    if not isinstance(entry, dict):
        raise _bad(where, "表（テーブル）で書いてください", "must be a table", entry)
    allowed = {**_COMMON, **_KINDS[kind]}
    params: dict[str, Any] = {}
    for key, value in entry.items():
        if key not in allowed:
            raise _bad(f"{where}.{key}", "未知のキーです（使えるキー: " + ", ".join(allowed) + "）",
                       "unknown key (known: " + ", ".join(allowed) + ")", key)
        _, kind_type, _ = allowed[key]
        if not isinstance(value, kind_type) or isinstance(value, bool):
            raise _bad(f"{where}.{key}", f"値 {value!r} の型が違います（{kind_type.__name__}）",
                       f"value {value!r} should be a {kind_type.__name__}", value)
    for key, (required, _, default) in allowed.items():
        if key in _COMMON:
            continue
        if key not in entry and required:
            raise _bad(f"{where}.{key}", "必須のキーがありません", "required key missing")
        params[key] = entry.get(key, default)
    cron, every = entry.get("cron"), entry.get("every")
    if cron and every:
        raise _bad(where, "cron と every はどちらか一方だけ書いてください", "give cron or every, not both")
    if not cron and not every:
        if kind != "watch":
            raise _bad(f"{where}.cron", "cron（例 \"0 7 * * mon\"）が必要です", 'cron (e.g. "0 7 * * mon") is required')
        every = DEFAULT_WATCH_EVERY
    if every is not None and every < 1:
        raise _bad(f"{where}.every", "1 秒以上にしてください", "must be at least 1 second", every)
    if params.get("lang") not in (None, "ja", "en"):
        raise _bad(f"{where}.lang", "ja か en です", "ja or en", params["lang"])
    if kind == "export":
        if params["what"] not in EXPORTS:
            raise _bad(f"{where}.what", "findings, quarantine, national, kakuninsho のどれかです",
                       "one of " + ", ".join(EXPORTS), params["what"])
        if params["encoding"] not in (None, "utf-8", "cp932", "utf-8-sig"):
            raise _bad(f"{where}.encoding", "utf-8, utf-8-sig, cp932 のどれかです", "utf-8, utf-8-sig or cp932",
                       params["encoding"])
        period = params["period"]
        if period != "previous" and not _is_month(period):
            raise _bad(f"{where}.period", "\"previous\"（前月）か YYYY-MM です", '"previous" (last month) or YYYY-MM',
                       period)
    job = Job(name=entry.get("name") or (f"{kind}:{params.get('drop_dir') or params.get('what') or params.get('out')}"),
              kind=kind, cron=cron, every=every, params=params)
    if cron:
        try:
            job.trigger(timezone_name)
        except ValueError as exc:
            raise _bad(f"{where}.cron", f"cron 式 {cron!r} を解釈できません: {exc}",
                       f"cannot parse cron expression {cron!r}: {exc}", cron) from None
    return job


def _validate_section(table: dict[str, Any]) -> None:
    parse_schedule(table)


# Every command that reads reconcile.toml checks [schedule] too (an unknown key is an error naming it).
import reconcile.config as _config  # noqa: E402

_config.SECTION_VALIDATORS.setdefault("schedule", _validate_section)


def _is_month(value: str) -> bool:
    try:
        datetime.strptime(value, "%Y-%m")
    except ValueError:
        return False
    return len(value) == 7


def _previous_month(today: date) -> str:
    year, month = (today.year, today.month - 1) if today.month > 1 else (today.year - 1, 12)
    return f"{year}-{month:02d}"


def load_schedule(config_file: str | Path | None = None) -> tuple[ScheduleConfig, Settings]:
    """The ``[schedule]`` table of ``config_file`` (default: the configured ``reconcile.toml``)."""
    if config_file is not None:
        os.environ["RECONCILE_CONFIG"] = str(config_file)
    settings = get_settings()
    path = Path(settings.config_path)
    if not path.is_file():
        raise InvalidInput(f"設定ファイル {path} がありません", f"config file {path} not found",
                           field="--config", value=str(path))
    table = settings.schedule
    if not table:
        raise InvalidInput(f"{settings.config_path} に [schedule] がありません",
                           f"no [schedule] table in {settings.config_path}", field="schedule")
    config = parse_schedule(table)
    if not config.state_dir.is_absolute():
        config.state_dir = Path(settings.config_path).resolve().parent / config.state_dir
    return config, settings


# ----------------------------------------------------------------------------- the job runner

class JobRunner:
    """Runs the jobs of a :class:`ScheduleConfig`; remembers each run in ``state_dir/<job>.json``.

    A run writes ``{"status": "running", "pid", "host", "started_at"}`` first and ``done`` /
    ``failed`` at the end. A run that finds ``running`` by a process that is gone, or ``failed``,
    logs that it retries the crashed / failed run (``job.retry``) and names it in the new state's
    ``retry_of``."""

    def __init__(self, config: ScheduleConfig, settings: Settings):
        self.config = config
        self.settings = settings
        self.config.state_dir.mkdir(parents=True, exist_ok=True)
        self._locks: dict[str, threading.Lock] = {}

    def _state_path(self, job: Job) -> Path:
        safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in job.name)
        return self.config.state_dir / f"{safe}.json"

    def state(self, job: Job) -> dict:
        try:
            return json.loads(self._state_path(job).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}

    def _write_state(self, job: Job, state: dict) -> None:
        path = self._state_path(job)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(state, ensure_ascii=False, default=str), encoding="utf-8")
        os.replace(tmp, path)

    def run_job(self, job: Job) -> dict:
        """Run one job now; never raises (the failure is logged and stored for the next tick)."""
        lock = self._locks.setdefault(job.name, threading.Lock())
        if not lock.acquire(blocking=False):
            log.info("job %s is still running: this tick skipped", job.name,
                     extra={"event": "job.skipped", "job": job.name})
            return {"status": "skipped"}
        try:
            return self._run_job(job)
        finally:
            lock.release()

    def _run_job(self, job: Job) -> dict:
        previous = self.state(job)
        last = _last_run(previous)
        if last == "live":
            log.info("job %s is still running in process %s: this tick skipped", job.name, previous.get("pid"),
                     extra={"event": "job.skipped", "job": job.name})
            return {"status": "skipped"}
        retry_of = None
        if last in ("crashed", "failed"):
            retry_of = {k: previous.get(k) for k in ("status", "pid", "started_at", "error") if previous.get(k)}
            why = previous.get("error") or f"process {previous.get('pid')} ended without finishing"
            log.warning("job %s: retrying the run started %s that %s (%s)", job.name, previous.get("started_at"),
                        last, why, extra={"event": "job.retry", "job": job.name, "retry_of": retry_of})
        state = {"job": job.name, "kind": job.kind, "status": "running", "pid": os.getpid(),
                 "host": socket.gethostname(), "started_at": _iso(), "retry_of": retry_of}
        self._write_state(job, state)
        started = time.perf_counter()
        try:
            result = self._execute(job)
        except Exception as exc:  # noqa: BLE001 — a job failure must not stop the scheduler
            text = exc.text("en") if isinstance(exc, ReconcileError) else f"{type(exc).__name__}: {exc}"
            log.error("job %s failed; retried on its next tick: %s", job.name, text,
                      exc_info=not isinstance(exc, ReconcileError),
                      extra={"event": "job.failed", "job": job.name})
            state.update(status="failed", error=text[:500], finished_at=_iso(),
                         seconds=round(time.perf_counter() - started, 3))
        else:
            state.update(status="done", finished_at=_iso(), seconds=round(time.perf_counter() - started, 3),
                         result=result)
            log.info("job %s done in %.1f s", job.name, state["seconds"],
                     extra={"event": "job.done", "job": job.name, "seconds": state["seconds"], "result": result})
        self._write_state(job, state)
        return state

    def _execute(self, job: Job) -> Any:
        from reconcile import service
        params = job.params
        if job.kind == "watch":
            outcomes = Watcher(params["drop_dir"], settings=self.settings, report_dir=params["report_dir"],
                               lang=params["lang"]).tick()
            failed = [o for o in outcomes if o.status == STATUS_FAILED]
            result = {"folders": {o.folder: o.status for o in outcomes}}
            if failed:
                raise ReconcileError(
                    "フォルダの走査に失敗しました: " + ", ".join(o.folder for o in failed),
                    "scan of folder(s) failed: " + "; ".join(f"{o.folder}: {o.messages.get('en')}" for o in failed))
            return result
        if job.kind == "weekly_report":
            files = service.weekly_report(out_dir=params["out"], lang=params["lang"], settings=self.settings)
            return {"report": str(files[0])}
        today = datetime.now(_zone(self.config.timezone)).date()
        period = _previous_month(today) if params["period"] == "previous" else params["period"]
        out = Path(params["out"].format(date=today.isoformat(), period=period))
        out.parent.mkdir(parents=True, exist_ok=True)
        what, kwargs = params["what"], {"settings": self.settings}
        if params["encoding"] and what in ("findings", "kakuninsho", "national"):
            kwargs["encoding"] = params["encoding"]
        if what == "findings":
            written = service.export_findings(out, lang=params["lang"], **kwargs)
        elif what == "quarantine":
            written = service.export_quarantine(out, **kwargs)
        elif what == "national":
            written = service.export_national(out, period=period, lang=params["lang"], **kwargs)
        else:
            written = service.export_kakuninsho(out, **kwargs)
        if isinstance(written, tuple):      # (path, rows)
            path, count = written
        else:                               # reconcile.exports.NationalExport
            path, count = written.path, written.rows
        return {"out": str(path), "rows": int(count)}

    def scheduler(self):
        """A BackgroundScheduler with every job (one run at a time each, missed runs coalesced)."""
        from apscheduler.executors.pool import ThreadPoolExecutor
        from apscheduler.schedulers.background import BackgroundScheduler

        scheduler = BackgroundScheduler(timezone=self.config.timezone,
                                        executors={"default": ThreadPoolExecutor(max(2, len(self.config.jobs)))},
                                        job_defaults={"coalesce": True, "max_instances": 1,
                                                      "misfire_grace_time": 3600})
        for job in self.config.jobs:
            scheduler.add_job(self.run_job, job.trigger(self.config.timezone), args=[job], id=job.name,
                              name=job.name)
            if self._needs_retry(job):
                # The last run crashed or failed: the first tick is now, not the next cron time.
                scheduler.add_job(self.run_job, "date", args=[job], id=f"{job.name}#retry",
                                  name=f"{job.name} (retry)")
        return scheduler

    def _needs_retry(self, job: Job) -> bool:
        return _last_run(self.state(job)) in ("crashed", "failed")

    def run_forever(self, stop: threading.Event | None = None) -> None:
        stop = stop or threading.Event()
        scheduler = self.scheduler()
        scheduler.start()
        for job in scheduler.get_jobs():
            log.info("job %s scheduled, next run %s", job.name, job.next_run_time,
                     extra={"event": "job.scheduled", "job": job.name, "next_run": str(job.next_run_time)})
        try:
            while not stop.wait(1.0):
                pass
        finally:
            scheduler.shutdown(wait=False)


def _last_run(state: dict) -> str | None:
    """``live`` (running in a process that exists), ``crashed`` (running, process gone), ``failed``,
    ``done`` or None (never ran)."""
    status = state.get("status")
    if status != "running":
        return status
    pid = state.get("pid")
    if state.get("host") != socket.gethostname():
        return "live"  # another machine's run: cannot tell, leave it
    if isinstance(pid, int) and (pid == os.getpid() or _pid_alive(pid)):
        return "live"
    return "crashed"


def _zone(name: str):
    from zoneinfo import ZoneInfo
    return ZoneInfo(name)


# ----------------------------------------------------------------------------- operator's checks (doctor)

#: ``reconcile doctor`` reports a folder the product writes to as NG below this much free space
#: (a 1M-member feed, its copy in done/, the SQLite store and the report need a few GB).
MIN_FREE_BYTES = 2 * 1024 ** 3


def doctor_checks(settings: Settings) -> list[tuple[bool, str, str]]:
    """The operator's checks ``reconcile doctor`` adds: the [schedule] table and its folders, free
    disk where the product writes, the chart font. Each is ``(ok, japanese, english)``."""
    from sqlalchemy.engine import make_url

    checks: list[tuple[bool, str, str]] = []
    places: dict[Path, str] = {Path.cwd(): "作業フォルダ / working directory"}
    try:
        url = make_url(settings.database_url)
        if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
            places[Path(url.database).resolve().parent] = "データベース / database"
    except Exception:  # noqa: BLE001 — a bad URL is the database check's to report
        pass
    if settings.schedule:
        try:
            config = parse_schedule(settings.schedule)
        except ReconcileError as exc:
            checks.append((False, f"[schedule]: {exc.text('ja')}", f"[schedule]: {exc.text('en')}"))
        else:
            kinds = ", ".join(f"{job.name}" for job in config.jobs) or "-"
            checks.append((True, f"[schedule]: ジョブ {len(config.jobs)} 件（{kinds}）",
                           f"[schedule]: {len(config.jobs)} job(s) ({kinds})"))
            for job in config.jobs:
                if job.kind == "watch":
                    drop_dir = Path(job.params["drop_dir"])
                    checks.append((drop_dir.is_dir(), f"受付フォルダ {drop_dir}: {'あり' if drop_dir.is_dir() else 'ありません'}",
                                   f"drop folder {drop_dir}: {'present' if drop_dir.is_dir() else 'missing'}"))
                    if drop_dir.is_dir():
                        places[drop_dir.resolve()] = "受付フォルダ / drop folder"
    by_device: dict[Any, list[tuple[Path, str]]] = {}
    for place, what in places.items():
        try:
            device = place.stat().st_dev
        except OSError:
            device = place
        by_device.setdefault(device, []).append((place, what))
    for group in by_device.values():
        place = group[0][0]
        ja_what = "・".join(dict.fromkeys(w.split(" / ")[0] for _, w in group))
        en_what = ", ".join(dict.fromkeys(w.split(" / ")[1] for _, w in group))
        try:
            usage = shutil.disk_usage(place)
        except OSError as exc:
            checks.append((False, f"空き容量 {place}: 調べられません ({exc})", f"free disk at {place}: unknown ({exc})"))
            continue
        ok = usage.free >= MIN_FREE_BYTES
        gib, need = usage.free / 1024 ** 3, MIN_FREE_BYTES / 1024 ** 3
        checks.append((ok, f"空き容量 {place}（{ja_what}）: {gib:.1f} GiB" + ("" if ok else f"（{need:.0f} GiB 以上必要）"),
                       f"free disk at {place} ({en_what}): {gib:.1f} GiB" + ("" if ok else f" ({need:.0f} GiB needed)")))
    try:
        from reports.charts import japanese_font
        font = japanese_font()
    except Exception as exc:  # noqa: BLE001 — doctor reports, never crashes
        font, error = None, f"{type(exc).__name__}: {exc}"
    else:
        error = None
    checks.append((font is not None,
                   f"グラフの日本語フォント: {font}" if font else
                   f"グラフの日本語フォント: ありません（図のラベルは英字になります。pip install matplotlib-fontja か "
                   f"apt-get install fonts-noto-cjk）{error or ''}",
                   f"chart font (Japanese): {font}" if font else
                   f"chart font (Japanese): none (charts fall back to ASCII labels; pip install matplotlib-fontja or "
                   f"apt-get install fonts-noto-cjk) {error or ''}"))
    return checks
