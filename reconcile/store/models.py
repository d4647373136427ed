"""データベースのテーブル定義 / Database tables (SQLAlchemy 2.x declarative).

Portable across SQLite and PostgreSQL: JSON as ``sa.JSON``, dates as ``Date`` / ``DateTime``,
constraint names from one naming convention so Alembic migrations name them the same on both.
The schema itself is created by the Alembic migrations in ``reconcile/store/migrations``;
a test checks that these models and the migrations agree.

Timestamps are written as timezone-aware UTC; SQLite hands them back naive (still UTC).

Deliberately without foreign keys: the per-finding link columns (``findings.first_seen_scan`` /
``last_seen_scan``, ``scan_findings.*``, ``work_items.finding_id``). PostgreSQL checks a foreign
key with one trigger call per row, which was half the time of a 100k-finding merge; the merge
is the only writer of these tables and writes them together in one transaction, and
``tests/store/test_repository.py`` checks that no orphan rows exist after merges. Low-volume
tables (scans, events, quarantine, feed statistics) keep their foreign keys.
"""
from __future__ import annotations

from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

Timestamp = sa.DateTime(timezone=True)


class Base(DeclarativeBase):
    metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)


class Feed(Base):
    """受信したフィード / One delivered feed directory, identified by a fingerprint of its content."""
    __tablename__ = "feeds"

    id: Mapped[int] = mapped_column(primary_key=True)
    # unique (migration 0002): two concurrent scans of one feed cannot both insert it
    fingerprint: Mapped[str] = mapped_column(sa.String(128), index=True, unique=True)
    path: Mapped[str | None] = mapped_column(sa.Text)
    as_of: Mapped[date | None] = mapped_column(sa.Date)
    period: Mapped[str | None] = mapped_column(sa.String(16))
    manifest: Mapped[dict | None] = mapped_column(sa.JSON)
    validation: Mapped[dict | None] = mapped_column(sa.JSON)
    row_counts: Mapped[dict | None] = mapped_column(sa.JSON)
    received_at: Mapped[datetime] = mapped_column(Timestamp)


class Scan(Base):
    """一回の点検 / One scan of a feed."""
    __tablename__ = "scans"

    id: Mapped[int] = mapped_column(primary_key=True)
    feed_id: Mapped[int] = mapped_column(sa.ForeignKey("feeds.id"), index=True)
    as_of: Mapped[date] = mapped_column(sa.Date)
    started_at: Mapped[datetime] = mapped_column(Timestamp)
    finished_at: Mapped[datetime | None] = mapped_column(Timestamp)
    status: Mapped[str] = mapped_column(sa.String(16), index=True)
    summary: Mapped[dict | None] = mapped_column(sa.JSON)


class Finding(Base):
    """指摘 / A finding, one row per stable fingerprint across scans."""
    __tablename__ = "findings"

    finding_id: Mapped[str] = mapped_column(sa.String(24), primary_key=True)
    rule_id: Mapped[str] = mapped_column(sa.String(64))
    category: Mapped[str] = mapped_column(sa.String(32))
    severity: Mapped[str] = mapped_column(sa.String(8))
    score: Mapped[float | None] = mapped_column(sa.Float)
    insurer_number: Mapped[str | None] = mapped_column(sa.String(16))
    member_id: Mapped[str | None] = mapped_column(sa.String(128))
    summary_ja: Mapped[str | None] = mapped_column(sa.Text)
    summary_en: Mapped[str | None] = mapped_column(sa.Text)
    evidence: Mapped[str | None] = mapped_column(sa.Text)          # canonical JSON text, as the engine wrote it
    suggested_resident_id: Mapped[str | None] = mapped_column(sa.String(128))
    suggested_individual_number_last4: Mapped[str | None] = mapped_column(sa.String(4))
    facts: Mapped[str | None] = mapped_column(sa.Text)
    first_seen_scan: Mapped[int] = mapped_column(sa.Integer)     # scans.id (no FK: see module doc)
    last_seen_scan: Mapped[int] = mapped_column(sa.Integer)

    __table_args__ = (sa.Index("ix_findings_insurer_member", "insurer_number", "member_id"),)


class ScanFinding(Base):
    """どのスキャンがどの指摘を出したか / Which scan raised which finding (per-scan export)."""
    __tablename__ = "scan_findings"

    scan_id: Mapped[int] = mapped_column(sa.Integer, primary_key=True)          # scans.id
    finding_id: Mapped[str] = mapped_column(sa.String(24), primary_key=True)   # findings.finding_id


class WorkItem(Base):
    """作業項目 / The steward's work item for a finding (exactly one per finding)."""
    __tablename__ = "work_items"

    id: Mapped[int] = mapped_column(primary_key=True)
    finding_id: Mapped[str] = mapped_column(sa.String(24), unique=True)   # findings.finding_id
    queue: Mapped[str] = mapped_column(sa.String(32))
    status: Mapped[str] = mapped_column(sa.String(32), index=True)
    assignee: Mapped[str | None] = mapped_column(sa.String(128))
    insurer_number: Mapped[str | None] = mapped_column(sa.String(16), index=True)
    created_at: Mapped[datetime] = mapped_column(Timestamp)
    updated_at: Mapped[datetime] = mapped_column(Timestamp)
    resolved_at: Mapped[datetime | None] = mapped_column(Timestamp)
    # Migration 0002: claim order (higher first), the queue's service level, the claim's lease,
    # "no longer detected" since which scan (an in-progress item stays with its steward), and the
    # earlier suppressed finding of the same member + rule this item reopens (facts changed).
    priority: Mapped[int] = mapped_column(sa.Integer, default=0, server_default="0")
    due_at: Mapped[datetime | None] = mapped_column(Timestamp)
    lease_until: Mapped[datetime | None] = mapped_column(Timestamp)
    not_seen_since_scan: Mapped[int | None] = mapped_column(sa.Integer)          # scans.id
    previous_finding_id: Mapped[str | None] = mapped_column(sa.String(24))       # findings.finding_id

    __table_args__ = (sa.Index("ix_work_items_queue_status", "queue", "status"),)


# Migration 0004: claim-next's order (priority, then age) within a queue's open items, so a claim
# reads the first entries of an index instead of sorting every open item of the queue.
sa.Index("ix_work_items_claim_order", WorkItem.queue, WorkItem.status, WorkItem.priority.desc(),
         WorkItem.created_at, WorkItem.id)


class Event(Base):
    """監査証跡 / Audit trail of everything that happened to a work item."""
    __tablename__ = "events"

    id: Mapped[int] = mapped_column(primary_key=True)
    # None for events about no work item (a user created, a token issued): migration 0003.
    work_item_id: Mapped[int | None] = mapped_column(sa.ForeignKey("work_items.id"), index=True)
    at: Mapped[datetime] = mapped_column(Timestamp, index=True)
    actor: Mapped[str] = mapped_column(sa.String(128))
    action: Mapped[str] = mapped_column(sa.String(32))
    from_status: Mapped[str | None] = mapped_column(sa.String(32))
    to_status: Mapped[str | None] = mapped_column(sa.String(32))
    scan_id: Mapped[int | None] = mapped_column(sa.ForeignKey("scans.id"))
    note: Mapped[str | None] = mapped_column(sa.Text)
    # Audit detail (migration 0003): what the event is about when not a work item ("user:NAME"),
    # and the changed fields before / after (assignee, lease, resolution, note).
    subject: Mapped[str | None] = mapped_column(sa.String(160))
    state_before: Mapped[dict | None] = mapped_column(sa.JSON)
    state_after: Mapped[dict | None] = mapped_column(sa.JSON)


class ScanLock(Base):
    """走査ロック / One scan of an insurer at a time (migration 0002).

    A row per insurer being scanned; ``expires_at`` is pushed forward by the holder's heartbeat,
    so a crashed process's lock lapses instead of holding the insurer forever.
    """
    __tablename__ = "scan_locks"

    insurer_number: Mapped[str] = mapped_column(sa.String(16), primary_key=True)
    holder: Mapped[str] = mapped_column(sa.String(160))
    acquired_at: Mapped[datetime] = mapped_column(Timestamp)
    expires_at: Mapped[datetime] = mapped_column(Timestamp)


class StoreMeta(Base):
    """保存領域の属性 / Store-wide facts, e.g. ``key_fingerprint`` (an HMAC under the key, never the key)."""
    __tablename__ = "store_meta"

    key: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    value: Mapped[str | None] = mapped_column(sa.Text)
    updated_at: Mapped[datetime] = mapped_column(Timestamp)


class ScanInsurer(Base):
    """走査対象の保険者 / The insurers a scan covered: the feed's reporting period and member count
    (migration 0002) — what the older-feed and truncated-feed refusals compare against."""
    __tablename__ = "scan_insurers"

    scan_id: Mapped[int] = mapped_column(sa.ForeignKey("scans.id"), primary_key=True)
    insurer_number: Mapped[str] = mapped_column(sa.String(16), primary_key=True, index=True)
    period: Mapped[str | None] = mapped_column(sa.String(16))
    members: Mapped[int] = mapped_column(sa.Integer)


class QuarantineRow(Base):
    """隔離された行 / A rejected input row: file, line, column, (masked) value, reason."""
    __tablename__ = "quarantine"

    id: Mapped[int] = mapped_column(primary_key=True)
    scan_id: Mapped[int] = mapped_column(sa.ForeignKey("scans.id"), index=True)
    file: Mapped[str] = mapped_column(sa.String(255))
    line: Mapped[int | None] = mapped_column(sa.Integer)
    column: Mapped[str | None] = mapped_column(sa.String(255))
    value: Mapped[str | None] = mapped_column(sa.Text)
    reason: Mapped[str] = mapped_column(sa.Text)


class FeedStat(Base):
    """フィード統計 / One feed-level statistic per scan and insurer (input of drift detection)."""
    __tablename__ = "feed_stats"

    id: Mapped[int] = mapped_column(primary_key=True)
    scan_id: Mapped[int] = mapped_column(sa.ForeignKey("scans.id"), index=True)
    insurer_number: Mapped[str | None] = mapped_column(sa.String(16))
    statistic: Mapped[str] = mapped_column(sa.String(128))
    value: Mapped[float | None] = mapped_column(sa.Float)

    __table_args__ = (sa.Index("ix_feed_stats_insurer_statistic", "insurer_number", "statistic"),)


class User(Base):
    """利用者 / A user of the API and web UI; the token is stored only as a hash."""
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(128), unique=True)
    role: Mapped[str] = mapped_column(sa.String(16))
    token_hash: Mapped[str | None] = mapped_column(sa.String(128), unique=True)
    insurer_scope: Mapped[list | None] = mapped_column(sa.JSON)   # None = every insurer
    active: Mapped[bool] = mapped_column(sa.Boolean, default=True, server_default=sa.true())
    created_at: Mapped[datetime] = mapped_column(Timestamp)
    # Web sign-in password (migration 0003): "scrypt$n$r$p$salt_hex$hash_hex"; None = token only.
    password_hash: Mapped[str | None] = mapped_column(sa.String(256))


class Comment(Base):
    """コメント / A steward's comment on a work item (append-only, like the events)."""
    __tablename__ = "comments"

    id: Mapped[int] = mapped_column(primary_key=True)
    work_item_id: Mapped[int] = mapped_column(sa.ForeignKey("work_items.id"), index=True)
    at: Mapped[datetime] = mapped_column(Timestamp)
    author: Mapped[str] = mapped_column(sa.String(128))
    text: Mapped[str] = mapped_column(sa.Text)


class Upload(Base):
    """APIから受け付けたフィード / A feed uploaded through the API, scanned in the background.

    ``status``: queued → running → done | rejected | failed; ``scan_id`` is the scan it became.
    """
    __tablename__ = "uploads"

    id: Mapped[int] = mapped_column(primary_key=True)
    status: Mapped[str] = mapped_column(sa.String(16), index=True)
    uploaded_by: Mapped[str] = mapped_column(sa.String(128))
    insurer_scope: Mapped[list | None] = mapped_column(sa.JSON)    # the uploader's scope then
    path: Mapped[str | None] = mapped_column(sa.Text)               # where the files were unpacked
    files: Mapped[list | None] = mapped_column(sa.JSON)
    insurer_numbers: Mapped[list | None] = mapped_column(sa.JSON)   # the feed's insurers, once read
    scan_id: Mapped[int | None] = mapped_column(sa.ForeignKey("scans.id"))
    message: Mapped[dict | None] = mapped_column(sa.JSON)           # {"ja", "en"} when rejected/failed
    created_at: Mapped[datetime] = mapped_column(Timestamp)
    started_at: Mapped[datetime | None] = mapped_column(Timestamp)
    finished_at: Mapped[datetime | None] = mapped_column(Timestamp)


ROLES: tuple[str, ...] = ("steward", "supervisor", "auditor", "admin")
