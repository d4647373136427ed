"""個人番号の紐付け / individual-number link rules: check digit, missing number, unknown number, shared number."""
from __future__ import annotations

import numpy as np
import pandas as pd

from detectors.registry import provider, rule
from detectors.schema import KEY, NUMBER_BAD_CHECK, NUMBER_MISSING
from matchers.comparisons import names_agree
from matchers.resolve import Resolution, pair_positions


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


SHARED_COLUMNS = ["member_pos", "number_hash", "number_last4", "resident_pos", "suggested_resident_pos",
                  "p_same_suggested", "compared", "score"]


@provider("shared_numbers")
def shared_numbers(members: pd.DataFrame, resolution: Resolution, settings: dict) -> pd.DataFrame:
    """共有された個人番号の誤った保有者 / the holders of a shared number who are not its resident.

    Members sharing one number are compared pairwise by the matcher's scorer on names, birth
    date and sex (same person below ``number_shared_same_threshold`` = different persons; one
    person insured twice is not a shared number). Of a number held by different persons, the
    holder who matches the number's resident on name, birth date and sex is its rightful holder
    and gets nothing (domain brief §2b); every other holder judged a different person from a
    rightful holder (or, when none is, from another holder) is returned — with the resident
    they most probably are. One row per such holder: ``member_pos``, ``number_hash``,
    ``number_last4``, ``resident_pos`` (the number's resident, −1 none), ``suggested_resident_pos``
    (−1 none), ``p_same_suggested``, ``compared`` (the pairwise judgements), ``score``.
    """
    from matchers.resolve import compare_members
    from matchers.settings import resolve_settings

    conf = resolve_settings(settings)
    # Numbers as integer codes (no Python string per member); values only for the shared ones.
    codes, _ = pd.factorize(members["number_hash"], use_na_sentinel=True)
    counts = np.bincount(codes[codes >= 0], minlength=int(codes.max(initial=-1)) + 1)
    dup_mask = (codes >= 0) & (counts[np.maximum(codes, 0)] >= 2 if len(counts) else False)
    if not dup_mask.any():
        return pd.DataFrame(columns=SHARED_COLUMNS)
    dup_pos = np.flatnonzero(dup_mask)
    hashes_all = np.full(len(members), None, dtype=object)
    hashes_all[dup_pos] = _values_at(members["number_hash"], dup_pos)
    groups = pd.DataFrame({"number_hash": hashes_all[dup_pos], "pos": dup_pos})
    pairs = groups.merge(groups, on="number_hash", suffixes=("_a", "_b"))
    pairs = pairs[pairs["pos_a"] < pairs["pos_b"]]
    # Only the holders are prepared (not the whole members frame); positions mapped back after.
    local = compare_members(members.iloc[dup_pos], np.searchsorted(dup_pos, pairs["pos_a"].to_numpy()),
                            np.searchsorted(dup_pos, pairs["pos_b"].to_numpy()), model=resolution.model)
    compared = local.assign(li=dup_pos[local["li"].to_numpy(np.int64)], ri=dup_pos[local["ri"].to_numpy(np.int64)])
    threshold = float(conf["number_shared_same_threshold"])
    different = compared["p_same"].to_numpy() < threshold

    # Each holder against the number's resident (the linked pair of the resolution): the
    # rightful holder matches the resident on name, birth date and sex and is not suspected of
    # being someone else (a namesake elsewhere matches on all three, but the household and
    # address say which of the two the number's resident is).
    v = resolution.verdicts
    linked_of = np.full(len(members), -1, dtype=np.int64)
    linked_of[v["member_pos"].to_numpy(np.int64)] = v["linked_pos"].to_numpy(np.int64)
    suspected = np.zeros(len(members), dtype=bool)
    suspected[v["member_pos"].to_numpy(np.int64)] = v["suspected"].to_numpy(dtype=bool)
    rightful = np.zeros(len(members), dtype=bool)
    with_link = dup_pos[linked_of[dup_pos] >= 0]
    if len(with_link):
        rows = pair_positions(resolution.pairs, len(resolution.residents), with_link, linked_of[with_link])
        linked_pairs = resolution.pairs.iloc[rows]
        matches = (names_agree(linked_pairs)
                   & (linked_pairs["level_birth_date"].to_numpy(dtype=object) == "exact")
                   & (linked_pairs["level_sex"].to_numpy(dtype=object) == "exact"))
        rightful[with_link[matches & ~suspected[with_link]]] = True
    group_has_rightful = pd.Series(rightful[dup_pos]).groupby(hashes_all[dup_pos]).any()
    anchored = np.zeros(len(members), dtype=bool)
    anchored[dup_pos] = group_has_rightful.reindex(hashes_all[dup_pos]).to_numpy(dtype=bool)

    a, b = compared["li"].to_numpy(np.int64), compared["ri"].to_numpy(np.int64)
    # A holder is wrong when it is not the rightful one and is a different person from it —
    # judged on the members' own items, or by the resolution placing it elsewhere; with no
    # rightful holder, when it is a different person from another holder.
    wrong = ~rightful & anchored & suspected
    for own, other in ((a, b), (b, a)):
        counts = different & ~rightful[own] & np.where(anchored[own], rightful[other], True)
        wrong[own[counts]] = True
    wrong_pos = np.flatnonzero(wrong)
    if len(wrong_pos) == 0:
        return pd.DataFrame(columns=SHARED_COLUMNS)
    refs = _refs(members, dup_pos)
    judged: dict[int, list[dict]] = {}
    for x, y, p, kanji, birth, sex in zip(a, b, compared["p_same"], compared["label_name_kanji"],
                                          compared["label_birth_date"], compared["label_sex"]):
        for own, other in ((x, y), (y, x)):
            if wrong[own]:
                judged.setdefault(int(own), []).append({
                    "member": refs[other], "p_same": round(float(p), 4), "different_person": bool(p < threshold),
                    "rightful_holder": bool(rightful[other]), "name_kanji": kanji, "birth_date": birth, "sex": sex})
    other_of = np.full(len(members), -1, dtype=np.int64)
    p_other = np.full(len(members), np.nan)
    other_of[v["member_pos"].to_numpy(np.int64)] = v["other_pos"].to_numpy(np.int64)
    p_other[v["member_pos"].to_numpy(np.int64)] = v["p_same_other"].to_numpy(dtype=float)
    suggest = (other_of[wrong_pos] >= 0) & (np.nan_to_num(p_other[wrong_pos]) >= float(conf["resolved_min_same_probability"]))
    return pd.DataFrame({
        "member_pos": wrong_pos,
        "number_hash": hashes_all[wrong_pos],
        "number_last4": _values_at(members["number_last4"], wrong_pos),
        "resident_pos": linked_of[wrong_pos],
        "suggested_resident_pos": np.where(suggest, other_of[wrong_pos], -1),
        "p_same_suggested": np.where(suggest, p_other[wrong_pos], np.nan),
        "compared": [judged.get(int(p), []) for p in wrong_pos],
        "score": [max((1 - c["p_same"] for c in judged.get(int(p), []) if c["different_person"]), default=1.0)
                  for p in wrong_pos],
    })[SHARED_COLUMNS]


def _values_at(column: pd.Series, positions: np.ndarray, size: int | None = None) -> np.ndarray:
    """``column.to_numpy(dtype=object, na_value=None)[positions]`` for a few positions, without
    converting the whole column; a negative position (none) gives None."""
    positions = np.asarray(positions, dtype=np.int64)
    out = np.full(len(positions), None, dtype=object)
    present = positions >= 0
    if present.any() and (size is None or size > 0):
        out[present] = column.take(positions[present]).to_numpy(dtype=object, na_value=None)
    return out


def _refs(members: pd.DataFrame, positions: np.ndarray) -> np.ndarray:
    """``insurer_number:member_id`` of the members at ``positions`` (None elsewhere), by position."""
    refs = np.full(len(members), None, dtype=object)
    positions = np.asarray(positions, dtype=np.int64)
    if len(positions):
        sub = members[["insurer_number", "member_id"]].take(positions)
        refs[positions] = (sub["insurer_number"].astype("string") + ":" + sub["member_id"].astype("string")).to_numpy(
            dtype=object)
    return refs


@rule("NUMBER_SHARED", category="mislink", severity="high", requires=("members", "residents"),
      summary_ja="同じ個人番号（下4桁 {number_last4}）が別人と思われる{member_count}件の被保険者に紐付いています（相手: {other_members}）。本人と思われる住民 {suggested_label_ja}",
      summary_en="One individual number (last four {number_last4}) is linked to {member_count} members who look like different persons (others: {other_members}); probably {suggested_label_en}")
def number_shared(members: pd.DataFrame, residents: pd.DataFrame, shared_numbers: pd.DataFrame) -> pd.DataFrame:
    """一つの個人番号が別人の複数の被保険者に紐付いている / One number linked to members who are different persons.

    Raised on the holder(s) who are not the number's resident (see the ``shared_numbers``
    provider); the rightful holder gets nothing, and the wrong holder no separate
    MISLINK_SUSPECTED: the finding suggests the resident they most probably are.
    """
    if shared_numbers.empty:
        return pd.DataFrame(columns=[*KEY, "number_last4"])
    import pyarrow as pa
    import pyarrow.compute as pc

    pos = shared_numbers["member_pos"].to_numpy(np.int64)
    # Every holder of the shared numbers, sorted once by (number, member): a per-group sort over
    # every number of the feed took seconds for the handful of numbers that are shared. Values
    # are taken for those holders only (no Python string per member of the feed).
    own_hashes = shared_numbers["number_hash"].to_numpy(dtype=object)
    held = pc.is_in(pa.array(members["number_hash"], from_pandas=True),
                    value_set=pa.array(pd.unique(own_hashes).tolist(), type=pa.string()))
    rows = np.flatnonzero(pc.fill_null(held, False).to_numpy(zero_copy_only=False))
    refs = _refs(members, np.union1d(rows, pos))
    hashes = np.full(len(members), None, dtype=object)
    hashes[rows] = _values_at(members["number_hash"], rows)
    table = pd.DataFrame({"number_hash": hashes[rows], "ref": refs[rows]}).sort_values(["number_hash", "ref"],
                                                                                        kind="stable")
    holders: dict[str, list[str]] = {}
    for number_hash, ref in zip(table["number_hash"].tolist(), table["ref"].tolist()):
        holders.setdefault(number_hash, []).append(ref)
    sug = shared_numbers["suggested_resident_pos"].to_numpy(np.int64)
    res = shared_numbers["resident_pos"].to_numpy(np.int64)
    own_hash = shared_numbers["number_hash"].to_numpy(dtype=object)
    n_res = len(residents)
    suggested_id = _values_at(residents["resident_id"], sug, n_res)
    suggested_last4 = _values_at(residents["number_last4"], sug, n_res)
    out = pd.DataFrame({
        "insurer_number": _values_at(members["insurer_number"], pos),
        "member_id": _values_at(members["member_id"], pos),
        "number_last4": shared_numbers["number_last4"].to_numpy(dtype=object),
        "birth_date": members["birth_date"].to_numpy()[pos],
        "sex": members["sex"].take(pos).to_numpy(dtype=object),
        "line": members["_line"].take(pos).to_numpy(dtype=object),
        "number_resident_id": _values_at(residents["resident_id"], res, n_res) if n_res else None,
    })
    out["member_count"] = [len(holders[h]) for h in own_hash]
    out["other_members"] = [", ".join(r for r in holders[h] if r != own) for h, own in zip(own_hash, refs[pos])]
    out["compared"] = shared_numbers["compared"].tolist()
    out["score"] = shared_numbers["score"].to_numpy(dtype=float)
    out["suggested_resident_id"] = suggested_id
    out["suggested_individual_number_last4"] = suggested_last4
    out["suggested_label_ja"] = [f"{i}（下4桁 {l}）" if i is not None else "不明" for i, l in zip(suggested_id, suggested_last4)]
    out["suggested_label_en"] = [f"{i} (last four {l})" if i is not None else "unknown" for i, l in zip(suggested_id, suggested_last4)]
    out["facts"] = [f"{h[:16]}|{o}" for h, o in zip(own_hash, out["other_members"])]
    return out
