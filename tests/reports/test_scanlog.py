"""The week's scans in the weekly report: outcome, feed folder, stage timings, reason, retries.

Scans as ``list_scans`` returns them, with ``summary["schedule"]`` as the drop-folder watcher stores
it (reconcile/schedule.py). Week 2026-W49 runs Monday 2026-11-30 to Sunday 2026-12-06 (Japan time);
times without a zone are UTC.
"""
from __future__ import annotations

import io

import pandas as pd
import pytest

from reports import scanlog
from reports.weekly import build_weekly, render_weekly_html, weekly_files, weekly_json

WEEK = "2026-W49"
NOW = pd.Timestamp("2026-12-06T12:00:00Z")
START, END = pd.Timestamp("2026-11-30"), pd.Timestamp("2026-12-07")

DONE_STAGES = {"fingerprint": 0.31, "scan": 12.06, "scan:ingest_and_validation": 7.84, "scan:rules": 3.83,
               "scan:persist": 0.39, "report": 2.04, "move": 0.01}
REJECTED = {"ja": "members.csv の列 birth_date: 必須の列がありません",
            "en": "members.csv, column birth_date: required column missing"}


def _scans() -> pd.DataFrame:
    return pd.DataFrame([
        {"scan_id": 1, "started_at": "2026-11-24T01:00:00", "status": "done", "period": "2026-10",
         "path": "done/2026-10", "findings": 50,
         "summary": {"schedule": {"source": "watch", "folder": "2026-10", "outcome": "done", "stages": {"scan": 3.0},
                                  "redeliveries": [{"folder": "2026-10-resent", "moved_to": "done/2026-10-resent",
                                                    "at": "2026-12-01T00:30:00Z", "retry_of": None},
                                                   {"folder": "2026-10-old", "at": "2026-11-25T00:00:00Z"}]}}},
        {"scan_id": 2, "started_at": "2026-12-01T00:10:00", "status": "rejected", "period": "2026-11",
         "path": "rejected/2026-11-broken", "findings": 0,
         "summary": {"rejected": {"ja": "フィードを受け付けられませんでした: " + REJECTED["ja"],
                                  "en": "Feed rejected: " + REJECTED["en"]},
                     "schedule": {"source": "watch", "folder": "2026-11-broken", "outcome": "rejected",
                                  "stages": {"fingerprint": 0.29, "scan": 18.78, "report": 1.5, "move": 0.01},
                                  "reason": REJECTED, "retry_of": None}}},
        {"scan_id": 3, "started_at": "2026-12-01T01:00:00", "status": "done", "period": "2026-11",
         "path": "/srv/drop/done/2026-11", "findings": 74,
         "summary": {"queues": {"new": 60, "carried": 14, "closed_not_seen": 3},
                     "schedule": {"source": "watch", "folder": "2026-11", "outcome": "done", "stages": DONE_STAGES,
                                  "retry_of": {"host": "h", "pid": 4242, "since": "2026-12-01T00:50:00Z",
                                               "attempts": 1}}}},
        {"scan_id": 4, "started_at": "2026-12-02T03:00:00", "status": "done", "period": "2026-11",
         "path": "/home/clerk/feeds/extra", "findings": 5,
         "summary": {"seconds": {"ingest_and_validation": 1.25, "rules": 65.4, "rule:MISLINK_SUSPECTED": 0.2,
                                 "persist": 0.5}}},
        {"scan_id": 5, "started_at": "2026-12-03T03:00:00", "status": "rejected", "period": None,
         "path": "rejected/2026-12", "findings": 0,
         "summary": {"schedule": {"source": "watch", "folder": "2026-12", "outcome": "failed",
                                  "stages": {"fingerprint": 0.1, "scan": 0.2, "move": 0.0},
                                  "reason": {"ja": "内部エラーで 3 回失敗しました: OSError: disk full",
                                             "en": "failed 3 times with an internal error: OSError: disk full"},
                                  "retry_of": {"pid": 99, "failed_at": "2026-12-03T02:59:00Z",
                                               "reason": "OSError: disk full", "attempts": 2}}}},
    ])


def _week(scans: pd.DataFrame) -> pd.DataFrame:
    from reports.timeutil import local_times
    when = local_times(scans["started_at"])
    return scans.loc[(when >= START) & (when < END)].assign(started_at=when[(when >= START) & (when < END)])


@pytest.fixture(scope="module")
def log_ja() -> pd.DataFrame:
    scans = _scans()
    return scanlog.scan_log(_week(scans), scans, START, END, "ja")


def test_one_row_per_scan_of_the_week_and_per_redelivery_in_it(log_ja):
    assert log_ja[["scan_id", "folder", "outcome"]].values.tolist() == [
        [2, "2026-11-broken", "rejected"], [1, "2026-10-resent", "duplicate"], [3, "2026-11", "done"],
        [4, "extra", "done"], [5, "2026-12", "failed"]]
    assert log_ja["started_at"].iloc[0] == pd.Timestamp("2026-12-01 09:10")          # Japan time
    assert scanlog.outcome_counts(log_ja) == {"scans_done": 2, "scans_rejected": 1, "scans_failed": 1,
                                              "feeds_resent": 1}


def test_outcomes_and_sources_in_natural_japanese(log_ja):
    rows = log_ja.set_index("folder")
    assert rows.loc["2026-11", "outcome_label"] == "完了"
    assert rows.loc["2026-11-broken", "outcome_label"] == "受付不可"
    assert rows.loc["2026-12", "outcome_label"] == "中止（内部エラー）"
    assert rows.loc["2026-10-resent", "outcome_label"] == "再送（点検済み）"
    assert rows.loc["2026-11", "source_label"] == "自動"
    assert rows.loc["extra", "source_label"] == "手動"


def test_stage_timings_in_words_and_in_columns(log_ja):
    rows = log_ja.set_index("folder")
    assert rows.loc["2026-11", "stages"] == ("重複確認 0.3秒、スキャン 12.1秒（取込・検証 7.8秒、ルール 3.8秒、保存 0.4秒）、"
                                             "レポート更新 2.0秒、移動 0.0秒")
    assert rows.loc["2026-11", "seconds_ingest_and_validation"] == 7.84
    assert rows.loc["2026-11", "seconds_total"] == pytest.approx(0.31 + 12.06 + 2.04 + 0.01)
    # A scan run by hand has only its own stages (per-rule times stay out); a minute or more in minutes.
    assert rows.loc["extra", "stages"] == "取込・検証 1.2秒、ルール 1分05秒、保存 0.5秒"
    assert pd.isna(rows.loc["extra", "seconds_fingerprint"])
    assert rows.loc["2026-11-broken", "stages"] == "重複確認 0.3秒、スキャン 18.8秒、レポート更新 1.5秒、移動 0.0秒"


def test_reason_of_a_refusal_retries_and_what_a_done_scan_did(log_ja):
    rows = log_ja.set_index("folder")
    assert rows.loc["2026-11-broken", "details"] == REJECTED["ja"]
    assert pd.isna(rows.loc["2026-11-broken", "findings"])
    assert rows.loc["2026-11", "details"] == "新規 60 件、前回から継続 14 件、検出されなくなった 3 件。"
    assert rows.loc["2026-11", "retry"] == "前回の処理（2026-12-01 09:50）が途中で止まったため（プロセス停止）、やり直しました。 2 回目の試行です。"
    assert rows.loc["2026-12", "retry"] == ("前回の試行（2026-12-03 11:59）が失敗したため、やり直しました: OSError: disk full"
                                            " 3 回目の試行です。")
    assert rows.loc["2026-10-resent", "details"] == "同じ内容をスキャン 1 で点検済みのため、再スキャンせずに done/ へ移しました。"


def test_english():
    scans = _scans()
    log = scanlog.scan_log(_week(scans), scans, START, END, "en").set_index("folder")
    assert log.loc["2026-11-broken", ["outcome_label", "details"]].tolist() == ["rejected", REJECTED["en"]]
    assert log.loc["2026-11", "stages"] == ("duplicate check 0.3 s, scan 12.1 s (ingest and validation 7.8 s, "
                                            "rules 3.8 s, persist 0.4 s), report 2.0 s, move 0.0 s")
    assert log.loc["2026-11", "retry"].startswith("Retried: the previous attempt (2026-12-01 09:50 JST) stopped")
    assert log.loc["extra", "stages"] == "ingest and validation 1.2 s, rules 1 min 05 s, persist 0.5 s"


def _report(lang: str):
    items = pd.DataFrame(columns=["finding_id", "rule_id", "category", "status", "insurer_number", "created_at"])
    return build_weekly(items, None, _scans(), None, None, week=WEEK, now=NOW, lang=lang, with_charts=False)


def test_the_page_the_csv_and_the_json_show_the_outcomes():
    report = _report("ja")
    html = render_weekly_html(report)
    section = html[html.index('<h3 id="scans">'):]
    section = section[:section.index("</table>")]
    for text in ("今週のスキャンと結果", "2026-11-broken", "受付不可", REJECTED["ja"], "完了",
                 "重複確認 0.3秒", "やり直しました", "再送（点検済み）", "中止（内部エラー）"):
        assert text in section, text
    assert "rejected" not in section.split("</thead>")[1].replace("rejected/", "")   # no raw codes for stewards
    assert "受け付けられなかったフィードが 2 件あります" in html                    # rejected + failed, in the to-do
    assert report.figures["scans"] == 4 and report.periods == ["2026-11"]            # the refused month is no feed month
    csv = pd.read_csv(io.BytesIO(weekly_files(report)["scans.csv"]), encoding="utf-8-sig")
    assert csv["outcome"].tolist() == ["rejected", "duplicate", "done", "done", "failed"]
    assert csv.loc[csv["scan_id"] == 3, "seconds_scan"].item() == 12.06
    body = weekly_json(report)
    assert [s["outcome"] for s in body["scans"]] == csv["outcome"].tolist()
    assert body["scans"][0]["details"] == REJECTED["ja"]
    english = render_weekly_html(_report("en"))
    assert "Scans this week and their outcome" in english and REJECTED["en"] in english
    assert "Feeds not accepted this week: 2 (" in english


def test_a_folder_named_like_a_formula_is_text_in_the_csv():
    scans = pd.DataFrame([{"scan_id": 7, "started_at": "2026-12-01T00:00:00", "status": "rejected",
                           "summary": {"schedule": {"folder": "=HYPERLINK(\"x\")", "outcome": "rejected",
                                                    "stages": {"scan": 1.0}, "reason": REJECTED}}}])
    items = pd.DataFrame(columns=["finding_id", "rule_id", "category", "status", "insurer_number", "created_at"])
    report = build_weekly(items, None, scans, None, None, week=WEEK, now=NOW, with_charts=False)
    csv = pd.read_csv(io.BytesIO(weekly_files(report, html=False)["scans.csv"]), encoding="utf-8-sig")
    assert csv["folder"].tolist() == ["'=HYPERLINK(\"x\")"] and csv["seconds_scan"].tolist() == [1.0]
