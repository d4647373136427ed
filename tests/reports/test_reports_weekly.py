"""Weekly report: exact figures, the to-do opening, ageing, SLA, trend, labels not codes, A4 page, guard."""
from __future__ import annotations

import csv
import io
import re
from datetime import date
from pathlib import Path

import pandas as pd
import pytest
from PIL import Image

from reports import charts
from reports.guard import IndividualNumberLeak
from reports.weekly import build_weekly, render_weekly_html, week_bounds, weekly_json, write_weekly

from .conftest import NOW, QUEUE_LABELS_JA, REASON_LABELS_JA, WEEK, item

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def build(items, events, scans, quarantine=None, validation=None, **kwargs):
    kwargs.setdefault("with_charts", False)
    return build_weekly(items, events, scans, quarantine, validation, week=WEEK, now=NOW, lang=kwargs.pop("lang", "ja"),
                        version="0.1.0", insurer_names={"131016": "千代田区国民健康保険"},
                        queue_labels=QUEUE_LABELS_JA, reason_labels=REASON_LABELS_JA, **kwargs)


@pytest.fixture(scope="module")
def report(items, events, scans, quarantine, validation):
    """Built once with charts. Tests must not modify it."""
    return build(items, events, scans, quarantine, validation, with_charts=True)


def read_csv(path: Path) -> list[list[str]]:
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf"), "UTF-8 with BOM, so Excel opens it as UTF-8"
    return list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))


def test_figures_are_exact(report):
    assert report.figures == {
        "scans": 1, "new_this_week": 4, "new_mislinks": 1, "backlog": 7, "in_progress": 1, "high_backlog": 3,
        "high_not_listed_above": 1, "overdue": 1, "mislink_backlog": 3, "closed_by_steward_this_week": 1,
        "confirmed_this_week": 1, "no_longer_detected_this_week": 1, "mislinks_confirmed": 0,
        "mislinks_corrected": 0, "quarantined_rows": 5, "drift_alerts": 1, "suspects_total": 3,
        "scans_done": 1, "scans_rejected": 0, "scans_failed": 0, "feeds_resent": 0,
    }
    assert (report.week_start, report.week_end) == (date(2026, 11, 16), date(2026, 11, 22))
    assert report.created_at == pd.Timestamp("2026-11-22 21:00")       # Japan time
    assert report.insurers == [("131016", "千代田区国民健康保険")] and report.periods == ["2026-11"]


def test_todo_lists_the_overdue_item_the_new_mislink_with_the_person_and_the_other_high_ones(report):
    assert report.overdue["member_id"].tolist() == ["M2"]
    assert report.new_mislinks["member_id"].tolist() == ["M1"]
    assert report.new_mislinks["suggested_person"].tolist() == ["田中 花子（1980-05-10 生、宛名番号 R9、番号下4桁 9018）"]
    assert report.high["member_id"].tolist() == ["M4"]


def test_mislinks_confirmed_and_corrected_and_notation_progress(report):
    table = report.mislink.set_index("rule_id")
    assert table.loc["MISLINK_SUSPECTED", ["found", "false_positive", "still_open"]].tolist() == [3, 1, 2]
    assert table.loc["NUMBER_SHARED", ["found", "still_open"]].tolist() == [1, 1]
    assert table.loc["NUMBER_INVALID", ["found", "confirmed", "corrected"]].tolist() == [1, 1, 1]
    assert table.loc["RESIDENT_NOT_FOUND", "found"] == 0
    notation = report.notation.iloc[0]
    assert (notation["found"], notation["no_longer_detected"], notation["still_open"], notation["new_this_week"]) == \
        (3, 1, 2, 1)
    assert report.notation_reasons[["reason_code", "reason_label", "found", "still_open"]].values.tolist() == [
        ["VARIANT_KANJI", "異体字・旧字体", 3, 2], ["KANA_SMALL", "拗音・促音の大書き", 1, 1], ["WIDTH", "全角半角", 1, 1]]


def test_trend_ageing_and_sla(report):
    trend = report.trend.set_index("week")
    assert len(trend) == 8 and trend.index[-1] == "2026-W47"
    assert trend.loc["2026-W46"].tolist() == [6, 1, 0, 5]
    assert trend.loc["2026-W47"].tolist() == [4, 1, 1, 7]
    ageing = report.ageing.set_index("queue")
    assert ageing.loc["mislink", ["0-7", "8-14", "total"]].tolist() == [1, 2, 3]
    sla = report.sla.set_index("queue")
    assert sla.loc["mislink", ["open", "overdue", "oldest_overdue_days"]].tolist() == [3, 1, 2]


def test_every_catalogue_rule_is_listed_number_shared_included(report, tmp_path):
    assert "NUMBER_SHARED" in set(report.by_rule["rule_id"]) and len(report.by_rule) >= 19
    write_weekly(report, tmp_path)
    rows = read_csv(tmp_path / "findings_by_rule.csv")
    assert rows[0] == ["category", "rule_id", "new_this_week", "found", "confirmed", "corrected", "false_positive",
                       "wont_fix", "no_longer_detected", "still_open"]
    assert ["mislink", "NUMBER_SHARED", "0", "1", "0", "0", "0", "0", "0", "1"] in rows
    assert ["card_issuance", "KAKUNINSHO_NOT_ISSUED", "0", "0", "0", "0", "0", "0", "0", "0"] in rows
    queues = {r[0]: r for r in read_csv(tmp_path / "queue_status.csv")[1:]}
    assert queues["mislink"] == ["mislink", "3", "1", "1", "1", "5"] and queues["qualification"][1] == "0"


def _visible_text(html: str) -> str:
    body = re.sub(r"<style.*?</style>|<img[^>]*>", "", html, flags=re.S)
    return re.sub(r"<[^>]+>", " ", body)


def test_page_opens_with_the_todo_and_has_no_raw_codes_in_japanese(report):
    html = render_weekly_html(report)
    text = _visible_text(html)
    assert text.index("今週やること") < text.index("未処理の滞留") < text.index("推移") < text.index("紐付け誤り：確定と修正")
    assert "処理期限を過ぎた項目が 1 件あります" in text
    assert "千代田区国民健康保険（131016）" in text and "作成日時" in text and "0.1.0" in text
    assert "田中 花子（1980-05-10 生" in text
    for code in ("MISLINK_SUSPECTED", "NUMBER_SHARED", "NOTATION_DIFFERENCE", "resolved_fixed", "closed_not_seen",
                 "in_progress", "VARIANT_KANJI", ">mislink<", ">notation<", "ですです", "継続中 /"):
        assert code not in text, code
    assert "&lt;b&gt;要確認&lt;/b&gt;" in html                       # summaries are escaped
    assert "size: A4" in html and "overflow-x" not in html             # A4; no scroll box to print


def test_truncated_lists_say_so():
    many = pd.DataFrame([item(f"s{i:02d}", "MISLINK_SUSPECTED", "mislink", "open", "2026-11-17T01:00:00Z",
                              member_id=f"M{i:02d}", score=0.5 + i / 100) for i in range(52)])
    scans = pd.DataFrame([{"scan_id": 2, "started_at": "2026-11-17T01:00:00Z", "as_of": "2026-11-01"}])
    report = build(many, None, scans)
    text = _visible_text(render_weekly_html(report))
    assert "上位20件（全52件中）" in text
    assert report.top_suspects["member_id"].tolist()[0] == "M51"
    assert "作業履歴がないため" in text and report.figures["closed_by_steward_this_week"] is None


def test_english_page_and_json_share_the_context(items, events, scans):
    report = build(items, events, scans, lang="en")
    text = _visible_text(render_weekly_html(report))
    assert "This week" in text and "1 items are past their due date" in text
    data = weekly_json(report)
    assert data["figures"]["backlog"] == 7 and data["tables"]["mislink"]["headings"][0] == "Rule"


def test_without_due_dates_overdue_is_not_judged(items, scans):
    report = build(items.drop(columns="due_at"), None, scans)
    assert report.figures["overdue"] is None and not report.has_due_dates
    assert "処理期限が設定されていないため" in _visible_text(render_weekly_html(report))


def test_charts_are_pngs_with_a_japanese_font(report, tmp_path):
    assert report.chart_font == "IPAexGothic"                          # matplotlib-fontja, not a system font
    assert set(report.charts) == {"chart_backlog_ageing.png", "chart_trend.png", "chart_notation_reasons.png"}
    written = write_weekly(report, tmp_path)
    assert written[0].name == "index.html"
    for name, png in report.charts.items():
        assert png.startswith(PNG_SIGNATURE)
        assert Image.open(io.BytesIO(png)).size[0] >= 600
    assert charts.japanese_font() == "IPAexGothic"


def test_guard_refuses_a_leak_and_writes_nothing(items, scans, tmp_path):
    leaky = pd.concat([items, pd.DataFrame([item("x1", "MISLINK_SUSPECTED", "mislink", "open", "2026-11-17T01:00:00Z",
                                                 summary="番号 123456789018 の確認")])], ignore_index=True)
    report = build(leaky, None, scans)
    with pytest.raises(IndividualNumberLeak):
        write_weekly(report, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_last4_is_cut_from_a_full_number(report):
    assert report.top_suspects.set_index("member_id").loc["M4", "suggested_last4"] == "9018"


@pytest.mark.parametrize("week", ["2026-47", "2026-W54", "", "0001-W01", "9999-W01"])
def test_bad_week_is_refused(items, scans, week):
    with pytest.raises(ValueError):
        build_weekly(items, None, scans, None, None, week=week, now=NOW)


def test_week_bounds():
    assert week_bounds("2026-W01") == (date(2025, 12, 29), date(2026, 1, 4))


def test_empty_store_frames_still_make_a_report(scans, tmp_path):
    empty = pd.DataFrame(columns=["finding_id", "rule_id", "category", "status", "created_at"])
    report = build(empty, pd.DataFrame(columns=["finding_id", "to_status", "at"]), scans)
    assert report.figures["backlog"] == 0
    write_weekly(report, tmp_path)
    assert "未処理の項目はありません" in (tmp_path / "index.html").read_text(encoding="utf-8")
