"""フィード取込の手順 / load_feed: files → canonical frames + quarantine + validation summary.

Per file: open (fingerprint, encoding, line numbers) → for each chunk: normalise every
contract column, replace individual numbers by hash/last4/status at once, collect values that
cannot be normalised → drop those rows → GX suite on the normalised frame → drop the rows GX
flags → ``detectors.schema.coerce``.

Decisions (documented for the pipeline and the steward):
- When both ``<stem>.csv`` and ``<stem>.parquet`` exist, the Parquet file is read (typed,
  no encoding question, faster) and the CSV is ignored; the summary says which was read.
- Duplicate keys: the first physical occurrence (among rows that normalised) is kept, every
  later one is quarantined (``duplicate_key``).
- Identifiers (insurer_number, member_id, household_id, resident_id, municipality_code) are
  NFKC-folded so full-width digits join; names and addresses are only stripped.
- Passthrough columns are kept as read, except that any 12-digit run in them is masked
  (``********1234``): no full individual number leaves ingest, whatever the column is called.
- A row with neither ``individual_number`` nor ``individual_number_last4`` is valid
  (number_status ``missing``); when both are given, the last four are taken from the full number.
"""
from __future__ import annotations

import datetime as dt
import json
import logging
import re
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd
import pyarrow as pa

from detectors.schema import FRAMES, coerce
from matchers.memory import release_memory
from reconcile.feeds import reader, spec, suites, values
from reconcile.feeds.model import Feed, FeedRejected
from reconcile.privacy import KnownHashes, mask_series, protect_numbers

log = logging.getLogger(__name__)

QUARANTINE_COLUMNS = ["file", "line", "column", "value", "reason"]

# reason code → (日本語, English) for the normalise and parse paths
NORMALISE_REASONS = {
    "bad_date": ("日付として解釈できません", "not a valid date"),
    "bad_code": ("コード値を解釈できません", "unknown code value"),
    "bad_amount": ("数値として解釈できません", "not a number"),
    "bad_individual_number": ("個人番号が12桁の数字ではありません", "individual number is not 12 digits"),
    "bad_last4": ("個人番号下4桁が4桁の数字ではありません", "last four digits are not 4 digits"),
    "bad_row": ("行を列に分けられません（列数が見出しと不一致、または引用符の誤り）",
                "the row cannot be split into fields (wrong number of fields or a stray quote)"),
}
_KIND_REASON = {
    spec.DATE: "bad_date", spec.SEX: "bad_code", spec.RATIO: "bad_code", spec.LIMIT: "bad_code",
    spec.BOOL: "bad_code", spec.MONEY: "bad_amount", spec.NUMBER: "bad_individual_number",
    spec.LAST4: "bad_last4", spec.BENEFIT_VALUE: "bad_code",
}


def _rejected(file: str, column: str | None, ja: str, en: str) -> FeedRejected:
    where_ja = f"{file}" + (f" の列 {column}" if column else "")
    where_en = f"{file}" + (f", column {column}" if column else "")
    # Japanese and English kept apart (``--lang en`` shows only English); str() is "ja / en".
    return FeedRejected(file, column, values.shown(f"{where_ja}: {ja}"), values.shown(f"{where_en}: {en}"))


def _locate(directory: Path, feed_file: spec.FeedFile) -> Path | None:
    parquet = directory / f"{feed_file.stem}.parquet"
    csv = directory / f"{feed_file.stem}.csv"
    if parquet.is_file():
        return parquet
    if csv.is_file():
        return csv
    return None


# manifest.json keys the contract names, each a string (JSON null = absent).
MANIFEST_STRING_KEYS = ("as_of", "period", "source")
# An as_of further than this from the feed's own latest dates is a warning (not a rejection).
AS_OF_DISTANCE_WARNING_DAYS = 400
# Dates that say how recent a feed is (its latest events); the 99th percentile is used so that
# a few typed-in future dates do not move it.
_EVENT_DATES = {"members": ("acquisition_date", "loss_date", "card_issue_date"),
                "residents": ("status_date", "moved_in_date"), "oqs": ("acquisition_date", "loss_date"),
                "card_status": ("status_as_of",), "benefit_history": ("valid_from",)}


def _manifest_rejected(key: str, ja: str, en: str) -> FeedRejected:
    return FeedRejected("manifest.json", key, values.shown(f"manifest.json のキー {key}: {ja}"),
                        values.shown(f"manifest.json, key {key}: {en}"))


def _check_manifest_types(manifest: dict) -> None:
    """A manifest value of the wrong type rejects the feed naming the key (a number for as_of
    would otherwise be read as nanoseconds since 1970)."""
    for key in MANIFEST_STRING_KEYS:
        value = manifest.get(key)
        if value is not None and not isinstance(value, str):
            kind = type(value).__name__
            raise _manifest_rejected(
                key, f"値の型が違います（{kind}）。文字列で書いてください（例: \"as_of\": \"2026-12-01\"、\"period\": \"2026-12\"）",
                f"wrong type ({kind}); write it as a string (e.g. \"as_of\": \"2026-12-01\", \"period\": \"2026-12\")")


def _resolve_as_of(as_of: Any, manifest: dict) -> pd.Timestamp:
    if as_of is None:
        as_of = manifest.get("as_of")
        origin = "manifest.json"
    else:
        origin = "as_of"
    if as_of is None:
        return pd.Timestamp.now().normalize()
    if isinstance(as_of, str):
        parsed = values.parse_date(as_of)
        if parsed is None:
            raise _rejected(origin, "as_of", f"基準日を解釈できません: {as_of!r}", f"cannot read as_of {as_of!r}")
        return pd.Timestamp(parsed)
    if isinstance(as_of, bool) or not isinstance(as_of, (dt.date, np.datetime64)):
        raise _rejected(origin, "as_of", f"基準日の型が違います（{type(as_of).__name__}）",
                        f"as_of of the wrong type ({type(as_of).__name__})")
    return pd.Timestamp(as_of).normalize()


def _resolve_period(period: Any, as_of: pd.Timestamp) -> str:
    """対象年月 / period: manifest ``period`` as YYYY-MM (YYYY/MM and YYYYMM accepted), else as_of's month."""
    if period in (None, ""):
        return as_of.strftime("%Y-%m")
    match = re.fullmatch(r"(\d{4})[-/]?(\d{2})", values.nfkc(str(period)).strip())
    if match is None or not 1 <= int(match[2]) <= 12:
        raise _rejected("manifest.json", "period", f"対象年月を解釈できません: {period!r}", f"cannot read period {period!r}")
    return f"{match[1]}-{match[2]}"


def _event_dates(kind: str, frame: pd.DataFrame | None) -> pd.Series:
    """How many rows of one file carry each event date (its :data:`_EVENT_DATES` columns): what
    :func:`_as_of_warnings` reads, kept as counts so a file's frame may be handed on (spilled by
    the scan engine) before the feed is complete."""
    parts = []
    if frame is not None:
        for column in _EVENT_DATES.get(kind, ()):
            if column in frame.columns:
                parts.append(frame[column].dropna().to_numpy(dtype="datetime64[ns]").view(np.int64))
    values_ = np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)
    distinct, counts = np.unique(values_, return_counts=True)
    return pd.Series(counts, index=distinct, dtype=np.int64)


def _as_of_warnings(dates: list[pd.Series], as_of: pd.Timestamp) -> list[dict]:
    """A warning when ``as_of`` lies far from the feed's own latest dates (a typo, a stale
    manifest): ``dates``, every file's :func:`_event_dates`."""
    counts = pd.concat(dates).groupby(level=0).sum().sort_index() if dates else pd.Series(dtype=np.int64)
    total = int(counts.sum())
    if total == 0:
        return []
    # the 99th percentile of every date: the value at sorted rank ceil(0.99 (n - 1))
    rank = int(np.ceil(0.99 * (total - 1)))
    at = int(np.searchsorted(np.cumsum(counts.to_numpy()), rank, side="right"))
    latest = pd.Timestamp(np.int64(counts.index[at]).astype("datetime64[ns]"))
    days = int((as_of - latest).days)
    if abs(days) <= AS_OF_DISTANCE_WARNING_DAYS:
        return []
    when_ja, when_en = ("後", "after") if days > 0 else ("前", "before")
    message = (f"基準日 as_of {as_of.date().isoformat()} はフィード内の最新の日付（およそ {latest.date().isoformat()}）の"
               f" {abs(days)} 日{when_ja}です。manifest.json の as_of か --as-of を確認してください / "
               f"as_of {as_of.date().isoformat()} is {abs(days)} days {when_en} the feed's latest dates "
               f"(about {latest.date().isoformat()}); check manifest.json as_of or --as-of")
    return [{"code": "as_of_far_from_feed_dates", "key": "as_of", "as_of": as_of.date().isoformat(),
             "feed_latest_date": latest.date().isoformat(), "days": days, "message": message}]


def _read_manifest(directory: Path) -> tuple[dict, str | None]:
    path = directory / "manifest.json"
    if not path.is_file():
        return {}, None
    try:
        raw = path.read_bytes()
        manifest = json.loads(raw.decode("utf-8-sig"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise _rejected("manifest.json", None, f"読めません ({error})", f"unreadable ({error})") from error
    if not isinstance(manifest, dict):
        raise _rejected("manifest.json", None, "JSON オブジェクトではありません", "not a JSON object")
    import hashlib
    return manifest, hashlib.sha256(raw).hexdigest()


def _mask_passthrough(column: pd.Series, escape: bool = True) -> pd.Series:
    """Passthrough columns as read, except number-like runs masked and control characters escaped
    (RE2 test on all rows, Python only on the hits)."""
    masked = mask_series(column)
    return values.escape_control_series(masked) if escape else masked


class _FileLoader:
    """Normalises the chunks of one feed file and collects its row errors."""

    def __init__(self, feed_file: spec.FeedFile, file_name: str, key: bytes, dates: values.DateNormaliser,
                 raw_names: dict[str, str] | None = None, escape_controls: bool = True,
                 known_hashes: KnownHashes | None = None):
        self.feed_file, self.file_name, self.key, self.dates = feed_file, file_name, key, dates
        # one number is in members, oqs and residents: hashed once per feed
        self.known_hashes = known_hashes
        self.has_numbers = any(c.kind in (spec.NUMBER, spec.LAST4) for c in feed_file.columns)
        self.escape_controls = escape_controls
        # passthrough columns keep the name as written in the header (folded name → raw name)
        self.raw_names = raw_names or {}
        self.problems: list[pd.DataFrame] = []
        self.counts: dict[str, int] = {}

    def _problem(self, lines: np.ndarray, column: str | None, shown: list[str], reason: str) -> None:
        self.counts[reason] = self.counts.get(reason, 0) + len(lines)
        self.problems.append(pd.DataFrame({
            "file": self.file_name, "line": np.asarray(lines, dtype="int64"),
            "column": pd.array([column] * len(lines), dtype="string"),
            "value": pd.array(shown, dtype="string"),
            "reason": suites.reason_text(reason, "normalise", NORMALISE_REASONS),
        }))

    def normalise(self, raw: pa.Table, lines: np.ndarray) -> dict[str, Any]:
        """One chunk as read (an Arrow table of strings) → its normalised columns (pandas or numpy
        arrays, ``_line`` included), in frame order; row errors are collected on the way.

        Each column is one pass of Arrow kernels (strip; for code-like and date columns one
        dictionary encoding, the conversion once per distinct value, one take), converted to
        pandas once; ``_load_file`` joins the chunks column by column."""
        schema = self.feed_file.by_name
        n = raw.num_rows
        index = pd.RangeIndex(n)
        out: dict[str, Any] = {}
        stripped: dict[str, pa.Array] = {}
        for name in raw.column_names:
            array = raw.column(name).combine_chunks()
            column = schema.get(name)
            if column is None:
                # Passthrough keeps its header name, renamed only if it would shadow a canonical column.
                shown_name = self.raw_names.get(name, name)
                if shown_name in FRAMES[self.feed_file.kind]:
                    shown_name = f"{shown_name}_passthrough"
                out[shown_name] = _mask_passthrough(_as_series(array, index), self.escape_controls).array
                continue
            if column.kind == spec.DATE or column.kind in _DISTINCT_KINDS:
                # stripped per distinct raw value (codes) or only where not a fixed-width date
                if column.kind == spec.DATE:
                    normalised, bad, bad_texts = self.dates.arrow_raw(array, self.escape_controls)
                else:
                    convert, dtype = _DISTINCT_KINDS[column.kind]
                    normalised, bad, bad_texts = values.map_distinct_raw(array, convert, dtype, self.escape_controls)
                del array
            else:
                text = values.strip_arrow(array, self.escape_controls)
                del array
                stripped[name] = text
                if column.kind == spec.BENEFIT_VALUE:
                    continue  # needs the normalised item first
                normalised, bad = self._normalise_column(column.kind, text, index)
                bad_texts = (lambda text=text, bad=bad: text.filter(pa.array(bad)).to_pylist())
            if name in self.feed_file.defaults:
                normalised = pd.Series(normalised).fillna(self.feed_file.defaults[name]).array
            out[name] = normalised
            if bad is not None and bad.any():
                self._report(lines, bad, name, bad_texts(), column.kind)
        for name, default in self.feed_file.defaults.items():  # e.g. insurer_type absent → kokuho
            if name not in out:
                out[name] = pd.array([default] * n, dtype=_STRING)
        if "value" in stripped and self.feed_file.kind == "benefit_history":
            out["value"] = self._benefit_value(stripped["value"], out.get("item"), lines)

        line = np.asarray(lines, dtype=np.int64)
        if not self.has_numbers:
            # benefit history, card status: no number columns in their contract, so no
            # number_hash / number_last4 / number_status either (5M members: 0.9 GiB of NA)
            out["_line"] = line
            return out
        # 個人番号: hash + last4 + status now; the raw column goes no further.
        full = out.pop("individual_number", None)
        given_last4 = out.pop("individual_number_last4", None)
        missing = pd.Series(pd.array(pa.nulls(n, pa.large_string()), dtype=_STRING), index=index) \
            if full is None or given_last4 is None else None
        protected = protect_numbers(pd.Series(full, index=index) if full is not None else missing,
                                    pd.Series(given_last4, index=index) if given_last4 is not None else missing,
                                    self.key, self.known_hashes)
        for name in protected.columns:
            out[name] = protected[name].array
        out["_line"] = line
        return out

    def _normalise_column(self, kind: str, text: pa.Array, index: pd.Index) -> tuple[Any, np.ndarray | None]:
        """One stripped column → (normalised values as a pandas/numpy array, bad mask or None)."""
        if kind == spec.TEXT:
            return mask_series(_as_series(text, index)).array, None
        normalised, bad = _SERIES_NORMALISERS[kind](_as_series(text, index))
        return normalised.array, bad.to_numpy(dtype=bool)

    def _benefit_value(self, text: pa.Array, item: Any, lines: np.ndarray) -> Any:
        """``value`` read as a burden ratio or a limit category by the row's normalised ``item``
        (other items: the stripped text as is), converted once per distinct (item, value)."""
        if item is None:
            return _as_series(text, pd.RangeIndex(len(text))).array
        dictionary, codes = values.dictionary_codes(text)
        entries = dictionary.to_pylist() + [None]   # code -1 (missing value) → the last entry
        width = len(entries)
        item_values = pd.Series(item).to_numpy(dtype=object, na_value=None)
        # table of outputs: [kept as read | read as burden ratio | read as limit category] × entries
        tables = [entries]
        slots = np.where(codes < 0, width - 1, codes)
        for number, (item_name, convert) in enumerate((("burden_ratio", values.burden_value),
                                                      ("limit_category", values.limit_value)), start=1):
            converted = [None if entry is None else convert(entry) for entry in entries]
            tables.append([None if c is values.BAD or c is None else str(c) for c in converted])
            rows = item_values == item_name
            if not rows.any():
                continue
            slots[rows] += number * width
            bad = rows & np.array([c is values.BAD for c in converted], dtype=bool)[slots % width]
            if bad.any():
                self._report(lines, bad, "value", text.filter(pa.array(bad)).to_pylist(), spec.BENEFIT_VALUE)
        table = pa.array([v for part in tables for v in part], type=pa.large_string())
        return pd.array(table.take(pa.array(slots)), dtype=_STRING)

    def _report(self, lines: np.ndarray, bad: np.ndarray, name: str, raw_values: list[str], kind: str) -> None:
        """Row errors of one column: ``bad`` rows, ``raw_values`` their stripped texts in row order."""
        mask = np.asarray(bad, dtype=bool)
        if kind in (spec.NUMBER, spec.LAST4):
            shown = [values.masked(v) for v in raw_values]
        else:
            shown = [values.shown(str(v)) for v in raw_values]
        self._problem(lines[mask], name, shown, _KIND_REASON[kind])


_STRING = pd.StringDtype("pyarrow")
# value kinds mapped once per distinct value: (converter, pandas dtype)
_DISTINCT_KINDS = {
    spec.ENUM: (values.enum_value, "string"), spec.CODE: (values.code_value, "string"),
    spec.SEX: (values.sex_value, "Int64"), spec.RATIO: (values.burden_value, "Int64"),
    spec.LIMIT: (values.limit_value, "string"), spec.BOOL: (values.bool_value, "boolean"),
}
_SERIES_NORMALISERS: dict[str, Callable] = {
    spec.ID: values.identifier, spec.MONEY: values.money, spec.NUMBER: values.individual_number,
    spec.LAST4: values.last4,
}


def _as_series(array: pa.Array, index: pd.Index) -> pd.Series:
    return pd.Series(pd.array(array, dtype=_STRING), index=index)


def _join_chunks(chunks: list[dict[str, Any]]) -> pd.DataFrame:
    """The normalised chunks of one file as one frame, column by column (no frame-wide concat)."""
    columns = list(chunks[0])
    joined = {}
    for name in columns:
        parts = [chunk.pop(name) for chunk in chunks]
        if isinstance(parts[0], np.ndarray):
            joined[name] = np.concatenate(parts) if len(parts) > 1 else parts[0]
        else:
            joined[name] = type(parts[0])._concat_same_type(parts) if len(parts) > 1 else parts[0]
    return pd.DataFrame(joined, copy=False)


def _load_file(feed_file: spec.FeedFile, path: Path, *, key: bytes, dates: values.DateNormaliser,
               validator: suites.Validator, progress: Callable[[str, int], None] | None,
               known_hashes: KnownHashes | None = None, opened: Callable[[], reader.Source] | None = None
               ) -> tuple[pd.DataFrame, pd.DataFrame, dict, str, int]:
    """One feed file read, normalised and validated. ``opened``: gives the file's
    :func:`reader.open_source` result, started earlier (see :func:`load_feed`)."""
    file_name = path.name
    timings: dict[str, float] = {}
    cpu_started = time.process_time()
    started = time.perf_counter()
    try:
        source = opened() if opened is not None else reader.open_source(path)
    except reader.ReadError as error:
        raise _rejected(file_name, None, error.message_ja, error.message_en) from error
    columns = source.columns
    seen: set[str] = set()
    for name in columns:
        if name in seen:
            raise _rejected(file_name, name, "列名が重複しています", "duplicate column name")
        seen.add(name)
    for name in feed_file.required_columns:
        if name not in seen:
            raise _rejected(file_name, name, "必須の列がありません", "required column missing")
    if "" in seen:
        raise _rejected(file_name, "", "列名が空の列があります", "a column has no name")
    timings["open"] = time.perf_counter() - started

    raw_names = {folded: raw.strip() for folded, raw in zip(columns, source.raw_columns)}
    started = time.perf_counter()
    for attempt in ("fast", "fallback"):
        file_loader = _FileLoader(feed_file, file_name, key, dates, raw_names, source.has_controls, known_hashes)
        chunks, rows_done = [], 0
        try:
            for raw, lines in reader.tables(source):
                chunks.append(file_loader.normalise(raw, lines))
                rows_done += len(raw)
                del raw  # the strings as read are not needed once normalised
                if progress is not None:
                    progress(f"read:{feed_file.kind}", rows_done)
            break
        except reader.NeedsFallback:
            # the parser and the line scan disagree: read the file again line by line
            log.info("%s: re-reading with the per-line reader (malformed quoting)", file_name)
            source.fallback = True
        except reader.ReadError as error:
            raise _rejected(file_name, None, error.message_ja, error.message_en) from error
    timings["read_normalise"] = time.perf_counter() - started
    for bad in source.bad_rows:
        file_loader._problem(np.array([bad.line]), None, [bad.message], "bad_row")
    rows_read = rows_done + len(source.bad_rows)
    if rows_read == 0 and feed_file.required:
        raise _rejected(file_name, None, "見出し行だけでデータ行がありません（必須ファイル）",
                        "header only, no data rows (a required file)")

    if not chunks:  # header only: an empty frame with the header's columns, normalised shape
        chunks = [file_loader.normalise(pa.table({c: pa.array([], type=pa.string()) for c in columns}),
                                        np.zeros(0, dtype=np.int64))]
    frame = _join_chunks(chunks)
    del chunks
    normalise_q = (pd.concat(file_loader.problems, ignore_index=True) if file_loader.problems
                   else pd.DataFrame(columns=QUARANTINE_COLUMNS))
    # Rows are filtered (a copy of the whole frame) only when some were quarantined.
    survivors = frame[~frame["_line"].isin(normalise_q["line"])] if len(normalise_q) else frame

    # GX on the normalised frame, indexed by line; only the columns its suite needs.
    started = time.perf_counter()
    gx_columns = [c.name for c in feed_file.columns if c.name in survivors.columns]
    check_frame = survivors[gx_columns].set_axis(pd.Index(survivors["_line"].to_numpy(), name="line"), axis=0)
    if feed_file.name_required:
        name = check_frame["name_kanji"] if "name_kanji" in check_frame else pd.Series(pd.NA, index=check_frame.index, dtype="string")
        if "name_alpha" in check_frame:
            name = name.fillna(check_frame["name_alpha"])
        check_frame = check_frame.assign(**{suites.NAME_PRESENT: name})
    gx_summary, gx_q = validator.validate(feed_file, check_frame, file_name)
    timings["gx"] = time.perf_counter() - started
    timings["cpu_total"] = time.process_time() - cpu_started  # wall time lies on a shared machine
    if progress is not None:
        progress(f"validate:{feed_file.kind}", len(check_frame))

    quarantine = pd.concat([q for q in (normalise_q, gx_q) if q is not None and len(q)], ignore_index=True) \
        if (len(normalise_q) or gx_q is not None) else pd.DataFrame(columns=QUARANTINE_COLUMNS)
    keys = _quarantined_keys(feed_file, file_name, frame, quarantine)
    kept = survivors[~survivors["_line"].isin(gx_q["line"])] if gx_q is not None else survivors
    del frame, survivors, check_frame  # only kept is needed from here: peak memory is one copy less

    canonical = coerce(feed_file.kind, kept).reset_index(drop=True)
    del kept

    gx_counts: dict[str, int] = {}
    if gx_q is not None:
        for reason, count in gx_q["reason"].str.split(" ", n=1).str[0].value_counts().items():
            gx_counts[str(reason)] = int(count)
    summary = {
        "file": file_name, "format": source.format, "encoding": source.encoding, "sha256": source.sha256,
        "rows_read": int(rows_read), "rows_valid": int(len(canonical)),
        "rows_quarantined": int(rows_read - len(canonical)),
        "quarantine_entries": int(len(quarantine)),
        "normalise_errors": {k: int(v) for k, v in file_loader.counts.items()},
        "gx_errors": gx_counts,
        "passthrough_columns": [raw_names[c] for c in columns if c not in feed_file.by_name],
        "gx": gx_summary,
        "seconds": {k: round(v, 3) for k, v in timings.items()},
    }
    log.info("feed file %s: %d rows read, %d kept, %d quarantined (%.1fs read, %.1fs GX)", file_name,
             rows_read, len(canonical), rows_read - len(canonical), timings["read_normalise"], timings["gx"])
    return canonical, quarantine, summary, source.sha256, rows_read, keys


KEY_COLUMNS = ["file", "line", "insurer_number", "member_id"]


def _empty_keys() -> pd.DataFrame:
    return pd.DataFrame({"file": pd.Series(dtype="string"), "line": pd.Series(dtype="int64"),
                         "insurer_number": pd.Series(dtype="string"), "member_id": pd.Series(dtype="string")})


def _quarantined_keys(feed_file: spec.FeedFile, file_name: str, frame: pd.DataFrame,
                      quarantine: pd.DataFrame) -> pd.DataFrame:
    """One row per quarantined line of a member-keyed file: the key as read and normalised
    (insurer_number, member_id), NA where the row could not be split into fields."""
    if not {"insurer_number", "member_id"} <= set(feed_file.by_name) or not len(quarantine):
        return _empty_keys()
    lines = pd.Index(pd.unique(quarantine["line"].to_numpy(dtype=np.int64)), name="line")
    known = frame.drop_duplicates("_line").set_index("_line")[["insurer_number", "member_id"]]
    keys = known.reindex(lines).reset_index().rename(columns={"_line": "line"})
    keys.insert(0, "file", file_name)
    keys["insurer_number"] = mask_series(keys["insurer_number"].astype("string"))
    return keys[KEY_COLUMNS].astype({"file": "string", "line": "int64", "insurer_number": "string",
                                     "member_id": "string"})


def load_feed(path, *, key: bytes, as_of=None, progress: Callable[[str, int], None] | None = None,
              on_file: Callable[[str, pd.DataFrame], pd.DataFrame] | None = None) -> Feed:
    """フィードを取り込む / Read, normalise, protect and validate one feed directory.

    ``as_of``: the argument, else manifest ``as_of``, else today. Raises :class:`FeedRejected`
    when a required file (members, residents) is missing, a file is unreadable or in an
    unknown encoding, or a required column is missing; a required file holds no data row; a
    manifest value has the wrong type. ``feed.validation["warnings"]`` (only when there is one)
    holds feed-level warnings such as an ``as_of`` far from the feed's own dates.
    ``on_file(kind, frame)`` (scale, #12: the Dask engine starts work on the members and
    residents while the other files are read) is called as each file's frame is complete;
    the frame kept is what it returns.
    """
    import hashlib

    directory = Path(path)
    if not directory.is_dir():
        raise _rejected(str(directory), None, "フィードのディレクトリがありません", "feed directory not found")
    manifest, manifest_sha = _read_manifest(directory)
    _check_manifest_types(manifest)
    resolved_as_of = _resolve_as_of(as_of, manifest)
    period = _resolve_period(manifest.get("period"), resolved_as_of)

    located = {f.kind: _locate(directory, f) for f in spec.FEED_FILES}
    for feed_file in spec.FEED_FILES:
        if feed_file.required and located[feed_file.kind] is None:
            raise _rejected(f"{feed_file.stem}.csv", None, "必須のファイルがありません", "required file missing")

    # great_expectations is imported by the first validation, on this thread: imported beside the
    # first file on a thread it cost ~2x its CPU (GIL hand-offs against the reading), and CPU is
    # what a shared machine pays (suites.import_in_background stays for callers who want wall time)
    dates = values.DateNormaliser()
    known_hashes = KnownHashes()
    validator = suites.Validator()
    frames: dict[str, pd.DataFrame | None] = {}
    event_dates: list[pd.Series] = []
    quarantines, validation, row_counts, digests = [], {}, {}, []
    quarantined_keys: list[pd.DataFrame] = []
    if manifest_sha:
        digests.append(f"manifest.json:{manifest_sha}")
    for feed_file in spec.FEED_FILES:
        if located[feed_file.kind] is None:
            frames[feed_file.kind] = None
    # The next file's inspection pass (fingerprint, UTF-8, record ends — numpy and hashlib, which
    # release the GIL) runs on a second thread while this file is parsed and normalised.
    present = [(f, located[f.kind]) for f in spec.FEED_FILES if located[f.kind] is not None]
    inspecting = ThreadPoolExecutor(max_workers=1, thread_name_prefix="inspect")
    upcoming: dict[str, Any] = {}
    try:
        for position, (feed_file, file_path) in enumerate(present):
            for f, p in present[position + 1:position + 2]:
                upcoming[f.kind] = inspecting.submit(reader.open_source, p)
            opened = upcoming.pop(feed_file.kind, None)
            frame, quarantine, summary, sha, rows_read, keys = _load_file(
                feed_file, file_path, key=key, dates=dates, validator=validator, progress=progress,
                known_hashes=known_hashes, opened=opened.result if opened is not None else None)
            if file_path.suffix == ".parquet" and (directory / f"{feed_file.stem}.csv").is_file():
                summary["ignored"] = f"{feed_file.stem}.csv"
            event_dates.append(_event_dates(feed_file.kind, frame))
            frames[feed_file.kind] = frame if on_file is None else on_file(feed_file.kind, frame)
            quarantines.append(quarantine)
            if len(keys):
                quarantined_keys.append(keys)
            validation[feed_file.kind] = summary
            row_counts[feed_file.kind] = rows_read
            digests.append(f"{file_path.name}:{sha}")
    finally:
        for future in upcoming.values():
            future.cancel()
        inspecting.shutdown(wait=True)
    frames = {f.kind: frames[f.kind] for f in spec.FEED_FILES}   # the files' order, as before

    parts = [q for q in quarantines if len(q)]
    quarantine = (pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=QUARANTINE_COLUMNS))
    quarantine = quarantine[QUARANTINE_COLUMNS].astype({"file": "string", "line": "int64", "column": "string",
                                                        "value": "string", "reason": "string"})
    # A number typed into the wrong column (a date, a code) must not reach quarantine whole either,
    # nor a NUL byte: every shown value goes through values.shown (mask, then escape controls).
    quarantine["value"] = pd.array([v if pd.isna(v) else values.shown(v) for v in quarantine["value"]],
                                   dtype="string")
    quarantine = quarantine.sort_values(["file", "line", "column"], kind="stable").reset_index(drop=True)
    fingerprint = hashlib.sha256("\n".join(sorted(digests)).encode()).hexdigest()
    warnings = _as_of_warnings(event_dates, resolved_as_of)
    if warnings:
        # feed-level warnings beside the per-file summaries; "messages" is what reports show
        validation["warnings"] = warnings
        validation["messages"] = [w["message"] for w in warnings]
        for warning in warnings:
            log.warning("%s", warning["message"])
    keys = pd.concat(quarantined_keys, ignore_index=True) if quarantined_keys else _empty_keys()
    release_memory()
    return Feed(path=directory, frames=frames, quarantine=quarantine, validation=validation, manifest=manifest,
                as_of=resolved_as_of, period=period, fingerprint=fingerprint, row_counts=row_counts,
                warnings=warnings, quarantined_keys=keys)
