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

Dates are sane between ``DATE_MIN`` and ``DATE_MAX``. A birth date after ``as_of`` is *not*
quarantined: it is a real date, and the detector QUAL_DATE_INVALID reports it as a finding
(quarantining it here would silence that rule).
"""
from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from typing import Any

import pandas as pd

from reconcile.feeds import spec

DATE_MIN = "1890-01-01"
DATE_MAX = "2100-12-31"
INSURER_NUMBER_PATTERN = r"^(?:\d{6}|\d{8})$"
NAME_PRESENT = "_name_present"  # helper column: name_kanji, else name_alpha

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


def reason_text(code: str, stage: str, reasons: dict[str, tuple[str, str]] = REASONS) -> str:
    ja, en = reasons[code]
    return f"{code} [{stage}]: {ja} / {en}"


@dataclass(frozen=True)
class Check:
    """What a failing row of one expectation means for quarantine."""
    column: str      # the column named in quarantine
    reason: str      # reason code (REASONS)


def build_suite(feed_file: spec.FeedFile, columns: list[str], name: str):
    """The expectation suite of one feed file over the columns the normalised frame has.

    Returns ``(suite, checks)`` where ``checks[i]`` says how expectation ``i`` maps to quarantine.
    """
    import great_expectations as gx
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
    if len(key) == 1:
        expectations.append((gxe.ExpectColumnValuesToBeUnique(column=key[0]), Check(key[0], "duplicate_key")))
    elif len(key) > 1:
        expectations.append((gxe.ExpectCompoundColumnsToBeUnique(column_list=key),
                             Check("+".join(key), "duplicate_key")))

    suite = gx.ExpectationSuite(name=name)
    checks: list[Check | None] = []
    for expectation, check in expectations:
        suite.add_expectation(expectation)
        checks.append(check)
    return suite, checks


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
    """An ephemeral GX context for one feed; ``validate`` runs one file's suite."""

    def __init__(self) -> None:
        import great_expectations as gx
        from great_expectations.data_context.types.base import ProgressBarsConfig

        logging.getLogger("great_expectations").setLevel(logging.WARNING)
        self.gx_version = gx.__version__
        self.context = gx.get_context(mode="ephemeral")
        self.context.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
        self.datasource = self.context.data_sources.add_pandas("feed")

    def validate(self, feed_file: spec.FeedFile, frame: pd.DataFrame, file_name: str
                 ) -> tuple[dict[str, Any], pd.DataFrame]:
        """Validate the normalised ``frame`` (index = line) → (JSON summary, quarantine rows)."""
        suite, checks = build_suite(feed_file, list(frame.columns), name=f"{feed_file.kind}_suite")
        suite = self.context.suites.add_or_update(suite)
        asset = self.datasource.add_dataframe_asset(name=f"{feed_file.kind}_{id(frame)}")
        batch = asset.add_batch_definition_whole_dataframe("whole").get_batch(batch_parameters={"dataframe": frame})
        result = batch.validate(suite, result_format={"result_format": "COMPLETE"})

        summary_rows, quarantine = [], []
        # Results come back in the suite's order; match them to checks by expectation id.
        check_by_id = {exp.id: check for exp, check in zip(suite.expectations, checks)}
        for item in result.results:
            config = item.expectation_config
            check = check_by_id.get(config.id)
            info = item.result or {}
            raised = _exception_message(item.exception_info)
            kwargs = {k: _jsonable(v) for k, v in config.kwargs.items() if k in ("column", "column_list", "column_set",
                                                                   "value_set", "min_value", "max_value", "regex")}
            summary_rows.append({
                "expectation": config.type, **kwargs,
                "success": bool(item.success),
                "element_count": _number(info.get("element_count")),
                "unexpected_count": _number(info.get("unexpected_count")),
                "unexpected_percent": _number(info.get("unexpected_percent")),
                **({"exception": raised} if raised else {}),
            })
            if raised:
                log.warning("GX expectation %s on %s could not be evaluated: %s", config.type, file_name, raised)
            lines = info.get("unexpected_index_list") or []
            if check is None or not lines:
                continue
            # With a named index GX reports rows as dicts holding the index (``line``) value.
            lines = pd.Index([int(row["line"]) if isinstance(row, dict) else int(row) for row in lines])
            if check.reason == "duplicate_key":
                key = list(feed_file.unique_key)
                group = frame.loc[lines, key].sort_index()
                lines = group.index[group.duplicated(keep="first")]
                values = group.loc[lines].astype("string").agg("|".join, axis=1) if len(lines) else []
            elif check.reason in ("missing_required", "name_missing"):
                values = [""] * len(lines)
            else:
                values = frame.loc[lines, check.column].astype("string").fillna("")
            quarantine.append(pd.DataFrame({
                "file": file_name, "line": lines.to_numpy(dtype="int64"), "column": check.column,
                "value": pd.array(list(values), dtype="string"),
                "reason": reason_text(check.reason, "gx"),
            }))
        statistics = result.statistics
        summary = {
            "gx_version": self.gx_version,
            "suite": suite.name,
            "success": bool(result.success),
            "evaluated_expectations": int(statistics.get("evaluated_expectations", 0)),
            "successful_expectations": int(statistics.get("successful_expectations", 0)),
            "unsuccessful_expectations": int(statistics.get("unsuccessful_expectations", 0)),
            "expectations": summary_rows,
        }
        self.datasource.delete_asset(asset.name)
        frame_q = pd.concat(quarantine, ignore_index=True) if quarantine else None
        return summary, frame_q
