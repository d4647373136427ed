"""Kill the scheduler mid-scan (a real `reconcile schedule run` process, SIGKILL): nothing is
half-stored, the folder stays where it was, and the next scheduler's tick finishes the job and says
that it retries a crashed attempt. SQLite and PostgreSQL."""
from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import sqlalchemy as sa

from reconcile import store
from tests.ops.conftest import drop


def _start(workdir: Path, env: dict, log: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "reconcile.cli.main", "-v", "schedule", "run"], cwd=workdir,
                            env=env, stdout=subprocess.DEVNULL, stderr=log.open("w", encoding="utf-8"))


def _events(log: Path) -> list[dict]:
    out = []
    for line in log.read_text(encoding="utf-8").splitlines():
        try:
            out.append(json.loads(line))
        except ValueError:
            pass
    return out


def _wait_for(predicate, timeout: float, what: str, proc: subprocess.Popen | None = None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"scheduler ended (exit {proc.returncode}) before {what}")
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def _counts(db_url: str) -> dict[str, int]:
    engine = store.get_engine(db_url)
    try:
        with engine.connect() as conn:
            names = sa.inspect(conn).get_table_names()
            return {t: conn.execute(sa.text(f'SELECT count(*) FROM "{t}"')).scalar_one()
                    for t in ("feeds", "scans", "findings", "scan_findings", "work_items", "feed_stats", "quarantine")
                    if t in names}
    finally:
        engine.dispose()


def test_killed_mid_scan_the_next_tick_finishes_the_job(tmp_path, db_url, ops_env, small_feed):
    drop_dir = tmp_path / "drop"
    drop_dir.mkdir()
    (tmp_path / "reconcile.toml").write_text(
        '[schedule]\nstate_dir = "state"\n\n'
        f'[[schedule.watch]]\nname = "drop"\ndrop_dir = "{drop_dir}"\nevery = 2\nreport_dir = "{tmp_path / "report"}"\n',
        encoding="utf-8")
    drop(small_feed, drop_dir, "2026-11")

    first_log = tmp_path / "first.log"
    first = _start(tmp_path, ops_env, first_log)
    try:
        _wait_for(lambda: any(e.get("event") == "watch.scan_started" for e in _events(first_log)), 120,
                  "the scan to start", first)
        time.sleep(1.5)  # inside ingest / validation (several seconds on this feed)
        assert first.poll() is None
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait(30)

    # Nothing of the scan is stored; the folder is still in the drop folder with the dead claim.
    counts = _counts(db_url)
    assert counts.get("scans", 0) == 0 and counts.get("findings", 0) == 0 and counts.get("work_items", 0) == 0, counts
    assert counts.get("feeds", 0) == 0 and counts.get("scan_findings", 0) == 0, counts
    assert (drop_dir / "2026-11" / "_READY").is_file() and not (drop_dir / "done").exists()
    claim = json.loads((drop_dir / ".reconcile" / "claims" / "2026-11.json").read_text(encoding="utf-8"))
    assert claim["pid"] == first.pid
    state = json.loads((tmp_path / "state" / "drop.json").read_text(encoding="utf-8"))
    assert state["status"] == "running" and state["pid"] == first.pid

    # The restarted scheduler retries the crashed job at once; its regular ticks are now an hour apart,
    # so no later (empty) tick overwrites the retried run's state before it is read below.
    config = tmp_path / "reconcile.toml"
    config.write_text(config.read_text(encoding="utf-8").replace("every = 2\n", "every = 3600\n"), encoding="utf-8")
    second_log = tmp_path / "second.log"
    second = _start(tmp_path, ops_env, second_log)
    outcome_file = drop_dir / "done" / "2026-11" / "_OUTCOME.json"
    try:
        _wait_for(outcome_file.is_file, 300, "the retried scan to finish", second)
        _wait_for(lambda: any(e.get("event") == "job.done" for e in _events(second_log)), 60, "the job to end",
                  second)
    finally:
        second.send_signal(signal.SIGTERM)
        code = second.wait(60)
    assert code == 0, second_log.read_text(encoding="utf-8")[-2000:]

    outcome = json.loads(outcome_file.read_text(encoding="utf-8"))
    assert outcome["status"] == "done"
    assert outcome["retry_of"]["pid"] == first.pid  # the outcome says it retried the crashed attempt
    events = _events(second_log)
    job_retry = [e for e in events if e.get("event") == "job.retry"]
    assert job_retry and "crashed" in job_retry[0]["message"]
    assert any(e.get("event") == "watch.retry" for e in events)

    counts = _counts(db_url)
    assert counts["scans"] == 1 and counts["feeds"] == 1
    assert counts["findings"] == outcome["summary"]["findings"] == counts["work_items"] > 0
    assert not (drop_dir / ".reconcile" / "claims" / "2026-11.json").exists()
    state = json.loads((tmp_path / "state" / "drop.json").read_text(encoding="utf-8"))
    assert state["status"] == "done" and state["retry_of"]["pid"] == first.pid
