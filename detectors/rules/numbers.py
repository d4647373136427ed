"""個人番号の紐付け / individual-number link rules: check digit, missing number, unknown number, shared number."""
from __future__ import annotations

import numpy as np
import pandas as pd

from detectors.registry import rule
from detectors.schema import KEY, NUMBER_BAD_CHECK, NUMBER_MISSING


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
def resident_not_found(members: pd.DataFrame, member_resident: pd.DataFrame) -> pd.DataFrame:
    """紐付けた個人番号の住民が住基にいない / The linked number has no resident in the extract.

    Read from the ``member_resident`` provider: a valid full number no resident holds, or a
    last-four-only member whom no resident matches at all. A number failing the check digit is
    NUMBER_INVALID only (domain brief §2b).
    """
    rows = np.flatnonzero(member_resident["not_found"].to_numpy(dtype=bool))
    out = members[[*KEY, "number_last4", "number_status", "loss_date", "_line"]].iloc[rows].reset_index(drop=True)
    # A lost qualification carrying an unknown number matters less than an active one.
    out["severity"] = out["loss_date"].isna().map({True: "high", False: "low"})
    out["facts"] = out["number_last4"].fillna("")
    return out.rename(columns={"_line": "line"})


@rule("NUMBER_SHARED", category="mislink", severity="high", requires=("members",),
      summary_ja="同じ個人番号（下4桁 {number_last4}）が別人と思われる{member_count}件の被保険者に紐付いています（相手: {other_members}）",
      summary_en="One individual number (last four {number_last4}) is linked to {member_count} members who look like different persons (others: {other_members})")
def number_shared(members: pd.DataFrame, settings: dict) -> pd.DataFrame:
    """一つの個人番号が別人の複数の被保険者に紐付いている / One number linked to members who are different persons.

    Members sharing a number are compared pairwise by the matcher's scorer on names, birth
    date and sex (with Japanese notation folding); a group is reported when at least two of
    its members are different persons (same-person probability below
    ``number_shared_same_threshold``). One person insured twice (an old qualification left
    valid) is not a shared number.
    """
    from matchers.resolve import compare_members
    from matchers.scorer import load_model
    from matchers.settings import resolve_settings

    conf = resolve_settings(settings)
    with_number = members.loc[members["number_hash"].notna()].reset_index(drop=True)
    dup = with_number[with_number.duplicated("number_hash", keep=False)].reset_index(drop=True)
    if dup.empty:
        return pd.DataFrame(columns=[*KEY, "number_last4"])
    positions = pd.DataFrame({"number_hash": dup["number_hash"].to_numpy(dtype=object), "pos": range(len(dup))})
    pairs = positions.merge(positions, on="number_hash", suffixes=("_a", "_b"))
    pairs = pairs[pairs["pos_a"] < pairs["pos_b"]]
    compared = compare_members(dup, pairs["pos_a"].to_numpy(), pairs["pos_b"].to_numpy(),
                               model=load_model(conf.get("mislink_model_path")))
    threshold = float(conf["number_shared_same_threshold"])
    different = compared[compared["p_same"] < threshold]
    if different.empty:
        return pd.DataFrame(columns=[*KEY, "number_last4"])
    refs = (dup["insurer_number"] + ":" + dup["member_id"]).to_numpy(dtype=object)
    hashes = dup["number_hash"].to_numpy(dtype=object)
    flagged_hashes = set(hashes[different["li"].to_numpy()])
    rows = dup[dup["number_hash"].isin(flagged_hashes)].copy()
    rows["pos"] = rows.index.to_numpy()
    group_refs = pd.Series(refs[rows["pos"].to_numpy()], index=rows["pos"]).groupby(
        hashes[rows["pos"].to_numpy()]).agg(lambda s: sorted(s))
    # Per member: the others it is judged different from, with the same-person probability.
    judged: dict[int, list[dict]] = {}
    for a, b, p, kanji, birth, sex in zip(compared["li"], compared["ri"], compared["p_same"],
                                          compared["label_name_kanji"], compared["label_birth_date"],
                                          compared["label_sex"]):
        if hashes[a] not in flagged_hashes:
            continue
        for own, other in ((a, b), (b, a)):
            judged.setdefault(int(own), []).append({
                "member": refs[other], "p_same": round(float(p), 4), "different_person": bool(p < threshold),
                "name_kanji": kanji, "birth_date": birth, "sex": sex})
    out = pd.DataFrame({
        "insurer_number": rows["insurer_number"].to_numpy(dtype=object),
        "member_id": rows["member_id"].to_numpy(dtype=object),
        "number_last4": rows["number_last4"].to_numpy(dtype=object),
        "birth_date": rows["birth_date"].to_numpy(),
        "sex": rows["sex"].to_numpy(dtype=object),
        "line": rows["_line"].to_numpy(dtype=object),
    })
    own_refs = refs[rows["pos"].to_numpy()]
    own_hash = hashes[rows["pos"].to_numpy()]
    out["member_count"] = [len(group_refs[h]) for h in own_hash]
    out["other_members"] = [", ".join(r for r in group_refs[h] if r != own) for h, own in zip(own_hash, own_refs)]
    out["compared"] = [judged.get(int(p), []) for p in rows["pos"]]
    out["score"] = [max((1 - c["p_same"] for c in judged.get(int(p), [])), default=1.0) for p in rows["pos"]]
    out["facts"] = [f"{h[:16]}|{o}" for h, o in zip(own_hash, out["other_members"])]
    return out
