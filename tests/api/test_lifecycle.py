"""The steward's lifecycle through the API (TestClient), on SQLite and PostgreSQL, two insurers."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
import sqlalchemy as sa

from tests.api.conftest import A, B, assert_no_full_number


def claim(client, world, user, queue="mislink"):
    return client.post(f"/api/v1/queues/{queue}/claim", headers=world.headers(user))


def events(world, item_id):
    from reconcile.store.models import Event
    with world.engine.connect() as c:
        return [dict(r._mapping) for r in c.execute(sa.select(Event).where(Event.work_item_id == item_id)
                                                    .order_by(Event.id))]


def test_claim_resolve_and_audit(client, world):
    r = claim(client, world, "steward_a")
    assert r.status_code == 200
    item = r.json()
    assert item["status"] == "in_progress" and item["assignee"] == "steward_a"
    assert item["insurer_number"] == A and item["queue"] == "mislink"
    assert item["lease_until"] is not None
    # priority then age: the first claim of A's mis-links is the highest-priority oldest one
    detail = client.get(f"/api/v1/work-items/{item['id']}", headers=world.headers("steward_a"))
    assert detail.status_code == 200
    body = detail.json()
    assert body["member"]["name_kanji"] == "佐藤 一郎" and body["resident"]["resident_id"] == "86166431645"
    assert body["suggested_resident"]["resident_id"] == "36672451929"
    assert body["suggested_resident"]["individual_number_last4"] == "5759"
    assert [e["action"] for e in body["history"]] == ["claimed"]
    # another steward of the same insurer cannot resolve or release it: 409
    for path, payload in (("resolve", {"resolution": "resolved_fixed", "note": "x"}), ("release", None)):
        other = client.post(f"/api/v1/work-items/{item['id']}/{path}", headers=world.headers("steward_a2"),
                            json=payload)
        assert other.status_code == 409, other.text
        assert other.headers["content-type"].startswith("application/problem+json")
    done = client.post(f"/api/v1/work-items/{item['id']}/resolve", headers=world.headers("steward_a"),
                       json={"resolution": "resolved_fixed", "note": "紐付けを訂正しました"})
    assert done.status_code == 200 and done.json()["status"] == "resolved_fixed"
    again = client.post(f"/api/v1/work-items/{item['id']}/resolve", headers=world.headers("steward_a"),
                        json={"resolution": "resolved_fixed", "note": "again"})
    assert again.status_code == 409
    trail = events(world, item["id"])
    assert [e["action"] for e in trail] == ["claimed", "viewed", "resolved"]
    resolved = trail[-1]
    assert (resolved["actor"], resolved["from_status"], resolved["to_status"], resolved["note"]) == \
        ("steward_a", "in_progress", "resolved_fixed", "紐付けを訂正しました")
    assert resolved["state_before"]["status"] == "in_progress" and resolved["state_after"]["status"] == "resolved_fixed"
    # the audit route shows the same events to the supervisor
    audit = client.get("/api/v1/audit", params={"work_item_id": item["id"]}, headers=world.headers("supervisor_a"))
    assert [e["action"] for e in audit.json()["items"]] == ["claimed", "viewed", "resolved"]


def test_open_item_resolved_directly_and_supervisor_overrides(client, world):
    open_item = world.items(A, "notation")[0]
    r = client.post(f"/api/v1/work-items/{open_item}/resolve", headers=world.headers("steward_a"),
                    json={"resolution": "resolved_wont_fix", "note": "表記の違いのみ"})
    assert r.status_code == 200 and r.json()["status"] == "resolved_wont_fix" and r.json()["assignee"] == "steward_a"
    held = claim(client, world, "steward_a", "notation").json()
    sup = client.post(f"/api/v1/work-items/{held['id']}/release", headers=world.headers("supervisor_a"))
    assert sup.status_code == 200 and sup.json()["status"] == "open" and sup.json()["assignee"] is None
    held = claim(client, world, "steward_a", "notation").json()
    sup = client.post(f"/api/v1/work-items/{held['id']}/resolve", headers=world.headers("supervisor_a"),
                      json={"resolution": "resolved_false_positive", "note": "同一人物"})
    assert sup.status_code == 200 and sup.json()["status"] == "resolved_false_positive"


def test_release_assign_reopen_comment(client, world):
    item = claim(client, world, "steward_a").json()
    r = client.post(f"/api/v1/work-items/{item['id']}/release", headers=world.headers("steward_a"))
    assert r.status_code == 200 and r.json()["status"] == "open" and r.json()["assignee"] is None
    assert client.post(f"/api/v1/work-items/{item['id']}/release", headers=world.headers("steward_a")).status_code == 409
    # assign: supervisor only; to a steward of the item's insurer only
    assert client.post(f"/api/v1/work-items/{item['id']}/assign", headers=world.headers("steward_a"),
                       json={"user": "steward_a2"}).status_code == 403
    wrong = client.post(f"/api/v1/work-items/{item['id']}/assign", headers=world.headers("supervisor_a"),
                        json={"user": "steward_b"})
    assert wrong.status_code == 422 and "steward_b" in wrong.json()["detail"] and wrong.json()["field"] == "user"
    ok = client.post(f"/api/v1/work-items/{item['id']}/assign", headers=world.headers("supervisor_a"),
                     json={"user": "steward_a2"})
    assert ok.status_code == 200 and ok.json()["assignee"] == "steward_a2" and ok.json()["status"] == "in_progress"
    assert client.post(f"/api/v1/work-items/{item['id']}/resolve", headers=world.headers("steward_a"),
                       json={"resolution": "resolved_fixed", "note": "n"}).status_code == 409
    assert client.post(f"/api/v1/work-items/{item['id']}/resolve", headers=world.headers("steward_a2"),
                       json={"resolution": "resolved_fixed", "note": "n"}).status_code == 200
    # reopen: supervisor only, then the item is open and unassigned
    assert client.post(f"/api/v1/work-items/{item['id']}/reopen", headers=world.headers("steward_a2")).status_code == 403
    re = client.post(f"/api/v1/work-items/{item['id']}/reopen", headers=world.headers("supervisor_a"),
                     json={"note": "再確認"})
    assert re.status_code == 200 and re.json()["status"] == "open" and re.json()["assignee"] is None
    assert client.post(f"/api/v1/work-items/{item['id']}/reopen", headers=world.headers("supervisor_a")).status_code == 409
    c = client.post(f"/api/v1/work-items/{item['id']}/comments", headers=world.headers("steward_a"),
                    json={"text": "住基を照会中"})
    assert c.status_code == 201 and c.json()["author"] == "steward_a"
    assert client.post(f"/api/v1/work-items/{item['id']}/comments", headers=world.headers("auditor_a"),
                       json={"text": "x"}).status_code == 403
    detail = client.get(f"/api/v1/work-items/{item['id']}", headers=world.headers("auditor_a")).json()
    assert [c["text"] for c in detail["comments"]] == ["住基を照会中"]
    assert [e["action"] for e in detail["history"]] == [
        "claimed", "released", "assigned", "resolved", "reopened_by_supervisor", "commented"]


def test_bulk_resolve_counts_done_and_refused(client, world):
    mine = world.items(A, "notation")[:3]
    other = world.items(B, "notation")[:1]
    held = claim(client, world, "steward_a", "notation").json()["id"]          # a supervisor may still resolve it
    ids = [*mine, held, *other, 999999]
    assert client.post("/api/v1/work-items/bulk-resolve", headers=world.headers("steward_a"),
                       json={"ids": ids, "resolution": "resolved_fixed", "note": "batch"}).status_code == 403
    r = client.post("/api/v1/work-items/bulk-resolve", headers=world.headers("supervisor_a"),
                    json={"ids": ids, "resolution": "resolved_fixed", "note": "一括確認"})
    assert r.status_code == 200, r.text
    body = r.json()
    expected_done = len(set(mine) | {held})
    assert (body["done"], body["refused"]) == (expected_done, 2)
    refused = {x["id"] for x in body["results"] if x["status"] == "refused"}
    assert refused == {other[0], 999999}
    # the other insurer's item is untouched
    b_item = client.get(f"/api/v1/work-items/{other[0]}", headers=world.headers("steward_b")).json()
    assert b_item["status"] == "open"


def test_expired_lease_returns_the_item_to_open(client, world):
    from reconcile import workflow
    from reconcile.auth import actor_by_name
    from sqlalchemy.orm import Session

    item = claim(client, world, "steward_a").json()
    later = datetime.now(timezone.utc) + timedelta(minutes=31)
    with Session(world.engine) as session, session.begin():
        assert workflow.expire_leases(session, later) == 1
    assert [e["action"] for e in events(world, item["id"])][-1] == "lease_expired"
    # now steward_a2 can claim it: it is the best open item of the queue again
    with Session(world.engine) as session, session.begin():
        taken = workflow.claim_next(session, actor_by_name(session, "steward_a2"), "mislink", now=later)
    assert taken["id"] == item["id"] and taken["assignee"] == "steward_a2"


def test_claim_order_priority_then_age_and_204_when_empty(client, world):
    from reconcile.store.models import WorkItem
    ids = world.items(B, "mislink")
    with world.engine.begin() as c:
        c.execute(sa.update(WorkItem).where(WorkItem.id == ids[-1]).values(priority=10**8))
        expected = [r[0] for r in c.execute(
            sa.select(WorkItem.id).where(WorkItem.id.in_(ids))
            .order_by(WorkItem.priority.desc(), WorkItem.created_at, WorkItem.id))]
    assert expected[0] == ids[-1]
    claimed = [claim(client, world, "steward_b").json()["id"] for _ in ids]
    assert claimed == expected
    assert claim(client, world, "steward_b").status_code == 204


def test_audit_trail_cannot_be_edited_or_deleted(world):
    from reconcile.store.models import Event
    with world.engine.begin() as c:
        c.execute(sa.insert(Event).values(at=datetime.now(timezone.utc), actor="t", action="test"))
    for statement in (sa.update(Event).values(actor="someone else"), sa.delete(Event)):
        with pytest.raises(sa.exc.DBAPIError, match="append-only"):
            with world.engine.begin() as c:
                c.execute(statement)


def test_finding_detail_is_an_audited_read_and_no_full_number_anywhere(client, world):
    page = client.get("/api/v1/findings", params={"rule_id": "MISLINK_SUSPECTED", "limit": 2},
                      headers=world.headers("steward_a"))
    assert page.status_code == 200 and len(page.json()["items"]) == 2 and page.json()["next_cursor"]
    assert {f["insurer_number"] for f in page.json()["items"]} == {A}
    finding_id = page.json()["items"][0]["finding_id"]
    detail = client.get(f"/api/v1/findings/{finding_id}", headers=world.headers("steward_a"))
    assert detail.status_code == 200 and detail.json()["evidence"]["linked"]["last4"]["member"] == "5339"
    audit = client.get("/api/v1/audit", params={"action": "viewed"}, headers=world.headers("auditor_a")).json()
    assert any(e["subject"] == f"finding:{finding_id}" and e["actor"] == "steward_a" for e in audit["items"])
    for path in ("/api/v1/findings", "/api/v1/work-items", "/api/v1/queues", "/api/v1/scans", "/api/v1/audit",
                 f"/api/v1/findings/{finding_id}", f"/api/v1/work-items/{world.items(A)[0]}"):
        r = client.get(path, headers=world.headers("admin"))
        assert r.status_code == 200, (path, r.text)
        assert_no_full_number(r.text)


def test_pagination_walks_every_item_once(client, world):
    seen, cursor = [], None
    while True:
        params = {"limit": 5, **({"cursor": cursor} if cursor else {})}
        page = client.get("/api/v1/work-items", params=params, headers=world.headers("supervisor_a")).json()
        seen += [i["id"] for i in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert sorted(seen) == sorted(world.items(A)) and len(seen) == len(set(seen))
    bad = client.get("/api/v1/work-items", params={"cursor": "nonsense"}, headers=world.headers("supervisor_a"))
    assert bad.status_code == 422 and bad.json()["field"] == "cursor"
    too_many = client.get("/api/v1/findings", params={"limit": 501}, headers=world.headers("supervisor_a"))
    assert too_many.status_code == 422 and "limit" in too_many.json()["detail"] and "501" in too_many.json()["detail"]


def test_queues_overview_per_insurer(client, world):
    claim(client, world, "steward_a")
    a = {q["name"]: q for q in client.get("/api/v1/queues", headers=world.headers("steward_a")).json()["items"]}
    b = {q["name"]: q for q in client.get("/api/v1/queues", headers=world.headers("steward_b")).json()["items"]}
    assert (a["mislink"]["open"], a["mislink"]["in_progress"]) == (5, 1)
    assert (b["mislink"]["open"], b["mislink"]["in_progress"]) == (6, 0)
    assert a["notation"]["label"] == "表記ゆれ・データ品質" and a["mislink"]["oldest_open_days"] == 0
    assert a["feed"]["open"] == 0 and a["feed"]["oldest_open_days"] is None


def test_weekly_report_and_national_export_for_who_sees_every_insurer(client, world):
    import io
    import zipfile

    from reconcile import auth, store
    with store.session_scope(world.engine) as s:
        _, token = auth.add_user(s, "sup_both", "supervisor", [A, B])
    both = {"Authorization": f"Bearer {token}"}
    weekly = client.get("/api/v1/reports/weekly/2026-W49", headers=both)
    assert weekly.status_code == 200, weekly.text
    assert weekly.json()["week"] == "2026-W49" and weekly.json()["tables"]
    assert_no_full_number(weekly.text)
    html = client.get("/api/v1/reports/weekly/2026-W49", params={"format": "html"}, headers=both)
    assert html.status_code == 200 and html.headers["content-type"].startswith("text/html")
    tables = client.get("/api/v1/reports/weekly/2026-W49", params={"format": "csv"}, headers=both)
    assert tables.status_code == 200 and zipfile.ZipFile(io.BytesIO(tables.content)).namelist()
    national = client.get("/api/v1/exports/national", params={"period": "2026-12"}, headers=both)
    assert national.status_code == 200 and national.headers["content-type"].startswith("text/csv")
    assert A in national.text and B in national.text
    assert client.get("/api/v1/exports/national", params={"period": "2026-13"}, headers=both).status_code == 422
    assert client.get("/api/v1/reports/weekly/2026-49", headers=both).status_code == 422
    # one insurer's supervisor reads that insurer's rows only
    own = client.get("/api/v1/exports/national", params={"period": "2026-12"}, headers=world.headers("supervisor_a"))
    assert own.status_code == 200 and A in own.text and B not in own.text


def test_lease_length_is_configurable(world):
    import dataclasses

    from fastapi.testclient import TestClient

    from api.app import create_app

    settings = dataclasses.replace(world.settings, queues={"lease_minutes": 45})
    with TestClient(create_app(settings, engine=world.engine)) as client:
        before = datetime.now(timezone.utc)
        item = claim(client, world, "steward_a").json()
    lease = datetime.fromisoformat(item["lease_until"])
    assert timedelta(minutes=44) < lease - before < timedelta(minutes=46)
