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

Settings (設定値) are typed: a rule or provider declares each threshold it reads as a
:class:`Param` (name, type, default, doc) in ``params=``; the ``[detectors]`` table of
``reconcile.toml`` is checked by :func:`validate_settings`, which refuses an unknown key or a
value of the wrong type naming the key (a typo is never silently ignored).
"""
from __future__ import annotations

import difflib
import inspect
from dataclasses import dataclass, field
from typing import Any, Callable

import pandas as pd

SEVERITIES = ("high", "medium", "low", "info")
FEED_FRAMES = ("members", "residents", "oqs", "benefit_history", "card_status")
SCAN_INPUTS = ("as_of", "settings", "feed_history")


@dataclass(frozen=True)
class Param:
    """A setting a rule reads from ``settings``: its name, type, default and what it means."""
    name: str
    type: type
    default: Any
    doc: str

    def check(self, value: Any) -> Any:
        """``value`` as this parameter's type, or :class:`SettingsError` naming the key."""
        kind = self.type
        if value is None and self.default is None:
            return None
        ok = (isinstance(value, bool) if kind is bool
              else isinstance(value, (int, float)) and not isinstance(value, bool) if kind is float
              else isinstance(value, int) and not isinstance(value, bool) if kind is int
              else isinstance(value, kind))
        if not ok:
            raise SettingsError(
                f"[detectors] {self.name} は {kind.__name__} で指定してください（値: {value!r}）",
                f"[detectors] {self.name} must be {kind.__name__}, got {value!r}", key=self.name)
        return float(value) if kind is float else value


class SettingsError(ValueError):
    """A ``[detectors]`` setting that no rule declares, or of the wrong type (message names the key)."""

    def __init__(self, ja: str, en: str, *, key: str):
        self.ja, self.en, self.key = ja, en, key
        super().__init__(f"{ja} / {en}")


@dataclass(frozen=True)
class Rule:
    rule_id: str
    category: str
    severity: str
    requires: tuple[str, ...]
    summary_ja: str
    summary_en: str
    func: Callable[..., pd.DataFrame] = field(repr=False)
    settings: tuple[Param, ...] = ()

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
    settings: tuple[Param, ...] = ()

    @property
    def params(self) -> tuple[str, ...]:
        return tuple(inspect.signature(self.func).parameters)


RULES: dict[str, Rule] = {}
PROVIDERS: dict[str, Provider] = {}


def rule(rule_id: str, *, category: str, severity: str, requires: tuple[str, ...],
         summary_ja: str, summary_en: str, params: tuple[Param, ...] = ()) -> Callable:
    """Register a rule function under ``rule_id``; a duplicate id is refused.

    ``params`` declares the settings the rule reads (see :class:`Param`).
    """
    if severity not in SEVERITIES:
        raise ValueError(f"{rule_id}: unknown severity {severity!r}")
    unknown = set(requires) - set(FEED_FRAMES)
    if unknown:
        raise ValueError(f"{rule_id}: requires unknown feed files {sorted(unknown)}")

    def register(func: Callable[..., pd.DataFrame]) -> Callable[..., pd.DataFrame]:
        if rule_id in RULES:
            raise ValueError(f"rule {rule_id} is already registered by {RULES[rule_id].func.__module__}")
        RULES[rule_id] = Rule(rule_id, category, severity, tuple(requires), summary_ja, summary_en, func,
                              tuple(params))
        return func

    return register


def provider(name: str, *, params: tuple[Param, ...] = ()) -> Callable:
    """Register a derived input computed once per scan and passed to every rule asking for it."""
    def register(func: Callable[..., Any]) -> Callable[..., Any]:
        if name in PROVIDERS or name in FEED_FRAMES or name in SCAN_INPUTS:
            raise ValueError(f"input {name} is already defined")
        PROVIDERS[name] = Provider(name, func, tuple(params))
        return func

    return register


# Keys the pipeline itself passes in ``settings`` (not read from reconcile.toml by a rule).
INTERNAL_SETTINGS = frozenset({"feed_stats_extra"})


def _matcher_params() -> tuple[Param, ...]:
    """The matcher's thresholds (:data:`matchers.settings.DEFAULTS`), typed by their defaults."""
    from matchers.settings import DEFAULTS

    out = []
    for name, default in DEFAULTS.items():
        kind = type(default) if default is not None else str
        out.append(Param(name, float if kind is float else kind, default, "matchers.settings"))
    return tuple(out)


def declared_settings() -> dict[str, Param]:
    """Every setting a registered rule or provider declares (plus the matcher's), by name."""
    import detectors.rules  # noqa: F401  (registers every rule module)

    declared: dict[str, Param] = {p.name: p for p in _matcher_params()}
    for owner in (*RULES.values(), *PROVIDERS.values()):
        for param in owner.settings:
            declared[param.name] = param
    return declared


def setting(settings: Any, name: str) -> Any:
    """The value of declared setting ``name`` in ``settings`` (its default when absent)."""
    param = declared_settings()[name]
    value = (settings or {}).get(name, param.default)
    return param.check(value)


def validate_settings(mapping: Any) -> dict[str, Any]:
    """The ``[detectors]`` table checked against the declared settings; returns the typed values.

    An unknown key (a typo) or a value of the wrong type raises :class:`SettingsError` naming
    the key and, for a typo, the closest declared names.
    """
    declared = declared_settings()
    out: dict[str, Any] = {}
    for key, value in dict(mapping or {}).items():
        if key in INTERNAL_SETTINGS:
            out[key] = value
            continue
        if key not in declared:
            close = difflib.get_close_matches(key, declared, n=3)
            hint_ja = f"（候補: {', '.join(close)}）" if close else ""
            hint_en = f" (did you mean {', '.join(close)}?)" if close else ""
            raise SettingsError(f"[detectors] に未知の設定 {key} があります{hint_ja}",
                                f"unknown setting [detectors] {key}{hint_en}", key=key)
        out[key] = declared[key].check(value)
    return out
