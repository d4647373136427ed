"""件数の定義 / the one set of count definitions people read (weekly report, national export, API).

Every figure a manager, a prefecture or a steward reads is defined here, once, on plain frames;
the weekly report, the national export and the API call these functions and never count on their
own. Definitions (``/work/shared/contract/findings.md``, "Counts people read"):

==========================  =================================================================
``confirmed``               ``resolved_fixed`` — a steward's verdict that the finding is real
``false_positive``          ``resolved_false_positive``
``wont_fix``                ``resolved_wont_fix``
``no_longer_detected``      ``closed_not_seen`` — a later scan no longer raised it (the source
                            changed); never counted as a steward's confirmation
``still_open``              ``open`` + ``in_progress``
``found``                   every work item of the set counted (the cohort or the week's new)
``corrected``               confirmed, and a later scan of the insurer no longer raised the
                            finding: the fix reached the data (``last_seen_scan`` older than the
                            insurer's latest scan)
``overdue``                 still open and ``due_at`` (when the store has it) before the moment
                            of the count
==========================  =================================================================

Reporting period (対象月) of a scan: its feed's manifest ``period``, else the month of ``as_of``.
The *cohort* of a period is the work items whose finding was first raised by a scan of a feed of
that period; each item is counted by its status at the time of the count.
"""
from __future__ import annotations

from datetime import date, datetime, timezone
from typing import Iterable
from zoneinfo import ZoneInfo

import pandas as pd

from reports.timeutil import REPORT_TZ, local_times

_REPORT_ZONE = ZoneInfo(REPORT_TZ)

OPEN = ("open", "in_progress")
CONFIRMED = ("resolved_fixed",)
FALSE_POSITIVE = ("resolved_false_positive",)
WONT_FIX = ("resolved_wont_fix",)
NO_LONGER_DETECTED = ("closed_not_seen",)
STEWARD_DECISIONS = (*CONFIRMED, *FALSE_POSITIVE, *WONT_FIX)
CLOSED = (*STEWARD_DECISIONS, *NO_LONGER_DETECTED)

#: Status groups in the order every table shows them.
STATUS_GROUPS: dict[str, tuple[str, ...]] = {
    "confirmed": CONFIRMED, "false_positive": FALSE_POSITIVE, "wont_fix": WONT_FIX,
    "no_longer_detected": NO_LONGER_DETECTED, "still_open": OPEN,
}
#: Count columns of :func:`outcome_counts`, in order.
OUTCOME_COLUMNS = ["found", "confirmed", "corrected", "false_positive", "wont_fix", "no_longer_detected",
                   "still_open"]
#: Rules whose findings mean "this member has no linked or resolved resident" (links not verified).
UNLINKED_RULES = ("NUMBER_INVALID", "RESIDENT_NOT_FOUND")
#: The mis-link family (contract: MISLINK_SUSPECTED ∪ NUMBER_SHARED).
MISLINK_FAMILY = ("MISLINK_SUSPECTED", "NUMBER_SHARED")


def _text(frame: pd.DataFrame, column: str) -> pd.Series:
    if column in frame.columns:
        return frame[column].astype("string")
    return pd.Series(pd.NA, index=frame.index, dtype="string")


def status_group(status: pd.Series) -> pd.Series:
    """The group name (``confirmed``, …, ``still_open``) of each status; NA for an unknown one."""
    mapping = {s: group for group, statuses in STATUS_GROUPS.items() for s in statuses}
    return status.astype("string").map(mapping).astype("string")


# ---------------------------------------------------------------- periods and cohorts

def scan_periods(scans: pd.DataFrame) -> pd.DataFrame:
    """``scan_id`` (string) and ``period`` (YYYY-MM) of each scan: the feed's period, else as_of's month."""
    frame = pd.DataFrame({"scan_id": _text(scans, "scan_id")})
    period = _text(scans, "period").str.strip()
    period = period.where(period.str.fullmatch(r"\d{4}-\d{2}").fillna(False))
    as_of = pd.to_datetime(scans["as_of"].astype("object"), errors="coerce") if "as_of" in scans.columns \
        else pd.Series(pd.NaT, index=scans.index)
    frame["period"] = period.fillna(as_of.dt.strftime("%Y-%m").astype("string"))
    if "status" in scans.columns:
        frame["status"] = _text(scans, "status")
    return frame


def _scan_key(values: pd.Series) -> pd.Series:
    """Scan ids compared as text ("12" and 12 and 12.0 are the same scan)."""
    numeric = pd.to_numeric(values, errors="coerce")
    as_int = numeric.dropna().astype("int64").astype("string")
    out = values.astype("string")
    out.loc[as_int.index] = as_int
    return out


def period_scans(scans: pd.DataFrame, period: str) -> list[str]:
    """Ids of the scans of feeds whose reporting period is ``period`` (finished ``done`` when known)."""
    frame = scan_periods(scans)
    keep = frame["period"] == period
    if "status" in frame.columns:
        keep &= frame["status"].fillna("done") == "done"
    return sorted(_scan_key(frame.loc[keep.fillna(False), "scan_id"]).dropna().unique().tolist(), key=_sort_key)


def _sort_key(value: str) -> tuple[int, str]:
    return (int(value), "") if value.isdigit() else (10**18, value)


def cohort(items: pd.DataFrame, scans: pd.DataFrame, period: str) -> pd.DataFrame:
    """Work items first raised by a scan of a feed of ``period`` (rows of ``items``, index kept)."""
    ids = set(period_scans(scans, period))
    first = _scan_key(items["first_seen_scan"]) if "first_seen_scan" in items.columns else \
        pd.Series(pd.NA, index=items.index, dtype="string")
    return items.loc[first.isin(ids).fillna(False)]


def latest_scan_per_insurer(scan_insurers: pd.DataFrame) -> pd.Series:
    """``insurer_number`` → the newest scan id (int) that covered the insurer; input columns
    ``scan_id, insurer_number`` (e.g. the store's feed statistics)."""
    if scan_insurers.empty:
        return pd.Series(dtype="int64")
    frame = pd.DataFrame({"insurer_number": _text(scan_insurers, "insurer_number"),
                          "scan_id": pd.to_numeric(scan_insurers["scan_id"], errors="coerce")}).dropna()
    return frame.groupby("insurer_number")["scan_id"].max().astype("int64")


# ---------------------------------------------------------------- outcome counts

def corrected_flags(items: pd.DataFrame, latest_scan: pd.Series | None) -> pd.Series:
    """Confirmed items whose finding the insurer's latest scan no longer raised."""
    confirmed = _text(items, "status").isin(CONFIRMED).fillna(False)
    if latest_scan is None or latest_scan.empty or "last_seen_scan" not in items.columns:
        return pd.Series(False, index=items.index)
    latest = _text(items, "insurer_number").map(latest_scan.astype("float64")).astype("float64")
    last_seen = pd.to_numeric(items["last_seen_scan"], errors="coerce").astype("float64")
    return (confirmed & (last_seen < latest).fillna(False)).astype(bool)


def outcome_flags(items: pd.DataFrame, latest_scan: pd.Series | None = None) -> pd.DataFrame:
    """One boolean column per :data:`OUTCOME_COLUMNS` for each work item (index kept)."""
    status = _text(items, "status")
    flags = pd.DataFrame({"found": True}, index=items.index)
    for group, statuses in STATUS_GROUPS.items():
        flags[group] = status.isin(statuses).fillna(False).astype(bool)
    flags["corrected"] = corrected_flags(items, latest_scan)
    return flags[OUTCOME_COLUMNS].astype(bool)


def outcome_counts(items: pd.DataFrame, by: Iterable[str], latest_scan: pd.Series | None = None
                   ) -> pd.DataFrame:
    """:data:`OUTCOME_COLUMNS` counts of ``items`` grouped by the columns ``by`` (int64, index reset)."""
    by = list(by)
    flags = outcome_flags(items, latest_scan)
    for column in by:
        flags[column] = _text(items, column)
    if flags.empty:
        return pd.DataFrame({**{c: pd.Series(dtype="string") for c in by},
                             **{c: pd.Series(dtype="int64") for c in OUTCOME_COLUMNS}})
    out = flags.groupby(by, dropna=False)[OUTCOME_COLUMNS].sum().astype("int64").reset_index()
    return out


def members_checked(feed_stats: pd.DataFrame, scan_ids: Iterable[str]) -> pd.DataFrame:
    """Per insurer: its latest scan among ``scan_ids`` and the members of that feed.

    ``feed_stats``: ``scan_id, insurer_number, statistic, value`` (the store's feed statistics;
    the ``members`` statistic is the insurer's member rows). Columns out: ``insurer_number,
    scan_id, members_checked``.
    """
    wanted = set(scan_ids)
    stats = feed_stats.loc[feed_stats["statistic"].astype("string") == "members"]
    stats = stats.loc[_scan_key(stats["scan_id"]).isin(wanted).fillna(False)]
    if stats.empty:
        return pd.DataFrame({"insurer_number": pd.Series(dtype="string"), "scan_id": pd.Series(dtype="int64"),
                             "members_checked": pd.Series(dtype="int64")})
    frame = pd.DataFrame({"insurer_number": _text(stats, "insurer_number"),
                          "scan_id": pd.to_numeric(stats["scan_id"], errors="coerce").astype("int64"),
                          "members_checked": pd.to_numeric(stats["value"], errors="coerce").fillna(0).round()
                          .astype("int64")})
    latest = frame.sort_values(["insurer_number", "scan_id"]).drop_duplicates("insurer_number", keep="last")
    return latest.reset_index(drop=True)


def links_verified(checked: pd.DataFrame, scan_findings: pd.DataFrame) -> pd.Series:
    """Per insurer (aligned with ``checked``): members of that feed with a linked or resolved resident.

    = ``members_checked`` less the distinct members that the same scan raised one of
    :data:`UNLINKED_RULES` for (number missing or failing its check digit, or no resident for it).
    ``scan_findings``: ``scan_id, insurer_number, member_id, rule_id`` of the scans' findings.
    """
    if checked.empty:
        return pd.Series(dtype="int64")
    unlinked = scan_findings.loc[_text(scan_findings, "rule_id").isin(UNLINKED_RULES).fillna(False)]
    unlinked = pd.DataFrame({"scan_id": pd.to_numeric(unlinked["scan_id"], errors="coerce"),
                             "insurer_number": _text(unlinked, "insurer_number"),
                             "member_id": _text(unlinked, "member_id")}).drop_duplicates()
    per = unlinked.groupby(["scan_id", "insurer_number"]).size()
    keys = pd.MultiIndex.from_arrays([checked["scan_id"].astype("float64"), checked["insurer_number"]])
    without = pd.Series(per.reindex(keys).fillna(0).to_numpy(), index=checked.index).astype("int64")
    return (checked["members_checked"] - without).clip(lower=0).astype("int64")


# ---------------------------------------------------------------- the working week

def open_mask(items: pd.DataFrame) -> pd.Series:
    return _text(items, "status").isin(OPEN).fillna(False).astype(bool)


def _times(values: pd.Series, local: bool) -> pd.Series:
    return values if local else local_times(values)


def _moment(now: pd.Timestamp) -> pd.Timestamp:
    """``now`` as naive Japan time (an aware moment is converted; a naive one is taken as Japan time)."""
    moment = pd.Timestamp(now)
    return moment.tz_convert("Asia/Tokyo").tz_localize(None) if moment.tzinfo is not None else moment


def overdue_mask(items: pd.DataFrame, now: pd.Timestamp, *, local: bool = False) -> pd.Series:
    """Still open and due before ``now``; all False when the store has no ``due_at``.

    ``due_at`` as the store returns it (naive = UTC), or already naive Japan time with ``local=True``.
    """
    if "due_at" not in items.columns:
        return pd.Series(False, index=items.index)
    due = _times(items["due_at"], local)
    return (open_mask(items) & (due < _moment(now)).fillna(False)).astype(bool)


# --- the same two definitions for one value at a time --------------------------------------------
# For a handful of values (the API's queue overview reads a few grouped rows per request) the
# vectorised forms above cost ~10 ms of pandas time-zone work per call; these give the same answers
# (tests/reports/test_counts_scalar.py compares them) with the standard library.

def _local_moment(value) -> datetime | None:
    """A stored time as naive Japan time, as :func:`reports.timeutil.local_times` reads it: naive =
    UTC, aware converted, a date = midnight UTC; None / NaT / unparseable → None."""
    if value is None or value is pd.NaT or (isinstance(value, float) and value != value):
        return None
    if isinstance(value, str):
        try:
            value = pd.Timestamp(value).to_pydatetime()
        except (ValueError, TypeError):
            return None
    if isinstance(value, pd.Timestamp):
        value = value.to_pydatetime()
    if isinstance(value, date) and not isinstance(value, datetime):
        value = datetime(value.year, value.month, value.day)
    if not isinstance(value, datetime):
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value.astimezone(_REPORT_ZONE).replace(tzinfo=None)


def _local_now(now) -> datetime:
    # pandas' own astimezone costs ~150 µs; the standard library's a few
    moment = now.to_pydatetime() if isinstance(now, pd.Timestamp) else \
        now if isinstance(now, datetime) else pd.Timestamp(now).to_pydatetime()
    return moment.astimezone(_REPORT_ZONE).replace(tzinfo=None) if moment.tzinfo is not None else moment


def is_overdue(status: str | None, due_at, now) -> bool:
    """:func:`overdue_mask` for one item (``due_at`` as the store returns it; ``now`` aware, or naive Japan time)."""
    due = _local_moment(due_at)
    return status in OPEN and due is not None and due < _local_now(now)


def age_in_days(created_at, now) -> int | None:
    """:func:`age_days` for one item: whole days since ``created_at`` at ``now`` (None when unknown)."""
    created = _local_moment(created_at)
    return None if created is None else (_local_now(now) - created).days


AGE_BANDS = ((0, 7, "0-7"), (8, 14, "8-14"), (15, 30, "15-30"), (31, 60, "31-60"), (61, None, "61+"))


def age_days(items: pd.DataFrame, now: pd.Timestamp, *, local: bool = False) -> pd.Series:
    """Whole days since each item was created, at ``now`` (``created_at`` as :func:`overdue_mask` reads ``due_at``)."""
    created = _times(items["created_at"], local) if "created_at" in items.columns else \
        pd.Series(pd.NaT, index=items.index, dtype="datetime64[us]")
    return ((_moment(now) - created).dt.days).astype("Int64")


def age_band(days: pd.Series) -> pd.Series:
    """The :data:`AGE_BANDS` label of each age in days."""
    out = pd.Series(pd.NA, index=days.index, dtype="string")
    for low, high, label in AGE_BANDS:
        inside = days >= low if high is None else (days >= low) & (days <= high)
        out = out.mask(inside.fillna(False).astype(bool), label)
    return out


def resolved_in(events: pd.DataFrame, start: pd.Timestamp, end: pd.Timestamp) -> pd.DataFrame:
    """Findings whose last status change in ``[start, end)`` (naive Japan time) closed them.

    ``events``: ``finding_id``, ``to_status`` (or ``status``), ``at`` (or ``changed_at``) and any
    other columns (kept from the last event). A finding resolved and reopened in the span is not
    counted. Returns those last events, with ``status`` and ``group``.
    """
    frame = events.rename(columns={k: v for k, v in (("to_status", "status"), ("at", "changed_at"))
                                   if k in events.columns and v not in events.columns})
    if frame.empty:
        return frame.assign(status=pd.Series(dtype="string"), group=pd.Series(dtype="string"))
    when = local_times(frame["changed_at"])
    frame = frame.assign(changed_at=when, status=_text(frame, "status"),
                         finding_id=_text(frame, "finding_id"))
    frame = frame.loc[(when >= start) & (when < end)]
    last = frame.sort_values("changed_at", kind="stable").drop_duplicates("finding_id", keep="last")
    last = last.loc[last["status"].isin(CLOSED).fillna(False)]
    return last.assign(group=status_group(last["status"])).reset_index(drop=True)
