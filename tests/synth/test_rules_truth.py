"""正解ルール / the generator's burden-ratio and limit-category rules, at their boundaries.

The vectorised rules are checked against a plain scalar reading of domain brief §4–5 written
here with ``datetime`` (one date at a time), over every birth date of several years.
"""
from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from reconcile.synth import rules_truth as rt


# --- a scalar reference, written straight from the domain brief -------------------------------
def _birthday(birth: dt.date, years: int) -> dt.date:
    try:
        return birth.replace(year=birth.year + years)
    except ValueError:          # Feb 29 in a common year: the anniversary is March 1
        return dt.date(birth.year + years, 3, 1)


def reference_band(birth: dt.date, on: dt.date) -> int:
    reaches_6 = _birthday(birth, 6) - dt.timedelta(days=1)
    march_31 = dt.date(reaches_6.year if reaches_6.month <= 3 else reaches_6.year + 1, 3, 31)
    reaches_70 = _birthday(birth, 70) - dt.timedelta(days=1)
    first_after = dt.date(reaches_70.year + (reaches_70.month == 12), reaches_70.month % 12 + 1, 1)
    if on >= _birthday(birth, 75):
        return rt.LATE
    if on >= first_after:
        return rt.ELDERLY
    if on <= march_31:
        return rt.PRESCHOOL
    return rt.WORKING


@pytest.mark.parametrize("on", ["2025-03-31", "2025-04-01", "2026-08-01", "2026-11-01", "2028-02-29"])
def test_age_band_matches_the_scalar_reference_for_every_birth_date(on):
    # The years around the 75 / 70 / 6 boundaries of the as_of dates below.
    births = np.concatenate([np.arange(np.datetime64("1949-01-01"), np.datetime64("1959-01-01")),
                             np.arange(np.datetime64("2017-01-01"), np.datetime64("2023-01-01"))])
    on_date = dt.date.fromisoformat(on)
    expected = np.array([reference_band(b.astype(dt.date), on_date) for b in births])
    got = rt.age_band(births, np.datetime64(on))
    assert np.array_equal(expected, got)


@pytest.mark.parametrize("case", [
    {"description": "born April 1: reaches 6 on March 31, 20% ends that day",
     "birth": "2019-04-01", "on": "2025-03-31", "ratio": 20},
    {"description": "born April 1: 30% from April 1", "birth": "2019-04-01", "on": "2025-04-01", "ratio": 30},
    {"description": "born April 2: still preschool until the next March 31",
     "birth": "2019-04-02", "on": "2025-04-01", "ratio": 20},
    {"description": "born April 2: 30% from the following April 1", "birth": "2019-04-02", "on": "2026-04-01", "ratio": 30},
    {"description": "born on the 1st: 20% from the birthday month", "birth": "1956-11-01", "on": "2026-11-01", "ratio": 20},
    {"description": "born on the 1st: October is still 30%", "birth": "1956-11-01", "on": "2026-10-31", "ratio": 30},
    {"description": "born on the 2nd: the birthday month is still 30%", "birth": "1956-11-02", "on": "2026-11-30", "ratio": 30},
    {"description": "born on the 2nd: 20% from the next month", "birth": "1956-11-02", "on": "2026-12-01", "ratio": 20},
])
def test_burden_ratio_age_boundaries(case):
    band = rt.age_band(np.array([case["birth"]], dtype="datetime64[D]"), np.datetime64(case["on"]))
    assert rt.burden_ratio(band, np.array([False]))[0] == case["ratio"], case["description"]


def test_kokuho_is_lost_the_day_after_the_75th_birthday():
    assert rt.kokuho_loss_at_75(np.array(["1951-11-20"], dtype="datetime64[D]"))[0] == np.datetime64("2026-11-21")


def _household(rows, on="2026-11-01"):
    frame = pd.DataFrame([{"household_id": "H", "acquisition_date": "2010-01-01", "loss_date": None,
                           "resident_tax_exempt": False, **row} for row in rows])
    frame["acquisition_date"] = pd.to_datetime(frame["acquisition_date"])
    frame["loss_date"] = pd.to_datetime(frame["loss_date"])
    frame["birth_date"] = pd.to_datetime(frame["birth_date"])
    return rt.expected_values(frame, on)


@pytest.mark.parametrize("case", [
    {"description": "70–74 spouse with 1.45M makes both 70–74 members 30% / 現役並みⅠ",
     "rows": [{"birth_date": "1954-05-10", "taxable_income": 1_450_000, "kyu_tadashigaki_income": 2_000_000},
              {"birth_date": "1955-05-10", "taxable_income": 0, "kyu_tadashigaki_income": 0}],
     "ratios": [30, 30], "categories": ["G1", "G1"]},
    {"description": "1,449,999 is not 現役並み: 20% / 一般",
     "rows": [{"birth_date": "1954-05-10", "taxable_income": 1_449_999, "kyu_tadashigaki_income": 2_000_000},
              {"birth_date": "1955-05-10", "taxable_income": 0, "kyu_tadashigaki_income": 0}],
     "ratios": [20, 20], "categories": ["IP", "IP"]},
    {"description": "an under-70 earner does not make the 70–74 member 30%; the child's category sums 旧ただし書き",
     "rows": [{"birth_date": "1954-05-10", "taxable_income": 0, "kyu_tadashigaki_income": 100_000},
              {"birth_date": "1980-05-10", "taxable_income": 5_000_000, "kyu_tadashigaki_income": 6_000_000}],
     "ratios": [20, 30], "categories": ["IP", "I"]},
    {"description": "現役並みⅢ and Ⅱ thresholds",
     "rows": [{"birth_date": "1954-05-10", "taxable_income": 6_900_000, "kyu_tadashigaki_income": 7_500_000},
              {"household_id": "H2", "birth_date": "1954-05-10", "taxable_income": 3_800_000,
               "kyu_tadashigaki_income": 4_200_000}],
     "ratios": [30, 30], "categories": ["G3", "G2"]},
    {"description": "all exempt, some income: 低所得Ⅱ; all exempt, no income: 低所得Ⅰ",
     "rows": [{"birth_date": "1954-05-10", "taxable_income": 0, "kyu_tadashigaki_income": 50_000, "resident_tax_exempt": True},
              {"household_id": "H2", "birth_date": "1954-05-10", "taxable_income": 0, "kyu_tadashigaki_income": 0,
               "resident_tax_exempt": True}],
     "ratios": [20, 20], "categories": ["L2", "L1"]},
    {"description": "under 70: ア above 9.01M, ウ at 2,100,001, エ at 2.1M, オ when all exempt",
     "rows": [{"household_id": "A", "birth_date": "1980-01-01", "taxable_income": 8e6, "kyu_tadashigaki_income": 9_010_001},
              {"household_id": "U", "birth_date": "1980-01-01", "taxable_income": 1e6, "kyu_tadashigaki_income": 2_100_001},
              {"household_id": "E", "birth_date": "1980-01-01", "taxable_income": 1e6, "kyu_tadashigaki_income": 2_100_000},
              {"household_id": "O", "birth_date": "1980-01-01", "taxable_income": 0, "kyu_tadashigaki_income": 0,
               "resident_tax_exempt": True}],
     "ratios": [30, 30, 30, 30], "categories": ["A", "U", "E", "O"]},
    {"description": "undeclared income (未申告) is ア",
     "rows": [{"birth_date": "1980-01-01", "taxable_income": np.nan, "kyu_tadashigaki_income": np.nan}],
     "ratios": [30], "categories": ["A"]},
    {"description": "a lost member does not count in the household",
     "rows": [{"birth_date": "1954-05-10", "taxable_income": 0, "kyu_tadashigaki_income": 0},
              {"birth_date": "1955-05-10", "taxable_income": 2_000_000, "kyu_tadashigaki_income": 2_500_000,
               "loss_date": "2026-06-01"}],
     "ratios": [20, None], "categories": ["IP", None]},
])
def test_household_rules(case):
    got = _household(case["rows"])
    ratios = [None if pd.isna(v) else int(v) for v in got["burden_ratio"]]
    categories = [None if pd.isna(v) else v for v in got["limit_category"]]
    assert (case["ratios"], case["categories"]) == (ratios, categories), case["description"]
