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
  (the data was corrected) is closed automatically as ``resolved_fixed``.
"""
from __future__ import annotations

from dataclasses import dataclass

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


def route(rule_id: str, category: str | None, severity: str | None) -> str:
    """The queue a new finding is routed to / 新しい指摘の振り分け先キュー."""
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

STATUSES: tuple[str, ...] = (OPEN, IN_PROGRESS, RESOLVED_FIXED, RESOLVED_FALSE_POSITIVE, RESOLVED_WONT_FIX)
RESOLVED: frozenset[str] = frozenset({RESOLVED_FIXED, RESOLVED_FALSE_POSITIVE, RESOLVED_WONT_FIX})
ACTIVE: frozenset[str] = frozenset({OPEN, IN_PROGRESS})

STATUS_LABELS: dict[str, tuple[str, str]] = {
    OPEN: ("未対応", "Open"),
    IN_PROGRESS: ("対応中", "In progress"),
    RESOLVED_FIXED: ("修正済み", "Fixed"),
    RESOLVED_FALSE_POSITIVE: ("誤検知", "False positive"),
    RESOLVED_WONT_FIX: ("対応不要", "Won't fix"),
}

#: Allowed manual transitions. A resolved item goes back through ``open`` (reopen) before it
#: can be resolved differently, so every change of verdict leaves a reopen event.
TRANSITIONS: dict[str, frozenset[str]] = {
    OPEN: frozenset({IN_PROGRESS, *RESOLVED}),
    IN_PROGRESS: frozenset({OPEN, *RESOLVED}),
    RESOLVED_FIXED: frozenset({OPEN}),
    RESOLVED_FALSE_POSITIVE: frozenset({OPEN}),
    RESOLVED_WONT_FIX: frozenset({OPEN}),
}

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

    前回の判断を引き継ぐ: 誤検知・対応不要・対応中はそのまま。修正済みが再び検出されたら再オープン。
    """
    if status == RESOLVED_FIXED:
        return OPEN, ACTION_REOPENED
    return status, None


#: Statuses closed automatically when a scan that ran the finding's rule no longer raises it.
CLOSE_WHEN_NOT_SEEN: frozenset[str] = ACTIVE
CLOSED_STATUS = RESOLVED_FIXED
