"""National-reporting export: the feed's reporting month, exact counts per insurer × category,
totals in their own file, the corrections list, and a store-backed export recomputed from the store."""
from __future__ import annotations

import csv
from datetime import date

import pandas as pd
import pytest

from reports import counts
from reports.national import (CORRECTION_COLUMNS, NATIONAL_COLUMNS, TOTAL_COLUMNS, build_corrections,
                              build_national, build_national_totals)

PERIOD = "2026-11"
CREATED = date(2026, 12, 2)

# Scans 1 and 2: November feeds of two insurers, run on 1 December (the scan's wall-clock month is
# December: the export must still report them under November). Scan 3: the December feed of A.
SCANS = pd.DataFrame([
    {"scan_id": 1, "period": "2026-11", "as_of": date(2026, 11, 1), "status": "done"},
    {"scan_id": 2, "period": None, "as_of": date(2026, 11, 1), "status": "done"},     # period from as_of
    {"scan_id": 3, "period": "2026-12", "as_of": date(2026, 12, 1), "status": "done"},
    {"scan_id": 4, "period": "2026-11", "as_of": date(2026, 11, 1), "status": "failed"},
])
FEED_STATS = pd.DataFrame([
    (1, "131016", "members", 1000.0), (1, "131016", "active_members", 900.0),
    (2, "131024", "members", 500.0), (3, "131016", "members", 1010.0),
], columns=["scan_id", "insurer_number", "statistic", "value"])
SCAN_FINDINGS = pd.DataFrame([
    (1, "131016", "A7", "NUMBER_INVALID"), (1, "131016", "A8", "RESIDENT_NOT_FOUND"),
    (1, "131016", "A8", "NUMBER_INVALID"),            # the same member twice: one member unverified
    (2, "131024", "B9", "RESIDENT_NOT_FOUND"),
], columns=["scan_id", "insurer_number", "member_id", "rule_id"])


def item(finding_id, insurer, category, status, first, last=None, rule="MISLINK_SUSPECTED", member="M",
         last4=None, resolved_at=None):
    return {"finding_id": finding_id, "insurer_number": insurer, "category": category, "status": status,
            "first_seen_scan": first, "last_seen_scan": last or first, "rule_id": rule, "member_id": member,
            "suggested_resident_id": "R1" if last4 else None, "suggested_individual_number_last4": last4,
            "resolved_at": resolved_at}


WORK_ITEMS = pd.DataFrame([
    item("a1", "131016", "mislink", "resolved_fixed", 1, 1, member="A1", last4="123456789018",
         resolved_at="2026-12-01T16:00:00Z"),                              # confirmed, later gone: corrected
    item("a2", "131016", "mislink", "resolved_fixed", 1, 3, member="A2", last4="0042",
         resolved_at="2026-12-01T01:00:00Z"),                              # confirmed, still raised by scan 3
    item("a3", "131016", "mislink", "open", 1, 3),
    item("a4", "131016", "notation", "closed_not_seen", 1, 1, rule="NOTATION_DIFFERENCE"),
    item("a5", "131016", "notation", "resolved_false_positive", 1, rule="NOTATION_DIFFERENCE"),
    item("a6", "131016", "burden_ratio", "in_progress", 1, rule="BURDEN_RATIO_RULE"),
    item("a7", "131016", "qualification_date", "resolved_wont_fix", 1, rule="QUAL_OVERLAP"),
    item("a8", "131016", "mislink", "open", 3),                            # December's cohort
    item("b1", "131024", "mislink", "open", 2),
    item("b2", "131024", "burden_ratio", "resolved_fixed", 2, rule="BURDEN_RATIO_RULE"),
    item("b3", "131024", "mislink", "open", 4),                            # a failed scan: no cohort
    item("f1", None, "feed", "open", 1, rule="FEED_DRIFT"),               # feed level: not reported
])

ZERO = (0, 0, 0, 0, 0, 0, 0)


def expected() -> list[tuple]:
    # found, confirmed, corrected, false_positive, wont_fix, no_longer_detected, still_open
    a = {"mislink": (3, 2, 1, 0, 0, 0, 1), "notation": (2, 0, 0, 1, 0, 1, 0),
         "burden_ratio": (1, 0, 0, 0, 0, 0, 1), "qualification_date": (1, 0, 0, 0, 1, 0, 0)}
    b = {"mislink": (1, 0, 0, 0, 0, 0, 1), "burden_ratio": (1, 1, 0, 0, 0, 0, 0)}
    rows = []
    for insurer, checked, verified, table in (("131016", 1000, 998, a), ("131024", 500, 499, b)):
        for category in ("mislink", "notation", "burden_ratio", "limit_category", "qualification_date",
                         "card_issuance"):
            rows.append((PERIOD, insurer, category, checked, verified, *table.get(category, ZERO)))
    return rows


def national() -> pd.DataFrame:
    return build_national(WORK_ITEMS, SCANS, FEED_STATS, SCAN_FINDINGS, period=PERIOD, created_on=CREATED)


def test_counts_per_insurer_and_category_follow_the_feed_reporting_month():
    frame = national()
    assert list(frame.columns) == NATIONAL_COLUMNS
    got = [tuple(r) for r in frame[["period", "insurer_number", "category_code", "members_checked",
                                    "links_verified", *counts.OUTCOME_COLUMNS]].itertuples(index=False)]
    assert got == expected()
    assert frame["category_label"].tolist()[:3] == ["紐付け誤り", "表記ゆれ", "一部負担割合"]
    assert set(frame["created_on"]) == {"2026-12-02"}
    # found = every status group; corrected is a part of confirmed
    groups = frame[["confirmed", "false_positive", "wont_fix", "no_longer_detected", "still_open"]].sum(axis=1)
    assert (frame["found"] == groups).all() and (frame["corrected"] <= frame["confirmed"]).all()


def test_no_total_row_among_the_data_and_totals_add_up_across_the_two_insurers():
    frame = national()
    assert "合計" not in set(frame["category_label"]) and "total" not in set(frame["category_code"])
    totals = build_national_totals(frame)
    assert list(totals.columns) == TOTAL_COLUMNS
    per_category = totals.loc[totals["category_code"] != "all"].set_index("category_code")
    for column in counts.OUTCOME_COLUMNS:
        assert per_category[column].to_dict() == frame.groupby("category_code", sort=False)[column].sum().to_dict()
    everything = totals.loc[totals["category_code"] == "all"].iloc[0]
    assert (everything["insurers"], everything["members_checked"], everything["links_verified"]) == (2, 1500, 1497)
    assert everything["found"] == 9 == frame["found"].sum()
    assert per_category.loc["mislink", "members_checked"] == 1500      # once per insurer within a category


def test_a_month_without_feeds_is_empty_and_december_has_its_own_cohort():
    assert build_national(WORK_ITEMS, SCANS, FEED_STATS, SCAN_FINDINGS, period="2026-10",
                          created_on=CREATED).empty
    december = build_national(WORK_ITEMS, SCANS, FEED_STATS, SCAN_FINDINGS, period="2026-12", created_on=CREATED)
    row = december.loc[december["category_code"] == "mislink"].iloc[0]
    assert (row["insurer_number"], row["members_checked"], row["found"], row["still_open"]) == ("131016", 1010, 1, 1)


def test_english_labels_and_a_bad_period():
    frame = build_national(WORK_ITEMS, SCANS, FEED_STATS, SCAN_FINDINGS, period=PERIOD, created_on=CREATED,
                           lang="en")
    assert frame["category_label"].iloc[0] == "Mis-link"
    with pytest.raises(ValueError, match="2026-11"):
        build_national(WORK_ITEMS, SCANS, FEED_STATS, SCAN_FINDINGS, period="2026-13", created_on=CREATED)


def test_corrections_list_has_the_confirmed_mislinks_with_last_four_digits_only():
    out = build_corrections(WORK_ITEMS, SCANS, FEED_STATS, period=PERIOD)
    assert list(out.columns) == CORRECTION_COLUMNS
    assert out[["member_id", "suggested_number_last4", "confirmed_on", "corrected"]].values.tolist() == [
        ["A1", "9018", "2026-12-02", "済"], ["A2", "0042", "2026-12-01", "未"]]


# ---------------------------------------------------------------- from a real store, via the CLI use-case

def _scan(session, store, fingerprint, period, insurer, members):
    feed_id = store.add_feed(session, fingerprint=fingerprint, path=f"/feeds/{fingerprint}", as_of="2026-11-01",
                             period=period, manifest={"period": period}, validation={"success": True},
                             row_counts={"members": members})
    scan_id = store.start_scan(session, feed_id=feed_id, as_of="2026-11-01")
    store.save_feed_stats(session, scan_id, pd.DataFrame(
        [(insurer, "members", float(members))], columns=["insurer_number", "statistic", "value"]))
    return scan_id


def test_export_from_the_store_adds_up_across_two_insurers(db_url, tmp_path):
    from reconcile import store
    from reconcile.config import Settings
    from reconcile.exports import export_national
    from tests.store.helpers import finding, findings_input

    engine = store.get_engine(db_url)
    store.upgrade(engine)
    a = [finding("MISLINK_SUSPECTED", f"A{i}", insurer_number="131016", facts=str(i)) for i in range(4)]
    a += [finding("NOTATION_DIFFERENCE", "A9", insurer_number="131016", severity="low"),
          finding("NUMBER_INVALID", "A8", insurer_number="131016")]
    b = [finding("MISLINK_SUSPECTED", "B1", insurer_number="131024"),
         finding("BURDEN_RATIO_OQS_MISMATCH", "B2", insurer_number="131024", severity="medium")]
    with store.session_scope(engine) as s:
        scan_a = _scan(s, store, "a-11", "2026-11", "131016", 120)
        store.merge_findings(s, scan_a, findings_input(a), insurer_numbers=["131016"])
        store.finish_scan(s, scan_a, status="done", summary={})
        scan_b = _scan(s, store, "b-11", "2026-11", "131024", 80)
        store.merge_findings(s, scan_b, findings_input(b), insurer_numbers=["131024"])
        store.finish_scan(s, scan_b, status="done", summary={})
        store.transition(s, a[0]["finding_id"], "resolved_fixed", "steward")
        store.transition(s, a[1]["finding_id"], "resolved_false_positive", "steward")
        store.transition(s, b[0]["finding_id"], "in_progress", "steward")

    settings = Settings(database_url=db_url, secret_key=None, config_path=tmp_path / "none.toml")
    result = export_national(tmp_path / "n.csv", period=PERIOD, totals=tmp_path / "t.csv",
                             corrections=tmp_path / "c.csv", settings=settings,
                             now=pd.Timestamp("2026-12-01T10:00:00Z"))
    raw = (tmp_path / "n.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")                              # UTF-8 with BOM for Excel
    rows = list(csv.DictReader(open(tmp_path / "n.csv", encoding="utf-8-sig")))
    assert int(result.rows) == len(rows) == 12                          # 2 insurers × 6 categories

    # Recompute from the store, independently of reports.counts.
    import sqlalchemy as sa
    with store.session_scope(engine) as s:
        stored = s.execute(sa.select(store.Finding.insurer_number, store.Finding.category, store.WorkItem.status)
                           .join(store.WorkItem, store.WorkItem.finding_id == store.Finding.finding_id)).all()
    for row in rows:
        mine = [st for ins, cat, st in stored if ins == row["保険者番号"] and cat == row["区分コード"]]
        assert int(row["検出件数"]) == len(mine)
        assert int(row["誤り確定件数"]) == mine.count("resolved_fixed")
        assert int(row["誤検知件数"]) == mine.count("resolved_false_positive")
        assert int(row["未処理件数"]) == sum(st in ("open", "in_progress") for st in mine)
        assert row["作成日"] == "2026-12-01"
    by = {(r["保険者番号"], r["区分コード"]): r for r in rows}
    assert (by[("131016", "mislink")]["点検被保険者数"], by[("131016", "mislink")]["紐付け確認被保険者数"]) == ("120", "119")
    assert by[("131024", "burden_ratio")]["検出件数"] == "1"

    totals = list(csv.DictReader(open(tmp_path / "t.csv", encoding="utf-8-sig")))
    everything = totals[-1]
    assert everything["区分コード"] == "all"
    assert int(everything["検出件数"]) == sum(int(r["検出件数"]) for r in rows) == 8
    assert int(everything["点検被保険者数"]) == 200
    for total in totals[:-1]:
        assert int(total["検出件数"]) == sum(int(r["検出件数"]) for r in rows if r["区分コード"] == total["区分コード"])
    corrections = list(csv.DictReader(open(tmp_path / "c.csv", encoding="utf-8-sig")))
    assert [r["被保険者ID"] for r in corrections] == ["A0"]
