"""Run registered rules over canonical frames and return findings as one frame (no I/O)."""
from __future__ import annotations

import hashlib
import json
import math
import string
import time
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Callable, Iterable, Mapping

import numpy as np
import pandas as pd

from detectors.registry import FEED_FRAMES, PROVIDERS, RULES, Rule

FINDING_COLUMNS = [
    "finding_id", "rule_id", "category", "severity", "score", "insurer_number", "member_id",
    "summary_ja", "summary_en", "evidence", "suggested_resident_id",
    "suggested_individual_number_last4", "facts",
]
_RESERVED = {"insurer_number", "member_id", "facts", "score", "severity", "category", "evidence",
             "suggested_resident_id", "suggested_individual_number_last4"}


class MissingInput(Exception):
    """An input a rule needs cannot be had (its feed file is absent)."""


@dataclass
class RuleRun:
    findings: pd.DataFrame
    skipped: list[tuple[str, str]] = field(default_factory=list)   # (rule_id, reason)
    seconds: dict[str, float] = field(default_factory=dict)        # per rule and provider


def json_default(value: Any) -> Any:
    """JSON for values pandas hands back: timestamps as ISO dates, NA as null, numpy scalars."""
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, (pd.Timestamp, datetime)):
        return value.date().isoformat() if value == value.normalize() else value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return None if math.isnan(value) else float(value)
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    if isinstance(value, np.ndarray):
        return value.tolist()
    return str(value)


_PLAIN = frozenset({str, int, bool})


def _clean(value: Any) -> Any:
    """Nested NaN/NA/NaT to None so evidence JSON is valid and stable."""
    kind = type(value)
    if kind in _PLAIN:      # fast path for the common leaves
        return value
    if kind is float:
        return None if value != value else value
    if kind is dict:        # plain leaves kept in place, without a call each (evidence has ~80)
        return {(k if type(k) is str else str(k)): (v if (t := type(v)) in _PLAIN or (t is float and v == v)
                                                   else _clean(v)) for k, v in value.items()}
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def to_json(value: Any) -> str:
    return json.dumps(_clean(value), ensure_ascii=False, sort_keys=True, default=json_default)


def fingerprint(rule_id: str, insurer_number: Any, member_id: Any, facts: str) -> str:
    """Stable finding id: same member + rule + underlying facts ⇒ same id across scans."""
    parts = [rule_id, "" if pd.isna(insurer_number) else str(insurer_number),
             "" if pd.isna(member_id) else str(member_id), facts]
    return hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()[:24]


class Inputs:
    """Resolves a rule's parameters by name (feed frames, scan inputs, providers computed once);
    ``values`` may be pre-filled with provider results (the Dask engine does)."""

    def __init__(self, frames: Mapping[str, pd.DataFrame | None], scalars: Mapping[str, Any]):
        self.values: dict[str, Any] = dict(scalars)
        self.frames = frames
        self.seconds: dict[str, float] = {}

    def get(self, name: str) -> Any:
        if name in self.values:
            return self.values[name]
        if name in FEED_FRAMES:
            frame = self.frames.get(name)
            if frame is None:
                raise MissingInput(f"{name}.csv is absent from the feed")
            return frame
        if name in PROVIDERS:
            prov = PROVIDERS[name]
            args = {p: self.get(p) for p in prov.params}
            started = time.perf_counter()
            self.values[name] = prov.func(**args)
            self.seconds[f"provider:{name}"] = time.perf_counter() - started
            return self.values[name]
        raise KeyError(f"no input named {name!r} (feed frame, scan input or provider)")


class _Row(dict):
    def __missing__(self, key: str) -> str:
        return "?"


def _shown(v: Any) -> Any:
    return "" if v is None else json_default(v) if not isinstance(v, (str, int, float)) else v


def _format(template: str, values: Mapping[str, Any]) -> str:
    shown = {k: _shown(v) for k, v in values.items()}
    try:
        return template.format_map(_Row(shown))
    except (ValueError, IndexError):
        return template


_FORMATTER = string.Formatter()


def _template_keys(template: str) -> list[str] | None:
    """The plain keys a template reads (``{name}``), or None when it needs the general path."""
    keys: list[str] = []
    try:
        for _, name, spec, _ in _FORMATTER.parse(template):
            if name is None:
                continue
            if not name.isidentifier() or (spec and "{" in spec):
                return None
            keys.append(name)
    except ValueError:
        return None
    return keys


def _format_all(template: str, rows: list[dict], evidence: list[dict]) -> list[str]:
    """``_format(template, {**ev, **row})`` for every row, reading only the keys the template uses."""
    keys = _template_keys(template)
    if keys is None:
        return [_format(template, {**ev, **row}) for row, ev in zip(rows, evidence)]
    if not keys:
        return [_format(template, {}) for _ in rows]
    out = []
    for row, ev in zip(rows, evidence):
        shown = _Row()
        for k in keys:
            if k in row:
                shown[k] = _shown(row[k])
            elif k in ev:
                shown[k] = _shown(ev[k])
        try:
            out.append(template.format_map(shown))
        except (ValueError, IndexError):
            out.append(template)
    return out


def finalise(rule: Rule, raw: pd.DataFrame) -> pd.DataFrame:
    """Stamp a rule's failing rows with id, severity, summaries, evidence JSON and fingerprint."""
    if raw is None or len(raw) == 0:
        return pd.DataFrame(columns=FINDING_COLUMNS)
    frame = raw.reset_index(drop=True)
    n = len(frame)
    if "evidence" in frame.columns:
        evidence = [dict(e) if isinstance(e, Mapping) else {} for e in frame["evidence"]]
    else:
        evidence_cols = [c for c in frame.columns if c not in _RESERVED]
        evidence = frame[evidence_cols].to_dict("records") if evidence_cols else [{} for _ in range(n)]
    evidence = [_clean(e) for e in evidence]
    # Already clean: dump once (to_json would clean a second time).
    dumps = json.JSONEncoder(ensure_ascii=False, sort_keys=True, default=json_default).encode
    evidence_json = [dumps(e) for e in evidence]

    def column(name: str, default: Any) -> list:
        if name in frame.columns:
            return [default if (v is None or (not isinstance(v, str) and pd.isna(v))) else v
                    for v in frame[name].tolist()]
        return [default] * n

    insurer = column("insurer_number", None)
    member = column("member_id", None)
    facts = [str(f) if f is not None else ej for f, ej in zip(column("facts", None), evidence_json)]
    rows = frame.drop(columns=["evidence"], errors="ignore").to_dict("records")
    summaries_ja = _format_all(rule.summary_ja, rows, evidence)
    summaries_en = _format_all(rule.summary_en, rows, evidence)
    out = pd.DataFrame({
        "finding_id": [fingerprint(rule.rule_id, i, m, f) for i, m, f in zip(insurer, member, facts)],
        "rule_id": rule.rule_id,
        # A rule spanning two categories (BENEFIT_HISTORY_DIVERGENCE) may set it per row.
        "category": column("category", rule.category),
        "severity": column("severity", rule.severity),
        "score": [float(s) for s in column("score", 1.0)],
        "insurer_number": insurer,
        "member_id": member,
        "summary_ja": summaries_ja,
        "summary_en": summaries_en,
        "evidence": evidence_json,
        "suggested_resident_id": column("suggested_resident_id", None),
        "suggested_individual_number_last4": column("suggested_individual_number_last4", None),
        "facts": facts,
    })
    # One finding per fingerprint: a rule that reports the same facts twice is reported once.
    return out.drop_duplicates("finding_id", keep="first")


def run_rules(frames: Mapping[str, pd.DataFrame | None], *, as_of: pd.Timestamp,
              settings: Mapping[str, Any] | None = None,
              feed_history: pd.DataFrame | None = None,
              rule_ids: Iterable[str] | None = None,
              on_rule: Callable[[str], None] | None = None,
              values: Mapping[str, Any] | None = None) -> RuleRun:
    """Run the registered rules (or ``rule_ids``) and return their findings and skips;
    ``values``: provider results the caller already has (not computed again)."""
    import detectors.rules  # noqa: F401  (registers every rule module)

    inputs = Inputs(frames, {
        "as_of": pd.Timestamp(as_of).normalize(),
        "settings": dict(settings or {}),
        "feed_history": feed_history if feed_history is not None else pd.DataFrame(),
        **dict(values or {}),
    })
    chosen = [RULES[r] for r in (rule_ids or sorted(RULES))]
    parts, skipped = [], []
    for rule in chosen:
        missing = [name for name in rule.requires if frames.get(name) is None]
        if missing:
            skipped.append((rule.rule_id, ", ".join(f"{m}.csv" for m in missing) + " absent"))
            continue
        try:
            args = {p: inputs.get(p) for p in rule.params}
        except MissingInput as exc:
            skipped.append((rule.rule_id, str(exc)))
            continue
        if on_rule:
            on_rule(rule.rule_id)
        started = time.perf_counter()
        raw = rule.func(**args)
        parts.append(finalise(rule, raw))
        inputs.seconds[rule.rule_id] = time.perf_counter() - started
    parts = [p for p in parts if len(p)]
    findings = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=FINDING_COLUMNS)
    return RuleRun(findings=findings[FINDING_COLUMNS], skipped=skipped, seconds=inputs.seconds)
