"""`reconcile doctor`'s operator checks: the [schedule] table and its drop folders, free disk, the chart font."""
from __future__ import annotations

from reconcile import schedule, store
from reconcile.config import get_settings
from tests.ops.conftest import make_env, reconcile


def test_doctor_reports_schedule_disk_and_font(tmp_path):
    db_url = f"sqlite:///{tmp_path / 'store.sqlite3'}"
    engine = store.get_engine(db_url)
    store.upgrade(engine)
    engine.dispose()
    (tmp_path / "drop").mkdir()
    (tmp_path / "reconcile.toml").write_text(
        f'[schedule]\n[[schedule.watch]]\nname = "monthly"\ndrop_dir = "{tmp_path / "drop"}"\n', encoding="utf-8")
    env = make_env(tmp_path, db_url, RECONCILE_LOG_FORMAT="text")
    done = reconcile(tmp_path, env, "--lang", "en", "doctor")
    lines = done.stdout.splitlines()
    assert "OK  [schedule]: 1 job(s) (monthly)" in lines, done.stdout
    assert f"OK  drop folder {tmp_path / 'drop'}: present" in lines
    assert any(line.startswith("OK  free disk at ") and "GiB" in line for line in lines)
    assert any(line.startswith(("OK  chart font", "NG  chart font")) for line in lines)
    assert done.returncode == (0 if not any(line.startswith("NG") for line in lines) else 1)

    (tmp_path / "drop").rmdir()
    gone = reconcile(tmp_path, env, "--lang", "en", "doctor")
    assert gone.returncode == 1 and f"NG  drop folder {tmp_path / 'drop'}: missing" in gone.stdout

    (tmp_path / "reconcile.toml").write_text('[schedule]\nwatchers = []\n', encoding="utf-8")
    bad = reconcile(tmp_path, env, "--lang", "en", "doctor")
    assert bad.returncode != 0 and "schedule.watchers" in bad.stdout + bad.stderr
    assert "Traceback" not in bad.stderr


def test_too_little_free_disk_is_ng(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("RECONCILE_CONFIG", str(tmp_path / "none.toml"))
    monkeypatch.setattr(schedule, "MIN_FREE_BYTES", 1 << 62)
    checks = schedule.doctor_checks(get_settings(database_url=f"sqlite:///{tmp_path / 'db.sqlite3'}"))
    disk = [c for c in checks if c[2].startswith("free disk")]
    assert disk and not disk[0][0] and "needed" in disk[0][2] and "以上必要" in disk[0][1]
