"""Through a real `reconcile serve` process on loopback: a scanned feed of two insurers worked by a
supervisor, stewards of both insurers and an auditor; a feed uploaded as a zip and scanned in the
background; OpenAPI and /metrics; no full individual number in any response body."""
from __future__ import annotations

import io
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import httpx
import pandas as pd
import pytest

from tests.api.conftest import assert_no_full_number

FEED_A = "122218"


def _insurer_b() -> str:
    from reconcile.synth.population import kokuho_insurer_number
    return kokuho_insurer_number("13", "101")


@pytest.fixture(scope="session")
def two_insurer_feed(tmp_path_factory) -> Path:
    """A small generated feed; every member of an odd-numbered household moved to a second insurer."""
    out = tmp_path_factory.mktemp("feed") / "feed"
    subprocess.run([sys.executable, "-m", "reconcile.cli.main", "generate", str(out), "--members", "300",
                    "--seed", "1"], check=True, capture_output=True)
    members = pd.read_csv(out / "members.csv", dtype=str, keep_default_na=False)
    odd = members["household_id"].str[-1].isin(list("13579"))
    moved = set(members.loc[odd, "member_id"])
    for name in ("members.csv", "oqs.csv", "card_status.csv", "benefit_history.csv"):
        path = out / name
        if not path.exists():
            continue
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
        if "insurer_number" in frame and "member_id" in frame:
            frame.loc[frame["member_id"].isin(moved), "insurer_number"] = _insurer_b()
            frame.to_csv(path, index=False)
    (out / "truth.csv").unlink(missing_ok=True)
    return out


def _zip(folder: Path) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for f in sorted(folder.iterdir()):
            zf.write(f, f"feed/{f.name}")
    return buffer.getvalue()


def _wait(client: httpx.Client, scan_id: str, timeout: float = 240) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        body = client.get(f"/api/v1/scans/{scan_id}").json()
        if body["status"] in ("done", "rejected", "failed"):
            return body
        assert time.monotonic() < deadline, f"scan {scan_id} still {body['status']}"
        time.sleep(1)


def test_upload_scan_and_work_through_a_real_server(world, server, two_insurer_feed):
    from reconcile import auth, store
    B = _insurer_b()
    with store.session_scope(world.engine) as s:
        for name, role, insurers in (("sup_ab", "supervisor", [FEED_A, B]), ("st_fa", "steward", [FEED_A]),
                                     ("st_fb", "steward", [B]), ("aud_fa", "auditor", [FEED_A])):
            _, world.tokens[name] = auth.add_user(s, name, role, insurers)
    c = {n: httpx.Client(base_url=server, headers=world.headers(n), timeout=60)
         for n in ("sup_ab", "st_fa", "st_fb", "aud_fa", "supervisor_a", "admin")}
    bodies: list[str] = []
    try:
        # a supervisor of one insurer may not scan a feed that also holds another insurer
        r = c["supervisor_a"].post("/api/v1/scans", files=[("files", ("feed.zip", _zip(two_insurer_feed),
                                                                      "application/zip"))])
        assert r.status_code == 202 and r.json()["status"] == "queued"
        refused = _wait(c["supervisor_a"], r.json()["scan_id"])
        assert refused["status"] == "rejected" and B in refused["message"]["en"]
        # the supervisor of both insurers uploads the same feed as its files
        files = [("files", (f.name, f.read_bytes(), "text/csv")) for f in sorted(two_insurer_feed.iterdir())]
        r = c["sup_ab"].post("/api/v1/scans", files=files)
        assert r.status_code == 202, r.text
        done = _wait(c["sup_ab"], r.json()["scan_id"])
        assert done["status"] == "done", done
        scan_id = done["result_scan_id"]
        scan = c["sup_ab"].get(f"/api/v1/scans/{scan_id}").json()
        assert scan["status"] == "done" and set(scan["insurer_numbers"]) == {FEED_A, B}
        assert scan["stage_seconds"]["total"] > 0 and scan["quarantine_count"] is not None
        bodies.append(c["sup_ab"].get(f"/api/v1/scans/{scan_id}").text)
        # each steward sees only their insurer's findings of that scan
        for name, insurer in (("st_fa", FEED_A), ("st_fb", B)):
            page = c[name].get("/api/v1/findings", params={"scan_id": scan_id, "limit": 500})
            assert page.status_code == 200
            assert {f["insurer_number"] for f in page.json()["items"]} == {insurer}
            bodies.append(page.text)
        # work: each steward claims and resolves from their queue; the auditor reads but cannot change
        for name in ("st_fa", "st_fb"):
            queues = c[name].get("/api/v1/queues").json()["items"]
            busy = next(q["name"] for q in queues if q["open"] > 0)
            item = c[name].post(f"/api/v1/queues/{busy}/claim").json()
            detail = c[name].get(f"/api/v1/work-items/{item['id']}")
            assert detail.status_code == 200
            bodies.append(detail.text)
            ok = c[name].post(f"/api/v1/work-items/{item['id']}/resolve",
                              json={"resolution": "resolved_fixed", "note": "訂正済み"})
            assert ok.status_code == 200 and ok.json()["status"] == "resolved_fixed"
            other = c["st_fb" if name == "st_fa" else "st_fa"].get(f"/api/v1/work-items/{item['id']}")
            assert other.status_code == 404
        item_a = c["aud_fa"].get("/api/v1/work-items", params={"status": "open", "limit": 1}).json()["items"][0]
        assert c["aud_fa"].post(f"/api/v1/work-items/{item_a['id']}/resolve",
                                json={"resolution": "resolved_fixed", "note": "x"}).status_code == 403
        audit = c["aud_fa"].get("/api/v1/audit", params={"action": "resolved"}).json()["items"]
        assert [e["actor"] for e in audit] == ["st_fa"]
        for path in ("/api/v1/work-items?limit=500", "/api/v1/findings?limit=500", "/api/v1/audit?limit=500",
                     "/api/v1/scans"):
            bodies.append(c["admin"].get(path).text)
        for body in bodies:
            assert_no_full_number(body)
        # OpenAPI and metrics
        spec = httpx.get(f"{server}/openapi.json").json()
        assert "/api/v1/queues/{queue}/claim" in spec["paths"] and "/api/v1/work-items/bulk-resolve" in spec["paths"]
        assert c["st_fa"].get("/metrics").status_code == 403
        metrics = c["sup_ab"].get("/metrics")
        assert metrics.status_code == 200
        assert 'reconcile_http_requests_total{method="POST",route="/api/v1/queues/{queue}/claim",status="200"}' \
            in metrics.text
        assert 'reconcile_work_items{queue="mislink",status="open"}' in metrics.text
        assert "member_id" not in metrics.text and FEED_A + ":" not in metrics.text
    finally:
        for client in c.values():
            client.close()


def test_health_without_token_and_problem_json_from_the_server(server):
    r = httpx.get(f"{server}/api/v1/health")
    assert r.json() == {"status": "ok", "database": "ok"}
    r = httpx.get(f"{server}/api/v1/work-items")
    assert r.status_code == 401 and r.headers["content-type"] == "application/problem+json"
    assert set(r.json()) >= {"type", "title", "status", "detail"}


def test_two_worker_processes_share_the_queues_and_the_token_checks(world, serve):
    """`serve --workers 2`: stewards claiming in parallel through both worker processes never get one
    item twice, and every claim is in the audit trail once; a token replaced by another process (the
    CLI) stops working in every worker within the credential cache's lifetime."""
    from concurrent.futures import ThreadPoolExecutor

    import sqlalchemy as sa

    from reconcile import auth
    from reconcile.store import session_scope
    from reconcile.store.models import Event

    base = serve(world, "--workers", "2")
    open_a = len(world.items(FEED_A, "notation"))
    assert open_a > 0

    def claim_all(user: str) -> list[int]:
        got = []
        with httpx.Client(base_url=base, headers=world.headers(user), timeout=60) as client:
            while True:
                r = client.post("/api/v1/queues/notation/claim")
                if r.status_code == 204:
                    return got
                assert r.status_code == 200, r.text
                got.append(r.json()["id"])

    with ThreadPoolExecutor(6) as pool:
        claimed = [i for part in pool.map(claim_all, ["steward_a", "steward_a2"] * 3) for i in part]
    assert len(claimed) == len(set(claimed)) == open_a
    with world.engine.connect() as c:
        logged = c.execute(sa.select(Event.work_item_id).where(Event.action == "claimed")).scalars().all()
    assert sorted(logged) == sorted(claimed)

    headers = world.headers("steward_a")
    assert httpx.get(f"{base}/api/v1/queues", headers=headers).status_code == 200
    with session_scope(world.engine) as s:
        auth.issue_token(s, "steward_a")       # another process than the server's workers
    deadline = time.monotonic() + auth.ACTOR_CACHE_SECONDS + 5
    while time.monotonic() < deadline:
        if all(httpx.get(f"{base}/api/v1/queues", headers=headers).status_code == 401 for _ in range(6)):
            break
        time.sleep(0.5)
    else:
        pytest.fail("the replaced token still works after the credential cache's lifetime")
