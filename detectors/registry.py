"""Rule registry (ルール登録簿): every finding the product raises comes from a rule declared here.

A rule is data plus one small function (after pandera's registered checks)::

    @rule("BURDEN_RATIO_OQS_MISMATCH", category="burden_ratio", severity="high",
          requires=("members", "oqs"),
          summary_ja="一部負担割合が保険者 {ratio_insurer}% と中間サーバー {ratio_oqs}% で異なる",
          summary_en="Burden ratio differs: insurer {ratio_insurer}%, online copy {ratio_oqs}%")
    def burden_ratio_oqs_mismatch(members, oqs, as_of):
        '''保険者と中間サーバーで一部負担割合が異なる / Burden ratio differs between insurer and online copy.'''
        ...
        return failing_rows

The function's parameters name its inputs; the engine passes them by name:

- the canonical feed frames ``members``, ``residents``, ``oqs``, ``benefit_history``,
  ``card_status`` (see :mod:`detectors.schema`); ``requires`` lists the feed files without
  which the rule is skipped (the scan summary says which and why);
- ``as_of`` (基準日, a ``pd.Timestamp``), ``settings`` (a mapping of thresholds),
  ``feed_history`` (statistics of the insurer's earlier feeds, possibly empty);
- any *provider*: a derived frame computed once per scan and shared (e.g. ``linked``, the
  resident each member's number points to; ``resolution``, the matcher's verdict).

The function returns only the failing rows. Reserved output columns:

==================================  =============================================================
``insurer_number``, ``member_id``   the member (may be NA for feed-level findings)
``facts``                           string of the underlying facts; part of the fingerprint, so
                                    the same member + rule + facts give the same ``finding_id``
                                    across scans (default: the evidence as canonical JSON)
``score``                           0..1 confidence (default 1.0)
``severity``                        per-row override of the rule's severity
``category``                        per-row override of the rule's category (a rule spanning two)
``suggested_resident_id``           mis-link rules: the probable right person
``suggested_individual_number_last4``
``evidence``                        a dict per row; when absent, every other column is evidence
==================================  =============================================================

Summaries are the rule's templates formatted with the row's columns and evidence keys.
"""
from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from typing import Any, Callable

import pandas as pd

SEVERITIES = ("high", "medium", "low", "info")
FEED_FRAMES = ("members", "residents", "oqs", "benefit_history", "card_status")
SCAN_INPUTS = ("as_of", "settings", "feed_history")


@dataclass(frozen=True)
class Rule:
    rule_id: str
    category: str
    severity: str
    requires: tuple[str, ...]
    summary_ja: str
    summary_en: str
    func: Callable[..., pd.DataFrame] = field(repr=False)

    @property
    def params(self) -> tuple[str, ...]:
        return tuple(inspect.signature(self.func).parameters)

    @property
    def description(self) -> str:
        """The docstring's first line: what a steward reads about the rule."""
        return (inspect.getdoc(self.func) or "").splitlines()[0] if self.func.__doc__ else ""


@dataclass(frozen=True)
class Provider:
    name: str
    func: Callable[..., Any] = field(repr=False)

    @property
    def params(self) -> tuple[str, ...]:
        return tuple(inspect.signature(self.func).parameters)


RULES: dict[str, Rule] = {}
PROVIDERS: dict[str, Provider] = {}


def rule(rule_id: str, *, category: str, severity: str, requires: tuple[str, ...],
         summary_ja: str, summary_en: str) -> Callable:
    """Register a rule function under ``rule_id``; a duplicate id is refused."""
    if severity not in SEVERITIES:
        raise ValueError(f"{rule_id}: unknown severity {severity!r}")
    unknown = set(requires) - set(FEED_FRAMES)
    if unknown:
        raise ValueError(f"{rule_id}: requires unknown feed files {sorted(unknown)}")

    def register(func: Callable[..., pd.DataFrame]) -> Callable[..., pd.DataFrame]:
        if rule_id in RULES:
            raise ValueError(f"rule {rule_id} is already registered by {RULES[rule_id].func.__module__}")
        RULES[rule_id] = Rule(rule_id, category, severity, tuple(requires), summary_ja, summary_en, func)
        return func

    return register


def provider(name: str) -> Callable:
    """Register a derived input computed once per scan and passed to every rule asking for it."""
    def register(func: Callable[..., Any]) -> Callable[..., Any]:
        if name in PROVIDERS or name in FEED_FRAMES or name in SCAN_INPUTS:
            raise ValueError(f"input {name} is already defined")
        PROVIDERS[name] = Provider(name, func)
        return func

    return register
