"""保存領域 / The store: SQLAlchemy models, engine and sessions, Alembic migrations, repository.

SQLite by default (WAL, foreign keys), PostgreSQL through psycopg 3 — the same code on both.
Typical use::

    engine = get_engine(url)
    upgrade(engine)                       # alembic upgrade head, migrations shipped in the package
    with session_scope(engine) as session:
        scan_id = start_scan(session, feed_id=feed_id, as_of=as_of)
        result = merge_findings(session, scan_id, findings)

Repository functions never commit; see :mod:`reconcile.store.repository` for the full API.
"""
from reconcile.store.db import (current_revision, get_engine, head_revision, normalise_url, session_scope,
                                upgrade)
from reconcile.store.models import (ROLES, Base, Event, Feed, FeedStat, Finding, QuarantineRow, Scan,
                                    ScanFinding, User, WorkItem)
from reconcile.store.models import ScanInsurer, ScanLock, StoreMeta  # migration 0002
from reconcile.store.repository import *  # noqa: F403
from reconcile.store.repository import __all__ as _repository_all

__all__ = [
    "Base", "Event", "Feed", "FeedStat", "Finding", "QuarantineRow", "ROLES", "Scan", "ScanFinding",
    "User", "WorkItem", "ScanInsurer", "ScanLock", "StoreMeta", "current_revision", "get_engine", "head_revision", "normalise_url",
    "session_scope", "upgrade", *_repository_all,
]
