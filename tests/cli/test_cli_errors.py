"""Issue #8 defects 6–10 through the console script: messages and exit codes, never a traceback.

Real processes (``python -m reconcile.cli.main``) on SQLite files; stores are prepared through the
store API instead of real scans where the feed does not matter (a scan's ingest takes tens of
seconds on the shared machine).
"""
from __future__ import annotations

import os
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import sqlalchemy as sa

from reconcile import service, store
from tests.store.helpers import finding, findings_input

KEY = "cli-errors-test-key-00001"
UNREACHABLE = "postgresql+psycopg://postgres@127.0.0.1:1/nowhere"

MEMBERS = ("insurer_number,member_id,name_kanji,name_kana,birth_date,sex,individual_number,acquisition_date,"
           "burden_ratio\n"
           "131016,A1,山田 太郎,ヤマダ タロウ,1980-05-10,1,123456789018,2020-04-01,3割\n"
           "01130012,B1,佐藤 花子,サトウ ハナコ,1975-01-02,2,,2020-04-01,3割\n")
RESIDENTS = ("resident_id,individual_number,name_kanji,birth_date,sex,status\n"
             "R1,123456789018,山田 太郎,1980-05-10,1,active\n")


def run(workdir: Path, *args: str, url: str | None = None, key: str = KEY) -> subprocess.CompletedProcess:
    env = {**os.environ, "RECONCILE_SECRET_KEY": key, "CI": "true",
           "RECONCILE_DATABASE_URL": url or f"sqlite:///{workdir / 'store.sqlite3'}",
           "RECONCILE_CONFIG": str(workdir / "reconcile.toml")}
    return subprocess.run([sys.executable, "-m", "reconcile.cli.main", *args], cwd=workdir, env=env,
                          capture_output=True, text=True, timeout=600, stdin=subprocess.DEVNULL)


def no_traceback(result: subprocess.CompletedProcess) -> None:
    assert "Traceback" not in result.stderr + result.stdout, result.stderr
    assert result.stderr.strip(), "a message is expected"


def prepared_store(workdir: Path, *, folder: str = "feed-2026-11", with_findings: bool = True) -> str:
    """A migrated store holding one finished scan of ``folder`` (two insurers' findings)."""
    url = f"sqlite:///{workdir / 'store.sqlite3'}"
    engine = store.get_engine(url)
    store.upgrade(engine)
    with store.session_scope(engine) as s:
        feed_id = store.add_feed(s, fingerprint="fp", path=str(workdir / folder), as_of="2026-11-01",
                                 period="2026-11", manifest={}, validation={}, row_counts={"members": 2})
        scan_id = store.start_scan(s, feed_id=feed_id, as_of="2026-11-01")
        if with_findings:
            store.merge_findings(s, scan_id, findings_input([
                finding("MISLINK_SUSPECTED", "A1"), finding("NOTATION_DIFFERENCE", "B1", insurer_number="01130012",
                                                            severity="low")]))
        store.finish_scan(s, scan_id, status="done", summary={"feed": str(workdir / folder)})
        store.set_meta(s, service.KEY_FINGERPRINT, service.key_fingerprint(KEY.encode()))
    engine.dispose()
    return url


READ_ONLY = [
    ("export", "findings", "--out", "f.csv"),
    ("export", "quarantine", "--out", "q.csv"),
    ("export", "national", "--period", "2026-11", "--out", "n.csv"),
    ("export", "kakuninsho", "--out", "k.csv"),
    ("report", "weekly", "--out", "rep"),
]


@pytest.mark.parametrize("args", READ_ONLY, ids=lambda a: " ".join(a[:2]))
def test_an_unreachable_database_is_exit_1_with_a_message(tmp_path, args):
    result = run(tmp_path, *args, url=UNREACHABLE)
    assert result.returncode == 1, result.stderr
    no_traceback(result)
    assert "127.0.0.1" in result.stderr


def test_read_only_commands_never_create_a_database(tmp_path):
    for args in READ_ONLY[:2] + READ_ONLY[4:]:
        result = run(tmp_path, *args)
        assert result.returncode == 1, (args, result.stderr)
        no_traceback(result)
        assert "reconcile scan" in result.stderr
    assert not (tmp_path / "store.sqlite3").exists()
    doctor = run(tmp_path, "doctor")
    assert doctor.returncode == 1 and "NG  " in doctor.stdout
    assert not (tmp_path / "store.sqlite3").exists()


def test_read_only_commands_never_upgrade_an_outdated_schema(tmp_path):
    url = f"sqlite:///{tmp_path / 'store.sqlite3'}"
    engine = store.get_engine(url)
    store.upgrade(engine, "0001")
    result = run(tmp_path, "export", "findings", "--out", "f.csv")
    assert result.returncode == 1
    no_traceback(result)
    assert "reconcile migrate" in result.stderr
    assert store.current_revision(engine) == "0001"
    migrated = run(tmp_path, "migrate")
    assert migrated.returncode == 0, migrated.stderr
    assert store.current_revision(engine) == store.head_revision()
    engine.dispose()
    assert run(tmp_path, "export", "findings", "--out", "f.csv").returncode == 0


def test_unknown_scan_missing_out_folder_and_bad_weeks_are_exit_2(tmp_path):
    prepared_store(tmp_path)
    for args in (("export", "findings", "--scan", "999", "--out", "f.csv"),
                 ("export", "quarantine", "--scan", "999", "--out", "q.csv"),
                 ("export", "findings", "--out", str(tmp_path / "no" / "such" / "f.csv")),
                 ("export", "national", "--period", "2026-11", "--out", str(tmp_path / "nowhere" / "n.csv")),
                 ("report", "weekly", "--week", "2026-W99", "--out", "rep"),
                 ("report", "weekly", "--week", "abc", "--out", "rep")):
        result = run(tmp_path, *args)
        assert result.returncode == 2, (args, result.returncode, result.stderr)
        no_traceback(result)
    assert not (tmp_path / "f.csv").exists() and not (tmp_path / "no").exists()
    scan_999 = run(tmp_path, "--lang", "en", "export", "findings", "--scan", "999")
    assert "no scan 999" in scan_999.stderr
    week = run(tmp_path, "--lang", "en", "report", "weekly", "--week", "2026-W99")
    assert "2026-W99" in week.stderr
    assert run(tmp_path, "export", "findings", "--scan", "1", "--out", "f.csv").returncode == 0
    # report weekly --out names a folder and creates it (parents too)
    made = run(tmp_path, "report", "weekly", "--week", "2026-W45", "--out", str(tmp_path / "new" / "rep"))
    assert made.returncode == 0, made.stderr
    assert (tmp_path / "new" / "rep" / "index.html").exists()


def test_a_twelve_digit_feed_folder_does_not_make_the_weekly_report_refuse(tmp_path):
    prepared_store(tmp_path, folder="202612011200")
    result = run(tmp_path, "report", "weekly", "--out", "rep")
    assert result.returncode == 0, result.stderr
    html = (tmp_path / "rep" / "index.html").read_text(encoding="utf-8")
    assert "202612011200" not in html


def test_another_key_stops_the_scan_and_doctor_says_so(tmp_path):
    prepared_store(tmp_path)
    feed = tmp_path / "feed"
    feed.mkdir()
    (feed / "members.csv").write_text(MEMBERS, encoding="utf-8")
    (feed / "residents.csv").write_text(RESIDENTS, encoding="utf-8")
    scan = run(tmp_path, "scan", "feed", key="some-other-key-0000000001")
    assert scan.returncode == 2
    no_traceback(scan)
    assert "RECONCILE_SECRET_KEY" in scan.stderr
    doctor = run(tmp_path, "doctor", key="some-other-key-0000000001")
    assert doctor.returncode == 1 and "鍵の指紋" in doctor.stdout and "NG  " in doctor.stdout
    assert run(tmp_path, "doctor").returncode == 0


def test_scan_no_wait_while_an_insurer_is_being_scanned_is_exit_2(tmp_path):
    url = prepared_store(tmp_path, with_findings=False)
    feed = tmp_path / "feed"
    feed.mkdir()
    (feed / "members.csv").write_text(MEMBERS, encoding="utf-8")
    (feed / "residents.csv").write_text(RESIDENTS, encoding="utf-8")
    engine = store.get_engine(url)
    now = datetime.now(timezone.utc)
    with engine.begin() as c:
        c.execute(sa.insert(store.ScanLock.__table__).values(
            insurer_number="01130012", holder="schedule@another-host:7:x", acquired_at=now,
            expires_at=now + timedelta(minutes=10)))
    result = run(tmp_path, "scan", "feed", "--no-wait")
    assert result.returncode == 2, result.stderr
    no_traceback(result)
    assert "01130012" in result.stderr
    with engine.connect() as c:
        assert c.execute(sa.text("SELECT count(*) FROM scans")).scalar_one() == 1
    engine.dispose()


def test_an_unknown_config_key_is_exit_2_naming_it(tmp_path):
    (tmp_path / "reconcile.toml").write_text('[queues]\nsla_days = { mislink = 7 }\n[oops]\nx = 1\n', encoding="utf-8")
    for args in (("doctor",), ("export", "findings")):
        result = run(tmp_path, *args)
        assert result.returncode == 2, (args, result.stdout, result.stderr)
        assert "oops" in result.stdout + result.stderr
        assert "Traceback" not in result.stdout + result.stderr


def test_a_full_disk_is_exit_1_with_a_message_not_a_traceback():
    """The one mapping: SQLite's 'database or disk is full' (and ENOSPC) say so, exit 1."""
    import errno

    from reconcile.cli.common import report_error

    for exc in (sa.exc.OperationalError("INSERT", {}, Exception("database or disk is full")),
                OSError(errno.ENOSPC, "No space left on device")):
        with pytest.raises(SystemExit) as stopped:
            report_error(exc)
        assert stopped.value.code == 1
