"""The weekly report and the national export for an insurer-scoped user (issue #10).

One store (SQLite and PostgreSQL) holds two insurers: A (千代田区) and B (中央区), each with its own
October feed, and a November feed that covers both. A's supervisor, auditor and steward get A's
report and A's national rows — every figure recomputed from A's work items alone — and nothing of
B: not its number, its name, its members or its scans (not even B's refused feed). An admin gets
both; a user of an insurer with no scan gets 404 for the report, as if nothing existed. Weeks and
periods come from the stored timestamps, so nothing depends on today's date.
"""
from __future__ import annotations

import io
import json
import zipfile

import pandas as pd
import pytest
import sqlalchemy as sa

A, B, C = "131016", "131024", "139998"
NAMES = {A: "千代田区国民健康保険", B: "中央区国民健康保険"}
B_TRACES = (B, NAMES[B], "中央区", "BX-", "B-2026-11-broken")


def _feed(session, store, fingerprint, period, insurers: dict[str, int], manifest: dict, path: str):
    feed_id = store.add_feed(session, fingerprint=fingerprint, path=path, as_of=f"{period}-01", period=period,
                             manifest=manifest, validation={"success": True},
                             row_counts={"members": sum(insurers.values())})
    scan_id = store.start_scan(session, feed_id=feed_id, as_of=f"{period}-01")
    store.save_feed_stats(session, scan_id, pd.DataFrame(
        [(i, "members", float(n)) for i, n in insurers.items()], columns=["insurer_number", "statistic", "value"]))
    store.save_scan_insurers(session, scan_id, insurers, period)
    return scan_id


@pytest.fixture
def scoped_store(db_url):
    from reconcile import store
    from tests.store.helpers import finding, findings_input

    engine = store.get_engine(db_url)
    store.upgrade(engine)
    a_oct = [finding("MISLINK_SUSPECTED", f"AM-{i:04d}", insurer_number=A, facts=str(i)) for i in range(3)]
    a_oct += [finding("NOTATION_DIFFERENCE", "AM-0100", insurer_number=A, severity="low")]
    b_oct = [finding("MISLINK_SUSPECTED", f"BX-{i:04d}", insurer_number=B, facts=str(i)) for i in range(5)]
    b_oct += [finding("NUMBER_SHARED", "BX-0100", insurer_number=B),
              finding("BURDEN_RATIO_OQS_MISMATCH", "BX-0200", insurer_number=B, severity="medium")]
    nov = a_oct[:2] + b_oct[:4] + [finding("QUAL_OVERLAP", "AM-0300", insurer_number=A, severity="medium")]
    rules = sorted({f["rule_id"] for f in a_oct + b_oct + nov})
    with store.session_scope(engine) as s:
        one = _feed(s, store, "a-10", "2026-10", {A: 100}, {"insurer_number": A, "insurer_name": NAMES[A]},
                    "/feeds/a-2026-10")
        store.merge_findings(s, one, findings_input(a_oct), rules_run=rules, insurer_numbers=[A])
        store.finish_scan(s, one, status="done", summary={"queues": {"new": 4}})
        two = _feed(s, store, "b-10", "2026-10", {B: 250}, {"insurer_number": B, "insurer_name": NAMES[B]},
                    "/feeds/b-2026-10")
        store.merge_findings(s, two, findings_input(b_oct), rules_run=rules, insurer_numbers=[B])
        store.finish_scan(s, two, status="done", summary={"queues": {"new": 7}})
        three = _feed(s, store, "ab-11", "2026-11", {A: 101, B: 251}, {"insurer_names": NAMES}, "/feeds/ab-2026-11")
        store.merge_findings(s, three, findings_input(nov), rules_run=rules, insurer_numbers=[A, B])
        store.finish_scan(s, three, status="done", summary={
            "queues": {"new": 1, "carried": 6, "closed_not_seen": 4},
            "schedule": {"source": "watch", "folder": "ab-2026-11", "outcome": "done",
                         "stages": {"fingerprint": 0.2, "scan": 5.0, "move": 0.0},
                         "messages": {"ja": "走査 3 を完了しました（検出 7 件）", "en": "Scan 3 done (7 findings)"}}})
        refused = _feed(s, store, "b-11-broken", "2026-11", {B: 0}, {"insurer_number": B},
                        "/drop/rejected/B-2026-11-broken")
        store.finish_scan(s, refused, status="rejected", summary={
            "rejected": {"ja": "フィードを受け付けられませんでした: members.csv の列 sex", "en": "Feed rejected"},
            "schedule": {"source": "watch", "folder": "B-2026-11-broken", "outcome": "rejected",
                         "reason": {"ja": "members.csv の列 sex: 必須の列がありません", "en": "required column missing"}}})
        store.transition(s, a_oct[0]["finding_id"], "resolved_fixed", "steward_a")
        store.transition(s, b_oct[0]["finding_id"], "resolved_false_positive", "steward_b")
        store.transition(s, b_oct[1]["finding_id"], "in_progress", "steward_b")
    yield engine, db_url, {"a_oct": one, "b_oct": two, "shared": three, "refused": refused}
    engine.dispose()


def _week(engine):
    from reconcile import store
    from reports.timeutil import local_times
    from reports.weekly import iso_week
    with store.session_scope(engine) as s:
        started = s.scalar(sa.select(sa.func.max(store.Scan.started_at)))
    return iso_week(local_times(pd.Series([started])).iloc[0])


def _items_of(engine, insurers):
    from reconcile import store
    W, F = store.WorkItem.__table__, store.Finding.__table__
    with engine.connect() as c:
        return pd.DataFrame(c.execute(sa.select(W.c.status, F.c.rule_id, F.c.severity, F.c.insurer_number)
                                      .join(F, F.c.finding_id == W.c.finding_id)
                                      .where(F.c.insurer_number.in_(insurers))).all(),
                            columns=["status", "rule_id", "severity", "insurer_number"])


def _no_b(text: str, where: str) -> None:
    for trace in B_TRACES:
        assert trace not in text, f"{where} shows {trace!r} of the other insurer"


def test_a_scoped_weekly_report_counts_only_that_insurer(scoped_store):
    from reconcile import exports, store
    from reports.weekly import render_weekly_html, weekly_files, weekly_json

    engine, _, scans = scoped_store
    week = _week(engine)
    with store.session_scope(engine) as s:
        mine = exports.weekly_context(s, week=week, insurer_numbers=[A], with_charts=False)
        everyone = exports.weekly_context(s, week=week, with_charts=False)
        theirs = exports.weekly_context(s, week=week, insurer_numbers=[B], with_charts=False)

    items = _items_of(engine, [A])
    active = items["status"].isin(["open", "in_progress"])
    expected = {"backlog": int(active.sum()), "new_this_week": len(items),
                "high_backlog": int((active & (items["severity"] == "high")).sum()),
                "mislink_backlog": int((active & items["rule_id"].isin(["MISLINK_SUSPECTED", "NUMBER_SHARED"])).sum()),
                "closed_by_steward_this_week": 1, "scans": 2, "scans_rejected": 0}
    assert {k: mine.figures[k] for k in expected} == expected
    assert expected["backlog"] == 2 and len(items) == 5   # the scenario: one carried, one new; one fixed, two gone
    assert int(mine.by_rule["found"].sum()) == len(items)
    for figure in ("backlog", "new_this_week", "high_backlog", "mislink_backlog", "closed_by_steward_this_week"):
        assert mine.figures[figure] + theirs.figures[figure] == everyone.figures[figure], figure
    assert mine.insurers == [(A, NAMES[A])] and len(everyone.insurers) == 2

    # A's scans only; the shared November feed counts A's findings only, without the feed-wide message.
    log = mine.scan_log.set_index("scan_id")
    assert sorted(log.index) == sorted([scans["a_oct"], scans["shared"]])
    assert log.loc[scans["shared"], "findings"] == 3 and log.loc[scans["shared"], "outcome"] == "done"
    assert log.loc[scans["shared"], "details"] == ""       # "carried 6, closed 4" counted B's items too
    assert scans["refused"] in set(theirs.scan_log["scan_id"]) and theirs.figures["scans_rejected"] == 1
    assert mine.validation_success is None and mine.quarantine.empty   # the latest feed is shared with B

    html = render_weekly_html(mine)
    assert NAMES[A] in html
    _no_b(html, "the page")
    _no_b(json.dumps(weekly_json(mine), ensure_ascii=False), "the JSON")
    for name, content in weekly_files(mine, html=False).items():
        if name.endswith(".csv"):
            _no_b(content.decode("utf-8-sig"), name)


def test_a_scoped_national_export_has_only_that_insurers_rows(scoped_store):
    from reconcile import exports, store

    engine, _, _ = scoped_store
    with store.session_scope(engine) as s:
        rows, totals, corrections = exports.national_frames(s, period="2026-10", created_on=pd.Timestamp("2026-12-01"),
                                                            insurer_numbers=[A])
        every, _, _ = exports.national_frames(s, period="2026-10", created_on=pd.Timestamp("2026-12-01"))
    assert set(rows["insurer_number"]) == {A} and set(every["insurer_number"]) == {A, B}
    same = every.loc[every["insurer_number"] == A].reset_index(drop=True)
    pd.testing.assert_frame_equal(rows.reset_index(drop=True), same)
    assert int(rows["members_checked"].iloc[0]) == 100
    assert int(totals["insurers"].iloc[0]) == 1
    assert set(corrections["insurer_number"]) <= {A}


@pytest.mark.parametrize("role", ["supervisor", "auditor", "steward"])
def test_the_api_gives_a_scoped_user_their_insurers_report_and_export(scoped_store, role):
    from fastapi.testclient import TestClient

    from api.app import create_app
    from reconcile import auth, store
    from reconcile.config import get_settings

    engine, db_url, scans = scoped_store
    week = _week(engine)
    with store.session_scope(engine) as s:
        _, token = auth.add_user(s, f"{role}_a", role, [A])
        _, admin = auth.add_user(s, "admin", "admin")
        _, outsider = auth.add_user(s, "supervisor_c", "supervisor", [C])
    app = create_app(get_settings(database_url=db_url, secret_key="k" * 20), engine=engine)
    mine, admins, nobody = ({"Authorization": f"Bearer {t}"} for t in (token, admin, outsider))
    with TestClient(app) as client:
        weekly = client.get(f"/api/v1/reports/weekly/{week}", headers=mine)
        assert weekly.status_code == 200, weekly.text
        body = weekly.json()
        assert body["week"] == week and body["insurers"] == [{"insurer_number": A, "name": NAMES[A]}]
        assert body["figures"]["backlog"] == 2 and {s["scan_id"] for s in body["scans"]} == {scans["a_oct"],
                                                                                              scans["shared"]}
        _no_b(weekly.text, "the weekly JSON")
        page = client.get(f"/api/v1/reports/weekly/{week}", params={"format": "html"}, headers=mine)
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        assert NAMES[A] in page.text and "今週のスキャンと結果" in page.text
        _no_b(page.text, "the weekly page")
        tables = client.get(f"/api/v1/reports/weekly/{week}", params={"format": "csv"}, headers=mine)
        assert tables.status_code == 200
        with zipfile.ZipFile(io.BytesIO(tables.content)) as zf:
            assert "scans.csv" in zf.namelist() and "findings_by_rule.csv" in zf.namelist()
            for name in zf.namelist():
                _no_b(zf.read(name).decode("utf-8-sig"), name)
        national = client.get("/api/v1/exports/national", params={"period": "2026-10"}, headers=mine)
        assert national.status_code == 200 and national.headers["content-type"].startswith("text/csv")
        assert A in national.text
        _no_b(national.text, "the national export")

        every = client.get(f"/api/v1/reports/weekly/{week}", headers=admins).json()
        assert [i["insurer_number"] for i in every["insurers"]] == [A, B]
        assert scans["refused"] in {s["scan_id"] for s in every["scans"]}
        assert B in client.get("/api/v1/exports/national", params={"period": "2026-10"}, headers=admins).text

        # An insurer with no scan in the store: no report, as if none existed; the export is empty.
        none = client.get(f"/api/v1/reports/weekly/{week}", headers=nobody)
        assert none.status_code == 404 and none.headers["content-type"] == "application/problem+json"
        empty = client.get("/api/v1/exports/national", params={"period": "2026-10"}, headers=nobody)
        assert empty.status_code == 200 and A not in empty.text and B not in empty.text
        assert len([line for line in empty.text.splitlines() if line.strip()]) == 1     # the header only

        # A week that does not exist is 422, not an error page.
        assert client.get("/api/v1/reports/weekly/2027-W53", headers=mine).status_code == 422
        far = client.get("/api/v1/reports/weekly/0001-W01", headers=mine)
        assert far.status_code == 422 and "week" in far.json()["detail"], far.text
