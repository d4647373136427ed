"""Weekly report: exact counts in the CSVs, the page's headings, escaping, charts, the number guard."""
from __future__ import annotations

import csv
import io
import re
from datetime import date
from pathlib import Path

import pandas as pd
import pytest
from PIL import Image

from reports.guard import IndividualNumberLeak, find_individual_numbers
from reports.weekly import build_weekly, render_weekly_html, week_bounds, write_weekly

from .conftest import REASON_LABELS_JA, WEEK, finding

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def read_csv(path: Path) -> list[list[str]]:
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf"), "UTF-8 with BOM, so Excel opens it as UTF-8"
    return list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))


@pytest.fixture(scope="module")
def report(findings, events, scans, quarantine, validation):
    """Built once: charts take about half a second each. Tests must not modify it."""
    return build_weekly(findings, events, scans, quarantine, validation, week=WEEK, lang="ja",
                        reason_labels=REASON_LABELS_JA)


def test_findings_by_rule_csv_has_exact_counts(report, tmp_path):
    write_weekly(report, tmp_path)
    assert read_csv(tmp_path / "findings_by_rule.csv") == [
        ["category", "rule_id", "rule_label", "new_this_week", "open", "in_progress", "backlog",
         "resolved_fixed", "resolved_false_positive", "resolved_wont_fix", "total", "resolved_this_week"],
        ["mislink", "MISLINK_SUSPECTED", "紐付け誤りの疑い", "1", "1", "1", "2", "0", "1", "0", "3", "1"],
        ["mislink", "NUMBER_SHARED", "同一個人番号を複数被保険者が共有", "0", "1", "0", "1", "0", "0", "0", "1", "0"],
        ["mislink", "NUMBER_INVALID", "個人番号の検査用数字不正・欠落", "0", "0", "0", "0", "1", "0", "0", "1", "1"],
        ["notation", "NOTATION_DIFFERENCE", "氏名の表記差異（同一人）", "1", "2", "0", "2", "0", "1", "0", "3", "0"],
        ["burden_ratio", "BURDEN_RATIO_OQS_MISMATCH", "一部負担割合が中間サーバーと不一致",
         "1", "1", "0", "1", "0", "0", "0", "1", "0"],
        # only in the events: auto-resolved, no longer in the export
        ["qualification_date", "QUAL_LOSS_NOT_LINKED", "資格喪失が中間サーバーに未反映",
         "0", "0", "0", "0", "0", "0", "0", "0", "1"],
    ]


def test_queue_status_csv_has_exact_counts(report, tmp_path):
    write_weekly(report, tmp_path)
    assert read_csv(tmp_path / "queue_status.csv") == [
        ["queue", "open", "in_progress", "backlog", "resolved_fixed", "resolved_false_positive",
         "resolved_wont_fix", "total", "new_this_week", "resolved_this_week"],
        ["mislink", "2", "1", "3", "1", "1", "0", "5", "1", "2"],
        ["notation", "2", "0", "2", "0", "1", "0", "3", "1", "0"],
        ["benefits", "1", "0", "1", "0", "0", "0", "1", "1", "0"],
        ["qualification", "0", "0", "0", "0", "0", "0", "0", "0", "1"],
    ]


def test_totals_count_the_week_only(report):
    assert report.totals == {
        "scans": 1, "new_this_week": 3, "backlog": 6, "high_backlog": 4, "mislink_backlog": 3,
        "resolved_this_week": 3, "quarantined_rows": 6,
    }
    assert report.scans["scan_id"].tolist() == ["S2"]
    assert report.scans["started_at"].tolist() == [pd.Timestamp("2026-11-17 10:00")]   # shown in Japan time
    assert (report.week_start, report.week_end) == (date(2026, 11, 16), date(2026, 11, 22))


def test_resolved_this_week_by_category_and_outcome(report):
    table = report.resolved_this_week
    assert table.to_dict("records") == [
        {"category": "mislink", "resolved_fixed": 1, "resolved_false_positive": 1, "resolved_wont_fix": 0, "total": 2},
        {"category": "qualification_date", "resolved_fixed": 1, "resolved_false_positive": 0,
         "resolved_wont_fix": 0, "total": 1},
    ]


def test_store_event_columns_to_status_and_at_are_read(findings, scans):
    events = pd.DataFrame([{"finding_id": "f05", "from_status": "open", "to_status": "resolved_fixed",
                            "at": pd.Timestamp("2026-11-18 00:00")}])          # naive = UTC, as the store returns
    report = build_weekly(findings, events, scans, None, None, week=WEEK, with_charts=False)
    assert report.totals["resolved_this_week"] == 1
    assert report.resolved_this_week["resolved_fixed"].tolist() == [1]


def test_without_events_resolved_this_week_is_blank_not_zero(findings, scans, tmp_path):
    report = build_weekly(findings, None, scans, None, None, week=WEEK)
    write_weekly(report, tmp_path)
    rows = read_csv(tmp_path / "findings_by_rule.csv")
    assert [row[-1] for row in rows[1:]] == ["", "", "", "", ""]
    html = (tmp_path / "index.html").read_text(encoding="utf-8")
    assert "作業履歴が渡されていないため" in html
    assert "今週の解決</div>" not in html            # no KPI card pretending zero


def test_top_suspects_are_open_suspects_by_score_with_last4_only(report):
    assert report.top_suspects[["member_id", "rule_id", "score", "suggested_resident_id", "suggested_last4"]
                               ].astype(object).where(report.top_suspects.notna(), None).to_dict("records") == [
        {"member_id": "M1", "rule_id": "MISLINK_SUSPECTED", "score": 0.93, "suggested_resident_id": "R9",
         "suggested_last4": "9018"},
        {"member_id": "M4", "rule_id": "NUMBER_SHARED", "score": 0.88, "suggested_resident_id": "R4",
         "suggested_last4": "9018"},                   # cut from the full number it was given
        {"member_id": "M2", "rule_id": "MISLINK_SUSPECTED", "score": 0.71, "suggested_resident_id": None,
         "suggested_last4": None},
    ]


def test_top_suspects_respects_top_n(findings, scans):
    report = build_weekly(findings, None, scans, None, None, week=WEEK, top_n=1, with_charts=False)
    assert report.top_suspects["member_id"].tolist() == ["M1"]


def test_notation_breakdown_counts_each_code_once_per_finding(report):
    assert report.notation_reasons.to_dict("records") == [
        {"reason_code": "VARIANT_KANJI", "reason_label": "異体字・旧字体", "findings": 3, "backlog": 2},
        {"reason_code": "KANA_SMALL", "reason_label": "拗音・促音の大書き", "findings": 1, "backlog": 1},
        {"reason_code": "WIDTH", "reason_label": "全角半角", "findings": 1, "backlog": 1},
    ]


def test_notation_reason_without_a_label_shows_its_code(findings, scans):
    report = build_weekly(findings, None, scans, None, None, week=WEEK, with_charts=False)
    assert report.notation_reasons["reason_label"].tolist() == ["VARIANT_KANJI", "KANA_SMALL", "WIDTH"]


def test_notation_without_reason_codes_is_skipped_gracefully(scans):
    findings = pd.DataFrame([
        finding("n1", "NOTATION_DIFFERENCE", "notation", "open", "S2", evidence={"name_kanji": {"left": "a"}}),
        finding("n2", "NOTATION_DIFFERENCE", "notation", "open", "S2") | {"evidence": "not json"},
    ])
    report = build_weekly(findings, None, scans, None, None, week=WEEK)
    assert report.notation_reasons is None
    assert "chart_notation_reasons.png" not in report.charts
    assert "理由コードが含まれていないため" in render_weekly_html(report)


JAPANESE_HEADINGS = [
    "週次点検レポート", "今週のスキャン", "区分別の件数", "ルール別の件数", "今週の解決（区分・結果別）",
    "作業キューの滞留状況", "紐付け誤りの疑い（スコア上位）", "表記ゆれの理由別内訳", "フィード検証結果",
    "隔離された行（ファイル・理由別）", "実行しなかったルールと理由", "個人番号は下4桁のみ表示しています。",
]
ENGLISH_HEADINGS = [
    "Weekly reconciliation report", "Scans this week", "Findings by category", "Findings by rule",
    "Resolved this week (by category and outcome)", "Work-queue backlog", "Top mis-link suspects (by score)",
    "Notation differences by reason", "Feed validation", "Quarantined rows (by file and reason)",
    "Rules not run, and why",
]


def test_html_has_japanese_headings_and_no_full_number(report, tmp_path):
    paths = write_weekly(report, tmp_path)
    assert [p.name for p in paths] == [
        "index.html", "findings_by_rule.csv", "queue_status.csv",
        "chart_findings_by_rule.png", "chart_queue_backlog.png", "chart_notation_reasons.png",
    ]
    html = (tmp_path / "index.html").read_text(encoding="utf-8")
    assert html.startswith("<!DOCTYPE html>")
    assert '<html lang="ja">' in html
    assert [h for h in JAPANESE_HEADINGS if h not in html] == []
    assert find_individual_numbers(html) == []
    assert "123456789018" not in html
    # the week's facts are on the page
    assert "2026-W47" in html and "2026-11-16 – 2026-11-22" in html
    assert "KAKUNINSHO_NOT_ISSUED" in html and "card_status.csv absent" in html
    assert "日付として読めない / bad date" in html
    assert "検証：不合格あり" in html


def test_html_in_english(findings, events, scans, quarantine, validation):
    report = build_weekly(findings, events, scans, quarantine, validation, week=WEEK, lang="en", with_charts=False)
    html = render_weekly_html(report)
    assert '<html lang="en">' in html
    assert [h for h in ENGLISH_HEADINGS if h not in html] == []
    assert "Suspected mis-link" in html and "紐付け誤りの疑い" not in html


def test_html_escapes_what_it_shows(report):
    html = render_weekly_html(report)
    assert "&lt;b&gt;要確認&lt;/b&gt;" in html
    assert "<b>要確認</b>" not in html


def test_without_charts_nothing_is_embedded_or_written(findings, scans, tmp_path):
    report = build_weekly(findings, None, scans, None, None, week=WEEK, with_charts=False)
    assert report.charts == {}
    assert [p.name for p in write_weekly(report, tmp_path)] == ["index.html", "findings_by_rule.csv", "queue_status.csv"]
    assert "<img" not in (tmp_path / "index.html").read_text(encoding="utf-8")


def test_page_is_self_contained(report):
    html = render_weekly_html(report)
    assert '<link ' not in html and '<script' not in html
    assert re.findall(r'<img src="([^"]{0,22})', html) == ["data:image/png;base64,"] * 3


@pytest.mark.parametrize("chart_font", [False, True], ids=["ascii-labels", "installed-font-if-any"])
def test_charts_are_valid_pngs(findings, events, scans, tmp_path, chart_font):
    report = build_weekly(findings, events, scans, None, None, week=WEEK, chart_font=chart_font)
    if chart_font is False:
        assert report.chart_font is None
    write_weekly(report, tmp_path)
    for name in ("chart_findings_by_rule.png", "chart_queue_backlog.png", "chart_notation_reasons.png"):
        data = (tmp_path / name).read_bytes()
        assert data.startswith(PNG_SIGNATURE)
        with Image.open(tmp_path / name) as image:
            image.verify()
        with Image.open(tmp_path / name) as image:
            assert image.format == "PNG" and image.width == 800 and image.height >= 220


def test_guard_refuses_a_leak_and_writes_nothing(findings, scans, tmp_path):
    leaking = pd.concat([findings, pd.DataFrame([finding(
        "leak", "MISLINK_SUSPECTED", "mislink", "open", "S2", score=0.99, member_id="M99",
        summary="番号 123456789018 の住民は別人")])], ignore_index=True)
    report = build_weekly(leaking, None, scans, None, None, week=WEEK, with_charts=False)
    out = tmp_path / "out"
    with pytest.raises(IndividualNumberLeak, match="index.html") as caught:
        write_weekly(report, out)
    assert "123456789018" not in str(caught.value)
    assert not out.exists()


def test_guard_also_covers_the_csvs(findings, scans, tmp_path):
    report = build_weekly(findings, None, scans, None, None, week=WEEK, with_charts=False)
    report.queue_status.loc[0, "queue"] = "queue-1234-5678-9018"
    with pytest.raises(IndividualNumberLeak):
        write_weekly(report, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_validation_in_the_feed_loaders_per_file_shape_and_raw_quarantine_rows(findings, scans):
    validation = {   # as the feed loader builds it and the store keeps it in feeds.validation
        "members": {"file": "members.csv", "format": "csv", "encoding": "cp932", "rows_read": 100,
                    "rows_valid": 99, "rows_quarantined": 1, "gx": {"success": True, "expectations": [
                        {"expectation": "expect_column_values_to_not_be_null", "column": "member_id",
                         "success": True, "unexpected_count": 0},
                        {"expectation": "expect_compound_columns_to_be_unique",
                         "column_list": ["insurer_number", "member_id"], "success": True, "unexpected_count": 0}]}},
        "residents": {"file": "residents.csv", "format": "csv", "encoding": "utf-8-sig", "rows_read": 120,
                      "rows_valid": 118, "rows_quarantined": 2, "gx": {"success": False, "expectations": [
                          {"expectation": "expect_column_values_to_be_in_set", "column": "sex", "success": False,
                           "unexpected_count": 2}]}},
    }
    raw_rows = pd.DataFrame({"file": ["residents.csv"] * 2 + ["members.csv"], "line": [5, 9, 3],
                             "column": ["sex", "sex", "birth_date"], "value": ["9", "x", "2026-02-30"],
                             "reason": ["bad sex", "bad sex", "bad date"]})
    report = build_weekly(findings, None, scans, raw_rows, validation, week=WEEK, with_charts=False)
    assert report.validation_success is False
    assert report.validation_checks[["file", "column", "success", "unexpected_count"]].to_dict("records") == [
        {"file": "members.csv", "column": "member_id", "success": True, "unexpected_count": 0},
        {"file": "members.csv", "column": "insurer_number, member_id", "success": True, "unexpected_count": 0},
        {"file": "residents.csv", "column": "sex", "success": False, "unexpected_count": 2},
    ]
    assert report.validation_files[["file", "encoding", "rows_read", "rows_quarantined", "success"]
                                   ].to_dict("records") == [
        {"file": "members.csv", "encoding": "cp932", "rows_read": 100, "rows_quarantined": 1, "success": True},
        {"file": "residents.csv", "encoding": "utf-8-sig", "rows_read": 120, "rows_quarantined": 2, "success": False},
    ]
    html = render_weekly_html(report)
    assert "検証項目 2 / 3 件合格" in html and "ファイル別の取込結果" in html
    # only the failed check is listed
    assert "expect_column_values_to_be_in_set" in html and "expect_column_values_to_not_be_null" not in html
    assert report.quarantine.to_dict("records") == [
        {"file": "members.csv", "reason": "bad date", "count": 1},
        {"file": "residents.csv", "reason": "bad sex", "count": 2},
    ]


@pytest.mark.parametrize("source", ["keyword", "validation", "scan_summary"])
def test_skipped_rules_come_from_keyword_validation_or_scan_summary(findings, scans, source):
    skipped = [{"rule_id": "QUAL_OVERLAP", "reason": "residents.csv absent"}]
    kwargs, validation = {}, None
    if source == "keyword":
        kwargs = {"skipped_rules": [("QUAL_OVERLAP", "residents.csv absent")]}
    elif source == "validation":
        validation = {"skipped_rules": skipped}
    else:
        scans = scans.assign(summary=[None, {"skipped_rules": skipped}, None])
    report = build_weekly(findings, None, scans, None, validation, week=WEEK, with_charts=False, **kwargs)
    assert report.skipped_rules.to_dict("records") == [{"rule_id": "QUAL_OVERLAP", "reason": "residents.csv absent"}]
    assert "summary" not in report.scans.columns


@pytest.mark.parametrize("started_at, in_week", [
    ("2026-11-15T15:00:00Z", True),        # Monday 00:00 in Japan
    ("2026-11-15T14:59:59Z", False),       # Sunday 23:59 in Japan: the week before
    ("2026-11-22 14:59:00", True),         # naive = UTC → Sunday 23:59 in Japan
    ("2026-11-22T15:00:00Z", False),       # next Monday in Japan
])
def test_a_scan_belongs_to_its_japan_time_week(findings, started_at, in_week):
    scans = pd.DataFrame([{"scan_id": "S2", "started_at": started_at, "as_of": "2026-11-01"}])
    report = build_weekly(findings, None, scans, None, None, week=WEEK, with_charts=False)
    assert report.totals["scans"] == (1 if in_week else 0)
    assert report.totals["new_this_week"] == (3 if in_week else 0)   # f10 is first seen by S3, not S2


def test_week_with_no_scan_says_so(findings, scans):
    report = build_weekly(findings, None, scans, None, None, week="2026-W49", with_charts=False)
    assert report.totals["scans"] == 0 and report.totals["new_this_week"] == 0
    assert "この週に実行されたスキャンはありません。" in render_weekly_html(report)


def test_week_bounds():
    assert week_bounds("2026-W47") == (date(2026, 11, 16), date(2026, 11, 22))
    assert week_bounds("2026-W53") == (date(2026, 12, 28), date(2027, 1, 3))    # 2026 has 53 ISO weeks


@pytest.mark.parametrize("week", ["2026-47", "2026W47", "2025-W53", "2026-W00", ""])
def test_bad_week_is_refused(findings, scans, week):
    with pytest.raises(ValueError, match="week"):
        build_weekly(findings, None, scans, None, None, week=week)


def test_bad_lang_is_refused(findings, scans):
    with pytest.raises(ValueError, match="lang"):
        build_weekly(findings, None, scans, None, None, week=WEEK, lang="fr")


def test_empty_findings_still_make_a_report(scans, tmp_path):
    empty = pd.DataFrame(columns=list(finding("x", "R", "c", "open", "S2")))
    report = build_weekly(empty, None, scans, None, None, week=WEEK)
    paths = write_weekly(report, tmp_path)
    assert [p.name for p in paths] == ["index.html", "findings_by_rule.csv", "queue_status.csv"]
    assert read_csv(tmp_path / "findings_by_rule.csv")[1:] == []
    assert "未処理の紐付け誤りの疑いはありません。" in (tmp_path / "index.html").read_text(encoding="utf-8")


def test_suspects_with_equal_scores_put_mislink_suspected_first(scans):
    findings = pd.DataFrame([
        finding("s1", "NUMBER_SHARED", "mislink", "open", "S2", score=1.0, member_id="A1"),
        finding("s2", "MISLINK_SUSPECTED", "mislink", "open", "S2", score=1.0, member_id="B1"),
        finding("s3", "MISLINK_SUSPECTED", "mislink", "open", "S2", score=0.5, member_id="A0"),
    ])
    report = build_weekly(findings, None, scans, None, None, week=WEEK, with_charts=False)
    assert report.top_suspects["member_id"].tolist() == ["B1", "A1", "A0"]


def test_events_without_a_resolution_this_week_say_so(findings, scans):
    events = pd.DataFrame([{"finding_id": "f01", "status": "in_progress", "changed_at": "2026-11-18T09:00:00+09:00"}])
    report = build_weekly(findings, events, scans, None, None, week=WEEK, with_charts=False)
    assert report.totals["resolved_this_week"] == 0
    assert "今週解決した指摘はありません。" in render_weekly_html(report)
