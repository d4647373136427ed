"""エンジン・セッション・マイグレーション / Engine, session and schema migrations.

- :func:`get_engine` — SQLite (WAL, foreign keys on) or PostgreSQL via psycopg 3.
- :func:`session_scope` — one transaction: commit on success, roll back on error.
- :func:`upgrade` — ``alembic upgrade head`` from the migrations shipped in the package,
  with a Config built in code (no alembic.ini at runtime).
- :func:`current_revision`, :func:`head_revision` — for ``reconcile doctor``.
"""
from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.orm import Session

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


def normalise_url(url: str) -> str:
    """``postgres://`` and ``postgresql://`` mean psycopg 3 here (psycopg2 is not a dependency)."""
    parsed = make_url(url)
    if parsed.drivername in ("postgres", "postgresql"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")     # readers (web UI) do not block a scan
        cursor.execute("PRAGMA synchronous=NORMAL")   # durable enough with WAL, much faster
        cursor.execute("PRAGMA cache_size=-65536")    # 64 MiB page cache: a 100k-finding merge fits
        cursor.execute("PRAGMA temp_store=MEMORY")    # the merge's stage table never touches disk
    finally:
        cursor.close()


def get_engine(url: str, **kwargs) -> Engine:
    """An engine for ``url``; SQLite gets WAL + foreign keys, PostgreSQL uses psycopg 3."""
    url = normalise_url(url)
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        kwargs.setdefault("connect_args", {}).setdefault("timeout", 30)
        engine = sa.create_engine(url, **kwargs)
        sa.event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    kwargs.setdefault("pool_pre_ping", True)
    return sa.create_engine(url, **kwargs)


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """A session whose transaction commits when the block ends and rolls back on an exception."""
    session = Session(engine, expire_on_commit=False)
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def alembic_config(connection: sa.Connection | None = None) -> Config:
    """An Alembic Config pointing at the packaged migrations (and the given connection)."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    if connection is not None:
        cfg.attributes["connection"] = connection
        # Only used by the alembic CLI path of env.py; harmless otherwise.
        cfg.set_main_option("sqlalchemy.url",
                            connection.engine.url.render_as_string(hide_password=False).replace("%", "%%"))
    return cfg


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the database schema to ``revision`` (default the newest) / スキーマを最新にする."""
    with engine.begin() as connection:
        command.upgrade(alembic_config(connection), revision)


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at (None for an empty database)."""
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()
