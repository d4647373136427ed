"""リポジトリ関数 / Repository functions: everything the pipeline, CLI and API do with the store.

Every function takes a :class:`~sqlalchemy.orm.Session` and **never commits**: the caller owns
the transaction (``with session_scope(engine) as session: ...``). Bulk paths build no ORM
object per row: :func:`merge_findings` stages the frame in a temporary table (COPY on
PostgreSQL, chunked executemany on SQLite) and merges with set-based INSERT … SELECT /
UPDATE … FROM; quarantine and statistics are bulk-inserted the same way.

Feeds and scans
    ``find_feed(session, fingerprint) -> Feed | None`` (the newest feed with that fingerprint)
    ``add_feed(session, *, fingerprint, path, as_of, period, manifest, validation, row_counts) -> feed_id``
    ``start_scan(session, *, feed_id, as_of) -> scan_id``  (status ``running``)
    ``finish_scan(session, scan_id, *, status, summary)``   status ``done`` | ``failed`` | ``rejected``
    ``latest_scan_id(session) -> int | None``               newest scan with status ``done``
    ``list_scans(session, limit=None) -> list[dict]``       newest first, with finding counts

Findings and work queues
    ``merge_findings(session, scan_id, findings, *, rules_run=None, insurer_numbers=None,
    close_missing=True) -> MergeResult`` — see its docstring for carry-forward and closing.
    ``findings_frame(session, scan_id=None, lang="ja") -> DataFrame`` (export column order)
    ``list_work_items(session, queue=None, status=None, insurer_numbers=None, *, rule_id=None,
    assignee=None, limit=100, offset=0) -> list[dict]``; ``count_work_items(...)``;
    ``queue_counts(session, insurer_numbers=None) -> {queue: {status: n}}``;
    ``get_work_item(session, finding_id) -> dict | None`` (with its events);
    ``events_frame(session, *, since=None, insurer_numbers=None) -> DataFrame`` (audit trail);
    ``transition(session, finding_id, to_status, actor, note=None) -> dict``;
    ``assign(session, finding_id, assignee, actor, note=None) -> dict``

Quarantine and feed statistics
    ``save_quarantine(session, scan_id, frame) -> int`` (file, line, column, value, reason)
    ``quarantine_frame(session, scan_id=None) -> DataFrame``
    ``save_feed_stats(session, scan_id, frame) -> int`` (insurer_number, statistic, value)
    ``load_feed_history(session, insurer_numbers=None, *, exclude_fingerprint=None,
    before_as_of=None) -> DataFrame`` (scan_id, as_of, period, insurer_number, statistic, value,
    fingerprint)

Users (for the API)
    ``add_user(session, *, name, role, token_hash, insurer_scope=None) -> user_id``;
    ``find_user_by_token_hash(session, token_hash) -> User | None``; ``list_users(session)``

Scoping: ``insurer_numbers=None`` means every insurer; a list restricts to those insurers
(work items without an insurer, e.g. feed-wide findings, are then left out).
"""
from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta, timezone
from typing import Any, Iterable, Iterator, Sequence

import numpy as np
import pandas as pd
import pyarrow as pa
import sqlalchemy as sa
from sqlalchemy.orm import Session

from detectors.engine import FINDING_COLUMNS, json_default
from detectors.registry import SEVERITIES
from reconcile import queues
from reconcile.exports import FINDINGS_EXPORT_COLUMNS, QUARANTINE_EXPORT_COLUMNS
from reconcile.privacy import mask_number
from reconcile.store.models import (ROLES, Event, Feed, FeedStat, Finding, QuarantineRow, Scan,
                                    ScanFinding, ScanInsurer, StoreMeta, User, WorkItem)

SCAN_RUNNING = "running"
SCAN_DONE = "done"
SCAN_FAILED = "failed"
SCAN_REJECTED = "rejected"
SCAN_FINAL_STATUSES = (SCAN_DONE, SCAN_FAILED, SCAN_REJECTED)

#: Rows per executemany / IN (...) chunk: well under SQLite's 32,766 and PostgreSQL's 65,535
#: bound parameters per statement.
CHUNK = 5000

_FINDINGS = Finding.__table__
_SCAN_FINDINGS = ScanFinding.__table__
_WORK_ITEMS = WorkItem.__table__
_EVENTS = Event.__table__
_QUARANTINE = QuarantineRow.__table__
_FEED_STATS = FeedStat.__table__

_SEVERITY_RANK = {s: i for i, s in enumerate(SEVERITIES)}
_STRING_FINDING_COLUMNS = ("finding_id", "rule_id", "category", "severity", "insurer_number", "member_id",
                           "summary_ja", "summary_en", "evidence", "suggested_resident_id",
                           "suggested_individual_number_last4", "facts")


# --- small helpers -----------------------------------------------------------------------------

def _now() -> datetime:
    return datetime.now(timezone.utc)


def _chunks(seq: Sequence, size: int = CHUNK) -> Iterator[Sequence]:
    for start in range(0, len(seq), size):
        yield seq[start:start + size]


def _to_date(value: Any) -> date | None:
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return pd.Timestamp(value).date()


def _jsonable(value: Any) -> Any:
    """Plain JSON values (numpy scalars, timestamps, tuples, NaN → None) for sa.JSON columns."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_jsonable(v) for v in value]
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return None if math.isnan(value) else value
    return _jsonable(json_default(value))


def _py_strings(series: pd.Series) -> list:
    """A column as Python ``str`` values, NA as None (what every DB driver accepts)."""
    arrow = getattr(series.array, "_pa_array", None)
    if arrow is not None and (pa.types.is_string(arrow.type) or pa.types.is_large_string(arrow.type)):
        return arrow.to_pylist()                   # Arrow-backed strings: nulls are None already
    notna = series.notna()
    return series.astype("string").astype(object).where(notna, None).tolist()


def _py_floats(series: pd.Series) -> list:
    values = pd.to_numeric(series, errors="coerce").astype("float64")
    return values.astype(object).where(values.notna(), None).tolist()


def _py_ints(series: pd.Series) -> list:
    values = pd.to_numeric(series, errors="coerce").astype("Int64")
    return values.astype(object).where(values.notna(), None).tolist()


def _bulk_insert(session: Session, table: sa.Table, columns: dict[str, list]) -> int:
    """Insert column lists into ``table``: COPY on PostgreSQL, one streamed executemany on SQLite.

    Bypasses SQLAlchemy's per-row parameter processing (the slow part at 100k rows); values
    must already be plain Python (str, int, float, None) — see ``_py_strings`` and friends.
    """
    names = list(columns)
    connection = session.connection()
    if connection.dialect.name != "postgresql":
        # Apply the column types' own conversions (e.g. DateTime → SQLAlchemy's SQLite text form).
        for name in names:
            process = table.c[name].type.dialect_impl(connection.dialect).bind_processor(connection.dialect)
            if process is not None:
                columns[name] = [process(v) for v in columns[name]]
    count = len(next(iter(columns.values()), ()))
    if not count:
        return 0
    rows = zip(*columns.values())                 # streamed: no list of row tuples is built
    quoted = ", ".join(connection.dialect.identifier_preparer.quote(n) for n in names)
    if connection.dialect.name == "postgresql":
        with connection.connection.driver_connection.cursor() as cursor:
            with cursor.copy(f"COPY {table.name} ({quoted}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
    else:
        # One executemany on the session's own DBAPI connection (same transaction): sqlite3 binds
        # row by row, so no parameter limit applies and SQLAlchemy's per-chunk handling is skipped.
        marks = ", ".join("?" for _ in names)
        statement = f"INSERT INTO {table.name} ({quoted}) VALUES ({marks})"
        dbapi = connection.dialect.dbapi
        cursor = connection.connection.driver_connection.cursor()
        try:
            cursor.executemany(statement, rows)
        except dbapi.Error as exc:      # as SQLAlchemy would raise it (e.g. OperationalError: disk full)
            raise sa.exc.DBAPIError.instance(statement, None, exc, dbapi.Error) from exc
        finally:
            cursor.close()
    return count


def _frame(rows: Sequence[Sequence], columns: list[str]) -> pd.DataFrame:
    """A frame from result rows, built column-wise (pandas probes Row objects slowly)."""
    if not rows:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in columns})
    return pd.DataFrame(dict(zip(columns, (list(col) for col in zip(*rows)))))


def _insurer_filter(column, insurer_numbers: Iterable[str] | None):
    if insurer_numbers is None:
        return sa.true()
    return column.in_([str(i) for i in insurer_numbers])


def _as_list(value: str | Iterable[str] | None) -> list[str] | None:
    if value is None:
        return None
    return [value] if isinstance(value, str) else list(value)


# --- feeds and scans ---------------------------------------------------------------------------

def find_feed(session: Session, fingerprint: str) -> Feed | None:
    """The newest stored feed with this content fingerprint, or None / 同一内容のフィード."""
    return session.scalars(sa.select(Feed).where(Feed.fingerprint == fingerprint)
                           .order_by(Feed.id.desc()).limit(1)).first()


def add_feed(session: Session, *, fingerprint: str, path: str | None, as_of: Any, period: str | None,
             manifest: dict | None, validation: dict | None, row_counts: dict | None) -> int:
    """Record a received feed and return its id / 受信フィードを登録."""
    feed = Feed(fingerprint=fingerprint, path=None if path is None else str(path), as_of=_to_date(as_of),
                period=period, manifest=_jsonable(manifest), validation=_jsonable(validation),
                row_counts=_jsonable(row_counts), received_at=_now())
    session.add(feed)
    session.flush()
    return feed.id


def ensure_feed(session: Session, *, fingerprint: str, path: str | None, as_of: Any, period: str | None,
                manifest: dict | None, validation: dict | None, row_counts: dict | None) -> tuple[int, bool]:
    """The feed row of this fingerprint, inserted if absent — race-safe: two concurrent scans of
    one feed both end with the same row (``INSERT … ON CONFLICT DO NOTHING`` on the unique
    fingerprint, then a read). Returns ``(feed_id, existed)``."""
    existing = find_feed(session, fingerprint)
    if existing is not None:
        return existing.id, True
    dialect = session.connection().dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as dialect_insert
    else:
        from sqlalchemy.dialects.sqlite import insert as dialect_insert
    values = dict(fingerprint=fingerprint, path=None if path is None else str(path), as_of=_to_date(as_of),
                  period=period, manifest=_jsonable(manifest), validation=_jsonable(validation),
                  row_counts=_jsonable(row_counts), received_at=_now())
    inserted = session.execute(dialect_insert(Feed.__table__).values(**values)
                               .on_conflict_do_nothing(index_elements=["fingerprint"])
                               .returning(Feed.__table__.c.id)).scalar()
    if inserted is not None:
        return int(inserted), False
    feed_id = session.scalar(sa.select(Feed.id).where(Feed.fingerprint == fingerprint))
    return int(feed_id), True


def start_scan(session: Session, *, feed_id: int, as_of: Any) -> int:
    """Open a scan of ``feed_id`` (status ``running``) and return its id / スキャン開始."""
    scan = Scan(feed_id=feed_id, as_of=_to_date(as_of), started_at=_now(), status=SCAN_RUNNING)
    session.add(scan)
    session.flush()
    return scan.id


def finish_scan(session: Session, scan_id: int, *, status: str, summary: dict | None) -> None:
    """Close a scan with ``done`` / ``failed`` / ``rejected`` and its summary (skipped rules, timings)."""
    if status not in SCAN_FINAL_STATUSES:
        raise ValueError(f"scan status {status!r}; expected one of {', '.join(SCAN_FINAL_STATUSES)}")
    result = session.execute(sa.update(Scan).where(Scan.id == scan_id)
                             .values(status=status, summary=_jsonable(summary), finished_at=_now()))
    if result.rowcount != 1:
        raise LookupError(f"no scan {scan_id}")


def save_scan_insurers(session: Session, scan_id: int, members: dict[str, int], period: str | None) -> None:
    """Record the insurers a scan covered with their member counts and the feed's period."""
    rows = [{"scan_id": scan_id, "insurer_number": str(i), "period": period, "members": int(n)}
            for i, n in sorted(members.items())]
    if rows:
        session.execute(sa.insert(ScanInsurer.__table__), rows)


def previous_feeds(session: Session, insurer_numbers: Iterable[str], *,
                   exclude_fingerprint: str | None = None) -> dict[str, dict]:
    """Per insurer, what earlier finished scans say: ``latest_period`` (the newest reporting
    period scanned), and of the latest scan of another feed ``members``, ``period``, ``scan_id``.
    Insurers never scanned are absent."""
    SI = ScanInsurer.__table__
    stmt = (sa.select(SI.c.insurer_number, SI.c.scan_id, SI.c.period, SI.c.members, Feed.fingerprint)
            .join(Scan, Scan.id == SI.c.scan_id).join(Feed, Feed.id == Scan.feed_id)
            .where(Scan.status == SCAN_DONE, SI.c.insurer_number.in_([str(i) for i in insurer_numbers]))
            .order_by(SI.c.scan_id))
    out: dict[str, dict] = {}
    for insurer, scan_id, period, members, fingerprint in session.execute(stmt):
        entry = out.setdefault(insurer, {"latest_period": None, "members": None, "period": None, "scan_id": None})
        if period is not None and (entry["latest_period"] is None or period > entry["latest_period"]):
            entry["latest_period"] = period
        if fingerprint != exclude_fingerprint:
            entry.update(members=int(members), period=period, scan_id=int(scan_id))
    return out


# --- store-wide facts --------------------------------------------------------------------------

def get_meta(session: Session, key: str) -> str | None:
    """A store-wide fact (``store_meta``), e.g. ``key_fingerprint``."""
    return session.scalar(sa.select(StoreMeta.value).where(StoreMeta.key == key))


def set_meta(session: Session, key: str, value: str | None) -> None:
    """Set a store-wide fact (insert or update)."""
    updated = session.execute(sa.update(StoreMeta).where(StoreMeta.key == key)
                              .values(value=value, updated_at=_now())).rowcount
    if not updated:
        session.execute(sa.insert(StoreMeta.__table__).values(key=key, value=value, updated_at=_now()))


def latest_scan_id(session: Session) -> int | None:
    """The newest scan that finished ``done`` / 最新の完了スキャン."""
    return session.scalar(sa.select(sa.func.max(Scan.id)).where(Scan.status == SCAN_DONE))


def list_scans(session: Session, limit: int | None = None) -> list[dict]:
    """Scans, newest first, with their feed and the number of findings each raised."""
    counts = (sa.select(ScanFinding.scan_id, sa.func.count().label("n"))
              .group_by(ScanFinding.scan_id).subquery())
    stmt = (sa.select(Scan.id, Scan.feed_id, Feed.fingerprint, Feed.path, Scan.as_of, Feed.period,
                      Scan.started_at, Scan.finished_at, Scan.status, Scan.summary,
                      sa.func.coalesce(counts.c.n, 0))
            .join(Feed, Feed.id == Scan.feed_id)
            .outerjoin(counts, counts.c.scan_id == Scan.id)
            .order_by(Scan.id.desc()))
    if limit is not None:
        stmt = stmt.limit(limit)
    keys = ("scan_id", "feed_id", "fingerprint", "path", "as_of", "period", "started_at",
            "finished_at", "status", "summary", "findings")
    return [dict(zip(keys, row)) for row in session.execute(stmt)]


def scan_exists(session: Session, scan_id: int) -> bool:
    return session.scalar(sa.select(sa.func.count()).select_from(Scan).where(Scan.id == scan_id)) == 1


def _resolve_scan(session: Session, scan_id: int | None) -> int | None:
    return latest_scan_id(session) if scan_id is None else scan_id


# --- findings ----------------------------------------------------------------------------------

@dataclass
class MergeResult:
    """What :func:`merge_findings` did / 統合結果 (the scan summary's queue counts)."""
    total: int = 0                 # distinct findings in this scan
    new: int = 0                   # first seen now: finding + open work item created
    seen_again: int = 0            # already known (kept their work item)
    carried: int = 0               # seen again and not reopened: the item goes on as it was
    reopened: int = 0              # resolved_fixed / closed_not_seen seen again → open, plus new
                                   # items whose member + rule had a suppressed verdict (facts changed)
    kept_resolved: int = 0         # seen again, steward's resolved verdict carried forward
    closed_not_seen: int = 0       # open, not raised any more → closed_not_seen (event)
    not_seen_in_progress: int = 0  # in progress, not raised any more: stays with its steward, marked
    kept_quarantined: int = 0      # would have closed, but the member's row was quarantined
    kept_absent: int = 0           # would have closed, but the member is absent from a truncated feed
    linked_previous: int = 0       # new items linking an earlier verdict (previous_finding_id)
    new_by_queue: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _prepare_findings(findings: pd.DataFrame) -> pd.DataFrame:
    required = ("finding_id", "rule_id", "category", "severity")
    missing = [c for c in required if c not in findings.columns]
    if missing:
        raise ValueError(f"findings frame lacks column(s): {', '.join(missing)}")
    frame = findings.drop_duplicates("finding_id", keep="first").reset_index(drop=True)
    frame = frame.assign(**{c: None for c in FINDING_COLUMNS if c not in frame.columns})
    ids = frame["finding_id"].astype("string")
    bad_ids = ~ids.str.fullmatch(r"[0-9a-f]{24}").fillna(False).astype(bool)
    if bad_ids.any():
        raise ValueError(f"finding_id must be 24 lowercase hex characters: {ids[bad_ids].iloc[0]!r}")
    bad_sev = ~frame["severity"].isin(SEVERITIES)
    if bad_sev.any():
        raise ValueError(f"severity {frame['severity'][bad_sev].iloc[0]!r}; expected one of {SEVERITIES}")
    if frame["evidence"].dtype == object:   # dicts from a caller that did not serialise them
        from detectors.engine import to_json
        frame["evidence"] = frame["evidence"].map(
            lambda v: v if v is None or isinstance(v, str) else to_json(v))
    return frame


# The frame's keys are staged in a temporary table (COPY on PostgreSQL, one executemany on
# SQLite) and merged with set-based INSERT … SELECT / UPDATE … FROM: per-row executemany through
# psycopg ran at ~1.5k rows/s, this at tens of thousands (see tests/store/test_merge_speed.py).
# The wide text columns (evidence, summaries: ~2 KB a NOTATION finding) are written once: new
# findings straight into ``findings``, known ones through a second stage holding only them.
_STAGE = sa.Table(
    "reconcile_stage_findings", sa.MetaData(),
    sa.Column("finding_id", sa.String(24), primary_key=True),
    sa.Column("rule_id", _FINDINGS.c.rule_id.type),
    sa.Column("insurer_number", _FINDINGS.c.insurer_number.type),
    sa.Column("member_id", _FINDINGS.c.member_id.type),
    sa.Column("queue", sa.String(32)),
    sa.Column("priority", sa.Integer),
    sa.Column("prev_candidate", sa.Integer),   # 1: an earlier verdict on this member + rule may exist
    prefixes=["TEMPORARY"],
)
_STAGE_COLUMNS = [c.name for c in _STAGE.columns]
# Columns a known finding's row is refreshed with (the rest of the row is its identity).
_REFRESHED = ("severity", "score", "summary_ja", "summary_en", "evidence", "suggested_resident_id",
              "suggested_individual_number_last4")
_REFRESH = sa.Table(
    "reconcile_stage_refresh", sa.MetaData(),
    sa.Column("finding_id", sa.String(24), primary_key=True),
    *(sa.Column(c, _FINDINGS.c[c].type) for c in _REFRESHED),
    prefixes=["TEMPORARY"],
)
_INSERTED = [*_STRING_FINDING_COLUMNS, "score"]   # plus first_seen_scan, last_seen_scan


def _create_temp(session: Session, table: sa.Table) -> None:
    connection = session.connection()
    connection.exec_driver_sql(f"DROP TABLE IF EXISTS {table.name}")
    table.create(connection)


def _drop_temp(session: Session, *tables: sa.Table) -> None:
    for table in tables:
        session.connection().exec_driver_sql(f"DROP TABLE IF EXISTS {table.name}")


def _stage(session: Session, frame: pd.DataFrame) -> None:
    """Load the prepared findings' keys (plus their queue and priority) into the stage table."""
    _create_temp(session, _STAGE)
    columns = {c: _py_strings(frame[c]) for c in ("finding_id", "rule_id", "insurer_number", "member_id")}
    columns["queue"] = frame["queue"].tolist()
    columns["priority"] = _py_ints(frame["priority"])
    columns["prev_candidate"] = [0] * len(frame)
    _bulk_insert(session, _STAGE, {c: columns[c] for c in _STAGE_COLUMNS})


def _route(frame: pd.DataFrame, config: "queues.QueueConfig | None" = None) -> pd.Series:
    """Queue per finding, routing once per distinct rule/category/severity."""
    config = config or queues.DEFAULT_QUEUE_CONFIG
    keys = frame[["rule_id", "category", "severity"]].astype(object)
    distinct = keys.drop_duplicates()
    distinct["queue"] = [config.route(r, c, s) for r, c, s in distinct.itertuples(index=False)]
    return keys.merge(distinct, on=["rule_id", "category", "severity"], how="left")["queue"].set_axis(frame.index)


def _work_fields(frame: pd.DataFrame, config: "queues.QueueConfig | None", at: datetime) -> pd.DataFrame:
    """Queue and priority (severity and score), vectorised; the due date is set per queue in SQL."""
    config = config or queues.DEFAULT_QUEUE_CONFIG
    frame["queue"] = _route(frame, config) if len(frame) else pd.Series(dtype=object)
    base = frame["severity"].astype(object).map(config.severity_priority).fillna(0).astype("int64")
    score = pd.to_numeric(frame["score"], errors="coerce").astype("float64").fillna(0.0)
    frame["priority"] = base + (score * config.score_priority).round().astype("int64")
    return frame


def _lit(value: Any, type_: Any = None):
    return sa.null() if value is None else sa.literal(value, type_)


def merge_findings(session: Session, scan_id: int, findings: pd.DataFrame, *,
                   rules_run: Iterable[str] | None = None,
                   insurer_numbers: Iterable[str] | None = None,
                   close_missing: bool = True,
                   protected_members: pd.DataFrame | None = None,
                   present_members: pd.DataFrame | None = None,
                   present_only_insurers: Iterable[str] = (),
                   queue_config: "queues.QueueConfig | None" = None) -> MergeResult:
    """Merge one scan's findings (columns of ``detectors.engine.FINDING_COLUMNS``) into the store.

    指摘を作業キューへ統合する。Call it once per scan with all of the scan's findings.

    - Upsert by ``finding_id``: new findings are inserted (first/last seen = this scan); known
      ones get ``last_seen_scan`` and a refreshed severity, score, summaries, evidence and
      suggestion. Every finding is linked to the scan (``scan_findings``).
    - A new finding gets one work item, ``open``, in the queue ``queue_config`` routes it to
      (``[queues]``; default :data:`reconcile.queues.DEFAULT_QUEUE_CONFIG`), with its priority and
      ``due_at`` (the queue's service level). When the same member + rule had an earlier item
      with a steward's verdict (:data:`queues.LINK_PREVIOUS`), the new item links it
      (``previous_finding_id``): the facts changed, the steward sees the earlier verdict.
    - A known finding keeps its work item (:func:`queues.carry_forward`): a steward's
      ``resolved_false_positive`` / ``resolved_wont_fix`` stands while the finding id is the same;
      ``resolved_fixed`` or ``closed_not_seen`` seen again is reopened (``reopened`` event); an
      in-progress item marked "no longer detected" loses the mark.
    - ``close_missing``: an ``open`` item whose finding this scan did not raise becomes
      ``closed_not_seen`` (never ``resolved_fixed``); an ``in_progress`` one stays with its steward
      with ``not_seen_since_scan`` = this scan. Only for rules in ``rules_run`` (the rules that
      actually ran) and insurers in ``insurer_numbers`` (the feed's); None means all. Never for
      a member in ``protected_members`` (insurer_number, member_id: rows quarantined), and for
      insurers in ``present_only_insurers`` (a truncated feed scanned with --force) only for
      members in ``present_members`` (insurer_number, member_id of the feed).

    Idempotent: merging the same findings again (same or a new scan) creates no duplicates.
    """
    at = _now()
    frame = _work_fields(_prepare_findings(findings), queue_config, at)
    result = MergeResult(total=len(frame))
    _stage(session, frame)
    S, F, W = _STAGE, _FINDINGS, _WORK_ITEMS
    known_finding = sa.exists().where(F.c.finding_id == S.c.finding_id)
    has_item = sa.exists().where(W.c.finding_id == S.c.finding_id)
    in_stage = W.c.finding_id.in_(sa.select(S.c.finding_id))
    scan = _lit(scan_id, sa.Integer)
    when = _lit(at, W.c.created_at.type)
    event_columns = ["work_item_id", "at", "actor", "action", "from_status", "to_status", "scan_id", "note"]

    # Counts before anything changes.
    known_ids = set(session.scalars(sa.select(S.c.finding_id).where(known_finding)))
    result.new = result.total - len(known_ids)
    result.seen_again = result.total - result.new
    result.new_by_queue = {q: int(n) for q, n in session.execute(
        sa.select(S.c.queue, sa.func.count()).where(~has_item).group_by(S.c.queue).order_by(S.c.queue))}
    kept = [s for s in queues.RESOLVED if queues.carry_forward(s)[0] == s]
    result.kept_resolved = int(session.scalar(
        sa.select(sa.func.count()).select_from(W).where(in_stage, W.c.status.in_(kept))) or 0)

    # Carry-forward of known items' statuses (events first: they record the old status).
    for from_status in queues.STATUSES:
        to_status, action = queues.carry_forward(from_status)
        if to_status == from_status:
            continue
        session.execute(sa.insert(_EVENTS).from_select(
            event_columns,
            sa.select(W.c.id, when, _lit(queues.SYSTEM_ACTOR), _lit(action), W.c.status, _lit(to_status),
                      scan, _lit(f"スキャン {scan_id} で再び検出 / raised again by scan {scan_id}"))
            .where(in_stage, W.c.status == from_status)))
        changed = session.execute(
            sa.update(W).where(in_stage, W.c.status == from_status)
            .values(status=to_status, updated_at=at, not_seen_since_scan=None,
                    resolved_at=at if to_status in queues.RESOLVED else None)).rowcount
        if action == queues.ACTION_REOPENED:
            result.reopened += changed
    # An in-progress item marked "no longer detected" is detected again: the mark goes.
    marked_again = sa.and_(in_stage, W.c.not_seen_since_scan.is_not(None))
    session.execute(sa.insert(_EVENTS).from_select(
        event_columns,
        sa.select(W.c.id, when, _lit(queues.SYSTEM_ACTOR), _lit(queues.ACTION_SEEN_AGAIN), W.c.status,
                  W.c.status, scan, _lit(f"スキャン {scan_id} で再び検出 / raised again by scan {scan_id}"))
        .where(marked_again)))
    session.execute(sa.update(W).where(marked_again).values(not_seen_since_scan=None, updated_at=at))
    result.carried = result.seen_again - result.reopened

    # Findings: refresh the known ones, insert the new ones (the wide columns written once).
    known = frame["finding_id"].isin(known_ids).to_numpy() if known_ids else np.zeros(len(frame), dtype=bool)
    if known.any():
        refresh = frame.loc[known]
        _create_temp(session, _REFRESH)
        columns = {c: _py_strings(refresh[c]) for c in ("finding_id", *_REFRESHED) if c != "score"}
        columns["score"] = _py_floats(refresh["score"])
        _bulk_insert(session, _REFRESH, {c.name: columns[c.name] for c in _REFRESH.columns})
        R = _REFRESH
        session.execute(
            sa.update(F).where(F.c.finding_id == R.c.finding_id)
            .values(**{c: R.c[c] for c in _REFRESHED},
                    # a late re-merge of an older scan must not move last_seen_scan backwards
                    last_seen_scan=sa.case((F.c.last_seen_scan > scan_id, F.c.last_seen_scan), else_=scan)))
        _drop_temp(session, _REFRESH)
    if not known.all():
        fresh = frame.loc[~known]
        columns = {c: _py_strings(fresh[c]) for c in _STRING_FINDING_COLUMNS}
        columns["score"] = _py_floats(fresh["score"])
        columns["first_seen_scan"] = columns["last_seen_scan"] = [int(scan_id)] * len(fresh)
        _bulk_insert(session, F, {c: columns[c] for c in (*_INSERTED, "first_seen_scan", "last_seen_scan")})

    # Scan ↔ finding links, and one open work item for every finding that has none, linking the
    # latest earlier verdict on the same member + rule (a new finding id: the facts changed).
    linked = sa.exists().where(_SCAN_FINDINGS.c.scan_id == scan_id, _SCAN_FINDINGS.c.finding_id == S.c.finding_id)
    session.execute(sa.insert(_SCAN_FINDINGS).from_select(
        ["scan_id", "finding_id"], sa.select(scan, S.c.finding_id).where(~linked)))
    W2, F2 = W.alias("earlier_item"), F.alias("earlier_finding")
    previous = (sa.select(W2.c.finding_id).join(F2, F2.c.finding_id == W2.c.finding_id)
                .where(F2.c.rule_id == S.c.rule_id, F2.c.insurer_number == S.c.insurer_number,
                       F2.c.member_id == S.c.member_id, F2.c.finding_id != S.c.finding_id,
                       W2.c.status.in_(sorted(queues.LINK_PREVIOUS)))
                .order_by(W2.c.updated_at.desc(), W2.c.id.desc()).limit(1).scalar_subquery())
    config = queue_config or queues.DEFAULT_QUEUE_CONFIG
    due = sa.case(*((S.c.queue == q, _lit(at + timedelta(days=d), W.c.due_at.type))
                    for q, d in sorted(config.sla_days.items())), else_=sa.null()) \
        if config.sla_days else sa.null()
    # The earlier verdict is looked up only for members + rules that have one (usually few): the
    # lookup per new item was a third of a fresh 1M merge.
    _mark_previous_candidates(session, frame)
    session.execute(sa.insert(W).from_select(
        ["finding_id", "queue", "status", "insurer_number", "created_at", "updated_at", "priority", "due_at",
         "previous_finding_id"],
        sa.select(S.c.finding_id, S.c.queue, _lit(queues.OPEN), S.c.insurer_number, when, when,
                  sa.func.coalesce(S.c.priority, 0), due,
                  sa.case((S.c.prev_candidate == 1, previous), else_=sa.null()))
        .where(~has_item)))
    Wp = W.alias("previous_item")
    new_linked = (sa.select(W.c.id, Wp.c.status, W.c.previous_finding_id)
                  .join(Wp, Wp.c.finding_id == W.c.previous_finding_id)
                  # only a candidate's new item can link (see _mark_previous_candidates)
                  .where(W.c.finding_id.in_(sa.select(S.c.finding_id).where(S.c.prev_candidate == 1)),
                         W.c.created_at == when, W.c.previous_finding_id.is_not(None)))
    links = session.execute(new_linked).all()
    if links:
        result.linked_previous = len(links)
        result.reopened += sum(1 for _, status, _ in links if status in queues.SUPPRESSED)
        labels = {s: queues.STATUS_LABELS.get(s, (s, s)) for _, s, _ in links}
        _bulk_insert(session, _EVENTS, {
            "work_item_id": [r[0] for r in links], "at": [at] * len(links),
            "actor": [queues.SYSTEM_ACTOR] * len(links), "action": [queues.ACTION_REOPENED] * len(links),
            "from_status": [None] * len(links), "to_status": [queues.OPEN] * len(links),
            "scan_id": [scan_id] * len(links),
            "note": [f"事実が変わり再検出。前回の判断: {labels[s][0]}（指摘 {p}） / facts changed; "
                     f"earlier verdict: {labels[s][1]} (finding {p})" for _, s, p in links]})

    if close_missing:
        _close_not_seen(session, scan_id, at=at, rules_run=rules_run, insurer_numbers=insurer_numbers,
                        protected_members=protected_members, present_members=present_members,
                        present_only_insurers=present_only_insurers, result=result)
    _drop_temp(session, _STAGE)
    return result


def _mark_previous_candidates(session: Session, frame: pd.DataFrame) -> None:
    """Stage rows whose member + rule has a finding with a steward's verdict (LINK_PREVIOUS) get
    ``prev_candidate = 1``; only they can link an earlier verdict (the others' lookup is NULL)."""
    F, W = _FINDINGS, _WORK_ITEMS
    verdicts = session.execute(
        sa.select(F.c.rule_id, F.c.insurer_number, F.c.member_id).distinct()
        .join(W, W.c.finding_id == F.c.finding_id)
        .where(W.c.status.in_(sorted(queues.LINK_PREVIOUS)), F.c.insurer_number.is_not(None),
               F.c.member_id.is_not(None))).all()
    if not verdicts:
        return
    triples = pd.MultiIndex.from_tuples([tuple(str(v) for v in row) for row in verdicts])
    keys = frame[["rule_id", "insurer_number", "member_id"]].astype("string")
    present = keys.notna().all(axis=1).to_numpy()
    hit = present & pd.MultiIndex.from_frame(keys.fillna("")).isin(triples)
    ids = frame.loc[hit, "finding_id"].astype(str).tolist()
    S = _STAGE
    for chunk in _chunks(ids):
        session.execute(sa.update(S).where(S.c.finding_id.in_(list(chunk))).values(prev_candidate=1))


def _member_keys(frame: pd.DataFrame | None) -> pd.Index:
    if frame is None or len(frame) == 0:
        return pd.MultiIndex.from_arrays([[], []])
    keys = frame[["insurer_number", "member_id"]].astype("string").dropna().drop_duplicates()
    return pd.MultiIndex.from_frame(keys)


def _close_not_seen(session: Session, scan_id: int, *, at: datetime, rules_run: Iterable[str] | None,
                    insurer_numbers: Iterable[str] | None, protected_members: pd.DataFrame | None,
                    present_members: pd.DataFrame | None, present_only_insurers: Iterable[str],
                    result: MergeResult) -> None:
    F, W = _FINDINGS, _WORK_ITEMS
    # The staged findings were all seen now (last_seen_scan >= scan_id): skipping them before the
    # findings lookup leaves the result as it is and spares a lookup per finding of this scan.
    stale = sa.and_(W.c.finding_id.not_in(sa.select(_STAGE.c.finding_id)),
                    F.c.finding_id == W.c.finding_id, F.c.last_seen_scan < scan_id,
                    _insurer_filter(F.c.insurer_number, insurer_numbers))
    if rules_run is not None:
        stale = sa.and_(stale, F.c.rule_id.in_(list(rules_run)))
    statuses = sa.or_(W.c.status.in_(sorted(queues.CLOSE_WHEN_NOT_SEEN)),
                      sa.and_(W.c.status.in_(sorted(queues.MARK_WHEN_NOT_SEEN)), W.c.not_seen_since_scan.is_(None)))
    # One pass to find them (usually few), then the member filters in pandas, events and updates by id.
    # The work-item rows are locked as they are read (PostgreSQL; SQLite has one writer at a time):
    # a steward's claim that commits meanwhile is then read at its committed state — the item is
    # marked, not overwritten with closed_not_seen — and claim-next's SKIP LOCKED passes these by.
    rows = session.execute(sa.select(W.c.id, W.c.status, F.c.insurer_number, F.c.member_id)
                           .where(statuses, stale).with_for_update(of=W)).all()
    if not rows:
        return
    found = pd.DataFrame(rows, columns=["id", "status", "insurer_number", "member_id"])
    keys = pd.MultiIndex.from_arrays([found["insurer_number"].astype("string"), found["member_id"].astype("string")])
    has_member = found["member_id"].notna().to_numpy()
    quarantined = has_member & keys.isin(_member_keys(protected_members))
    only_present = set(str(i) for i in present_only_insurers)
    absent = (has_member & ~quarantined & found["insurer_number"].astype(str).isin(only_present).to_numpy()
              & ~keys.isin(_member_keys(present_members)))
    result.kept_quarantined = int(quarantined.sum())
    result.kept_absent = int(absent.sum())
    found = found.loc[~(quarantined | absent)]
    close = found.loc[found["status"].isin(queues.CLOSE_WHEN_NOT_SEEN)]
    mark = found.loc[found["status"].isin(queues.MARK_WHEN_NOT_SEEN)]
    note = f"スキャン {scan_id} で検出されなくなった / no longer raised by scan {scan_id}"
    for part, action, to_status in ((close, queues.ACTION_CLOSED_NOT_SEEN, queues.CLOSED_STATUS),
                                    (mark, queues.ACTION_NOT_SEEN, None)):
        if not len(part):
            continue
        ids = [int(i) for i in part["id"]]
        from_statuses = part["status"].tolist()
        _bulk_insert(session, _EVENTS, {
            "work_item_id": ids, "at": [at] * len(ids), "actor": [queues.SYSTEM_ACTOR] * len(ids),
            "action": [action] * len(ids), "from_status": from_statuses,
            "to_status": [to_status or s for s in from_statuses], "scan_id": [scan_id] * len(ids),
            "note": [note] * len(ids)})
        for chunk in _chunks(ids):
            values = ({"status": to_status, "updated_at": at, "resolved_at": None, "not_seen_since_scan": scan_id}
                      if to_status else {"updated_at": at, "not_seen_since_scan": scan_id})
            session.execute(sa.update(W).where(W.c.id.in_(list(chunk))).values(**values))
    result.closed_not_seen = int(len(close))
    result.not_seen_in_progress = int(len(mark))


def findings_frame(session: Session, scan_id: int | None = None, lang: str = "ja") -> pd.DataFrame:
    """The findings of one scan (default the latest) in the export's exact column order.

    ``summary`` is Japanese (``lang="ja"``) or English (``"en"``); ``scan_id`` is the exported
    scan; ``queue`` and ``status`` are the work item's current ones.
    """
    if lang not in ("ja", "en"):
        raise ValueError(f"lang {lang!r}; expected 'ja' or 'en'")
    scan_id = _resolve_scan(session, scan_id)
    summary = _FINDINGS.c.summary_ja if lang == "ja" else _FINDINGS.c.summary_en
    stmt = (sa.select(_FINDINGS.c.finding_id, _FINDINGS.c.insurer_number, _FINDINGS.c.member_id,
                      _FINDINGS.c.rule_id, _FINDINGS.c.category, _FINDINGS.c.severity, _FINDINGS.c.score,
                      summary.label("summary"), _FINDINGS.c.evidence, _FINDINGS.c.suggested_resident_id,
                      _FINDINGS.c.suggested_individual_number_last4, _WORK_ITEMS.c.queue,
                      _WORK_ITEMS.c.status, _FINDINGS.c.first_seen_scan, _FINDINGS.c.last_seen_scan)
            .select_from(_SCAN_FINDINGS)
            .join(_FINDINGS, _FINDINGS.c.finding_id == _SCAN_FINDINGS.c.finding_id)
            .outerjoin(_WORK_ITEMS, _WORK_ITEMS.c.finding_id == _FINDINGS.c.finding_id)
            .where(_SCAN_FINDINGS.c.scan_id == scan_id))
    names = [c for c in FINDINGS_EXPORT_COLUMNS if c != "scan_id"]
    rows = session.execute(stmt).all() if scan_id is not None else []
    frame = _frame(rows, names)
    frame.insert(1, "scan_id", scan_id)
    string_cols = [c for c in FINDINGS_EXPORT_COLUMNS
                   if c not in ("scan_id", "score", "first_seen_scan", "last_seen_scan")]
    frame = frame.astype({**{c: "string" for c in string_cols}, "score": "float64",
                          "scan_id": "Int64", "first_seen_scan": "Int64", "last_seen_scan": "Int64"})
    # Sorted here, not in SQL: SQLite and PostgreSQL order NULLs differently.
    rank = frame["severity"].map(_SEVERITY_RANK).astype("float64")
    order = (frame.assign(_rank=rank)
             .sort_values(["_rank", "rule_id", "insurer_number", "member_id", "finding_id"],
                          na_position="last", kind="stable").index)
    return frame.loc[order, FINDINGS_EXPORT_COLUMNS].reset_index(drop=True)


# --- work items --------------------------------------------------------------------------------

_ITEM_COLUMNS = (
    ("finding_id", _FINDINGS.c.finding_id), ("work_item_id", _WORK_ITEMS.c.id),
    ("queue", _WORK_ITEMS.c.queue), ("status", _WORK_ITEMS.c.status),
    ("assignee", _WORK_ITEMS.c.assignee), ("insurer_number", _FINDINGS.c.insurer_number),
    ("member_id", _FINDINGS.c.member_id), ("rule_id", _FINDINGS.c.rule_id),
    ("category", _FINDINGS.c.category), ("severity", _FINDINGS.c.severity),
    ("score", _FINDINGS.c.score), ("summary_ja", _FINDINGS.c.summary_ja),
    ("summary_en", _FINDINGS.c.summary_en), ("evidence", _FINDINGS.c.evidence),
    ("suggested_resident_id", _FINDINGS.c.suggested_resident_id),
    ("suggested_individual_number_last4", _FINDINGS.c.suggested_individual_number_last4),
    ("first_seen_scan", _FINDINGS.c.first_seen_scan), ("last_seen_scan", _FINDINGS.c.last_seen_scan),
    ("created_at", _WORK_ITEMS.c.created_at), ("updated_at", _WORK_ITEMS.c.updated_at),
    ("resolved_at", _WORK_ITEMS.c.resolved_at),
)


def _item_dict(row) -> dict:
    item = dict(zip((name for name, _ in _ITEM_COLUMNS), row))
    item["evidence"] = json.loads(item["evidence"]) if item["evidence"] else {}
    queue = queues.QUEUES.get(item["queue"])
    item["queue_label_ja"] = queue.label_ja if queue else item["queue"]
    item["status_label_ja"] = queues.STATUS_LABELS.get(item["status"], (item["status"],))[0]
    return item


def work_items_frame(session: Session) -> pd.DataFrame:
    """Every work item as a frame (the columns of :func:`list_work_items`, also when there is none)."""
    columns = [name for name, _ in _ITEM_COLUMNS] + ["queue_label_ja", "status_label_ja"]
    return pd.DataFrame(list_work_items(session, limit=None), columns=columns)


def _items_query(queue, status, insurer_numbers, rule_id, assignee):
    stmt = (sa.select(*(col for _, col in _ITEM_COLUMNS))
            .join(_FINDINGS, _FINDINGS.c.finding_id == _WORK_ITEMS.c.finding_id)
            .where(_insurer_filter(_WORK_ITEMS.c.insurer_number, insurer_numbers)))
    for column, wanted in ((_WORK_ITEMS.c.queue, queue), (_WORK_ITEMS.c.status, status),
                           (_FINDINGS.c.rule_id, rule_id), (_WORK_ITEMS.c.assignee, assignee)):
        values = _as_list(wanted)
        if values is not None:
            stmt = stmt.where(column.in_(values))
    return stmt


def list_work_items(session: Session, queue: str | Iterable[str] | None = None,
                    status: str | Iterable[str] | None = None,
                    insurer_numbers: Iterable[str] | None = None, *,
                    rule_id: str | Iterable[str] | None = None, assignee: str | None = None,
                    limit: int = 100, offset: int = 0) -> list[dict]:
    """Work items with their finding, most urgent first (severity, then score, then age).

    Each dict has the finding's fields (evidence parsed to a dict), ``work_item_id``, ``queue``,
    ``status``, ``assignee``, timestamps and Japanese labels ``queue_label_ja``, ``status_label_ja``.
    """
    rank = sa.case(*((_FINDINGS.c.severity == s, i) for s, i in _SEVERITY_RANK.items()),
                   else_=len(_SEVERITY_RANK))
    stmt = (_items_query(queue, status, insurer_numbers, rule_id, assignee)
            .order_by(rank, sa.func.coalesce(_FINDINGS.c.score, 0.0).desc(), _WORK_ITEMS.c.id)
            .limit(limit).offset(offset))
    return [_item_dict(row) for row in session.execute(stmt)]


def count_work_items(session: Session, queue: str | Iterable[str] | None = None,
                     status: str | Iterable[str] | None = None,
                     insurer_numbers: Iterable[str] | None = None, *,
                     rule_id: str | Iterable[str] | None = None, assignee: str | None = None) -> int:
    """How many work items :func:`list_work_items` would page through."""
    inner = _items_query(queue, status, insurer_numbers, rule_id, assignee).subquery()
    return int(session.scalar(sa.select(sa.func.count()).select_from(inner)) or 0)


def queue_counts(session: Session, insurer_numbers: Iterable[str] | None = None) -> dict[str, dict[str, int]]:
    """``{queue: {status: count}}`` over all work items (within the insurer scope)."""
    stmt = (sa.select(_WORK_ITEMS.c.queue, _WORK_ITEMS.c.status, sa.func.count())
            .where(_insurer_filter(_WORK_ITEMS.c.insurer_number, insurer_numbers))
            .group_by(_WORK_ITEMS.c.queue, _WORK_ITEMS.c.status))
    out: dict[str, dict[str, int]] = {}
    for queue, status, n in session.execute(stmt):
        out.setdefault(queue, {})[status] = int(n)
    return out


def work_item_events(session: Session, finding_id: str) -> list[dict]:
    """The audit trail of a finding's work item, oldest first."""
    stmt = (sa.select(Event.id, Event.at, Event.actor, Event.action, Event.from_status, Event.to_status,
                      Event.scan_id, Event.note)
            .join(WorkItem, WorkItem.id == Event.work_item_id)
            .where(WorkItem.finding_id == finding_id).order_by(Event.id))
    keys = ("event_id", "at", "actor", "action", "from_status", "to_status", "scan_id", "note")
    return [dict(zip(keys, row)) for row in session.execute(stmt)]


def get_work_item(session: Session, finding_id: str) -> dict | None:
    """One work item with its finding and ``events`` (audit trail), or None."""
    stmt = (sa.select(*(col for _, col in _ITEM_COLUMNS))
            .join(_FINDINGS, _FINDINGS.c.finding_id == _WORK_ITEMS.c.finding_id)
            .where(_WORK_ITEMS.c.finding_id == finding_id))
    row = session.execute(stmt).first()
    if row is None:
        return None
    item = _item_dict(row)
    item["events"] = work_item_events(session, finding_id)
    return item


EVENT_COLUMNS = ["event_id", "finding_id", "work_item_id", "at", "actor", "action", "from_status",
                 "to_status", "scan_id", "note", "rule_id", "category", "queue", "insurer_number"]


def events_frame(session: Session, *, since: Any = None,
                 insurer_numbers: Iterable[str] | None = None) -> pd.DataFrame:
    """The audit trail as a frame (oldest first), with each event's finding, rule, category and queue.

    監査証跡。``since`` keeps events at or after that instant; ``at`` is UTC (naive on SQLite).
    """
    E, W, F = Event.__table__, _WORK_ITEMS, _FINDINGS
    stmt = (sa.select(E.c.id, W.c.finding_id, E.c.work_item_id, E.c.at, E.c.actor, E.c.action, E.c.from_status,
                      E.c.to_status, E.c.scan_id, E.c.note, F.c.rule_id, F.c.category, W.c.queue,
                      W.c.insurer_number)
            .join(W, W.c.id == E.c.work_item_id).join(F, F.c.finding_id == W.c.finding_id)
            .where(_insurer_filter(W.c.insurer_number, insurer_numbers)).order_by(E.c.id))
    if since is not None:
        stmt = stmt.where(E.c.at >= pd.Timestamp(since).to_pydatetime())
    frame = _frame(session.execute(stmt).all(), EVENT_COLUMNS)
    frame["at"] = pd.to_datetime(frame["at"])
    return frame.astype({"event_id": "int64", "work_item_id": "int64", "scan_id": "Int64",
                         **{c: "string" for c in EVENT_COLUMNS
                            if c not in ("event_id", "work_item_id", "at", "scan_id")}})


def _locked_item(session: Session, finding_id: str) -> WorkItem:
    # populate_existing: the merge updates work items with Core statements, which an ORM object
    # already in this session's identity map would not see.
    item = session.scalars(sa.select(WorkItem).where(WorkItem.finding_id == finding_id)
                           .with_for_update().execution_options(populate_existing=True)).first()
    if item is None:
        raise LookupError(f"no work item for finding {finding_id!r}")
    return item


def transition(session: Session, finding_id: str, to_status: str, actor: str,
               note: str | None = None) -> dict:
    """Move a work item to ``to_status`` if the lifecycle allows it, and record the event.

    ステータス変更（許可された遷移のみ、監査証跡に記録）。Raises
    :class:`reconcile.queues.TransitionError` for a disallowed change and ``LookupError`` for an
    unknown finding. Taking an item ``in_progress`` without an assignee assigns it to ``actor``.
    Returns ``{"finding_id", "work_item_id", "from_status", "to_status", "event_id"}``.
    """
    item = _locked_item(session, finding_id)
    from_status = item.status
    queues.check_transition(from_status, to_status)
    at = _now()
    item.status = to_status
    item.updated_at = at
    item.resolved_at = at if to_status in queues.RESOLVED else None
    if to_status == queues.IN_PROGRESS and item.assignee is None:
        item.assignee = actor
    event = Event(work_item_id=item.id, at=at, actor=actor, action=queues.ACTION_TRANSITION,
                  from_status=from_status, to_status=to_status, note=note)
    session.add(event)
    session.flush()
    return {"finding_id": finding_id, "work_item_id": item.id, "from_status": from_status,
            "to_status": to_status, "event_id": event.id}


def assign(session: Session, finding_id: str, assignee: str | None, actor: str,
           note: str | None = None) -> dict:
    """Set (or clear, with None) a work item's assignee; records an ``assigned`` event."""
    item = _locked_item(session, finding_id)
    at = _now()
    previous = item.assignee
    item.assignee = assignee
    item.updated_at = at
    event = Event(work_item_id=item.id, at=at, actor=actor, action=queues.ACTION_ASSIGNED,
                  from_status=item.status, to_status=item.status,
                  note=note or f"{previous or '-'} → {assignee or '-'}")
    session.add(event)
    session.flush()
    return {"finding_id": finding_id, "work_item_id": item.id, "assignee": assignee, "event_id": event.id}


# --- quarantine --------------------------------------------------------------------------------

def save_quarantine(session: Session, scan_id: int, frame: pd.DataFrame) -> int:
    """Store a scan's rejected rows (file, line, column, value, reason); replaces earlier ones.

    12-digit runs in ``value`` / ``reason`` are masked to the last four digits as a second line
    of defence (ingest already masks individual numbers).
    """
    missing = [c for c in QUARANTINE_EXPORT_COLUMNS if c not in frame.columns]
    if missing:
        raise ValueError(f"quarantine frame lacks column(s): {', '.join(missing)}")
    session.execute(sa.delete(_QUARANTINE).where(_QUARANTINE.c.scan_id == scan_id))
    if len(frame) == 0:
        return 0

    def masked(series: pd.Series) -> list:
        return [None if v is None else mask_number(v) for v in _py_strings(series)]

    return _bulk_insert(session, _QUARANTINE, {
        "scan_id": [scan_id] * len(frame), "file": _py_strings(frame["file"]),
        "line": _py_ints(frame["line"]), "column": _py_strings(frame["column"]),
        "value": masked(frame["value"]), "reason": masked(frame["reason"])})


def quarantine_frame(session: Session, scan_id: int | None = None) -> pd.DataFrame:
    """A scan's quarantined rows (default the latest scan), columns file, line, column, value, reason."""
    scan_id = _resolve_scan(session, scan_id)
    rows = [] if scan_id is None else session.execute(
        sa.select(_QUARANTINE.c.file, _QUARANTINE.c.line, _QUARANTINE.c.column, _QUARANTINE.c.value,
                  _QUARANTINE.c.reason)
        .where(_QUARANTINE.c.scan_id == scan_id).order_by(_QUARANTINE.c.id)).all()
    frame = _frame(rows, QUARANTINE_EXPORT_COLUMNS)
    return frame.astype({"file": "string", "line": "Int64", "column": "string", "value": "string",
                         "reason": "string"})


# --- feed statistics ---------------------------------------------------------------------------

FEED_HISTORY_COLUMNS = ["scan_id", "as_of", "period", "insurer_number", "statistic", "value", "fingerprint"]


def save_feed_stats(session: Session, scan_id: int, frame: pd.DataFrame) -> int:
    """Store a scan's feed statistics (insurer_number, statistic, value); replaces earlier ones."""
    missing = [c for c in ("insurer_number", "statistic", "value") if c not in frame.columns]
    if missing:
        raise ValueError(f"feed statistics frame lacks column(s): {', '.join(missing)}")
    session.execute(sa.delete(_FEED_STATS).where(_FEED_STATS.c.scan_id == scan_id))
    return _bulk_insert(session, _FEED_STATS, {
        "scan_id": [scan_id] * len(frame), "insurer_number": _py_strings(frame["insurer_number"]),
        "statistic": _py_strings(frame["statistic"]), "value": _py_floats(frame["value"])})


def load_feed_history(session: Session, insurer_numbers: Iterable[str] | None = None, *,
                      exclude_fingerprint: str | None = None,
                      before_as_of: Any = None) -> pd.DataFrame:
    """Statistics of earlier feeds: one row per (scan, insurer, statistic), for drift detection.

    過去フィードの統計。Only scans that finished ``done`` count, and of those only the latest scan
    of each feed fingerprint, so re-running a feed does not count it twice. Pass
    ``exclude_fingerprint`` (the feed being scanned) and/or ``before_as_of`` to keep the current
    feed out of its own history. ``period`` falls back to the scan's ``as_of`` month.
    """
    latest = (sa.select(sa.func.max(Scan.id)).join(Feed, Feed.id == Scan.feed_id)
              .where(Scan.status == SCAN_DONE).group_by(Feed.fingerprint))
    if exclude_fingerprint is not None:
        latest = latest.where(Feed.fingerprint != exclude_fingerprint)
    stmt = (sa.select(_FEED_STATS.c.scan_id, Scan.as_of, Feed.period, _FEED_STATS.c.insurer_number,
                      _FEED_STATS.c.statistic, _FEED_STATS.c.value, Feed.fingerprint)
            .join(Scan, Scan.id == _FEED_STATS.c.scan_id)
            .join(Feed, Feed.id == Scan.feed_id)
            .where(_FEED_STATS.c.scan_id.in_(latest),
                   _insurer_filter(_FEED_STATS.c.insurer_number, insurer_numbers)))
    if before_as_of is not None:
        stmt = stmt.where(Scan.as_of < _to_date(before_as_of))
    frame = _frame(session.execute(stmt).all(), FEED_HISTORY_COLUMNS)
    frame["as_of"] = pd.to_datetime(frame["as_of"])
    frame = frame.astype({"scan_id": "int64", "period": "string", "insurer_number": "string",
                          "statistic": "string", "value": "float64", "fingerprint": "string"})
    frame["period"] = frame["period"].fillna(frame["as_of"].dt.strftime("%Y-%m").astype("string"))
    return frame.sort_values(["as_of", "scan_id", "insurer_number", "statistic"],
                             na_position="last", kind="stable").reset_index(drop=True)


# --- users -------------------------------------------------------------------------------------

def add_user(session: Session, *, name: str, role: str, token_hash: str | None,
             insurer_scope: Iterable[str] | None = None) -> int:
    """Create a user (the caller hashes the token); ``insurer_scope`` None = every insurer."""
    if role not in ROLES:
        raise ValueError(f"role {role!r}; expected one of {', '.join(ROLES)}")
    user = User(name=name, role=role, token_hash=token_hash, active=True, created_at=_now(),
                insurer_scope=None if insurer_scope is None else [str(i) for i in insurer_scope])
    session.add(user)
    session.flush()
    return user.id


def find_user_by_token_hash(session: Session, token_hash: str) -> User | None:
    """The active user holding this token hash, or None."""
    return session.scalars(sa.select(User).where(User.token_hash == token_hash,
                                                 User.active.is_(True))).first()


def list_users(session: Session) -> list[User]:
    return list(session.scalars(sa.select(User).order_by(User.id)))


__all__ = [
    "CHUNK", "FEED_HISTORY_COLUMNS", "MergeResult", "SCAN_DONE", "SCAN_FAILED", "SCAN_FINAL_STATUSES",
    "EVENT_COLUMNS", "SCAN_REJECTED", "SCAN_RUNNING", "add_feed", "events_frame", "add_user", "assign", "count_work_items",
    "find_feed", "find_user_by_token_hash", "findings_frame", "finish_scan", "get_work_item",
    "latest_scan_id", "list_scans", "list_users", "list_work_items", "work_items_frame", "load_feed_history",
    "merge_findings", "quarantine_frame", "queue_counts", "save_feed_stats", "save_quarantine",
    "start_scan", "transition", "work_item_events",
    "ensure_feed", "save_scan_insurers", "previous_feeds", "get_meta", "set_meta", "scan_exists",
]
