"""一部負担割合 / burden-ratio rules: insurer vs online copy, and the ratio the law gives on ``as_of``.

Domain brief §4 (国保法42条). Ages and boundary dates come from :mod:`detectors.ages`,
household incomes from :mod:`detectors.households`.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from detectors import ages
from detectors.alignment import failing_rows, positions, rows_of
from detectors.households import (KOKUHO_TYPES, KOUKI_IPPAN_II_TAXABLE_MIN, column_present, geneki_verdict,
                                  insurer_types)
from detectors.households import household_income as compute_household_income
from detectors.registry import provider, rule
from detectors.schema import KEY


@provider("household_income")
def household_income_provider(members: pd.DataFrame, as_of: pd.Timestamp) -> pd.DataFrame:
    """Household figures of the members active on ``as_of`` (see :func:`detectors.households.household_income`), once per scan."""
    return compute_household_income(members, as_of)


@provider("oqs_position")
def oqs_position(members: pd.DataFrame, oqs: pd.DataFrame) -> np.ndarray:
    """Each member's row in the online copy (−1 when absent), shared by every insurer-vs-online rule."""
    return positions(members, oqs, KEY, keep="last")


def compare_with_oqs(members: pd.DataFrame, oqs: pd.DataFrame, oqs_position: np.ndarray, as_of: pd.Timestamp,
                     column: str) -> pd.DataFrame:
    """Members active on ``as_of`` whose ``column`` differs from the online copy's.

    A value missing on one side only counts as a difference; when the online copy carries the
    column for nobody (not delivered) nothing is compared. Columns: ``KEY``,
    ``{column}_insurer``, ``{column}_oqs``, ``line``, ``oqs_line``.
    """
    columns = [*KEY, f"{column}_insurer", f"{column}_oqs", "line", "oqs_line"]
    if not column_present(oqs, column):
        return pd.DataFrame(columns=columns)
    active = ages.active_on(members["acquisition_date"], members["loss_date"], as_of).to_numpy(bool)
    rows = np.flatnonzero(active & (oqs_position >= 0))
    ins = members[column].iloc[rows].reset_index(drop=True)
    onl = oqs[column].iloc[oqs_position[rows]].reset_index(drop=True)
    both_missing = ins.isna() & onl.isna()
    differs = ((ins != onl).fillna(True) & ~both_missing).to_numpy(bool)
    rows = rows[differs]
    out = members[[*KEY, "_line"]].iloc[rows].reset_index(drop=True).rename(columns={"_line": "line"})
    out[f"{column}_insurer"] = ins[differs].to_numpy()
    out[f"{column}_oqs"] = onl[differs].to_numpy()
    out["oqs_line"] = oqs["_line"].iloc[oqs_position[rows]].to_numpy()
    return out[columns]


@rule("BURDEN_RATIO_OQS_MISMATCH", category="burden_ratio", severity="high", requires=("members", "oqs"),
      summary_ja="一部負担割合が保険者 {burden_ratio_insurer}% と中間サーバー {burden_ratio_oqs}% で異なります（窓口では中間サーバーの値で請求されます）",
      summary_en="Burden ratio differs: insurer {burden_ratio_insurer}%, online copy {burden_ratio_oqs}% (clinics charge by the online copy)")
def burden_ratio_oqs_mismatch(members: pd.DataFrame, oqs: pd.DataFrame, oqs_position: np.ndarray,
                              as_of: pd.Timestamp) -> pd.DataFrame:
    """保険者と中間サーバーで基準日の一部負担割合が異なる / Burden ratio on as_of differs between insurer and online copy."""
    out = compare_with_oqs(members, oqs, oqs_position, as_of, "burden_ratio")
    out["as_of"] = as_of
    out["facts"] = out["burden_ratio_insurer"].astype("string").fillna("") + "|" + \
        out["burden_ratio_oqs"].astype("string").fillna("")
    return out


# Reason codes of BURDEN_RATIO_RULE: (Japanese, English, severity)
RATIO_REASONS = {
    "preschool_not_20": ("未就学児（6歳到達後最初の3月31日まで）は2割", "preschool children (until the first March 31 after reaching 6) pay 20%", "high"),
    "working_age_not_30": ("就学後〜70歳到達月は3割", "from school age through the month of reaching 70 the ratio is 30%", "high"),
    "elderly_not_20_30": ("70〜74歳は2割または3割", "members aged 70-74 pay 20% or 30%", "high"),
    "elderly_30_without_income": (
        "70〜74歳の世帯員に課税所得145万円以上の者がいないのに3割",
        "30% although no 70-74 member of the household has taxable income of 1.45M yen or more", "high"),
    "elderly_20_with_income": (
        "世帯の70〜74歳に課税所得145万円以上の者がいるのに2割（基準収入額適用の申請を確認してください）",
        "20% although a 70-74 member of the household has taxable income of 1.45M yen or more (check the 基準収入額適用 application)",
        "low"),
    "kouki_invalid": ("後期高齢者医療は1割・2割・3割", "late-elderly insurance ratios are 10%, 20% or 30%", "high"),
    "kouki_30_without_income": (
        "世帯の被保険者に課税所得145万円以上の者がいないのに3割",
        "30% although no member of the household has taxable income of 1.45M yen or more", "high"),
    "kouki_20_below_ippan_ii": (
        "世帯の課税所得が28万円未満なのに2割（一般Ⅱの要件を確認してください）",
        "20% although the household's highest taxable income is under 280k yen (check the 一般Ⅱ conditions)", "medium"),
    "kouki_below_30_with_income": (
        "世帯に課税所得145万円以上の者がいるのに3割でない（基準収入額適用の申請を確認してください）",
        "below 30% although a household member has taxable income of 1.45M yen or more (check the 基準収入額適用 application)",
        "low"),
}


def _yen(values: pd.Series) -> pd.Series:
    return values.astype("Float64").round().astype("Int64")


@rule("BURDEN_RATIO_RULE", category="burden_ratio", severity="high", requires=("members",),
      summary_ja="一部負担割合 {burden_ratio}% が基準日 {as_of} の規定と合いません: {reason_ja}（年齢 {age}歳）",
      summary_en="Burden ratio {burden_ratio}% contradicts the rules on {as_of}: {reason_en} (age {age})")
def burden_ratio_rule(members: pd.DataFrame, as_of: pd.Timestamp, household_income: pd.DataFrame,
                      judgeable: np.ndarray) -> pd.DataFrame:
    """一部負担割合が年齢・所得の規定と合わない / Burden ratio contradicts the age and income rules on as_of.

    国保 (市町村・組合) and 被用者保険: 20% through the first March 31 after reaching 6, 30% up to
    the month of reaching 70, then 20% — 30% for a 現役並み household (any 70–74 member with
    課税所得 ≥ 1.45M; "30% without it" is hard, "20% with it" is soft because the 基準収入額適用
    application brings it back to 20%). 被用者保険 judges 現役並み on 標準報酬月額, which the feed
    does not carry, so only the age part is checked there. 75+ members of 国保 are a
    qualification problem (QUAL_ACTIVE_PAST_AGE_LIMIT), not a ratio one. 後期: 10/20/30 with the
    household income tests the feed allows. Only members active on ``as_of`` whose own dates
    are possible (see QUAL_DATE_INVALID) are judged.
    """
    active = ages.active_on(members["acquisition_date"], members["loss_date"], as_of)
    judged = (active & members["burden_ratio"].notna() & members["birth_date"].notna()).to_numpy(bool) & judgeable
    frame = rows_of(members, judged, ["insurer_type", "burden_ratio"])
    if frame.empty:
        return frame.iloc[0:0]
    household = household_income.loc[frame.index]
    band = household["age_band"]
    kind = insurer_types(frame)
    ratio = frame["burden_ratio"].astype("Int64")
    income_known = column_present(members, "taxable_income")
    # 国保 70–74: the 現役並み test looks at the household's 70–74 members; 後期: at its 75+ members.
    verdict = geneki_verdict(frame, household, income_known)
    max_tax, complete, rich, not_rich = (verdict[c] for c in ("max_taxable", "complete", "rich", "not_rich"))

    age_rules = kind.isin([*KOKUHO_TYPES, "employee"]).astype(bool)
    kokuho = kind.isin(KOKUHO_TYPES).astype(bool)
    kouki = (kind == "kouki").astype(bool)
    is_band = {b: (band == b).fillna(False).astype(bool) for b in (ages.PRESCHOOL, ages.WORKING_AGE, ages.ELDERLY)}
    r = {v: (ratio == v).fillna(False).astype(bool) for v in (10, 20, 30)}
    conditions = [
        (age_rules & is_band[ages.PRESCHOOL] & ~r[20], "preschool_not_20", "20"),
        (age_rules & is_band[ages.WORKING_AGE] & ~r[30], "working_age_not_30", "30"),
        (age_rules & is_band[ages.ELDERLY] & ~(r[20] | r[30]), "elderly_not_20_30", "20/30"),
        (kokuho & is_band[ages.ELDERLY] & r[30] & not_rich, "elderly_30_without_income", "20"),
        (kokuho & is_band[ages.ELDERLY] & r[20] & rich, "elderly_20_with_income", "30"),
        (kouki & ~(r[10] | r[20] | r[30]), "kouki_invalid", "10/20/30"),
        (kouki & r[30] & not_rich, "kouki_30_without_income", "10/20"),
        (kouki & r[20] & (complete & (max_tax < KOUKI_IPPAN_II_TAXABLE_MIN).fillna(False)).astype(bool)
         & income_known, "kouki_20_below_ippan_ii", "10"),
        (kouki & ~r[30] & rich, "kouki_below_30_with_income", "30"),
    ]
    masks = np.column_stack([c.to_numpy(bool) for c, _, _ in conditions])
    failing = masks.any(axis=1)
    if not failing.any():
        return frame.iloc[0:0]
    first = masks.argmax(axis=1)[failing]
    codes = np.array([code for _, code, _ in conditions])[first]
    expected = np.array([e for _, _, e in conditions])[first]
    rows = failing_rows(members, judged, failing, [*KEY, "insurer_type", "household_id", "birth_date", "burden_ratio",
                                                   "limit_category", "_line"])
    hh = household.loc[failing]
    # The category is evidence here: a category that only follows the wrong ratio is not a second finding.
    out = rows.copy()
    out["insurer_type"] = kind.loc[failing]
    out["reason_code"] = codes
    out["reason_ja"] = [RATIO_REASONS[c][0] for c in codes]
    out["reason_en"] = [RATIO_REASONS[c][1] for c in codes]
    out["severity"] = [RATIO_REASONS[c][2] for c in codes]
    out["expected_ratio"] = expected
    out["age"] = ages.age_on(rows["birth_date"], as_of)
    out["age_band"] = hh["age_band"].map(ages.AGE_BAND_LABELS)
    out["preschool_end"] = ages.preschool_end(rows["birth_date"])
    out["elderly_start"] = ages.elderly_start(rows["birth_date"])
    out["household_70_plus_members"] = hh["seventy_plus_members"].astype("Int64")
    out["household_max_taxable_income"] = _yen(max_tax.loc[failing])
    out["household_taxable_income_complete"] = complete.loc[failing]
    # The ratio in force was (re)determined on August 1 from the previous year's income.
    redetermined = ages.redetermination_start(as_of)
    out["redetermined_on"] = redetermined
    out["income_year"] = redetermined.year - 1
    out["next_redetermination"] = redetermined + pd.DateOffset(years=1)
    out["as_of"] = as_of
    out["facts"] = out["reason_code"] + "|" + out["burden_ratio"].astype("string")
    return out.rename(columns={"_line": "line"})
