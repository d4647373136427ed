"""作業キュー：振り分け・ステータス遷移・スキャン間の引き継ぎ / Work queues: routing, lifecycle, carry-forward.

Pure tables and functions (no database) so the rules a steward lives by read in one place and
are tested on their own; :mod:`reconcile.store.repository` applies them in bulk.

- :func:`route` — which queue a new finding goes to (first matching row of :data:`ROUTES`,
  else the category's queue, else ``other``).
- :data:`TRANSITIONS` / :func:`check_transition` — what a person may do with a work item.
- :func:`carry_forward` — what happens to an existing work item when a later scan sees its
  finding again: a steward's decision stands (誤検知・対応不要 stay resolved), except
  ``resolved_fixed``: the fix evidently did not hold, so the item is reopened.
- :data:`CLOSE_WHEN_NOT_SEEN` — an open item whose finding a later scan no longer raises
  (the source changed) is closed as ``closed_not_seen`` — never ``resolved_fixed``, never a
  steward's confirmation; an in-progress one stays with its steward, marked "no longer
  detected" (:data:`MARK_WHEN_NOT_SEEN`).
- :class:`QueueConfig` / :func:`queue_config` — routing, priority (severity and score) and the
  per-queue service level (days to ``due_at``) as configuration: ``[queues]`` in
  ``reconcile.toml``, defaults the tables below.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# --- queues ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Queue:
    name: str
    label_ja: str
    label_en: str


QUEUES: dict[str, Queue] = {q.name: q for q in (
    Queue("mislink", "紐付け誤り疑い", "Suspected mis-links"),
    Queue("notation", "表記ゆれ・データ品質", "Notation and data quality"),
    Queue("benefit", "負担割合・限度額適用区分", "Burden ratio and limit category"),
    Queue("qualification", "資格取得・喪失日", "Qualification dates"),
    Queue("card_issuance", "資格確認書の交付", "資格確認書 issuance"),
    Queue("feed", "フィード異常", "Feed anomalies"),
    Queue("other", "その他", "Other"),
)}

#: Routing by rule (first match wins). ``severities`` None = any severity.
#: 個人番号の不備は重大なもの (check digit fails) が紐付け誤りキューへ、軽微なもの (番号未登録など) は
#: データ品質として notation キューへ。
ROUTES: tuple[tuple[str, frozenset[str] | None, str], ...] = (
    ("MISLINK_SUSPECTED", None, "mislink"),
    ("NUMBER_SHARED", None, "mislink"),
    ("RESIDENT_NOT_FOUND", None, "mislink"),
    ("NUMBER_INVALID", frozenset({"high"}), "mislink"),
    ("NUMBER_INVALID", None, "notation"),
    ("NOTATION_DIFFERENCE", None, "notation"),
    ("FEED_DRIFT", None, "feed"),
    ("KAKUNINSHO_NOT_ISSUED", None, "card_issuance"),
)

#: Fallback by category, for rules the product adds later.
CATEGORY_QUEUES: dict[str, str] = {
    "mislink": "mislink",
    "notation": "notation",
    "burden_ratio": "benefit",
    "limit_category": "benefit",
    "qualification_date": "qualification",
    "card_issuance": "card_issuance",
    "feed": "feed",
}

FALLBACK_QUEUE = "other"


def route(rule_id: str, category: str | None, severity: str | None,
          config: "QueueConfig | None" = None) -> str:
    """The queue a new finding is routed to / 新しい指摘の振り分け先キュー (``config``: ``[queues]``)."""
    if config is not None:
        return config.route(rule_id, category, severity)
    for route_rule, severities, queue in ROUTES:
        if rule_id == route_rule and (severities is None or severity in severities):
            return queue
    return CATEGORY_QUEUES.get(category or "", FALLBACK_QUEUE)


# --- lifecycle ---------------------------------------------------------------------------------

OPEN = "open"
IN_PROGRESS = "in_progress"
RESOLVED_FIXED = "resolved_fixed"
RESOLVED_FALSE_POSITIVE = "resolved_false_positive"
RESOLVED_WONT_FIX = "resolved_wont_fix"
CLOSED_NOT_SEEN = "closed_not_seen"     # a later scan no longer raised it (never a steward's verdict)

STATUSES: tuple[str, ...] = (OPEN, IN_PROGRESS, RESOLVED_FIXED, RESOLVED_FALSE_POSITIVE, RESOLVED_WONT_FIX,
                             CLOSED_NOT_SEEN)
RESOLVED: frozenset[str] = frozenset({RESOLVED_FIXED, RESOLVED_FALSE_POSITIVE, RESOLVED_WONT_FIX})
ACTIVE: frozenset[str] = frozenset({OPEN, IN_PROGRESS})

STATUS_LABELS: dict[str, tuple[str, str]] = {
    OPEN: ("未対応", "Open"),
    IN_PROGRESS: ("対応中", "In progress"),
    RESOLVED_FIXED: ("修正済み", "Fixed"),
    RESOLVED_FALSE_POSITIVE: ("誤検知", "False positive"),
    RESOLVED_WONT_FIX: ("対応不要", "Won't fix"),
    CLOSED_NOT_SEEN: ("検出されなくなった", "No longer detected"),
}

#: Allowed manual transitions. A resolved item goes back through ``open`` (reopen) before it
#: can be resolved differently, so every change of verdict leaves a reopen event.
TRANSITIONS: dict[str, frozenset[str]] = {
    OPEN: frozenset({IN_PROGRESS, *RESOLVED}),
    IN_PROGRESS: frozenset({OPEN, *RESOLVED}),
    RESOLVED_FIXED: frozenset({OPEN}),
    RESOLVED_FALSE_POSITIVE: frozenset({OPEN}),
    RESOLVED_WONT_FIX: frozenset({OPEN}),
    CLOSED_NOT_SEEN: frozenset({OPEN}),
}

#: What a steward may do with an item: the lifecycle's manual actions, who may take them, and
#: from which statuses (contract api.md). Roles' permissions are in :mod:`reconcile.auth`.
#: ``held`` = the item is ``in_progress`` with someone else's unexpired claim: only a supervisor
#: (or admin) may release or resolve it, anyone else gets 409.
DEFAULT_LEASE_MINUTES = 30
RESOLUTIONS: tuple[str, ...] = (RESOLVED_FIXED, RESOLVED_FALSE_POSITIVE, RESOLVED_WONT_FIX)
CLAIMABLE: frozenset[str] = frozenset({OPEN})
RESOLVABLE: frozenset[str] = frozenset({OPEN, IN_PROGRESS})
RELEASABLE: frozenset[str] = frozenset({IN_PROGRESS})
ASSIGNABLE: frozenset[str] = frozenset({OPEN, IN_PROGRESS})
REOPENABLE: frozenset[str] = frozenset({RESOLVED_FIXED, RESOLVED_FALSE_POSITIVE, RESOLVED_WONT_FIX, CLOSED_NOT_SEEN})

# Audit actions of the steward's lifecycle (reconcile.workflow).
ACTION_CLAIMED = "claimed"
ACTION_RESOLVED = "resolved"
ACTION_RELEASED = "released"
ACTION_REOPENED_BY = "reopened_by_supervisor"
ACTION_LEASE_EXPIRED = "lease_expired"
ACTION_COMMENTED = "commented"
ACTION_VIEWED = "viewed"                # a read of a member's personal data (item or finding detail)

# Event actions written to the audit trail.
ACTION_TRANSITION = "transition"
ACTION_REOPENED = "reopened"            # a scan saw a resolved_fixed finding again
ACTION_AUTO_RESOLVED = "auto_resolved"  # a scan no longer raised an open finding
ACTION_ASSIGNED = "assigned"
SYSTEM_ACTOR = "system"


class TransitionError(ValueError):
    """A status change the lifecycle does not allow / 許可されていないステータス遷移."""


def check_transition(from_status: str, to_status: str) -> None:
    """Raise :class:`TransitionError` unless ``from_status → to_status`` is allowed."""
    if to_status not in STATUSES:
        raise TransitionError(f"unknown status {to_status!r}; expected one of {', '.join(STATUSES)}")
    if to_status not in TRANSITIONS.get(from_status, frozenset()):
        raise TransitionError(f"cannot go from {from_status!r} to {to_status!r} "
                              f"(allowed: {', '.join(sorted(TRANSITIONS.get(from_status, ()))) or 'none'})")


def carry_forward(status: str) -> tuple[str, str | None]:
    """Status of an existing item whose finding a new scan raises again, and the event action.

    前回の判断を引き継ぐ: 誤検知・対応不要・対応中はそのまま。修正済みが再び検出されたら再オープン
    （検出されなくなった項目が再び検出された場合も）。
    """
    if status in (RESOLVED_FIXED, CLOSED_NOT_SEEN):
        return OPEN, ACTION_REOPENED
    return status, None


# --- carry-forward across scans (store engineer) -----------------------------------------------

#: Statuses closed automatically when a scan that ran the finding's rule, for the finding's
#: insurer, no longer raises it (and the member's rows were neither quarantined nor absent from
#: a truncated feed): they become :data:`CLOSED_STATUS`.
CLOSE_WHEN_NOT_SEEN: frozenset[str] = frozenset({OPEN})
CLOSED_STATUS = CLOSED_NOT_SEEN
#: Statuses that stay as they are when the finding is no longer raised, marked "no longer
#: detected" (``work_items.not_seen_since_scan``): a steward is working on it.
MARK_WHEN_NOT_SEEN: frozenset[str] = frozenset({IN_PROGRESS})
#: A new finding of the same member + rule as an earlier item in one of these statuses links
#: it (``previous_finding_id``): the facts changed, so the steward sees the earlier verdict.
#: Those in :data:`SUPPRESSED` count as "reopened" in the scan summary.
LINK_PREVIOUS: frozenset[str] = frozenset({RESOLVED_FIXED, RESOLVED_FALSE_POSITIVE, RESOLVED_WONT_FIX})
SUPPRESSED: frozenset[str] = frozenset({RESOLVED_FALSE_POSITIVE, RESOLVED_WONT_FIX})

ACTION_CLOSED_NOT_SEEN = "closed_not_seen"   # a scan no longer raised an open finding
ACTION_NOT_SEEN = "not_seen"                 # … an in-progress one: stays with its steward
ACTION_SEEN_AGAIN = "seen_again"             # an in-progress "no longer detected" item raised again


# --- routing, priority and service level as configuration (store engineer) ---------------------

#: Days from a work item's creation to its ``due_at``, per queue (service level).
SLA_DAYS: dict[str, int] = {"mislink": 14, "notation": 30, "benefit": 14, "qualification": 14,
                            "card_issuance": 7, "feed": 7, "other": 30}
#: Priority = SEVERITY_PRIORITY[severity] + round(score × SCORE_PRIORITY); claim order is highest first.
SEVERITY_PRIORITY: dict[str, int] = {"high": 300, "medium": 200, "low": 100, "info": 0}
SCORE_PRIORITY = 99

_CONFIG_KEYS = ("routes", "category_queues", "fallback", "sla_days", "severity_priority",
                "score_priority", "labels",
                "lease_minutes")   # the claim's lease (api: reconcile.workflow.lease_minutes)


class QueueConfigError(ValueError):
    """``[queues]`` in the config file is malformed; the message names the key."""


@dataclass(frozen=True)
class QueueConfig:
    """Routing, priority and service levels (``[queues]`` in reconcile.toml over the defaults)."""
    routes: tuple[tuple[str, frozenset[str] | None, str], ...] = ROUTES
    category_queues: dict[str, str] = field(default_factory=lambda: dict(CATEGORY_QUEUES))
    fallback: str = FALLBACK_QUEUE
    sla_days: dict[str, int] = field(default_factory=lambda: dict(SLA_DAYS))
    severity_priority: dict[str, int] = field(default_factory=lambda: dict(SEVERITY_PRIORITY))
    score_priority: int = SCORE_PRIORITY
    queues: dict[str, Queue] = field(default_factory=lambda: dict(QUEUES))

    def route(self, rule_id: str, category: str | None, severity: str | None) -> str:
        for route_rule, severities, queue in self.routes:
            if rule_id == route_rule and (severities is None or severity in severities):
                return queue
        return self.category_queues.get(category or "", self.fallback)

    def priority(self, severity: str | None, score: float | None) -> int:
        base = self.severity_priority.get(severity or "", 0)
        return int(base + round((0.0 if score is None or score != score else float(score)) * self.score_priority))

    def due_days(self, queue: str) -> int | None:
        return self.sla_days.get(queue)


DEFAULT_QUEUE_CONFIG = QueueConfig()


def queue_config(raw: dict | None) -> QueueConfig:
    """Build the queue configuration from the ``[queues]`` table (None / {} = the defaults).

    ::

        [queues]
        sla_days = { mislink = 7 }                 # merged over SLA_DAYS
        severity_priority = { high = 500 }         # merged over SEVERITY_PRIORITY
        score_priority = 99
        category_queues = { burden_ratio = "benefit" }
        fallback = "other"
        routes = [ { rule_id = "NUMBER_INVALID", severities = ["high"], queue = "mislink" } ]  # replaces ROUTES
        labels = { kokuho_special = { ja = "特別", en = "Special" } }   # extra queues

    Raises :class:`QueueConfigError` naming the key for an unknown key, a wrong type or a queue
    that is not defined.
    """
    raw = dict(raw or {})
    unknown = sorted(set(raw) - set(_CONFIG_KEYS))
    if unknown:
        raise QueueConfigError(f"[queues] の不明なキー / unknown key in [queues]: {unknown[0]}")
    known = dict(QUEUES)
    for name, label in dict(raw.get("labels", {})).items():
        if not isinstance(label, dict) or not isinstance(label.get("ja"), str):
            raise QueueConfigError(f"queues.labels.{name}: {{ ja = \"…\", en = \"…\" }} が必要 / needs ja and en")
        known[name] = Queue(name, label["ja"], str(label.get("en", label["ja"])))

    def queue_name(value: Any, where: str) -> str:
        if not isinstance(value, str) or value not in known:
            raise QueueConfigError(f"{where}: 未定義のキュー / unknown queue {value!r} "
                                   f"(known: {', '.join(sorted(known))}; add it under queues.labels)")
        return value

    def int_table(key: str, default: dict[str, int]) -> dict[str, int]:
        table = raw.get(key, {})
        if not isinstance(table, dict):
            raise QueueConfigError(f"queues.{key}: テーブルが必要 / must be a table")
        out = dict(default)
        for name, value in table.items():
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise QueueConfigError(f"queues.{key}.{name}: 0 以上の整数が必要 / must be a non-negative integer, got {value!r}")
            out[str(name)] = value
        return out

    routes = ROUTES
    if "routes" in raw:
        if not isinstance(raw["routes"], list):
            raise QueueConfigError("queues.routes: 配列が必要 / must be an array of tables")
        built = []
        for i, entry in enumerate(raw["routes"]):
            where = f"queues.routes[{i}]"
            if not isinstance(entry, dict) or set(entry) - {"rule_id", "severities", "queue"} \
                    or not isinstance(entry.get("rule_id"), str):
                raise QueueConfigError(f"{where}: rule_id, queue（と severities）だけを指定 / "
                                       "only rule_id, queue and optional severities")
            severities = entry.get("severities")
            if severities is not None and (not isinstance(severities, list)
                                           or not all(s in SEVERITY_PRIORITY for s in severities)):
                raise QueueConfigError(f"{where}.severities: {severities!r}")
            built.append((entry["rule_id"], None if severities is None else frozenset(severities),
                          queue_name(entry.get("queue"), f"{where}.queue")))
        routes = tuple(built)
    categories = dict(CATEGORY_QUEUES)
    table = raw.get("category_queues", {})
    if not isinstance(table, dict):
        raise QueueConfigError("queues.category_queues: テーブルが必要 / must be a table")
    for category, queue in table.items():
        categories[str(category)] = queue_name(queue, f"queues.category_queues.{category}")
    score = raw.get("score_priority", SCORE_PRIORITY)
    if isinstance(score, bool) or not isinstance(score, int) or score < 0:
        raise QueueConfigError(f"queues.score_priority: 0 以上の整数が必要 / must be a non-negative integer, got {score!r}")
    severity = int_table("severity_priority", SEVERITY_PRIORITY)
    unknown_sev = sorted(set(severity) - set(SEVERITY_PRIORITY))
    if unknown_sev:
        raise QueueConfigError(f"queues.severity_priority.{unknown_sev[0]}: 不明な重大度 / unknown severity")
    sla = int_table("sla_days", SLA_DAYS)
    for name in sla:
        queue_name(name, f"queues.sla_days.{name}")
    return QueueConfig(routes=routes, category_queues=categories,
                       fallback=queue_name(raw.get("fallback", FALLBACK_QUEUE), "queues.fallback"),
                       sla_days=sla, severity_priority=severity, score_priority=score, queues=known)
