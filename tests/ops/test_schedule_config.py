"""The [schedule] table: format, errors that name the key, and the job runner's crash/failure retry."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

import pytest

from reconcile.config import ConfigError, get_settings
from reconcile.errors import InvalidInput
from reconcile.schedule import JobRunner, parse_schedule

GOOD = {
    "timezone": "Asia/Tokyo",
    "state_dir": "state",
    "watch": [{"drop_dir": "/srv/drop", "every": 30, "report_dir": "/srv/report"}],
    "weekly_report": {"cron": "0 7 * * mon", "out": "/srv/report"},
    "export": [{"what": "national", "cron": "0 8 1 * *", "out": "/srv/out/national-{period}.csv",
                "period": "previous", "encoding": "cp932"},
               {"what": "findings", "cron": "30 7 * * mon", "out": "/srv/out/findings-{date}.csv"}],
}


def test_a_full_schedule_parses_into_jobs():
    config = parse_schedule(GOOD)
    kinds = [(job.kind, job.cron, job.every) for job in config.jobs]
    assert kinds == [("watch", None, 30), ("weekly_report", "0 7 * * mon", None),
                     ("export", "0 8 1 * *", None), ("export", "30 7 * * mon", None)]
    assert config.jobs[0].params == {"drop_dir": "/srv/drop", "report_dir": "/srv/report", "lang": "ja"}
    assert len({job.name for job in config.jobs}) == 4
    assert parse_schedule({"watch": [{"drop_dir": "d"}]}).jobs[0].every == 60  # default poll


@pytest.mark.parametrize("table, names", [
    ({"bogus": 1}, "schedule.bogus"),
    ({"watch": [{"drop_dir": "d", "evry": 3}]}, "schedule.watch[0].evry"),
    ({"watch": [{"every": 3}]}, "schedule.watch[0].drop_dir"),
    ({"watch": [{"drop_dir": "d", "every": "3"}]}, "schedule.watch[0].every"),
    ({"weekly_report": {"out": "r"}}, "schedule.weekly_report.cron"),
    ({"weekly_report": {"cron": "61 * * * *"}}, "schedule.weekly_report.cron"),
    ({"export": [{"what": "everything", "cron": "0 1 * * *", "out": "x"}]}, "schedule.export[0].what"),
    ({"export": [{"what": "national", "cron": "0 1 * * *", "out": "x", "period": "2026/11"}]},
     "schedule.export[0].period"),
    ({"timezone": "Mars/Olympus"}, "schedule.timezone"),
    ({"watch": [{"drop_dir": "d", "cron": "* * * * *", "every": 5}]}, "schedule.watch[0]"),
])
def test_a_bad_schedule_names_the_key(table, names):
    with pytest.raises(InvalidInput) as caught:
        parse_schedule(table)
    assert names in caught.value.text("ja") and names in caught.value.text("en")


def test_an_unknown_schedule_key_makes_the_config_file_an_error(tmp_path, monkeypatch):
    import reconcile.schedule  # noqa: F401 — registers the validator
    path = tmp_path / "reconcile.toml"
    path.write_text('[schedule]\n[[schedule.watch]]\ndrop_dir = "d"\npoll = 5\n', encoding="utf-8")
    monkeypatch.setenv("RECONCILE_CONFIG", str(path))
    with pytest.raises((ConfigError, InvalidInput)) as caught:
        get_settings()
    assert "schedule.watch[0].poll" in caught.value.text("ja") and "schedule.watch[0].poll" in caught.value.text("en")


def _runner(tmp_path, db_url, drop_dir):
    settings = get_settings(database_url=db_url, secret_key="k" * 20)
    config = parse_schedule({"state_dir": str(tmp_path / "state"),
                             "watch": [{"name": "drop", "drop_dir": str(drop_dir), "every": 5}]})
    return JobRunner(config, settings), config.jobs[0]


def test_a_failed_job_is_retried_on_the_next_tick_and_says_so(tmp_path, caplog, monkeypatch):
    drop_dir = tmp_path / "drop"   # missing: the watch job fails
    runner, job = _runner(tmp_path, f"sqlite:///{tmp_path / 'db.sqlite3'}", drop_dir)
    state = runner.run_job(job)
    assert state["status"] == "failed" and str(drop_dir) in state["error"]
    assert runner._needs_retry(job)
    drop_dir.mkdir()
    with caplog.at_level("WARNING", logger="reconcile.schedule"):
        state = runner.run_job(job)
    assert state["status"] == "done" and state["retry_of"]["status"] == "failed"
    assert any("retrying" in r.getMessage() and "failed" in r.getMessage() for r in caplog.records)
    assert not runner._needs_retry(job)


def test_a_run_whose_process_died_counts_as_crashed(tmp_path):
    drop_dir = tmp_path / "drop"
    drop_dir.mkdir()
    runner, job = _runner(tmp_path, f"sqlite:///{tmp_path / 'db.sqlite3'}", drop_dir)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    (tmp_path / "state" / "drop.json").write_text(json.dumps(
        {"status": "running", "pid": int(dead.stdout), "host": socket.gethostname(), "started_at": "x"}))
    assert runner._needs_retry(job)
    (tmp_path / "state" / "drop.json").write_text(json.dumps(
        {"status": "running", "pid": os.getppid(), "host": socket.gethostname(), "started_at": "x"}))
    assert not runner._needs_retry(job)  # a live process still runs it
    assert runner.run_job(job)["status"] == "skipped"


def test_export_jobs_write_their_files_with_period_and_date_in_the_name(tmp_path):
    from reconcile import store

    db_url = f"sqlite:///{tmp_path / 'db.sqlite3'}"
    engine = store.get_engine(db_url)
    store.upgrade(engine)
    engine.dispose()
    settings = get_settings(database_url=db_url, secret_key="k" * 20)
    config = parse_schedule({"state_dir": str(tmp_path / "state"), "export": [
        {"what": "findings", "cron": "0 1 * * *", "out": str(tmp_path / "out" / "findings-{date}.csv")},
        {"what": "national", "cron": "0 1 1 * *", "period": "2026-11", "encoding": "cp932",
         "out": str(tmp_path / "out" / "national-{period}.csv")}]})
    runner = JobRunner(config, settings)
    states = [runner.run_job(job) for job in config.jobs]
    assert [s["status"] for s in states] == ["done", "done"], states
    assert (tmp_path / "out" / "national-2026-11.csv").is_file()
    findings = [p for p in (tmp_path / "out").glob("findings-*.csv")]
    assert len(findings) == 1 and findings[0].read_bytes().lstrip(b"\xef\xbb\xbf").startswith(b"finding_id")
    assert json.loads((tmp_path / "state" / f"{config.jobs[1].name.replace(':', '_')}.json").read_text())["result"][
        "out"].endswith("national-2026-11.csv")
