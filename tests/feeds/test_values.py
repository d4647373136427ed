"""値の正規化 / value normalisation: each accepted spelling → its canonical value (table-driven)."""
from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from reconcile.feeds import eras, values

DATES = [
    {"description": "ISO", "text": "2026-11-01", "expected": dt.date(2026, 11, 1)},
    {"description": "slashes", "text": "2026/11/01", "expected": dt.date(2026, 11, 1)},
    {"description": "slashes, no zero padding", "text": "2026/1/8", "expected": dt.date(2026, 1, 8)},
    {"description": "compact YYYYMMDD", "text": "20261101", "expected": dt.date(2026, 11, 1)},
    {"description": "西暦 with 年月日", "text": "2026年11月1日", "expected": dt.date(2026, 11, 1)},
    {"description": "midnight time part from a spreadsheet", "text": "2026-11-01 00:00:00", "expected": dt.date(2026, 11, 1)},
    {"description": "昭和 in kanji", "text": "昭和45年3月12日", "expected": dt.date(1970, 3, 12)},
    {"description": "昭和 letter with dots", "text": "S45.03.12", "expected": dt.date(1970, 3, 12)},
    {"description": "昭和 letter, lower case", "text": "s45.03.12", "expected": dt.date(1970, 3, 12)},
    {"description": "昭和 letter compact", "text": "S450312", "expected": dt.date(1970, 3, 12)},
    {"description": "平成 first day, letter with slashes", "text": "H1/1/8", "expected": dt.date(1989, 1, 8)},
    {"description": "平成元年 in kanji", "text": "平成元年1月8日", "expected": dt.date(1989, 1, 8)},
    {"description": "令和 letter, zero padded", "text": "R06.04.01", "expected": dt.date(2024, 4, 1)},
    {"description": "令和元年 first day", "text": "令和元年5月1日", "expected": dt.date(2019, 5, 1)},
    {"description": "大正元年 first day", "text": "大正元年7月30日", "expected": dt.date(1912, 7, 30)},
    {"description": "明治 last day", "text": "明治45年7月29日", "expected": dt.date(1912, 7, 29)},
    {"description": "昭和 last day", "text": "昭和64年1月7日", "expected": dt.date(1989, 1, 7)},
    {"description": "平成 last day", "text": "平成31年4月30日", "expected": dt.date(2019, 4, 30)},
    {"description": "full-width digits and letter (NFKC)", "text": "Ｓ４５．０３．１２", "expected": dt.date(1970, 3, 12)},
    {"description": "full-width ISO", "text": "２０２６－１１－０１", "expected": dt.date(2026, 11, 1)},
    {"description": "era ligature ㍼ (NFKC → 昭和)", "text": "㍼45年3月12日", "expected": dt.date(1970, 3, 12)},
    {"description": "spaces inside", "text": "昭和 45年 3月 12日", "expected": dt.date(1970, 3, 12)},
]

BAD_DATES = [
    {"description": "no 30 February", "text": "1999-02-30"},
    {"description": "month 13", "text": "2026-13-01"},
    {"description": "昭和64年1月8日 is 平成", "text": "昭和64年1月8日"},
    {"description": "平成31年5月1日 is 令和", "text": "平成31年5月1日"},
    {"description": "令和 before its first day", "text": "令和元年4月30日"},
    {"description": "year 0 of an era", "text": "H0.01.01"},
    {"description": "unknown era letter", "text": "X45.03.12"},
    {"description": "words", "text": "不明"},
    {"description": "two-digit year", "text": "70-03-12"},
]


@pytest.mark.parametrize("case", DATES, ids=[c["description"] for c in DATES])
def test_date_forms(case):
    assert values.parse_date(case["text"]) == case["expected"]


@pytest.mark.parametrize("case", BAD_DATES, ids=[c["description"] for c in BAD_DATES])
def test_bad_dates_are_none(case):
    assert values.parse_date(case["text"]) is None


def test_date_normaliser_maps_distinct_values_and_flags_bad_ones():
    column = pd.Series(["S45.03.12", None, "1970-03-12", "1999-02-30", "S45.03.12"], dtype="string")
    parsed, bad = values.DateNormaliser()(column)
    assert parsed.tolist()[0] == pd.Timestamp("1970-03-12")
    assert parsed.isna().tolist() == [False, True, False, True, False]
    assert bad.tolist() == [False, False, False, True, False]
    assert str(parsed.dtype) == "datetime64[ns]"


def test_dates_outside_the_datetime64_range_are_bad_not_wrapped():
    parsed, bad = values.DateNormaliser()(pd.Series(["1026-05-01", "9999-12-31", "1890-01-01"], dtype="string"))
    assert parsed.isna().tolist() == [True, True, False]
    assert bad.tolist() == [True, True, False]


def test_era_table_is_contiguous():
    for earlier, later in zip(eras.ERAS, eras.ERAS[1:]):
        assert earlier.end + dt.timedelta(days=1) == later.start


CODES = [
    {"normaliser": "sex", "text": "1", "expected": 1},
    {"normaliser": "sex", "text": "2", "expected": 2},
    {"normaliser": "sex", "text": "男", "expected": 1},
    {"normaliser": "sex", "text": "女", "expected": 2},
    {"normaliser": "sex", "text": "M", "expected": 1},
    {"normaliser": "sex", "text": "f", "expected": 2},
    {"normaliser": "sex", "text": "２", "expected": 2},
    {"normaliser": "burden_ratio", "text": "10", "expected": 10},
    {"normaliser": "burden_ratio", "text": "30", "expected": 30},
    {"normaliser": "burden_ratio", "text": "1割", "expected": 10},
    {"normaliser": "burden_ratio", "text": "２割", "expected": 20},
    {"normaliser": "burden_ratio", "text": "3", "expected": 30},
    {"normaliser": "limit_category", "text": "A", "expected": "A"},
    {"normaliser": "limit_category", "text": "ア", "expected": "A"},
    {"normaliser": "limit_category", "text": "ｱ", "expected": "A"},
    {"normaliser": "limit_category", "text": "オ", "expected": "O"},
    {"normaliser": "limit_category", "text": "現役並みⅢ", "expected": "G3"},
    {"normaliser": "limit_category", "text": "現役並みIII", "expected": "G3"},
    {"normaliser": "limit_category", "text": "現役並みⅠ", "expected": "G1"},
    {"normaliser": "limit_category", "text": "一般", "expected": "IP"},
    {"normaliser": "limit_category", "text": "低所得Ⅱ", "expected": "L2"},
    {"normaliser": "limit_category", "text": "A03", "expected": "U"},
    {"normaliser": "limit_category", "text": "B04", "expected": "IP"},
    {"normaliser": "limit_category", "text": "g1", "expected": "G1"},
    {"normaliser": "boolean", "text": "0", "expected": False},
    {"normaliser": "boolean", "text": "1", "expected": True},
    {"normaliser": "boolean", "text": "true", "expected": True},
    {"normaliser": "boolean", "text": "FALSE", "expected": False},
    {"normaliser": "boolean", "text": "有", "expected": True},
    {"normaliser": "boolean", "text": "無", "expected": False},
    {"normaliser": "money", "text": "1,234,567", "expected": 1234567.0},
    {"normaliser": "money", "text": "１，０００", "expected": 1000.0},
    {"normaliser": "money", "text": "0", "expected": 0.0},
    {"normaliser": "individual_number", "text": "123456789018", "expected": "123456789018"},
    {"normaliser": "individual_number", "text": "1234 5678 9018", "expected": "123456789018"},
    {"normaliser": "individual_number", "text": "1234-5678-9018", "expected": "123456789018"},
    {"normaliser": "individual_number", "text": "１２３４－５６７８－９０１８", "expected": "123456789018"},
    {"normaliser": "last4", "text": "９０１８", "expected": "9018"},
    {"normaliser": "last4", "text": "0123", "expected": "0123"},
    {"normaliser": "identifier", "text": "１３１０１６", "expected": "131016"},
]

BAD_CODES = [
    {"normaliser": "sex", "text": "3"},
    {"normaliser": "sex", "text": "不明"},
    {"normaliser": "burden_ratio", "text": "15"},
    {"normaliser": "burden_ratio", "text": "4割"},
    {"normaliser": "limit_category", "text": "ZZ"},
    {"normaliser": "limit_category", "text": "現役並み"},
    {"normaliser": "boolean", "text": "maybe"},
    {"normaliser": "money", "text": "12万"},
    {"normaliser": "individual_number", "text": "12345678901"},
    {"normaliser": "individual_number", "text": "1234567890123"},
    {"normaliser": "individual_number", "text": "12345678901a"},
    {"normaliser": "last4", "text": "123"},
]


def _normalise(name: str, text: str):
    return getattr(values, name)(pd.Series([text, None], dtype="string"))


@pytest.mark.parametrize("case", CODES, ids=[f"{c['normaliser']}:{c['text']}" for c in CODES])
def test_code_spellings(case):
    normalised, bad = _normalise(case["normaliser"], case["text"])
    assert normalised.iloc[0] == case["expected"]
    assert pd.isna(normalised.iloc[1])
    assert bad.tolist() == [False, False]


@pytest.mark.parametrize("case", BAD_CODES, ids=[f"{c['normaliser']}:{c['text']}" for c in BAD_CODES])
def test_unknown_spellings_are_bad_not_defaulted(case):
    normalised, bad = _normalise(case["normaliser"], case["text"])
    assert pd.isna(normalised.iloc[0])
    assert bad.tolist() == [True, False]


def test_names_are_only_stripped_never_nfkc():
    raw = pd.Series(["　髙橋　ｲﾁﾛｳ ", "", None], dtype="string")
    assert values.strip_text(raw).tolist() == ["髙橋　ｲﾁﾛｳ", pd.NA, pd.NA]


def test_masked_shows_at_most_last_four():
    assert values.masked("1234-5678-90123") == "********0123"
    assert values.masked("12") == "****"


@pytest.mark.parametrize("key", [b"k", b"x" * 64, b"y" * 100], ids=["short key", "block-size key", "long key"])
def test_protect_numbers_fast_path_equals_keyed_hash(key):
    from reconcile.privacy import keyed_hash, protect_numbers

    full = pd.Series(["123456789018", "123456789019", None], dtype="string")
    last4 = pd.Series([None, None, "1234"], dtype="string")
    protected = protect_numbers(full, last4, key)
    assert protected["number_hash"].tolist()[:2] == [keyed_hash(key, "123456789018"), keyed_hash(key, "123456789019")]
    assert protected["number_status"].tolist() == ["valid", "bad_check", "last4_only"]


# The normaliser reads most forms vectorised (values._vectorised_dates); every spelling must
# come out exactly as parse_date reads it, valid or not, era boundaries included.
NORMALISER_EXTRA = ["令和元年4月30日", "平成31年4月30日", "H31.04.30", "H31.05.01", "R01.05.01", "r010501", "R元.5.1",
                    "R元/5/1", "R元-5-1", "S45-03-12", "S45.03/12", "S00.01.01", "S145.03.12", "S45.02.30", "S47.2.29",
                    "昭和47年2月29日", "昭和45年2月29日", "明治元年1月1日", "明治元年1月25日", "M01.01.25", "明治45年7月30日",
                    "明治45年7月31日", "大正15年12月25日", "大正15年12月26日", "昭和元年12月24日", "昭和元年12月25日", "T15.12.25",
                    "令和99年12月31日", "1988-7-28", "1988.07.28", "1988-07/28", "19880230", "2000-02-29", "1900-02-29",
                    "1677-12-31", "1678-01-01", "2261-12-31", "2262-01-01", "0000-01-01", "1988-00-10", "1988-1-32",
                    "1988-007-01", "198807", "12345678"]


def test_date_normaliser_agrees_with_parse_date_on_every_spelling():
    texts = [c["text"] for c in DATES] + [c["text"] for c in BAD_DATES] + NORMALISER_EXTRA
    normaliser = values.DateNormaliser()
    for chunk in (texts[::2], texts, texts[1::2]):  # later chunks meet remembered strings
        parsed, bad = normaliser(pd.Series(chunk, dtype="string"))
        for text, got, is_bad in zip(chunk, parsed.tolist(), bad.tolist()):
            date = values.parse_date(text)
            expected = date if date is not None and 1678 <= date.year <= 2261 else None
            assert (None if pd.isna(got) else got.date(), is_bad) == (expected, expected is None), text


def _fixed_width_spellings() -> list:
    """Fixed-width ASCII spellings (the byte-level fast path) — real dates, impossible ones, edge
    years of datetime64[ns], leap days, mixed separators — beside other forms and missing values."""
    import random

    rng = random.Random(12)
    texts = ["2024-02-29", "2023-02-29", "2000-02-29", "1900-02-29", "1678-01-01", "1677-12-31", "2261-12-31",
             "2262-01-01", "0000-01-01", "2026-00-10", "2026-13-01", "2026-12-32", "2026-04-31", "2026/04/30",
             "2026.04.30", "2026-04/30", "2026/4/30", "20260430", "20261301", "2026043", "202604301", "2026-4-3",
             "S45.03.12", "R06.04.01", "２０２６－０１－０１", "2026-01-01 00:00:00", "abcd-ef-gh", "2026-0a-01",
             "2026--01-1", "9999/99/99", None]
    for _ in range(3000):
        year, month, day = rng.randint(1600, 2300), rng.randint(0, 13), rng.randint(0, 32)
        separator = rng.choice(["-", "/", ".", ""])
        texts.append(f"{year:04d}{separator}{month:02d}{separator}{day:02d}")
    return texts


def test_date_normaliser_fast_path_agrees_with_parse_date():
    import pyarrow as pa

    texts = _fixed_width_spellings()
    for normaliser_input in (texts, texts[::-1]):
        parsed, bad = values.DateNormaliser().arrow(pa.array(normaliser_input, type=pa.string()))
        for text, got, is_bad in zip(normaliser_input, parsed, bad):
            if text is None:
                assert np.isnat(got) and not is_bad
                continue
            date = values.parse_date(text)
            expected = date if date is not None and 1678 <= date.year <= 2261 else None
            assert (None if np.isnat(got) else pd.Timestamp(got).date(), bool(is_bad)) == (expected, expected is None), text
    # the pandas entry point gives the same values
    series_parsed, series_bad = values.DateNormaliser()(pd.Series(texts, dtype="string"))
    arrow_parsed, arrow_bad = values.DateNormaliser().arrow(pa.array(texts, type=pa.string()))
    assert np.array_equal(series_parsed.to_numpy(), arrow_parsed, equal_nan=True)
    assert np.array_equal(series_bad.to_numpy(), arrow_bad)


def test_calendar_dates_agree_with_the_standard_library():
    years, months, days = np.meshgrid(np.r_[0:3, 1670:2270], np.arange(-1, 15), np.arange(-1, 34), indexing="ij")
    ok, dates = values._calendar_dates(years.ravel(), months.ravel(), days.ravel())
    for year, month, day, good, date in zip(years.ravel(), months.ravel(), days.ravel(), ok, dates):
        try:
            real = dt.date(int(year), int(month), int(day)) if 1678 <= year <= 2261 else None
        except ValueError:
            real = None
        assert bool(good) == (real is not None), (year, month, day)
        if real is not None:
            assert date == np.datetime64(real), (year, month, day)


def test_known_hashes_give_the_keyed_hash_of_numbers_met_in_an_earlier_file():
    from reconcile.privacy import KnownHashes, keyed_hash, protect_numbers

    known = KnownHashes()
    key = b"k"
    first = protect_numbers(pd.Series(["123456789018", None, "000000000018"], dtype="string"),
                            pd.Series([None, "1234", None], dtype="string"), key, known)
    again = protect_numbers(pd.Series(["000000000018", "123456789018", "123456789018", "999999999990"], dtype="string"),
                            pd.Series([None] * 4, dtype="string"), key, known)
    assert first["number_hash"].fillna("").tolist() == [keyed_hash(key, "123456789018"), "", keyed_hash(key, "000000000018")]
    assert again["number_hash"].tolist() == [keyed_hash(key, n) for n in
                                             ("000000000018", "123456789018", "123456789018", "999999999990")]
    assert first["number_last4"].tolist() == ["9018", "1234", "0018"]
    assert first["number_status"].tolist() == ["valid", "last4_only", "bad_check"]
    assert list(known.numbers) == sorted([123456789018, 18, 999999999990])


@pytest.mark.parametrize("name", ["individual_number", "last4", "money"])
def test_ascii_digit_fast_paths_agree_with_the_general_normaliser(name):
    """Canonical digit strings skip NFKC and regexes; every value gives what the general path gives."""
    texts = ["123456789018", "1234", "0", "007", "1234567890123", "12345678901", "1234-5678-9018", "１２３４",
             "１２３４５６７８９０１８", "1234 5678 9018", "3,000,000", "12円", "¥1200", "-5", "1.5", "abc", "",
             "12a4", "٣٤٥٦", None, "9999", "000000000000", "99999999999999999999"]
    column = pd.Series(texts * 3, dtype="string")
    fast, fast_bad = getattr(values, name)(column)
    slow, slow_bad = getattr(values, f"_{name}")(column)
    pd.testing.assert_series_equal(fast, slow, check_exact=True)
    assert fast_bad.tolist() == slow_bad.tolist()


def test_known_hashes_stay_with_their_numbers_across_merges_of_many_runs():
    """More runs than MAX_RUNS are merged (numbers and store positions only): every number still
    finds its own hash, numbers never added are not found, and the store grows past its size."""
    from reconcile.privacy import KnownHashes

    known = KnownHashes()
    rng = np.random.default_rng(7)
    numbers = rng.choice(10 ** 12, size=3000, replace=False).astype(np.int64)
    def digest(n): return np.array([f"{x:032d}".encode() for x in n], dtype="S32")
    for batch in np.array_split(numbers[:2000], KnownHashes.MAX_RUNS * 3):
        known.add(batch, digest(batch))
    found, hashes = known.lookup(numbers)
    assert found[:2000].all() and not found[2000:].any()
    assert (hashes[:2000] == digest(numbers[:2000])).all()
    assert (known.hashes == digest(known.numbers)).all()
    assert list(known.numbers) == sorted(numbers[:2000].tolist())
