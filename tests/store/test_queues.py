"""振り分けとステータス遷移 / Routing table and lifecycle (pure, no database)."""
from __future__ import annotations

import pytest

from reconcile import queues
from reconcile.queues import TransitionError, carry_forward, check_transition, route


@pytest.mark.parametrize("rule_id, category, severity, queue", [
    ("MISLINK_SUSPECTED", "mislink", "high", "mislink"),
    ("MISLINK_SUSPECTED", "mislink", "low", "mislink"),
    ("NUMBER_SHARED", "mislink", "high", "mislink"),
    ("RESIDENT_NOT_FOUND", "mislink", "low", "mislink"),
    ("NUMBER_INVALID", "mislink", "high", "mislink"),        # check digit fails
    ("NUMBER_INVALID", "mislink", "medium", "notation"),     # number missing: data quality
    ("NOTATION_DIFFERENCE", "notation", "low", "notation"),
    ("BURDEN_RATIO_OQS_MISMATCH", "burden_ratio", "high", "benefit"),
    ("BURDEN_RATIO_RULE", "burden_ratio", "medium", "benefit"),
    ("LIMIT_CATEGORY_RULE", "limit_category", "high", "benefit"),
    ("BENEFIT_HISTORY_DIVERGENCE", "limit_category", "high", "benefit"),
    ("QUAL_DATE_IS_ISSUE_DATE", "qualification_date", "medium", "qualification"),
    ("QUAL_ACTIVE_AFTER_EXIT", "qualification_date", "high", "qualification"),
    ("KAKUNINSHO_NOT_ISSUED", "card_issuance", "high", "card_issuance"),
    ("FEED_DRIFT", "feed", "info", "feed"),
    ("SOME_FUTURE_RULE", "qualification_date", "low", "qualification"),   # by category
    ("SOME_FUTURE_RULE", "unheard_of", "low", "other"),                   # fallback
])
def test_route(rule_id, category, severity, queue):
    assert route(rule_id, category, severity) == queue


def test_every_catalogue_category_has_a_queue_with_japanese_label():
    for category in ("mislink", "notation", "burden_ratio", "limit_category", "qualification_date",
                     "card_issuance", "feed"):
        queue = queues.CATEGORY_QUEUES[category]
        assert queues.QUEUES[queue].label_ja and queues.QUEUES[queue].label_en
    assert set(queues.STATUS_LABELS) == set(queues.STATUSES)
    assert queues.STATUS_LABELS["resolved_false_positive"] == ("誤検知", "False positive")


@pytest.mark.parametrize("from_status, to_status", [
    ("open", "in_progress"), ("open", "resolved_fixed"), ("open", "resolved_false_positive"),
    ("open", "resolved_wont_fix"), ("in_progress", "open"), ("in_progress", "resolved_fixed"),
    ("resolved_fixed", "open"), ("resolved_false_positive", "open"), ("resolved_wont_fix", "open"),
])
def test_allowed_transitions(from_status, to_status):
    check_transition(from_status, to_status)


@pytest.mark.parametrize("from_status, to_status, message", [
    ("open", "open", "cannot go from 'open' to 'open'"),
    ("resolved_false_positive", "resolved_fixed", "cannot go from 'resolved_false_positive'"),
    ("resolved_fixed", "in_progress", "cannot go from 'resolved_fixed' to 'in_progress'"),
    ("open", "closed", "unknown status 'closed'"),
])
def test_refused_transitions(from_status, to_status, message):
    with pytest.raises(TransitionError, match=message):
        check_transition(from_status, to_status)


@pytest.mark.parametrize("status, expected", [
    ("open", ("open", None)),
    ("in_progress", ("in_progress", None)),
    ("resolved_fixed", ("open", "reopened")),
    ("resolved_false_positive", ("resolved_false_positive", None)),
    ("resolved_wont_fix", ("resolved_wont_fix", None)),
    ("closed_not_seen", ("open", "reopened")),
])
def test_carry_forward(status, expected):
    assert carry_forward(status) == expected
