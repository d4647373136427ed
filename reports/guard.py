"""Last line of defence: no report output may carry a full individual number (個人番号).

Reports cannot import :mod:`reconcile` (and its ``privacy`` module), so the check lives here.
Every writer in this package renders its whole output in memory, passes it through
:func:`assert_no_individual_number`, and only then touches the disk — a leak aborts the write
before any file exists.

The rule is deliberately blunt: any run of 12 or more digits (ASCII or full-width, as the feed
contract accepts both), or 12 digits written in three groups of four separated by a space or a
hyphen, is refused — with two exceptions for identifiers, because an insurer's member id
(記号・番号・枝番 joined: 4 + 6 + 2 digits is common) or a municipality's resident id can be a
12-digit number too, and refusing them would make every export of such an insurer fail:

- identifiers in the forms the product itself writes them: an insurer-qualified member
  reference (``122218:100000000101``) and a JSON field named for an identifier
  (``"partner_member_id": "…"``, ``"resident_id": "…"``, ``"other_members": "…"``);
- the exact values the caller names as identifiers (``identifiers=``: the member ids and
  resident ids of the rows being written).

An individual number never reaches a finding in full (it is hashed at ingest), so these
contexts cannot hold one; anywhere else a 12-digit run is still refused.
"""
from __future__ import annotations

import re
from typing import Iterable

import pandas as pd

# \d is Unicode-aware: it also matches full-width digits (０-９), which the feed contract accepts.
FULL_NUMBER_RE = re.compile(r"\d{12,}|(?<!\d)\d{4}[ \-‐－]\d{4}[ \-‐－]\d{4}(?!\d)")

# Embedded images are base64: their alphabet contains digits, so a long digit run inside one
# is noise, not a number. They are stripped before the check (the PNGs' text is checked at source).
_DATA_URI_RE = re.compile(r"data:image/[a-z+]+;base64,[A-Za-z0-9+/=]+")

# Identifiers as the product writes them (see the module docstring).
_IDENTIFIER_CONTEXT_RE = re.compile(
    r"(?<![0-9])(?:[0-9]{6}|[0-9]{8}):[0-9A-Za-z][0-9A-Za-z\-]*"
    r'|"[a-z_]*(?:member_id|resident_id|household_id|member|members)"\s*:\s*"[^"]*"')


class IndividualNumberLeak(ValueError):
    """Output about to be written contains what looks like a full individual number."""


def find_individual_numbers(text: str, identifiers: Iterable[str] = ()) -> list[str]:
    """Digit runs in ``text`` that could be a full individual number, masked to their last 4.

    ``identifiers``: values known to be member / resident ids, which are not refused.
    """
    stripped = _DATA_URI_RE.sub("data:image", text)
    stripped = _IDENTIFIER_CONTEXT_RE.sub("<id>", stripped)
    allowed = {str(v) for v in identifiers}
    return [f"…{m.group(0)[-4:]}" for m in FULL_NUMBER_RE.finditer(stripped) if m.group(0) not in allowed]


def assert_no_individual_number(text: str, where: str, identifiers: Iterable[str] = ()) -> None:
    """Raise :class:`IndividualNumberLeak` if ``text`` holds a 12-digit run.

    個人番号（12桁）らしき数字列を含む出力は書き出さない。 The message names the output and shows only
    the last four digits of what was found, so the error itself leaks nothing.
    """
    hits = find_individual_numbers(text, identifiers)
    if hits:
        raise IndividualNumberLeak(
            f"{where}: refusing to write output containing {len(hits)} run(s) of 12+ digits "
            f"(ending {', '.join(hits[:3])}); only the last four digits of an individual number "
            f"may appear in a report / 個人番号の全桁は出力できません")


def identifier_values(frame: pd.DataFrame, columns: Iterable[str] = ("member_id", "suggested_resident_id",
                                                                      "resident_id")) -> set[str]:
    """The identifier values of ``frame`` (those of ``columns`` it has) as strings."""
    out: set[str] = set()
    for column in columns:
        if column in frame.columns:
            out.update(frame[column].dropna().astype(str))
    return out


def last4(values: pd.Series) -> pd.Series:
    """Keep only the last four digits of each value (a full number handed in by mistake is cut)."""
    text = values.astype("string").str.replace(r"\D", "", regex=True)
    return text.str[-4:].where(text.str.len() > 0)
