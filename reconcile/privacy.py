"""個人番号の保護 / individual-number privacy: keyed hash plus last four digits, and masking.

The full number exists only inside :func:`protect_numbers` while a feed is read; what leaves
it is an HMAC-SHA256 under ``RECONCILE_SECRET_KEY`` (so equal numbers still join across
files and feeds) and the last four digits. Nothing else in the product ever sees 12 digits.
"""
from __future__ import annotations

import hashlib
import hmac
import logging
import re

import numpy as np
import pandas as pd
from stdnum.jp import in_ as my_number

from detectors.schema import NUMBER_BAD_CHECK, NUMBER_LAST4_ONLY, NUMBER_MISSING, NUMBER_VALID
# The one definition of "looks like an individual number" lives in reports.guard (every layer may
# import it; reports may not import reconcile). Re-exported here for the reconcile side.
from reports.guard import (NUMBER_CANDIDATE_RE2, NUMBER_SEPARATORS, NUMBER_SHAPE, SEPARATOR_CLASS,
                           looks_like_individual_number, mask_individual_numbers, number_runs)

__all__ = ["NUMBER_CANDIDATE_RE2", "NUMBER_SEPARATORS", "NUMBER_SHAPE", "SEPARATOR_CLASS", "NumberMaskingFilter",
           "check_digit_ok", "check_digits", "check_digits_ok", "digit_matrix", "escape_controls", "keyed_hash",
           "looks_like_individual_number", "mask_number", "mask_series", "mask_text", "number_runs",
           "protect_numbers", "KnownHashes"]


def keyed_hash(key: bytes, number: str) -> str:
    """HMAC-SHA256 of a canonical 12-digit number, hex, truncated to 32 characters (128 bits)."""
    return hmac.new(key, number.encode("ascii"), hashlib.sha256).hexdigest()[:32]


def check_digit_ok(number: str) -> bool:
    """The 12th digit matches the check digit of the first eleven (domain brief §3)."""
    return my_number.is_valid(number)


# Qₙ for the first eleven digits read left to right (Pₙ counts from the right, domain brief §3).
_WEIGHTS = np.array([6, 5, 4, 3, 2, 7, 6, 5, 4, 3, 2])


def check_digits(digits: np.ndarray) -> np.ndarray:
    """The check digit of each row of an (n, 11) array of digits (domain brief §3)."""
    remainder = (np.asarray(digits, dtype=np.int64) @ _WEIGHTS) % 11
    return np.where(remainder <= 1, 0, 11 - remainder)


def digit_matrix(numbers, width: int) -> np.ndarray:
    """ASCII digit strings of one ``width`` as an (n, width) integer array."""
    return np.frombuffer("".join(numbers).encode("ascii"), dtype=np.uint8).reshape(-1, width) - 48


def check_digits_ok(numbers: np.ndarray) -> np.ndarray:
    """Vectorised :func:`check_digit_ok` over an array of 12-digit ASCII strings."""
    if len(numbers) == 0:
        return np.zeros(0, dtype=bool)
    digits = digit_matrix(numbers, 12)
    return digits[:, 11] == check_digits(digits[:, :11])


def _hmac_states(key: bytes):
    """SHA-256 states after the HMAC inner (ipad) and outer (opad) key blocks."""
    block = hashlib.sha256().block_size
    if len(key) > block:
        key = hashlib.sha256(key).digest()
    key = key.ljust(block, b"\0")
    return (hashlib.sha256(bytes(b ^ 0x36 for b in key)), hashlib.sha256(bytes(b ^ 0x5C for b in key)))


class KnownHashes:
    """Keyed hashes already computed while one feed is read, so that a number met again in
    another file (a member's number is in members, oqs and residents) is hashed once: HMAC has
    no vectorised form and costs ~1 µs per number in Python, the look-up a few ns in numpy.

    Numbers are held as int64 (12 digits fit) in a few sorted runs beside each one's position in
    a store of their hashes (32 ASCII bytes, in the order they were added) — about 48 bytes a
    number — only for the duration of ``load_feed``; nothing here is stored. Each ``add``
    appends a run and the hashes to the store (grown by doubling); runs are merged when they
    become many, and a merge moves the numbers and positions only, never the hashes (5M
    members: the 32-byte moves of the merges cost ~8 s of the ingest).
    """

    MAX_RUNS = 8

    def __init__(self) -> None:
        self._runs: list[tuple[np.ndarray, np.ndarray]] = []     # (sorted numbers, positions in the store)
        self._store = np.zeros(0, dtype="S32")
        self._stored = 0

    @property
    def numbers(self) -> np.ndarray:
        self._merge()
        return self._runs[0][0] if self._runs else np.zeros(0, dtype=np.int64)

    @property
    def hashes(self) -> np.ndarray:
        """The hashes of :attr:`numbers`, in their order."""
        self._merge()
        return self._store[self._runs[0][1]] if self._runs else np.zeros(0, dtype="S32")

    def _merge(self) -> None:
        if len(self._runs) > 1:
            numbers = np.concatenate([r[0] for r in self._runs])
            positions = np.concatenate([r[1] for r in self._runs])
            order = np.argsort(numbers, kind="stable")      # sorted runs: a merge (timsort)
            self._runs = [(numbers[order], positions[order])]

    def lookup(self, numbers: np.ndarray, assume_sorted: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """(found mask, their hashes — zero bytes where not found) for int64 ``numbers``."""
        found = np.zeros(len(numbers), dtype=bool)
        hashes = np.zeros(len(numbers), dtype="S32")
        if not len(numbers):
            return found, hashes
        if not assume_sorted:
            # sorted queries walk the runs in order (random ones miss the cache on every probe)
            order = np.argsort(numbers, kind="stable")
            sorted_found, sorted_hashes = self.lookup(numbers[order], assume_sorted=True)
            found[order], hashes[order] = sorted_found, sorted_hashes
            return found, hashes
        for run_numbers, run_positions in self._runs:
            at = np.minimum(np.searchsorted(run_numbers, numbers), len(run_numbers) - 1)
            hit = run_numbers[at] == numbers
            found |= hit
            hashes[hit] = self._store[run_positions[at[hit]]]
        return found, hashes

    def add(self, numbers: np.ndarray, hashes: np.ndarray, assume_sorted: bool = False) -> None:
        """Remember distinct new ``numbers`` (int64, none already known) with their hashes."""
        if not len(numbers):
            return
        if not assume_sorted:
            order = np.argsort(numbers, kind="stable")
            numbers, hashes = numbers[order], hashes[order]
        n, start = len(numbers), self._stored
        if start + n > len(self._store):
            grown = np.zeros(max(start + n, 2 * len(self._store)), dtype="S32")
            grown[:start] = self._store[:start]
            self._store = grown
        self._store[start:start + n] = hashes
        self._stored = start + n
        self._runs.append((np.asarray(numbers, dtype=np.int64), np.arange(start, start + n, dtype=np.int64)))
        if len(self._runs) > self.MAX_RUNS:
            self._merge()


def _hmac_hex(numbers, key: bytes) -> np.ndarray:
    """HMAC-SHA256 hex (first 32 characters) of each 12-digit string, as ``S32``."""
    # RFC 2104 spelled out on two pre-keyed hashlib states copied per number is ~3x faster than
    # copying an hmac object (and than hmac.digest), with identical digests.
    inner_base, outer_base = _hmac_states(key)
    digests = []
    for number in numbers:
        inner = inner_base.copy()
        inner.update(number.encode("ascii"))
        outer = outer_base.copy()
        outer.update(inner.digest())
        digests.append(outer.hexdigest()[:32])
    return np.array(digests, dtype="S32") if digests else np.zeros(0, dtype="S32")


_POWERS_OF_TEN = 10 ** np.arange(11, -1, -1, dtype=np.int64)


def _distinct_numbers(numbers: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(sorted distinct values, a row holding each, each row's position in them): np.unique's
    answer from one unstable sort (np.unique with return_index sorts stably, ~2x the cost; any
    row of a value will do, equal numbers have equal text)."""
    order = np.argsort(numbers)
    ordered = numbers[order]
    starts = np.ones(len(ordered), dtype=bool)
    starts[1:] = ordered[1:] != ordered[:-1]
    inverse = np.empty(len(numbers), dtype=np.int64)
    inverse[order] = np.cumsum(starts) - 1
    return ordered[starts], order[starts], inverse
_STATUS_CODES = np.array([NUMBER_MISSING, NUMBER_VALID, NUMBER_BAD_CHECK, NUMBER_LAST4_ONLY], dtype=object)


def protect_numbers(full: pd.Series, last4: pd.Series, key: bytes, known: KnownHashes | None = None
                    ) -> pd.DataFrame:
    """Replace canonical 12-digit numbers by ``number_hash``, ``number_last4``, ``number_status``.

    ``full`` holds already-normalised 12-digit strings or NA; ``last4`` the delivered last
    four digits or NA. The returned frame has the same index. ``known``: hashes computed
    earlier for the same feed and key (see :class:`KnownHashes`), used and extended.

    Work is per *distinct* number (hash, check digit), mapped back to the rows; the hash column
    holds 32 bytes only for the rows that have a number (a file without numbers costs no bytes).
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    n = len(full)
    full_arrow = pa.array(full, type=pa.string())
    last4_arrow = pa.array(last4, type=pa.string())
    has_full = np.asarray(full_arrow.is_valid(), dtype=bool)
    status = np.zeros(n, dtype=np.int8)  # codes into _STATUS_CODES: missing 0, valid 1, bad_check 2, last4_only 3
    if has_full.any():
        present = full_arrow.filter(pa.array(has_full)) if not has_full.all() else full_arrow
        as_int = np.asarray(pc.cast(present, pa.int64()), dtype=np.int64)
        distinct, first, inverse = _distinct_numbers(as_int)

        found, distinct_hashes = known.lookup(distinct, assume_sorted=True) if known is not None else \
            (np.zeros(len(distinct), dtype=bool), np.zeros(len(distinct), dtype="S32"))
        new = np.flatnonzero(~found)
        if len(new):
            computed = _hmac_hex(present.take(pa.array(first[new])).to_pylist(), key)
            distinct_hashes[new] = computed
            if known is not None:
                known.add(distinct[new], computed, assume_sorted=True)
        hashes = distinct_hashes[inverse]
        # each row's 12 digits straight from the string bytes (canonical: exactly 12 ASCII digits)
        offsets = np.frombuffer(present.buffers()[1], dtype=np.int32)[present.offset:present.offset + len(present) + 1]
        if int(offsets[-1] - offsets[0]) == 12 * len(present):
            digits = np.frombuffer(present.buffers()[2], dtype=np.uint8)[
                int(offsets[0]):int(offsets[-1])].reshape(-1, 12) - np.uint8(48)
            valid = digits[:, 11] == check_digits(digits[:, :11])
        else:  # not canonical text: the digits of each distinct integer
            digits = (distinct[:, None] // _POWERS_OF_TEN) % 10
            valid = (digits[:, 11] == check_digits(digits[:, :11]))[inverse]
        status[has_full] = np.where(valid, 1, 2)
        # 32 bytes per row that has a number, laid out as Arrow string data; nulls elsewhere
        offsets = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(has_full, out=offsets[1:])
        offsets *= 32
        number_hash = pa.Array.from_buffers(pa.large_string(), n, [
            pa.array(has_full).buffers()[1], pa.py_buffer(offsets), pa.py_buffer(np.ascontiguousarray(hashes))])
        number_last4 = pc.if_else(pa.array(has_full), pc.utf8_slice_codeunits(full_arrow, -4), last4_arrow)
    else:
        number_hash = pa.nulls(n, pa.large_string())
        number_last4 = last4_arrow
    status[~has_full & np.asarray(last4_arrow.is_valid(), dtype=bool)] = 3
    number_status = pc.take(pa.array(_STATUS_CODES.tolist(), type=pa.large_string()), pa.array(status))
    dtype = pd.StringDtype("pyarrow")
    return pd.DataFrame({
        "number_hash": pd.array(number_hash, dtype=dtype),
        "number_last4": pd.array(number_last4, dtype=dtype),
        "number_status": pd.array(number_status, dtype=dtype),
    }, index=full.index)


def mask_text(text: str) -> str:
    """Mask every number-like run in free text to ``********`` + its last four digits.

    The definition is :func:`reports.guard.number_runs` (after NFKC: 12 digits, contiguous or
    split by spaces, hyphens, dashes, minus signs or full stops). Non-strings are returned as is.
    """
    return mask_individual_numbers(text)


def mask_number(text: str) -> str:
    """Former name of :func:`mask_text` (kept for callers)."""
    return mask_individual_numbers(text)


def mask_series(values: pd.Series) -> pd.Series:
    """:func:`mask_text` over a string column: an RE2 pre-filter on all rows (pyarrow), Python only
    on the distinct values it flags. Missing values stay missing; the dtype is kept when possible."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if len(values) == 0:
        return values
    array = pa.array(values.astype("string"), type=pa.string())
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    if array.null_count * 2 > len(array):
        # a mostly empty column (通称, 旧氏, alphabet names): RE2 on the present values only
        # (it costs about as much per missing value as per short name otherwise)
        hits = np.zeros(len(array), dtype=bool)
        rows = np.flatnonzero(np.asarray(array.is_valid(), dtype=bool))
        if len(rows):
            found = pc.match_substring_regex(array.take(pa.array(rows)), pattern=NUMBER_CANDIDATE_RE2)
            hits[rows] = pc.fill_null(found, False).to_numpy(zero_copy_only=False)
    else:
        hits = pc.fill_null(pc.match_substring_regex(array, pattern=NUMBER_CANDIDATE_RE2), False)
        hits = hits.to_numpy(zero_copy_only=False)
    if not hits.any():
        return values
    text = values.astype("string").copy()
    distinct = pd.unique(text[hits].to_numpy(dtype=object))
    masked = {v: mask_individual_numbers(v) for v in distinct}
    text[hits] = text[hits].map(masked)
    return text


# C0 controls except tab, LF and CR; DEL; C1 controls. NUL and friends are shown as \x00.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
CONTROL_RE2 = r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x{9f}]"


def escape_controls(text: str) -> str:
    """Control characters (NUL, ESC, DEL, C1 …) written as ``\\xNN``; tab, LF, CR kept."""
    if not isinstance(text, str):
        return text
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group(0)):02x}", text)


class NumberMaskingFilter(logging.Filter):
    """A ``logging.Filter`` for handlers: masks number-like runs in every record before it is
    emitted — the formatted message (``msg % args``), the exception text and string extras.

    Install on handlers (``handler.addFilter(NumberMaskingFilter())``): a handler filter sees
    records from every logger that propagates to it. It never drops a record.
    """

    _STANDARD = frozenset(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime"}

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a bad format string: keep what there is, masked
            message = f"{record.msg} {record.args}"
        masked = mask_individual_numbers(message)
        if masked != message or record.args:
            record.msg, record.args = masked, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = mask_individual_numbers(record.exc_text)
        if record.stack_info:
            record.stack_info = mask_individual_numbers(record.stack_info)
        for name, value in list(record.__dict__.items()):
            if name not in self._STANDARD and isinstance(value, str):
                setattr(record, name, mask_individual_numbers(value))
        return True
