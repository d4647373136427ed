"""Every headline number of the weekly report, recomputed from the store with plain SQL.

Two scans of two feed months into a real store (SQLite and PostgreSQL): the second no longer raises
some findings (closed_not_seen), a steward resolves others; the report's figures, its KPI cards and
its tables must equal what the store says. The week and "now" come from the stored timestamps, so the
test does not depend on today's date.
"""
from __future__ import annotations

import re

import pandas as pd
import sqlalchemy as sa

from reports.timeutil import local_times
from reports.weekly import iso_week, render_weekly_html


def _scan(session, store, fingerprint, period, as_of, members):
    feed_id = store.add_feed(session, fingerprint=fingerprint, path=f"/feeds/{fingerprint}", as_of=as_of,
                             period=period, manifest={"period": period, "insurer_number": "131016",
                                                      "insurer_name": "千代田区国民健康保険"},
                             validation={"success": True}, row_counts={"members": members})
    scan_id = store.start_scan(session, feed_id=feed_id, as_of=as_of)
    store.save_feed_stats(session, scan_id, pd.DataFrame(
        [("131016", "members", float(members))], columns=["insurer_number", "statistic", "value"]))
    return scan_id


def test_weekly_figures_match_the_store(db_url):
    from reconcile import exports, store
    from tests.store.helpers import finding, findings_input

    engine = store.get_engine(db_url)
    store.upgrade(engine)
    first = [finding("MISLINK_SUSPECTED", f"M{i}", facts=str(i), score=0.5 + i / 10) for i in range(4)]
    first += [finding("NUMBER_SHARED", "S1"), finding("NOTATION_DIFFERENCE", "N1", severity="low"),
              finding("NOTATION_DIFFERENCE", "N2", severity="low", evidence={"reasons": ["WIDTH"]}),
              finding("BURDEN_RATIO_OQS_MISMATCH", "B1", severity="medium"),
              finding("FEED_DRIFT", None, severity="medium")]
    second = [f for f in first if f["member_id"] not in ("M3", "N2")]          # fixed in the source
    second += [finding("MISLINK_SUSPECTED", "M9", facts="new", score=0.97)]
    rules = sorted({f["rule_id"] for f in first + second})
    with store.session_scope(engine) as s:
        one = _scan(s, store, "f-10", "2026-10", "2026-10-01", 100)
        store.merge_findings(s, one, findings_input(first), rules_run=rules, insurer_numbers=["131016"])
        store.finish_scan(s, one, status="done", summary={})
        store.save_quarantine(s, one, pd.DataFrame([{"file": "members.csv", "line": 3, "column": "sex",
                                                     "value": "x", "reason": "性別コード不正"}]))
        two = _scan(s, store, "f-11", "2026-11", "2026-11-01", 101)
        store.merge_findings(s, two, findings_input(second), rules_run=rules, insurer_numbers=["131016"])
        store.finish_scan(s, two, status="done", summary={})
        store.transition(s, first[0]["finding_id"], "resolved_fixed", "steward")
        store.transition(s, first[1]["finding_id"], "in_progress", "steward")
        store.transition(s, first[5]["finding_id"], "resolved_false_positive", "steward")

    W, F, E, Q = (store.WorkItem.__table__, store.Finding.__table__, store.Event.__table__,
                  store.QuarantineRow.__table__)
    with store.session_scope(engine) as s:
        items = pd.DataFrame(s.execute(sa.select(W.c.status, W.c.created_at, W.c.due_at, F.c.rule_id, F.c.severity)
                                       .join(F, F.c.finding_id == W.c.finding_id)).all(),
                             columns=["status", "created_at", "due_at", "rule_id", "severity"])
        events = pd.DataFrame(s.execute(sa.select(E.c.work_item_id, E.c.to_status, E.c.at)
                                        .where(E.c.work_item_id.isnot(None)).order_by(E.c.id)).all(),
                              columns=["work_item_id", "to_status", "at"])
        latest_scan = s.scalar(sa.select(sa.func.max(store.Scan.id)))
        quarantined = s.scalar(sa.select(sa.func.count()).select_from(Q).where(Q.c.scan_id == latest_scan))
    created = local_times(items["created_at"])
    week = iso_week(created.max())
    now = pd.Timestamp(created.max()).tz_localize("Asia/Tokyo") + pd.Timedelta(hours=1)
    with store.session_scope(engine) as s:
        report = exports.weekly_context(s, week=week, now=now, with_charts=False)

    active = items["status"].isin(["open", "in_progress"])
    due = local_times(items["due_at"])
    last = events.drop_duplicates("work_item_id", keep="last")
    expected = {
        "backlog": int(active.sum()),
        "in_progress": int((items["status"] == "in_progress").sum()),
        "high_backlog": int((active & (items["severity"] == "high")).sum()),
        "mislink_backlog": int((active & items["rule_id"].isin(["MISLINK_SUSPECTED", "NUMBER_SHARED"])).sum()),
        "new_this_week": len(items),
        "overdue": int((active & (due < now.tz_localize(None)).fillna(False)).sum()) if due.notna().any() else None,
        "closed_by_steward_this_week": int(last["to_status"].isin(
            ["resolved_fixed", "resolved_false_positive", "resolved_wont_fix"]).sum()),
        "no_longer_detected_this_week": int((last["to_status"] == "closed_not_seen").sum()),
        "mislinks_confirmed": int(((items["status"] == "resolved_fixed")
                                   & items["rule_id"].isin(["MISLINK_SUSPECTED", "NUMBER_SHARED"])).sum()),
        "drift_alerts": int((active & (items["rule_id"] == "FEED_DRIFT")).sum()),
        "quarantined_rows": int(quarantined),
    }
    assert {k: report.figures[k] for k in expected} == expected
    assert expected["backlog"] == 6 and expected["no_longer_detected_this_week"] == 2      # the scenario happened

    # The page shows those numbers on its cards, and the tables add up to them.
    html = render_weekly_html(report)
    cards = dict((label, value) for value, label in
                 re.findall(r'<div class="v">([^<]+)</div><div class="l">([^<]+)</div>', html))
    assert cards["未処理（未対応＋対応中）"] == f"{expected['backlog']:,}"
    assert cards["今週の新規"] == f"{expected['new_this_week']:,}"
    assert cards["重要度「高」の未処理"] == f"{expected['high_backlog']:,}"
    assert cards["今週の解決（担当者）"] == f"{expected['closed_by_steward_this_week']:,}"
    assert cards["今週検出されなくなった"] == f"{expected['no_longer_detected_this_week']:,}"
    assert cards["隔離行数"] == f"{expected['quarantined_rows']:,}"
    assert int(report.ageing["total"].sum()) == expected["backlog"]
    assert int(report.by_rule["still_open"].sum()) == expected["backlog"]
    assert int(report.by_rule["found"].sum()) == len(items)
    assert int(report.queue_status["open"].sum()) == expected["backlog"]
    assert report.trend["backlog_end"].iloc[-1] == expected["backlog"]
    months = report.by_period.set_index("period")
    assert months.loc["2026-10", "no_longer_detected"] == 2 and months.loc["2026-11", "found"] == 1
    assert report.insurers == [("131016", "千代田区国民健康保険")]
