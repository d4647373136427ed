"""ファイルの読み取り / reading one feed file: encoding, physical line numbers, chunks.

CSV
- Encoding: strict UTF-8 (``utf-8-sig`` when a BOM is present), else whichever of CP932,
  EUC-JP (JIS X 0213) and Shift_JIS-2004 decodes the whole file strictly —
  the most Japanese-looking reading when several do; otherwise the feed is rejected
  (unknown encoding).
- Physical line numbers (header = line 1) are computed from the bytes, not from the parser:
  a newline ends a record only outside quotes (an even number of ``"`` before it — doubled
  quotes keep the parity). That holds byte-wise for UTF-8 and CP932 alike (neither has 0x0A
  or 0x22 as a trail byte). Blank lines are skipped, as the parser skips them; LF and CRLF
  line ends are supported; a file whose lines end in bare CR (old Mac) is rejected naming it.
- Parsing is pyarrow's streaming CSV reader (bounded memory: one block at a time); every
  value is read as a string. Rows with the wrong number of fields are skipped by the parser
  and reported back as row errors with their line.
- Stray quotes (a ``"`` inside an unquoted value, text after a closing quote, a quote never
  closed) are found by the same vectorised scan; a file holding one — or a malformed record
  spanning several lines, or any disagreement between parser and scan — is read instead by
  :func:`_fallback_tables`, a per-line Python reader that makes each malformed record one row
  error with its line and resynchronises on the next line. Well-formed files never pay for it.
- A file that starts with a UTF-8 BOM but is not UTF-8 (a CP932 body) is an encoding problem
  naming the first line that is not UTF-8, not a guess at another encoding.

Parquet (same stem) is read in record batches; all columns are cast to strings (dates and
timestamps as ``YYYY-MM-DD``) so both formats go through the same normalisation. A Parquet
file has no physical lines: ``line`` is the row ordinal + 1, i.e. what the line would be in
the equivalent CSV with a header and no embedded newlines.
"""
from __future__ import annotations

import codecs
import csv
import hashlib
import io
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

# Encodings _detect_encoding tries, in order of preference, when a file is not UTF-8. CP932 is the contract's
# legacy encoding; EUC-JP (as its JIS X 0213 superset) and Shift_JIS-2004 still come out of
# older municipal systems. All keep 0x0A and 0x22 out of multi-byte sequences (the line scan
# relies on that). EUC-JP text very often decodes without error as CP932 too (as half-width
# kana soup), so when several decode the most Japanese-looking reading wins (_plausibility);
# charset-normalizer was used here before but its guess flips between releases on short files.
PLAUSIBILITY_SAMPLE = 1 << 20  # bytes of the file judged when several encodings decode it
# 2 MiB per read when fingerprinting and finding line ends: the scan's temporaries (quote and
# newline positions, gathers) then stay in cache; 16 MiB blocks cost ~1.5x the CPU.
SCAN_BLOCK = 1 << 21
CSV_BLOCK = 1 << 25        # 32 MiB per parsed block (~150k member rows)
PARQUET_BATCH = 200_000
_STRING = pd.StringDtype("pyarrow")


class NeedsFallback(Exception):
    """The fast parser and the line scan disagree: re-read the file with the per-line reader."""


class ReadError(Exception):
    """The file cannot be read at all (the loader turns this into FeedRejected)."""

    def __init__(self, reason: str, message_ja: str, message_en: str):
        super().__init__(message_en)
        self.reason, self.message_ja, self.message_en = reason, message_ja, message_en


@dataclass
class BadRow:
    line: int
    message: str


@dataclass
class Source:
    """One opened feed file: what it is, its fingerprint, header and the line of each data row."""
    path: Path
    format: str                       # "csv" | "parquet"
    sha256: str
    raw_columns: list[str]            # header as written
    encoding: str | None = None
    record_start_lines: np.ndarray | None = None  # physical start line of each non-blank record (header first)
    bad_ordinals: np.ndarray | None = None   # 1-based ordinals of records with a wrong field count
    quoted_newlines: bool = False
    bad_rows: list[BadRow] = field(default_factory=list)
    fallback: bool = False            # read with the per-line Python reader (stray quotes …)
    has_controls: bool = True         # may hold control characters (NUL …) to escape
    fields_counted: bool = True       # bad_ordinals / bad_rows hold the rows with a wrong field count

    @property
    def columns(self) -> list[str]:
        """Header names folded for matching (case-insensitive, surrounding spaces ignored)."""
        return [name.strip().lower() for name in self.raw_columns]


def open_source(path: Path) -> Source:
    """Fingerprint and inspect one file (one streaming pass for CSV; metadata only for Parquet)."""
    try:
        if path.suffix.lower() == ".parquet":
            return _open_parquet(path)
        return _open_csv(path)
    except ReadError:
        raise
    except (OSError, pa.ArrowException) as error:
        raise ReadError("unreadable", f"ファイルを読めません: {error}", f"cannot read the file: {error}") from error


# ----------------------------------------------------------------------------- CSV
_NO_POSITIONS = np.zeros(0, dtype=np.int64)


class _Utf8Check:
    """Strict UTF-8 validation block by block (Arrow's validator, ~5x faster than decoding into
    a str that is thrown away). Blocks are cut after their last newline — 0x0A is never part of
    a multi-byte sequence — and the tail is carried into the next block. Only when a segment is
    invalid is it decoded by Python, to name the first line that is not UTF-8."""

    def __init__(self) -> None:
        self.ok = True
        self.bad_line: int | None = None
        self._carry = b""

    @staticmethod
    def _valid(buffer: pa.Buffer) -> bool:
        offsets = pa.py_buffer(np.array([0, buffer.size], dtype=np.int64))
        try:
            pa.Array.from_buffers(pa.large_string(), 1, [None, offsets, buffer]).validate(full=True)
        except pa.ArrowInvalid:
            return False
        return True

    def _fail(self, segment: bytes, lines_before: int) -> None:
        """``segment`` starts on line ``lines_before + 1`` and is not UTF-8: find the first bad line."""
        self.ok = False
        try:
            segment.decode("utf-8")
            at = len(segment)
        except UnicodeDecodeError as error:
            at = error.start
        self.bad_line = lines_before + segment.count(b"\n", 0, at) + 1

    def feed(self, chunk: bytes, newlines: np.ndarray, lines_before: int) -> None:
        if not self.ok:
            return
        if not len(newlines):
            self._carry += chunk
            return
        first, last = int(newlines[0]), int(newlines[-1])
        head = self._carry + chunk[:first + 1]
        if not self._valid(pa.py_buffer(head)):
            # the carried tail began on the line of the previous block's last newline + 1
            self._fail(head, lines_before)
            return
        if last > first and not self._valid(pa.py_buffer(chunk).slice(first + 1, last - first)):
            self._fail(chunk[first + 1:last + 1], lines_before + 1)
            return
        self._carry = chunk[last + 1:]

    def finish(self, lines_total: int) -> None:
        if self.ok and self._carry and not self._valid(pa.py_buffer(self._carry)):
            self._fail(self._carry, lines_total)


def _has_controls(array: np.ndarray, newlines: int, previous_byte: int) -> bool:
    """C0 controls but tab/LF/CR, DEL, and C1 as UTF-8 (C2 80..9F; in CP932 a false alarm at
    worst). Counted with comparisons (SIMD) rather than a 256-entry table lookup per byte."""
    low = np.count_nonzero(array < 0x20) - newlines
    if low:
        low -= np.count_nonzero(array == 0x0D)
    if low:
        low -= np.count_nonzero(array == 0x09)
    if low or np.count_nonzero(array == 0x7F):
        return True
    if len(array) and previous_byte == 0xC2 and 0x80 <= array[0] <= 0x9F:
        return True
    if not np.count_nonzero(array == 0xC2):
        return False
    return bool(((array[:-1] == 0xC2) & (array[1:] >= 0x80) & (array[1:] <= 0x9F)).any())


def _unquoted_commas(data: bytes) -> int:
    """Commas outside quotes in one record's bytes (the header)."""
    array = np.frombuffer(data, dtype=np.uint8)
    quotes = np.flatnonzero(array == 0x22)
    commas = np.flatnonzero(array == 0x2C)
    return int(np.count_nonzero((np.searchsorted(quotes, commas) & 1) == 0))


def _open_csv(path: Path, count_fields: bool = False) -> Source:
    """One streaming pass: fingerprint, UTF-8 check, record ends (newlines outside quotes),
    stray quotes, control characters.

    ``count_fields``: also count the unquoted commas of every record, to find rows with a wrong
    number of fields without relying on the parser's row numbering (unknown when values hold
    newlines). That costs more than the rest of the scan together, so it is done only when the
    parser reports such a row (:func:`_csv_tables` then calls :func:`_count_fields`).
    """
    sha = hashlib.sha256()
    utf8 = _Utf8Check()
    parity = 0
    newline_count = 0
    offset = 0
    terminators, terminator_newline_index = [], []
    # Unquoted commas per record (fields - 1), only when count_fields.
    commas_per_record, comma_carry = [], 0
    first_bytes = b""
    previous_byte = -1          # last byte of the previous block (-1: start of file)
    pending_close = False       # a closing quote ended the previous block: check the next byte
    stray_quote = False
    bare_cr = False
    has_controls = False
    with path.open("rb") as handle:
        while chunk := handle.read(SCAN_BLOCK):
            if not first_bytes:
                first_bytes = chunk[:4]
            sha.update(chunk)
            array = np.frombuffer(chunk, dtype=np.uint8)
            newlines = np.flatnonzero(array == 0x0A)
            utf8.feed(chunk, newlines, newline_count)
            if not has_controls:
                has_controls = _has_controls(array, len(newlines), previous_byte)
            quotes = np.flatnonzero(array == 0x22)
            if pending_close and len(array) and array[0] not in _AFTER_CLOSING:
                stray_quote = True
            pending_close = False
            if len(quotes) and not stray_quote:
                stray_quote, pending_close = _stray_quotes(array, quotes, parity, previous_byte,
                                                           bom=offset == 0 and chunk.startswith(codecs.BOM_UTF8))
            if not bare_cr and len(newlines) == 0 and newline_count == 0:
                crs = np.flatnonzero(array == 0x0D)
                bare_cr = bool(len(crs)) and int(crs[0]) + offset < offset + len(array) - 1
            elif bare_cr and len(newlines):
                bare_cr = False  # LF after all: CRs are inside values (the fallback reader copes)
            if len(quotes) or parity:
                ends_record = ((np.searchsorted(quotes, newlines) + parity) & 1) == 0
                block_ends = newlines[ends_record]
                record_newlines = np.flatnonzero(ends_record)
            else:
                block_ends, record_newlines = newlines, np.arange(len(newlines))
            if count_fields:
                if len(quotes) == 0 and parity == 0:
                    # No quoting in this block: every comma separates fields; sum per record segment.
                    segment_starts = np.concatenate([[0], block_ends + 1])
                    inside = segment_starts < len(array)
                    per_record = np.add.reduceat(array == 0x2C, segment_starts[inside], dtype=np.int64)
                    if not inside[-1]:
                        per_record = np.append(per_record, 0)
                else:
                    commas = np.flatnonzero(array == 0x2C)
                    commas = commas[((np.searchsorted(quotes, commas) + parity) & 1) == 0]
                    per_record = np.bincount(np.searchsorted(block_ends, commas), minlength=len(block_ends) + 1)
                per_record[0] += comma_carry
                commas_per_record.append(per_record[:-1])
                comma_carry = int(per_record[-1])
            terminators.append(block_ends + offset)
            terminator_newline_index.append(record_newlines + newline_count)
            newline_count += len(newlines)
            parity = (parity + len(quotes)) & 1
            offset += len(chunk)
            previous_byte = int(array[-1])
        utf8.finish(newline_count)
    utf8_ok, utf8_bad_line = utf8.ok, utf8.bad_line
    size = offset
    if size == 0:
        raise ReadError("empty", "ファイルが空です（見出し行がありません）", "the file is empty (no header line)")
    if bare_cr:
        raise ReadError("line_endings",
                        "改行コードが CR だけです（古い Mac 形式）。改行を LF か CRLF にして保存し直してください",
                        "lines end in a bare CR (old Mac format); save the file with LF or CRLF line ends")
    ends = np.concatenate(terminators) if terminators else np.zeros(0, dtype=np.int64)
    ends_index = np.concatenate(terminator_newline_index) if terminator_newline_index else np.zeros(0, np.int64)

    # Records: [start, end) between record-ending newlines; a final record without newline too.
    starts = np.concatenate([[0], ends + 1]).astype(np.int64)
    stops = np.concatenate([ends, [size]]).astype(np.int64)
    start_lines = np.concatenate([[1], ends_index + 2]).astype(np.int64)
    lengths = stops - starts
    blank = lengths == 0
    maybe_cr = np.flatnonzero(lengths == 1)
    if len(maybe_cr):
        with path.open("rb") as handle:
            for i in maybe_cr:  # only one-byte records, i.e. (almost) only CRLF blank lines
                handle.seek(int(starts[i]))
                blank[i] = handle.read(1) == b"\r"
    if blank[0]:
        raise ReadError("no_header", "1行目に見出し行がありません", "line 1 holds no header")
    # physical lines each record spans (the last one: up to the end of the file)
    spans = np.diff(np.concatenate([start_lines, [newline_count + 2]]))
    record_lines = start_lines[~blank]
    record_spans = spans[~blank]

    encoding = _detect_encoding(path, utf8_ok, first_bytes, utf8_bad_line)
    with path.open("rb") as handle:
        header_bytes = handle.read(int(stops[0]))
    try:
        header_text = header_bytes.decode(encoding).rstrip("\r")
    except UnicodeDecodeError as error:
        raise ReadError("encoding", f"見出し行を {encoding} として読めません", f"the header line is not {encoding}") from error
    raw_columns = next(csv.reader(io.StringIO(header_text)), [])
    if not raw_columns or _unquoted_commas(header_bytes) + 1 != len(raw_columns):
        raise ReadError("unreadable", "見出し行を解釈できません", "the header line cannot be parsed")
    fallback = stray_quote or parity == 1
    bad_rows: list[BadRow] = []
    wrong = _NO_POSITIONS
    if count_fields:
        fields = np.concatenate([*commas_per_record, [comma_carry]]).astype(np.int64) + 1
        record_fields = fields[~blank]
        wrong = np.flatnonzero(record_fields != len(raw_columns))
        # A malformed record spanning several lines swallowed its neighbours (a quote opened and
        # never closed): only the per-line reader can give each line its due.
        fallback = fallback or bool((record_spans[wrong] > 1).any())
        bad_rows = [] if fallback else [
            BadRow(line=int(record_lines[i]), message=f"{int(record_fields[i])} fields, expected {len(raw_columns)}")
            for i in wrong]
    return Source(path=path, format="csv", sha256=sha.hexdigest(), raw_columns=raw_columns,
                  encoding=encoding, record_start_lines=record_lines, bad_ordinals=wrong + 1,
                  quoted_newlines=newline_count > len(ends), bad_rows=bad_rows, fallback=fallback,
                  has_controls=has_controls, fields_counted=count_fields)


def _count_fields(source: Source) -> None:
    """The parser skipped a row with a wrong number of fields: scan the file again counting
    every record's fields, so the skipped rows get their lines (and the rest keep theirs)."""
    counted = _open_csv(source.path, count_fields=True)
    source.bad_ordinals, source.bad_rows = counted.bad_ordinals, counted.bad_rows
    source.fields_counted = True
    if counted.fallback:
        source.fallback = True
        raise NeedsFallback()


# Bytes that may precede an opening quote / follow a closing one (a doubled "" inside a quoted
# value is a closing quote followed by an opening one), as 256-entry tables (one gather per
# quote instead of np.isin's sort).
_BEFORE_OPENING = np.array([0x2C, 0x0A, 0x0D, 0x22], dtype=np.uint8)
_AFTER_CLOSING = (0x2C, 0x0A, 0x0D, 0x22)
_MAY_PRECEDE_OPENING = np.zeros(257, dtype=bool)   # index 256: start of file (previous_byte -1)
_MAY_PRECEDE_OPENING[_BEFORE_OPENING] = True
_MAY_PRECEDE_OPENING[256] = True
_MAY_PRECEDE_OPENING_BYTE = _MAY_PRECEDE_OPENING[:256]
_MAY_FOLLOW_CLOSING = np.zeros(256, dtype=bool)
_MAY_FOLLOW_CLOSING[list(_AFTER_CLOSING)] = True


def _stray_quotes(array: np.ndarray, quotes: np.ndarray, parity: int, previous_byte: int,
                  bom: bool) -> tuple[bool, bool]:
    """(any stray quote in this block, a closing quote ends the block and needs the next byte)."""
    # quotes alternate opening / closing; parity 1: the block starts inside a quoted value
    opening_at, closing_at = quotes[parity::2], quotes[1 - parity::2]
    if len(opening_at):
        first = 0
        if opening_at[0] == 0:  # the byte before is the previous block's last (or the start of the file)
            if not _MAY_PRECEDE_OPENING[256 if previous_byte == -1 else previous_byte]:
                return True, False
            first = 1
        elif bom and opening_at[0] == len(codecs.BOM_UTF8):
            first = 1
        # the byte before each opening quote, looked up in the 256-entry table (no index copies)
        if not _MAY_PRECEDE_OPENING_BYTE[array[opening_at[first:] - 1]].all():
            return True, False
    if not len(closing_at):
        return False, False
    at_end = int(closing_at[-1]) == len(array) - 1   # only the last quote can close the block
    if not _MAY_FOLLOW_CLOSING[array[(closing_at[:-1] if at_end else closing_at) + 1]].all():
        return True, False
    return False, at_end


def _detect_encoding(path: Path, utf8_ok: bool, first_bytes: bytes, utf8_bad_line: int | None = None) -> str:
    if utf8_ok:
        return "utf-8-sig" if first_bytes.startswith(codecs.BOM_UTF8) else "utf-8"
    line_ja = f"{utf8_bad_line}行目" if utf8_bad_line else "途中"
    line_en = f"line {utf8_bad_line}" if utf8_bad_line else "part of the file"
    if first_bytes.startswith(codecs.BOM_UTF8):
        # A BOM says UTF-8; a body that is not (CP932 pasted after it) must not be guessed at.
        raise ReadError("encoding",
                        f"文字コードの問題: 先頭に UTF-8 の BOM がありますが、{line_ja}が UTF-8 ではありません"
                        f"（CP932 など別の文字コードが混ざっています）",
                        f"encoding problem: the file starts with a UTF-8 BOM but {line_en} is not UTF-8 "
                        f"(another encoding such as CP932 is mixed in)")
    # Shift_JIS-2004 reads CP932 text the same way; it is only asked when CP932 cannot decode
    # the file (JIS X 0213 characters), which spares a second full pass over every CP932 feed.
    decoding = [encoding for encoding in ("cp932", "euc_jis_2004") if _decodes(path, encoding)]
    if "cp932" not in decoding and _decodes(path, "shift_jis_2004"):
        decoding.append("shift_jis_2004")
    if not decoding:
        raise ReadError("encoding", "文字コードを判別できません（UTF-8 / UTF-8 BOM / CP932(Shift_JIS) / EUC-JP のいずれでもありません。"
                        f"UTF-8 として読めない最初の行: {line_ja}）",
                        "unknown encoding (neither UTF-8, UTF-8 with BOM, CP932/Shift_JIS nor EUC-JP; "
                        f"first line that is not UTF-8: {line_en})")
    if len(decoding) == 1:
        return decoding[0]
    with path.open("rb") as handle:
        sample = handle.read(PLAUSIBILITY_SAMPLE)
    scores = {encoding: _plausibility(sample.decode(encoding, errors="ignore")) for encoding in decoding}
    return max(decoding, key=lambda encoding: scores[encoding])  # ties keep the preference order


def _plausibility(text: str) -> int:
    """How Japanese a decoded text looks: kanji and full-width kana count for it; the marks of
    a wrong reading count against it — the half-width ､･｡｢｣ that EUC-JP kana lead bytes become
    under CP932, and half-width kana next to a kanji (no real name mixes those)."""
    codes = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)
    kanji = (codes >= 0x4E00) & (codes <= 0x9FFF)
    japanese = kanji | ((codes >= 0x3041) & (codes <= 0x30FF))   # kanji, hiragana, katakana
    halfwidth_kana = (codes >= 0xFF66) & (codes <= 0xFF9F)
    halfwidth_marks = (codes >= 0xFF61) & (codes <= 0xFF65)
    glued = (kanji[1:] & halfwidth_kana[:-1]) | (halfwidth_kana[1:] & kanji[:-1])
    return int(japanese.sum()) - 2 * int(halfwidth_marks.sum()) - 3 * int(glued.sum())


def _decodes(path: Path, encoding: str) -> bool:
    decoder = codecs.getincrementaldecoder(encoding)("strict")
    try:
        with path.open("rb") as handle:
            while chunk := handle.read(SCAN_BLOCK):
                decoder.decode(chunk)
            decoder.decode(b"", final=True)
    except (UnicodeDecodeError, LookupError):
        return False
    return True


def _csv_tables(source: Source) -> Iterator[tuple[pa.RecordBatch, np.ndarray]]:
    positional = [f"c{i}" for i in range(len(source.raw_columns))]
    skipped = [0]

    def on_invalid(row) -> str:
        # Which rows are malformed is known from the line scan (source.bad_rows); the
        # parser's own row numbers are unknown when values hold newlines, so only count here.
        skipped[0] += 1
        return "skip"

    encoding = source.encoding or "utf-8"
    reader = pacsv.open_csv(
        source.path,
        # one parsing thread: CPU time is what a shared machine pays, and the threads' hand-offs cost CPU
        read_options=pacsv.ReadOptions(column_names=positional, skip_rows=1, block_size=CSV_BLOCK, use_threads=False,
                                       encoding="utf8" if encoding in ("utf-8", "utf-8-sig") else encoding),
        parse_options=pacsv.ParseOptions(newlines_in_values=source.quoted_newlines,
                                         invalid_row_handler=on_invalid),
        # check_utf8 off: the line scan validated the whole file as UTF-8 (or it is transcoded from
        # the detected legacy encoding, which yields UTF-8)
        convert_options=pacsv.ConvertOptions(column_types={name: pa.string() for name in positional},
                                             strings_can_be_null=False, quoted_strings_can_be_null=False,
                                             check_utf8=False),
    )
    # Data record ordinals (1-based, header = 1) consumed so far; skipped (invalid) ones excluded.
    next_ordinal = 2
    total = len(source.record_start_lines)
    for batch in reader:
        if skipped[0] and not source.fields_counted:
            # Every row the parser skipped so far lies in this batch or a later one (it parsed
            # them to build this batch at the latest; earlier batches came with none skipped),
            # so counting fields now gives this and later batches their lines.
            _count_fields(source)
        wanted = batch.num_rows
        taken = []
        while wanted:
            candidates = np.arange(next_ordinal, min(next_ordinal + wanted, total + 1))
            if len(candidates) == 0:
                raise NeedsFallback()
            keep = candidates[~np.isin(candidates, source.bad_ordinals)] if len(source.bad_ordinals) else candidates
            taken.append(keep)
            wanted -= len(keep)
            next_ordinal = int(candidates[-1]) + 1
        ordinals = np.concatenate(taken) if taken else np.zeros(0, dtype=np.int64)
        yield _named(batch, source), source.record_start_lines[ordinals - 1]
    if skipped[0] and not source.fields_counted:
        _count_fields(source)  # only skipped rows were left (no batch followed them)
    unread = np.setdiff1d(np.arange(next_ordinal, total + 1), source.bad_ordinals)
    if skipped[0] != len(source.bad_rows) or unread.size:
        # The parser and the line scan disagree: the line numbers cannot be trusted, so the
        # file is read again by the per-line reader (the caller drops what it got so far).
        raise NeedsFallback()


_FIELD = '(?:[^",]*|"(?:[^"]|"")*")'
_WELL_FORMED = re.compile(f"{_FIELD}(?:,{_FIELD})*", re.S)
MAX_RECORD_LINES = 200  # a quoted value spanning more lines than this is taken as a stray quote
FALLBACK_BATCH = 200_000


def _fallback_tables(source: Source) -> Iterator[tuple[pa.Table, np.ndarray]]:
    """Per-line reader for files with stray quotes: each record is checked on its own (quotes
    well formed, field count right); a malformed one is a row error at its first line and
    reading resumes on the next line, so one stray quote never swallows the rows after it.
    The records that pass are handed to pyarrow's parser in blocks (no Python per field)."""
    encoding = source.encoding or "utf-8"
    text = source.path.read_bytes().decode(encoding, errors="replace")
    if text.startswith("\ufeff"):
        text = text[1:]
    lines = text.split("\n")
    del text
    width = len(source.raw_columns)
    commas = width - 1
    source.bad_rows = []
    first = int(source.record_start_lines[1]) - 1 if len(source.record_start_lines) > 1 else len(lines)
    records: list[str] = []
    record_lines: list[int] = []
    multi_line = False
    i, count = first, len(lines)
    while i < count:
        line = lines[i]
        if line.endswith("\r"):
            line = line[:-1]
        if line == "":
            i += 1
            continue
        if "\r" in line:  # a bare CR inside a line: parsers split there, the line scan does not
            source.bad_rows.append(BadRow(line=i + 1, message="bare CR inside the row / 行の途中に CR"))
            i += 1
            continue
        if '"' not in line:
            if line.count(",") == commas:
                records.append(line)
                record_lines.append(i + 1)
            else:
                source.bad_rows.append(BadRow(line=i + 1, message=f"{line.count(',') + 1} fields, expected {width}"))
            i += 1
        else:
            end, quotes = i, line.count('"')
            while quotes & 1 and end + 1 < count and end - i < MAX_RECORD_LINES:
                end += 1
                quotes += lines[end].count('"')
            record = line if end == i else "\n".join([line, *lines[i + 1:end + 1]])
            if record.endswith("\r"):
                record = record[:-1]
            if quotes & 1 or _WELL_FORMED.fullmatch(record) is None:
                source.bad_rows.append(BadRow(line=i + 1, message="stray quote (\") / 引用符の誤り"))
                i += 1
                continue
            fields = len(next(csv.reader([record])))
            if fields == width:
                records.append(record)
                record_lines.append(i + 1)
                multi_line = multi_line or end > i
                i = end + 1
            else:
                # A quote that opened here and closed lines later (a stray one, most likely):
                # this line is the row error, the next line is read on its own.
                source.bad_rows.append(BadRow(line=i + 1, message=f"{fields} fields, expected {width}"))
                i += 1
        if len(records) >= FALLBACK_BATCH:
            yield _records_frame(source, records, multi_line), np.asarray(record_lines, dtype=np.int64)
            records, record_lines, multi_line = [], [], False
    if records:
        yield _records_frame(source, records, multi_line), np.asarray(record_lines, dtype=np.int64)


def _named(table, source: Source) -> pa.Table:
    """The parsed columns under the header's folded names."""
    return pa.Table.from_batches([table]).rename_columns(source.columns) if isinstance(table, pa.RecordBatch) \
        else table.rename_columns(source.columns)


def _to_frame(table: pa.Table) -> pd.DataFrame:
    return table.to_pandas(types_mapper={pa.string(): _STRING}.get)


def _records_frame(source: Source, records: list[str], multi_line: bool) -> pa.Table:
    """Parse records already checked to be well formed with the right field count (pyarrow)."""
    positional = [f"c{i}" for i in range(len(source.raw_columns))]
    table = pacsv.read_csv(
        io.BytesIO("\n".join(records).encode("utf-8")),
        read_options=pacsv.ReadOptions(column_names=positional, block_size=CSV_BLOCK),
        parse_options=pacsv.ParseOptions(newlines_in_values=multi_line),
        convert_options=pacsv.ConvertOptions(column_types={name: pa.string() for name in positional},
                                             strings_can_be_null=False, quoted_strings_can_be_null=False))
    if table.num_rows != len(records):
        raise ReadError("unreadable", "行を読み取れません（引用符の対応）", "rows cannot be read (quoting)")
    return _named(table, source)


# ----------------------------------------------------------------------------- Parquet
def _open_parquet(path: Path) -> Source:
    sha = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(SCAN_BLOCK):
            sha.update(chunk)
    schema = pq.read_schema(path)
    return Source(path=path, format="parquet", sha256=sha.hexdigest(), raw_columns=list(schema.names))


def _as_strings(column: pa.Array) -> pa.Array:
    if pa.types.is_timestamp(column.type) or pa.types.is_date64(column.type):
        column = column.cast(pa.date32())
    if pa.types.is_floating(column.type):
        # 3000000.0 → "3000000": integral floats keep no fraction
        import pyarrow.compute as pc
        integral = pc.equal(pc.floor(column), column)
        as_int = pc.cast(pc.if_else(integral, column, None), pa.int64(), safe=False)
        return pc.if_else(integral, as_int.cast(pa.string()), column.cast(pa.string()))
    return column.cast(pa.string())


def _parquet_tables(source: Source) -> Iterator[tuple[pa.Table, np.ndarray]]:
    parquet = pq.ParquetFile(source.path)
    done = 0
    for batch in parquet.iter_batches(batch_size=PARQUET_BATCH):
        table = pa.table([_as_strings(batch.column(i)) for i in range(batch.num_columns)],
                         names=source.columns)
        lines = np.arange(done + 2, done + 2 + batch.num_rows, dtype=np.int64)
        done += batch.num_rows
        yield table, lines


def batches(source: Source) -> Iterator[tuple[pd.DataFrame, np.ndarray]]:
    """Yield ``(frame of strings, physical line of each row)`` chunk by chunk."""
    for table, lines in tables(source):
        yield _to_frame(table), lines


def tables(source: Source) -> Iterator[tuple[pa.Table, np.ndarray]]:
    """Yield ``(Arrow table of strings under the folded header names, physical line of each
    row)`` chunk by chunk — what :func:`batches` gives, before any conversion to pandas."""
    try:
        if source.format == "parquet":
            yield from _parquet_tables(source)
        elif source.fallback:
            yield from _fallback_tables(source)
        else:
            yield from _csv_tables(source)
    except ReadError:
        raise
    except (OSError, UnicodeDecodeError, pa.ArrowException) as error:
        raise ReadError("unreadable", f"ファイルを読めません: {error}", f"cannot read the file: {error}") from error
