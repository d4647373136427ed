"""Run registered rules over canonical frames and return findings as one frame (no I/O)."""
from __future__ import annotations

import hashlib
import json
import itertools
import math
import operator
import string
import time
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Callable, Iterable, Mapping

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from pandas.core.dtypes.cast import maybe_box_native

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


# The one evidence encoding (what json.dumps(..., ensure_ascii=False, sort_keys=True) writes).
_ENCODE = json.JSONEncoder(ensure_ascii=False, sort_keys=True, default=json_default).encode


def to_json(value: Any) -> str:
    return _ENCODE(_clean(value))


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


# --- evidence JSON, built column by column -------------------------------------------------------
# ``to_json`` per finding (clean the dict, then json.dumps with sorted keys) cost ~40 µs a
# NOTATION_DIFFERENCE finding (~80 leaves each). The findings of one rule share a few evidence
# shapes (the same keys, nested the same way), so finalise encodes each leaf *column* once
# (Arrow for the plain string and integer columns) and joins the pieces row-wise in Arrow.
# The text is exactly ``to_json(evidence)``: every leaf is ``to_json(leaf)`` and a dict is
# ``{"key": value, ...}`` in sorted key order with json's default separators.

_QUOTE = json.encoder.encode_basestring            # the C quoter json.dumps uses (ensure_ascii=False)
_NEEDS_ESCAPE = r'[\x00-\x1f"\\]'                   # what that quoter rewrites inside a string
_MAX_SHAPES = 8                                     # distinct evidence shapes tried before per-row


def _leaf_json(value: Any, cache: dict[int, str]) -> str:
    """``to_json(value)`` for one leaf (objects encoded once per identity: shared reason lists)."""
    kind = type(value)
    if kind is str:
        return _QUOTE(value)
    if value is None:
        return "null"
    if kind is int:
        return int.__repr__(value)
    if kind is float:
        return "null" if value != value else float.__repr__(value) if math.isfinite(value) else _ENCODE(value)
    if kind is bool:
        return "true" if value else "false"
    key = id(value)
    text = cache.get(key)
    if text is None:
        text = cache[key] = _ENCODE(_clean(value))
    return text


class _Strings:
    """A leaf column of plain ``str`` values, quoted in bulk by :func:`_resolve` (placeholder)."""
    __slots__ = ("values",)

    def __init__(self, values: list):
        self.values = values


def _json_column(values: list) -> "pa.Array | _Strings":
    """``to_json(v)`` for every value of one leaf column: an Arrow string array, or a
    :class:`_Strings` placeholder when every value is a ``str`` (quoted later, all columns at once)."""
    kinds = set(map(type, values))
    try:
        if kinds == {str}:
            return _Strings(values)
        if kinds == {int}:
            return pc.cast(pa.array(values, pa.int64()), pa.string())
        if kinds == {float}:
            numbers = np.fromiter(values, dtype=float, count=len(values))
            if np.isfinite(numbers).all():
                # Few distinct values (scores, contributions): repr each once; bits, not ==, so
                # 0.0 and -0.0 stay apart.
                bits, inverse = np.unique(numbers.view(np.int64), return_inverse=True)
                texts = pa.array([float.__repr__(float(b)) for b in bits.view(np.float64)], pa.string())
                return texts.take(pa.array(inverse.reshape(-1).astype(np.int64)))
    except (pa.ArrowException, OverflowError):
        pass
    cache: dict[int, str] = {}
    return pa.array([_leaf_json(v, cache) for v in values], pa.string())


def _resolve(pieces: list) -> list:
    """Quote every :class:`_Strings` column: one Arrow array for all of them, one escape check;
    a column with a character JSON escapes is quoted value by value instead."""
    columns = [p for p in pieces if isinstance(p, _Strings)]
    if not columns:
        return pieces
    quoted: dict[int, Any] = {}
    try:
        everything = pa.array(list(itertools.chain.from_iterable(c.values for c in columns)), pa.string())
        escapes = pc.match_substring_regex(everything, _NEEDS_ESCAPE)
        offset = 0
        for column in columns:
            size = len(column.values)
            if pc.any(escapes.slice(offset, size)).as_py():
                quoted[id(column)] = pa.array(list(map(_QUOTE, column.values)), pa.string())
            else:
                quoted[id(column)] = ('"', everything.slice(offset, size), '"')
            offset += size
    except (pa.ArrowException, UnicodeError):     # e.g. a lone surrogate: the C quoter copes
        quoted = {id(c): pa.array(list(map(_QUOTE, c.values)), pa.string()) for c in columns}
    out: list = []
    for piece in pieces:
        if isinstance(piece, _Strings):
            done = quoted[id(piece)]
            out.extend(done if isinstance(done, tuple) else (done,))
        else:
            out.append(piece)
    return out


def _shape(node: dict) -> tuple | None:
    """Sorted (key, sub-shape) pairs of a dict (sub-shape None for a leaf); None for a non-str key."""
    out = []
    for key in sorted(node) if all(type(k) is str for k in node) else ():
        value = node[key]
        sub = None
        if type(value) is dict:
            sub = _shape(value)
            if sub is None:
                return None
        out.append((key, sub))
    return tuple(out) if len(out) == len(node) else None


def _matches(nodes: list, shape: tuple) -> np.ndarray:
    """Which nodes are plain dicts with exactly ``shape``'s keys, nested dicts likewise."""
    keys = {k for k, _ in shape}
    if set(map(type, nodes)) == {dict}:     # the usual case: compared in C, no Python per node
        ok = np.fromiter(map(operator.eq, map(dict.keys, nodes), itertools.repeat(keys)), dtype=bool,
                         count=len(nodes))
    else:
        ok = np.fromiter((type(x) is dict and x.keys() == keys for x in nodes), dtype=bool, count=len(nodes))
    for key, sub in shape:
        if sub is not None and ok.any():
            children = (list(map(operator.itemgetter(key), nodes)) if ok.all()
                        else [x[key] if good else None for x, good in zip(nodes, ok.tolist())])
            ok &= _matches(children, sub)
    return ok


def _shape_pieces(nodes: list, shape: tuple, pieces: list) -> None:
    """Append the literal texts and leaf columns that spell ``nodes`` (all of ``shape``) as JSON."""
    pieces.append("{")
    keys = [k for k, _ in shape]
    columns = [list(map(operator.itemgetter(k), nodes)) for k in keys]
    for j, ((key, sub), values) in enumerate(zip(shape, columns)):
        pieces.append(("" if j == 0 else ", ") + _QUOTE(key) + ": ")
        if sub is None:
            pieces.append(_json_column(values))
        else:
            _shape_pieces(values, sub, pieces)
    pieces.append("}")


def _join(pieces: list, n: int) -> pa.Array:
    """Row-wise concatenation of literal texts and string columns (``n`` rows)."""
    merged: list = []
    for piece in _resolve(pieces):
        if isinstance(piece, str) and merged and isinstance(merged[-1], str):
            merged[-1] += piece
        else:
            merged.append(piece)
    if not any(isinstance(p, pa.Array) for p in merged):
        return pa.array(["".join(merged)] * n, pa.string())
    return pc.binary_join_element_wise(*merged, "")


def evidence_json(evidence: list[dict]) -> pa.Array:
    """``to_json(e)`` for every evidence dict, built per shape and leaf column (see above)."""
    n = len(evidence)
    if n == 0:
        return pa.array([], pa.string())
    order: list[np.ndarray] = []
    parts: list[pa.Array] = []
    rest = np.arange(n)
    for _ in range(_MAX_SHAPES):
        if not len(rest):
            break
        nodes = [evidence[i] for i in rest.tolist()]
        shape = _shape(nodes[0]) if type(nodes[0]) is dict else None
        if shape is None:
            break
        ok = _matches(nodes, shape)
        pieces: list = []
        _shape_pieces([x for x, good in zip(nodes, ok.tolist()) if good], shape, pieces)
        order.append(rest[ok])
        parts.append(_join(pieces, int(ok.sum())))
        rest = rest[~ok]
    if len(rest):
        order.append(rest)
        parts.append(pa.array([_ENCODE(_clean(evidence[i])) for i in rest.tolist()], pa.string()))
    if len(parts) == 1:
        return parts[0]
    where = np.concatenate(order)
    inverse = np.empty(n, dtype=np.int64)
    inverse[where] = np.arange(n)
    return pa.concat_arrays(parts).take(pa.array(inverse))


def _row_values(series: pd.Series) -> list:
    """A column's values as ``DataFrame.to_dict("records")`` gives them."""
    if series.dtype == object or isinstance(series.dtype, pd.api.extensions.ExtensionDtype):
        return list(map(maybe_box_native, series))
    return list(series)


def _day_texts(series: pd.Series) -> tuple[pa.Array, np.ndarray] | None:
    """``json_default`` of every value of a tz-naive datetime column whose non-NaT values are
    all midnight (ISO dates), with the NaT mask; None for any other column."""
    if not (isinstance(series.dtype, np.dtype) and series.dtype.kind == "M"):
        return None
    values = series.to_numpy()
    missing = np.isnat(values)
    days = values.astype("datetime64[D]")
    if (days[~missing] != values[~missing]).any():
        return None
    return pa.array(days, mask=missing).cast(pa.string()), missing


def _series_json(series: pd.Series) -> "pa.Array | _Strings":
    """``_json_column`` of a frame column (dates of a datetime column spelt in Arrow)."""
    days = _day_texts(series)
    if days is None:
        return _json_column(_row_values(series))
    texts, missing = days
    quoted = pc.binary_join_element_wise('"', texts, '"', "")
    return pc.if_else(pa.array(missing), "null", quoted) if missing.any() else quoted


def _summaries(template: str, n: int, lookup: Callable[[str], list | None],
               fallback: Callable[[str], list[str]]) -> pa.Array:
    """``_format(template, {**evidence, **row})`` for every row; ``lookup(key)`` gives a key's
    values (row column first, then evidence; None when neither has the key); ``fallback``
    formats row by row (templates with a format spec or conversion)."""
    try:
        parsed = list(_FORMATTER.parse(template))
    except ValueError:
        parsed = None
    simple = parsed is not None and all(
        name is None or (name.isidentifier() and not spec and conversion is None)
        for _, name, spec, conversion in parsed)
    if not simple:     # a format spec, conversion or attribute: the general per-row path
        return pa.array(fallback(template), pa.string())
    pieces: list = []
    for literal, name, _, _ in parsed:
        if literal:
            pieces.append(literal)
        if name is None:
            continue
        values = lookup(name)
        if values is None:
            pieces.append("?")
            continue
        if isinstance(values, pa.Array):
            pieces.append(values)
            continue
        kinds = set(map(type, values))
        if kinds == {str}:
            pieces.append(pa.array(values, pa.string()))
        else:
            pieces.append(pa.array(["?" if v is _ABSENT else format(_shown(v)) for v in values], pa.string()))
    return _join(pieces, n)


_ABSENT = object()


def _column(frame: pd.DataFrame, name: str, default: Any) -> list:
    """``frame[name]`` as a list with NA as ``default`` (``default`` everywhere when absent)."""
    if name not in frame.columns:
        return [default] * len(frame)
    series = frame[name]
    values = series.tolist()
    missing = series.isna().to_numpy(dtype=bool)
    if missing.any():
        for i in np.flatnonzero(missing).tolist():
            if not isinstance(values[i], str):
                values[i] = default
    return values


def _fingerprints(rule_id: str, insurers: list, members: list, facts: list[str]) -> list[str]:
    """``fingerprint`` of every row (insurers and members already None where NA)."""
    sha = hashlib.sha256
    return [sha("\x1f".join((rule_id, "" if i is None else str(i), "" if m is None else str(m), f)).encode("utf-8"))
            .hexdigest()[:24] for i, m, f in zip(insurers, members, facts)]


def _strings(array: pa.Array) -> pd.arrays.ArrowStringArray:
    return pd.array(array, dtype="str")


def finalise(rule: Rule, raw: pd.DataFrame) -> pd.DataFrame:
    """Stamp a rule's failing rows with id, severity, summaries, evidence JSON and fingerprint."""
    if raw is None or len(raw) == 0:
        return pd.DataFrame(columns=FINDING_COLUMNS)
    frame = raw.reset_index(drop=True)
    n = len(frame)
    row_columns = [c for c in frame.columns if c != "evidence"]
    if "evidence" in frame.columns:
        evidence = [e if type(e) is dict else dict(e) if isinstance(e, Mapping) else {} for e in frame["evidence"]]
        encoded = evidence_json(evidence)

        def from_evidence(key: str) -> list:
            values = [e.get(key, _ABSENT) for e in evidence]
            if set(map(type, values)) <= _PLAIN:      # plain leaves are clean already
                return values
            return [v if v is _ABSENT else _clean(v) for v in values]
    else:
        evidence_cols = [c for c in frame.columns if c not in _RESERVED]
        if evidence_cols:
            flat = {str(c): c for c in evidence_cols}
            pieces: list = []
            for j, key in enumerate(sorted(flat)):
                pieces.append(("{" if j == 0 else ", ") + _QUOTE(key) + ": ")
                pieces.append(_series_json(frame[flat[key]]))
            pieces.append("}")
            encoded = _join(pieces, n)
        else:
            encoded = pa.array(["{}"] * n, pa.string())
        from_evidence = None

    row_cache: dict[str, list | None] = {}

    def lookup(key: str) -> "list | pa.Array | None":
        if key not in row_cache:
            days = _day_texts(frame[key]) if key in row_columns else None
            # a summary shows NaT as json_default's None does: "None"
            row_cache[key] = (days[0].fill_null("None") if days is not None
                              else _row_values(frame[key]) if key in row_columns
                              else from_evidence(key) if from_evidence is not None else None)
        return row_cache[key]

    def fallback(template: str) -> list[str]:
        rows = frame[row_columns].to_dict("records")
        cleaned = ([_clean(e) for e in evidence] if from_evidence is not None
                   else [_clean({str(c): r[c] for c in evidence_cols}) for r in rows])
        return _format_all(template, rows, cleaned)

    insurer = _column(frame, "insurer_number", None)
    member = _column(frame, "member_id", None)
    given = _column(frame, "facts", None)
    if all(f is not None for f in given):
        facts = [str(f) for f in given]
    else:
        texts = encoded.to_pylist()
        facts = [str(f) if f is not None else ej for f, ej in zip(given, texts)]
    rule_id = rule.rule_id
    out = pd.DataFrame({
        "finding_id": _fingerprints(rule_id, insurer, member, facts),
        "rule_id": rule_id,
        # A rule spanning two categories (BENEFIT_HISTORY_DIVERGENCE) may set it per row.
        "category": _column(frame, "category", rule.category),
        "severity": _column(frame, "severity", rule.severity),
        "score": [float(s) for s in _column(frame, "score", 1.0)],
        "insurer_number": insurer,
        "member_id": member,
        "summary_ja": _strings(_summaries(rule.summary_ja, n, lookup, fallback)),
        "summary_en": _strings(_summaries(rule.summary_en, n, lookup, fallback)),
        "evidence": _strings(encoded),
        "suggested_resident_id": _column(frame, "suggested_resident_id", None),
        "suggested_individual_number_last4": _column(frame, "suggested_individual_number_last4", None),
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
