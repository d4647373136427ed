"""Claim-next never gives one item to two people: parallel clients on SQLite and PostgreSQL.

Directly (threads, each with its own connection, so the database arbitrates) and through a real
``reconcile serve`` process with parallel HTTP clients.
"""
from __future__ import annotations

import threading
from collections import Counter

import httpx
import pandas as pd
import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from tests.api.conftest import A, B, build_world, finding_row

WORKERS = 8


def many_notation_items(n_per_insurer: int) -> pd.DataFrame:
    from detectors.engine import FINDING_COLUMNS
    rows = [finding_row("NOTATION_DIFFERENCE", "notation", insurer, f"{insurer}-N-{i:04d}", severity="low",
                        score=(i % 7) / 10)
            for insurer in (A, B) for i in range(n_per_insurer)]
    return pd.DataFrame(rows, columns=FINDING_COLUMNS)


@pytest.fixture
def crowded(db_url):
    world = build_world(db_url, many_notation_items(60))
    from reconcile import auth, store
    with store.session_scope(world.engine) as s:
        for k in range(WORKERS):
            _, world.tokens[f"s{k}"] = auth.add_user(s, f"s{k}", "steward", [A])
    yield world
    world.engine.dispose()


def _claims_by_thread(world, claim_one) -> tuple[list[int], list[str]]:
    claimed: list[int] = []
    errors: list[str] = []
    lock = threading.Lock()
    start = threading.Barrier(WORKERS)

    def worker(k: int) -> None:
        start.wait()
        while True:
            try:
                item_id = claim_one(k)
            except Exception as exc:  # noqa: BLE001 — collected and reported by the test
                with lock:
                    errors.append(f"{type(exc).__name__}: {exc}")
                return
            if item_id is None:
                return
            with lock:
                claimed.append(item_id)

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(WORKERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    return claimed, errors


def _assert_each_claimed_once(world, claimed: list[int]) -> None:
    from reconcile.store.models import Event, WorkItem
    doubles = [i for i, n in Counter(claimed).items() if n > 1]
    assert doubles == []
    assert sorted(claimed) == world.items(A, "notation")          # every open item of A, and only A's
    with world.engine.connect() as c:
        events = Counter(r[0] for r in c.execute(sa.select(Event.work_item_id).where(Event.action == "claimed")))
        held = dict(c.execute(sa.select(WorkItem.id, WorkItem.assignee).where(WorkItem.id.in_(claimed))).all())
    assert set(events.values()) == {1} and set(events) == set(claimed)     # one claim event per item
    assert all(held[i] is not None for i in claimed)


def test_parallel_claims_in_the_database(crowded):
    from reconcile import workflow
    from reconcile.auth import actor_by_name

    def claim_one(k: int):
        with Session(crowded.engine) as session, session.begin():
            item = workflow.claim_next(session, actor_by_name(session, f"s{k}"), "notation")
        return item["id"] if item else None

    claimed, errors = _claims_by_thread(crowded, claim_one)
    assert errors == []
    _assert_each_claimed_once(crowded, claimed)


def test_parallel_claims_through_a_real_server(crowded, serve):
    server = serve(crowded)
    clients = [httpx.Client(base_url=server, headers=crowded.headers(f"s{k}"), timeout=60) for k in range(WORKERS)]

    def claim_one(k: int):
        r = clients[k].post("/api/v1/queues/notation/claim")
        if r.status_code == 204:
            return None
        assert r.status_code == 200, r.text
        assert r.json()["assignee"] == f"s{k}"
        return r.json()["id"]

    try:
        claimed, errors = _claims_by_thread(crowded, claim_one)
    finally:
        for c in clients:
            c.close()
    assert errors == []
    _assert_each_claimed_once(crowded, claimed)
