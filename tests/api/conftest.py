"""Fixtures of the API tests: a store with work items of two insurers, users of every role.

``world``  — on ``db_url`` (SQLite and PostgreSQL): one scan whose findings belong to insurers
             :data:`A` and :data:`B` (mis-link, notation, burden, qualification …, evidence shaped
             as the matcher writes it), and users ``steward_a``, ``steward_a2``, ``steward_b``,
             ``supervisor_a``, ``supervisor_b``, ``auditor_a``, ``auditor_b``, ``admin`` with tokens.
``client`` — a TestClient on ``create_app`` for that store.
"""
from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import httpx
import pandas as pd
import pytest

from detectors.engine import FINDING_COLUMNS, fingerprint, to_json

A, B = "122218", "131016"
ROLES = ("steward", "supervisor", "auditor", "admin")
TWELVE_DIGITS = re.compile(r"(?<![0-9])[0-9]{12}(?![0-9])")


def side(member, resident, label="exact / 完全一致", level="exact") -> dict:
    return {"member": member, "resident": resident, "label": label, "level": level, "gamma": 1, "contribution": 0.5}


def pair_evidence(*, same: bool, member_name="佐藤 一郎", resident_name="佐藤 一郎", last4="5339") -> dict:
    fields = {
        "name_kanji": side(member_name, resident_name),
        "name_kana": side("サトウ イチロウ", "サトウ イチロウ"),
        "name_alpha": side(None, None, "no alphabet name", "null"),
        "birth_date": side("1988-07-23", "1988-07-23" if same else "1988-07-24"),
        "sex": side(1, 1),
        "address": side("千葉県八千代市豊町3-26-19", "千葉県八千代市豊町3-26-19" if same else "大阪府大阪市4丁目5番2号"),
        "last4": side(last4, last4),
        "municipality": side("122218", "122211"),
        "household": side("0001000081", "0001000081" if same else "9087998385",
                          "same household" if same else "different household", "same" if same else "else"),
    }
    return fields


def finding_row(rule_id: str, category: str, insurer: str, member: str, *, severity="high", score=0.9,
                evidence=None, suggested=None) -> dict:
    return {"finding_id": fingerprint(rule_id, insurer, member, "facts-1"), "rule_id": rule_id, "category": category,
            "severity": severity, "score": score, "insurer_number": insurer, "member_id": member,
            "summary_ja": f"{rule_id}: 被保険者 {member}", "summary_en": f"{rule_id}: member {member}",
            "evidence": to_json(evidence or {"member_id": member}), "suggested_resident_id": suggested,
            "suggested_individual_number_last4": "5759" if suggested else None, "facts": "facts-1"}


def synthetic_findings(per_insurer: int = 6) -> pd.DataFrame:
    rows = []
    for insurer in (A, B):
        for n in range(per_insurer):
            rows.append(finding_row("MISLINK_SUSPECTED", "mislink", insurer, f"{insurer}-ML-{n:03d}",
                                    score=0.5 + n / 100, severity="high" if n % 2 else "medium",
                                    evidence={"linked": pair_evidence(same=False), "linked_resident_id": "86166431645",
                                              "candidates": [{"resident_id": "36672451929", "linked": False,
                                                              "p_same": 0.99, "last4": "5759"}]},
                                    suggested="36672451929"))
            rows.append(finding_row("NOTATION_DIFFERENCE", "notation", insurer, f"{insurer}-NT-{n:03d}",
                                    severity="low", score=0.8,
                                    evidence={"fields": pair_evidence(same=True, resident_name="佐藤 一朗"),
                                              "linked_resident_id": "40669482280"}))
            rows.append(finding_row("BURDEN_RATIO_RULE", "burden_ratio", insurer, f"{insurer}-BR-{n:03d}",
                                    evidence={"burden_ratio": 30, "expected_ratio": "20"}))
            rows.append(finding_row("QUAL_OVERLAP", "qualification_date", insurer, f"{insurer}-QO-{n:03d}",
                                    severity="medium"))
    return pd.DataFrame(rows, columns=FINDING_COLUMNS)


@dataclass
class World:
    url: str
    engine: object
    settings: object
    tokens: dict[str, str] = field(default_factory=dict)

    def headers(self, user: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[user]}"}

    def items(self, insurer: str, queue: str | None = None) -> list[int]:
        import sqlalchemy as sa
        from reconcile.store.models import WorkItem
        stmt = sa.select(WorkItem.id).where(WorkItem.insurer_number == insurer).order_by(WorkItem.id)
        if queue:
            stmt = stmt.where(WorkItem.queue == queue)
        with self.engine.connect() as c:
            return [r[0] for r in c.execute(stmt)]


USERS = {
    "steward_a": ("steward", [A]), "steward_a2": ("steward", [A]), "steward_b": ("steward", [B]),
    "supervisor_a": ("supervisor", [A]), "supervisor_b": ("supervisor", [B]),
    "auditor_a": ("auditor", [A]), "auditor_b": ("auditor", [B]), "admin": ("admin", []),
}


def build_world(url: str, findings: pd.DataFrame | None = None) -> World:
    from reconcile import auth, store
    from reconcile.config import get_settings

    engine = store.get_engine(url)
    store.upgrade(engine)
    with store.session_scope(engine) as session:
        feed_id = store.add_feed(session, fingerprint=f"synthetic-{url[-12:]}", path="synthetic", as_of=date(2026, 12, 1),
                                 period="2026-12", manifest={}, validation={"success": True}, row_counts={"members": 24})
        scan_id = store.start_scan(session, feed_id=feed_id, as_of=date(2026, 12, 1))
        frame = synthetic_findings() if findings is None else findings
        store.merge_findings(session, scan_id, frame, insurer_numbers=[A, B])
        stats = pd.DataFrame({"insurer_number": [A, B], "statistic": ["members", "members"], "value": [12.0, 12.0]})
        store.save_feed_stats(session, scan_id, stats)
        store.finish_scan(session, scan_id, status="done", summary={"findings_by_rule": {}})
    world = World(url=url, engine=engine, settings=get_settings(database_url=url, secret_key="test-key-not-secret"))
    with store.session_scope(engine) as session:
        for name, (role, insurers) in USERS.items():
            _, world.tokens[name] = auth.add_user(session, name, role, insurers)
    return world


@pytest.fixture
def world(db_url):
    w = build_world(db_url)
    yield w
    w.engine.dispose()


@pytest.fixture
def client(world):
    from fastapi.testclient import TestClient
    from api.app import create_app

    app = create_app(world.settings, engine=world.engine)
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def serve(tmp_path):
    """``serve(world, *flags) -> base_url``: a real `reconcile serve` process on a random loopback port."""
    procs = []

    def start(world, *args: str) -> str:
        port = free_port()
        env = {**os.environ, "RECONCILE_DATABASE_URL": world.url, "RECONCILE_SECRET_KEY": "test-key-not-secret",
               "RECONCILE_CONFIG": str(tmp_path / "none.toml"), "RECONCILE_UPLOAD_DIR": str(tmp_path / "uploads")}
        proc = subprocess.Popen([sys.executable, "-m", "reconcile.cli.main", "serve", "--host", "127.0.0.1",
                                 "--port", str(port), *args], env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT)
        procs.append(proc)
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/api/v1/health", timeout=2).status_code == 200:
                    return base
            except httpx.HTTPError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                out = proc.stdout.read().decode(errors="replace") if proc.stdout else ""
                pytest.fail(f"reconcile serve did not come up: {out[-2000:]}")
            time.sleep(0.2)

    yield start
    for proc in procs:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.fixture
def server(world, serve):
    """A real `reconcile serve` process over the ``world`` store; yields its base URL."""
    return serve(world)


def assert_no_full_number(text: str, allowed: set[str] = frozenset()) -> None:
    """No 12-digit run anywhere in a response body (finding ids, which are hex, and the
    fractions of decimals are taken out first)."""
    cleaned = re.sub(r"\b[0-9a-f]{24}\b", "<finding_id>", text)
    # The fraction of a decimal (a latency sum in /metrics: 0.796225908185) is no number.
    cleaned = re.sub(r"(?<=[0-9])\.[0-9]+(?:e[+-]?[0-9]+)?", ".<fraction>", cleaned)
    found = [m for m in TWELVE_DIGITS.findall(cleaned) if m not in allowed]
    assert not found, f"12-digit run(s) in a response: {found[:3]}"
