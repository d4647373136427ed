"""Across monthly scans (issue #10): keep, close as closed_not_seen, mark in-progress items, link the
earlier verdict when the facts change, never close items of quarantined / absent members."""
from __future__ import annotations

from datetime import timedelta

import pandas as pd
import pytest
import sqlalchemy as sa

from reconcile import queues, store
from tests.store.helpers import finding, findings_input
from tests.store.test_repository import new_scan, statuses

A = finding("MISLINK_SUSPECTED", "M1", score=0.97)
B = finding("NOTATION_DIFFERENCE", "M2", severity="low", score=0.5)
C = finding("BURDEN_RATIO_OQS_MISMATCH", "M3", severity="medium", score=1.0)
OTHER = finding("MISLINK_SUSPECTED", "X1", insurer_number="01130012")


def item(s, f):
    return store.get_work_item(s, f["finding_id"])


def raw_item(s, f):
    return s.execute(sa.select(store.WorkItem).where(store.WorkItem.finding_id == f["finding_id"])
                     .execution_options(populate_existing=True)).scalar_one()


def test_open_item_not_raised_becomes_closed_not_seen_never_resolved_fixed(db_session):
    s = db_session
    store.merge_findings(s, new_scan(s), findings_input([A, B, OTHER]))
    scan2 = new_scan(s)
    result = store.merge_findings(s, scan2, findings_input([A]), insurer_numbers=["131016"])
    assert (result.carried, result.closed_not_seen, result.new) == (1, 1, 0)
    assert statuses(s) == {A["finding_id"]: "open", B["finding_id"]: "closed_not_seen",
                           OTHER["finding_id"]: "open"}           # the other insurer is not in the feed
    assert s.scalar(sa.select(sa.func.count()).select_from(store.WorkItem)
                    .where(store.WorkItem.status == "resolved_fixed")) == 0
    assert raw_item(s, B).not_seen_since_scan == scan2
    # raised again next month: reopened
    back = store.merge_findings(s, new_scan(s), findings_input([A, B]), insurer_numbers=["131016"])
    assert (back.reopened, statuses(s)[B["finding_id"]], raw_item(s, B).not_seen_since_scan) == (1, "open", None)


def test_in_progress_item_stays_with_its_steward_marked_no_longer_detected(db_session):
    s = db_session
    store.merge_findings(s, new_scan(s), findings_input([A, B]))
    store.transition(s, A["finding_id"], "in_progress", "sato")
    scan2 = new_scan(s)
    result = store.merge_findings(s, scan2, findings_input([B]))
    assert (result.closed_not_seen, result.not_seen_in_progress) == (0, 1)
    w = raw_item(s, A)
    assert (w.status, w.assignee, w.not_seen_since_scan) == ("in_progress", "sato", scan2)
    assert store.work_item_events(s, A["finding_id"])[-1]["action"] == "not_seen"
    # a third scan still not raising it does not move the mark
    store.merge_findings(s, new_scan(s), findings_input([B]))
    assert raw_item(s, A).not_seen_since_scan == scan2
    # raised again: the mark goes, the steward keeps it
    store.merge_findings(s, new_scan(s), findings_input([A, B]))
    w = raw_item(s, A)
    assert (w.status, w.assignee, w.not_seen_since_scan) == ("in_progress", "sato", None)


def test_false_positive_stays_suppressed_and_reopens_linked_when_the_facts_change(db_session):
    s = db_session
    store.merge_findings(s, new_scan(s), findings_input([A, B]))
    store.transition(s, A["finding_id"], "resolved_false_positive", "sato", "同一人物を確認")
    same = store.merge_findings(s, new_scan(s), findings_input([A, B]))
    assert (same.kept_resolved, same.reopened, statuses(s)[A["finding_id"]]) == (1, 0, "resolved_false_positive")
    # Same member + rule, new facts → new finding id: a new item linking the earlier verdict.
    changed = finding("MISLINK_SUSPECTED", "M1", facts="new-facts", score=0.9)
    assert changed["finding_id"] != A["finding_id"]
    result = store.merge_findings(s, new_scan(s), findings_input([changed, B]))
    assert (result.new, result.reopened, result.linked_previous) == (1, 1, 1)
    new_item = raw_item(s, changed)
    assert (new_item.status, new_item.previous_finding_id) == ("open", A["finding_id"])
    assert statuses(s)[A["finding_id"]] == "resolved_false_positive"    # the verdict itself is kept
    note = store.work_item_events(s, changed["finding_id"])[-1]["note"]
    assert "誤検知" in note and A["finding_id"] in note
    # An unrelated member's new finding links nothing.
    other = finding("MISLINK_SUSPECTED", "M9")
    store.merge_findings(s, new_scan(s), findings_input([changed, B, other]))
    assert raw_item(s, other).previous_finding_id is None


def test_quarantined_and_absent_members_keep_their_items(db_session):
    s = db_session
    m4 = finding("MISLINK_SUSPECTED", "M4")
    store.merge_findings(s, new_scan(s), findings_input([A, B, C, m4, OTHER]))
    protected = pd.DataFrame({"insurer_number": ["131016"], "member_id": ["M1"]})       # M1's row quarantined
    present = pd.DataFrame({"insurer_number": ["131016", "131016"], "member_id": ["M1", "M2"]})
    result = store.merge_findings(s, new_scan(s), findings_input([]), insurer_numbers=["131016"],
                                  protected_members=protected, present_members=present,
                                  present_only_insurers=["131016"])
    # M1 quarantined, M3/M4 absent from a truncated feed: kept; M2 present and not raised: closed.
    assert (result.kept_quarantined, result.kept_absent, result.closed_not_seen) == (1, 2, 1)
    assert statuses(s) == {A["finding_id"]: "open", B["finding_id"]: "closed_not_seen",
                           C["finding_id"]: "open", m4["finding_id"]: "open", OTHER["finding_id"]: "open"}


def test_new_items_get_priority_and_due_date_from_the_queue_configuration(db_session):
    s = db_session
    config = queues.queue_config({"sla_days": {"mislink": 3}, "severity_priority": {"high": 1000}})
    store.merge_findings(s, new_scan(s), findings_input([A, B]), queue_config=config)
    a, b = raw_item(s, A), raw_item(s, B)
    assert a.priority == 1000 + round(0.97 * 99) and b.priority == 100 + round(0.5 * 99)
    assert a.priority > b.priority
    created = pd.Timestamp(a.created_at)
    assert pd.Timestamp(a.due_at) - created == timedelta(days=3)
    assert pd.Timestamp(b.due_at) - pd.Timestamp(b.created_at) == timedelta(days=queues.SLA_DAYS["notation"])


def test_routing_is_configuration():
    config = queues.queue_config({"routes": [{"rule_id": "NOTATION_DIFFERENCE", "queue": "special"}],
                                  "labels": {"special": {"ja": "特別", "en": "Special"}}})
    assert config.route("NOTATION_DIFFERENCE", "notation", "low") == "special"
    assert config.route("MISLINK_SUSPECTED", "mislink", "high") == "mislink"   # category fallback
    assert queues.queue_config(None).route("NUMBER_INVALID", "mislink", "high") == "mislink"


@pytest.mark.parametrize("raw, named", [
    ({"sla_day": {}}, "sla_day"),
    ({"sla_days": {"mislink": -1}}, "queues.sla_days.mislink"),
    ({"sla_days": {"nowhere": 3}}, "queues.sla_days.nowhere"),
    ({"routes": [{"rule_id": "X", "queue": "nowhere"}]}, "queues.routes[0].queue"),
    ({"severity_priority": {"urgent": 3}}, "urgent"),
])
def test_bad_queue_configuration_names_the_key(raw, named):
    with pytest.raises(queues.QueueConfigError, match=named.replace("[", r"\[").replace("]", r"\]")):
        queues.queue_config(raw)


def test_an_unknown_config_key_is_an_error_naming_it(tmp_path, monkeypatch):
    from reconcile.config import ConfigKeyError, get_settings
    path = tmp_path / "reconcile.toml"
    path.write_text('secret_key = "x"\n[queues]\nsla_days = { mislink = 7 }\n[oops]\n', encoding="utf-8")
    monkeypatch.setenv("RECONCILE_CONFIG", str(path))
    with pytest.raises(ConfigKeyError, match="oops") as bad:
        get_settings()
    assert bad.value.exit_code == 2
    path.write_text('secret_key = "x"\n[detectors]\nno_such_threshold = 3\n', encoding="utf-8")
    with pytest.raises(ConfigKeyError, match="no_such_threshold"):
        get_settings()
    path.write_text('secret_key = "x"\n[queues]\nsla_days = { mislink = 7 }\n', encoding="utf-8")
    assert get_settings().queue_settings().due_days("mislink") == 7


def test_a_claim_committed_while_the_merge_runs_is_not_overwritten(db_url, db_engine):
    """A steward claims an item while a later scan's merge is closing items it no longer raises:
    the claim wins — the item stays in progress with its steward, marked no longer detected —
    instead of being overwritten with closed_not_seen (found by benchmarks/ops_load.py)."""
    import threading

    from sqlalchemy.orm import Session

    if not db_url.startswith("postgresql"):
        pytest.skip("SQLite holds one writer at a time: a claim cannot interleave with a merge")
    with Session(db_engine) as s, s.begin():
        store.merge_findings(s, new_scan(s), findings_input([A, B]))
    claimer = Session(db_engine)
    claimer.begin()
    claimer.execute(sa.update(store.WorkItem).where(store.WorkItem.finding_id == A["finding_id"])
                    .values(status="in_progress", assignee="sato"))   # claimed, not yet committed
    merged: dict = {}

    def merge():
        with Session(db_engine) as s, s.begin():
            merged["result"] = store.merge_findings(s, new_scan(s), findings_input([B]))

    worker = threading.Thread(target=merge)
    worker.start()
    worker.join(timeout=1.5)            # the merge reaches the claimed row and waits for it
    claimer.commit()
    claimer.close()
    worker.join(timeout=60)
    assert not worker.is_alive()
    with Session(db_engine) as s:
        w = raw_item(s, A)
        assert (w.status, w.assignee) == ("in_progress", "sato")
        assert w.not_seen_since_scan is not None
    assert (merged["result"].closed_not_seen, merged["result"].not_seen_in_progress) == (0, 1)


def test_earlier_verdict_linked_only_for_the_same_rule_and_member_latest_first(db_session):
    # The lookup runs only for members + rules with a verdict (merge_findings' candidates): a
    # verdict on another rule of the same member, or on the same rule of another member, links nothing.
    s = db_session
    first = finding("MISLINK_SUSPECTED", "M5", facts="one")
    other_rule = finding("QUAL_OVERLAP", "M5", facts="one")
    no_member = finding("FEED_DRIFT", None, facts="drift")
    store.merge_findings(s, new_scan(s), findings_input([first, other_rule, no_member]))
    store.transition(s, first["finding_id"], "resolved_false_positive", "sato")
    store.transition(s, no_member["finding_id"], "resolved_wont_fix", "sato")
    second = finding("MISLINK_SUSPECTED", "M5", facts="two")
    store.merge_findings(s, new_scan(s), findings_input([second, other_rule, no_member]))
    store.transition(s, second["finding_id"], "resolved_wont_fix", "sato")
    third = finding("MISLINK_SUSPECTED", "M5", facts="three")
    sibling = finding("QUAL_OVERLAP", "M5", facts="two")
    drift = finding("FEED_DRIFT", None, facts="drift-2")
    result = store.merge_findings(s, new_scan(s), findings_input([third, sibling, drift]))
    assert raw_item(s, third).previous_finding_id == second["finding_id"]      # the latest verdict
    assert raw_item(s, sibling).previous_finding_id is None                   # no verdict on that rule
    assert raw_item(s, drift).previous_finding_id is None                     # NULL member never matches
    assert result.linked_previous == 1
