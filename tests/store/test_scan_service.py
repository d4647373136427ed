"""service.scan's store side on SQLite and PostgreSQL (issues #8 and #10), with the feed and the
rules replaced by fixed frames so each month is a second, not a minute of ingest:
two-month carry-forward with its counts, quarantined / truncated-feed members keeping their items,
older-feed refusal, the per-insurer scan lock, the key fingerprint, the race-safe feed row, and two
faults (database connection dropped mid-persist, disk full)."""
from __future__ import annotations

import hashlib
import os
import socket
import subprocess
import sys
from datetime import datetime, timedelta, timezone

import pandas as pd
import pytest
import sqlalchemy as sa

from reconcile import errors, service, store
from reconcile.config import Settings
from reconcile.feeds import Feed
from reconcile.pipeline import Evaluation
from reconcile.store import locks
from tests.store.helpers import finding, findings_input

KEY = "scan-service-test-key-0001"
I1, I2 = "131016", "01130012"      # every test: two insurers


def members(n: int, insurer: str = I1, prefix: str = "M") -> list[tuple[str, str]]:
    return [(insurer, f"{prefix}{i:04d}") for i in range(n)]


def make_feed(tmp_path, name: str, rows: list[tuple[str, str]], *, period: str = "2026-11",
              quarantined: list[tuple[str, str]] | None = None, quarantine_rows: int = 0) -> Feed:
    path = tmp_path / name
    path.mkdir(exist_ok=True)
    frame = pd.DataFrame(rows, columns=["insurer_number", "member_id"]).astype("string")
    n = quarantine_rows or len(quarantined or [])
    quarantine = pd.DataFrame({"file": ["members.csv"] * n, "line": list(range(2, 2 + n)),
                               "column": ["birth_date"] * n, "value": ["19xx"] * n,
                               "reason": ["invalid_date"] * n}).astype(
        {"file": "string", "line": "int64", "column": "string", "value": "string", "reason": "string"})
    feed = Feed(path=path, frames={"members": frame, "residents": None, "oqs": None, "benefit_history": None,
                                   "card_status": None},
                quarantine=quarantine, validation={"members": {"rows_read": len(rows) + n}},
                manifest={"period": period}, as_of=pd.Timestamp(f"{period}-01"), period=period,
                fingerprint=hashlib.sha256(name.encode()).hexdigest(), row_counts={"members": len(rows) + n})
    if quarantined is not None:
        keys = {"insurer_number": [i for i, _ in quarantined], "member_id": [m for _, m in quarantined]}
    else:   # rows that could not be split into fields: no readable member key (what ingest gives)
        keys = {"insurer_number": [pd.NA] * n, "member_id": [pd.NA] * n}
    feed.quarantined_keys = pd.DataFrame({"file": ["members.csv"] * n, "line": list(range(2, 2 + n)),
                                          **keys}).astype({"insurer_number": "string", "member_id": "string"})
    return feed


class Scanner:
    """Runs service.scan with a given feed and given findings (the rules' output)."""

    def __init__(self, monkeypatch, db_url, tmp_path, key: str = KEY):
        self.monkeypatch, self.db_url = monkeypatch, db_url
        self.settings = Settings(database_url=db_url, secret_key=key, config_path=tmp_path / "none.toml")

    def run(self, feed: Feed, findings: list[dict], **kwargs) -> service.ScanSummary:
        stats = pd.DataFrame({"insurer_number": pd.Series([], dtype="string"),
                              "statistic": pd.Series([], dtype="string"), "value": pd.Series([], dtype="float64")})
        self.monkeypatch.setattr(service, "load_feed", lambda *a, **k: feed)
        self.monkeypatch.setattr(service.pipeline, "evaluate",
                                 lambda *a, **k: Evaluation(findings_input(findings), [], {}, stats))
        return service.scan(feed.path, settings=kwargs.pop("settings", self.settings), **kwargs)

    def statuses(self) -> dict[tuple[str, str, str], str]:
        engine = service.open_store(self.settings)
        with engine.connect() as c:
            rows = c.execute(sa.select(store.Finding.insurer_number, store.Finding.member_id, store.Finding.rule_id,
                                       store.WorkItem.status)
                             .join(store.WorkItem, store.WorkItem.finding_id == store.Finding.finding_id)).all()
        return {(i, m, r): s for i, m, r, s in rows}

    def counts(self) -> dict[str, int]:
        engine = service.open_store(self.settings)
        with engine.connect() as c:
            return {t: c.execute(sa.text(f"SELECT count(*) FROM {t}")).scalar_one()
                    for t in ("feeds", "scans", "findings", "scan_findings", "work_items", "events", "quarantine",
                              "scan_insurers")}


@pytest.fixture
def scanner(monkeypatch, db_url, tmp_path):
    return Scanner(monkeypatch, db_url, tmp_path)


def f(member: str, rule: str = "MISLINK_SUSPECTED", insurer: str = I1, facts: str = "f") -> dict:
    return finding(rule, member, insurer_number=insurer, facts=facts)


# --- two months ---------------------------------------------------------------------------------

def test_two_month_carry_forward_counts_in_the_scan_summary(scanner, tmp_path):
    rows = members(10) + members(5, I2, "X")
    nov = [f("M0000"), f("M0001"), f("M0002"), f("M0003", "NOTATION_DIFFERENCE"), f("X0000", insurer=I2)]
    first = scanner.run(make_feed(tmp_path, "nov", rows, period="2026-11"), nov)
    assert (first.queue_counts["new"], first.queue_counts["closed_not_seen"]) == (5, 0)
    engine = service.open_store(scanner.settings)
    with store.session_scope(engine) as s:
        store.transition(s, nov[1]["finding_id"], "resolved_false_positive", "sato", "同一人物")
        store.transition(s, nov[2]["finding_id"], "in_progress", "suzuki")
    # December: M0000 still raised, M0001's facts changed (new finding id), M0002 (in progress) and
    # M0003 no longer raised, one new finding, the other insurer unchanged.
    dec = [f("M0000"), f("M0001", facts="changed"), f("M0009"), f("X0000", insurer=I2)]
    second = scanner.run(make_feed(tmp_path, "dec", rows, period="2026-12"), dec)
    q = second.queue_counts
    assert (q["new"], q["carried"], q["closed_not_seen"], q["reopened"], q["not_seen_in_progress"]) == (2, 2, 1, 1, 1)
    st = scanner.statuses()
    assert st[(I1, "M0003", "NOTATION_DIFFERENCE")] == "closed_not_seen"
    assert st[(I1, "M0002", "MISLINK_SUSPECTED")] == "in_progress"
    assert "resolved_fixed" not in st.values()
    with store.session_scope(engine) as s:
        m1 = s.execute(sa.select(store.WorkItem.status).join(
            store.Finding, store.Finding.finding_id == store.WorkItem.finding_id)
            .where(store.Finding.member_id == "M0001")).scalars().all()
        assert sorted(m1) == ["open", "resolved_false_positive"]
        [latest, _] = store.list_scans(s)
        assert latest["summary"]["queues"]["closed_not_seen"] == 1
        assert latest["summary"]["queues"]["reopened"] == 1
        item = s.execute(sa.select(store.WorkItem).where(
            store.WorkItem.finding_id == dec[1]["finding_id"])).scalar_one()
        assert item.previous_finding_id == nov[1]["finding_id"]
        assert s.execute(sa.select(store.WorkItem.not_seen_since_scan).where(
            store.WorkItem.finding_id == nov[2]["finding_id"])).scalar_one() == second.scan_id


def test_a_quarantined_member_keeps_its_open_items(scanner, tmp_path):
    rows = members(10) + members(4, I2, "X")
    items = [f("M0001"), f("M0002"), f("X0001", insurer=I2)]
    scanner.run(make_feed(tmp_path, "m1", rows), items)
    # Next month M0001's row is quarantined (a birth-date typo): it is not in the members frame and
    # the rules do not raise its finding — the item must stay open. M0002 really was fixed.
    rows2 = [r for r in rows if r[1] != "M0001"]
    summary = scanner.run(make_feed(tmp_path, "m2", rows2, period="2026-12", quarantined=[(I1, "M0001")]),
                          [f("X0001", insurer=I2)])
    assert (summary.queue_counts["kept_quarantined"], summary.queue_counts["closed_not_seen"]) == (1, 1)
    st = scanner.statuses()
    assert st[(I1, "M0001", "MISLINK_SUSPECTED")] == "open"
    assert st[(I1, "M0002", "MISLINK_SUSPECTED")] == "closed_not_seen"


def test_members_of_unreadable_quarantined_rows_keep_their_items(scanner, tmp_path):
    """A members.csv row that could not even be split (no member key): every member absent from
    the feed keeps its items; present members not raised again are closed."""
    rows = members(10) + members(4, I2, "X")
    scanner.run(make_feed(tmp_path, "m1", rows), [f("M0001"), f("M0002")])
    rows2 = [r for r in rows if r[1] != "M0001"]
    summary = scanner.run(make_feed(tmp_path, "m2", rows2, period="2026-12", quarantine_rows=1), [])
    st = scanner.statuses()
    assert st[(I1, "M0001", "MISLINK_SUSPECTED")] == "open"           # absent, maybe quarantined: kept
    assert st[(I1, "M0002", "MISLINK_SUSPECTED")] == "closed_not_seen"  # present, not raised: closed
    assert summary.queue_counts["kept_absent"] == 1


def test_unreadable_rows_of_another_member_file_keep_that_files_rules_from_closing(scanner, tmp_path):
    rows = members(6) + members(3, I2, "X")
    oqs_item = f("M0001", "BURDEN_RATIO_OQS_MISMATCH")
    scanner.run(make_feed(tmp_path, "m1", rows), [oqs_item, f("M0002")])
    feed = make_feed(tmp_path, "m2", rows, period="2026-12")
    feed.quarantine = pd.DataFrame({"file": ["oqs.csv"], "line": [3], "column": ["burden_ratio"], "value": ["x"],
                                    "reason": ["bad_row"]}).astype(
        {"file": "string", "line": "int64", "column": "string", "value": "string", "reason": "string"})
    feed.quarantined_keys = pd.DataFrame({"file": ["oqs.csv"], "line": [3], "insurer_number": [pd.NA],
                                          "member_id": [pd.NA]}).astype({"insurer_number": "string",
                                                                         "member_id": "string"})
    summary = scanner.run(feed, [])
    assert "BURDEN_RATIO_OQS_MISMATCH" in summary.rules_closing_nothing
    st = scanner.statuses()
    assert st[(I1, "M0001", "BURDEN_RATIO_OQS_MISMATCH")] == "open"     # whose oqs row? unknown: kept
    assert st[(I1, "M0002", "MISLINK_SUSPECTED")] == "closed_not_seen"


def test_a_truncated_feed_is_refused_and_when_forced_absent_members_keep_their_items(scanner, tmp_path):
    rows = members(20) + members(6, I2, "X")
    items = [f(f"M{i:04d}") for i in range(0, 20, 2)] + [f("X0001", insurer=I2)]
    scanner.run(make_feed(tmp_path, "full", rows), items)
    before = scanner.counts()
    cut = members(8) + members(6, I2, "X")                             # insurer I1 cut to 8 of 20
    with pytest.raises(errors.Refused) as refused:
        scanner.run(make_feed(tmp_path, "cut", cut, period="2026-12"), [])
    assert refused.value.exit_code == 2 and I1 in str(refused.value) and "--force" in str(refused.value)
    assert [r["reason"] for r in refused.value.details["refusals"]] == ["truncated"]
    assert scanner.counts() == before                                  # refused: nothing stored
    forced = scanner.run(make_feed(tmp_path, "cut", cut, period="2026-12"), [f("X0001", insurer=I2)], force=True)
    q = forced.queue_counts
    # M0000..M0006 (even) present and not raised: closed; M0008..M0018 absent: kept.
    assert (q["closed_not_seen"], q["kept_absent"]) == (4, 6)
    assert [r["reason"] for r in forced.forced] == ["truncated"]
    st = scanner.statuses()
    assert st[(I1, "M0018", "MISLINK_SUSPECTED")] == "open" and st[(I1, "M0002", "MISLINK_SUSPECTED")] == "closed_not_seen"
    assert st[(I2, "X0001", "MISLINK_SUSPECTED")] == "open"


def test_an_older_feed_is_refused_unless_forced(scanner, tmp_path):
    rows = members(5) + members(5, I2, "X")
    scanner.run(make_feed(tmp_path, "dec", rows, period="2026-12"), [f("M0001"), f("X0001", insurer=I2)])
    before = scanner.counts()
    with pytest.raises(errors.Refused) as refused:
        scanner.run(make_feed(tmp_path, "nov", rows, period="2026-11"), [])
    assert "2026-11" in str(refused.value) and "2026-12" in str(refused.value)
    assert scanner.counts() == before
    assert set(scanner.statuses().values()) == {"open"}              # the queues did not roll back
    scanner.run(make_feed(tmp_path, "nov", rows, period="2026-11"), [f("M0001"), f("X0001", insurer=I2)], force=True)
    # The same feed again (same period) is no refusal.
    scanner.run(make_feed(tmp_path, "dec", rows, period="2026-12"), [f("M0001"), f("X0001", insurer=I2)])


def test_another_secret_key_stops_the_scan(scanner, monkeypatch, db_url, tmp_path):
    rows = members(3) + members(3, I2, "X")
    scanner.run(make_feed(tmp_path, "a", rows), [f("M0001")])
    other = Scanner(monkeypatch, db_url, tmp_path, key="a-completely-different-key")
    before = scanner.counts()
    with pytest.raises(errors.Refused, match="RECONCILE_SECRET_KEY") as refused:
        other.run(make_feed(tmp_path, "b", rows), [f("M0002")])
    assert refused.value.exit_code == 2
    assert scanner.counts() == before
    engine = service.open_store(scanner.settings)
    with store.session_scope(engine) as s:
        stored = store.get_meta(s, service.KEY_FINGERPRINT)
    assert stored == service.key_fingerprint(KEY.encode()) and KEY not in stored


def test_skip_if_scanned_scans_the_same_content_once(scanner, tmp_path):
    rows = members(3) + members(3, I2, "X")
    first = scanner.run(make_feed(tmp_path, "a", rows), [f("M0001")])
    with pytest.raises(service.AlreadyScanned) as again:
        scanner.run(make_feed(tmp_path, "a", rows), [f("M0001")], skip_if_scanned=True)
    assert again.value.details["scan_id"] == first.scan_id and again.value.exit_code == 2
    assert scanner.counts()["scans"] == 1


# --- the per-insurer scan lock -------------------------------------------------------------------

def test_a_scan_of_an_insurer_being_scanned_waits_or_is_refused(scanner, tmp_path):
    rows = members(3) + members(3, I2, "X")
    engine = service.open_store(scanner.settings)
    holder = "scan@elsewhere:1:abcd"
    assert locks.try_acquire(engine, [I2], holder) is None
    with pytest.raises(errors.Refused, match=I2) as refused:
        scanner.run(make_feed(tmp_path, "a", rows), [f("M0001")], wait=False)
    assert refused.value.exit_code == 2 and refused.value.http_status == 409
    with pytest.raises(errors.Refused):
        scanner.run(make_feed(tmp_path, "a", rows), [f("M0001")], lock_timeout=0.6)
    assert scanner.counts()["scans"] == 0
    # Another insurer's scan is not blocked.
    scanner.run(make_feed(tmp_path, "only-i1", members(3)), [f("M0001")], wait=False)
    locks.release(engine, holder)
    scanner.run(make_feed(tmp_path, "a", rows), [f("M0001")], wait=False)
    assert locks.held_locks(engine) == []                              # released after the scan


def test_a_crashed_holders_lock_does_not_block_forever(scanner, tmp_path):
    engine = service.open_store(scanner.settings)
    past = datetime.now(timezone.utc) - timedelta(seconds=5)
    with engine.begin() as c:
        c.execute(sa.insert(store.ScanLock.__table__).values(insurer_number=I1, holder="scan@elsewhere:1:dead",
                                                             acquired_at=past, expires_at=past))
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    with engine.begin() as c:   # a holder on this host whose process is gone, lease still running
        c.execute(sa.insert(store.ScanLock.__table__).values(
            insurer_number=I2, holder=f"scan@{socket.gethostname()}:{int(dead.stdout)}:gone",
            acquired_at=past, expires_at=datetime.now(timezone.utc) + timedelta(hours=1)))
    scanner.run(make_feed(tmp_path, "a", members(3) + members(3, I2, "X")), [f("M0001")], wait=False)
    assert locks.held_locks(engine) == []


def test_the_heartbeat_keeps_a_long_scan_locked(db_engine):
    holder = locks.new_holder()
    with locks.scan_lock(db_engine, [I1, I2], holder=holder, ttl=1.0, heartbeat=0.2):
        import time
        time.sleep(1.5)      # longer than the ttl: only the heartbeat keeps it
        held = locks.try_acquire(db_engine, [I1], "scan@elsewhere:2:x", ttl=1.0)
        assert held is not None and held.holder == holder
    assert locks.try_acquire(db_engine, [I1], "scan@elsewhere:2:x") is None


# --- feeds: one row per fingerprint, race-safe ---------------------------------------------------

def test_ensure_feed_is_race_safe(db_engine, monkeypatch):
    kwargs = dict(fingerprint="fp-1", path="/feeds/a", as_of="2026-11-01", period="2026-11", manifest={},
                  validation={}, row_counts={"members": 1})
    with store.session_scope(db_engine) as s:
        first, existed = store.ensure_feed(s, **kwargs)
    assert not existed
    # The race: another scan's row appears between our check and our insert.
    monkeypatch.setattr(store.repository, "find_feed", lambda session, fingerprint: None)
    with store.session_scope(db_engine) as s:
        second, existed = store.ensure_feed(s, **kwargs)
    assert (second, existed) == (first, True)
    with db_engine.connect() as c:
        assert c.execute(sa.text("SELECT count(*) FROM feeds")).scalar_one() == 1


# --- faults ---------------------------------------------------------------------------------------

def _kill_connection(session, db_url):
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        pid = connection.connection.driver_connection.info.backend_pid
        admin = store.get_engine(db_url)
        with admin.begin() as c:
            c.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        admin.dispose()
    else:
        connection.connection.driver_connection.close()


def test_a_connection_dropped_mid_persist_leaves_the_previous_state_whole(scanner, tmp_path, monkeypatch, db_url):
    rows = members(6) + members(3, I2, "X")
    scanner.run(make_feed(tmp_path, "nov", rows), [f("M0001"), f("M0002"), f("X0001", insurer=I2)])
    before, statuses = scanner.counts(), scanner.statuses()
    original = store.save_feed_stats

    def drop_then_save(session, *args, **kwargs):
        _kill_connection(session, db_url)
        return original(session, *args, **kwargs)

    monkeypatch.setattr(store, "save_feed_stats", drop_then_save)
    dec = [f("M0001"), f("M0003"), f("X0001", insurer=I2)]
    with pytest.raises(Exception) as failure:
        scanner.run(make_feed(tmp_path, "dec", rows, period="2026-12"), dec)
    assert not isinstance(failure.value, AssertionError)
    monkeypatch.setattr(store, "save_feed_stats", original)
    assert scanner.counts() == before and scanner.statuses() == statuses
    engine = service.open_store(scanner.settings)
    assert locks.held_locks(engine) == []
    summary = scanner.run(make_feed(tmp_path, "dec", rows, period="2026-12"), dec)   # the next run succeeds
    assert (summary.queue_counts["new"], summary.queue_counts["closed_not_seen"]) == (1, 1)


def test_a_full_disk_leaves_the_previous_state_whole_and_the_next_run_succeeds(monkeypatch, tmp_path):
    """SQLite on a size-limited file (PRAGMA max_page_count): the persist runs out of room."""
    db_url = f"sqlite:///{tmp_path / 'small.db'}"
    scanner = Scanner(monkeypatch, db_url, tmp_path)
    rows = members(300) + members(3, I2, "X")
    scanner.run(make_feed(tmp_path, "nov", rows), [f("M0001"), f("X0001", insurer=I2)])
    before, statuses = scanner.counts(), scanner.statuses()
    engine = service.engine_for(db_url)
    with engine.connect() as c:
        pages = c.exec_driver_sql("PRAGMA page_count").scalar()

    def limit(dbapi_connection, _record):
        dbapi_connection.execute(f"PRAGMA max_page_count = {pages + 8}")

    engine.dispose()
    sa.event.listen(engine, "connect", limit)
    big = [{**f(f"M{i:04d}"), "evidence": '{"pad": "' + "x" * 4000 + '"}'} for i in range(300)]
    with pytest.raises(sa.exc.OperationalError, match="full"):
        scanner.run(make_feed(tmp_path, "dec", rows, period="2026-12"), big)
    sa.event.remove(engine, "connect", limit)
    engine.dispose()
    assert scanner.counts() == before and scanner.statuses() == statuses
    assert locks.held_locks(engine) == []
    summary = scanner.run(make_feed(tmp_path, "dec", rows, period="2026-12"), big)
    assert summary.queue_counts["new"] == 299
