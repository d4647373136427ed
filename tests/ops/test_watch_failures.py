"""The watcher's handling of scans that fail or wait, without running real scans (the scan is
replaced by a stub; fingerprints, claims, moves and the store are real, on SQLite)."""
from __future__ import annotations

import json
from pathlib import Path

import sqlalchemy as sa

from reconcile import store
from reconcile.config import get_settings
from reconcile.errors import EnvironmentProblem, Refused
from reconcile.schedule import MAX_ATTEMPTS, Watcher


def _feed(drop_dir: Path, name: str) -> Path:
    folder = drop_dir / name
    folder.mkdir(parents=True)
    (folder / "members.csv").write_text("insurer_number,member_id\n131016,M1\n131016,M2\n", encoding="utf-8")
    (folder / "residents.csv").write_text("resident_id\nR1\n", encoding="utf-8")
    (folder / "_READY").write_text("", encoding="utf-8")
    return folder


def _watcher(tmp_path, scan):
    settings = get_settings(database_url=f"sqlite:///{tmp_path / 'db.sqlite3'}", secret_key="k" * 20)
    return Watcher(tmp_path / "drop", settings=settings, report_dir=None, scan=scan)


def test_an_internal_error_is_retried_then_the_folder_is_rejected(tmp_path):
    calls = []

    def broken(folder, settings):
        calls.append(folder)
        raise EnvironmentProblem("データベースに接続できません", "database unreachable")

    folder = _feed(tmp_path / "drop", "2026-11")
    watcher = _watcher(tmp_path, broken)
    for attempt in range(1, MAX_ATTEMPTS):
        (outcome,) = watcher.tick()
        assert outcome.status == "failed" and f"attempt {attempt}" in outcome.messages["en"]
        assert folder.is_dir() and not (folder / "_OUTCOME.json").exists()  # left for the next tick
        claim = json.loads((tmp_path / "drop" / ".reconcile" / "claims" / "2026-11.json").read_text())
        assert claim["attempts"] == attempt and "database unreachable" in claim["reason"]
    (last,) = watcher.tick()
    assert len(calls) == MAX_ATTEMPTS
    assert last.retry_of["attempts"] == MAX_ATTEMPTS - 1
    moved = tmp_path / "drop" / "rejected" / "2026-11"
    outcome = json.loads((moved / "_OUTCOME.json").read_text(encoding="utf-8"))
    assert outcome["status"] == "failed" and f"after {MAX_ATTEMPTS} failed attempts" in outcome["messages"]["en"]
    assert not (tmp_path / "drop" / ".reconcile" / "claims" / "2026-11.json").exists()
    engine = store.get_engine(f"sqlite:///{tmp_path / 'db.sqlite3'}")
    with engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT status FROM scans")).all()
        insurers = conn.execute(sa.text("SELECT insurer_number, members FROM scan_insurers")).all()
    engine.dispose()
    assert [r[0] for r in rows] == ["rejected"] and [tuple(r) for r in insurers] == [("131016", 2)]
    assert watcher.tick() == []  # nothing left


def test_a_held_scan_lock_leaves_the_folder_for_the_next_tick(tmp_path):
    from reconcile.store.locks import LockHeld

    def locked(folder, settings):
        try:
            raise LockHeld("131016", "scan@elsewhere:1:x", None)
        except LockHeld:
            raise Refused("保険者 131016 は別の走査が実行中です", "insurer 131016 is being scanned") from None

    folder = _feed(tmp_path / "drop", "2026-11")
    (outcome,) = _watcher(tmp_path, locked).tick()
    assert outcome.status == "waiting" and "next tick" in outcome.messages["en"]
    assert folder.is_dir() and not (tmp_path / "drop" / ".reconcile" / "claims" / "2026-11.json").exists()


def test_an_older_period_refusal_goes_to_rejected(tmp_path):
    def refused(folder, settings):
        raise Refused("保険者 131016: 対象月 2026-09 は走査済みの最新 2026-10 より古いフィードです",
                      "insurer 131016: period 2026-09 is older than the latest scanned (2026-10)")

    _feed(tmp_path / "drop", "2026-09")
    (outcome,) = _watcher(tmp_path, refused).tick()
    assert outcome.status == "rejected" and outcome.moved_to == "rejected/2026-09"
    assert "older than the latest scanned" in outcome.messages["en"] and "古いフィード" in outcome.messages["ja"]


def test_content_scanned_meanwhile_by_another_process_is_a_duplicate(tmp_path):
    from reconcile.service import AlreadyScanned

    def raced(folder, settings):
        raise AlreadyScanned("同じ内容は走査 7 で点検済みです", "already scanned as scan 7", scan_id=7)

    _feed(tmp_path / "drop", "2026-11")
    (outcome,) = _watcher(tmp_path, raced).tick()
    assert outcome.status == "duplicate" and outcome.scan_id == 7 and outcome.moved_to == "done/2026-11"
    assert "scan" not in outcome.stages
