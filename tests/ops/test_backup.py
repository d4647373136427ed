"""`reconcile backup OUT` and a restore: SQLite through the online backup API (while another
connection holds an open write), PostgreSQL through pg_dump / pg_restore (or the printed command
and exit 2 when pg_dump is not on PATH)."""
from __future__ import annotations

import shutil
import sqlite3
import subprocess

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from reconcile import store
from reconcile.cli.backup import pg_dump_command
from tests.ops.conftest import make_env, reconcile

TABLES = ("feeds", "scans", "users", "alembic_version")


def _fill(db_url: str) -> None:
    engine = store.get_engine(db_url)
    store.upgrade(engine)
    with store.session_scope(engine) as session:
        for n in range(3):
            feed_id = store.add_feed(session, fingerprint=f"fp{n}", path=f"/feeds/{n}", as_of="2026-11-01",
                                     period="2026-11", manifest={"n": n}, validation=None, row_counts={"members": n})
            scan_id = store.start_scan(session, feed_id=feed_id, as_of="2026-11-01")
            store.finish_scan(session, scan_id, status="done", summary={"n": n})
        store.add_user(session, name="steward1", role="steward", token_hash="h" * 64, insurer_scope=["131016"])
    engine.dispose()


def _counts(db_url: str) -> dict[str, int]:
    engine = store.get_engine(db_url)
    try:
        with engine.connect() as conn:
            return {t: conn.execute(sa.text(f'SELECT count(*) FROM "{t}"')).scalar_one() for t in TABLES}
    finally:
        engine.dispose()


def test_backup_and_restore(tmp_path, db_url):
    _fill(db_url)
    before = _counts(db_url)
    env = make_env(tmp_path, db_url)
    url = make_url(db_url)
    if url.get_backend_name() == "sqlite":
        _sqlite_case(tmp_path, env, db_url, before)
    else:
        _postgres_case(tmp_path, env, db_url, before)


def _sqlite_case(tmp_path, env, db_url, before):
    database = make_url(db_url).database
    writer = sqlite3.connect(database, isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")  # a scan in the middle of its transaction
    writer.execute("DELETE FROM users")
    try:
        done = reconcile(tmp_path, env, "backup", str(tmp_path / "copy.sqlite3"), timeout=120)
    finally:
        writer.execute("ROLLBACK")
        writer.close()
    assert done.returncode == 0, done.stderr
    assert "integrity" in done.stdout or "整合性" in done.stdout
    copy = tmp_path / "copy.sqlite3"
    assert not (tmp_path / "copy.sqlite3-wal").exists()

    # Restore: the file put back at the configured path is the store as it was (committed data only).
    shutil.copy(copy, tmp_path / "restored.sqlite3")
    restored = f"sqlite:///{tmp_path / 'restored.sqlite3'}"
    assert _counts(restored) == before
    engine = store.get_engine(restored)
    assert store.current_revision(engine) == store.head_revision()
    with store.session_scope(engine) as session:
        assert [s["summary"]["n"] for s in store.list_scans(session)] == [2, 1, 0]
    engine.dispose()

    again = reconcile(tmp_path, env, "backup", str(copy))
    assert again.returncode == 2 and "--force" in again.stderr
    assert reconcile(tmp_path, env, "backup", str(copy), "--force").returncode == 0
    missing = make_env(tmp_path, f"sqlite:///{tmp_path / 'nothing.sqlite3'}")
    none = reconcile(tmp_path, missing, "backup", str(tmp_path / "x.sqlite3"))
    assert none.returncode == 1 and not (tmp_path / "nothing.sqlite3").exists()  # read-only: creates nothing


def _postgres_case(tmp_path, env, db_url, before):
    out = tmp_path / "store.dump"
    no_pg_dump = reconcile(tmp_path, {**env, "PATH": str(tmp_path / "empty")}, "backup", str(out))
    assert no_pg_dump.returncode == 2
    assert "pg_dump --format=custom" in no_pg_dump.stderr and "pg_restore" in no_pg_dump.stderr
    if shutil.which("pg_dump") is None or shutil.which("pg_restore") is None:
        pytest.skip("pg_dump / pg_restore not installed")
    done = reconcile(tmp_path, env, "backup", str(out), timeout=300)
    assert done.returncode == 0, done.stderr
    assert out.stat().st_size > 0

    # Restore: lose the schema, pg_restore the dump, the store is back as it was.
    url = make_url(store.normalise_url(db_url))
    command, _ = pg_dump_command(url, out)
    schema = next(part.split("=", 1)[1] for part in command if part.startswith("--schema="))
    engine = store.get_engine(db_url)
    with engine.begin() as conn:
        conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
    engine.dispose()
    libpq = url.set(drivername="postgresql").render_as_string(hide_password=False)
    restore = subprocess.run(["pg_restore", "--no-owner", f"--dbname={libpq}", str(out)], capture_output=True,
                             text=True, timeout=300)
    assert restore.returncode == 0, restore.stderr
    assert _counts(db_url) == before
    engine = store.get_engine(db_url)
    assert store.current_revision(engine) == store.head_revision()
    engine.dispose()
