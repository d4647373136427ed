"""走査ロック / One scan per insurer at a time, a lock a crashed process cannot hold forever.

A lock is a row per insurer in ``scan_locks`` (insurer_number primary key, holder, expiry), taken
for all of a feed's insurers at once in one transaction (all or none, so two scans of overlapping
insurer sets never deadlock). The holder's heartbeat thread pushes ``expires_at`` forward; a row
past its expiry — or held by a process on this machine that no longer exists — is stale and
taken over. Works the same on SQLite and PostgreSQL (no advisory-lock dialect code).

    with scan_lock(engine, ["131016", "01130012"], wait=False):   # raises LockHeld at once
        ...

The scheduler (``reconcile schedule``) and the API's background scans use the same lock through
:func:`reconcile.service.scan_lock`.
"""
from __future__ import annotations

import os
import socket
import threading
import time
import uuid
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from typing import Iterable, Iterator

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from reconcile.store.models import ScanLock

LOCK_TTL_SECONDS = 120.0        # a holder silent this long has crashed
HEARTBEAT_SECONDS = 20.0
_LOCKS = ScanLock.__table__
_HOST = socket.gethostname()


class LockHeld(Exception):
    """Another scan holds the lock of one of the insurers."""

    def __init__(self, insurer_number: str, holder: str, expires_at: datetime | None):
        super().__init__(insurer_number, holder, expires_at)
        self.insurer_number, self.holder, self.expires_at = insurer_number, holder, expires_at

    def __str__(self) -> str:
        return f"insurer {self.insurer_number} is being scanned by {self.holder}"


def _now() -> datetime:
    return datetime.now(timezone.utc)


def new_holder(label: str = "scan") -> str:
    """``label@host:pid:random`` — the host and pid let a crashed local holder be recognised."""
    return f"{label}@{_HOST}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def _holder_is_dead(holder: str) -> bool:
    """True when ``holder`` names a process on this host that no longer runs."""
    try:
        where = holder.split("@", 1)[1]
        host, pid, _ = where.rsplit(":", 2)
        pid_number = int(pid)
    except (IndexError, ValueError):
        return False
    if host != _HOST:
        return False
    if pid_number == os.getpid():
        return False
    try:
        os.kill(pid_number, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def _aware(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


def try_acquire(engine: Engine, insurers: Iterable[str], holder: str, *,
                ttl: float = LOCK_TTL_SECONDS) -> LockHeld | None:
    """Take the locks of every insurer at once; None on success, else who holds one of them."""
    wanted = sorted({str(i) for i in insurers})
    if not wanted:
        return None
    now = _now()
    with engine.connect() as conn:
        rows = conn.execute(sa.select(_LOCKS.c.insurer_number, _LOCKS.c.holder, _LOCKS.c.expires_at)
                            .where(_LOCKS.c.insurer_number.in_(wanted))).all()
    stale = [r.insurer_number for r in rows
             if r.holder != holder and (_aware(r.expires_at) < now or _holder_is_dead(r.holder))]
    live = [r for r in rows if r.insurer_number not in stale and r.holder != holder]
    if live:
        return LockHeld(live[0].insurer_number, live[0].holder, _aware(live[0].expires_at))
    try:
        with engine.begin() as conn:
            if stale:   # only the rows seen stale, and only if still the same holder and expiry
                for r in rows:
                    if r.insurer_number in stale:
                        conn.execute(sa.delete(_LOCKS).where(_LOCKS.c.insurer_number == r.insurer_number,
                                                             _LOCKS.c.holder == r.holder))
            mine = {r.insurer_number for r in rows if r.holder == holder}
            expires = now + timedelta(seconds=ttl)
            fresh = [i for i in wanted if i not in mine]
            if fresh:
                conn.execute(sa.insert(_LOCKS), [
                    {"insurer_number": i, "holder": holder, "acquired_at": now, "expires_at": expires}
                    for i in fresh])
            if mine:
                conn.execute(sa.update(_LOCKS).where(_LOCKS.c.holder == holder).values(expires_at=expires))
    except sa.exc.IntegrityError:
        with engine.connect() as conn:
            row = conn.execute(sa.select(_LOCKS.c.insurer_number, _LOCKS.c.holder, _LOCKS.c.expires_at)
                               .where(_LOCKS.c.insurer_number.in_(wanted), _LOCKS.c.holder != holder)
                               .limit(1)).first()
        if row is None:     # freed meanwhile: let the caller try again
            return LockHeld(wanted[0], "(another scan)", None)
        return LockHeld(row.insurer_number, row.holder, _aware(row.expires_at))
    return None


def refresh(engine: Engine, holder: str, *, ttl: float = LOCK_TTL_SECONDS) -> int:
    """Push the expiry of ``holder``'s locks forward (the heartbeat); returns the rows kept."""
    with engine.begin() as conn:
        return conn.execute(sa.update(_LOCKS).where(_LOCKS.c.holder == holder)
                            .values(expires_at=_now() + timedelta(seconds=ttl))).rowcount


def release(engine: Engine, holder: str) -> None:
    with engine.begin() as conn:
        conn.execute(sa.delete(_LOCKS).where(_LOCKS.c.holder == holder))


def held_locks(engine: Engine) -> list[dict]:
    """Current lock rows (for doctor / the API): insurer_number, holder, acquired_at, expires_at."""
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(sa.select(_LOCKS).order_by(_LOCKS.c.insurer_number))]


@contextmanager
def scan_lock(engine: Engine, insurers: Iterable[str], *, wait: bool = True, timeout: float | None = None,
              holder: str | None = None, ttl: float = LOCK_TTL_SECONDS, heartbeat: float = HEARTBEAT_SECONDS,
              poll: float = 0.5) -> Iterator[str]:
    """Hold the scan locks of ``insurers`` for the block; yields the holder id.

    ``wait=False``: raise :class:`LockHeld` at once if another scan holds one of them; else wait
    (up to ``timeout`` seconds, None = as long as it takes), polling every ``poll`` seconds.
    """
    holder = holder or new_holder()
    started = time.monotonic()
    while True:
        held = try_acquire(engine, insurers, holder, ttl=ttl)
        if held is None:
            break
        if not wait or (timeout is not None and time.monotonic() - started >= timeout):
            raise held
        time.sleep(poll)
    stop = threading.Event()

    def beat() -> None:
        while not stop.wait(heartbeat):
            try:
                refresh(engine, holder, ttl=ttl)
            except Exception:  # noqa: BLE001 — a missed beat only shortens the lock's life
                pass

    thread = threading.Thread(target=beat, name=f"scan-lock-{holder}", daemon=True)
    thread.start()
    try:
        yield holder
    finally:
        stop.set()
        thread.join(timeout=5)
        try:
            release(engine, holder)
        except Exception:  # noqa: BLE001 — the row expires on its own
            pass


__all__ = ["HEARTBEAT_SECONDS", "LOCK_TTL_SECONDS", "LockHeld", "held_locks", "new_holder", "refresh",
           "release", "scan_lock", "try_acquire"]
