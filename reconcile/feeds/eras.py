"""和暦の元号表 / Japanese era table — the one place era names, letters and start dates live.

A 和暦 date ``昭和45年3月12日`` is year ``1926 + 45 - 1``; 元年 is year 1. A date is only valid
when it falls inside its era: ``昭和64年1月8日`` does not exist (平成 began that day), and
``平成31年5月1日`` is 令和元年5月1日.

Change days: 明治 and 大正 ended on the day the emperor died and the new era began that same day,
so 明治45年7月30日 = 大正元年7月30日 (1912-07-30) and 大正15年12月25日 = 昭和元年12月25日
(1926-12-25) are both valid; since 1989 the new era begins the next day (昭和64年1月7日 is the last
day of 昭和, 平成元年1月8日 the first of 平成). ``end`` is the last day the era is the one a date
is written in (the table stays contiguous); ``also_valid_on_next_start`` says the old name is still
valid on the next era's first day.

明治 is dated from 1868-01-25 (明治元年1月1日 of the old calendar, as the era was declared
retroactively to the start of the year); dates before the 1873 calendar reform are lunar in
reality, which no feed of living persons needs.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass


@dataclass(frozen=True)
class Era:
    name: str          # 元号 in kanji
    letter: str        # the one-letter abbreviation used in forms (S45.03.12)
    start: dt.date     # first day of the era
    end: dt.date | None  # last day (None = current era)
    also_valid_on_next_start: bool = False  # the change day belongs to both eras (1912, 1926)

    @property
    def first_year(self) -> int:
        return self.start.year


ERAS: tuple[Era, ...] = (
    Era("明治", "M", dt.date(1868, 1, 25), dt.date(1912, 7, 29), also_valid_on_next_start=True),
    Era("大正", "T", dt.date(1912, 7, 30), dt.date(1926, 12, 24), also_valid_on_next_start=True),
    Era("昭和", "S", dt.date(1926, 12, 25), dt.date(1989, 1, 7)),
    Era("平成", "H", dt.date(1989, 1, 8), dt.date(2019, 4, 30)),
    Era("令和", "R", dt.date(2019, 5, 1), None),
)

BY_NAME: dict[str, Era] = {era.name: era for era in ERAS}
BY_LETTER: dict[str, Era] = {era.letter: era for era in ERAS}


def lookup(era_token: str) -> Era | None:
    """The era for a kanji name (昭和) or a letter (S, case-insensitive)."""
    return BY_NAME.get(era_token) or BY_LETTER.get(era_token.upper())


def to_gregorian(era_token: str, year: int, month: int, day: int) -> dt.date | None:
    """和暦 → 西暦, or ``None`` when the date does not exist or lies outside its era.

    >>> to_gregorian("令和", 1, 5, 1)
    datetime.date(2019, 5, 1)
    >>> to_gregorian("S", 64, 1, 8) is None
    True
    """
    era = lookup(era_token)
    if era is None or year < 1:
        return None
    try:
        date = dt.date(era.first_year + year - 1, month, day)
    except ValueError:
        return None
    last = era.end
    if last is not None and era.also_valid_on_next_start:
        last = last + dt.timedelta(days=1)
    if date < era.start or (last is not None and date > last):
        return None
    return date
