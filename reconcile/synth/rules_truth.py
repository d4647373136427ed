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


def _ymd(days: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    y = days.astype("datetime64[Y]").astype(int) + 1970
    m = days.astype("datetime64[M]").astype(int) % 12 + 1
    d = (days - days.astype("datetime64[M]")).astype(int) + 1
    return y, m, d


def _month_start(year: np.ndarray, month: np.ndarray) -> np.ndarray:
    months = (np.asarray(year) - 1970) * 12 + (np.asarray(month) - 1)
    return months.astype("datetime64[M]").astype("datetime64[D]")


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
    frame = pd.DataFrame({
        "h": np.asarray(household_id),
        "geneki": (band == ELDERLY) & (np.nan_to_num(taxable) >= GENEKI_TAXABLE),
        "tax70": np.where(band >= ELDERLY, np.nan_to_num(taxable), 0.0),
        "kyu": kyu,
        "undeclared": np.isnan(kyu),
        "exempt": np.asarray(exempt, dtype=bool),
        "zero": (np.nan_to_num(taxable) == 0) & (np.nan_to_num(kyu) == 0) & ~np.isnan(kyu),
    })
    g = frame.groupby("h", sort=False)
    out = pd.DataFrame({
        "geneki_elderly": g["geneki"].transform("any").to_numpy(),
        "max_taxable_70": g["tax70"].transform("max").to_numpy(),
        "sum_kyu": g["kyu"].transform("sum").to_numpy(),
        "undeclared": g["undeclared"].transform("any").to_numpy(),
        "all_exempt": g["exempt"].transform("all").to_numpy(),
        "all_zero": g["zero"].transform("all").to_numpy(),
    })
    out.loc[out["undeclared"].to_numpy(), "sum_kyu"] = np.nan
    return out


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
    under70 = np.select(
        [all_exempt & ~undeclared, undeclared | (sum_kyu > A_KYU), sum_kyu > I_KYU, sum_kyu > U_KYU],
        ["O", "A", "I", "U"], default="E")
    tax70 = agg["max_taxable_70"].to_numpy(dtype=float)
    over70 = np.select(
        [tax70 >= G3_TAXABLE, tax70 >= G2_TAXABLE, tax70 >= GENEKI_TAXABLE,
         all_exempt & agg["all_zero"].to_numpy(dtype=bool), all_exempt],
        ["G3", "G2", "G1", "L1", "L2"], default="IP")
    return np.where(band >= ELDERLY, over70, under70).astype(object)


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
