"""service.scan against SQLite and PostgreSQL: one transaction per scan, idempotent reruns."""
from __future__ import annotations

import pandas as pd
import pytest
import sqlalchemy as sa

from reconcile import service, store
from reconcile.config import Settings
from reconcile.synth.generate import generate


@pytest.fixture(scope="module")
def feed_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("feed") / "feed"
    generate(out, members=2500, seed=5, as_of="2026-11-01")   # never today: no test depends on the date
    return out


def settings_for(db_url: str, tmp_path) -> Settings:
    return Settings(database_url=db_url, secret_key="pipeline-test-key-000", config_path=tmp_path / "none.toml")


def table_counts(db_url: str) -> dict[str, int]:
    engine = store.get_engine(db_url)
    with engine.connect() as conn:
        counts = {t: conn.execute(sa.text(f"SELECT count(*) FROM {t}")).scalar_one()
                  for t in ("feeds", "scans", "findings", "scan_findings", "work_items", "quarantine", "feed_stats")}
    engine.dispose()
    return counts


def test_scan_stores_every_finding_once_and_a_rerun_adds_no_work_items(db_url, feed_dir, tmp_path):
    settings = settings_for(db_url, tmp_path)
    first = service.scan(feed_dir, settings=settings)
    assert first.total_findings > 0
    assert first.new_findings == first.total_findings
    counts = table_counts(db_url)
    assert counts["scans"] == 1 and counts["feeds"] == 1
    assert counts["findings"] == counts["work_items"] == counts["scan_findings"] == first.total_findings
    assert counts["feed_stats"] > 0

    second = service.scan(feed_dir, settings=settings)
    assert second.reused_feed
    assert second.new_findings == 0
    assert second.seen_again == first.total_findings
    assert second.findings_by_rule == first.findings_by_rule
    counts = table_counts(db_url)
    assert counts["scans"] == 2 and counts["feeds"] == 1
    assert counts["findings"] == counts["work_items"] == first.total_findings
    assert counts["scan_findings"] == 2 * first.total_findings

    engine = service.open_store(settings)
    with store.session_scope(engine) as session:
        exported = store.findings_frame(session)
    assert set(exported["last_seen_scan"].astype(int)) == {second.scan_id}
    assert set(exported["first_seen_scan"].astype(int)) == {first.scan_id}


def test_a_crash_while_persisting_leaves_no_half_scan(db_url, feed_dir, tmp_path, monkeypatch):
    settings = settings_for(db_url, tmp_path)

    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(store, "save_feed_stats", broken)
    with pytest.raises(RuntimeError, match="disk full"):
        service.scan(feed_dir, settings=settings)
    counts = table_counts(db_url)
    assert counts == {"feeds": 0, "scans": 0, "findings": 0, "scan_findings": 0, "work_items": 0,
                      "quarantine": 0, "feed_stats": 0}


def test_the_findings_of_the_scan_are_the_rules_findings(db_url, feed_dir, tmp_path):
    from detectors import run_rules
    from reconcile.feeds import load_feed

    settings = settings_for(db_url, tmp_path)
    summary = service.scan(feed_dir, settings=settings)
    feed = load_feed(feed_dir, key=settings.require_key())
    expected = run_rules(feed.frames, as_of=feed.as_of).findings
    engine = service.open_store(settings)
    with store.session_scope(engine) as session:
        stored = store.findings_frame(session, scan_id=summary.scan_id)
    assert sorted(stored["finding_id"]) == sorted(expected["finding_id"])
    assert pd.Series(summary.findings_by_rule).sum() == len(expected)
