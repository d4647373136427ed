"""Age boundaries of domain brief §4, written from the brief (年齢計算ニ関スル法律: one reaches X the day before the birthday)."""
from __future__ import annotations

import pandas as pd
import pytest

from detectors import ages


def one(func, birth, *args):
    return func(pd.Series(pd.to_datetime([birth])), *args).iloc[0]


@pytest.mark.parametrize("case", [
    {"description": "born April 1 reaches 6 on March 31 → 20% ends that same March 31",
     "birth": "2019-04-01", "end": "2025-03-31"},
    {"description": "born April 2 reaches 6 on April 1 → 20% ends the next March 31",
     "birth": "2019-04-02", "end": "2026-03-31"},
    {"description": "born March 31 reaches 6 on March 30 → ends the next day",
     "birth": "2019-03-31", "end": "2025-03-31"},
    {"description": "born January 1 reaches 6 on December 31 → the following March 31",
     "birth": "2019-01-01", "end": "2025-03-31"},
    {"description": "born February 29 reaches 6 on February 28",
     "birth": "2020-02-29", "end": "2026-03-31"},
], ids=lambda c: c["description"])
def test_preschool_end(case):
    assert one(ages.preschool_end, case["birth"]) == pd.Timestamp(case["end"])


@pytest.mark.parametrize("case", [
    {"description": "born on the 1st: 70–74 status from the birthday month", "birth": "1956-03-01", "start": "2026-03-01"},
    {"description": "born on the 2nd: from the 1st of the next month", "birth": "1956-03-02", "start": "2026-04-01"},
    {"description": "born on the 31st", "birth": "1956-03-31", "start": "2026-04-01"},
    {"description": "born January 1: reaches 70 on December 31, status from January 1", "birth": "1956-01-01", "start": "2026-01-01"},
], ids=lambda c: c["description"])
def test_elderly_start(case):
    assert one(ages.elderly_start, case["birth"]) == pd.Timestamp(case["start"])


@pytest.mark.parametrize("case", [
    {"birth": "1951-11-24", "day": "2026-11-22", "band": ages.ELDERLY, "age": 74},
    {"birth": "1951-11-24", "day": "2026-11-23", "band": ages.ELDERLY, "age": 75},  # reaches 75 the day before
    {"birth": "1951-11-24", "day": "2026-11-24", "band": ages.LATE_ELDERLY, "age": 75},  # 後期 from the birthday
    {"birth": "2019-04-01", "day": "2025-03-31", "band": ages.PRESCHOOL, "age": 6},
    {"birth": "2019-04-01", "day": "2025-04-01", "band": ages.WORKING_AGE, "age": 6},
    {"birth": "1956-03-02", "day": "2026-03-31", "band": ages.WORKING_AGE, "age": 70},
    {"birth": "1956-03-02", "day": "2026-04-01", "band": ages.ELDERLY, "age": 70},
], ids=lambda c: f"{c['birth']} on {c['day']}")
def test_age_band_and_legal_age(case):
    assert one(ages.age_band, case["birth"], pd.Timestamp(case["day"])) == case["band"]
    assert one(ages.age_on, case["birth"], pd.Timestamp(case["day"])) == case["age"]


def test_75th_birthday_and_latest_kokuho_loss():
    assert one(ages.late_elderly_start, "1951-11-24") == pd.Timestamp("2026-11-24")
    assert one(ages.kokuho_age_loss_latest, "1951-11-24") == pd.Timestamp("2026-11-25")
    # February 29: reaches 75 on February 28 of a common year, so the birthday counts as March 1.
    assert one(ages.late_elderly_start, "1952-02-29") == pd.Timestamp("2027-03-01")


@pytest.mark.parametrize("day, determined", [("2026-07-31", "2025-08-01"), ("2026-08-01", "2026-08-01"),
                                             ("2026-12-01", "2026-08-01")])
def test_redetermination_takes_effect_on_august_1(day, determined):
    assert ages.redetermination_start(pd.Timestamp(day)) == pd.Timestamp(determined)


def test_missing_birth_dates_stay_missing():
    births = pd.Series(pd.to_datetime(["1980-05-10", None]))
    assert ages.preschool_end(births).isna().tolist() == [False, True]
    assert ages.age_on(births, pd.Timestamp("2026-11-01")).isna().tolist() == [False, True]
    assert ages.age_band(births, pd.Timestamp("2026-11-01")).isna().tolist() == [False, True]


def test_active_on_counts_the_loss_date_as_the_first_day_without_coverage():
    acq = pd.Series(pd.to_datetime(["2020-01-01", "2020-01-01", "2026-11-02"]))
    loss = pd.Series(pd.to_datetime(["2026-11-01", "2026-11-02", None]))
    assert ages.active_on(acq, loss, pd.Timestamp("2026-11-01")).tolist() == [False, True, False]
