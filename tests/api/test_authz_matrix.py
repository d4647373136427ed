"""Authorisation matrix: every route × role × own / other insurer (contract api.md, "Who may do what").

Outside one's insurers everything is 404 — the same answer as for an id that does not exist —
and that is decided before the role, so a 403 never confirms that another insurer's item exists.
"""
from __future__ import annotations

from datetime import date

import pandas as pd
import pytest
from sqlalchemy.orm import Session

from tests.api.conftest import A, B

# role → (acting user, expected status on own-insurer items, per route)
ACTORS = {"steward": "steward_a", "supervisor": "supervisor_a", "auditor": "auditor_a", "admin": "admin"}

ITEM_ROUTES = {
    #  route                      steward supervisor auditor admin
    "GET detail":                 (200, 200, 200, 200),
    "POST resolve (open item)":   (200, 200, 403, 200),
    "POST release (held item)":   (409, 200, 403, 200),
    "POST assign":                (403, 200, 403, 200),
    "POST reopen (resolved)":     (403, 200, 403, 200),
    "POST comments":              (201, 201, 403, 201),
    "GET finding detail":         (200, 200, 200, 200),
}
ROLE_INDEX = {"steward": 0, "supervisor": 1, "auditor": 2, "admin": 3}

COLLECTION_ROUTES = {
    "GET /api/v1/findings":                     (200, 200, 200, 200),
    "GET /api/v1/work-items":                   (200, 200, 200, 200),
    "GET /api/v1/queues":                       (200, 200, 200, 200),
    "GET /api/v1/scans":                        (200, 200, 200, 200),
    "GET /api/v1/audit":                        (403, 200, 200, 200),
    "POST /api/v1/queues/notation/claim":       (200, 200, 403, 200),
    "POST /api/v1/work-items/bulk-resolve":     (403, 200, 403, 200),
    "POST /api/v1/scans":                       (403, 202, 403, 202),
    "GET /metrics":                             (403, 200, 403, 200),
    # every role reads the reports of its own insurers (the body's insurers are checked below)
    "GET /api/v1/reports/weekly/2026-W49":      (200, 200, 200, 200),
    "GET /api/v1/exports/national?period=2026-12": (200, 200, 200, 200),
}


def _prepare(world, insurer: str) -> dict[str, int]:
    """Fresh items of ``insurer`` in the state each item route needs."""
    from reconcile import workflow
    from reconcile.auth import actor_by_name

    ids = world.items(insurer)
    steward = "steward_a2" if insurer == A else "steward_b"
    with Session(world.engine) as s, s.begin():
        holder = actor_by_name(s, steward)
        held = workflow.claim_next(s, holder, "qualification")["id"]
        resolved = workflow.claim_next(s, holder, "qualification")["id"]
        workflow.resolve(s, holder, resolved, "resolved_fixed", "done")
    free = [i for i in ids if i not in (held, resolved)]
    return {"GET detail": free[0], "POST resolve (open item)": free[1], "POST release (held item)": held,
            "POST assign": free[2], "POST reopen (resolved)": resolved, "POST comments": free[3],
            "GET finding detail": free[4]}


def _call(client, world, user: str, route: str, item_id: int, insurer: str):
    headers = world.headers(user)
    method, _, what = route.partition(" ")
    if route == "GET detail":
        return client.get(f"/api/v1/work-items/{item_id}", headers=headers)
    if route == "GET finding detail":
        with world.engine.connect() as c:
            from reconcile.store.models import WorkItem
            import sqlalchemy as sa
            finding_id = c.execute(sa.select(WorkItem.finding_id).where(WorkItem.id == item_id)).scalar_one()
        return client.get(f"/api/v1/findings/{finding_id}", headers=headers)
    action = what.split()[0]
    body = {"resolve": {"resolution": "resolved_fixed", "note": "確認"},
            "assign": {"user": "steward_a" if insurer == A else "steward_b"},
            "comments": {"text": "メモ"}}.get(action)
    return client.post(f"/api/v1/work-items/{item_id}/{action}", headers=headers, json=body)


@pytest.mark.parametrize("role", list(ACTORS))
def test_item_routes_by_role_and_insurer(client, world, role):
    user = ACTORS[role]
    own, other = _prepare(world, A), _prepare(world, B)
    missing = client.get("/api/v1/work-items/987654", headers=world.headers(user)).json()
    failures = []
    for route, expected in ITEM_ROUTES.items():
        want_own = expected[ROLE_INDEX[role]]
        want_other = want_own if role == "admin" else 404
        for insurer, items, want in ((A, own, want_own), (B, other, want_other)):
            r = _call(client, world, user, route, items[route], insurer)
            if r.status_code != want:
                failures.append(f"{route} on {insurer}'s item as {role}: {r.status_code} != {want} {r.text[:200]}")
            elif want == 404:
                body = r.json()
                if (body["type"], body["title"], body["status"]) != (missing["type"], missing["title"], 404):
                    failures.append(f"{route}: another insurer's item answered unlike a missing one: {body}")
                if r.headers["content-type"] != "application/problem+json":
                    failures.append(f"{route}: 404 is not problem+json")
    assert not failures, "\n".join(failures)


def _add_scan_of(world, insurer: str) -> int:
    from reconcile import store
    with store.session_scope(world.engine) as s:
        feed_id = store.add_feed(s, fingerprint=f"only-{insurer}", path="x", as_of=date(2026, 12, 1), period="2026-12",
                                 manifest={}, validation={}, row_counts={})
        scan_id = store.start_scan(s, feed_id=feed_id, as_of=date(2026, 12, 1))
        store.save_feed_stats(s, scan_id, pd.DataFrame({"insurer_number": [insurer], "statistic": ["members"],
                                                        "value": [1.0]}))
        store.finish_scan(s, scan_id, status="done", summary={})
    return scan_id


@pytest.mark.parametrize("role", list(ACTORS))
def test_collection_routes_by_role_and_scoping(client, world, role):
    user = ACTORS[role]
    headers = world.headers(user)
    scan_a, scan_b = _add_scan_of(world, A), _add_scan_of(world, B)
    # some activity on both insurers, for the audit log
    for steward in ("steward_a2", "steward_b"):
        client.post("/api/v1/queues/mislink/claim", headers=world.headers(steward))
    failures = []
    for route, expected in COLLECTION_ROUTES.items():
        want = expected[ROLE_INDEX[role]]
        method, path = route.split(" ", 1)
        if method == "GET":
            r = client.get(path, headers=headers)
        elif path.endswith("bulk-resolve"):
            r = client.post(path, headers=headers, json={"ids": world.items(A, "benefit")[:2] + world.items(B, "benefit")[:1],
                                                         "resolution": "resolved_wont_fix", "note": "一括"})
        elif path == "/api/v1/scans":
            r = client.post(path, headers=headers, files=[("files", ("members.csv", b"insurer_number,member_id\n" +
                                                                     B.encode() + b",X1\n", "text/csv"))])
        else:
            r = client.post(path, headers=headers)
        if want is not None and r.status_code != want:
            failures.append(f"{route} as {role}: {r.status_code} != {want} {r.text[:300]}")
            continue
        if r.status_code == 200 and "exports/national" in path and role != "admin" and B in r.text:
            failures.append(f"{route} as {role} shows the other insurer's rows")
        if r.status_code != 200 or not r.headers["content-type"].startswith("application/json"):
            continue
        body = r.json()
        insurers = set()
        if isinstance(body.get("insurers"), list):        # the weekly report's insurers
            insurers.update(i.get("insurer_number") for i in body["insurers"] if isinstance(i, dict))
        if "items" in body:
            for item in body["items"]:
                if "insurer_number" in item and isinstance(item["insurer_number"], str):
                    insurers.add(item["insurer_number"])
                insurers.update(item.get("insurer_numbers", []) if isinstance(item.get("insurer_numbers"), list) else [])
        elif "insurer_number" in body:
            insurers.add(body["insurer_number"])
        if role != "admin" and insurers - {A}:
            failures.append(f"{route} as {role} shows other insurers: {insurers - {A}}")
        if path.endswith("bulk-resolve"):
            if (body["done"], body["refused"]) != ((3, 0) if role == "admin" else (2, 1)):
                failures.append(f"bulk-resolve as {role}: {body}")
        if path == "/api/v1/audit" and role != "admin":
            subjects = {e["work_item_id"] for e in body["items"]}
            if subjects & set(world.items(B)):
                failures.append("audit shows the other insurer's events")
    # scans: own 200, other 404 (admin: both)
    for scan_id, insurer in ((scan_a, A), (scan_b, B)):
        r = client.get(f"/api/v1/scans/{scan_id}", headers=headers)
        want = 200 if role == "admin" or insurer == A else 404
        if r.status_code != want:
            failures.append(f"GET /scans/{scan_id} ({insurer}) as {role}: {r.status_code} != {want}")
    listed = {s["scan_id"] for s in client.get("/api/v1/scans", headers=headers).json()["items"]}
    if role != "admin" and scan_b in listed:
        failures.append("GET /scans lists another insurer's scan")
    # the queue counts are the user's insurer's only
    queues = {q["name"]: q for q in client.get("/api/v1/queues", headers=headers).json()["items"]}
    mislink_total = queues["mislink"]["open"] + queues["mislink"]["in_progress"]
    if mislink_total != (12 if role == "admin" else 6):
        failures.append(f"queue counts as {role}: mislink {mislink_total}")
    assert not failures, "\n".join(failures)


def test_no_or_bad_token_is_401_on_every_route_but_health(client, world):
    routes = [(r.methods, r.path) for r in client.app.routes if hasattr(r, "methods")]
    paths = {"/api/v1/health"}
    failures = []
    for rule in client.app.openapi()["paths"].items():
        path, operations = rule
        for method in operations:
            concrete = (path.replace("{item_id}", "1").replace("{finding_id}", "0" * 24)
                        .replace("{queue}", "mislink").replace("{scan_id}", "1").replace("{week}", "2026-W49"))
            for headers in ({}, {"Authorization": "Bearer rct_not-a-token"}):
                r = client.request(method.upper(), concrete, headers=headers)
                want = 200 if path in paths else 401
                if path in paths:
                    continue
                if r.status_code != want:
                    failures.append(f"{method.upper()} {path} with {headers or 'no token'}: {r.status_code}")
    assert routes and not failures, "\n".join(failures)


def test_disabled_user_and_replaced_token_stop_working(client, world):
    from reconcile import auth
    from reconcile.store import session_scope

    assert client.get("/api/v1/queues", headers=world.headers("steward_a")).status_code == 200
    with session_scope(world.engine) as s:
        new = auth.issue_token(s, "steward_a")
    assert client.get("/api/v1/queues", headers=world.headers("steward_a")).status_code == 401
    assert client.get("/api/v1/queues", headers={"Authorization": f"Bearer {new}"}).status_code == 200
    with session_scope(world.engine) as s:
        auth.disable_user(s, "steward_a")
    r = client.get("/api/v1/queues", headers={"Authorization": f"Bearer {new}"})
    assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
