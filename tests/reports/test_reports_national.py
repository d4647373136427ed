"""National-reporting export: exact monthly counts per insurer and category."""
from __future__ import annotations

import pandas as pd
import pytest

from reports.guard import IndividualNumberLeak
from reports.national import NATIONAL_COLUMNS, build_national, write_national

PERIOD = "2026-11"

FINDINGS = pd.DataFrame([
    # finding_id, insurer_number, category
    ("m1", "131016", "mislink"), ("m2", "131016", "mislink"), ("m3", "131016", "mislink"),
    ("m4", "131016", "mislink"), ("n1", "131016", "notation"), ("n2", "131016", "notation"),
    ("b1", "131016", "burden_ratio"), ("q1", "131016", "qualification_date"),
    ("x1", "131024", "mislink"), ("x2", "131024", "notation"),
    ("fd", None, "feed"),                                   # feed level: not reported
], columns=["finding_id", "insurer_number", "category"])

WORK_ITEMS = pd.DataFrame([
    # finding_id, status, created_at, resolved_at — naive = UTC, as the store returns them
    ("m1", "resolved_fixed", "2026-11-02 00:00", "2026-11-10 00:00"),           # found + confirmed
    ("m2", "resolved_false_positive", "2026-10-20 00:00", "2026-11-05 00:00"),  # old, false positive in Nov
    ("m3", "open", "2026-11-20 00:00", None),                                   # found, still open
    ("m4", "resolved_fixed", "2026-10-01 00:00", "2026-10-15 00:00"),           # settled before the month
    ("n1", "resolved_fixed", "2026-10-25 00:00", "2026-11-30 14:59"),           # 23:59 JST on the 30th: in Nov
    ("n2", "resolved_fixed", "2026-11-03 00:00", "2026-11-30 15:00"),           # 00:00 JST Dec 1: after Nov
    ("b1", "resolved_wont_fix", "2026-11-04 00:00", "2026-11-06 00:00"),
    ("q1", "in_progress", "2026-11-30 15:30", None),                            # Dec 1 in Japan: not Nov
    ("x1", "resolved_fixed", "2026-11-01 00:00", "2026-11-02 00:00"),
    ("x2", "open", "2026-09-01 00:00", None),
    ("fd", "open", "2026-11-01 00:00", None),
], columns=["finding_id", "status", "created_at", "resolved_at"])


def expected_rows() -> list[tuple]:
    # category, found, confirmed, false_positive, wont_fix, resolved, open_at_end, mislinks_confirmed, notation_fixed
    a = [
        ("mislink", 2, 1, 1, 0, 2, 1, 1, 0),
        ("notation", 1, 1, 0, 0, 1, 1, 0, 1),
        ("burden_ratio", 1, 0, 0, 1, 1, 0, 0, 0),
        ("limit_category", 0, 0, 0, 0, 0, 0, 0, 0),
        ("qualification_date", 0, 0, 0, 0, 0, 0, 0, 0),
        ("card_issuance", 0, 0, 0, 0, 0, 0, 0, 0),
        ("total", 4, 2, 1, 1, 4, 2, 1, 1),
    ]
    b = [
        ("mislink", 1, 1, 0, 0, 1, 0, 1, 0),
        ("notation", 0, 0, 0, 0, 0, 1, 0, 0),
        ("burden_ratio", 0, 0, 0, 0, 0, 0, 0, 0),
        ("limit_category", 0, 0, 0, 0, 0, 0, 0, 0),
        ("qualification_date", 0, 0, 0, 0, 0, 0, 0, 0),
        ("card_issuance", 0, 0, 0, 0, 0, 0, 0, 0),
        ("total", 1, 1, 0, 0, 1, 1, 1, 0),
    ]
    return [(PERIOD, "131016", *row) for row in a] + [(PERIOD, "131024", *row) for row in b]


def test_monthly_counts_per_insurer_and_category_are_exact():
    out = build_national(FINDINGS, WORK_ITEMS, period=PERIOD)
    assert list(out.columns) == NATIONAL_COLUMNS
    assert [tuple(r) for r in out.itertuples(index=False)] == expected_rows()


def test_japanese_headers_and_category_labels():
    out = build_national(FINDINGS, WORK_ITEMS, period=PERIOD, lang="ja")
    assert list(out.columns) == [
        "報告対象月", "保険者番号", "区分", "検出件数", "誤り確定・修正件数", "誤検知件数", "対応不要件数",
        "処理済件数", "期末未処理件数", "紐付け誤り確定件数", "表記修正件数",
    ]
    assert out["区分"].tolist()[:7] == [
        "紐付け誤り", "表記ゆれ", "一部負担割合", "限度額適用区分", "資格取得・喪失日", "資格確認書の交付", "合計"]
    assert out["紐付け誤り確定件数"].tolist()[6] == 1


def test_work_items_carry_insurer_and_category_when_the_finding_is_not_given():
    items = WORK_ITEMS.assign(insurer_number=None, category=None)
    extra = pd.DataFrame([{"finding_id": "z9", "status": "resolved_fixed", "created_at": "2026-11-05 00:00",
                           "resolved_at": "2026-11-06 00:00", "insurer_number": "131032", "category": "mislink"}])
    out = build_national(FINDINGS, pd.concat([items, extra], ignore_index=True), period=PERIOD)
    total = out.loc[(out["insurer_number"] == "131032") & (out["category"] == "total")]
    assert total[["found", "confirmed", "mislinks_confirmed"]].to_dict("records") == [
        {"found": 1, "confirmed": 1, "mislinks_confirmed": 1}]


def test_updated_at_stands_in_for_a_missing_resolved_at():
    items = pd.DataFrame([{"finding_id": "m1", "status": "resolved_fixed", "created_at": "2026-10-01 00:00",
                           "updated_at": "2026-11-10 00:00"},
                          {"finding_id": "m3", "status": "open", "created_at": "2026-10-01 00:00",
                           "updated_at": "2026-11-10 00:00"}])
    out = build_national(FINDINGS, items, period=PERIOD)
    mislink = out.loc[out["category"] == "mislink"].iloc[0]
    assert (mislink["confirmed"], mislink["open_at_end"]) == (1, 1)


def test_earlier_period_sees_later_resolutions_as_open():
    out = build_national(FINDINGS, WORK_ITEMS, period="2026-10")
    mislink = out.loc[(out["insurer_number"] == "131016") & (out["category"] == "mislink")].iloc[0]
    # m2 (created Oct 20, resolved Nov 5) was open at the end of October; m4 was confirmed in October
    assert (mislink["found"], mislink["confirmed"], mislink["open_at_end"]) == (2, 1, 1)
    assert "131024" in set(out["insurer_number"])            # x2 was created in September


@pytest.mark.parametrize("period", ["2026-13", "202611", "2026-1", ""])
def test_bad_period_is_refused(period):
    with pytest.raises(ValueError, match="period"):
        build_national(FINDINGS, WORK_ITEMS, period=period)


def test_write_national_csv_and_guard(tmp_path):
    out = build_national(FINDINGS, WORK_ITEMS, period=PERIOD, lang="ja")
    path = write_national(out, tmp_path / "national.csv")
    assert path.read_bytes().startswith(b"\xef\xbb\xbf")
    assert pd.read_csv(path, dtype=str).iloc[0, :3].tolist() == ["2026-11", "131016", "紐付け誤り"]
    cp932 = write_national(out, tmp_path / "national_sjis.csv", encoding="cp932")
    assert cp932.read_bytes().decode("cp932").startswith("報告対象月,保険者番号")
    leaking = out.astype({"保険者番号": "string"})
    leaking.loc[0, "保険者番号"] = "123456789018"
    with pytest.raises(IndividualNumberLeak):
        write_national(leaking, tmp_path / "leak.csv")
    assert not (tmp_path / "leak.csv").exists()
