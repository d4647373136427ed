"""照合の設定値 / matcher thresholds and their defaults — the one place they live.

The engine passes the ``[detectors]`` table of the config file as ``settings``; any key missing
there takes the default below. Nothing else in the matcher or the mis-link rules hard-codes a
threshold.
"""
from __future__ import annotations

from typing import Any, Mapping

DEFAULTS: dict[str, Any] = {
    # MISLINK_SUSPECTED when the probability that the link is wrong reaches this (0.3: recall 1.000,
    # precision 0.992 on the training seeds 1–3 of benchmarks/train_matcher.py; never tuned on
    # the benchmark seeds).
    "mislink_queue_threshold": 0.3,
    # … and the finding is `high` (else `medium`) from this probability on.
    "mislink_high_threshold": 0.9,
    # NOTATION_DIFFERENCE only when the link is not suspected, birth date and sex agree exactly,
    # every name difference is explained by a notation level, and the pair's own same-person
    # probability is at least this (low on purpose: a stale address or a member living
    # elsewhere lowers it without making the name any less a notation variant).
    "notation_min_same_probability": 0.25,
    # NUMBER_SHARED: two members holding one number are different persons below this
    # same-person probability (judged on names, birth date and sex).
    "number_shared_same_threshold": 0.5,
    # A resolved candidate is "the member" (a last-four-only member's resident, the person a
    # mis-link suggests) from this same-person probability on; below it nobody matches.
    "resolved_min_same_probability": 0.5,
    # Blocking: a block key shared by more residents than this is not used (common names
    # without birth date would otherwise explode the pair count).
    "block_max_residents": 60,
    # Candidates listed in the evidence.
    "top_candidates": 3,
    # A model JSON to use instead of the shipped one (``reconcile train`` writes one).
    "mislink_model_path": None,
}


def resolve_settings(settings: Mapping[str, Any] | None) -> dict[str, Any]:
    """Defaults overridden by the given mapping (unknown keys are kept for other rules)."""
    merged = dict(DEFAULTS)
    for key, value in (settings or {}).items():
        merged[key] = value
    return merged
