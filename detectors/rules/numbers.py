"""個人番号の紐付け / individual-number link rules: check digit, missing number, unknown number, shared number."""
from __future__ import annotations

import pandas as pd

from detectors.registry import provider, rule
from detectors.schema import KEY, NUMBER_BAD_CHECK, NUMBER_MISSING


@provider("linked")
def linked(members: pd.DataFrame, residents: pd.DataFrame) -> pd.DataFrame:
    """The resident each member's linked individual number points to (by keyed hash).

    One row per member that has a full number (``number_hash``): ``KEY``,
    ``linked_resident_id`` (NA when the number has no resident in the extract).
    """
    with_number = members.loc[members["number_hash"].notna(), [*KEY, "number_hash"]]
    by_hash = residents.loc[residents["number_hash"].notna(), ["number_hash", "resident_id"]]
    by_hash = by_hash.drop_duplicates("number_hash")
    out = with_number.merge(by_hash, on="number_hash", how="left")
    return out.rename(columns={"resident_id": "linked_resident_id"})


@rule("NUMBER_INVALID", category="mislink", severity="high", requires=("members",),
      summary_ja="個人番号{problem_ja}（下4桁 {number_last4}）。番号の確認が必要です",
      summary_en="Individual number {problem_en} (last four {number_last4}); check the number")
def number_invalid(members: pd.DataFrame) -> pd.DataFrame:
    """個人番号の検査用数字が合わない、または番号が未登録 / Number fails the check digit or is missing."""
    bad = members["number_status"].isin([NUMBER_BAD_CHECK, NUMBER_MISSING])
    out = members.loc[bad, [*KEY, "number_status", "number_last4", "_line"]].copy()
    is_check = out["number_status"] == NUMBER_BAD_CHECK
    out["problem_ja"] = is_check.map({True: "の検査用数字（12桁目）が一致しません", False: "が登録されていません"})
    out["problem_en"] = is_check.map({True: "fails the check digit", False: "is missing"})
    out["severity"] = is_check.map({True: "high", False: "medium"})
    out["facts"] = out["number_status"] + "|" + out["number_last4"].fillna("")
    out["number_last4"] = out["number_last4"].fillna("----")
    return out.rename(columns={"_line": "line"})


@rule("RESIDENT_NOT_FOUND", category="mislink", severity="high", requires=("members", "residents"),
      summary_ja="紐付けられた個人番号（下4桁 {number_last4}）に該当する住民が住基抽出にありません",
      summary_en="No resident in the registry extract holds the linked number (last four {number_last4})")
def resident_not_found(members: pd.DataFrame, linked: pd.DataFrame) -> pd.DataFrame:
    """紐付けた個人番号の住民が住基にいない / The linked number has no resident in the extract."""
    missing = linked.loc[linked["linked_resident_id"].isna(), KEY]
    out = members.merge(missing, on=KEY)[[*KEY, "number_last4", "loss_date", "_line"]]
    # A lost qualification carrying an unknown number matters less than an active one.
    out["severity"] = out["loss_date"].isna().map({True: "high", False: "low"})
    out["facts"] = out["number_last4"].fillna("")
    return out.rename(columns={"_line": "line"})


@rule("NUMBER_SHARED", category="mislink", severity="high", requires=("members",),
      summary_ja="同じ個人番号（下4桁 {number_last4}）が別人と思われる{member_count}件の被保険者に紐付いています（相手: {other_members}）",
      summary_en="One individual number (last four {number_last4}) is linked to {member_count} members who look like different persons (others: {other_members})")
def number_shared(members: pd.DataFrame) -> pd.DataFrame:
    """一つの個人番号が別人の複数の被保険者に紐付いている / One number linked to members who are different persons."""
    with_number = members.loc[members["number_hash"].notna()]
    dup = with_number[with_number.duplicated("number_hash", keep=False)]
    if dup.empty:
        return dup.iloc[0:0]
    # Different persons: birth date or sex differ within the group (the matcher refines names).
    persons = dup.groupby("number_hash").agg(
        birth_dates=("birth_date", "nunique"), sexes=("sex", "nunique"), member_count=("member_id", "size"))
    shared = persons[(persons["birth_dates"] > 1) | (persons["sexes"] > 1)]
    rows = dup[dup["number_hash"].isin(shared.index)].copy()
    rows["member_ref"] = rows["insurer_number"] + ":" + rows["member_id"]
    group_refs = rows.groupby("number_hash")["member_ref"].agg(lambda s: sorted(s))
    rows["member_count"] = rows["number_hash"].map(shared["member_count"])
    rows["other_members"] = [
        ", ".join(r for r in group_refs[h] if r != own) for h, own in zip(rows["number_hash"], rows["member_ref"])]
    rows["facts"] = rows["number_hash"].str[:16] + "|" + rows["other_members"]
    return rows[[*KEY, "number_last4", "birth_date", "sex", "member_count", "other_members", "facts", "_line"]] \
        .rename(columns={"_line": "line"})
