"""作業項目のライフサイクル / The steward's work: claim, resolve, release, assign, reopen, comment.

Use cases the API, the web UI and the CLI call. Each takes a ``Session`` (the caller owns the
transaction and commits) and an :class:`reconcile.auth.Actor`; each raises the product's
exceptions (:mod:`reconcile.errors`):

- anything outside the actor's insurers is :class:`NotFound` — exactly as if it did not exist,
  checked *before* the role, so a 403 never tells an outsider that an item exists;
- an action the role may not take is :class:`Forbidden`;
- an item in the wrong state, or held by another steward, is :class:`Conflict`.

Every change, and every read of a member's personal data (item detail, finding detail), writes
an event to the append-only audit trail (``events``: who, when, what, before / after).

Claim-next never gives one item to two people: one ``UPDATE … WHERE id = (SELECT … LIMIT 1
FOR UPDATE SKIP LOCKED) AND status = 'open' RETURNING id`` on PostgreSQL; on SQLite the same
conditional update (SQLite runs one writer at a time, and the ``status = 'open'`` re-check makes
a stale pick update nothing).

A claim is a lease (:data:`reconcile.queues.DEFAULT_LEASE_MINUTES`, configurable): an item whose
lease has run out goes back to ``open`` (event ``lease_expired``) the next time anyone claims,
lists or acts on items. An item assigned by a supervisor has no lease.
"""
from __future__ import annotations

import base64
import functools
import json
import math
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Iterable, Sequence

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.orm import Session

from reconcile import queues
from reconcile.auth import AUDIT, READ, SUPERVISE, WORK, Actor, actor_of
from reconcile.errors import Conflict, Forbidden, InvalidInput, NotFound
from reconcile.privacy import mask_number
from reconcile.store.models import Comment, Event, Feed, Finding, Scan, ScanFinding, Upload, User, WorkItem

W = WorkItem.__table__
F = Finding.__table__
E = Event.__table__
C = Comment.__table__

MAX_LIMIT = 500
DEFAULT_LIMIT = 100
MAX_NOTE = 10_000


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _aware(value: datetime | None) -> datetime | None:
    """SQLite hands timestamps back naive (they are UTC)."""
    if value is None:
        return None
    return value if value.tzinfo is not None else value.replace(tzinfo=timezone.utc)


def _masked(value: Any) -> Any:
    """Second line of defence: every string in a response has 12-digit runs cut to the last four."""
    if isinstance(value, str):
        return mask_number(value)
    if isinstance(value, dict):
        return {k: _masked(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_masked(v) for v in value]
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def _scope(column, actor: Actor):
    if actor.insurers is None:
        return sa.true()
    return column.in_(list(actor.insurers))


# --- pagination ----------------------------------------------------------------------------------

@dataclass
class Page:
    items: list[dict]
    next_cursor: str | None


def encode_cursor(offset: int, sort: str) -> str:
    raw = json.dumps({"o": offset, "s": sort}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str | None, sort: str) -> int:
    """The offset an opaque cursor stands for; InvalidInput for one not made by this API (or another sort)."""
    if not cursor:
        return 0
    try:
        data = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        offset = int(data["o"])
        if offset < 0 or data.get("s") != sort:
            raise ValueError
    except (ValueError, KeyError, TypeError, json.JSONDecodeError):
        raise InvalidInput(f"cursor {cursor!r} は無効です（前の応答の next_cursor をそのまま渡してください）",
                           f"cursor {cursor!r} is not valid: pass next_cursor of the previous page unchanged",
                           field="cursor", value=cursor) from None
    return offset


def check_limit(limit: int) -> int:
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidInput(f"limit {limit} は 1〜{MAX_LIMIT} で指定してください",
                           f"limit {limit}: between 1 and {MAX_LIMIT}", field="limit", value=limit)
    return limit


def _page(session: Session, stmt, limit: int, cursor: str | None, sort: str, convert) -> Page:
    offset = decode_cursor(cursor, sort)
    rows = session.execute(stmt.limit(check_limit(limit) + 1).offset(offset)).all()
    more = len(rows) > limit
    return Page([convert(r) for r in rows[:limit]], encode_cursor(offset + limit, sort) if more else None)


# --- work items: shape ---------------------------------------------------------------------------

_SEVERITY_RANK = sa.case((F.c.severity == "high", 0), (F.c.severity == "medium", 1), (F.c.severity == "low", 2),
                         (F.c.severity == "info", 3), else_=4)

ITEM_COLUMNS = (
    W.c.id, W.c.finding_id, F.c.insurer_number, F.c.member_id, F.c.rule_id, F.c.category, F.c.severity,
    F.c.score, F.c.summary_ja, F.c.summary_en, W.c.queue, W.c.status, W.c.assignee, W.c.priority, W.c.due_at,
    W.c.lease_until, W.c.not_seen_since_scan, W.c.created_at, W.c.updated_at, W.c.resolved_at,
    F.c.first_seen_scan, F.c.last_seen_scan, W.c.previous_finding_id,
)
_ITEM_KEYS = tuple(c.name for c in ITEM_COLUMNS)

#: Sort orders offered by the list routes (``sort=``); every one ends with the id for a stable order.
ITEM_SORTS: dict[str, tuple] = {
    "priority": (W.c.priority.desc(), W.c.created_at, W.c.id),
    "id": (W.c.id,),
    "-id": (W.c.id.desc(),),
    "created_at": (W.c.created_at, W.c.id),
    "-created_at": (W.c.created_at.desc(), W.c.id.desc()),
    "severity": (_SEVERITY_RANK, sa.func.coalesce(F.c.score, 0.0).desc(), W.c.id),
    "score": (sa.func.coalesce(F.c.score, 0.0), W.c.id),
    "-score": (sa.func.coalesce(F.c.score, 0.0).desc(), W.c.id),
    "due_at": (sa.func.coalesce(W.c.due_at, datetime(9999, 1, 1)), W.c.id),
}


def _item_dict(row, lang: str = "ja") -> dict:
    item = dict(zip(_ITEM_KEYS, row))
    for key in ("due_at", "lease_until", "created_at", "updated_at", "resolved_at"):
        item[key] = _aware(item[key])
    ja, en = item.pop("summary_ja"), item.pop("summary_en")
    item["summary"] = (en or ja) if lang == "en" else (ja or en)
    item["queue_label"] = _queue_label(item["queue"], lang)
    item["status_label"] = _status_label(item["status"], lang)
    return _masked(item)


def _queue_label(name: str, lang: str = "ja") -> str:
    queue = queues.QUEUES.get(name)
    if queue is None:
        return name
    return queue.label_en if lang == "en" else queue.label_ja


def _status_label(status: str, lang: str = "ja") -> str:
    ja, en = queues.STATUS_LABELS.get(status, (status, status))
    return en if lang == "en" else ja


def _filter_in(stmt, column, values):
    if values is None:
        return stmt
    values = [values] if isinstance(values, str) else [v for v in values if v is not None]
    return stmt.where(column.in_(values)) if values else stmt


@dataclass
class Filters:
    """Filters of the findings and work-item lists (each a value or a list of values; None = any)."""
    rule_id: Sequence[str] | None = None
    category: Sequence[str] | None = None
    severity: Sequence[str] | None = None
    queue: Sequence[str] | None = None
    status: Sequence[str] | None = None
    insurer_number: Sequence[str] | None = None
    member_id: Sequence[str] | None = None
    scan_id: int | None = None
    assignee: Sequence[str] | None = None


def _filtered(stmt, filters: Filters, actor: Actor):
    stmt = stmt.where(_scope(F.c.insurer_number, actor))
    for column, values in ((F.c.rule_id, filters.rule_id), (F.c.category, filters.category),
                           (F.c.severity, filters.severity), (W.c.queue, filters.queue),
                           (W.c.status, filters.status), (F.c.insurer_number, filters.insurer_number),
                           (F.c.member_id, filters.member_id), (W.c.assignee, filters.assignee)):
        stmt = _filter_in(stmt, column, values)
    if filters.scan_id is not None:
        links = ScanFinding.__table__
        stmt = stmt.where(F.c.finding_id.in_(sa.select(links.c.finding_id).where(links.c.scan_id == filters.scan_id)))
    return stmt


def _sort(sort: str, sorts: dict) -> tuple:
    if sort not in sorts:
        raise InvalidInput(f"sort {sort!r} は {', '.join(sorts)} のいずれかです",
                           f"sort {sort!r}: one of {', '.join(sorts)}", field="sort", value=sort)
    return sorts[sort]


def list_work_items(session: Session, actor: Actor, filters: Filters | None = None, *, sort: str = "priority",
                    limit: int = DEFAULT_LIMIT, cursor: str | None = None, lang: str = "ja") -> Page:
    """Work items the actor may see, filtered and paged (``sort`` one of :data:`ITEM_SORTS`)."""
    sweep_leases(session)
    order = _sort(sort, ITEM_SORTS)
    stmt = _filtered(sa.select(*ITEM_COLUMNS).join(F, F.c.finding_id == W.c.finding_id), filters or Filters(), actor)
    return _page(session, stmt.order_by(*order), limit, cursor, sort, lambda r: _item_dict(r, lang))


# --- findings ----------------------------------------------------------------------------------

FINDING_COLUMNS = (
    F.c.finding_id, F.c.insurer_number, F.c.member_id, F.c.rule_id, F.c.category, F.c.severity, F.c.score,
    F.c.summary_ja, F.c.summary_en, F.c.suggested_resident_id, F.c.suggested_individual_number_last4,
    F.c.first_seen_scan, F.c.last_seen_scan, W.c.id.label("work_item_id"), W.c.queue, W.c.status,
)
_FINDING_KEYS = tuple(c.name for c in FINDING_COLUMNS)

FINDING_SORTS: dict[str, tuple] = {
    "severity": (_SEVERITY_RANK, sa.func.coalesce(F.c.score, 0.0).desc(), F.c.finding_id),
    "finding_id": (F.c.finding_id,),
    "score": (sa.func.coalesce(F.c.score, 0.0), F.c.finding_id),
    "-score": (sa.func.coalesce(F.c.score, 0.0).desc(), F.c.finding_id),
    "first_seen_scan": (F.c.first_seen_scan, F.c.finding_id),
    "-last_seen_scan": (F.c.last_seen_scan.desc(), F.c.finding_id),
    "rule_id": (F.c.rule_id, F.c.finding_id),
}


def _finding_dict(row, lang: str = "ja") -> dict:
    item = dict(zip(_FINDING_KEYS, row))
    ja, en = item.pop("summary_ja"), item.pop("summary_en")
    item["summary"] = (en or ja) if lang == "en" else (ja or en)
    return _masked(item)


def list_findings(session: Session, actor: Actor, filters: Filters | None = None, *, sort: str = "severity",
                  limit: int = DEFAULT_LIMIT, cursor: str | None = None, lang: str = "ja") -> Page:
    """Findings the actor may see, with their work item's queue and status."""
    order = _sort(sort, FINDING_SORTS)
    stmt = _filtered(sa.select(*FINDING_COLUMNS).select_from(F).outerjoin(W, W.c.finding_id == F.c.finding_id),
                     filters or Filters(), actor)
    return _page(session, stmt.order_by(*order), limit, cursor, sort, lambda r: _finding_dict(r, lang))


def get_finding(session: Session, actor: Actor, finding_id: str, *, lang: str = "ja") -> dict:
    """One finding with its evidence; the read is an audit event (it shows a member's data)."""
    row = session.execute(sa.select(*FINDING_COLUMNS, F.c.evidence).select_from(F)
                          .outerjoin(W, W.c.finding_id == F.c.finding_id)
                          .where(F.c.finding_id == finding_id)).first()
    if row is None or not actor.sees(row.insurer_number):
        raise NotFound(f"指摘 {finding_id} はありません", f"no finding {finding_id}", field="finding_id", value=finding_id)
    finding = _finding_dict(row[:-1], lang)
    finding["evidence"] = _masked(_evidence(row[-1]))
    _write_event(session, actor, queues.ACTION_VIEWED, work_item_id=finding["work_item_id"],
                 subject=f"finding:{finding_id}")
    return finding


def _evidence(text: str | None) -> dict:
    if not text:
        return {}
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        return {"text": text}
    return value if isinstance(value, dict) else {"value": value}


# --- member vs resident, side by side ------------------------------------------------------------

#: Evidence field → labelled-pairs column stem (docs/matcher.md) and the side-by-side field name.
SIDE_FIELDS = ("name_kanji", "name_kana", "name_alpha", "birth_date", "sex", "address", "last4",
               "municipality", "household")


def _compared_fields(evidence: dict) -> dict | None:
    """The per-field comparison of the linked pair: ``linked`` (mis-link) or ``fields`` (notation)."""
    for key in ("linked", "fields"):
        value = evidence.get(key)
        if isinstance(value, dict) and value and all(isinstance(v, dict) for v in value.values()):
            return value
    return None


def side_by_side(finding: dict, evidence: dict) -> tuple[dict, dict | None, dict | None]:
    """``member``, ``resident`` and ``suggested_resident`` of a work item's detail.

    Built from the finding's own evidence (the store keeps no member or resident rows): each
    compared field with the member's and the resident's value and the matcher's label.
    """
    member: dict[str, Any] = {"insurer_number": finding.get("insurer_number"), "member_id": finding.get("member_id")}
    resident: dict[str, Any] | None = None
    fields = _compared_fields(evidence)
    if fields:
        resident = {"resident_id": evidence.get("linked_resident_id")}
        comparison = {}
        for name, value in fields.items():
            member[name] = value.get("member")
            resident[name] = value.get("resident")
            for extra in ("resident_alias", "resident_former_surname"):
                if extra in value:
                    resident[f"{name}_{extra.removeprefix('resident_')}"] = value[extra]
            comparison[name] = {"label": value.get("label"), "level": value.get("level")}
        resident["comparison"] = comparison
        if resident["resident_id"] is None:
            linked = [c for c in evidence.get("candidates", []) if isinstance(c, dict) and c.get("linked")]
            if linked:
                resident["resident_id"] = linked[0].get("resident_id")
    suggested = None
    wanted = finding.get("suggested_resident_id")
    if wanted:
        suggested = {"resident_id": wanted, "individual_number_last4": finding.get("suggested_individual_number_last4")}
        for candidate in evidence.get("candidates", []) or []:
            if isinstance(candidate, dict) and candidate.get("resident_id") == wanted:
                suggested.update({k: v for k, v in candidate.items() if k in ("p_same", "municipality_code", "last4")})
    return _masked(member), _masked(resident), _masked(suggested)


# --- events --------------------------------------------------------------------------------------

#: Built once: a statement built per call costs more Python than its round trip (SQLAlchemy's
#: construction and cache-key walk); these take their values as parameters.
_INSERT_EVENT = sa.insert(E)


def _event_values(actor: Actor, action: str, *, work_item_id: int | None, from_status: str | None = None,
                  to_status: str | None = None, note: str | None = None, subject: str | None = None,
                  before: dict | None = None, after: dict | None = None, at: datetime | None = None) -> dict:
    return {"work_item_id": work_item_id, "at": at or _now(), "actor": actor.name, "action": action,
            "from_status": from_status, "to_status": to_status, "note": note,
            "subject": subject or (f"work_item:{work_item_id}" if work_item_id else None),
            "state_before": _jsonable(before), "state_after": _jsonable(after)}


def _write_event(session: Session, actor: Actor, action: str, *, work_item_id: int | None,
                 from_status: str | None = None, to_status: str | None = None, note: str | None = None,
                 subject: str | None = None, before: dict | None = None, after: dict | None = None,
                 at: datetime | None = None) -> None:
    session.execute(_INSERT_EVENT, _event_values(
        actor, action, work_item_id=work_item_id, from_status=from_status, to_status=to_status, note=note,
        subject=subject, before=before, after=after, at=at))


def _postgresql(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


_EVENT_FIELDS = ("work_item_id", "at", "actor", "action", "from_status", "to_status", "note", "subject",
                 "state_before", "state_after")


def _event_row(source_id, *, subject=None) -> list:
    """The select list of an ``INSERT INTO events … SELECT`` whose work item id comes from a CTE;
    every other value is a parameter ``ev_<column>`` (JSON cast explicitly for PostgreSQL)."""
    row = [source_id]
    for name in _EVENT_FIELDS[1:]:
        column = E.c[name]
        param = sa.bindparam(f"ev_{name}", type_=column.type)
        if name == "subject" and subject is not None:
            param = subject
        row.append(sa.cast(param, column.type) if name.startswith("state_") else param)
    return row


def _event_params(values: dict) -> dict:
    return {f"ev_{k}": v for k, v in values.items() if k != "work_item_id"}


@functools.lru_cache(maxsize=64)
def _change_with_event(columns: tuple[str, ...]):
    """PostgreSQL: ``UPDATE work_items SET <columns> WHERE id AND status = expected`` and its audit
    event in one statement (a data-modifying CTE): one round trip, and no event without the change."""
    changed = (sa.update(W).where(W.c.id == sa.bindparam("item_id"), W.c.status == sa.bindparam("expected"))
               .values({name: sa.bindparam(f"set_{name}", type_=W.c[name].type) for name in columns})
               .returning(W.c.id).cte("changed"))
    return (sa.insert(E).from_select(list(_EVENT_FIELDS), sa.select(*_event_row(changed.c.id)))
            .returning(E.c.work_item_id))


def _jsonable(state: dict | None) -> dict | None:
    if state is None:
        return None
    return {k: (_aware(v).isoformat() if isinstance(v, datetime) else v) for k, v in state.items()}


EVENT_KEYS = ("id", "at", "actor", "action", "work_item_id", "subject", "from_status", "to_status", "note",
              "scan_id", "before", "after")
_EVENT_COLUMNS = (E.c.id, E.c.at, E.c.actor, E.c.action, E.c.work_item_id, E.c.subject, E.c.from_status,
                  E.c.to_status, E.c.note, E.c.scan_id, E.c.state_before, E.c.state_after)


def _event_dict(row) -> dict:
    event = dict(zip(EVENT_KEYS, row))
    event["at"] = _aware(event["at"])
    return _masked(event)


def list_audit(session: Session, actor: Actor, *, actor_name: str | None = None, action: str | None = None,
               work_item_id: int | None = None, since: datetime | None = None, until: datetime | None = None,
               limit: int = DEFAULT_LIMIT, cursor: str | None = None) -> Page:
    """Audit events, oldest first (auditor, supervisor, admin). Events about no work item
    (user management) are shown to admins only; the rest within the actor's insurers."""
    actor.require(AUDIT)
    stmt = sa.select(*_EVENT_COLUMNS).select_from(E).outerjoin(W, W.c.id == E.c.work_item_id)
    if actor.insurers is not None:
        stmt = stmt.where(E.c.work_item_id.is_not(None), W.c.insurer_number.in_(list(actor.insurers)))
    if actor_name is not None:
        stmt = stmt.where(E.c.actor == actor_name)
    if action is not None:
        stmt = stmt.where(E.c.action == action)
    if work_item_id is not None:
        stmt = stmt.where(E.c.work_item_id == work_item_id)
    if since is not None:
        stmt = stmt.where(E.c.at >= since)
    if until is not None:
        stmt = stmt.where(E.c.at < until)
    return _page(session, stmt.order_by(E.c.id), limit, cursor, "id", _event_dict)


# --- leases --------------------------------------------------------------------------------------

def lease_minutes(settings: Any = None) -> int:
    """The claim lease: ``[queues] lease_minutes`` if the settings carry it, else the default."""
    import os
    configured = os.environ.get("RECONCILE_LEASE_MINUTES")
    if configured is None and settings is not None:
        configured = (getattr(settings, "queues", None) or {}).get("lease_minutes")
    try:
        minutes = int(configured) if configured is not None else queues.DEFAULT_LEASE_MINUTES
    except (TypeError, ValueError):
        raise InvalidInput(f"lease_minutes {configured!r} は整数（分）で指定してください",
                           f"lease_minutes {configured!r}: whole minutes", field="lease_minutes",
                           value=configured) from None
    if minutes < 1:
        raise InvalidInput("lease_minutes は1以上です", "lease_minutes must be at least 1", field="lease_minutes",
                           value=minutes)
    return minutes


def expire_leases(session: Session, now: datetime | None = None) -> int:
    """Return every in-progress item whose lease ran out to ``open`` (one ``lease_expired`` event each)."""
    now = now or _now()
    expired = W.c.status == queues.IN_PROGRESS, W.c.lease_until.is_not(None), W.c.lease_until < now
    rows = session.execute(sa.select(W.c.id, W.c.assignee, W.c.lease_until).where(*expired)).all()
    done = 0
    for item_id, assignee, lease_until in rows:
        changed = session.execute(sa.update(W).where(W.c.id == item_id, *expired)
                                  .values(status=queues.OPEN, assignee=None, lease_until=None, updated_at=now)
                                  .returning(W.c.id)).first()
        if changed is None:   # someone else acted on it first
            continue
        session.execute(sa.insert(E).values(
            work_item_id=item_id, at=now, actor="system", action=queues.ACTION_LEASE_EXPIRED,
            from_status=queues.IN_PROGRESS, to_status=queues.OPEN, subject=f"work_item:{item_id}",
            state_before=_jsonable({"assignee": assignee, "lease_until": lease_until}),
            state_after={"assignee": None, "lease_until": None}))
        done += 1
    return done


#: A process sweeps expired leases at most this often (seconds): the sweep is a query on every
#: claim otherwise, and an item whose lease ran out a few seconds ago can wait that long.
SWEEP_EVERY_SECONDS = 5.0
_last_sweep = [float("-inf")]


def sweep_leases(session: Session, now: datetime | None = None) -> int:
    """:func:`expire_leases`, at most every :data:`SWEEP_EVERY_SECONDS` — always when ``now`` is given."""
    import time

    if now is None and time.monotonic() - _last_sweep[0] < SWEEP_EVERY_SECONDS:
        return 0
    _last_sweep[0] = time.monotonic()
    return expire_leases(session, now)


# --- claim-next ----------------------------------------------------------------------------------

def claim_next(session: Session, actor: Actor, queue: str, *, lease: int | None = None,
               now: datetime | None = None, lang: str = "ja") -> dict | None:
    """The next open item of ``queue`` (priority, then age) becomes the actor's, or None when none is left.

    One statement picks and takes the item, so two callers never receive the same one; on
    PostgreSQL the same statement writes the ``claimed`` event and returns the item with its finding.
    """
    if queue not in queues.QUEUES:
        raise NotFound(f"キュー {queue} はありません", f"no queue {queue}", field="queue", value=queue)
    actor.require(WORK)
    explicit_now = now is not None
    now = now or _now()
    sweep_leases(session, now if explicit_now else None)
    until = now + timedelta(minutes=lease or queues.DEFAULT_LEASE_MINUTES)
    event = _event_values(actor, queues.ACTION_CLAIMED, work_item_id=None, from_status=queues.OPEN,
                          to_status=queues.IN_PROGRESS, at=now, before={"assignee": None, "lease_until": None},
                          after={"assignee": actor.name, "lease_until": until})
    params = {"claim_queue": queue, "set_assignee": actor.name, "set_lease_until": until, "set_updated_at": now}
    if actor.insurers is not None:
        params["insurers"] = list(actor.insurers)
    if _postgresql(session):
        row = session.execute(_claim_statement(actor.insurers is not None), {**params, **_event_params(event)}).first()
        return None if row is None else _item_dict(row, lang)
    taken = session.execute(_claim_pick(actor.insurers is not None), params).first()
    if taken is None:
        return None
    item_id = taken[0]
    session.execute(_INSERT_EVENT, {**event, "work_item_id": item_id, "subject": f"work_item:{item_id}"})
    return _load(session, actor, item_id, lang=lang)


@functools.lru_cache(maxsize=2)
def _claim_pick(scoped: bool):
    """``UPDATE work_items … WHERE id = (SELECT … LIMIT 1 FOR UPDATE SKIP LOCKED) AND status = 'open'``."""
    pick = sa.select(W.c.id).where(W.c.queue == sa.bindparam("claim_queue"), W.c.status == queues.OPEN)
    if scoped:
        pick = pick.where(W.c.insurer_number.in_(sa.bindparam("insurers", expanding=True)))
    pick = (pick.order_by(W.c.priority.desc(), W.c.created_at, W.c.id).limit(1)
            .with_for_update(skip_locked=True).scalar_subquery())
    return (sa.update(W).where(W.c.id == pick, W.c.status == queues.OPEN)
            .values(status=queues.IN_PROGRESS, assignee=sa.bindparam("set_assignee"),
                    lease_until=sa.bindparam("set_lease_until", type_=W.c.lease_until.type),
                    updated_at=sa.bindparam("set_updated_at", type_=W.c.updated_at.type))
            .returning(*W.c))


@functools.lru_cache(maxsize=2)
def _claim_statement(scoped: bool):
    """PostgreSQL: the pick-and-take, its ``claimed`` event and the item with its finding, one statement."""
    taken = _claim_pick(scoped).cte("taken")
    subject = sa.func.concat("work_item:", taken.c.id)
    claimed = (sa.insert(E).from_select(list(_EVENT_FIELDS), sa.select(*_event_row(taken.c.id, subject=subject)))
               .returning(E.c.id).cte("claimed_event"))
    columns = [taken.c[c.name] if c.table is W else c for c in ITEM_COLUMNS]
    return (sa.select(*columns).select_from(taken.join(F, F.c.finding_id == taken.c.finding_id))
            .add_cte(claimed))


# --- one item ------------------------------------------------------------------------------------

_ITEM = sa.select(*ITEM_COLUMNS).join(F, F.c.finding_id == W.c.finding_id).where(W.c.id == sa.bindparam("item_id"))
_ITEM_LOCKED = _ITEM.with_for_update(of=W)


def _load(session: Session, actor: Actor, item_id: int, *, lock: bool = False, lang: str = "ja") -> dict:
    row = session.execute(_ITEM_LOCKED if lock else _ITEM, {"item_id": item_id}).first()
    if row is None or not actor.sees(row.insurer_number):
        raise NotFound(f"作業項目 {item_id} はありません", f"no work item {item_id}", field="id", value=item_id)
    return _item_dict(row, lang)


def _held_by_other(item: dict, actor: Actor, now: datetime) -> bool:
    if item["status"] != queues.IN_PROGRESS or item["assignee"] in (None, actor.name):
        return False
    lease = item["lease_until"]
    return lease is None or lease > now


def _conflict(item: dict, ja: str, en: str) -> Conflict:
    return Conflict(f"作業項目 {item['id']} は{ja}（状態 {item['status']}）",
                    f"work item {item['id']} {en} (status {item['status']})", field="status", value=item["status"])


_DETAIL_COLUMNS = (*ITEM_COLUMNS, F.c.evidence, F.c.suggested_resident_id, F.c.suggested_individual_number_last4)
_DETAIL = (sa.select(*_DETAIL_COLUMNS).join(F, F.c.finding_id == W.c.finding_id)
           .where(W.c.id == sa.bindparam("item_id")))
_HISTORY = (sa.select(*_EVENT_COLUMNS).where(E.c.work_item_id == sa.bindparam("item_id"),
                                              E.c.action != queues.ACTION_VIEWED).order_by(E.c.id))
_COMMENT_COLUMNS = (C.c.id, C.c.at, C.c.author, C.c.text)
_COMMENTS = sa.select(*_COMMENT_COLUMNS).where(C.c.work_item_id == sa.bindparam("item_id")).order_by(C.c.id)


@functools.lru_cache(maxsize=2)
def _detail_statement(scoped: bool):
    """PostgreSQL: the item with its finding, its history and comments (JSON arrays) and the
    ``viewed`` event — written only when the item is within the actor's insurers — in one statement."""
    from sqlalchemy.dialects.postgresql import aggregate_order_by

    item_id = sa.bindparam("item_id")
    visible = sa.select(W.c.id).join(F, F.c.finding_id == W.c.finding_id).where(W.c.id == item_id)
    if scoped:
        visible = visible.where(F.c.insurer_number.in_(sa.bindparam("insurers", expanding=True)))
    visible = visible.subquery("visible")
    viewed = (sa.insert(E).from_select(list(_EVENT_FIELDS), sa.select(*_event_row(visible.c.id)))
              .returning(E.c.id).cte("viewed"))

    def as_json(columns, order, *where):
        rows = sa.func.json_agg(aggregate_order_by(sa.func.json_build_array(*columns), order))
        return sa.select(sa.func.coalesce(rows, sa.literal_column("'[]'::json"))).where(*where).scalar_subquery()

    history = as_json(_EVENT_COLUMNS, E.c.id, E.c.work_item_id == W.c.id, E.c.action != queues.ACTION_VIEWED)
    comments = as_json(_COMMENT_COLUMNS, C.c.id, C.c.work_item_id == W.c.id)
    return (sa.select(*_DETAIL_COLUMNS, history.label("history"), comments.label("comments"))
            .join(F, F.c.finding_id == W.c.finding_id).where(W.c.id == item_id).add_cte(viewed))


def _json_rows(value) -> list:
    rows = json.loads(value) if isinstance(value, str) else (value or [])
    for row in rows:
        row[1] = datetime.fromisoformat(row[1])       # "at": JSON carries timestamps as ISO text
    return rows


def get_work_item(session: Session, actor: Actor, item_id: int, *, lang: str = "ja") -> dict:
    """Item, its finding and evidence, member vs resident, history and comments (an audited read)."""
    # a read: expired leases are swept by claims and lists
    # Item and finding in one statement: a scan merging at the same moment cannot come between them.
    n = len(ITEM_COLUMNS)
    if _postgresql(session):
        params = {"item_id": item_id, **_event_params(_event_values(actor, queues.ACTION_VIEWED,
                                                                     work_item_id=item_id))}
        if actor.insurers is not None:
            params["insurers"] = list(actor.insurers)
        row = session.execute(_detail_statement(actor.insurers is not None), params).first()
        if row is None or not actor.sees(row.insurer_number):
            raise NotFound(f"作業項目 {item_id} はありません", f"no work item {item_id}", field="id", value=item_id)
        history, comments = _json_rows(row[n + 3]), _json_rows(row[n + 4])
    else:
        row = session.execute(_DETAIL, {"item_id": item_id}).first()
        if row is None or not actor.sees(row.insurer_number):
            raise NotFound(f"作業項目 {item_id} はありません", f"no work item {item_id}", field="id", value=item_id)
        history = session.execute(_HISTORY, {"item_id": item_id}).all()
        comments = session.execute(_COMMENTS, {"item_id": item_id}).all()
        _write_event(session, actor, queues.ACTION_VIEWED, work_item_id=item_id)
    item = _item_dict(row[:n], lang)
    evidence = _evidence(row[n])
    item["evidence"] = _masked(evidence)
    item["member"], item["resident"], item["suggested_resident"] = side_by_side(
        {**item, "suggested_resident_id": row[n + 1], "suggested_individual_number_last4": row[n + 2]}, evidence)
    item["history"] = [_event_dict(r) for r in history]
    item["comments"] = [{"id": r[0], "at": _aware(r[1]), "author": r[2], "text": mask_number(r[3])}
                        for r in comments]
    return item


def _update(session: Session, item: dict, expected_status: str, event: dict | None = None, **values) -> dict:
    """Apply ``values`` if the item is still in ``expected_status``, with its audit ``event``
    (:func:`_event_values`) in the same statement on PostgreSQL; the item as it is now."""
    if event is not None and _postgresql(session):
        params = {"item_id": item["id"], "expected": expected_status, **_event_params(event),
                  **{f"set_{k}": v for k, v in values.items()}}
        changed = session.execute(_change_with_event(tuple(values)), params).first() is not None
    else:
        changed = session.execute(sa.update(W).where(W.c.id == item["id"], W.c.status == expected_status)
                                  .values(**values)).rowcount == 1
        if changed and event is not None:
            session.execute(_INSERT_EVENT, {**event, "work_item_id": item["id"]})
    if not changed:   # changed under us (SQLite has no row lock): say so rather than overwrite
        raise _conflict(item, "他の操作で変更されました", "was changed by someone else")
    return {**item, **values}


def _check(from_status: str, to_status: str, item: dict) -> None:
    try:
        queues.check_transition(from_status, to_status)
    except queues.TransitionError:
        raise _conflict(item, f"{to_status} にできません", f"cannot become {to_status}") from None


def _note(note: str | None, *, required: bool, field: str = "note") -> str | None:
    text = (note or "").strip()
    if required and not text:
        raise InvalidInput(f"{field} を入力してください", f"{field} must not be empty", field=field, value=note)
    if len(text) > MAX_NOTE:
        raise InvalidInput(f"{field} は{MAX_NOTE}文字までです", f"{field}: at most {MAX_NOTE} characters",
                           field=field, value=len(text))
    return text or None


def resolve(session: Session, actor: Actor, item_id: int, resolution: str, note: str | None, *,
            now: datetime | None = None, lang: str = "ja") -> dict:
    """Resolve an item with a note. An open item is claimed and resolved in one step; an item held by
    another steward only by a supervisor (else 409)."""
    now = now or _now()
    # an expired lease counts as no hold (_held_by_other); no sweep needed here
    item = _load(session, actor, item_id, lock=True, lang=lang)
    actor.require(WORK)
    if resolution not in queues.RESOLUTIONS:
        raise InvalidInput(f"resolution {resolution!r} は {', '.join(queues.RESOLUTIONS)} のいずれかです",
                           f"resolution {resolution!r}: one of {', '.join(queues.RESOLUTIONS)}",
                           field="resolution", value=resolution)
    text = _note(note, required=True)
    if item["status"] not in queues.RESOLVABLE:
        raise _conflict(item, "解決できる状態ではありません（先に再オープン）", "cannot be resolved (reopen it first)")
    if _held_by_other(item, actor, now) and not actor.may(SUPERVISE):
        raise _conflict(item, f"{item['assignee']} が対応中です", f"is held by {item['assignee']}")
    _check(item["status"], resolution, item)
    # a supervisor resolving a steward's held item leaves it credited to the steward
    assignee = item["assignee"] if _held_by_other(item, actor, now) else actor.name
    event = _event_values(actor, queues.ACTION_RESOLVED, work_item_id=item_id, from_status=item["status"],
                          to_status=resolution, note=text, at=now,
                          before={"status": item["status"], "assignee": item["assignee"],
                                  "lease_until": item["lease_until"]},
                          after={"status": resolution, "assignee": assignee, "lease_until": None})
    after = _update(session, item, item["status"], event, status=resolution, assignee=assignee, lease_until=None,
                    resolved_at=now, updated_at=now)
    return {**after, "status_label": _status_label(after["status"], lang)}


def release(session: Session, actor: Actor, item_id: int, *, now: datetime | None = None, lang: str = "ja") -> dict:
    """Give an in-progress item back to the queue (``open``, unassigned): its holder or a supervisor."""
    now = now or _now()
    # an expired lease counts as no hold (_held_by_other); no sweep needed here
    item = _load(session, actor, item_id, lock=True, lang=lang)
    actor.require(WORK)
    if item["status"] not in queues.RELEASABLE:
        raise _conflict(item, "対応中ではありません", "is not in progress")
    if _held_by_other(item, actor, now) and not actor.may(SUPERVISE):
        raise _conflict(item, f"{item['assignee']} が対応中です", f"is held by {item['assignee']}")
    _check(item["status"], queues.OPEN, item)
    event = _event_values(actor, queues.ACTION_RELEASED, work_item_id=item_id, from_status=item["status"],
                          to_status=queues.OPEN, at=now,
                          before={"assignee": item["assignee"], "lease_until": item["lease_until"]},
                          after={"assignee": None, "lease_until": None})
    after = _update(session, item, item["status"], event, status=queues.OPEN, assignee=None, lease_until=None,
                    updated_at=now)
    return {**after, "status_label": _status_label(after["status"], lang)}


def assign(session: Session, actor: Actor, item_id: int, user_name: str, *, now: datetime | None = None,
           lang: str = "ja") -> dict:
    """(Re)assign an open or in-progress item to a user who may work on it (supervisor). No lease:
    the item stays with that user until released or resolved."""
    now = now or _now()
    # an expired lease counts as no hold (_held_by_other); no sweep needed here
    item = _load(session, actor, item_id, lock=True, lang=lang)
    actor.require(SUPERVISE)
    target_user = session.scalars(sa.select(User).where(User.name == user_name, User.active.is_(True))).first()
    target = actor_of(target_user) if target_user is not None else None
    if target is None or not target.may(WORK) or not target.sees(item["insurer_number"]):
        raise InvalidInput(f"user {user_name!r} はこの作業項目を担当できません（存在しない・無効・権限や保険者の範囲外）",
                           f"user {user_name!r} cannot take this item (unknown, disabled, or not a steward "
                           "of its insurer)", field="user", value=user_name)
    if item["status"] not in queues.ASSIGNABLE:
        raise _conflict(item, "割り当てできる状態ではありません", "cannot be assigned")
    if item["status"] != queues.IN_PROGRESS:
        _check(item["status"], queues.IN_PROGRESS, item)
    event = _event_values(actor, queues.ACTION_ASSIGNED, work_item_id=item_id, from_status=item["status"],
                          to_status=queues.IN_PROGRESS, at=now,
                          before={"assignee": item["assignee"], "lease_until": item["lease_until"]},
                          after={"assignee": target.name, "lease_until": None})
    after = _update(session, item, item["status"], event, status=queues.IN_PROGRESS, assignee=target.name,
                    lease_until=None, updated_at=now)
    return {**after, "status_label": _status_label(after["status"], lang)}


def reopen(session: Session, actor: Actor, item_id: int, note: str | None = None, *, now: datetime | None = None,
           lang: str = "ja") -> dict:
    """A resolved or no-longer-detected item back to ``open``, unassigned (supervisor)."""
    now = now or _now()
    item = _load(session, actor, item_id, lock=True, lang=lang)
    actor.require(SUPERVISE)
    text = _note(note, required=False)
    if item["status"] not in queues.REOPENABLE:
        raise _conflict(item, "再オープンできる状態ではありません", "cannot be reopened")
    _check(item["status"], queues.OPEN, item)
    event = _event_values(actor, queues.ACTION_REOPENED_BY, work_item_id=item_id, from_status=item["status"],
                          to_status=queues.OPEN, note=text, at=now,
                          before={"status": item["status"], "assignee": item["assignee"]},
                          after={"status": queues.OPEN, "assignee": None})
    after = _update(session, item, item["status"], event, status=queues.OPEN, assignee=None, lease_until=None,
                    resolved_at=None, updated_at=now)
    return {**after, "status_label": _status_label(after["status"], lang)}


def add_comment(session: Session, actor: Actor, item_id: int, text: str, *, now: datetime | None = None) -> dict:
    """A comment on an item (steward, supervisor, admin); comments, like events, are never edited."""
    now = now or _now()
    item = _load(session, actor, item_id)
    actor.require(WORK)
    body = _note(text, required=True, field="text")
    comment_id = session.execute(sa.insert(C).values(work_item_id=item_id, at=now, author=actor.name, text=body)
                                 .returning(C.c.id)).scalar_one()
    _write_event(session, actor, queues.ACTION_COMMENTED, work_item_id=item_id, from_status=item["status"],
                 to_status=item["status"], at=now, after={"comment_id": comment_id, "text": body})
    return {"id": comment_id, "work_item_id": item_id, "at": now, "author": actor.name, "text": mask_number(body)}


@dataclass
class BulkResult:
    done: int
    refused: int
    results: list[dict]


def bulk_resolve(session: Session, actor: Actor, ids: Iterable[int], resolution: str, note: str | None, *,
                 now: datetime | None = None) -> BulkResult:
    """Resolve many items at once (supervisor, e.g. a reviewed batch of notation items).

    Each id is resolved or refused on its own (outside the actor's insurers: refused as not found);
    the counts say how many of each.
    """
    actor.require(SUPERVISE)
    if resolution not in queues.RESOLUTIONS:
        raise InvalidInput(f"resolution {resolution!r} は {', '.join(queues.RESOLUTIONS)} のいずれかです",
                           f"resolution {resolution!r}: one of {', '.join(queues.RESOLUTIONS)}",
                           field="resolution", value=resolution)
    _note(note, required=True)
    results = []
    for item_id in dict.fromkeys(ids):
        try:
            with session.begin_nested():
                resolve(session, actor, item_id, resolution, note, now=now)
            results.append({"id": item_id, "status": "done", "reason": None})
        except (NotFound, Conflict, Forbidden, InvalidInput) as exc:
            results.append({"id": item_id, "status": "refused", "reason": exc.text("en"),
                            "reason_ja": exc.text("ja")})
    done = sum(r["status"] == "done" for r in results)
    return BulkResult(done=done, refused=len(results) - done, results=results)


# --- queues overview ------------------------------------------------------------------------------

def queue_overview(session: Session, actor: Actor, *, now: datetime | None = None, lang: str = "ja") -> list[dict]:
    """Per queue: open, in_progress, overdue, oldest_open_days — within the actor's insurers.

    The counts are :mod:`reports.counts`' definitions (the one place "overdue" is defined), applied
    to the active items — grouped first by the columns those definitions read (queue, status,
    due_at, created_at: the items of one scan share them), so a request reads a few groups, not
    every open item.
    """
    from reports import counts

    explicit_now = now is not None
    now = now or _now()
    sweep_leases(session, now if explicit_now else None)
    rows = session.execute(_overview_statement(actor.insurers is not None),
                           {"insurers": list(actor.insurers)} if actor.insurers is not None else {}).all()
    groups = pd.DataFrame(rows, columns=["queue", "status", "due_at", "created_at", "n"])
    local_now = pd.Timestamp(now).tz_convert("Asia/Tokyo").tz_localize(None)
    totals = {name: {"open": 0, "in_progress": 0, "overdue": 0, "oldest": None} for name in queues.QUEUES}
    if len(groups):
        overdue = counts.overdue_mask(groups, local_now).to_numpy()
        ages = counts.age_days(groups, local_now)
        for queue, status, n, late, age in zip(groups["queue"], groups["status"], groups["n"], overdue, ages):
            total = totals.get(queue)
            if total is None:
                continue
            if status == queues.OPEN:
                total["open"] += int(n)
                if not pd.isna(age):
                    total["oldest"] = max(int(age), 0, total["oldest"] or 0)
            elif status == queues.IN_PROGRESS:
                total["in_progress"] += int(n)
            total["overdue"] += int(n) if late else 0
    return [{"name": name, "label": _queue_label(name, lang), "open": t["open"], "in_progress": t["in_progress"],
             "overdue": t["overdue"], "oldest_open_days": t["oldest"]} for name, t in totals.items()]


@functools.lru_cache(maxsize=2)
def _overview_statement(scoped: bool):
    from reports import counts

    stmt = (sa.select(W.c.queue, W.c.status, W.c.due_at, W.c.created_at, sa.func.count())
            .where(W.c.status.in_(counts.OPEN)))
    if scoped:
        stmt = stmt.where(W.c.insurer_number.in_(sa.bindparam("insurers", expanding=True)))
    return stmt.group_by(W.c.queue, W.c.status, W.c.due_at, W.c.created_at)


def queue_sizes(session: Session) -> dict[tuple[str, str], int]:
    """``{(queue, status): n}`` over every insurer (for /metrics: counts per queue, never per member)."""
    return {(q, s): int(n) for q, s, n in session.execute(
        sa.select(W.c.queue, W.c.status, sa.func.count()).group_by(W.c.queue, W.c.status))}


# --- scans ---------------------------------------------------------------------------------------

S = Scan.__table__
U = Upload.__table__


def _scan_insurers(session: Session, scan_ids: list[int]) -> dict[int, set[str]]:
    """The insurers each scan covered (``scan_insurers``, else its feed statistics)."""
    out: dict[int, set[str]] = {i: set() for i in scan_ids}
    if not scan_ids:
        return out
    from reconcile.store import models
    tables = []
    if hasattr(models, "ScanInsurer"):
        tables.append(models.ScanInsurer.__table__)
    tables.append(models.FeedStat.__table__)
    for table in tables:
        for scan_id, insurer in session.execute(
                sa.select(table.c.scan_id, table.c.insurer_number).distinct()
                .where(table.c.scan_id.in_(scan_ids), table.c.insurer_number.is_not(None))):
            out[scan_id].add(insurer)
    return out


def _visible(actor: Actor, insurers: set[str]) -> bool:
    if actor.insurers is None:
        return True
    return bool(insurers) and bool(insurers & set(actor.insurers))


def _scan_dict(row, insurers: set[str]) -> dict:
    summary = row.summary or {}
    return _masked({
        "scan_id": row.id, "status": row.status, "as_of": row.as_of.isoformat() if row.as_of else None,
        "period": row.period, "started_at": _aware(row.started_at), "finished_at": _aware(row.finished_at),
        "insurer_numbers": sorted(insurers), "summary": summary,
        "stage_seconds": summary.get("seconds") if isinstance(summary, dict) else None,
        "validation": row.validation, "quarantine_count": int(row.quarantined or 0),
        "findings": int(row.findings or 0),
    })


def _scan_rows(session: Session):
    from reconcile.store.models import QuarantineRow
    quarantined = (sa.select(QuarantineRow.scan_id, sa.func.count().label("n"))
                   .group_by(QuarantineRow.scan_id).subquery())
    found = (sa.select(ScanFinding.scan_id, sa.func.count().label("n")).group_by(ScanFinding.scan_id).subquery())
    return (sa.select(S.c.id, S.c.status, S.c.as_of, Feed.period, S.c.started_at, S.c.finished_at, S.c.summary,
                      Feed.validation, quarantined.c.n.label("quarantined"), found.c.n.label("findings"))
            .join(Feed, Feed.id == S.c.feed_id)
            .outerjoin(quarantined, quarantined.c.scan_id == S.c.id)
            .outerjoin(found, found.c.scan_id == S.c.id))


def _scoped_scan(session: Session, actor: Actor, scan: dict, insurers: set[str]) -> dict:
    """A scan as the actor may see it: a feed shared with other insurers shows only the actor's
    insurers, and its finding counts are recounted for them (the feed-wide summary counts are dropped)."""
    if actor.insurers is None or insurers <= set(actor.insurers):
        return scan
    links = ScanFinding.__table__
    by_rule = {rule: int(n) for rule, n in session.execute(
        sa.select(F.c.rule_id, sa.func.count()).join(links, links.c.finding_id == F.c.finding_id)
        .where(links.c.scan_id == scan["scan_id"], F.c.insurer_number.in_(list(actor.insurers)))
        .group_by(F.c.rule_id).order_by(F.c.rule_id))}
    summary = {k: v for k, v in (scan["summary"] or {}).items()
               if k in ("as_of", "period", "seconds", "skipped_rules", "schedule")}
    summary["findings_by_rule"] = by_rule
    return {**scan, "insurer_numbers": sorted(insurers & set(actor.insurers)), "summary": summary,
            "findings": sum(by_rule.values()), "quarantine_count": None, "validation": None}


def list_scans(session: Session, actor: Actor, *, limit: int = DEFAULT_LIMIT, cursor: str | None = None) -> Page:
    """Scans the actor may see (one of its insurers was in the feed), newest first."""
    check_limit(limit)
    offset = decode_cursor(cursor, "-scan_id")
    rows = session.execute(_scan_rows(session).order_by(S.c.id.desc())).all()
    insurers = _scan_insurers(session, [r.id for r in rows])
    visible = [r for r in rows if _visible(actor, insurers[r.id])]
    page = visible[offset:offset + limit]
    more = len(visible) > offset + limit
    return Page([_scoped_scan(session, actor, _scan_dict(r, insurers[r.id]), insurers[r.id]) for r in page],
                encode_cursor(offset + limit, "-scan_id") if more else None)


def get_scan(session: Session, actor: Actor, scan_id: int) -> dict:
    row = session.execute(_scan_rows(session).where(S.c.id == scan_id)).first()
    insurers = _scan_insurers(session, [scan_id]) if row is not None else {}
    if row is None or not _visible(actor, insurers[scan_id]):
        raise NotFound(f"走査 {scan_id} はありません", f"no scan {scan_id}", field="scan_id", value=scan_id)
    return _scoped_scan(session, actor, _scan_dict(row, insurers[scan_id]), insurers[scan_id])


# --- uploads (POST /api/v1/scans) -------------------------------------------------------------------

UPLOAD_QUEUED, UPLOAD_RUNNING, UPLOAD_DONE, UPLOAD_REJECTED, UPLOAD_FAILED = (
    "queued", "running", "done", "rejected", "failed")
UPLOAD_PREFIX = "upload-"


def create_upload(session: Session, actor: Actor, path: str, files: list[str]) -> dict:
    """Record an uploaded feed (supervisor, admin) as ``queued``; the caller starts the scan."""
    actor.require(SUPERVISE)
    upload_id = session.execute(sa.insert(U).values(
        status=UPLOAD_QUEUED, uploaded_by=actor.name,
        insurer_scope=None if actor.insurers is None else list(actor.insurers), path=path, files=files,
        created_at=_now()).returning(U.c.id)).scalar_one()
    _write_event(session, actor, "feed_uploaded", work_item_id=None, subject=f"upload:{upload_id}",
                 after={"files": files})
    return {"scan_id": f"{UPLOAD_PREFIX}{upload_id}", "status": UPLOAD_QUEUED}


def upload_id_of(scan_id: str) -> int | None:
    if scan_id.startswith(UPLOAD_PREFIX) and scan_id[len(UPLOAD_PREFIX):].isdigit():
        return int(scan_id[len(UPLOAD_PREFIX):])
    return None


def get_upload(session: Session, actor: Actor, upload_id: int) -> dict:
    """Status of an uploaded feed's scan; once done, the scan itself (``result_scan_id``)."""
    row = session.execute(sa.select(U).where(U.c.id == upload_id)).first()
    # The uploader sees it; so does anyone whose insurers the feed turned out to cover.
    visible = row is not None and (actor.insurers is None or row.uploaded_by == actor.name
                                   or bool(set(row.insurer_numbers or []) & set(actor.insurers)))
    if not visible:
        raise NotFound(f"走査 {UPLOAD_PREFIX}{upload_id} はありません", f"no scan {UPLOAD_PREFIX}{upload_id}",
                       field="scan_id", value=f"{UPLOAD_PREFIX}{upload_id}")
    out: dict[str, Any] = {"scan_id": f"{UPLOAD_PREFIX}{upload_id}", "status": row.status,
                           "result_scan_id": row.scan_id, "files": row.files or [],
                           "insurer_numbers": row.insurer_numbers or [], "message": row.message,
                           "created_at": _aware(row.created_at), "started_at": _aware(row.started_at),
                           "finished_at": _aware(row.finished_at)}
    if row.scan_id is not None:
        scan = session.execute(_scan_rows(session).where(S.c.id == row.scan_id)).first()
        if scan is not None:
            detail = _scan_dict(scan, set(row.insurer_numbers or []))
            out.update({k: v for k, v in detail.items() if k not in ("scan_id", "status", "insurer_numbers")})
    return _masked(out)


def mark_upload(session: Session, upload_id: int, status: str, *, scan_id: int | None = None,
                insurer_numbers: list[str] | None = None, message: dict | None = None) -> None:
    values: dict[str, Any] = {"status": status}
    if status == UPLOAD_RUNNING:
        values["started_at"] = _now()
    else:
        values["finished_at"] = _now()
    if scan_id is not None:
        values["scan_id"] = scan_id
    if insurer_numbers is not None:
        values["insurer_numbers"] = insurer_numbers
    if message is not None:
        values["message"] = {k: mask_number(v) for k, v in message.items()}
    session.execute(sa.update(U).where(U.c.id == upload_id).values(**values))


def upload_scope(session: Session, upload_id: int) -> tuple[str | None, list[str] | None]:
    row = session.execute(sa.select(U.c.path, U.c.insurer_scope).where(U.c.id == upload_id)).first()
    return (row.path, row.insurer_scope) if row else (None, None)


__all__ = ["BulkResult", "Filters", "ITEM_SORTS", "FINDING_SORTS", "MAX_LIMIT", "Page", "add_comment", "assign",
           "bulk_resolve", "claim_next", "create_upload", "decode_cursor", "encode_cursor", "expire_leases",
           "get_finding", "get_scan", "get_upload", "get_work_item", "lease_minutes", "list_audit",
           "list_findings", "list_scans", "list_work_items", "mark_upload", "queue_overview", "queue_sizes",
           "release", "reopen", "resolve", "side_by_side", "upload_id_of", "upload_scope"]


def require_whole_store(session: Session, actor: Actor) -> None:
    """Store-wide reports (weekly, national) only for an actor who sees every insurer in the store.

    The report builders count over the whole store; until they take an insurer scope, a user of
    some insurers would read other insurers' figures, so they are refused (403, saying why).
    """
    if actor.insurers is None:
        return
    stored = {i for (i,) in session.execute(sa.select(W.c.insurer_number).distinct()) if i is not None}
    outside = sorted(stored - set(actor.insurers))
    if outside:
        raise Forbidden("この報告は担当外の保険者も含むため表示できません（admin に依頼してください）",
                        "this report covers insurers outside your scope (ask an admin)", field="insurer_number")


# --- feedback to the matcher: stewards' decisions as labelled pairs --------------------------------

#: Columns of the labelled-pairs CSV ``reconcile train`` reads (docs/matcher.md).
LABEL_COLUMNS = ["label", "name_kanji_l", "name_kana_l", "name_alpha_l", "birth_date_l", "sex_l", "address_l",
                 "number_last4_l", "municipality_code_l", "name_kanji_r", "name_kana_r", "name_alpha_r",
                 "alias_name_r", "former_surname_r", "birth_date_r", "sex_r", "address_r", "number_last4_r",
                 "municipality_code_r", "household_agrees", "finding_id", "rule_id", "status"]

#: What a steward's verdict says about the member ↔ linked resident pair (1 same person, 0 different).
#: MISLINK_SUSPECTED: fixed = the link was wrong (0), false positive = it was right (1); won't fix says
#: nothing about the pair. NOTATION_DIFFERENCE: fixed / won't fix = same person, only the notation
#: differs (1); false positive = the steward rejected "same person" (0).
LABEL_OF_VERDICT: dict[tuple[str, str], int] = {
    ("MISLINK_SUSPECTED", queues.RESOLVED_FIXED): 0,
    ("MISLINK_SUSPECTED", queues.RESOLVED_FALSE_POSITIVE): 1,
    ("NOTATION_DIFFERENCE", queues.RESOLVED_FIXED): 1,
    ("NOTATION_DIFFERENCE", queues.RESOLVED_WONT_FIX): 1,
    ("NOTATION_DIFFERENCE", queues.RESOLVED_FALSE_POSITIVE): 0,
}
_PAIR_FIELDS = {"name_kanji": "name_kanji", "name_kana": "name_kana", "name_alpha": "name_alpha",
                "birth_date": "birth_date", "sex": "sex", "address": "address", "last4": "number_last4",
                "municipality": "municipality_code"}


def labelled_pairs(session: Session, actor: Actor | None = None) -> pd.DataFrame:
    """Resolved mis-link and notation items as labelled member ↔ resident pairs (one row per item)."""
    rules = sorted({rule for rule, _ in LABEL_OF_VERDICT})
    stmt = (sa.select(W.c.finding_id, F.c.rule_id, W.c.status, F.c.evidence, F.c.insurer_number)
            .join(F, F.c.finding_id == W.c.finding_id)
            .where(F.c.rule_id.in_(rules), W.c.status.in_(list(queues.RESOLUTIONS))).order_by(W.c.id))
    if actor is not None:
        stmt = stmt.where(_scope(F.c.insurer_number, actor))
    rows = []
    for finding_id, rule_id, status, evidence_text, _ in session.execute(stmt):
        label = LABEL_OF_VERDICT.get((rule_id, status))
        fields = _compared_fields(_evidence(evidence_text))
        if label is None or not fields:
            continue
        row: dict[str, Any] = {"label": label, "finding_id": finding_id, "rule_id": rule_id, "status": status}
        for name, stem in _PAIR_FIELDS.items():
            value = fields.get(name) or {}
            row[f"{stem}_l"] = value.get("member")
            row[f"{stem}_r"] = value.get("resident")
        kanji = fields.get("name_kanji") or {}
        row["alias_name_r"] = kanji.get("resident_alias")
        row["former_surname_r"] = kanji.get("resident_former_surname")
        level = (fields.get("household") or {}).get("level")
        row["household_agrees"] = 1 if level in ("same", "exact") else 0 if level == "else" else None
        rows.append(row)
    frame = pd.DataFrame(rows, columns=LABEL_COLUMNS)
    for column in ("number_last4_l", "number_last4_r"):   # last four digits only, by construction
        frame[column] = frame[column].map(lambda v: None if v is None or pd.isna(v) else str(v)[-4:])
    return frame


def export_labels(out, *, settings=None) -> tuple[Any, int, dict[int, int]]:
    """Write the labelled pairs CSV (UTF-8, header; exempt from the CSV-injection quoting: ``train`` reads it)."""
    import sys
    from pathlib import Path

    from reconcile.config import get_settings
    from reconcile.service import open_store

    engine = open_store(settings or get_settings())
    with Session(engine) as session:
        frame = labelled_pairs(session)
    text = frame.to_csv(index=False, lineterminator="\n")
    if out is None:
        sys.stdout.write(text)
    else:
        Path(out).write_text(text, encoding="utf-8")
    counts = {int(k): int(v) for k, v in frame["label"].value_counts().items()} if len(frame) else {}
    return (Path(out) if out is not None else None), len(frame), counts
