"""正解ルール / the generator's ground truth for age-, income- and household-dependent values.

One module holds the rules the synthetic municipality is built with (domain brief §4–5), so a
clean member is clean by construction and tests can check the written feed against it:

- 未就学 / preschool: 20% up to and including the first March 31 on or after the day the
  child reaches 6 ("reaches X" = the day *before* the X-th birthday, 年齢計算ニ関スル法律).
- 30% from the next day through the month in which the person reaches 70.
- 70–74 (高齢受給者): from the first day of the month after reaching 70 (the birthday month for
  someone born on the 1st): 20%, or 30% when any 70–74 member of the household has
  課税所得 ≥ 1,450,000 yen (現役並み). No 基準収入額適用 exceptions are generated as clean.
- 75: 国保 is lost on the day after the 75th birthday (後期高齢者医療).
- Limit categories: under 70 from the household's summed 旧ただし書き所得 (ア > 9.01M or
  undeclared, イ > 6.0M, ウ > 2.1M, エ otherwise, オ when every member is exempt); 70+ from the
  highest 課税所得 among the household's 70+ members (現役並みⅢ ≥ 6.9M, Ⅱ ≥ 3.8M, Ⅰ ≥ 1.45M),
  else 低所得Ⅰ (all exempt, every member's 旧ただし書き所得 and 課税所得 0), 低所得Ⅱ (all exempt),
  一般.

"Household" = the members sharing ``household_id`` who are insured on the evaluation date.
Everything is vectorised over numpy ``datetime64[D]`` arrays.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

GENEKI_TAXABLE = 1_450_000          # 現役並み threshold (課税所得)
G2_TAXABLE = 3_800_000
G3_TAXABLE = 6_900_000
A_KYU = 9_010_000                   # 旧ただし書き所得 thresholds, under 70
I_KYU = 6_000_000
U_KYU = 2_100_000

PRESCHOOL, WORKING, ELDERLY, LATE = 0, 1, 2, 3   # age bands: 未就学, 一般, 高齢受給者 (70–74), 後期 (75+)


def _days(values) -> np.ndarray:
    """Anything date-like → ``datetime64[D]`` array (NaT kept)."""
    if isinstance(values, pd.Series):
        values = values.to_numpy()
    return np.asarray(values, dtype="datetime64[D]")


_NAT = np.iinfo(np.int64).min


def _ymd(days: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Year, month, day of ``datetime64[D]`` values, in integer arithmetic (H. Hinnant's
    civil-from-days): an order of magnitude faster than casting to ``datetime64[Y]/[M]``."""
    z = np.asarray(days, dtype="datetime64[D]").astype(np.int64)
    z = np.where(z == _NAT, 0, z) + 719_468
    era = np.floor_divide(z, 146_097)
    doe = z - era * 146_097
    yoe = (doe - doe // 1_460 + doe // 36_524 - doe // 146_096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    d = doy - (153 * mp + 2) // 5 + 1
    m = np.where(mp < 10, mp + 3, mp - 9)
    y = yoe + era * 400 + (m <= 2)
    return y, m, d


def _days_from_civil(y, m, d) -> np.ndarray:
    y = np.asarray(y, dtype=np.int64) - (np.asarray(m) <= 2)
    era = np.floor_divide(y, 400)
    yoe = y - era * 400
    mp = (np.asarray(m, dtype=np.int64) + 9) % 12
    doy = (153 * mp + 2) // 5 + np.asarray(d, dtype=np.int64) - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return (era * 146_097 + doe - 719_468).astype("datetime64[D]")


def _month_start(year: np.ndarray, month: np.ndarray) -> np.ndarray:
    return _days_from_civil(year, month, 1)


def anniversary(birth, years: int) -> np.ndarray:
    """The ``years``-th birthday (Feb 29 births: March 1 in common years)."""
    b = _days(birth)
    y, m, d = _ymd(b)
    return _month_start(y + years, m) + (d - 1).astype("timedelta64[D]")


def reaches_age(birth, years: int) -> np.ndarray:
    """The day a person "reaches" ``years`` (年齢に達する日): the day before the birthday."""
    return anniversary(birth, years) - np.timedelta64(1, "D")


def age_on(birth, on) -> np.ndarray:
    """Completed years on ``on`` (as on a birthday count; the legal "reaching" is a day earlier)."""
    b = _days(birth)
    on = _days(on)
    yb, mb, db = _ymd(b)
    yo, mo, do = _ymd(np.broadcast_to(on, b.shape))
    age = yo - yb
    before_birthday = (mo < mb) | ((mo == mb) & (do < db))
    age = age - before_birthday
    return age


def preschool_end(birth) -> np.ndarray:
    """Last day of 20% for a child: the first March 31 on or after the day the child reaches 6."""
    reach = reaches_age(birth, 6)
    y, m, _ = _ymd(reach)
    year = np.where(m <= 3, y, y + 1)
    return _month_start(year, np.full_like(year, 4)) - np.timedelta64(1, "D")


def seventy_start(birth) -> np.ndarray:
    """First day of the 70–74 band: the first of the month after reaching 70."""
    reach = reaches_age(birth, 70)
    return (reach.astype("datetime64[M]") + 1).astype("datetime64[D]")


def kokuho_loss_at_75(birth) -> np.ndarray:
    """The day 国保 is lost on turning 75: the day after the 75th birthday."""
    return anniversary(birth, 75) + np.timedelta64(1, "D")


def age_band(birth, on) -> np.ndarray:
    """PRESCHOOL / WORKING / ELDERLY / LATE on ``on`` (per domain brief §4)."""
    b = _days(birth)
    on = np.broadcast_to(_days(on), b.shape)
    band = np.full(b.shape, WORKING, dtype=np.int8)
    band[on <= preschool_end(b)] = PRESCHOOL
    band[on >= seventy_start(b)] = ELDERLY
    band[on >= anniversary(b, 75)] = LATE
    return band


def household_aggregates(household_id, band, taxable, kyu, exempt) -> pd.DataFrame:
    """Per-member household aggregates over the members given (those insured on the date).

    Returns a frame aligned with the inputs: ``geneki_elderly`` (some 70–74 member ≥ 1.45M),
    ``max_taxable_70`` (highest 課税所得 among 70+ members), ``sum_kyu`` (NaN when any
    member's income is undeclared), ``all_exempt``, ``all_zero`` (every 課税所得 and
    旧ただし書き所得 is 0).
    """
    taxable = np.asarray(taxable, dtype=float)
    kyu = np.asarray(kyu, dtype=float)
    band = np.asarray(band)
    exempt = np.asarray(exempt, dtype=bool)
    # Integer group codes and bincount / ufunc.at: several times faster than groupby().transform
    # on a million members, and the generator calls this once per income epoch.
    codes, uniques = pd.factorize(np.asarray(household_id), use_na_sentinel=False)
    k = len(uniques)
    tax0 = np.nan_to_num(taxable)
    undeclared = np.isnan(kyu)
    geneki = (band == ELDERLY) & (tax0 >= GENEKI_TAXABLE)
    tax70 = np.where(band >= ELDERLY, tax0, 0.0)
    zero = (tax0 == 0) & (np.nan_to_num(kyu) == 0) & ~undeclared
    max70 = np.zeros(k)
    np.maximum.at(max70, codes, tax70)
    sum_kyu = np.bincount(codes, weights=np.nan_to_num(kyu), minlength=k)
    any_undeclared = np.bincount(codes, weights=undeclared, minlength=k) > 0
    sum_kyu = np.where(any_undeclared, np.nan, sum_kyu)
    return pd.DataFrame({
        "geneki_elderly": (np.bincount(codes, weights=geneki, minlength=k) > 0)[codes],
        "max_taxable_70": max70[codes],
        "sum_kyu": sum_kyu[codes],
        "undeclared": any_undeclared[codes],
        "all_exempt": (np.bincount(codes, weights=~exempt, minlength=k) == 0)[codes],
        "all_zero": (np.bincount(codes, weights=~zero, minlength=k) == 0)[codes],
    })


def burden_ratio(band, geneki_elderly) -> np.ndarray:
    """一部負担割合 (percent) from the age band and the household's 現役並み flag."""
    band = np.asarray(band)
    return np.select(
        [band == PRESCHOOL, band == WORKING, (band == ELDERLY) & np.asarray(geneki_elderly)],
        [20, 30, 30], default=20).astype(np.int64)


def limit_category(band, agg: pd.DataFrame) -> np.ndarray:
    """限度額適用区分 code from the age band and the household aggregates."""
    band = np.asarray(band)
    sum_kyu = agg["sum_kyu"].to_numpy(dtype=float)
    all_exempt = agg["all_exempt"].to_numpy(dtype=bool)
    undeclared = np.isnan(sum_kyu)
    # Select integer codes, then map to labels once (np.select over strings is slow at 1M rows).
    under70 = np.select(
        [all_exempt & ~undeclared, undeclared | (sum_kyu > A_KYU), sum_kyu > I_KYU, sum_kyu > U_KYU],
        [4, 0, 1, 2], default=3)
    tax70 = agg["max_taxable_70"].to_numpy(dtype=float)
    over70 = np.select(
        [tax70 >= G3_TAXABLE, tax70 >= G2_TAXABLE, tax70 >= GENEKI_TAXABLE,
         all_exempt & agg["all_zero"].to_numpy(dtype=bool), all_exempt],
        [5, 6, 7, 10, 9], default=8)
    return _CATEGORY_CODES[np.where(band >= ELDERLY, over70, under70)]


_CATEGORY_CODES = np.array(["A", "I", "U", "E", "O", "G3", "G2", "G1", "IP", "L2", "L1"], dtype=object)


def expected_values(members: pd.DataFrame, on) -> pd.DataFrame:
    """Expected ``burden_ratio`` and ``limit_category`` on ``on`` for members insured that day.

    ``members`` needs ``household_id, birth_date, acquisition_date, loss_date, taxable_income,
    kyu_tadashigaki_income, resident_tax_exempt``. Rows not insured on ``on`` get NA.
    Used by the generator for clean members and by tests to check the written feed.
    """
    on = np.datetime64(pd.Timestamp(on).date(), "D")
    acq = _days(members["acquisition_date"])
    loss = _days(members["loss_date"])
    insured = (acq <= on) & (np.isnat(loss) | (loss > on))
    sub = members.loc[insured]
    band = age_band(sub["birth_date"], on)
    agg = household_aggregates(sub["household_id"].to_numpy(), band, sub["taxable_income"].to_numpy(dtype=float),
                               sub["kyu_tadashigaki_income"].to_numpy(dtype=float),
                               sub["resident_tax_exempt"].to_numpy(dtype=bool))
    ratio = pd.Series(pd.NA, index=members.index, dtype="Int64")
    category = pd.Series(pd.NA, index=members.index, dtype="string")
    ratio.loc[insured] = burden_ratio(band, agg["geneki_elderly"].to_numpy())
    category.loc[insured] = limit_category(band, agg)
    return pd.DataFrame({"burden_ratio": ratio, "limit_category": category})
