"""CSV出力 / CSV writers for ``reconcile export findings`` and ``reconcile export quarantine``.

Column order is the contract's (``/work/shared/contract/findings.md``). Encodings: UTF-8
(default), UTF-8 with BOM (``utf-8-sig``, for Excel) and CP932 for Windows tools.

Privacy guard: before a byte is written the rendered text is checked with
:func:`reports.guard.find_individual_numbers` (the one 12-digit guard of every output, with
its exceptions for member / resident ids); a 12-digit run raises :class:`PrivacyLeak` instead
of writing. Identifier columns (``finding_id``, scan ids, ``insurer_number``,
``member_id``, ``suggested_resident_id``) are not checked: a 24-hex ``finding_id`` holds twelve
decimal digits in a row about once in a few hundred ids, and member / resident ids are the
insurer's and municipality's own codes, not individual numbers.
"""
from __future__ import annotations

import codecs
import io
import os
from pathlib import Path
from typing import IO, Iterable

import pandas as pd

from reports.guard import find_individual_numbers, identifier_values

FINDINGS_EXPORT_COLUMNS = [
    "finding_id", "scan_id", "insurer_number", "member_id", "rule_id", "category", "severity", "score",
    "summary", "evidence", "suggested_resident_id", "suggested_individual_number_last4", "queue",
    "status", "first_seen_scan", "last_seen_scan",
]
QUARANTINE_EXPORT_COLUMNS = ["file", "line", "column", "value", "reason"]
ENCODINGS = ("utf-8", "utf-8-sig", "cp932")

_UNCHECKED = frozenset({"finding_id", "scan_id", "first_seen_scan", "last_seen_scan", "insurer_number",
                        "member_id", "suggested_resident_id", "line"})

# CP932 output: characters CP932 cannot hold do not fail the export. The usual Unicode/CP932
# look-alikes are mapped to the CP932 character Windows users expect (〜 → ～, − → －, …);
# anything else (𠮷, 髙 is fine, 﨑 is fine, most emoji and rare variants are not) becomes the
# geta mark 〓, the conventional "character could not be represented" sign in Japanese systems.
GETA = "〓"
_CP932_LOOKALIKES = {
    "\u301c": "\uff5e",  # 〜 WAVE DASH → ～
    "\u2016": "\u2225",  # ‖ → ∥
    "\u2212": "\uff0d",  # − MINUS SIGN → －
    "\u00a2": "\uffe0", "\u00a3": "\uffe1", "\u00ac": "\uffe2",
    "\u2014": "\u2015",  # — EM DASH → ―
}


def _geta_errors(error: UnicodeError) -> tuple[str, int]:
    if not isinstance(error, UnicodeEncodeError):
        raise error
    bad = error.object[error.start:error.end]
    return "".join(_CP932_LOOKALIKES.get(ch, GETA) for ch in bad), error.end


codecs.register_error("reconcile.geta", _geta_errors)


class PrivacyLeak(ValueError):
    """An export would contain a full 12-digit individual number / 個人番号の全桁が出力されようとした."""


def _check_no_full_numbers(frame: pd.DataFrame, columns: Iterable[str]) -> None:
    identifiers = identifier_values(frame)
    for column in columns:
        if column in _UNCHECKED or pd.api.types.is_numeric_dtype(frame[column].dtype):
            continue   # numbers the product computed (a score's 0.999999999999997 is no 個人番号)
        values = frame[column].dropna().astype(str)
        if len(values) and find_individual_numbers("\n".join(values), identifiers):
            offending = values[values.map(lambda v: bool(find_individual_numbers(v, identifiers)))]
            where = frame.loc[offending.index[0], "finding_id"] if "finding_id" in frame.columns \
                else f"row {offending.index[0]}"
            raise PrivacyLeak(f"refusing to export: column {column!r} ({where}) holds a 12-digit number; "
                              f"individual numbers may only appear as their last four digits / "
                              f"個人番号の全桁は出力できません")


def _encode(text: str, encoding: str) -> bytes:
    if encoding not in ENCODINGS:
        raise ValueError(f"encoding {encoding!r}; expected one of {', '.join(ENCODINGS)}")
    if encoding == "cp932":
        return text.encode("cp932", errors="reconcile.geta")
    return text.encode(encoding)


def _write(data: bytes, out: str | os.PathLike | IO, encoding: str) -> None:
    if isinstance(out, (str, os.PathLike)):
        Path(out).write_bytes(data)
    elif isinstance(out, io.TextIOBase) and hasattr(out, "buffer"):   # sys.stdout and friends
        out.flush()
        out.buffer.write(data)
        out.buffer.flush()
    elif isinstance(out, io.TextIOBase):                                # StringIO: already-decoded text
        out.write(data.decode("cp932" if encoding == "cp932" else "utf-8-sig"))
    else:
        out.write(data)


def _render(frame: pd.DataFrame, columns: list[str], what: str) -> tuple[pd.DataFrame, str]:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"{what} frame lacks column(s): {', '.join(missing)}")
    ordered = frame[columns]
    _check_no_full_numbers(ordered, columns)
    return ordered, ordered.to_csv(index=False, lineterminator="\n")


def write_frame_csv(frame: pd.DataFrame, out: str | os.PathLike | IO, *, encoding: str = "utf-8",
                    what: str = "export", columns: list[str] | None = None) -> int:
    """Write any export frame as CSV (all columns, or ``columns`` in that order); returns rows.

    Same encodings and the same full-number guard as the findings export; ``what`` names the
    export in error messages.
    """
    ordered, text = _render(frame, list(frame.columns) if columns is None else list(columns), what)
    _write(_encode(text, encoding), out, encoding)
    return len(ordered)


def write_findings_csv(frame: pd.DataFrame, out: str | os.PathLike | IO,
                       encoding: str = "utf-8") -> int:
    """Write the findings export (columns exactly :data:`FINDINGS_EXPORT_COLUMNS`); returns rows.

    ``evidence`` is written as the JSON text the store keeps. With ``cp932`` characters outside
    CP932 become 〓 (see above) instead of failing. Raises :class:`PrivacyLeak` (nothing written)
    when a checked column holds a 12-digit number.
    """
    return write_frame_csv(frame, out, encoding=encoding, what="findings", columns=FINDINGS_EXPORT_COLUMNS)


def write_quarantine_csv(frame: pd.DataFrame, out: str | os.PathLike | IO,
                         encoding: str = "utf-8") -> int:
    """Write the quarantine export (file, line, column, value, reason); returns rows."""
    return write_frame_csv(frame, out, encoding=encoding, what="quarantine", columns=QUARANTINE_EXPORT_COLUMNS)
