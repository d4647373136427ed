"""紐付け誤り・氏名表記ゆれ / mis-link and notation rules on the matcher's resolution.

Provider ``resolution``: :func:`matchers.resolve.resolve` run once per scan — each member's
linked resident (by number), the best other candidate by the four items (氏名・生年月日・性別 +
household, address, municipality) and the probability that the link is wrong.

- ``MISLINK_SUSPECTED`` — the linked resident is probably someone else; the finding names the
  probable right person and says which pattern it looks like (twin, family member, same name
  and birth date stranger, number typo, household swap).
- ``NOTATION_DIFFERENCE`` — the same person, the name differs only in notation; the evidence
  lists the normalisations that explained it (reason codes) so the data team can fix in bulk.

Thresholds come from ``settings`` (defaults: :data:`matchers.settings.DEFAULTS`).
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from detectors.registry import provider, rule
from matchers.comparisons import COMPARISONS, NAME_ALPHA, NAME_COMPARISONS, NAME_KANA, NAME_KANJI, wildcard_equal
from matchers.normalise import (ALPHA_CASE, ALPHA_MIDDLE_NAME, ALPHA_ORDER, KANA_STEPS, KANJI_STEPS,
                                KATAKANA_ALPHABET, REASONS, alpha_tokens, explain, explain_many, variants_equal)
from detectors.schema import NUMBER_VALID
from matchers.resolve import (LINKED_BY_LAST4, LINKED_BY_NUMBER, Resolution, field_evidence,
                             last4_only_members, member_households, pair_positions, resolve)

REASON_LABELS_JA = {
    "VARIATION_SELECTOR": "異体字セレクタ", "WIDTH": "全角半角", "SPACING": "空白・区切り",
    "VARIANT_KANJI": "異体字・旧字体", "GAIJI": "外字", "KANA_HALFWIDTH": "半角カナ",
    "KANA_HIRAGANA": "ひらがな", "KANA_VU": "ヴ・ブ", "KANA_SMALL": "拗音・促音の大書き",
    "KANA_LONG_VOWEL": "長音", "ALPHA_CASE": "英字の大小・記号", "ALPHA_ORDER": "英字氏名の順序",
    "ALPHA_MIDDLE_NAME": "ミドルネーム等の省略", "KATAKANA_ALPHABET": "カナと英字",
    "ALIAS": "通称", "FORMER_SURNAME": "旧氏", "HOUSEHOLD_SURNAME": "氏の変更（同一世帯）",
    "KANA_READING": "振り仮名の変更", "KANA_IN_KANJI_FIELD": "漢字欄のカナ表記",
    "KANA_TRANSLITERATION": "外国人氏名のカナ表記",
}

PATTERNS = {
    "household_swap": ("同一世帯の2人の個人番号が入れ替わっています", "two members of one household hold each other's numbers"),
    "family_member": ("家族（同一世帯）の個人番号が紐付いています", "a family member's number is linked"),
    "twin": ("双子の兄弟姉妹の個人番号が紐付いています", "the twin's number is linked"),
    "same_name_birth_date": ("同姓同名・同一生年月日の別人の個人番号が紐付いています", "the number of another person with the same name and birth date is linked"),
    "number_typo": ("個人番号の入力誤りで別人に紐付いています", "a typing error in the number points to another person"),
    "last4_mismatch": ("下4桁が本人と思われる住民の個人番号と一致しません", "the last four digits are not those of the resident the member appears to be"),
    "different_person": ("紐付け先の住民は別人と思われます", "the linked resident looks like a different person"),
}


@provider("resolution")
def resolution(members: pd.DataFrame, residents: pd.DataFrame, settings: dict) -> Resolution:
    """名寄せ結果 / every member resolved on the linked and the resolved path (see :mod:`matchers.resolve`)."""
    return resolve(members, residents, settings)


MEMBER_RESIDENT_COLUMNS = [
    "insurer_number", "member_id", "resident_pos", "resident_id", "linked_by", "birth_sex_agree",
    "mislink_suspected", "suggested_resident_pos", "suggested_resident_id", "not_found",
]


@provider("member_resident")
def member_resident(members: pd.DataFrame, resolution: Resolution) -> pd.DataFrame:
    """本人の住民 / "the member's resident" — the one answer every rule needing it reads.

    One row per member, in the members frame's row order (row i = ``members.iloc[i]``):

    - ``resident_pos`` (int64, row in ``residents``, −1 none) and ``resident_id``: for a member
      with a full number, the resident that number points to (keyed hash); for a last-four-only
      member (domain brief §2a), the resolved resident whose last four digits agree — none when
      the best match holds other digits (then ``mislink_suspected``, suggesting that resident);
    - ``linked_by``: ``"number_hash"``, ``"last4"`` or NA;
    - ``birth_sex_agree``: that resident has the member's birth date and sex (rules on move-in,
      exit and age trust the resident only then);
    - ``mislink_suspected``: MISLINK_SUSPECTED's own test (P(link wrong) ≥ the queue threshold);
    - ``suggested_resident_pos`` / ``suggested_resident_id``: the resident the member most
      probably is when the link is suspected (−1 / NA otherwise or when nobody matches);
    - ``not_found``: RESIDENT_NOT_FOUND's test — a valid full number no resident holds, or a
      last-four-only member no resident matches at all.
    """
    n = len(members)
    conf = resolution.settings
    v = resolution.verdicts
    pos = v["member_pos"].to_numpy(np.int64)
    resident_pos = np.full(n, -1, dtype=np.int64)
    linked_by = np.full(n, None, dtype=object)
    suspected = np.zeros(n, dtype=bool)
    suggested = np.full(n, -1, dtype=np.int64)
    linked_pos = v["linked_pos"].to_numpy(np.int64)
    by = v["linked_by"].to_numpy(dtype=object)
    is_suspected = v["suspected"].to_numpy(dtype=bool)
    by_number = (linked_pos >= 0) & (by == LINKED_BY_NUMBER)
    by_last4 = (linked_pos >= 0) & (by == LINKED_BY_LAST4) & ~is_suspected
    keep = by_number | by_last4
    resident_pos[pos[keep]] = linked_pos[keep]
    linked_by[pos[keep]] = by[keep]
    suspected[pos] = is_suspected
    other_pos = v["other_pos"].to_numpy(np.int64)
    p_other = np.nan_to_num(v["p_same_other"].to_numpy(dtype=float), nan=0.0)
    suggest = is_suspected & (other_pos >= 0) & (p_other >= float(conf["resolved_min_same_probability"]))
    suggested[pos[suggest]] = other_pos[suggest]

    residents = resolution.residents
    has = resident_pos >= 0
    at = np.maximum(resident_pos, 0)
    same_birth = members["birth_date"].to_numpy() == residents["birth_date"].to_numpy()[at] if len(residents) \
        else np.zeros(n, dtype=bool)
    sex_m = members["sex"].to_numpy(dtype="float64", na_value=np.nan)
    sex_r = residents["sex"].to_numpy(dtype="float64", na_value=np.nan)[at] if len(residents) else np.full(n, np.nan)
    status = members["number_status"].to_numpy(dtype=object, na_value=None)
    last4_only = last4_only_members(members)
    matched_any = np.zeros(n, dtype=bool)
    matched_any[pos[(linked_pos >= 0) | (p_other >= float(conf["resolved_min_same_probability"]))]] = True
    not_found = (((status == NUMBER_VALID) & members["number_hash"].notna().to_numpy() & ~has)
                 | (last4_only & ~matched_any))
    return pd.DataFrame({
        # The members' own columns (no per-row conversion to Python strings).
        "insurer_number": members["insurer_number"].reset_index(drop=True),
        "member_id": members["member_id"].reset_index(drop=True),
        "resident_pos": resident_pos,
        "resident_id": _ids_at(residents["resident_id"], np.where(has, resident_pos, -1)),
        "linked_by": linked_by,
        "birth_sex_agree": has & same_birth & (sex_m == sex_r),
        "mislink_suspected": suspected,
        "suggested_resident_pos": suggested,
        "suggested_resident_id": _ids_at(residents["resident_id"], suggested),
        "not_found": not_found,
    })[MEMBER_RESIDENT_COLUMNS]


def _ids_at(column: pd.Series, positions: np.ndarray) -> pd.Series:
    """Values of ``column`` at ``positions`` (missing where the position is −1), taken in Arrow:
    no Python string per member of a 1M-row feed."""
    import pyarrow as pa

    values = pa.array(column, from_pandas=True)
    if len(values) == 0:
        return pd.Series(pd.array([None] * len(positions), dtype="str"))
    taken = values.take(pa.array(np.maximum(positions, 0), mask=positions < 0))
    return pd.Series(pd.array(taken, dtype="str"))


def _pair_positions(res: Resolution, member_pos: np.ndarray, resident_pos: np.ndarray) -> np.ndarray:
    """Row positions in ``res.pairs`` of the pairs (member pos, resident pos), on one int64 key."""
    return pair_positions(res.pairs, len(res.residents), member_pos, resident_pos)


def _pair_rows(res: Resolution, member_pos: np.ndarray, resident_pos: np.ndarray) -> pd.DataFrame:
    """The scored pairs (member pos, resident pos), looked up on one int64 key."""
    return res.pairs.iloc[_pair_positions(res, member_pos, resident_pos)].reset_index(drop=True)


def _top_candidates(res: Resolution, member_pos: np.ndarray, k: int) -> dict[int, list[dict[str, Any]]]:
    pairs = res.pairs
    wanted = np.zeros(len(res.members), dtype=bool)
    wanted[np.asarray(member_pos, dtype=np.int64)] = True
    chosen = pairs.loc[wanted[pairs["li"].to_numpy(np.int64)], ["li", "ri", "p_same", "is_linked"]]
    chosen = chosen.sort_values(["li", "p_same"], ascending=[True, False], kind="stable")
    chosen = chosen[chosen.groupby("li").cumcount() < k]
    ris = chosen["ri"].to_numpy(np.int64)
    rid = _values_at(res.residents["resident_id"], ris)
    last4 = _values_at(res.residents["number_last4"], ris)
    muni = _values_at(res.residents["municipality_code"], ris)
    out: dict[int, list[dict[str, Any]]] = {}
    for li, ri, p, linked in zip(chosen["li"], chosen["ri"], chosen["p_same"], chosen["is_linked"]):
        out.setdefault(int(li), []).append({
            "resident_id": rid[ri], "last4": last4[ri] if not pd.isna(last4[ri]) else None,
            "municipality_code": muni[ri] if not pd.isna(muni[ri]) else None,
            "p_same": round(float(p), 4), "linked": bool(linked)})
    return out


def _household_swaps(res: Resolution, flagged: pd.DataFrame) -> dict[int, int]:
    """member pos → partner member pos, for pairs of one household holding each other's numbers
    (one insurer household: :func:`matchers.resolve.member_households`)."""
    hh = member_households(res.members)
    rows = flagged[(flagged["linked_pos"] >= 0) & (flagged["other_pos"] >= 0)]
    a = pd.DataFrame({"m": rows["member_pos"].to_numpy(), "linked": rows["linked_pos"].to_numpy(),
                      "best": rows["other_pos"].to_numpy()})
    a["hh"] = hh[a["m"].to_numpy()]
    b = a.rename(columns={"m": "m2", "linked": "linked2", "best": "best2"})
    both = a.merge(b, left_on=["linked", "best", "hh"], right_on=["best2", "linked2", "hh"])
    both = both[both["m"] != both["m2"]]
    return dict(zip(both["m"].astype(int), both["m2"].astype(int)))


def _pattern(linked_pair: Any | None, other_pair: Any | None, swapped: bool) -> str:
    if swapped:
        return "household_swap"
    if linked_pair is None:
        # A last-four-only member: the resident they appear to be holds other last four digits.
        if other_pair is not None and other_pair["level_last4"] in ("one_digit", "transposed"):
            return "number_typo"
        return "last4_mismatch"
    name_same = linked_pair["level_name_kanji"] in NAME_KANJI.agreeing_codes \
        or (linked_pair["level_name_kanji"] == "null" and linked_pair["level_name_kana"] in NAME_KANA.agreeing_codes)
    if name_same and linked_pair["level_birth_date"] == "exact":
        return "same_name_birth_date"
    if other_pair is not None and other_pair["level_last4"] in ("one_digit", "transposed"):
        return "number_typo"
    family = linked_pair["level_household"] == "same" or linked_pair["level_address"] == "exact"
    if family:
        if linked_pair["level_birth_date"] == "exact" and linked_pair["level_name_kanji"] in ("given_differs",) \
                or (linked_pair["level_birth_date"] == "exact" and linked_pair["level_name_kana"] == "given_differs"):
            return "twin"
        return "family_member"
    return "different_person"


@rule("MISLINK_SUSPECTED", category="mislink", severity="high", requires=("members", "residents"),
      summary_ja="紐付け誤りの疑い（別人である確率 {p_wrong_pct}%）: {pattern_ja}。紐付け先: {linked_label_ja}。本人と思われる住民: {suggested_label_ja}。{next_step_ja}",
      summary_en="Suspected mis-link (probability {p_wrong_pct}% that it is another person): {pattern_en}. Linked: {linked_label_en}. Probably: {suggested_label_en}. {next_step_en}")
def mislink_suspected(resolution: Resolution, shared_numbers: pd.DataFrame, settings: dict) -> pd.DataFrame:
    """紐付け先の住民が別人と思われる / The linked resident is probably a different person.

    A wrong holder of a shared number is NUMBER_SHARED only (domain brief §2b), not also here.
    """
    conf = resolution.settings
    v = resolution.verdicts
    suspected = v["suspected"].to_numpy(dtype=bool, copy=True)
    suspected &= ~np.isin(v["member_pos"].to_numpy(np.int64), shared_numbers["member_pos"].to_numpy(np.int64))
    flagged = v[suspected & ((v["linked_pos"] >= 0) | v["last4_mismatch"]).to_numpy(dtype=bool)]
    if flagged.empty:
        return pd.DataFrame(columns=["insurer_number", "member_id"])
    flagged = flagged.reset_index(drop=True)
    swaps = _household_swaps(resolution, flagged)
    has_linked = flagged["linked_pos"].to_numpy() >= 0
    linked_pairs = _pair_rows(resolution, flagged["member_pos"].to_numpy()[has_linked],
                              flagged["linked_pos"].to_numpy()[has_linked])
    linked_index = np.cumsum(has_linked) - 1
    has_other = flagged["other_pos"].to_numpy() >= 0
    other_pairs = _pair_rows(resolution, flagged["member_pos"].to_numpy()[has_other],
                             flagged["other_pos"].to_numpy()[has_other])
    linked_fields = field_evidence(resolution, linked_pairs)
    other_fields = field_evidence(resolution, other_pairs)
    other_index = np.cumsum(has_other) - 1
    tops = _top_candidates(resolution, flagged["member_pos"].to_numpy(), int(conf["top_candidates"]))
    members = resolution.members
    # Only the residents and members the findings name are converted (not the 1M-row columns).
    resident_pos = np.concatenate([flagged["linked_pos"].to_numpy(np.int64), flagged["other_pos"].to_numpy(np.int64)])
    rid = _values_at(resolution.residents["resident_id"], resident_pos)
    last4 = _values_at(resolution.residents["number_last4"], resident_pos)
    high = float(conf["mislink_high_threshold"])
    # Plain records once (row access on frames per finding was most of this rule's time).
    linked_recs = linked_pairs.to_dict("records")
    other_recs = other_pairs.to_dict("records")
    lines = _lines(members, flagged["member_pos"].to_numpy(np.int64))
    member_ids = _values_at(members["member_id"], flagged["member_pos"].to_numpy(np.int64))
    member_last4 = _values_at(members["number_last4"], flagged["member_pos"].to_numpy(np.int64))
    records = []
    for i, row in enumerate(flagged.to_dict("records")):
        pos = int(row["member_pos"])
        other = other_recs[other_index[i]] if has_other[i] else None
        partner = swaps.get(pos)
        linked_pair = linked_recs[linked_index[i]] if has_linked[i] else None
        pattern = _pattern(linked_pair, other, partner is not None)
        suggest = has_other[i] and float(row["p_same_other"]) >= 0.5
        suggested_id = rid[int(row["other_pos"])] if suggest else None
        suggested_last4 = last4[int(row["other_pos"])] if suggest else None
        evidence = {
            "pattern": pattern, "pattern_ja": PATTERNS[pattern][0], "pattern_en": PATTERNS[pattern][1],
            "p_wrong": round(float(row["p_wrong"]), 4), "p_wrong_pct": int(round(100 * float(row["p_wrong"]))),
            "linked_resident_id": row["linked_resident_id"], "linked_by": row["linked_by"],
            "linked_last4": last4[int(row["linked_pos"])] if has_linked[i] else member_last4[pos],
            "linked_ambiguous": bool(row["linked_ambiguous"]),
            "p_same_linked": round(float(row["p_same_linked"]), 4) if has_linked[i] else None,
            "linked": linked_fields[linked_index[i]] if has_linked[i] else None,
            "suggested": None if other is None else {
                "resident_id": rid[int(row["other_pos"])], "last4": last4[int(row["other_pos"])],
                "p_same": round(float(row["p_same_other"]), 4), "fields": other_fields[other_index[i]]},
            "suggested_label_ja": _person_label(other_fields[other_index[i]] if has_other[i] else None,
                                                suggested_id, suggested_last4, "ja") if suggest else "特定できません",
            "suggested_label_en": _person_label(other_fields[other_index[i]] if has_other[i] else None,
                                                suggested_id, suggested_last4, "en") if suggest else "not identified",
            "linked_label_ja": _person_label(linked_fields[linked_index[i]] if has_linked[i] else None,
                                             row["linked_resident_id"], None, "ja"),
            "linked_label_en": _person_label(linked_fields[linked_index[i]] if has_linked[i] else None,
                                             row["linked_resident_id"], None, "en"),
            "next_step_ja": NEXT_STEP_JA if suggest else NEXT_STEP_UNKNOWN_JA,
            "next_step_en": NEXT_STEP_EN if suggest else NEXT_STEP_UNKNOWN_EN,
            "candidates": tops.get(pos, []),
            "reasons": _mislink_reasons(linked_pair, other),
            "line": lines[pos],
        }
        if partner is not None:
            evidence["partner_member_id"] = member_ids[partner]
        records.append({
            "insurer_number": row["insurer_number"], "member_id": row["member_id"],
            "score": float(row["p_wrong"]), "severity": "high" if float(row["p_wrong"]) >= high else "medium",
            "suggested_resident_id": suggested_id, "suggested_individual_number_last4": suggested_last4,
            "facts": f"{row['linked_resident_id']}|{suggested_id or ''}|{pattern}",
            "evidence": evidence,
        })
    return pd.DataFrame.from_records(records)


# Summary text (reports engineer, issue #11): people named by name and birth date, ids labelled, a next step.
NEXT_STEP_JA = "住基で本人を確かめ、正しい個人番号に紐付け直してください"
NEXT_STEP_EN = "Check the person in the registry and relink the right number."
NEXT_STEP_UNKNOWN_JA = "本人を住基で探し、見つからなければ本人に番号を確認してください"
NEXT_STEP_UNKNOWN_EN = "Look the person up in the registry, else ask the member for the number."


def _person_label(fields: dict | None, resident_id: Any, last4: Any, lang: str) -> str:
    """「田中 花子（1980-05-10 生、宛名番号 123…、番号下4桁 0018）」 from a pair's field evidence."""
    def value(field: str) -> str:
        entry = (fields or {}).get(field)
        return _text(entry.get("resident")) if isinstance(entry, dict) else ""

    name = value("name_kanji") or value("name_alpha") or value("name_kana")
    birth = value("birth_date")
    if lang == "ja":
        parts = [f"{birth} 生"] if birth else []
        parts += [f"宛名番号 {resident_id}"] if _text(resident_id) else []
        parts += [f"番号下4桁 {last4}"] if _text(last4) else []
        return f"{name or '氏名不明'}（{'、'.join(parts)}）" if parts else (name or "不明")
    parts = [f"born {birth}"] if birth else []
    parts += [f"resident id {resident_id}"] if _text(resident_id) else []
    parts += [f"number ending {last4}"] if _text(last4) else []
    return f"{name or 'name unknown'} ({', '.join(parts)})" if parts else (name or "unknown")


def _values_at(column: pd.Series, positions: np.ndarray) -> dict[int, Any]:
    """position → value (as ``to_numpy(dtype=object)`` gives it) for the given non-negative positions."""
    pos = np.unique(np.asarray(positions, dtype=np.int64))
    pos = pos[pos >= 0]
    return dict(zip(pos.tolist(), column.take(pos).to_numpy(dtype=object)))


def _lines(members: pd.DataFrame, positions: np.ndarray) -> dict[int, int | None]:
    """Member position → source line as int, or None (no ``_line`` column or a missing value)."""
    pos = np.unique(np.asarray(positions, dtype=np.int64))
    if "_line" not in members:
        return dict.fromkeys(pos.tolist())
    return {p: None if pd.isna(v) else int(v) for p, v in zip(pos.tolist(), members["_line"].take(pos).tolist())}


def _mislink_reasons(linked: Any | None, other: Any | None) -> list[str]:
    """Short reason codes: which fields speak against the linked resident / for the suggestion."""
    if linked is None:
        return ["LAST4_DIFFERS_FROM_RESOLVED_RESIDENT"]
    reasons = []
    for comparison in COMPARISONS:
        if comparison.field == "last4":
            continue
        level = linked[f"level_{comparison.field}"]
        if level != "null" and level not in comparison.agreeing_codes:
            reasons.append(f"LINKED_{comparison.field.upper()}_{str(level).upper()}")
    if other is not None:
        for field in ("household", "address", "municipality", "last4"):
            if other[f"level_{field}"] in ("same", "exact") and linked[f"level_{field}"] not in ("same", "exact"):
                reasons.append(f"SUGGESTED_{field.upper()}_AGREES")
        if other["level_last4"] in ("one_digit", "transposed"):
            reasons.append(f"SUGGESTED_LAST4_{str(other['level_last4']).upper()}")
    return reasons


# --- NOTATION_DIFFERENCE --------------------------------------------------------------------------
# What counts as "explained" is the levels' own metadata (``Level.notation`` / ``Level.agrees``).
_EXPLAINED = {c.field: c.agreeing_codes | {"null"} for c in NAME_COMPARISONS}
_DIFFERS = {c.field: c.notation_codes for c in NAME_COMPARISONS}
# The kanji levels whose kana reading is another surname's by nature (a married name).
_SURNAME_CHANGES = [code for code in ("former_surname", "household_surname") if code in NAME_KANJI.notation_codes]

_NOTATION_COLUMNS = ["level_name_kanji", "level_name_kana", "level_name_alpha", "latin_l", "latin_r",
                     "kanji_key_l", "kanji_key_r", "kanji_raw_l", "kanji_raw_r", "kana_raw_l", "kana_raw_r",
                     "alpha_tokens_l", "alpha_tokens_r", "level_birth_date", "level_sex"]


def _level_in(values: pd.Series, codes) -> np.ndarray:
    """Per row: the level code is one of ``codes`` (on a categorical's codes: no object per row)."""
    if isinstance(values.dtype, pd.CategoricalDtype):
        table = np.append(np.isin(values.cat.categories.to_numpy(dtype=object), list(codes)), False)
        return table[values.cat.codes.to_numpy()]
    return np.isin(values.to_numpy(dtype=object), list(codes))


def _raw_differs(pairs: pd.DataFrame, column: str) -> np.ndarray:
    left, right = pairs[f"{column}_l"], pairs[f"{column}_r"]
    if isinstance(left.dtype, pd.CategoricalDtype) and left.dtype is right.dtype:
        # One vocabulary (the resolver's prepared sides): equal values, equal codes.
        a, b = left.cat.codes.to_numpy(), right.cat.codes.to_numpy()
        return (a >= 0) & (b >= 0) & (a != b)
    both = left.notna().to_numpy() & right.notna().to_numpy()
    out = np.zeros(len(pairs), dtype=bool)
    out[both] = left.to_numpy(dtype=object)[both] != right.to_numpy(dtype=object)[both]
    return out


def notation_mask(pairs: pd.DataFrame) -> np.ndarray:
    """Pairs whose names differ but every name comparison is at an agreeing ('explained') level."""
    kanji, kana, alpha = pairs["level_name_kanji"], pairs["level_name_kana"], pairs["level_name_alpha"]
    kanji_null, kana_null, alpha_null = _level_in(kanji, ["null"]), _level_in(kana, ["null"]), _level_in(alpha, ["null"])
    explained = _level_in(kanji, _EXPLAINED["name_kanji"])
    # A married name: the kana surname differs too, explained by the kanji level.
    # A foreign name whose alphabet form agrees: the two katakana are two transliterations of it.
    alpha_agrees = _level_in(alpha, NAME_ALPHA.agreeing_codes)
    explained &= (_level_in(kana, _EXPLAINED["name_kana"])
                  | (_level_in(kana, ["surname_differs"]) & _level_in(kanji, _SURNAME_CHANGES))
                  | alpha_agrees)
    # Katakana held against the alphabet name that failed to romanise alike: the registered
    # reading agreeing with the katakana is the more direct evidence.
    kana_agrees = _level_in(kana, NAME_KANA.agreeing_codes)
    one_alpha = pairs["alpha_tokens_l"].notna().to_numpy() != pairs["alpha_tokens_r"].notna().to_numpy()
    explained &= _level_in(alpha, _EXPLAINED["name_alpha"]) | (kana_agrees & one_alpha)
    # Kanji not comparable (alphabet vs kanji / katakana): the alphabet comparison, or the
    # registered reading, must have judged it.
    latin_l, latin_r = pairs["latin_l"].to_numpy(dtype=bool), pairs["latin_r"].to_numpy(dtype=bool)
    script = (kanji_null & pairs["kanji_key_l"].notna().to_numpy() & pairs["kanji_key_r"].notna().to_numpy()
              & (latin_l != latin_r))
    explained &= ~script | alpha_agrees | kana_agrees
    some_name = ~kanji_null | ~kana_null | ~alpha_null
    differs = (_level_in(kanji, _DIFFERS["name_kanji"]) | _level_in(kana, _DIFFERS["name_kana"])
               | _level_in(alpha, _DIFFERS["name_alpha"]) | script
               # width or spacing in names the levels treat as equal (an alphabet name in full width)
               | _raw_differs(pairs, "kanji_raw") | _raw_differs(pairs, "kana_raw"))
    return explained & some_name & differs


_CHAIN = {"name_kanji": KANJI_STEPS, "name_kana": KANA_STEPS}
_CHAIN_EQUAL = {"gaiji": wildcard_equal, "variant_set": variants_equal}


def notation_reasons(pair: Any, member: Any, resident: Any,
                     chain_reasons: dict[str, list[str]] | None = None) -> list[str]:
    """Reason codes that explain the notation difference of one pair: the reason each level
    declares, and for the key levels the normalisation steps that were needed
    (``chain_reasons``: field → :func:`matchers.normalise.explain` of the pair's names at that
    field's level, when already computed for many pairs at once — :func:`explain_many`)."""
    reasons: list[str] = []
    for comparison in NAME_COMPARISONS:
        code = pair[f"level_{comparison.field}"]
        level = comparison.level(code)
        if level is None:
            continue
        if level.reason:
            reasons.append(level.reason)
        steps = _CHAIN.get(comparison.field)
        if steps and code in ("notation", *_CHAIN_EQUAL):
            column = comparison.field
            if chain_reasons and column in chain_reasons:
                reasons += chain_reasons[column]
                continue
            reasons += explain(_text(member.get(column)), _text(resident.get(column)), steps,
                               equal=_CHAIN_EQUAL.get(code))
    kanji, alpha = pair["level_name_kanji"], pair["level_name_alpha"]
    m_kanji, r_kanji = _text(member.get("name_kanji")), _text(resident.get("name_kanji"))
    if kanji == "null" and bool(pair["latin_l"]) and bool(pair["latin_r"]) and m_kanji and r_kanji \
            and pair["kanji_key_l"] == pair["kanji_key_r"]:
        # Both alphabet names in the kanji field: width and spacing as for kanji names.
        reasons += [r for r in explain(m_kanji, r_kanji, KANJI_STEPS) if r != "VARIANT_KANJI"]
    if alpha in NAME_ALPHA.notation_codes and KATAKANA_ALPHABET in reasons:
        m_alpha = alpha_tokens(_text(member.get("name_alpha")) or "")
        r_alpha = alpha_tokens(_text(resident.get("name_alpha")) or "")
        if m_alpha and r_alpha and m_alpha != r_alpha:
            reasons.append(ALPHA_ORDER if set(m_alpha) == set(r_alpha) else ALPHA_MIDDLE_NAME)
    if kanji == "null" and pair["kanji_key_l"] is not None and pair["kanji_key_r"] is not None \
            and bool(pair["latin_l"]) != bool(pair["latin_r"]) and KATAKANA_ALPHABET not in reasons:
        reasons.append(KATAKANA_ALPHABET)
    ordered = [r for r in REASONS if r in set(reasons)]
    return ordered or [ALPHA_CASE]


def _text(value: Any) -> str:
    return "" if value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value)) else str(value)


_NAME_FIELDS = (("name_kanji", "氏名", "Name"), ("name_kana", "カナ氏名", "Kana name"),
                ("name_alpha", "英字氏名", "Alphabet name"))


def _quoted_name(member: dict, resident: dict) -> dict[str, str]:
    """The name field that actually differs (kanji, else kana, else alphabet), for the summary —
    never two identical kanji names when the difference is in the kana or the alphabet name."""
    for field, ja, en in _NAME_FIELDS:
        left, right = _text(member.get(field)), _text(resident.get(field))
        if (left or right) and left != right:
            return {"quoted_field_ja": ja, "quoted_field_en": en, "quoted_member": left or "（なし）",
                    "quoted_resident": right or "（なし）"}
    field, ja, en = _NAME_FIELDS[0]
    return {"quoted_field_ja": ja, "quoted_field_en": en, "quoted_member": _text(member.get(field)),
            "quoted_resident": _text(resident.get(field))}


@rule("NOTATION_DIFFERENCE", category="notation", severity="low", requires=("members", "residents"),
      summary_ja="{quoted_field_ja}の表記のみ異なります（{reasons_ja}）: 保険者「{quoted_member}」／住基「{quoted_resident}」。住基の表記に合わせて直してください",
      summary_en="{quoted_field_en} differs in notation only ({reasons_en}): insurer \"{quoted_member}\" / registry \"{quoted_resident}\"; bring it in line with the registry")
def notation_difference(resolution: Resolution, settings: dict) -> pd.DataFrame:
    """同一人物だが氏名の表記だけが異なる / Same person; the name differs only in notation."""
    conf = resolution.settings
    v = resolution.verdicts
    # The floor on the pair's probability keeps a doubtful link out; a link with nobody else
    # plausibly the member is judged on the names, birth date and sex below (a move elsewhere
    # lowers the probability without making the name any less a notation variant).
    nobody_else = ~((v["other_pos"].to_numpy(np.int64) >= 0)
                    & (v["p_same_other"].fillna(0.0).to_numpy(dtype=float) >= float(conf["resolved_min_same_probability"])))
    same = v[(v["linked_pos"] >= 0) & ~v["suspected"].to_numpy(dtype=bool)
             & ((v["p_same_linked"] >= float(conf["notation_min_same_probability"])).to_numpy(dtype=bool) | nobody_else)
             ].reset_index(drop=True)
    if same.empty:
        return pd.DataFrame(columns=["insurer_number", "member_id"])
    rows = _pair_positions(resolution, same["member_pos"].to_numpy(), same["linked_pos"].to_numpy())
    # Judge on the few columns the mask reads; take whole pair rows only for the kept ones.
    judged = resolution.pairs[_NOTATION_COLUMNS].iloc[rows].reset_index(drop=True)
    keep = notation_mask(judged) & _level_in(judged["level_birth_date"], ["exact"]) \
        & _level_in(judged["level_sex"], ["exact"])
    same = same[keep].reset_index(drop=True)
    pairs = resolution.pairs.iloc[rows[keep]].reset_index(drop=True)
    if same.empty:
        return pd.DataFrame(columns=["insurer_number", "member_id"])
    fields = field_evidence(resolution, pairs)
    members, residents = resolution.members, resolution.residents
    li, ri = pairs["li"].to_numpy(np.int64), pairs["ri"].to_numpy(np.int64)

    def take(frame: pd.DataFrame, column: str, rows: np.ndarray) -> np.ndarray:
        if column not in frame:
            return np.full(len(rows), None, dtype=object)
        return frame[column].take(rows).to_numpy(dtype=object, na_value=None)

    m_cols = {c: take(members, c, li) for c in ("name_kanji", "name_kana", "name_alpha", "_line")}
    r_cols = {c: take(residents, c, ri) for c in ("name_kanji", "name_kana", "name_alpha")}
    p_cols = {c: pairs[c].to_numpy(dtype=object, na_value=None)
              for c in ("level_name_kanji", "level_name_kana", "level_name_alpha",
                        "kanji_key_l", "kanji_key_r", "latin_l", "latin_r")}
    linked_ids = same["linked_resident_id"].to_numpy(dtype=object)
    insurers = same["insurer_number"].tolist()
    member_ids = same["member_id"].tolist()
    p_same = same["p_same_linked"].to_numpy(dtype=float)
    # The normalisation steps behind the key levels, for every pair at once (one Arrow chain
    # per reason left out), not step by step per pair.
    chained: dict[tuple[str, str], dict[int, list[str]]] = {}
    for column, steps in _CHAIN.items():
        for code in ("notation", *_CHAIN_EQUAL):
            at = np.flatnonzero(p_cols[f"level_{column}"] == code)
            if len(at):
                found = explain_many([_text(v) for v in m_cols[column][at]], [_text(v) for v in r_cols[column][at]],
                                     steps, equal=_CHAIN_EQUAL.get(code))
                chained[(column, code)] = dict(zip(at.tolist(), found))
    cache: dict[tuple, list[str]] = {}
    records = []
    for i in range(len(same)):
        member = {c: m_cols[c][i] for c in m_cols}
        resident = {c: r_cols[c][i] for c in r_cols}
        pair = {c: p_cols[c][i] for c in p_cols}
        key = (member["name_kanji"], member["name_kana"], member["name_alpha"], resident["name_kanji"],
               resident["name_kana"], resident["name_alpha"], pair["level_name_kanji"], pair["level_name_kana"],
               pair["level_name_alpha"])
        if key not in cache:
            cache[key] = notation_reasons(pair, member, resident,
                                          {c: found[i] for (c, _), found in chained.items() if i in found})
        reasons = cache[key]
        member_name = _text(member["name_kanji"]) or _text(member["name_alpha"]) or _text(member["name_kana"])
        resident_name = _text(resident["name_kanji"]) or _text(resident["name_alpha"]) or _text(resident["name_kana"])
        # Width or spacing alone changes nothing a person reads: info; anything else low.
        cosmetic = set(reasons) <= {"WIDTH", "SPACING", "KANA_HALFWIDTH", "ALPHA_CASE", "VARIATION_SELECTOR"}
        records.append({
            "insurer_number": insurers[i], "member_id": member_ids[i],
            "score": round(float(p_same[i]), 4),
            "severity": "info" if cosmetic else "low",
            "facts": f"{linked_ids[i]}|{'+'.join(reasons)}|{member_name}|{resident_name}",
            "evidence": {
                "reasons": reasons, "pattern": "+".join(reasons),
                "reasons_ja": "・".join(REASON_LABELS_JA.get(r, r) for r in reasons),
                "reasons_en": ", ".join(reasons),
                "member_name": member_name, "resident_name": resident_name,
                **_quoted_name(member, resident),
                "linked_resident_id": linked_ids[i],
                "p_same_linked": round(float(p_same[i]), 4),
                "fields": fields[i],
                "line": None if member["_line"] is None else int(member["_line"]),
            },
        })
    return pd.DataFrame.from_records(records)
