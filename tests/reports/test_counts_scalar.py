"""The one-value forms of "overdue" and "age in days" give exactly what the frame forms give.

The API's queue overview counts a few grouped rows per request with ``reports.counts.is_overdue`` /
``age_in_days``; the weekly report uses ``overdue_mask`` / ``age_days`` on whole frames. Same
definitions, so the same answers for every stored form (naive = UTC, aware, a date, missing) and
``now`` aware or naive Japan time — including the instants at the day and due boundaries.
"""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from reports import counts

JST = timezone(timedelta(hours=9))
BASE = datetime(2026, 11, 30, 15, 0)          # 2026-12-01 00:00 in Japan, naive UTC as SQLite returns it

moments = st.one_of(
    st.none(),
    st.integers(-90 * 24 * 60, 90 * 24 * 60).map(lambda m: BASE + timedelta(minutes=m)),          # naive UTC
    st.integers(-90 * 24 * 60, 90 * 24 * 60).map(lambda m: (BASE + timedelta(minutes=m)).replace(
        tzinfo=timezone.utc).astimezone(JST)),                                                         # aware
    st.integers(-90, 90).map(lambda d: date(2026, 12, 1) + timedelta(days=d)),                      # a date
)
nows = st.one_of(
    st.integers(-5 * 24 * 60, 5 * 24 * 60).map(lambda m: pd.Timestamp(BASE + timedelta(minutes=m), tz="UTC")),
    st.integers(-5 * 24 * 60, 5 * 24 * 60).map(lambda m: pd.Timestamp("2026-12-01 00:00") + pd.Timedelta(minutes=m)),
)


@settings(max_examples=300, deadline=None, derandomize=True)
@given(st.lists(st.tuples(st.sampled_from(["open", "in_progress", "resolved_fixed", "closed_not_seen"]),
                          moments, moments), min_size=1, max_size=6), nows)
def test_scalar_forms_equal_the_frame_forms(rows, now):
    frame = pd.DataFrame(rows, columns=["status", "due_at", "created_at"], dtype="object")
    assert counts.overdue_mask(frame, now).tolist() == [counts.is_overdue(s, d, now) for s, d, _ in rows]
    ages = counts.age_days(frame, now).astype("object").where(lambda a: a.notna(), None).tolist()
    assert ages == [counts.age_in_days(c, now) for _, _, c in rows]


def test_boundaries():
    due = datetime(2026, 11, 30, 15, 0)                 # due 2026-12-01 00:00 Japan time
    assert counts.is_overdue("open", due, pd.Timestamp("2026-12-01 00:00:01")) is True
    assert counts.is_overdue("open", due, pd.Timestamp("2026-12-01 00:00:00")) is False
    assert counts.is_overdue("resolved_fixed", due, pd.Timestamp("2026-12-09")) is False
    assert counts.is_overdue("open", None, pd.Timestamp("2026-12-09")) is False
    assert counts.age_in_days(due, pd.Timestamp("2026-12-01 23:59", tz="Asia/Tokyo")) == 0
    assert counts.age_in_days(due, pd.Timestamp("2026-12-02 00:00", tz="Asia/Tokyo")) == 1
    assert counts.age_in_days(None, pd.Timestamp("2026-12-02")) is None
