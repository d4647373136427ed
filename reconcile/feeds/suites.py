"""検証スイート / Great Expectations suites, one per feed file, built in code.

Each feed file gets an expectation suite derived from :mod:`reconcile.feeds.spec`:
required columns present, required values non-null (name_kanji *or* name_alpha for names),
value sets, insurer_number format (6 or 8 digits), date sanity, and key uniqueness. The suite
runs on the *normalised* frame (canonical codes, real dates), indexed by the physical line, in
an ephemeral GX context with ``result_format=COMPLETE``; every failing row comes back through
GX's ``unexpected_index_list`` (= lines) and goes to quarantine.

Two paths catch bad rows (the quarantine reason says which, ``[normalise]`` or ``[gx]``):
values that cannot be normalised at all (a date that is not a date, an unknown code, an
individual number that is not 12 digits) are caught while normalising and removed before GX
runs; everything GX can express on canonical values is GX's. Value-set expectations over
columns the normaliser already mapped (sex, burden ratio, limit category) therefore pass by
construction on the frame GX sees; they stay in the suite as the declared contract.

How it runs on 1M-row files (GX's fixed cost per expectation and per row is high):
- value expectations (non-null, value sets, format, date range) run on a frame of each
  column's *distinct* values — a value's verdict does not depend on its row — and every
  unexpected value is mapped back to all rows holding it;
  columns with many distinct values (dates) get a frame of their own, so that the few-valued
  ones are not padded to the dates' length (GX fingerprints and filters whole batches);
- key uniqueness runs on every row, on one int64 code of the key columns (equal exactly when
  the keys are); the rows GX flags are re-judged on their real key before the later
  occurrences are quarantined.
The summary says which (``checked``: ``distinct_values`` or ``rows``) and counts rows.

Dates are sane between ``DATE_MIN`` and ``DATE_MAX``. A birth date after ``as_of`` is *not*
quarantined: it is a real date, and the detector QUAL_DATE_INVALID reports it as a finding
(quarantining it here would silence that rule).
"""
from __future__ import annotations

import datetime as dt
import logging
import sys
import threading
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from reconcile.feeds import spec

DATE_MIN = "1890-01-01"
DATE_MAX = "2100-12-31"
INSURER_NUMBER_PATTERN = r"^(?:\d{6}|\d{8})$"
NAME_PRESENT = "_name_present"  # helper column: name_kanji, else name_alpha
KEY_FINGERPRINT = "_key"        # helper column: 64-bit hash of the unique-key columns

# reason code → (日本語, English)
REASONS = {
    "missing_required": ("必須項目が空です", "required value missing"),
    "name_missing": ("氏名（漢字・アルファベットとも）が空です", "no name (name_kanji and name_alpha both empty)"),
    "not_in_set": ("定義にないコード値です", "value not in the code table"),
    "bad_format": ("形式が不正です（保険者番号は6桁または8桁）", "bad format (insurer number must be 6 or 8 digits)"),
    "out_of_range": (f"日付が範囲外です（{DATE_MIN}〜{DATE_MAX}）", f"date out of range ({DATE_MIN}..{DATE_MAX})"),
    "duplicate_key": ("キーが重複しています（最初の行を採用し、後の行を隔離）",
                      "duplicate key (the first occurrence is kept, later ones are quarantined)"),
}

log = logging.getLogger(__name__)


_import_lock = threading.Lock()
_import_thread: threading.Thread | None = None


def import_in_background() -> None:
    """Start importing great_expectations on a thread. Its import costs ~6 s of CPU, the largest
    fixed cost of ingest (it pulls in scipy, altair, SQLAlchemy …), and is pure Python; the
    files' reading and normalising is mostly Arrow and numpy, which release the GIL, so the
    import runs beside the first file instead of before it. :class:`Validator` waits for it."""
    global _import_thread
    with _import_lock:
        if _import_thread is not None or "great_expectations" in sys.modules:
            return

        def run() -> None:
            try:
                import great_expectations  # noqa: F401
                import great_expectations.expectations  # noqa: F401
            except Exception:  # noqa: BLE001 - the caller's own import raises it where it is handled
                pass

        _import_thread = threading.Thread(target=run, name="gx-import", daemon=True)
        _import_thread.start()


def _await_import() -> None:
    """Let a background import of GX finish before using it (never a half-imported module);
    without one, import it here with the cyclic garbage collector paused: the import creates
    ~400k objects, and the full collections they trigger cost ~0.5 s of CPU (nothing it makes
    is garbage)."""
    thread = _import_thread
    if thread is not None:
        thread.join()
    if "great_expectations.expectations" in sys.modules:
        return
    import gc

    enabled = gc.isenabled()
    gc.disable()
    try:
        import great_expectations  # noqa: F401
        import great_expectations.expectations  # noqa: F401
    finally:
        if enabled:
            gc.enable()


def reason_text(code: str, stage: str, reasons: dict[str, tuple[str, str]] = REASONS) -> str:
    ja, en = reasons[code]
    return f"{code} [{stage}]: {ja} / {en}"


@dataclass(frozen=True)
class Check:
    """What a failing row of one expectation means for quarantine."""
    column: str      # the column named in quarantine
    reason: str      # reason code (REASONS)


def expectations_for(feed_file: spec.FeedFile, columns: list[str]) -> list[tuple[Any, Check | None]]:
    """The expectations of one feed file over the columns its normalised frame has, each with
    the :class:`Check` saying what a failing row means for quarantine (``None``: table level)."""
    _await_import()
    import great_expectations.expectations as gxe

    present = set(columns)
    expectations: list[tuple[Any, Check | None]] = []
    required = [c for c in feed_file.required_columns if not (feed_file.name_required and c == "name_kanji")]
    expectations.append((gxe.ExpectTableColumnsToMatchSet(column_set=required, exact_match=False), None))
    for column in required:
        expectations.append((gxe.ExpectColumnValuesToNotBeNull(column=column), Check(column, "missing_required")))
    if feed_file.name_required:
        expectations.append((gxe.ExpectColumnValuesToNotBeNull(column=NAME_PRESENT), Check("name_kanji", "name_missing")))
    for column in feed_file.columns:
        if column.name not in present:
            continue
        value_set: list[Any] | None = None
        if column.value_set is not None:
            value_set = list(column.value_set)
        elif column.kind == spec.SEX:
            value_set = [1, 2]
        elif column.kind == spec.RATIO:
            value_set = [10, 20, 30]
        elif column.kind == spec.LIMIT:
            from detectors.codes import LIMIT_CATEGORIES
            value_set = list(LIMIT_CATEGORIES)
        if value_set is not None:
            expectations.append((gxe.ExpectColumnValuesToBeInSet(column=column.name, value_set=value_set),
                                 Check(column.name, "not_in_set")))
        if column.kind == spec.DATE:
            # datetime bounds: GX would coerce "YYYY-MM-DD" strings to date, which pandas 3
            # refuses to compare with datetime64.
            expectations.append((gxe.ExpectColumnValuesToBeBetween(
                column=column.name, min_value=dt.datetime.fromisoformat(DATE_MIN),
                max_value=dt.datetime.fromisoformat(DATE_MAX)),
                                 Check(column.name, "out_of_range")))
    if "insurer_number" in present:
        expectations.append((gxe.ExpectColumnValuesToMatchRegex(column="insurer_number", regex=INSURER_NUMBER_PATTERN),
                             Check("insurer_number", "bad_format")))
    if feed_file.kind == "benefit_history":
        from detectors.codes import LIMIT_CATEGORIES
        allowed = ["10", "20", "30", *LIMIT_CATEGORIES]
        expectations.append((gxe.ExpectColumnValuesToBeInSet(column="value", value_set=allowed),
                             Check("value", "not_in_set")))
    key = list(feed_file.unique_key)
    if key:
        # Uniqueness runs on one int64 fingerprint of the key columns per row (see Validator.validate).
        expectations.append((gxe.ExpectColumnValuesToBeUnique(column=KEY_FINGERPRINT),
                             Check("+".join(key), "duplicate_key")))

    # meta["check"] ties each GX result back to its quarantine meaning (GX reorders results).
    for position, (expectation, _) in enumerate(expectations):
        expectation.meta = {"check": position}
    return expectations


def build_suite(feed_file: spec.FeedFile, columns: list[str], name: str | None = None):
    """The declared GX expectation suite of one feed file (all its expectations, one suite)."""
    _await_import()
    import great_expectations as gx

    return gx.ExpectationSuite(name=name or f"{feed_file.kind}_suite",
                               expectations=[e for e, _ in expectations_for(feed_file, columns)])


def _exception_message(info: Any) -> str | None:
    """GX reports exceptions flat or keyed by metric; return the first message, if any."""
    if not isinstance(info, dict):
        return None
    if info.get("raised_exception"):
        return str(info.get("exception_message"))
    for nested in info.values():
        if isinstance(nested, dict) and nested.get("raised_exception"):
            return str(nested.get("exception_message"))
    return None


def _jsonable(value: Any) -> Any:
    if isinstance(value, (list, tuple, set)):
        return [_jsonable(v) for v in value]
    if hasattr(value, "isoformat"):
        return value.isoformat()[:10]
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)


def _number(value: Any) -> int | float | None:
    if value is None:
        return None
    return int(value) if float(value).is_integer() else round(float(value), 6)


class Validator:
    """An ephemeral GX context for one feed; ``validate`` runs one file's suite. The context is
    made on the first ``validate`` (after a background import, see :func:`import_in_background`)."""

    def __init__(self) -> None:
        self._gx = None

    def _start(self) -> None:
        if self._gx is not None:
            return
        _await_import()
        import great_expectations as gx
        from great_expectations.data_context.types.base import ProgressBarsConfig

        # GX sets levels on its own child loggers (it announces its temporary docs folder at
        # INFO on every run); stewards and cron mails need only its warnings.
        for name in [n for n in logging.root.manager.loggerDict if n.startswith("great_expectations")]:
            logging.getLogger(name).setLevel(logging.WARNING)
        logging.getLogger("great_expectations").setLevel(logging.WARNING)
        self.gx_version = gx.__version__
        self.context = gx.get_context(mode="ephemeral")
        self.context.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
        self.datasource = self.context.data_sources.add_pandas("feed")
        self.batches = self.datasource.add_dataframe_asset("frame").add_batch_definition_whole_dataframe("whole")
        self._gx = gx

    def validate(self, feed_file: spec.FeedFile, frame: pd.DataFrame, file_name: str
                 ) -> tuple[dict[str, Any], pd.DataFrame | None]:
        """Validate the normalised ``frame`` (index = line) → (JSON summary, quarantine rows).

        The file's suite runs as two or three GX validations: value expectations on frames of
        *distinct* values per column (a value's verdict does not depend on its row; a 1M-row
        file has ~40k distinct dates: those columns in a frame of their own), whose unexpected
        values are mapped back to every row holding them; key uniqueness on one code per row of
        the key columns, whose unexpected rows are lines.
        """
        self._start()
        pairs = expectations_for(feed_file, list(frame.columns))
        suite_name = f"{feed_file.kind}_suite"
        is_key = [c is not None and c.reason == "duplicate_key" for _, c in pairs]
        value_columns = {getattr(e, "column", None) for e, c in pairs
                         if c is not None and c.reason in ("not_in_set", "bad_format", "out_of_range")}
        presence_columns = {getattr(e, "column", None) for e, c in pairs
                            if c is not None and c.reason in ("missing_required", "name_missing")}
        distinct = _distinct_frames(frame, sorted(value_columns), sorted(presence_columns - value_columns),
                                    all_columns=list(frame.columns))
        # (part, frame, expectations run on it): value and presence expectations on the frame that
        # holds their column's distinct values (table-level ones on the first), keys on the rows
        parts = [(name, data, [e for (e, _), key in zip(pairs, is_key)
                               if not key and (getattr(e, "column", None) in answers or
                                               (getattr(e, "column", None) is None and name == "values"))])
                 for name, (data, answers) in zip(("values", "values_long"), distinct)]
        parts.append(("keys", _key_frame(frame, list(feed_file.unique_key)),
                      [e for (e, _), key in zip(pairs, is_key) if key]))

        summary_rows, quarantine = [], []
        statistics = {"evaluated_expectations": 0, "successful_expectations": 0, "unsuccessful_expectations": 0}
        success = True
        for part, data, selected in parts:
            if not selected:
                continue
            part_suite = self._gx.ExpectationSuite(name=f"{suite_name}.{part}", expectations=selected)
            batch = self.batches.get_batch(batch_parameters={"dataframe": data})
            result = batch.validate(part_suite, result_format={"result_format": "COMPLETE"})
            success = success and bool(result.success)
            for k in statistics:
                statistics[k] += int(result.statistics.get(k, 0))
            for item in result.results:
                config = item.expectation_config
                check = pairs[config.meta["check"]][1]
                info = item.result or {}
                raised = _exception_message(item.exception_info)
                if raised:
                    log.warning("GX expectation %s on %s could not be evaluated: %s", config.type, file_name, raised)
                kwargs = {k: _jsonable(v) for k, v in config.kwargs.items() if k in (
                    "column", "column_list", "column_set", "value_set", "min_value", "max_value", "regex")}
                if kwargs.get("column") == KEY_FINGERPRINT:
                    kwargs = {"column": KEY_FINGERPRINT, "key_columns": list(feed_file.unique_key)}
                lines, values = self._failing_rows(feed_file, frame, data, part, check, info,
                                                   config.kwargs.get("column"))
                summary_rows.append({
                    "expectation": config.type, **kwargs, "success": bool(item.success),
                    "checked": "rows" if part == "keys" else "distinct_values",
                    "element_count": _number(info.get("element_count")),
                    "unexpected_count": _number(info.get("unexpected_count")),
                    "unexpected_rows": int(len(lines)) if check is not None else None,
                    **({"exception": raised} if raised else {}),
                })
                if len(lines):
                    quarantine.append(pd.DataFrame({
                        "file": file_name, "line": np.asarray(lines, dtype="int64"), "column": check.column,
                        "value": pd.array(list(values), dtype="string"), "reason": reason_text(check.reason, "gx"),
                    }))
        summary = {
            "gx_version": self.gx_version, "suite": suite_name, "success": success,
            **statistics, "expectations": summary_rows,
        }
        return summary, (pd.concat(quarantine, ignore_index=True) if quarantine else None)

    @staticmethod
    def _failing_rows(feed_file: spec.FeedFile, frame: pd.DataFrame, data: pd.DataFrame, part: str,
                      check: "Check | None", info: dict, gx_column: str | None
                      ) -> tuple[np.ndarray, list[str]]:
        """The lines (and shown values) of rows failing one expectation."""
        unexpected = info.get("unexpected_index_list") or []
        if check is None or not unexpected:
            return np.zeros(0, dtype=np.int64), []
        # With a named index GX reports rows as dicts holding the index value; else positions.
        labels = [row["line"] if isinstance(row, dict) and "line" in row else row for row in unexpected]
        if part == "keys":
            lines = pd.Index([int(label) for label in labels])
            group = frame.loc[lines, list(feed_file.unique_key)].sort_index()
            later = group.duplicated(keep="first")
            shown = group[later].astype("string").agg("|".join, axis=1).tolist() if later.any() else []
            return group.index[later].to_numpy(dtype=np.int64), shown
        column = gx_column
        bad_values = data[column].iloc[[int(label) for label in labels]]
        hit = frame[column].isin(bad_values.dropna().unique())
        if bad_values.isna().any():
            hit = hit | frame[column].isna()
        hit = hit.fillna(False).astype(bool)
        if check.reason in ("missing_required", "name_missing"):
            shown = [""] * int(hit.sum())
        else:
            shown = frame.loc[hit, column].astype("string").fillna("").tolist()
        return frame.index[hit.to_numpy()].to_numpy(dtype=np.int64), shown


def _key_frame(frame: pd.DataFrame, key: list[str]) -> pd.DataFrame:
    """Rows with a complete key, as one int64 code per row (index = line): equal codes exactly
    when the keys are equal.

    GX's uniqueness check on one integer column costs a fraction of the compound check on
    strings. The code combines each key column's factorisation (Arrow's hash table in C) rather
    than hashing the strings row by row in pandas (~1 µs a value on Arrow strings); flagged rows
    are still re-judged on their real key columns before anything is quarantined. Rows missing
    a key part are left to the not-null expectations.
    """
    if not key:
        return frame.iloc[:0, :0]
    complete = frame[key].notna().all(axis=1).to_numpy()
    everything = bool(complete.all())
    codes, distinct = None, 1
    for column in key:
        values = frame[column] if everything else frame[column][complete]
        column_codes, uniques = pd.factorize(values)
        if codes is None:
            codes, distinct = column_codes.astype(np.int64), len(uniques)
        elif distinct * max(len(uniques), 1) < 1 << 62:
            codes, distinct = codes * len(uniques) + column_codes, distinct * max(len(uniques), 1)
        else:  # renumber densely so the product never overflows int64
            codes, first = pd.factorize(codes * len(uniques) + column_codes)
            distinct = len(first)
    index = frame.index if everything else frame.index[complete]
    return pd.DataFrame({KEY_FINGERPRINT: np.asarray(codes, dtype=np.int64)}, index=index)


# A value column with at most this many distinct values is checked in the small frame; longer
# ones (dates: ~40k distinct in a 1M-row file) in a frame of their own. GX fingerprints every
# batch (hashing each cell) and filters the whole batch for each expectation, so padding the
# few-valued columns to the length of the dates would cost more than checking them.
SHORT_COLUMN_VALUES = 1024


def _distinct_frames(frame: pd.DataFrame, value_columns: list[str], presence_columns: list[str],
                     all_columns: list[str]) -> list[tuple[pd.DataFrame, set[str]]]:
    """Frames holding, per column, its distinct values (value checks) or one present value and
    one missing value (presence checks), each with the columns whose expectations it answers:
    the small frame (every column, for the table-level check too) and, when a value column has
    more than SHORT_COLUMN_VALUES distinct values, the frame of those columns. Columns are padded
    to their frame's length by repeating their first value."""
    parts: dict[str, pd.Series] = {}
    for column in value_columns:
        # first-occurrence order, like drop_duplicates (Arrow's / numpy's hash table, no filter)
        values = frame[column]
        parts[column] = pd.Series(pd.unique(values.array), dtype=values.dtype)
    for column in presence_columns:
        values = frame[column]
        missing = values.isna().to_numpy()
        picks = [int(np.argmin(missing))] if len(missing) and not missing.all() else []
        if missing.any():
            picks.append(int(np.argmax(missing)))
        parts[column] = values.iloc[picks]
    long_columns = [c for c in all_columns if c in parts and len(parts[c]) > SHORT_COLUMN_VALUES]
    short = {c: parts[c] if c in parts and c not in long_columns else frame[c].iloc[:1] for c in all_columns}
    frames = [(_padded(short, all_columns, empty=len(frame) == 0), set(all_columns) - set(long_columns))]
    if long_columns:
        frames.append((_padded({c: parts[c] for c in long_columns}, long_columns, empty=False), set(long_columns)))
    return frames


def _padded(parts: dict[str, pd.Series], columns: list[str], empty: bool) -> pd.DataFrame:
    length = 0 if empty else max((len(p) for p in parts.values()), default=0)
    padded = {}
    for column in columns:
        values = parts[column]
        positions = np.concatenate([np.arange(len(values)), np.zeros(max(length - len(values), 0), dtype=np.int64)])
        padded[column] = values.iloc[positions[:length]].reset_index(drop=True) if len(values) else values.reset_index(drop=True)
    return pd.DataFrame(padded, columns=columns)
