"""年齢・適用区分の境界日 / age and eligibility boundary dates — one place, vectorised.

Every age rule of the product goes through here (domain brief §4, 国保法42条):

- 年齢計算ニ関スル法律 and 民法143条: a person *reaches* age X (「X歳に達する日」) on the day
  **before** the X-th birthday. Born on February 29 → reaches X on February 28 in a common
  year (the day before the missing anniversary falls back to the month end), so the birthday
  of a common year is March 1.
- 未就学 / preschool: 20% up to and including the first March 31 on or after the day the child
  reaches 6. Born April 1 → reaches 6 on March 31 → ends that same March 31; born April 2 →
  ends the next March 31.
- 高齢受給者 / 70–74: from the first day of the month after the month in which the person
  reaches 70 (born on the 1st → the birthday month itself, since they reach 70 on the last
  day of the month before).
- 後期高齢者医療 starts on the 75th birthday; 国保 is lost the day after (data often holds the
  birthday itself: both are accepted).
- 定期判定 / annual re-determination of the ratio takes effect on August 1 from the previous
  year's income.

All functions take and return pandas Series of ``datetime64`` (NaT propagates) and never loop
over rows: they are used on 1M-member feeds.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

ONE_DAY = np.timedelta64(1, "D")

# 年齢区分 / age bands of 国保 on a given day
PRESCHOOL = "preschool"        # 未就学 (20%)
WORKING_AGE = "working_age"    # 就学後〜70歳到達月 (30%)
ELDERLY = "elderly_70_74"      # 高齢受給者 70–74 (20%, 現役並み 30%)
LATE_ELDERLY = "late_elderly"  # 75歳以上: 後期高齢者医療 (not a 国保 member)

AGE_BAND_LABELS = {
    PRESCHOOL: "未就学（6歳到達年度末まで）",
    WORKING_AGE: "就学後〜70歳到達月",
    ELDERLY: "70〜74歳（高齢受給者）",
    LATE_ELDERLY: "75歳以上（後期高齢者医療）",
}


def _days(values: pd.Series | pd.Index | np.ndarray) -> np.ndarray:
    return np.asarray(pd.Series(values).to_numpy(dtype="datetime64[ns]")).astype("datetime64[D]")


def _series(days: np.ndarray, like: pd.Series | None) -> pd.Series:
    out = days.astype("datetime64[ns]")
    index = like.index if isinstance(like, pd.Series) else None
    return pd.Series(out, index=index)


def add_years(dates: pd.Series, years: int | np.ndarray) -> pd.Series:
    """``dates`` plus ``years`` calendar years; a February 29 falls back to February 28."""
    days = _days(dates)
    months = days.astype("datetime64[M]")
    day_of_month = (days - months.astype("datetime64[D]")).astype("int64")  # 0-based
    target = months + (np.asarray(years, dtype="int64") * 12).astype("timedelta64[M]")
    start = target.astype("datetime64[D]")
    month_length = ((target + np.timedelta64(1, "M")).astype("datetime64[D]") - start).astype("int64")
    clipped = np.minimum(day_of_month, month_length - 1)
    result = start + clipped.astype("timedelta64[D]")
    result[np.isnat(days)] = np.datetime64("NaT")
    return _series(result, dates if isinstance(dates, pd.Series) else None)


def reach_date(birth_date: pd.Series, age: int) -> pd.Series:
    """「{age}歳に達する日」: the day before the ``age``-th birthday (年齢計算ニ関スル法律)."""
    day_before_birth = pd.Series(_days(birth_date) - ONE_DAY, index=getattr(birth_date, "index", None))
    return add_years(day_before_birth, age)


def birthday(birth_date: pd.Series, age: int) -> pd.Series:
    """The ``age``-th birthday as the law counts it: the day after the person reaches ``age``."""
    return reach_date(birth_date, age) + pd.Timedelta(days=1)


def age_on(birth_date: pd.Series, day: pd.Timestamp | pd.Series) -> pd.Series:
    """Legal age on ``day``: the number of ages X whose 「X歳に達する日」 is on or before ``day``.

    A person is X from the day before the X-th birthday (the day they 「達する」), which is the
    count every boundary of domain brief §4 uses. Missing birth date → NA.
    """
    birth = _days(birth_date)
    on = _days(day) if isinstance(day, pd.Series) else np.datetime64(pd.Timestamp(day).date(), "D")
    before = birth - ONE_DAY
    years_apart = (on.astype("datetime64[Y]") - before.astype("datetime64[Y]")).astype("int64")
    reached = _days(add_years(pd.Series(before), years_apart))
    age = years_apart - (reached > on).astype("int64")
    out = pd.Series(age, index=getattr(birth_date, "index", None), dtype="Int64")
    return out.mask(pd.Series(np.isnat(birth), index=out.index))


def preschool_end(birth_date: pd.Series) -> pd.Series:
    """Last day of 未就学 (20%): the first March 31 on or after the day the child reaches 6."""
    reached = _days(reach_date(birth_date, 6))
    january = reached.astype("datetime64[Y]").astype("datetime64[M]")
    # March 31 of the reaching year = April 1 − 1 day; else March 31 of the next year.
    march_31 = (january + np.timedelta64(3, "M")).astype("datetime64[D]") - ONE_DAY
    next_year = (january + np.timedelta64(15, "M")).astype("datetime64[D]") - ONE_DAY
    result = np.where(reached <= march_31, march_31, next_year)
    result[np.isnat(reached)] = np.datetime64("NaT")
    return _series(result, birth_date if isinstance(birth_date, pd.Series) else None)


def elderly_start(birth_date: pd.Series) -> pd.Series:
    """First day of the 70–74 status (高齢受給者): the 1st of the month after reaching 70."""
    reached = _days(reach_date(birth_date, 70))
    result = (reached.astype("datetime64[M]") + np.timedelta64(1, "M")).astype("datetime64[D]")
    return _series(result, birth_date if isinstance(birth_date, pd.Series) else None)


def late_elderly_start(birth_date: pd.Series) -> pd.Series:
    """後期高齢者医療 starts on the 75th birthday."""
    return birthday(birth_date, 75)


def kokuho_age_loss_latest(birth_date: pd.Series) -> pd.Series:
    """Latest acceptable 国保 loss date at 75: the day after the 75th birthday (the birthday itself is also accepted)."""
    def latest(births: pd.Series) -> np.ndarray:
        return (late_elderly_start(births) + pd.Timedelta(days=1)).to_numpy(dtype="datetime64[ns]")

    return pd.Series(_per_birth_date(birth_date, latest, np.datetime64("NaT", "ns")),
                     index=getattr(birth_date, "index", None))


def _per_birth_date(birth_date: pd.Series, func, missing) -> np.ndarray:
    """``func`` (birth dates → array) once per distinct birth date, spread back to every row
    (a 1M-member feed has some 30k distinct birth dates); ``missing`` where there is none."""
    codes, uniques = pd.factorize(pd.Series(birth_date).to_numpy(dtype="datetime64[ns]"))
    values = np.asarray(func(pd.Series(uniques)))
    return np.append(values, np.array([missing], dtype=values.dtype if values.dtype != object else object))[codes]


def age_band(birth_date: pd.Series, day: pd.Timestamp) -> pd.Series:
    """国保 age band on ``day``: PRESCHOOL, WORKING_AGE, ELDERLY (70–74) or LATE_ELDERLY; NA without a birth date."""
    day = pd.Timestamp(day).normalize()

    def bands(births: pd.Series) -> np.ndarray:
        return np.select(
            [preschool_end(births).to_numpy() >= day.to_datetime64(),
             elderly_start(births).to_numpy() > day.to_datetime64(),
             late_elderly_start(births).to_numpy() > day.to_datetime64()],
            [PRESCHOOL, WORKING_AGE, ELDERLY], default=LATE_ELDERLY).astype(object)

    out = pd.Series(_per_birth_date(birth_date, bands, LATE_ELDERLY), index=birth_date.index, dtype="string")
    return out.mask(birth_date.isna())


def redetermination_start(day: pd.Timestamp) -> pd.Timestamp:
    """August 1 on which the ratio in force on ``day`` was (re)determined (定期判定, previous year's income)."""
    day = pd.Timestamp(day).normalize()
    year = day.year if day.month >= 8 else day.year - 1
    return pd.Timestamp(year=year, month=8, day=1)


def active_on(acquisition_date: pd.Series, loss_date: pd.Series, day: pd.Timestamp) -> pd.Series:
    """Qualification active on ``day``: acquired on or before it and not lost (loss date is the first day without coverage)."""
    day = pd.Timestamp(day).normalize()
    acquired = acquisition_date.isna() | (acquisition_date <= day)
    not_lost = loss_date.isna() | (loss_date > day)
    return (acquired & not_lost).astype(bool)
