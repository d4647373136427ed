"""世帯単位の所得集計 / household income aggregation for the burden-ratio and limit-category rules.

Domain brief §4–5: the 現役並み test looks at the highest 課税所得 (taxable income) among the
household's members aged 70 and over; the under-70 limit category sums the household's
旧ただし書き所得; オ / 低所得 need every member exempt from 住民税. A household is the members of
one insurer sharing ``household_id`` (a member without one is a household of one); only
members active on ``as_of`` count.

An income column absent from the feed (entirely missing) switches the income checks off; a
household where some member's income is missing is "incomplete" and only soft or no
conclusions are drawn from it.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from detectors import ages

# 現役並み所得 / taxable-income thresholds of the 70+ categories (domain brief §4–5), yen
GENEKI_TAXABLE_MIN = 1_450_000     # 現役並みⅠ and the 30% ratio
GENEKI_II_TAXABLE_MIN = 3_800_000  # 現役並みⅡ
GENEKI_III_TAXABLE_MIN = 6_900_000  # 現役並みⅢ
KOUKI_IPPAN_II_TAXABLE_MIN = 280_000  # 後期 一般Ⅱ (20%) needs at least this (plus pension income)

# 旧ただし書き所得 bands of the under-70 categories (domain brief §5), yen, upper bounds inclusive
UNDER_70_A_ABOVE = 9_010_000
UNDER_70_I_ABOVE = 6_000_000
UNDER_70_U_ABOVE = 2_100_000

DEFAULT_INSURER_TYPE = "kokuho"
KOKUHO_TYPES = ("kokuho", "kumiai")  # insurers under 国保法


def insurer_types(members: pd.DataFrame) -> pd.Series:
    """``insurer_type`` with the contract's default (市町村国保) filled in."""
    return members["insurer_type"].fillna(DEFAULT_INSURER_TYPE).astype("string")


def household_keys(members: pd.DataFrame) -> pd.Series:
    """Household key: insurer + 世帯番号; a member without one forms a household of one."""
    own = "member:" + members["member_id"].astype("string")
    return (members["insurer_number"].astype("string") + "|" + members["household_id"].fillna(own)).astype("string")


def column_present(frame: pd.DataFrame, column: str) -> bool:
    """The feed delivered ``column`` (not entirely missing)."""
    return column in frame.columns and bool(frame[column].notna().any())


def household_income(members: pd.DataFrame, as_of: pd.Timestamp) -> pd.DataFrame:
    """Per member (same index as ``members``, active ones only): the household figures the rules need.

    Columns: ``age_band``, ``household_key``, ``seventy_plus_members``, ``seventy_plus_max_taxable``
    (highest 課税所得 among the household's 70+ members, for the limit category),
    ``seventy_plus_taxable_complete``, ``elderly_max_taxable`` / ``elderly_taxable_complete``
    (the same over the 70–74 members only, for the 現役並み ratio test),
    ``household_kyu_sum`` (sum of 旧ただし書き所得), ``household_kyu_complete``,
    ``household_all_exempt`` (every member exempt from 住民税; NA when unknown),
    ``household_members``.
    """
    active = ages.active_on(members["acquisition_date"], members["loss_date"], as_of)
    frame = members.loc[active]
    band = ages.age_band(frame["birth_date"], as_of)
    key = household_keys(frame)
    seventy_plus = band.isin([ages.ELDERLY, ages.LATE_ELDERLY]).fillna(False).astype(bool)
    elderly = (band == ages.ELDERLY).fillna(False).astype(bool)
    taxable = frame["taxable_income"].astype("Float64")
    kyu = frame["kyu_tadashigaki_income"].astype("Float64")
    exempt = frame["resident_tax_exempt"].astype("boolean")
    parts = pd.DataFrame({
        "household_key": key,
        "seventy_plus": seventy_plus,
        "taxable_70": taxable.where(seventy_plus),
        "taxable_70_missing": (seventy_plus & taxable.isna()).astype(bool),
        "taxable_70_74": taxable.where(elderly),
        "taxable_70_74_missing": (elderly & taxable.isna()).astype(bool),
        "kyu": kyu,
        "kyu_missing": kyu.isna().astype(bool),
        "exempt_missing": exempt.isna().astype(bool),
        "not_exempt": (exempt == False).fillna(False).astype(bool),  # noqa: E712  (NA-aware)
    })
    grouped = parts.groupby("household_key", sort=False)
    summary = pd.DataFrame({
        "seventy_plus_members": grouped["seventy_plus"].sum(),
        "seventy_plus_max_taxable": grouped["taxable_70"].max(),
        "taxable_missing": grouped["taxable_70_missing"].sum(),
        "elderly_max_taxable": grouped["taxable_70_74"].max(),
        "elderly_taxable_missing": grouped["taxable_70_74_missing"].sum(),
        "household_kyu_sum": grouped["kyu"].sum(min_count=1),
        "kyu_missing": grouped["kyu_missing"].sum(),
        "exempt_missing": grouped["exempt_missing"].sum(),
        "not_exempt": grouped["not_exempt"].sum(),
        "household_members": grouped.size(),
    })
    summary["seventy_plus_taxable_complete"] = summary["taxable_missing"] == 0
    summary["elderly_taxable_complete"] = summary["elderly_taxable_missing"] == 0
    summary["household_kyu_complete"] = summary["kyu_missing"] == 0
    all_exempt = pd.Series(pd.NA, index=summary.index, dtype="boolean")
    all_exempt[summary["not_exempt"] > 0] = False
    all_exempt[(summary["not_exempt"] == 0) & (summary["exempt_missing"] == 0)] = True
    summary["household_all_exempt"] = all_exempt
    out = summary.reindex(key.to_numpy())
    out.index = frame.index
    out.insert(0, "household_key", key)
    out.insert(0, "age_band", band)
    return out.drop(columns=["taxable_missing", "elderly_taxable_missing", "kyu_missing", "exempt_missing",
                             "not_exempt"])


def expected_seventy_plus_category(max_taxable: pd.Series, all_exempt: pd.Series) -> pd.Series:
    """70+ limit category from the household's highest taxable income and exemption (NA = cannot tell).

    L2 is returned for an exempt household; 低所得Ⅰ (L1) needs pension figures the feed does not
    carry, so callers accept L1 wherever L2 is expected.
    """
    tax = max_taxable.astype("Float64")
    exempt = all_exempt.astype("boolean")
    result = np.select(
        [(tax >= GENEKI_III_TAXABLE_MIN).fillna(False).to_numpy(bool),
         (tax >= GENEKI_II_TAXABLE_MIN).fillna(False).to_numpy(bool),
         (tax >= GENEKI_TAXABLE_MIN).fillna(False).to_numpy(bool),
         (tax.notna() & (exempt == True)).fillna(False).to_numpy(bool),  # noqa: E712
         (tax.notna() & (exempt == False)).fillna(False).to_numpy(bool)],  # noqa: E712
        ["G3", "G2", "G1", "L2", "IP"], default="")
    return pd.Series(result, index=max_taxable.index, dtype="string").replace("", pd.NA)


def expected_under_70_category(kyu_sum: pd.Series, all_exempt: pd.Series) -> pd.Series:
    """Under-70 limit category from the household's 旧ただし書き所得 sum and exemption (NA = cannot tell)."""
    kyu = kyu_sum.astype("Float64")
    exempt = all_exempt.astype("boolean")
    result = np.select(
        [(exempt == True).fillna(False).to_numpy(bool),  # noqa: E712
         (kyu > UNDER_70_A_ABOVE).fillna(False).to_numpy(bool),
         (kyu > UNDER_70_I_ABOVE).fillna(False).to_numpy(bool),
         (kyu > UNDER_70_U_ABOVE).fillna(False).to_numpy(bool),
         (kyu.notna() & (exempt == False)).fillna(False).to_numpy(bool)],  # noqa: E712
        ["O", "A", "I", "U", "E"], default="")
    return pd.Series(result, index=kyu_sum.index, dtype="string").replace("", pd.NA)
