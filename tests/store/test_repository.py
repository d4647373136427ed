"""保存領域 / Store repository on SQLite and PostgreSQL: feeds, scans, merge, carry-forward, lifecycle."""
from __future__ import annotations

import json
from datetime import date

import pandas as pd
import pytest
import sqlalchemy as sa

from reconcile import store
from reconcile.exports import FINDINGS_EXPORT_COLUMNS
from reconcile.queues import TransitionError
from tests.store.helpers import finding, findings_input


def new_scan(session, fingerprint="feed-1", as_of="2026-11-01", period="2026-11"):
    feed = store.find_feed(session, fingerprint)
    feed_id = feed.id if feed else store.add_feed(
        session, fingerprint=fingerprint, path=f"/feeds/{fingerprint}", as_of=as_of, period=period,
        manifest={"as_of": as_of}, validation={"success": True}, row_counts={"members": 3})
    return store.start_scan(session, feed_id=feed_id, as_of=as_of)


def table_counts(session):
    return {t: session.scalar(sa.text(f"SELECT count(*) FROM {t}"))
            for t in ("findings", "scan_findings", "work_items", "events")}


def statuses(session):
    return dict(session.execute(sa.select(store.WorkItem.finding_id, store.WorkItem.status)).all())


A = finding("MISLINK_SUSPECTED", "M1", score=0.97, suggested_resident_id="R9",
            suggested_individual_number_last4="0018")
B = finding("NOTATION_DIFFERENCE", "M2", severity="low", score=0.8)
C = finding("BURDEN_RATIO_OQS_MISMATCH", "M3", severity="medium", score=1.0)


# --- feeds and scans ---------------------------------------------------------------------------

def test_feed_and_scan_round_trip(db_session):
    s = db_session
    assert store.find_feed(s, "abc") is None
    feed_id = store.add_feed(s, fingerprint="abc", path="/in/2026-11", as_of=pd.Timestamp("2026-11-01"),
                             period="2026-11", manifest={"source": "市"}, validation={"success": True},
                             row_counts={"members": pd.Series([5]).iloc[0]})   # numpy int → JSON int
    feed = store.find_feed(s, "abc")
    assert (feed.id, feed.as_of, feed.period, feed.manifest, feed.row_counts) == (
        feed_id, date(2026, 11, 1), "2026-11", {"source": "市"}, {"members": 5})
    scan_id = store.start_scan(s, feed_id=feed_id, as_of="2026-11-01")
    assert store.latest_scan_id(s) is None            # running scans are not "latest"
    store.finish_scan(s, scan_id, status="done",
                      summary={"skipped_rules": [("QUAL_OVERLAP", "oqs.csv absent")], "seconds": {"x": 0.5}})
    assert store.latest_scan_id(s) == scan_id
    [listed] = store.list_scans(s)
    assert {k: listed[k] for k in ("scan_id", "feed_id", "fingerprint", "as_of", "status", "findings")} == {
        "scan_id": scan_id, "feed_id": feed_id, "fingerprint": "abc", "as_of": date(2026, 11, 1),
        "status": "done", "findings": 0}
    assert listed["summary"] == {"skipped_rules": [["QUAL_OVERLAP", "oqs.csv absent"]], "seconds": {"x": 0.5}}
    with pytest.raises(ValueError, match="scan status 'finished'"):
        store.finish_scan(s, scan_id, status="finished", summary={})


# --- merge -------------------------------------------------------------------------------------

def test_first_merge_creates_findings_and_routed_open_work_items(db_session):
    s = db_session
    scan = new_scan(s)
    result = store.merge_findings(s, scan, findings_input([A, B, C, A]))   # A twice: once
    assert result.as_dict() == {"total": 3, "new": 3, "seen_again": 0, "carried": 0, "reopened": 0,
                                "kept_resolved": 0, "closed_not_seen": 0, "not_seen_in_progress": 0,
                                "kept_quarantined": 0, "kept_absent": 0, "linked_previous": 0,
                                "new_by_queue": {"benefit": 1, "mislink": 1, "notation": 1}}
    assert table_counts(s) == {"findings": 3, "scan_findings": 3, "work_items": 3, "events": 0}
    items = {i["finding_id"]: i for i in store.list_work_items(s)}
    assert {(i["queue"], i["status"], i["insurer_number"]) for i in items.values()} == {
        ("mislink", "open", "131016"), ("notation", "open", "131016"), ("benefit", "open", "131016")}
    assert items[A["finding_id"]]["queue_label_ja"] == "紐付け誤り疑い"
    assert items[A["finding_id"]]["status_label_ja"] == "未対応"


def test_merging_the_same_findings_twice_creates_no_duplicates(db_session):
    s = db_session
    first, second = new_scan(s), new_scan(s)
    store.merge_findings(s, first, findings_input([A, B, C]))
    again = store.merge_findings(s, first, findings_input([A, B, C]))       # same scan rerun
    assert (again.new, again.seen_again, again.closed_not_seen) == (0, 3, 0)
    rerun = store.merge_findings(s, second, findings_input([A, B, C]))      # new scan, same feed
    assert (rerun.new, rerun.seen_again, rerun.closed_not_seen) == (0, 3, 0)
    assert table_counts(s) == {"findings": 3, "scan_findings": 6, "work_items": 3, "events": 0}
    row = s.execute(sa.select(store.Finding.first_seen_scan, store.Finding.last_seen_scan)
                    .where(store.Finding.finding_id == A["finding_id"])).one()
    assert tuple(row) == (first, second)


def test_known_findings_get_refreshed_text_and_score(db_session):
    s = db_session
    store.merge_findings(s, new_scan(s), findings_input([A]))
    changed = {**A, "score": 0.55, "summary_ja": "新しい要約", "evidence": json.dumps({"v": 2})}
    store.merge_findings(s, new_scan(s), findings_input([changed]))
    item = store.get_work_item(s, A["finding_id"])
    assert (item["score"], item["summary_ja"], item["evidence"]) == (0.55, "新しい要約", {"v": 2})


def test_steward_decisions_carry_forward_and_fixed_reopens(db_session):
    s = db_session
    store.merge_findings(s, new_scan(s), findings_input([A, B, C]))
    store.transition(s, A["finding_id"], "resolved_false_positive", "sato", "同一人物を確認")
    store.transition(s, B["finding_id"], "resolved_fixed", "sato")
    store.transition(s, C["finding_id"], "in_progress", "suzuki")
    scan2 = new_scan(s)
    result = store.merge_findings(s, scan2, findings_input([A, B, C]))
    assert (result.reopened, result.kept_resolved, result.closed_not_seen) == (1, 1, 0)
    assert statuses(s) == {A["finding_id"]: "resolved_false_positive", B["finding_id"]: "open",
                           C["finding_id"]: "in_progress"}
    reopen = store.work_item_events(s, B["finding_id"])[-1]
    assert {k: reopen[k] for k in ("actor", "action", "from_status", "to_status", "scan_id")} == {
        "actor": "system", "action": "reopened", "from_status": "resolved_fixed", "to_status": "open",
        "scan_id": scan2}
    assert store.get_work_item(s, B["finding_id"])["resolved_at"] is None


def test_open_findings_not_raised_again_are_closed_only_for_rules_that_ran(db_session):
    s = db_session
    other = finding("MISLINK_SUSPECTED", "X1", insurer_number="01130012")
    store.merge_findings(s, new_scan(s), findings_input([A, B, C, other]))
    store.transition(s, C["finding_id"], "resolved_wont_fix", "sato")
    scan2 = new_scan(s)
    # Only A raised again; the burden rule was skipped; the other insurer is not in this feed.
    result = store.merge_findings(s, scan2, findings_input([A]),
                                  rules_run=["MISLINK_SUSPECTED", "NOTATION_DIFFERENCE"],
                                  insurer_numbers=["131016"])
    assert result.closed_not_seen == 1
    assert statuses(s) == {A["finding_id"]: "open", B["finding_id"]: "closed_not_seen",
                           C["finding_id"]: "resolved_wont_fix", other["finding_id"]: "open"}
    closed = store.work_item_events(s, B["finding_id"])[-1]
    assert (closed["action"], closed["from_status"], closed["to_status"], closed["scan_id"]) == (
        "closed_not_seen", "open", "closed_not_seen", scan2)
    assert store.get_work_item(s, B["finding_id"])["resolved_at"] is None   # not a steward's verdict
    # When the data problem comes back, the item reopens.
    back = store.merge_findings(s, new_scan(s), findings_input([A, B]), rules_run=["NOTATION_DIFFERENCE"],
                                insurer_numbers=["131016"])
    assert (back.reopened, statuses(s)[B["finding_id"]]) == (1, "open")


def test_no_orphans_after_merges(db_session):
    """The per-finding tables carry no foreign keys (speed); the merge keeps them consistent."""
    s = db_session
    store.merge_findings(s, new_scan(s), findings_input([A, B]))
    store.merge_findings(s, new_scan(s), findings_input([B, C]))
    orphans = {
        "scan_findings→findings": "SELECT count(*) FROM scan_findings sf WHERE NOT EXISTS "
                                  "(SELECT 1 FROM findings f WHERE f.finding_id = sf.finding_id)",
        "scan_findings→scans": "SELECT count(*) FROM scan_findings sf WHERE NOT EXISTS "
                               "(SELECT 1 FROM scans s WHERE s.id = sf.scan_id)",
        "findings→scans": "SELECT count(*) FROM findings f WHERE NOT EXISTS (SELECT 1 FROM scans s "
                          "WHERE s.id = f.first_seen_scan) OR NOT EXISTS (SELECT 1 FROM scans s "
                          "WHERE s.id = f.last_seen_scan)",
        "findings without work item": "SELECT count(*) FROM findings f WHERE NOT EXISTS "
                                      "(SELECT 1 FROM work_items w WHERE w.finding_id = f.finding_id)",
        "work_items→findings": "SELECT count(*) FROM work_items w WHERE NOT EXISTS "
                               "(SELECT 1 FROM findings f WHERE f.finding_id = w.finding_id)",
    }
    assert {name: s.scalar(sa.text(sql)) for name, sql in orphans.items()} == dict.fromkeys(orphans, 0)
    assert table_counts(s) == {"findings": 3, "scan_findings": 4, "work_items": 3, "events": 1}


def test_merge_rejects_malformed_frames(db_session):
    s = db_session
    scan = new_scan(s)
    with pytest.raises(ValueError, match="24 lowercase hex"):
        store.merge_findings(s, scan, findings_input([{**A, "finding_id": "not-an-id"}]))
    with pytest.raises(ValueError, match="severity 'urgent'"):
        store.merge_findings(s, scan, findings_input([{**A, "severity": "urgent"}]))
    with pytest.raises(ValueError, match="lacks column"):
        store.merge_findings(s, scan, pd.DataFrame({"finding_id": [A["finding_id"]]}))


def test_engine_output_merges_as_is(db_session):
    """The real engine's frame (FINDING_COLUMNS, pandas 3 dtypes) goes straight in."""
    from detectors.engine import run_rules
    from tests.factories import members_frame
    members = members_frame([{"member_id": "M1", "number": None}, {"member_id": "M2"}])
    run = run_rules({"members": members}, as_of=pd.Timestamp("2026-11-01"), rule_ids=["NUMBER_INVALID"])
    s = db_session
    scan = new_scan(s)
    result = store.merge_findings(s, scan, run.findings)
    assert (result.new, result.new_by_queue) == (1, {"notation": 1})   # missing number: medium
    frame = store.findings_frame(s, scan)
    assert frame.loc[0, ["rule_id", "member_id", "severity", "queue"]].tolist() == [
        "NUMBER_INVALID", "M1", "medium", "notation"]
    assert frame.loc[0, "summary"].startswith("個人番号が登録されていません")


def test_empty_findings_frame_closes_everything_it_may(db_session):
    s = db_session
    store.merge_findings(s, new_scan(s), findings_input([A, B]))
    result = store.merge_findings(s, new_scan(s), findings_input([]))
    assert (result.total, result.new, result.closed_not_seen) == (0, 0, 2)


# --- findings export frame ---------------------------------------------------------------------

def test_findings_frame_columns_order_language_and_scan(db_session):
    s = db_session
    scan1 = new_scan(s)
    store.merge_findings(s, scan1, findings_input([A, B]))
    store.finish_scan(s, scan1, status="done", summary={})
    scan2 = new_scan(s)
    store.merge_findings(s, scan2, findings_input([C, A]))
    store.finish_scan(s, scan2, status="done", summary={})

    latest = store.findings_frame(s)
    assert list(latest.columns) == FINDINGS_EXPORT_COLUMNS
    # severity first (high, medium, low, info), then rule.
    assert latest["finding_id"].tolist() == [A["finding_id"], C["finding_id"]]
    assert latest.loc[0].to_dict() | {"evidence": None} == {
        "finding_id": A["finding_id"], "scan_id": scan2, "insurer_number": "131016", "member_id": "M1",
        "rule_id": "MISLINK_SUSPECTED", "category": "mislink", "severity": "high", "score": 0.97,
        "summary": "MISLINK_SUSPECTED の指摘（M1）", "evidence": None, "suggested_resident_id": "R9",
        "suggested_individual_number_last4": "0018", "queue": "mislink", "status": "open",
        "first_seen_scan": scan1, "last_seen_scan": scan2}
    assert json.loads(latest.loc[0, "evidence"]) == {"facts": "f", "member_id": "M1"}
    assert store.findings_frame(s, scan1, lang="en")["summary"].tolist() == [
        "MISLINK_SUSPECTED finding (M1)", "NOTATION_DIFFERENCE finding (M2)"]
    assert len(store.findings_frame(s, scan_id=999)) == 0
    assert list(store.findings_frame(s, scan_id=999).columns) == FINDINGS_EXPORT_COLUMNS


def test_stored_findings_export_round_trip_in_cp932(db_session, tmp_path):
    from reconcile.exports import write_findings_csv
    s = db_session
    scan = new_scan(s)
    store.merge_findings(s, scan, findings_input([
        finding("NOTATION_DIFFERENCE", "M7", severity="low", summary_ja="𠮷田 と 吉田 の表記ゆれ")]))
    store.finish_scan(s, scan, status="done", summary={})
    out = tmp_path / "findings.csv"
    assert write_findings_csv(store.findings_frame(s), out, encoding="cp932") == 1
    back = pd.read_csv(out, encoding="cp932", dtype=str, keep_default_na=False)
    assert list(back.columns) == FINDINGS_EXPORT_COLUMNS
    assert back.loc[0, ["scan_id", "member_id", "summary", "queue", "status"]].tolist() == [
        str(scan), "M7", "〓田 と 吉田 の表記ゆれ", "notation", "open"]


def test_transition_after_merge_in_the_same_session_sees_the_reopened_status(db_session):
    s = db_session
    store.merge_findings(s, new_scan(s), findings_input([B]))
    store.transition(s, B["finding_id"], "resolved_fixed", "sato")
    held = s.scalars(sa.select(store.WorkItem)).one()                  # ORM object kept in the session
    store.merge_findings(s, new_scan(s), findings_input([B]))           # Core update: reopened
    assert store.transition(s, B["finding_id"], "in_progress", "sato")["from_status"] == "open"
    assert held.status == "in_progress"


# --- work items and lifecycle ------------------------------------------------------------------

def test_transitions_write_events_and_refuse_what_the_lifecycle_forbids(db_session):
    s = db_session
    store.merge_findings(s, new_scan(s), findings_input([A]))
    fid = A["finding_id"]
    assert store.transition(s, fid, "in_progress", "sato")["from_status"] == "open"
    assert store.get_work_item(s, fid)["assignee"] == "sato"
    store.transition(s, fid, "resolved_false_positive", "sato", note="双子の別人")
    assert store.get_work_item(s, fid)["resolved_at"] is not None
    with pytest.raises(TransitionError):
        store.transition(s, fid, "resolved_fixed", "sato")
    store.transition(s, fid, "open", "tanaka", note="再確認")
    store.assign(s, fid, "suzuki", "tanaka")
    trail = [(e["actor"], e["action"], e["from_status"], e["to_status"], e["note"])
             for e in store.work_item_events(s, fid)]
    assert trail == [
        ("sato", "transition", "open", "in_progress", None),
        ("sato", "transition", "in_progress", "resolved_false_positive", "双子の別人"),
        ("tanaka", "transition", "resolved_false_positive", "open", "再確認"),
        ("tanaka", "assigned", "open", "open", "sato → suzuki"),
    ]
    with pytest.raises(LookupError):
        store.transition(s, "0" * 24, "open", "x")
    events = store.events_frame(s)
    assert events[["finding_id", "to_status", "rule_id", "queue"]].iloc[1].tolist() == [
        fid, "resolved_false_positive", "MISLINK_SUSPECTED", "mislink"]


def test_list_work_items_filters_scope_order_and_paging(db_session):
    s = db_session
    other = finding("MISLINK_SUSPECTED", "X1", insurer_number="01130012", score=0.99)
    low_mislink = finding("MISLINK_SUSPECTED", "M4", severity="low", score=0.99)
    store.merge_findings(s, new_scan(s), findings_input([A, B, C, other, low_mislink]))
    ids = lambda items: [i["member_id"] for i in items]   # noqa: E731
    assert ids(store.list_work_items(s)) == ["X1", "M1", "M3", "M4", "M2"]   # severity, then score
    assert ids(store.list_work_items(s, queue="mislink", insurer_numbers=["131016"])) == ["M1", "M4"]
    assert ids(store.list_work_items(s, limit=2, offset=1)) == ["M1", "M3"]
    store.transition(s, B["finding_id"], "resolved_fixed", "sato")
    assert ids(store.list_work_items(s, status=["resolved_fixed"])) == ["M2"]
    assert store.count_work_items(s, status="open", insurer_numbers=["131016"]) == 3
    assert store.queue_counts(s, insurer_numbers=["131016"]) == {
        "mislink": {"open": 2}, "notation": {"resolved_fixed": 1}, "benefit": {"open": 1}}
    assert len(store.list_work_items(s, limit=None)) == 5


# --- quarantine and feed statistics ------------------------------------------------------------

def test_quarantine_round_trip_masks_full_numbers_and_replaces_on_rerun(db_session):
    s = db_session
    scan = new_scan(s)
    frame = pd.DataFrame({"file": ["members.csv", "members.csv"], "line": [12, 40],
                          "column": ["birth_date", "individual_number"],
                          "value": ["昭和99年1月1日", "123456789018"],
                          "reason": ["unparseable date", "bad format"]})
    assert store.save_quarantine(s, scan, frame) == 2
    assert store.save_quarantine(s, scan, frame) == 2          # rerun replaces, not duplicates
    store.finish_scan(s, scan, status="done", summary={})
    out = store.quarantine_frame(s)
    assert out.to_dict("list") == {"file": ["members.csv", "members.csv"], "line": [12, 40],
                                   "column": ["birth_date", "individual_number"],
                                   "value": ["昭和99年1月1日", "********9018"],
                                   "reason": ["unparseable date", "bad format"]}


def test_feed_history_counts_each_feed_once_and_only_finished_scans(db_session):
    s = db_session
    stats = lambda v: pd.DataFrame({"insurer_number": ["131016", "131016", "01130012"],  # noqa: E731
                                    "statistic": ["share_burden_30", "acquisitions", "acquisitions"],
                                    "value": [v, 10 * v, 7.0]})
    oct1 = new_scan(s, "oct", "2026-10-01", "2026-10")
    store.save_feed_stats(s, oct1, stats(0.30))
    store.finish_scan(s, oct1, status="done", summary={})
    oct2 = new_scan(s, "oct", "2026-10-01", "2026-10")          # the October feed rerun
    store.save_feed_stats(s, oct2, stats(0.31))
    store.finish_scan(s, oct2, status="done", summary={})
    sep = new_scan(s, "sep", "2026-09-01", None)                # no period: derived from as_of
    store.save_feed_stats(s, sep, stats(0.20))
    store.finish_scan(s, sep, status="done", summary={})
    failed = new_scan(s, "bad", "2026-08-01", "2026-08")
    store.save_feed_stats(s, failed, stats(0.9))
    store.finish_scan(s, failed, status="failed", summary={})

    history = store.load_feed_history(s, ["131016"])
    assert list(history.columns) == ["scan_id", "as_of", "period", "insurer_number", "statistic", "value",
                                     "fingerprint"]
    assert history[["scan_id", "period", "statistic", "value"]].values.tolist() == [
        [sep, "2026-09", "acquisitions", 2.0], [sep, "2026-09", "share_burden_30", 0.2],
        [oct2, "2026-10", "acquisitions", 3.1], [oct2, "2026-10", "share_burden_30", 0.31]]
    assert history["as_of"].tolist() == [pd.Timestamp("2026-09-01")] * 2 + [pd.Timestamp("2026-10-01")] * 2
    assert len(store.load_feed_history(s)) == 6
    assert store.load_feed_history(s, exclude_fingerprint="oct")["scan_id"].unique().tolist() == [sep]
    assert store.load_feed_history(s, before_as_of="2026-10-01")["scan_id"].unique().tolist() == [sep]


# --- users -------------------------------------------------------------------------------------

def test_users(db_session):
    s = db_session
    uid = store.add_user(s, name="sato", role="steward", token_hash="h" * 64, insurer_scope=[131016])
    user = store.find_user_by_token_hash(s, "h" * 64)
    assert (user.id, user.role, user.insurer_scope, user.active) == (uid, "steward", ["131016"], True)
    assert store.find_user_by_token_hash(s, "x" * 64) is None
    with pytest.raises(ValueError, match="role 'boss'"):
        store.add_user(s, name="b", role="boss", token_hash=None)
