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


def column_present(frame: pd.DataFrame, column: str) -> bool:
    """The feed delivered ``column`` (not entirely missing)."""
    return column in frame.columns and bool(frame[column].notna().any())


def household_codes(members: pd.DataFrame, rows: np.ndarray | None = None) -> np.ndarray:
    """Integer household code per member (0..K−1, in order of first appearance): insurer +
    世帯番号, a member without one alone. ``rows`` (a mask): the codes of those members only, as
    if the frame held only them."""
    insurer = pd.factorize(members["insurer_number"])[0].astype(np.int64)
    household = pd.factorize(members["household_id"])[0].astype(np.int64)
    if rows is not None:
        insurer, household = insurer[rows], household[rows]
    alone = household < 0
    household[alone] = household.max(initial=-1) + 1 + np.arange(int(alone.sum()))
    combined = insurer * (int(household.max(initial=0)) + 1) + household
    return pd.factorize(combined)[0].astype(np.int64)


def household_income(members: pd.DataFrame, as_of: pd.Timestamp) -> pd.DataFrame:
    """Per member (same index as ``members``, active ones only): the household figures the rules need.

    Columns: ``age_band``, ``household_code``, ``seventy_plus_members``, ``seventy_plus_max_taxable``
    (highest 課税所得 among the household's 70+ members, for the limit category),
    ``seventy_plus_taxable_complete``, ``elderly_max_taxable`` / ``elderly_taxable_complete``
    (the same over the 70–74 members only, for the 現役並み ratio test),
    ``household_kyu_sum`` (sum of 旧ただし書き所得), ``household_kyu_complete``,
    ``household_all_exempt`` (every member exempt from 住民税; NA when unknown),
    ``household_members``.
    """
    active = ages.active_on(members["acquisition_date"], members["loss_date"], as_of)
    mask = active.to_numpy(bool)
    # Only the columns read here are taken (not a copy of every member column); the two string
    # columns are factorised in place, not copied.
    frame = members.loc[mask, ["birth_date", "taxable_income", "kyu_tadashigaki_income", "resident_tax_exempt"]]
    band = ages.age_band(frame["birth_date"], as_of)
    code = household_codes(members, mask)
    seventy_plus = band.isin([ages.ELDERLY, ages.LATE_ELDERLY]).fillna(False).to_numpy(bool)
    elderly = (band == ages.ELDERLY).fillna(False).to_numpy(bool)
    taxable = frame["taxable_income"].astype("Float64").to_numpy(dtype=float, na_value=np.nan)
    kyu = frame["kyu_tadashigaki_income"].astype("Float64").to_numpy(dtype=float, na_value=np.nan)
    exempt = frame["resident_tax_exempt"].astype("boolean")
    parts = pd.DataFrame({
        "code": code,
        "one": 1,
        "seventy_plus": seventy_plus.astype(np.int64),
        "taxable_70": np.where(seventy_plus, taxable, np.nan),
        "taxable_70_missing": (seventy_plus & np.isnan(taxable)).astype(np.int64),
        "taxable_70_74": np.where(elderly, taxable, np.nan),
        "taxable_70_74_missing": (elderly & np.isnan(taxable)).astype(np.int64),
        "kyu": kyu,
        "kyu_missing": np.isnan(kyu).astype(np.int64),
        "exempt_missing": exempt.isna().to_numpy(bool).astype(np.int64),
        "not_exempt": (exempt == False).fillna(False).to_numpy(bool).astype(np.int64),  # noqa: E712
    })
    grouped = parts.groupby("code", sort=True)
    sums = grouped[["one", "seventy_plus", "taxable_70_missing", "taxable_70_74_missing", "kyu_missing",
                    "exempt_missing", "not_exempt"]].sum()
    maxima = grouped[["taxable_70", "taxable_70_74"]].max()
    kyu_sum = grouped["kyu"].sum(min_count=1)
    take = code  # groups are 0..K−1 in order, so a member's row in the summaries is its code
    all_exempt = np.where(sums["not_exempt"].to_numpy() > 0, False,
                          np.where(sums["exempt_missing"].to_numpy() == 0, True, None))
    out = pd.DataFrame({
        "age_band": band.to_numpy(),
        "household_code": code,
        "seventy_plus_members": sums["seventy_plus"].to_numpy()[take],
        "seventy_plus_max_taxable": maxima["taxable_70"].to_numpy()[take],
        "seventy_plus_taxable_complete": sums["taxable_70_missing"].to_numpy()[take] == 0,
        "elderly_max_taxable": maxima["taxable_70_74"].to_numpy()[take],
        "elderly_taxable_complete": sums["taxable_70_74_missing"].to_numpy()[take] == 0,
        "household_kyu_sum": kyu_sum.to_numpy()[take],
        "household_kyu_complete": sums["kyu_missing"].to_numpy()[take] == 0,
        "household_all_exempt": pd.array(all_exempt[take], dtype="boolean"),
        "household_members": sums["one"].to_numpy()[take],
    }, index=frame.index)
    out["age_band"] = out["age_band"].astype("string")
    return out


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


def geneki_verdict(frame: pd.DataFrame, household: pd.DataFrame, income_known: bool) -> pd.DataFrame:
    """Per member of ``frame``: does the household income say 現役並み (the 30% test)?

    国保 / 被用者保険 look at the household's 70–74 members, 後期 at its 75+ members (domain brief
    §4). Columns ``max_taxable``, ``complete`` (every such member's 課税所得 known), ``rich``
    (someone reaches 1.45M) and ``not_rich`` (income complete and nobody reaches it). One place
    for BURDEN_RATIO_RULE and LIMIT_CATEGORY_RULE, so a wrong ratio is one finding, not two.
    """
    kouki = (insurer_types(frame) == "kouki").astype(bool)
    max_tax = household["elderly_max_taxable"].where(~kouki, household["seventy_plus_max_taxable"])
    complete = household["elderly_taxable_complete"].where(~kouki, household["seventy_plus_taxable_complete"]).astype(bool)
    rich = (max_tax >= GENEKI_TAXABLE_MIN).fillna(False).astype(bool) & income_known
    not_rich = (complete & (max_tax < GENEKI_TAXABLE_MIN).fillna(False)).astype(bool) & income_known
    return pd.DataFrame({"max_taxable": max_tax, "complete": complete, "rich": rich, "not_rich": not_rich},
                        index=frame.index)
