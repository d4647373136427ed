"""限度額適用区分 / limit-category rules: insurer vs online copy, and the category the law gives.

Domain brief §5. Category codes and their age band come from :mod:`detectors.codes`.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from detectors import ages
from detectors.alignment import failing_rows, rows_of
from detectors.codes import GENEKI_NAMI, LIMIT_CATEGORIES, SEVENTY_PLUS, UNDER_70
from detectors.households import (KOKUHO_TYPES, column_present, expected_seventy_plus_category,
                                  expected_under_70_category, geneki_verdict, insurer_types)
from detectors.registry import rule
from detectors.rules.burden import compare_with_oqs
from detectors.schema import KEY


def _label(code: pd.Series) -> pd.Series:
    labels = {code: label for code, (label, _) in LIMIT_CATEGORIES.items()}
    return code.map(labels).astype("string")


@rule("LIMIT_CATEGORY_OQS_MISMATCH", category="limit_category", severity="high", requires=("members", "oqs"),
      summary_ja="限度額適用区分が保険者「{label_insurer}」と中間サーバー「{label_oqs}」で異なります",
      summary_en="Limit category differs: insurer {limit_category_insurer}, online copy {limit_category_oqs}")
def limit_category_oqs_mismatch(members: pd.DataFrame, oqs: pd.DataFrame, oqs_position: np.ndarray,
                                as_of: pd.Timestamp) -> pd.DataFrame:
    """保険者と中間サーバーで基準日の限度額適用区分が異なる / Limit category on as_of differs between insurer and online copy."""
    out = compare_with_oqs(members, oqs, oqs_position, as_of, "limit_category")
    out["label_insurer"] = _label(out["limit_category_insurer"]).fillna("なし")
    out["label_oqs"] = _label(out["limit_category_oqs"]).fillna("なし")
    # One side empty is less certain than two different codes.
    one_missing = out["limit_category_insurer"].isna() | out["limit_category_oqs"].isna()
    out["severity"] = np.where(one_missing.to_numpy(bool), "medium", "high")
    out["as_of"] = as_of
    out["facts"] = out["limit_category_insurer"].fillna("") + "|" + out["limit_category_oqs"].fillna("")
    return out


# Reason codes of LIMIT_CATEGORY_RULE: (Japanese, English, severity)
LIMIT_REASONS = {
    "under_70_code_on_70_plus": ("70歳以上に70歳未満の区分", "an under-70 category on a member aged 70 or over", "high"),
    "70_plus_code_on_under_70": ("70歳未満に70歳以上の区分", "a 70-and-over category on a member under 70", "high"),
    "income_band": ("世帯の所得・住民税課税状況から見た区分と異なる",
                    "differs from the category given by household income and resident-tax status", "medium"),
    "ratio_30_not_geneki": ("70〜74歳で3割なのに現役並み区分でない", "70-74 at 30% but not a 現役並み category", "medium"),
    "ratio_20_geneki": ("70〜74歳で2割なのに現役並み区分", "70-74 at 20% but a 現役並み category", "medium"),
}


@rule("LIMIT_CATEGORY_RULE", category="limit_category", severity="high", requires=("members",),
      summary_ja="限度額適用区分「{label}」が規定と合いません: {reason_ja}（期待: {expected_label}）",
      summary_en="Limit category {limit_category} contradicts the rules: {reason_en} (expected {expected_category})")
def limit_category_rule(members: pd.DataFrame, as_of: pd.Timestamp, household_income: pd.DataFrame,
                        judgeable: np.ndarray) -> pd.DataFrame:
    """限度額適用区分が年齢区分・所得・課税状況・負担割合と合わない / Limit category contradicts age band, income, tax status or ratio.

    Checks, first failing reason reported:
    1. family vs age band on ``as_of`` (70+ from the month after reaching 70, as the ratio);
    2. vs household income where the feed carries it: under 70 the household's 旧ただし書き所得
       sum (ア > 9.01M, イ > 6.0M, ウ > 2.1M, エ otherwise, オ when every member is exempt);
       70+ the highest 課税所得 among the household's 70+ members (現役並みⅢ ≥ 6.9M, Ⅱ ≥ 3.8M,
       Ⅰ ≥ 1.45M, 低所得 when exempt, else 一般). A 一般 category at 20% where income says
       現役並み is the 基準収入額適用 case and is left to BURDEN_RATIO_RULE's soft finding;
       低所得Ⅰ and Ⅱ are not told apart (pension figures are not in the feed);
    3. consistency with the ratio for 国保 70–74 (30% ⇔ 現役並み) when the household's income is
       not fully known — when it is, check 2 and BURDEN_RATIO_RULE say which side is wrong.
    Under 70 the ratio does not depend on the category. Members without a category are not judged.
    """
    active = ages.active_on(members["acquisition_date"], members["loss_date"], as_of)
    judged = (active & members["limit_category"].notna() & members["birth_date"].notna()).to_numpy(bool) & judgeable
    frame = rows_of(members, judged, ["limit_category", "insurer_type", "burden_ratio"])
    if frame.empty:
        return frame.iloc[0:0]
    household = household_income.loc[frame.index]
    band = household["age_band"]
    category = frame["limit_category"].astype("string")
    family = category.map({code: fam for code, (_, fam) in LIMIT_CATEGORIES.items()})
    seventy_plus = band.isin([ages.ELDERLY, ages.LATE_ELDERLY]).fillna(False).astype(bool)
    under_70 = band.isin([ages.PRESCHOOL, ages.WORKING_AGE]).fillna(False).astype(bool)
    kokuho = insurer_types(frame).isin(KOKUHO_TYPES).astype(bool)
    ratio = frame["burden_ratio"].astype("Int64")
    geneki = category.isin(list(GENEKI_NAMI)).astype(bool)

    income_70 = column_present(members, "taxable_income") and column_present(members, "resident_tax_exempt")
    income_u70 = column_present(members, "kyu_tadashigaki_income") and column_present(members, "resident_tax_exempt")
    expected_70 = expected_seventy_plus_category(household["seventy_plus_max_taxable"], household["household_all_exempt"])
    expected_70 = expected_70.where(household["seventy_plus_taxable_complete"].astype(bool))
    expected_u70 = expected_under_70_category(household["household_kyu_sum"], household["household_all_exempt"])
    # オ only needs the exemption; the income bands need every member's 旧ただし書き所得.
    expected_u70 = expected_u70.where(household["household_kyu_complete"].astype(bool) | (expected_u70 == "O"))
    if not income_70:
        expected_70[:] = pd.NA
    if not income_u70:
        expected_u70[:] = pd.NA
    expected = expected_70.where(seventy_plus, expected_u70)
    low_income_ok = expected.isin(["L2", "L1"]).astype(bool) & category.isin(["L2", "L1"]).astype(bool)
    application_case = (expected.isin(list(GENEKI_NAMI)).astype(bool) & (category == "IP").fillna(False).astype(bool)
                        & (ratio == 20).fillna(False).astype(bool))
    income_mismatch = ((category != expected).fillna(False).astype(bool) & expected.notna().astype(bool)
                       & ~low_income_ok & ~application_case)
    elderly_kokuho = kokuho & (band == ages.ELDERLY).fillna(False).astype(bool)
    unknown_income = expected.isna().astype(bool)
    # When the household income already says the ratio is wrong, BURDEN_RATIO_RULE reports it;
    # the category that agrees with the income is not a second finding (domain brief §2b).
    verdict = geneki_verdict(frame, household, column_present(members, "taxable_income"))
    # 75+ still in 国保 is a qualification problem (QUAL_ACTIVE_PAST_AGE_LIMIT), not a category one.
    late_kokuho = kokuho & (band == ages.LATE_ELDERLY).fillna(False).astype(bool)
    conditions = [
        ((family == UNDER_70).fillna(False).astype(bool) & seventy_plus & ~late_kokuho, "under_70_code_on_70_plus"),
        ((family == SEVENTY_PLUS).fillna(False).astype(bool) & under_70, "70_plus_code_on_under_70"),
        # 現役並み category at 30% without the income: the ratio finding explains both values.
        (income_mismatch & ~late_kokuho & ~(elderly_kokuho & (ratio == 30).fillna(False).astype(bool) & geneki
                                            & verdict["not_rich"]), "income_band"),
        (elderly_kokuho & unknown_income & (ratio == 30).fillna(False).astype(bool) & ~geneki & ~verdict["not_rich"],
         "ratio_30_not_geneki"),
        (elderly_kokuho & unknown_income & (ratio == 20).fillna(False).astype(bool) & geneki & ~verdict["rich"],
         "ratio_20_geneki"),
    ]
    masks = np.column_stack([c.to_numpy(bool) for c, _ in conditions])
    failing = masks.any(axis=1)
    if not failing.any():
        return frame.iloc[0:0]
    codes = np.array([code for _, code in conditions])[masks.argmax(axis=1)[failing]]
    rows = failing_rows(members, judged, failing, [*KEY, "household_id", "birth_date", "limit_category", "burden_ratio",
                                                   "_line"])
    hh = household.loc[failing]
    out = rows.copy()
    out["label"] = _label(out["limit_category"])
    out["reason_code"] = codes
    out["reason_ja"] = [LIMIT_REASONS[c][0] for c in codes]
    out["reason_en"] = [LIMIT_REASONS[c][1] for c in codes]
    out["severity"] = [LIMIT_REASONS[c][2] for c in codes]
    fallback = np.where(seventy_plus.loc[failing].to_numpy(bool), "70歳以上の区分", "70歳未満の区分")
    exp = expected.loc[failing]
    out["expected_category"] = exp
    out["expected_label"] = _label(exp).fillna(pd.Series(fallback, index=exp.index, dtype="string"))
    out["age"] = ages.age_on(rows["birth_date"], as_of)
    out["age_band"] = hh["age_band"].map(ages.AGE_BAND_LABELS)
    out["household_kyu_tadashigaki_income_sum"] = hh["household_kyu_sum"].astype("Float64").round().astype("Int64")
    out["household_70_plus_max_taxable_income"] = hh["seventy_plus_max_taxable"].astype("Float64").round().astype("Int64")
    out["household_all_tax_exempt"] = hh["household_all_exempt"]
    out["as_of"] = as_of
    out["facts"] = out["reason_code"] + "|" + out["limit_category"] + "|" + exp.fillna("")
    return out.rename(columns={"_line": "line"})
