"""値の正規化 / value normalisation of feed columns (dates, codes, numbers).

Every normaliser takes a ``string`` Series (already stripped, empty = ``<NA>``) and returns
``(values, bad)``: the canonical values (missing where the input was missing *or* bad) and a
boolean mask of inputs that could not be normalised — those become row errors (quarantine),
never silent defaults.

Hot-path rule: work is vectorised, or done once per *distinct* value and mapped back
(``pd.factorize``): a 1M-row birth_date column has ~40k distinct strings.

Names and addresses are not normalised here (only stripped): NFKC would hide the notation
evidence (full-width vs half-width, 旧字体 compatibility ideographs) the matchers look at.
"""
from __future__ import annotations

import datetime as dt
import re
import unicodedata
from typing import Any, Callable

import numpy as np
import pandas as pd

from detectors.codes import LIMIT_CATEGORY_ALIASES
from reconcile.feeds import eras
from reconcile.privacy import (CONTROL_RE2, NUMBER_SHAPE, SEPARATOR_CLASS, escape_controls, mask_series,
                               mask_text)

_STRING_DTYPE = pd.StringDtype("pyarrow")
_BAD = object()  # sentinel: the distinct value could not be normalised
BAD = _BAD


def nfkc(text: str) -> str:
    return unicodedata.normalize("NFKC", text)


def strip_text(raw: pd.Series, escape: bool = True) -> pd.Series:
    """Strip surrounding whitespace (incl. U+3000); empty → ``<NA>``; control characters escaped
    (``escape=False``: the caller knows there are none). Names/addresses stop here."""
    import pyarrow as pa
    import pyarrow.compute as pc

    trimmed = pc.utf8_trim_whitespace(pa.array(raw, type=pa.string()))
    stripped = _series(pc.if_else(pc.equal(trimmed, ""), None, trimmed), raw.index)
    return escape_control_series(stripped) if escape else stripped


def strip_arrow(raw, escape: bool = True):
    """:func:`strip_text` on an Arrow string array, giving an Arrow string array (no pandas in
    between: the loader normalises the parser's arrays and builds each frame column once)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if isinstance(raw, pa.ChunkedArray):
        raw = raw.combine_chunks()
    trimmed = pc.utf8_trim_whitespace(raw)
    empty = pc.equal(trimmed, "")
    stripped = pc.if_else(empty, None, trimmed) if pc.any(empty).as_py() else trimmed
    if escape:
        escaped = escape_control_series(_series(stripped, pd.RangeIndex(len(stripped))))
        return pa.array(escaped.array, type=pa.string())
    return stripped


def escape_control_series(values: pd.Series) -> pd.Series:
    """Control characters (NUL, ESC, DEL …; not tab/LF/CR) escaped as ``\\xNN`` — vectorised
    test, Python only on the rare values holding one. NUL never reaches the store or an export."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if len(values) == 0:
        return values
    hits = pc.fill_null(pc.match_substring_regex(pa.array(values, type=pa.string()), pattern=CONTROL_RE2), False)
    hits = hits.to_numpy(zero_copy_only=False)
    if not hits.any():
        return values
    out = values.astype(_STRING_DTYPE).copy()
    out[hits] = [escape_controls(v) for v in out[hits]]
    return out


def _convert_distinct(distinct: list, codes: np.ndarray, convert: Callable[[str], Any], dtype: str):
    """``convert`` once per distinct value (``None`` stays missing; ``_BAD`` marks a failure),
    spread to the rows by ``codes`` (-1 = missing) → (pandas array of ``dtype``, numpy bad mask)."""
    converted = [None if value is None else convert(value) for value in distinct]
    bad_unique = np.array([c is _BAD for c in converted] + [False], dtype=bool)
    good = [None if c is _BAD else c for c in converted] + [None]
    # codes == -1 (missing) pick the trailing None
    return pd.array(good, dtype=dtype).take(codes), bad_unique[codes]


def map_distinct(values: pd.Series, convert: Callable[[str], Any], dtype: str) -> tuple[pd.Series, pd.Series]:
    """Apply ``convert`` once per distinct non-missing value; ``convert`` returns ``_BAD`` on failure."""
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    out, bad = _convert_distinct(uniques.tolist(), codes, convert, dtype)
    return pd.Series(out, index=values.index), pd.Series(bad, index=values.index)


def dictionary_codes(array):
    """An Arrow string array's dictionary encoding → (dictionary, int64 codes with -1 for missing)."""
    import pyarrow.compute as pc

    encoded = pc.dictionary_encode(array)
    return encoded.dictionary, np.asarray(pc.fill_null(encoded.indices, -1), dtype=np.int64)


def map_distinct_arrow(array, convert: Callable[[str], Any], dtype: str):
    """:func:`map_distinct` on an Arrow string array → (pandas array of ``dtype``, numpy bad mask)."""
    dictionary, codes = dictionary_codes(array)
    return _convert_distinct(dictionary.to_pylist(), codes, convert, dtype)


def map_distinct_raw(raw, convert: Callable[[str], Any], dtype: str, escape: bool = True):
    """:func:`map_distinct_arrow` of :func:`strip_arrow` of ``raw``, with the strip done on the
    distinct raw values only → (pandas array, numpy bad mask, callable giving the stripped texts
    of the bad rows). The same values: a distinct raw value's stripped form is the same whichever
    row holds it."""
    import pyarrow as pa

    if isinstance(raw, pa.ChunkedArray):
        raw = raw.combine_chunks()
    dictionary, codes = dictionary_codes(raw)
    dictionary = strip_arrow(dictionary, escape)
    out, bad = _convert_distinct(dictionary.to_pylist(), codes, convert, dtype)
    return out, bad, lambda: dictionary.take(pa.array(codes[bad])).to_pylist()


# ---------------------------------------------------------------------------- dates (日付)
_ERA_NAMES = "|".join(e.name for e in eras.ERAS)
_ERA_LETTERS = "".join(e.letter for e in eras.ERAS)
_WHITESPACE = re.compile(r"\s+")
_GREGORIAN_SEPARATED = re.compile(r"^(\d{4})([-/.])(\d{1,2})\2(\d{1,2})$")
_GREGORIAN_KANJI = re.compile(r"^(\d{4})年(\d{1,2})月(\d{1,2})日$")
_GREGORIAN_COMPACT = re.compile(r"^(\d{4})(\d{2})(\d{2})$")
# 00:00 time parts appear when a spreadsheet or a Parquet timestamp was exported as text
_MIDNIGHT = re.compile(r"[T ]?00:00(?::00(?:\.0+)?)?$")
_ERA_KANJI = re.compile(rf"^({_ERA_NAMES})(元|\d{{1,2}})年(\d{{1,2}})月(\d{{1,2}})日$")
_ERA_LETTER = re.compile(rf"^([{_ERA_LETTERS}])(元|\d{{1,2}})([./\-])(\d{{1,2}})\3(\d{{1,2}})$")
_ERA_LETTER_COMPACT = re.compile(rf"^([{_ERA_LETTERS}])(\d{{2}})(\d{{2}})(\d{{2}})$")


def parse_date(text: str) -> dt.date | None:
    """One date string in any accepted form → ``date``, or ``None`` when it is not a real date.

    Accepted: ``YYYY-MM-DD``, ``YYYY/MM/DD``, ``YYYY.MM.DD``, ``YYYYMMDD``, ``YYYY年M月D日``,
    和暦 ``昭和45年3月12日`` / ``令和元年5月1日`` / ``S45.03.12`` / ``H1/1/8`` / ``R06.04.01`` /
    ``S450312``; full-width digits and ㍼-style era ligatures (NFKC); inner spaces ignored.
    """
    value = _WHITESPACE.sub("", nfkc(text)).upper()
    value = _MIDNIGHT.sub("", value) if len(value) > 10 else value
    if match := (_GREGORIAN_SEPARATED.match(value)):
        year, month, day = int(match[1]), int(match[3]), int(match[4])
    elif match := (_GREGORIAN_COMPACT.match(value) or _GREGORIAN_KANJI.match(value)):
        year, month, day = int(match[1]), int(match[2]), int(match[3])
    elif match := _ERA_KANJI.match(value):
        year = 1 if match[2] == "元" else int(match[2])
        return eras.to_gregorian(match[1], year, int(match[3]), int(match[4]))
    elif match := _ERA_LETTER.match(value):
        year = 1 if match[2] == "元" else int(match[2])
        return eras.to_gregorian(match[1], year, int(match[4]), int(match[5]))
    elif match := _ERA_LETTER_COMPACT.match(value):
        return eras.to_gregorian(match[1], int(match[2]), int(match[3]), int(match[4]))
    else:
        return None
    try:
        return dt.date(year, month, day)
    except ValueError:
        return None


# The forms of parse_date that need no NFKC — ASCII Gregorian (YYYY-MM-DD, YYYY/M/D, YYYY.MM.DD,
# YYYYMMDD) and 和暦 with an era letter (S45.03.12, H1/1/8, s450312) or name (昭和45年3月12日,
# 令和元年5月1日) — read for all distinct values at once (RE2 + numpy calendar arithmetic) instead
# of one regex cascade per value; everything else (full-width digits, ㍼, inner spaces) goes
# through parse_date. Same acceptance as parse_date on the forms read here (tests compare).
_GREGORIAN_ASCII = (r"^(?P<y>[0-9]{4})(?:-(?P<m1>[0-9]{1,2})-(?P<d1>[0-9]{1,2})"
                    r"|/(?P<m2>[0-9]{1,2})/(?P<d2>[0-9]{1,2})|\.(?P<m3>[0-9]{1,2})\.(?P<d3>[0-9]{1,2})"
                    r"|(?P<m4>[0-9]{2})(?P<d4>[0-9]{2}))$")
_ERA_CLASS = _ERA_LETTERS + _ERA_LETTERS.lower()
_ERA_FORMS = (rf"^(?:(?P<l1>[{_ERA_CLASS}])(?P<y1>元|[0-9]{{1,2}})(?:\.(?P<m1>[0-9]{{1,2}})\.(?P<d1>[0-9]{{1,2}})"
              rf"|/(?P<m2>[0-9]{{1,2}})/(?P<d2>[0-9]{{1,2}})|-(?P<m3>[0-9]{{1,2}})-(?P<d3>[0-9]{{1,2}}))"
              rf"|(?P<l2>[{_ERA_CLASS}])(?P<y2>[0-9]{{2}})(?P<m4>[0-9]{{2}})(?P<d4>[0-9]{{2}})"
              rf"|(?P<k>{_ERA_NAMES})(?P<y3>元|[0-9]{{1,2}})年(?P<m5>[0-9]{{1,2}})月(?P<d5>[0-9]{{1,2}})日)$")
# per era (eras.ERAS order): the tokens naming it, its first year, first and last valid day
_ERA_TOKENS = [token for era in eras.ERAS for token in (era.letter, era.letter.lower(), era.name)]
_ERA_FIRST_YEAR = np.array([era.first_year for era in eras.ERAS], dtype=np.int64)
_ERA_START = np.array([era.start for era in eras.ERAS], dtype="datetime64[D]")
_ERA_LAST = np.array([(era.end + dt.timedelta(days=1) if era.also_valid_on_next_start else era.end)
                      if era.end is not None else dt.date(9999, 12, 31) for era in eras.ERAS], dtype="datetime64[D]")
_NAT_NS = np.datetime64("NaT", "ns")
_NS_PER_DAY = 86_400 * 10**9


# Every month datetime64[ns] can hold whole (1678-01 .. 2261-12): its first day (days since
# 1970-01-01) and its length, so a date is two table look-ups and a comparison.
_FIRST_YEAR, _LAST_YEAR = 1678, 2261
_MONTHS = np.arange(f"{_FIRST_YEAR}-01", f"{_LAST_YEAR + 1}-02", dtype="datetime64[M]")
_MONTH_FIRST_DAY = _MONTHS.astype("datetime64[D]").view(np.int64)
_MONTH_LENGTH = np.diff(_MONTH_FIRST_DAY)
_MONTH_FIRST_DAY = _MONTH_FIRST_DAY[:-1]


def _calendar_dates(year: np.ndarray, month: np.ndarray, day: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(real date and representable as datetime64[ns], the dates as datetime64[D])."""
    year, month, day = (np.asarray(v, dtype=np.int64) for v in (year, month, day))
    # datetime64[ns] spans 1677–2262 and numpy wraps silently outside it
    ok = (year >= _FIRST_YEAR) & (year <= _LAST_YEAR) & (month >= 1) & (month <= 12) & (day >= 1)
    at = np.where(ok, (year - _FIRST_YEAR) * 12 + month - 1, 0)
    ok &= day <= _MONTH_LENGTH[at]
    return ok, (_MONTH_FIRST_DAY[at] + np.where(ok, day - 1, 0)).astype("datetime64[D]")


def _numbers(parts, *names: str) -> np.ndarray:
    """The integer of whichever alternative's group matched (the others are empty strings)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    joined = parts.field(names[0]) if len(names) == 1 else pc.binary_join_element_wise(
        *[parts.field(n) for n in names], "")
    return np.asarray(pc.cast(pc.replace_substring(joined, "元", "1"), pa.int64()), dtype=np.int64)


def _matching(texts, pattern: str):
    import pyarrow as pa
    import pyarrow.compute as pc

    parts = pc.extract_regex(texts, pattern=pattern)
    matched = np.asarray(pc.fill_null(parts.is_valid(), False), dtype=bool)
    return matched, (parts.filter(pa.array(matched)) if matched.any() else None)


def _vectorised_dates(texts) -> tuple[np.ndarray, np.ndarray]:
    """(read here mask, datetime64[ns] — NaT where read but not a representable real date)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    out = np.full(len(texts), _NAT_NS)
    done = np.zeros(len(texts), dtype=bool)
    matched, parts = _matching(texts, _GREGORIAN_ASCII)
    if parts is not None:
        ok, dates = _calendar_dates(_numbers(parts, "y"), _numbers(parts, "m1", "m2", "m3", "m4"),
                                    _numbers(parts, "d1", "d2", "d3", "d4"))
        out[matched] = np.where(ok, dates.astype("datetime64[ns]"), _NAT_NS)
        done |= matched
    rest = np.flatnonzero(~done)
    if not len(rest):
        return done, out
    era_matched, parts = _matching(texts.take(pa.array(rest)), _ERA_FORMS)
    if parts is None:
        return done, out
    token = pc.binary_join_element_wise(parts.field("l1"), parts.field("l2"), parts.field("k"), "")
    era = np.asarray(pc.index_in(token, value_set=pa.array(_ERA_TOKENS)), dtype=np.int64) // 3
    era_year = _numbers(parts, "y1", "y2", "y3")
    ok, dates = _calendar_dates(_ERA_FIRST_YEAR[era] + era_year - 1, _numbers(parts, "m1", "m2", "m3", "m4", "m5"),
                                _numbers(parts, "d1", "d2", "d3", "d4", "d5"))
    # 元年 is year 1; a date is only valid inside its era (昭和64年1月8日 does not exist)
    ok &= (era_year >= 1) & (dates >= _ERA_START[era]) & (dates <= _ERA_LAST[era])
    rows = rest[era_matched]
    out[rows] = np.where(ok, dates.astype("datetime64[ns]"), _NAT_NS)
    done[rows] = True
    return done, out


# (byte − 48) of the date separators - / . (uint8 arithmetic wraps), as a 256-entry table
_IS_SEPARATOR = np.zeros(256, dtype=bool)
_IS_SEPARATOR[[(ord(c) - 48) % 256 for c in "-/."]] = True


def _fixed_width_dates(array) -> tuple[np.ndarray, np.ndarray]:
    """(rows in a fixed-width ASCII Gregorian form, their datetime64[ns] — NaT where not a real
    date) of an Arrow string array; other rows are not done (NaT)."""
    n = len(array)
    out = np.full(n, _NAT_NS)
    done = np.zeros(n, dtype=bool)
    if n == 0 or array.null_count == n:
        return done, out
    import pyarrow as pa

    wide = pa.types.is_large_string(array.type)
    offsets = np.frombuffer(array.buffers()[1], dtype=np.int64 if wide else np.int32)[array.offset:array.offset + n + 1]
    data = np.frombuffer(array.buffers()[2], dtype=np.uint8)
    lengths = np.diff(offsets)
    if array.null_count:
        lengths = np.where(np.asarray(array.is_valid(), dtype=bool), lengths, -1)
    for width, month_at, day_at in ((10, 5, 8), (8, 4, 6)):
        rows = np.flatnonzero(lengths == width)
        if not len(rows):
            continue
        if len(data) < width:
            continue
        # each row's bytes, one row copy per value (a window view over the data, indexed by start)
        windows = np.lib.stride_tricks.as_strided(data, shape=(len(data) - width + 1, width), strides=(1, 1))
        chars = windows[offsets[rows]] - np.uint8(48)   # digits 0..9; anything else wraps above 9
        digit_at = [0, 1, 2, 3, month_at, month_at + 1, day_at, day_at + 1]
        ok = (chars[:, digit_at] <= 9).all(axis=1)
        if width == 10:
            ok &= (chars[:, 4] == chars[:, 7]) & _IS_SEPARATOR[chars[:, 4]]
        if not ok.all():
            rows, chars = rows[ok], chars[ok]
        if not len(rows):
            continue
        digits = chars[:, digit_at].astype(np.int64)
        year = digits[:, 0] * 1000 + digits[:, 1] * 100 + digits[:, 2] * 10 + digits[:, 3]
        month = digits[:, 4] * 10 + digits[:, 5]
        day = digits[:, 6] * 10 + digits[:, 7]
        valid, dates = _calendar_dates(year, month, day)
        # days → nanoseconds in int64 (the years are inside datetime64[ns]'s range)
        nanoseconds = np.where(valid, dates.view(np.int64) * _NS_PER_DAY, _NAT_NS.view(np.int64)).view("datetime64[ns]")
        if len(rows) == n:
            out = nanoseconds
        else:
            out[rows] = nanoseconds
        done[rows] = True
    return done, out


class DateNormaliser:
    """Dates of one feed: each distinct string is parsed once and remembered across chunks and
    columns (a 1M-row file is read in ~8 chunks of ~20 date columns that share ~50k strings)."""

    def __init__(self) -> None:
        # text → position in _known_dates (a dict: a pandas Index would rebuild its hash table
        # on every chunk that brings new texts)
        self._known: dict[str, int] = {}
        self._known_dates = np.zeros(0, dtype="datetime64[ns]")      # NaT: not a date

    def _parse(self, texts: pd.api.extensions.ExtensionArray) -> np.ndarray:
        import pyarrow as pa

        # Fast path: the common forms in one vectorised call; the rest one by one.
        matched, parsed = _vectorised_dates(pa.array(texts, type=pa.string()))
        leftovers = np.flatnonzero(~matched)
        for i, text in zip(leftovers, texts.take(leftovers).tolist()):
            date = parse_date(text)
            # datetime64[ns] spans 1677–2262 and numpy wraps silently outside it
            if date is not None and 1678 <= date.year <= 2261:
                parsed[i] = np.datetime64(date, "ns")
        return parsed

    def __call__(self, values: pd.Series) -> tuple[pd.Series, pd.Series]:
        codes, uniques = pd.factorize(values, use_na_sentinel=True)
        parsed, bad = self._lookup(codes, uniques)
        return pd.Series(parsed, index=values.index), pd.Series(bad, index=values.index)

    def arrow(self, array) -> tuple[np.ndarray, np.ndarray]:
        """The same on an Arrow string array → (datetime64[ns] values, bad mask), numpy.

        The fixed-width ASCII forms (``YYYY-MM-DD``, ``YYYY/MM/DD``, ``YYYY.MM.DD``, ``YYYYMMDD``:
        nearly every date of a feed) are read straight from the string bytes, with the same
        calendar check as :func:`_vectorised_dates`; only the other rows are hashed to their
        distinct values and parsed once each."""
        import pyarrow as pa

        done, dates = _fixed_width_dates(array)
        present = np.asarray(array.is_valid(), dtype=bool)
        rest = np.flatnonzero(present & ~done)
        if not len(rest):
            return dates, done & np.isnat(dates)
        bad = done & np.isnat(dates)
        subset = array.take(pa.array(rest))
        dictionary, codes = dictionary_codes(subset)
        parsed, rest_bad = self._lookup(codes, pd.array(dictionary, dtype=_STRING_DTYPE))
        dates[rest] = parsed
        bad[rest] = rest_bad
        return dates, bad

    def arrow_raw(self, raw, escape: bool = True):
        """:meth:`arrow` of :func:`strip_arrow` of ``raw`` → (dates, bad mask, callable giving the
        stripped texts of the bad rows): the fixed-width forms are read from the raw bytes (a
        value in one of them has nothing to strip), only the other rows are stripped."""
        import pyarrow as pa

        if isinstance(raw, pa.ChunkedArray):
            raw = raw.combine_chunks()
        done, dates = _fixed_width_dates(raw)
        bad = done & np.isnat(dates)
        rest = np.flatnonzero(np.asarray(raw.is_valid(), dtype=bool) & ~done)
        if len(rest):
            parsed, rest_bad = self.arrow(strip_arrow(raw.take(pa.array(rest)), escape))
            dates[rest] = parsed
            bad[rest] = rest_bad
        return dates, bad, lambda: strip_arrow(raw.filter(pa.array(bad)), escape).to_pylist()

    def _lookup(self, codes: np.ndarray, uniques) -> tuple[np.ndarray, np.ndarray]:
        known = self._known
        texts = uniques.tolist()
        positions = np.fromiter((known.get(text, -1) for text in texts), dtype=np.int64, count=len(texts))
        new = np.flatnonzero(positions < 0)
        if len(new):
            positions[new] = np.arange(len(self._known_dates), len(self._known_dates) + len(new))
            self._known_dates = np.concatenate([self._known_dates, self._parse(uniques.take(new))])
            known.update(zip([texts[i] for i in new], positions[new].tolist()))
        parsed = np.append(self._known_dates[positions], np.datetime64("NaT", "ns"))
        bad_unique = np.isnat(parsed)
        bad_unique[-1] = False  # codes == -1 (missing) pick the trailing NaT, not bad
        return parsed[codes], bad_unique[codes]


# ---------------------------------------------------------------------------- codes (コード)
def _code_table(table: dict[str, Any]) -> Callable[[str], Any]:
    """A converter that looks a value up after NFKC, trying it as is, upper- and lower-cased."""
    folded = {}
    for key, value in table.items():
        key = nfkc(key)
        folded[key] = value
        folded.setdefault(key.upper(), value)
        folded.setdefault(key.lower(), value)

    def convert(text: str) -> Any:
        key = _WHITESPACE.sub("", nfkc(text))
        return folded.get(key, folded.get(key.upper(), _BAD))

    return convert


# 性別 / sex, 住基 coding 1 male 2 female
SEX_ALIASES = {"1": 1, "2": 2, "男": 1, "女": 2, "男性": 1, "女性": 2, "M": 1, "F": 2,
               "MALE": 1, "FEMALE": 2}
# 一部負担割合 / burden ratio, percent
BURDEN_RATIO_ALIASES = {"10": 10, "20": 20, "30": 30, "1割": 10, "2割": 20, "3割": 30,
                        "1": 10, "2": 20, "3": 30, "10%": 10, "20%": 20, "30%": 30}
BOOL_ALIASES = {"0": False, "1": True, "TRUE": True, "FALSE": False, "有": True, "無": False,
                "T": True, "F": False, "YES": True, "NO": False}

_sex = _code_table(SEX_ALIASES)
_burden = _code_table(BURDEN_RATIO_ALIASES)
_bool = _code_table(BOOL_ALIASES)
# NFKC turns Ⅲ into III, so the table is folded through NFKC too (現役並みⅢ → 現役並みIII → G3).
_limit = _code_table(LIMIT_CATEGORY_ALIASES)


def enum_value(text: str) -> str:
    """One free code (see :func:`enum`): NFKC, no inner spaces, lower case."""
    return _WHITESPACE.sub("", nfkc(text)).lower()


def code_value(text: str) -> str:
    """One numeric-ish code (see :func:`code`): NFKC, no inner spaces; case kept."""
    return _WHITESPACE.sub("", nfkc(text))


# one value each (``_BAD`` when it cannot be read), for map_distinct / map_distinct_arrow
sex_value, burden_value, bool_value, limit_value = _sex, _burden, _bool, _limit


def sex(values: pd.Series) -> tuple[pd.Series, pd.Series]:
    return map_distinct(values, _sex, "Int64")


def burden_ratio(values: pd.Series) -> tuple[pd.Series, pd.Series]:
    return map_distinct(values, _burden, "Int64")


def limit_category(values: pd.Series) -> tuple[pd.Series, pd.Series]:
    return map_distinct(values, _limit, "string")


def boolean(values: pd.Series) -> tuple[pd.Series, pd.Series]:
    return map_distinct(values, _bool, "boolean")


def enum(values: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Free codes checked later against their value set (GX): NFKC, no inner spaces, lower case."""
    return map_distinct(values, enum_value, "string")


def code(values: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Numeric-ish codes (loss_reason, cancellation_code): NFKC, no inner spaces; case kept."""
    return map_distinct(values, code_value, "string")


def _arrow(values: pd.Series):
    import pyarrow as pa

    return pa.array(values, type=pa.string())


def _series(array, index: pd.Index) -> pd.Series:
    return pd.Series(pd.array(array, dtype=pd.StringDtype("pyarrow")), index=index)


def regex_replace(values: pd.Series, pattern: str, replacement: str = "") -> pd.Series:
    """RE2 replace through pyarrow (pandas falls back to Python per row for some patterns)."""
    import pyarrow.compute as pc

    return _series(pc.replace_substring_regex(_arrow(values), pattern=pattern, replacement=replacement), values.index)


def regex_fullmatch(values: pd.Series, pattern: str) -> pd.Series:
    """Boolean mask: the whole value matches (RE2 via pyarrow); missing → False."""
    import pyarrow.compute as pc

    matched = pc.fill_null(pc.match_substring_regex(_arrow(values), pattern=f"^(?:{pattern})$"), False)
    return pd.Series(matched.to_numpy(zero_copy_only=False), index=values.index)


def non_ascii(values: pd.Series) -> pd.Series:
    """Mask of present values holding any non-ASCII character (pyarrow kernel, no Python per row)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    flags = pc.fill_null(pc.invert(pc.string_is_ascii(pa.array(values, type=pa.string()))), False)
    return pd.Series(flags.to_numpy(zero_copy_only=False), index=values.index)


def identifier(values: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Identifiers (保険者番号, 被保険者番号, 宛名番号 …): NFKC so full-width digits join; never bad."""
    wide = non_ascii(values)
    if not wide.any():
        return values, pd.Series(False, index=values.index)
    out = values.copy()
    folded, _ = map_distinct(values[wide], lambda text: _WHITESPACE.sub("", nfkc(text)), "string")
    out[wide] = folded
    return out, pd.Series(False, index=values.index)


# ---------------------------------------------------------------------------- numbers (数値)
_MONEY_NOISE = r"[,\s円¥\\]"


def ascii_digit_rows(values: pd.Series, width: int | None = None) -> np.ndarray:
    """Mask of present values made only of ASCII digits (at least one; exactly ``width`` when
    given), from the string bytes: the canonical spelling, which needs no regex, no NFKC."""
    import pyarrow as pa

    array = pa.array(values, type=pa.large_string())
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    n = len(array)
    if n == 0 or array.null_count == n:
        return np.zeros(n, dtype=bool)
    offsets = np.frombuffer(array.buffers()[1], dtype=np.int64)[array.offset:array.offset + n + 1]
    start, stop = int(offsets[0]), int(offsets[-1])
    data = np.frombuffer(array.buffers()[2], dtype=np.uint8)[start:stop] if stop > start else np.zeros(0, np.uint8)
    relative = offsets - start
    lengths = np.diff(offsets)
    if width is not None:
        # rows of that width: their bytes as one (rows, width) block, one row copy each
        ok = lengths == width
        rows = np.flatnonzero(ok)
        if len(rows):
            windows = np.lib.stride_tricks.as_strided(data, shape=(len(data) - width + 1, width), strides=(1, 1))
            ok[rows] = ((windows[relative[rows]] - np.uint8(48)) <= 9).all(axis=1)
    else:
        non_digits = np.zeros(len(data) + 1, dtype=np.int32 if len(data) < 1 << 31 else np.int64)
        np.cumsum((data - np.uint8(48)) > 9, out=non_digits[1:])
        ok = (non_digits[relative[1:]] == non_digits[relative[:-1]]) & (lengths > 0)
    if array.null_count:
        ok &= np.asarray(array.is_valid(), dtype=bool)
    return ok


def _with_fast_rows(values: pd.Series, fast: np.ndarray, fast_values: pd.Series,
                    slow: Callable[[pd.Series], tuple[pd.Series, pd.Series]]) -> tuple[pd.Series, pd.Series]:
    """Combine a normaliser's fast rows (``fast_values``, already final) with ``slow`` run on the
    other present rows only."""
    rest = values.notna().to_numpy() & ~fast
    if not rest.any():
        return fast_values, pd.Series(False, index=values.index)
    slow_values, slow_bad = slow(values[rest])
    out = fast_values.copy()
    out[rest] = slow_values
    bad = np.zeros(len(values), dtype=bool)
    bad[rest] = slow_bad.to_numpy(dtype=bool)
    return out, pd.Series(bad, index=values.index)


def money(values: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Yen amounts: commas, spaces, 円 and ¥ allowed; full-width digits through NFKC."""
    import pyarrow as pa
    import pyarrow.compute as pc

    fast = ascii_digit_rows(values)
    if fast.any():
        # plain digit strings: the cast below would give exactly this for them
        parsed = pc.cast(pc.if_else(pa.array(fast), _arrow(values), None), pa.float64())
        numbers = pd.Series(pd.array(parsed.to_numpy(zero_copy_only=False), dtype="Float64"), index=values.index)
        return _with_fast_rows(values, fast, numbers, _money)
    return _money(values)


def _money(values: pd.Series) -> tuple[pd.Series, pd.Series]:
    import pyarrow as pa
    import pyarrow.compute as pc

    cleaned = regex_replace(values, _MONEY_NOISE)
    plain = regex_fullmatch(cleaned, r"-?[0-9]+(?:\.[0-9]+)?")
    parsed = pc.cast(pc.if_else(pa.array(plain.to_numpy()), _arrow(cleaned), None), pa.float64())
    numbers = pd.Series(pd.array(parsed.to_numpy(zero_copy_only=False), dtype="Float64"), index=values.index)
    failed = values.notna() & ~plain
    if failed.any():
        def convert(text: str) -> Any:
            try:
                return float(re.sub(_MONEY_NOISE, "", nfkc(text)))
            except ValueError:
                return _BAD
        retried, bad = map_distinct(values[failed], convert, "Float64")
        numbers = numbers.copy()
        numbers[failed] = retried
        return numbers, bad.reindex(values.index, fill_value=False)
    return numbers, pd.Series(False, index=values.index)


def _nfkc_values(values: pd.Series) -> pd.Series:
    """NFKC on the values holding any non-ASCII character (once per distinct value)."""
    wide = non_ascii(values)
    if wide.any():
        values = values.copy()
        folded, _ = map_distinct(values[wide], nfkc, "string")
        values[wide] = folded
    return values


def _digits_only(values: pd.Series) -> pd.Series:
    return regex_replace(_nfkc_values(values), SEPARATOR_CLASS)


def individual_number(values: pd.Series) -> tuple[pd.Series, pd.Series]:
    """個人番号 → 12 ASCII digits; other shapes are bad (row errors, shown masked).

    Accepted is exactly what "looks like an individual number" (reports.guard, the one
    definition): after NFKC, 12 digits with separators between them from NUMBER_SEPARATORS
    (space, ideographic space, ``-``, ``‐``, ``–``, ``—``, ``−``, ``.``), runs of them too. The
    check digit is *not* judged here: a 12-digit number with a wrong check digit is a finding
    (number_status ``bad_check``), not a row error.
    """
    fast = ascii_digit_rows(values, 12)
    return _with_fast_rows(values, fast, values.where(pd.Series(fast, index=values.index)), _individual_number)


def _individual_number(values: pd.Series) -> tuple[pd.Series, pd.Series]:
    folded = _nfkc_values(values)
    ok = regex_fullmatch(folded, NUMBER_SHAPE)
    cleaned = regex_replace(folded, SEPARATOR_CLASS)
    bad = values.notna() & ~ok
    return cleaned.where(ok), bad


def last4(values: pd.Series) -> tuple[pd.Series, pd.Series]:
    """個人番号の下4桁 / last four digits → 4 ASCII digits."""
    fast = ascii_digit_rows(values, 4)
    return _with_fast_rows(values, fast, values.where(pd.Series(fast, index=values.index)), _last4)


def _last4(values: pd.Series) -> tuple[pd.Series, pd.Series]:
    cleaned = _digits_only(values)
    ok = regex_fullmatch(cleaned, r"[0-9]{4}")
    return cleaned.where(ok), values.notna() & ~ok


def mask_digit_runs(text: str) -> str:
    """Mask every number-like run (the one definition, reports.guard) to ``********`` + last four."""
    return mask_text(text)


def shown(text: str | None) -> str | None:
    """How a feed value may appear in quarantine, messages and the validation result: number-like
    runs masked, control characters (NUL …) escaped as ``\\xNN``."""
    if text is None or text is pd.NA or not isinstance(text, str):
        return text
    return escape_controls(mask_text(text))


def masked(raw: str | None) -> str:
    """How an individual number may appear in quarantine: at most its last four digits."""
    if raw is None or raw is pd.NA:
        return ""
    digits = re.sub(r"\D", "", nfkc(str(raw)))
    return "********" + digits[-4:] if len(digits) >= 4 else "****"
