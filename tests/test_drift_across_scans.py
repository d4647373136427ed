"""FEED_DRIFT through the real store: statistics of earlier scans are the history of the next."""
from __future__ import annotations

import json

import pandas as pd

from reconcile import service, store
from reconcile.config import Settings

HEADER = ("insurer_number,member_id,household_id,name_kanji,name_kana,birth_date,sex,individual_number_last4,"
          "acquisition_date,burden_ratio\n")


def write_feed(path, *, month: int, members: int, share_20: float) -> None:
    """A small feed of working-age members; ``share_20`` of them carry a (wrong) 20% ratio."""
    path.mkdir()
    lines = [HEADER]
    for i in range(members):
        ratio = 20 if i < round(members * share_20) else 30
        lines.append(f"131016,M{month:02d}{i:04d},H{i:04d},山田 太郎,ヤマダ タロウ,1980-05-10,1,{i:04d},2020-04-01,{ratio}\n")
    (path / "members.csv").write_text("".join(lines), encoding="utf-8")
    (path / "residents.csv").write_text("resident_id,name_kanji,birth_date,sex,status\nR1,山田 太郎,1980-05-10,1,active\n",
                                        encoding="utf-8")
    (path / "manifest.json").write_text(json.dumps({"as_of": f"2026-{month:02d}-01"}), encoding="utf-8")


def test_drift_needs_three_earlier_feeds_then_flags_the_moved_statistic(tmp_path):
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'store.sqlite3'}", secret_key="drift-test-key-0000",
                        config_path=tmp_path / "none.toml")
    drift_counts = []
    for month, share in [(6, 0.0), (7, 0.0), (8, 0.0), (9, 0.5)]:
        feed = tmp_path / f"feed-{month}"
        write_feed(feed, month=month, members=60 + month, share_20=share)
        summary = service.scan(feed, settings=settings)
        drift_counts.append(summary.findings_by_rule.get("FEED_DRIFT", 0))
    assert drift_counts == [0, 0, 0, 1]
    engine = service.open_store(settings)
    with store.session_scope(engine) as session:
        findings = store.findings_frame(session)
    drift = findings.loc[findings["rule_id"] == "FEED_DRIFT"].iloc[0]
    assert drift["insurer_number"] == "131016"
    assert pd.isna(drift["member_id"]) or drift["member_id"] == ""
    assert "burden_ratio_share:20" in drift["evidence"]
