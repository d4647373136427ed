"""Last line of defence: no report output may carry a full individual number (個人番号).

Reports cannot import :mod:`reconcile` (and its ``privacy`` module), so the check lives here.
Every writer in this package renders its whole output in memory, passes it through
:func:`assert_no_individual_number`, and only then touches the disk — a leak aborts the write
before any file exists.

What counts as a full number is the one definition below (``number_runs``: after NFKC, a run
of exactly 12 digits, contiguous or split by separators — space, ideographic space, ``-``, ``‐``,
``–``, ``—``, ``−``, ``.``, and the other dashes ``‒`` ``―`` ``ー`` — or any run holding 12+
contiguous digits). Ingest masking, the number
parser, :mod:`reconcile.privacy` (``mask_text``, the log filter) and the store use it from here,
because every layer may import ``reports.guard`` and reports may not import ``reconcile``.
Two exceptions for identifiers, because an insurer's member id
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
import unicodedata
from functools import lru_cache
from typing import Iterable

import pandas as pd

# ---------------------------------------------------------------------------------------------
# THE definition of "looks like an individual number" (findings contract), for every layer:
# ingest masking (reconcile.feeds), the number parser, reconcile.privacy.mask_text and the log
# filter, the store, and the output guards. Judged per value after NFKC: a maximal run of digits
# joined by separators from NUMBER_SEPARATORS is number-like when it holds exactly 12 digits, or
# when it contains 12+ contiguous digits (a longer run holding a number). Runs of separators
# ("6542  5847  2870", "1234 - 5678 - 9012") join too: that errs on the safe side. A run of more
# than 12 digits split by separators ("2026-11-23 – 2026-11-29") is not a number.
# The contract's separators, plus the other dashes people type between digits (‒ figure dash,
# ― horizontal bar, ー the katakana prolonged sound mark a Japanese IME gives for a hyphen; ｰ and
# ‑ fold to ー and ‐ under NFKC): at least as broad as the contract, and the parser takes the same.
NUMBER_SEPARATORS = (" ", "\u3000", "-", "\u2010", "\u2013", "\u2014", "\u2212", ".", "\u2012", "\u2015", "\u30fc")
# The separators as a regex character class; valid in Python ``re`` and in RE2 (pyarrow).
SEPARATOR_CLASS = "[ \u3000\\-\u2010\u2013\u2014\u2212.\u2012\u2015\u30fc]"
NUMBER_DIGITS = 12
# A number as the parser accepts it (NFKC'd, whole value): 12 ASCII digits, separators between.
NUMBER_SHAPE = f"[0-9](?:{SEPARATOR_CLASS}*[0-9]){{{NUMBER_DIGITS - 1}}}"
# RE2 pre-filter for vectorised masking of raw (not NFKC'd) text: a superset of the definition —
# anything NFKC can turn into a digit (\p{N}) joined by anything NFKC can turn into a separator
# (\p{Z} spaces, \p{Pd} dashes, \p{Po} full stops and more, the minus sign − and its super- and
# subscript forms) — or any character NFKC turns into two digits or more (⑫, ㏠ → "1日", ¼ …).
# Values it matches are then judged by :func:`number_runs`.
NUMBER_CANDIDATE_RE2 = (r"\p{N}(?:[\p{Z}\p{Pd}\p{Po}\x{2212}\x{207B}\x{208B}\x{30FC}\x{FF70}]*\p{N}){11}"
                        r"|[\x{BC}-\x{BE}\x{2150}-\x{215E}\x{2189}\x{2469}-\x{2473}\x{247D}-\x{2487}\x{2491}-\x{249B}"
                        r"\x{3251}-\x{325F}\x{32B1}-\x{32CB}\x{3358}-\x{3370}\x{3378}-\x{3379}\x{339F}-\x{33A6}"
                        r"\x{33A8}\x{33AF}\x{33E0}-\x{33FE}]")

_RUN_RE = re.compile(rf"\d(?:{SEPARATOR_CLASS}*\d)*")
_CONTIGUOUS_RE = re.compile(rf"\d{{{NUMBER_DIGITS}}}")
_DIGIT_RE = re.compile(r"\d")


def _is_number_like(run: str) -> bool:
    digits = len(_DIGIT_RE.findall(run))
    return digits == NUMBER_DIGITS or (digits > NUMBER_DIGITS and _CONTIGUOUS_RE.search(run) is not None)


def number_runs(text: str) -> list[str]:
    """The number-like runs of ``text`` (after NFKC), as written after NFKC ("4555–0645–6069")."""
    if not text:
        return []
    folded = text if text.isascii() else unicodedata.normalize("NFKC", text)
    return [m.group(0) for m in _RUN_RE.finditer(folded) if _is_number_like(m.group(0))]


def looks_like_individual_number(value: object) -> bool:
    """Whether one value (a cell, a JSON string, a log field) holds what looks like a full number."""
    return isinstance(value, str) and bool(number_runs(value))


@lru_cache(maxsize=4096)
def _nfkc_char(ch: str) -> str:
    return unicodedata.normalize("NFKC", ch)


def _masked_run(run: str) -> str:
    return "********" + "".join(_DIGIT_RE.findall(run))[-4:]


def mask_individual_numbers(text: str) -> str:
    """``text`` with every number-like run replaced by ``********`` + its last four digits.

    Only the runs change (the rest keeps its width and script); at most four digits of each
    run are shown. NFKC is applied per character to find the runs in the original text.
    """
    if not isinstance(text, str) or not number_runs(text):
        return text
    if text.isascii():
        return _RUN_RE.sub(lambda m: _masked_run(m.group(0)) if _is_number_like(m.group(0)) else m.group(0), text)
    pieces, origin = [], []
    for i, ch in enumerate(text):
        folded = _nfkc_char(ch)
        pieces.append(folded)
        origin.extend([i] * len(folded))
    folded_text = "".join(pieces)
    out, position = [], 0
    for match in _RUN_RE.finditer(folded_text):
        if not _is_number_like(match.group(0)):
            continue
        start, stop = origin[match.start()], origin[match.end() - 1] + 1
        out.append(text[position:start])
        out.append(_masked_run(match.group(0)))
        position = stop
    out.append(text[position:])
    masked = "".join(out)
    if number_runs(masked):  # per-character NFKC missed what whole-text NFKC sees: mask that form
        folded = unicodedata.normalize("NFKC", masked)
        masked = _RUN_RE.sub(lambda m: _masked_run(m.group(0)) if _is_number_like(m.group(0)) else m.group(0), folded)
    return masked


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
    allowed = {unicodedata.normalize("NFKC", str(v)) for v in identifiers}
    return [f"…{''.join(_DIGIT_RE.findall(run))[-4:]}" for run in number_runs(stripped) if run not in allowed]


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
