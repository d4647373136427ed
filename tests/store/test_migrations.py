"""スキーマとマイグレーション / Migrations apply on SQLite and PostgreSQL and agree with the models."""
from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

import reconcile.store
from reconcile.store import Base, current_revision, get_engine, head_revision, normalise_url, upgrade

TABLES = {"feeds", "scans", "findings", "scan_findings", "work_items", "events", "quarantine",
          "feed_stats", "users", "alembic_version", "scan_locks", "store_meta", "scan_insurers"}


def test_upgrade_creates_every_table_and_is_idempotent(db_engine):
    assert current_revision(db_engine) == head_revision()
    upgrade(db_engine)   # second run: nothing to do, no error
    assert TABLES <= set(sa.inspect(db_engine).get_table_names())


def test_models_and_migrations_agree(db_engine):
    with db_engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, Base.metadata) == []


def test_indexes_the_queries_use(db_engine):
    inspector = sa.inspect(db_engine)
    def index_columns(table):
        return {tuple(ix["column_names"]) for ix in inspector.get_indexes(table)}
    assert ("queue", "status") in index_columns("work_items")
    assert ("insurer_number",) in index_columns("work_items")
    assert ("insurer_number", "member_id") in index_columns("findings")
    assert ("scan_id",) in index_columns("quarantine")
    assert inspector.get_pk_constraint("scan_findings")["constrained_columns"] == ["scan_id", "finding_id"]
    assert {tuple(u["column_names"]) for u in inspector.get_unique_constraints("work_items")} == {("finding_id",)}


def test_migrations_ship_inside_the_package():
    root = Path(reconcile.store.__file__).parent / "migrations"
    assert (root / "env.py").is_file() and (root / "__init__.py").is_file()
    assert (root / "versions" / "__init__.py").is_file()
    assert (root / "script.py.mako").is_file()     # package-data glob *.mako in pyproject
    names = sorted(p.name for p in (root / "versions").glob("0*.py"))
    assert names[:2] == ["0001_initial_schema.py", "0002_hardening.py"]


def test_sqlite_gets_wal_and_foreign_keys(tmp_path):
    engine = get_engine(f"sqlite:///{tmp_path / 'x.db'}")
    with engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1


def test_postgres_urls_use_psycopg3():
    assert normalise_url("postgresql://u:p@h:5432/d") == "postgresql+psycopg://u:p@h:5432/d"
    assert normalise_url("postgres://u:p@h/d") == "postgresql+psycopg://u:p@h/d"
    assert normalise_url("sqlite:///x.db") == "sqlite:///x.db"


def test_0002_makes_feed_fingerprints_unique_and_folds_old_duplicates(db_url):
    """Issue #8 defect 15: the check-then-insert race could store one feed twice; 0002 folds the
    duplicates into the oldest row (its scans re-pointed) and makes the fingerprint unique."""
    from datetime import datetime, timezone
    engine = get_engine(db_url)
    upgrade(engine, "0001")
    now = datetime.now(timezone.utc)
    with engine.begin() as c:
        for fid in (1, 2, 3):
            c.execute(sa.text("INSERT INTO feeds (id, fingerprint, received_at) VALUES (:i, :f, :t)"),
                      {"i": fid, "f": "same" if fid < 3 else "other", "t": now})
        c.execute(sa.text("INSERT INTO scans (id, feed_id, as_of, started_at, status) "
                          "VALUES (1, 2, '2026-11-01', :t, 'done')"), {"t": now})
    upgrade(engine)
    with engine.begin() as c:
        assert c.execute(sa.text("SELECT id FROM feeds ORDER BY id")).scalars().all() == [1, 3]
        assert c.execute(sa.text("SELECT feed_id FROM scans")).scalar() == 1
    import pytest
    with pytest.raises(sa.exc.IntegrityError):
        with engine.begin() as c:
            c.execute(sa.text("INSERT INTO feeds (fingerprint, received_at) VALUES ('same', :t)"), {"t": now})
    engine.dispose()


def test_work_items_carry_the_lifecycle_columns(db_engine):
    columns = {c["name"] for c in sa.inspect(db_engine).get_columns("work_items")}
    assert {"priority", "due_at", "lease_until", "not_seen_since_scan", "previous_finding_id"} <= columns
