"""資格取得日・資格喪失日 / qualification-date rules."""
from __future__ import annotations

import numpy as np
import pandas as pd

from detectors import ages
from detectors.alignment import failing_rows, rows_of
from detectors.codes import LOSS_REASONS
from detectors.registry import provider, rule
from detectors.schema import KEY


# QUAL_DATE_INVALID's checks: (code, Japanese, English, the member's own dates are impossible).
# A member whose own dates are impossible (born after as_of, acquired before birth, lost before
# acquisition, acquired after as_of) is not judged by the age- and date-based rules (domain
# brief §2b): their verdicts would rest on the impossible date. A future loss or card issue
# date is reported but leaves the person's age and qualification judgeable.
DATE_CHECKS = (
    ("acquisition_before_birth", "資格取得日が生年月日より前", "acquisition before birth", True),
    ("loss_before_acquisition", "資格喪失日が資格取得日より前", "loss before acquisition", True),
    ("birth_after_as_of", "生年月日が基準日より後", "birth date after as_of", True),
    ("acquisition_after_as_of", "資格取得日が基準日より後", "acquisition after as_of", True),
    ("loss_after_as_of", "資格喪失日が基準日より後", "loss after as_of", False),
    ("issue_after_as_of", "交付日が基準日より後", "card issue date after as_of", False),
)


def date_problems(members: pd.DataFrame, as_of: pd.Timestamp) -> pd.DataFrame:
    """One boolean column per :data:`DATE_CHECKS` code (same index as ``members``)."""
    birth, acq, loss = members["birth_date"], members["acquisition_date"], members["loss_date"]
    masks = {
        "acquisition_before_birth": acq < birth,
        "loss_before_acquisition": loss < acq,
        "birth_after_as_of": birth > as_of,
        "acquisition_after_as_of": acq > as_of,
        "loss_after_as_of": loss > as_of,
        "issue_after_as_of": members["card_issue_date"] > as_of,
    }
    return pd.DataFrame({code: masks[code].fillna(False).astype(bool) for code, *_ in DATE_CHECKS},
                        index=members.index)


@provider("judgeable")
def judgeable(members: pd.DataFrame, as_of: pd.Timestamp) -> np.ndarray:
    """Per member: the own dates are possible, so age- and date-based rules may judge them (§2b)."""
    problems = date_problems(members, as_of)
    own = [code for code, _, _, impossible in DATE_CHECKS if impossible]
    return ~problems[own].to_numpy(bool).any(axis=1)


@rule("QUAL_DATE_INVALID", category="qualification_date", severity="high", requires=("members",),
      summary_ja="ありえない日付: {problems_ja}",
      summary_en="Impossible dates: {problems_en}")
def qual_date_invalid(members: pd.DataFrame, as_of: pd.Timestamp) -> pd.DataFrame:
    """取得日が生年月日より前、喪失日が取得日より前、基準日より後の日付 / Impossible qualification dates.

    A member reported here for impossible own dates (born after ``as_of``, acquired before
    birth, lost before acquisition, acquired after ``as_of``) is not judged by the burden-ratio, limit-category, age-limit,
    issue-date and exit rules; the evidence says so.
    """
    masks = date_problems(members, as_of)
    failing = masks.any(axis=1)
    if not failing.any():
        return members.iloc[0:0]
    out = members.loc[failing, [*KEY, "birth_date", "acquisition_date", "loss_date", "card_issue_date", "_line"]].copy()
    held = masks.loc[failing].to_numpy(bool)
    codes = np.array([code for code, _, _, _ in DATE_CHECKS])
    ja = np.array([text for _, text, _, _ in DATE_CHECKS])
    en = np.array([text for _, _, text, _ in DATE_CHECKS])
    own = np.array([impossible for *_, impossible in DATE_CHECKS])
    out["reason_codes"] = [list(codes[row]) for row in held]
    out["problems_ja"] = ["、".join(ja[row]) for row in held]
    out["problems_en"] = ["; ".join(en[row]) for row in held]
    out["other_rules_suspended"] = (held & own).any(axis=1)
    out["note"] = np.where(out["other_rules_suspended"].to_numpy(bool),
                           "日付がありえないため、負担割合・限度額区分・75歳到達・交付日・転出死亡の判定は行っていません / "
                           "not judged by the ratio, category, age-limit, issue-date and exit rules", "")
    out["facts"] = [",".join(codes[row]) for row in held]
    out["as_of"] = as_of
    return out.rename(columns={"_line": "line"})


# ---------------------------------------------------------------------------------------------
# Rules below: domain brief §6 (国保法7条・8条) and §1 (one number carrying two members).
# ---------------------------------------------------------------------------------------------

# Up to this many days between the move-in (or birth) and the card issue date the 資格適用日 =
# 交付日 defect is the likely reading; further apart another acquisition cause (leaving an
# employer's insurance, 生活保護 ending) may explain the later date, so the finding is softer.
ISSUE_DATE_LIKELY_GAP_DAYS = 92


@provider("resident_position")
def resident_position(member_resident: pd.DataFrame) -> np.ndarray:
    """Row of the member's own resident (−1 none) for the rules on move-in, exit and age.

    Read from the one provider of "the member's resident" (``member_resident``, matching): the
    linked resident for a full number, the resolved resident whose last four digits agree for a
    last-four-only member (domain brief §2a). It is trusted only when that resident has the
    member's birth date and sex and the link is not suspected: otherwise the number is on the
    wrong person, which MISLINK_SUSPECTED / NUMBER_SHARED report, and that resident's move-in,
    death or move-out says nothing about the member's qualification.
    """
    trusted = member_resident["birth_sex_agree"].to_numpy(dtype=bool, na_value=False) & \
        ~member_resident["mislink_suspected"].to_numpy(dtype=bool, na_value=False)
    return np.where(trusted, member_resident["resident_pos"].to_numpy(np.int64), -1)


def _linked_residents(members: pd.DataFrame, residents: pd.DataFrame, resident_position: np.ndarray,
                      columns: list[str], rows: np.ndarray | None = None) -> pd.DataFrame:
    """Members (``rows``, default all) that have a trusted own resident, with ``resident_id`` and
    ``resident_*`` columns (see :func:`resident_position`)."""
    rows = np.arange(len(members)) if rows is None else rows
    rows = rows[resident_position[rows] >= 0]
    out = members.iloc[rows].reset_index(drop=True)
    res = residents[["resident_id", *columns]].iloc[resident_position[rows]].reset_index(drop=True)
    out["resident_id"] = res["resident_id"].to_numpy()
    for column in columns:
        out[f"resident_{column}"] = res[column].to_numpy()
    return out


@rule("QUAL_DATE_IS_ISSUE_DATE", category="qualification_date", severity="high",
      requires=("members", "residents"),
      summary_ja="資格取得日 {acquisition_date} が交付日と同じですが、{trigger_ja} {trigger_date} の方が早いです（取得日 {proposed_acquisition_date} に訂正を検討）",
      summary_en="Acquisition date {acquisition_date} equals the card issue date, but the {trigger_en} was earlier ({trigger_date}); consider {proposed_acquisition_date}")
def qual_date_is_issue_date(members: pd.DataFrame, residents: pd.DataFrame, resident_position: np.ndarray,
                            judgeable: np.ndarray) -> pd.DataFrame:
    """資格取得日が交付日と同じで、転入日（出生日）の方が早い / Acquisition equals the card issue date although the resident became eligible earlier.

    The trigger is the linked resident's 転入日 (``moved_in_date``), or the birth date for a
    newborn (no move-in, or move-in on the birth date). The proposed date is that trigger.
    """
    same = (members["acquisition_date"].notna() & (members["acquisition_date"] == members["card_issue_date"]))
    rows = np.flatnonzero(same.fillna(False).to_numpy(bool) & judgeable)
    if len(rows) == 0:
        return members.iloc[0:0]
    candidates = members[[*KEY, "acquisition_date", "card_issue_date", "birth_date", "sex", "_line"]]
    pairs = _linked_residents(candidates, residents, resident_position, ["moved_in_date", "birth_date"], rows)
    moved_in, born = pairs["resident_moved_in_date"], pairs["resident_birth_date"]
    newborn = moved_in.isna() | (moved_in == born)
    trigger = moved_in.where(~newborn, born)
    fires = (trigger < pairs["acquisition_date"]).fillna(False).astype(bool)
    out = pairs.loc[fires].copy()
    if out.empty:
        return out
    newborn = newborn.loc[fires]
    out["trigger"] = np.where(newborn.to_numpy(bool), "birth", "move_in")
    out["trigger_ja"] = np.where(newborn.to_numpy(bool), "出生日", "転入日")
    out["trigger_en"] = np.where(newborn.to_numpy(bool), "birth", "move-in")
    out["trigger_date"] = trigger.loc[fires]
    out["proposed_acquisition_date"] = out["trigger_date"]
    out["gap_days"] = (out["acquisition_date"] - out["trigger_date"]).dt.days.astype("Int64")
    likely = (out["gap_days"] <= ISSUE_DATE_LIKELY_GAP_DAYS).fillna(False).to_numpy(bool)
    out["severity"] = np.where(likely, "high", "medium")
    out["score"] = np.where(likely, 0.9, 0.5)
    out["note"] = np.where(likely, "",
                           "転入から期間が空いています。被用者保険の喪失など他の取得事由も確認してください / "
                           "long after the move-in: check other acquisition causes (employer insurance ended, etc.)")
    out["suggested_resident_id"] = out["resident_id"]
    out["facts"] = out["acquisition_date"].dt.strftime("%Y-%m-%d") + "|" + out["trigger_date"].dt.strftime("%Y-%m-%d")
    return out.drop(columns=["resident_birth_date"]).rename(columns={"_line": "line"})


@rule("QUAL_DATE_OQS_MISMATCH", category="qualification_date", severity="high", requires=("members", "oqs"),
      summary_ja="資格{field_ja}が保険者 {insurer_date} と中間サーバー {oqs_date} で異なります",
      summary_en="{field_en} differs: insurer {insurer_date}, online copy {oqs_date}")
def qual_date_oqs_mismatch(members: pd.DataFrame, oqs: pd.DataFrame, oqs_position: np.ndarray,
                           as_of: pd.Timestamp) -> pd.DataFrame:
    """保険者と中間サーバーで資格取得日・喪失日が異なる / Acquisition or loss date differs between insurer and online copy.

    A loss the insurer has and the online copy lacks is QUAL_LOSS_NOT_LINKED, not this rule. A
    loss the online copy has while the insurer shows the member active makes the patient look
    uninsured at the counter (無資格者) and is high severity; two different loss dates after
    both sides lost the member are medium.
    """
    rows = np.flatnonzero(oqs_position >= 0)
    pairs = members[[*KEY, "acquisition_date", "loss_date", "_line"]].iloc[rows].reset_index(drop=True)
    right = oqs[["acquisition_date", "loss_date", "_line"]].iloc[oqs_position[rows]].reset_index(drop=True)
    pairs = pd.concat([pairs.add_suffix("_insurer").rename(columns={f"{k}_insurer": k for k in KEY}),
                       right.add_suffix("_oqs")], axis=1)
    acq_i, acq_o = pairs["acquisition_date_insurer"], pairs["acquisition_date_oqs"]
    loss_i, loss_o = pairs["loss_date_insurer"], pairs["loss_date_oqs"]
    acq_diff = (acq_i.notna() & ((acq_i != acq_o) | acq_o.isna())).fillna(False).astype(bool)
    loss_diff = (loss_i.notna() & loss_o.notna() & (loss_i != loss_o)).fillna(False).astype(bool)
    loss_only_oqs = (loss_i.isna() & loss_o.notna()).astype(bool)
    parts = []
    for mask, field, ja, en, ins, onl in (
            (acq_diff, "acquisition_date", "取得日", "Acquisition date", acq_i, acq_o),
            (loss_diff | loss_only_oqs, "loss_date", "喪失日", "Loss date", loss_i, loss_o)):
        if not mask.any():
            continue
        part = pairs.loc[mask, KEY].copy()
        part["field"], part["field_ja"], part["field_en"] = field, ja, en
        part["insurer_date"] = ins.loc[mask]
        part["oqs_date"] = onl.loc[mask]
        part["line"] = pairs.loc[mask, "_line_insurer"]
        part["oqs_line"] = pairs.loc[mask, "_line_oqs"]
        parts.append(part)
    if not parts:
        return pairs.iloc[0:0]
    out = pd.concat(parts, ignore_index=True)
    insurer_active = ages.active_on(pd.Series(pd.NaT, index=out.index, dtype="datetime64[ns]"),
                                    out["insurer_date"].where(out["field"] == "loss_date"), as_of)
    oqs_lost = (out["field"] == "loss_date") & out["oqs_date"].notna() & (out["oqs_date"] <= as_of).fillna(False)
    shown_uninsured = (insurer_active & oqs_lost).astype(bool)
    both_lost = ((out["field"] == "loss_date") & ~insurer_active).astype(bool)
    out["severity"] = np.where(both_lost.to_numpy(bool), "medium", "high")
    out["shown_uninsured_at_counter"] = shown_uninsured
    ins_text = out["insurer_date"].dt.strftime("%Y-%m-%d").fillna("なし")
    oqs_text = out["oqs_date"].dt.strftime("%Y-%m-%d").fillna("なし")
    out["facts"] = out["field"] + "|" + ins_text + "|" + oqs_text
    # Summaries read the dates; an absent date is shown as なし / none.
    out["insurer_date"] = ins_text
    out["oqs_date"] = oqs_text
    out["as_of"] = as_of
    # Acquisition and loss differing are two facts, so two findings for the member.
    return out


@rule("QUAL_LOSS_NOT_LINKED", category="qualification_date", severity="high", requires=("members", "oqs"),
      summary_ja="保険者では {loss_date} に資格喪失（{loss_reason_label}）していますが、中間サーバーでは資格が有効のままです",
      summary_en="The insurer lost the member on {loss_date} ({loss_reason_label}) but the online copy still shows them active")
def qual_loss_not_linked(members: pd.DataFrame, oqs: pd.DataFrame, oqs_position: np.ndarray,
                         as_of: pd.Timestamp) -> pd.DataFrame:
    """保険者で喪失済みだが中間サーバーで資格有効のまま / Insurer has a loss date, online copy still shows the member active."""
    lost = (members["loss_date"] <= as_of).fillna(False).to_numpy(bool) & (oqs_position >= 0)
    rows = np.flatnonzero(lost)
    online_active = oqs["loss_date"].iloc[oqs_position[rows]].isna().to_numpy(bool)
    rows = rows[online_active]
    out = members[[*KEY, "acquisition_date", "loss_date", "loss_reason", "_line"]].iloc[rows].reset_index(drop=True)
    out["oqs_line"] = oqs["_line"].iloc[oqs_position[rows]].to_numpy()
    out["loss_reason_label"] = out["loss_reason"].map(LOSS_REASONS).fillna("事由不明 / reason unknown")
    out["days_since_loss"] = (as_of - out["loss_date"]).dt.days.astype("Int64")
    out["as_of"] = as_of
    out["facts"] = out["loss_date"].dt.strftime("%Y-%m-%d")
    return out.rename(columns={"_line": "line"})


EXIT_STATUS = {
    "deceased": ("死亡", "death"),
    "moved_out": ("転出", "move-out"),
}


@rule("QUAL_ACTIVE_AFTER_EXIT", category="qualification_date", severity="high", requires=("members", "residents"),
      summary_ja="住基では {status_date} に{status_ja}していますが、資格が{state_ja}です（喪失日は {expected_loss_from}〜{expected_loss_to}）",
      summary_en="The registry shows {status_en} on {status_date}, but the qualification is {state_en} (loss due {expected_loss_from}–{expected_loss_to})")
def qual_active_after_exit(members: pd.DataFrame, residents: pd.DataFrame, resident_position: np.ndarray,
                           as_of: pd.Timestamp, judgeable: np.ndarray) -> pd.DataFrame:
    """住基で死亡・転出済みなのに資格が有効（または喪失日が遅い） / The registry shows death or move-out, the member is still active or lost too late.

    The loss is due the day after death or move-out; the move-out day itself is accepted (an
    address acquired elsewhere the same day, the usual case) and so is the day of death (data
    often holds it). A member lost before the event was lost for another reason and is clean.
    Move-out ends only 市町村国保; death ends every insurance.
    """
    # Only residents who died or moved out matter: find them first, then their members.
    exited = np.append(residents["status"].isin(["deceased", "moved_out"]).fillna(False).to_numpy(bool), False)
    # position −1 (no resident) reads the appended False, so an empty registry needs no special case
    linked_exited = exited[resident_position] & judgeable
    pairs = _linked_residents(members[[*KEY, "insurer_type", "birth_date", "sex", "acquisition_date", "loss_date",
                                       "loss_reason", "_line"]],
                              residents, resident_position, ["status", "status_date"], np.flatnonzero(linked_exited))
    kind = pairs["insurer_type"].fillna("kokuho")
    status = pairs["resident_status"]
    relevant = ((status == "deceased") | ((status == "moved_out") & (kind == "kokuho"))).fillna(False).astype(bool)
    pairs = pairs.loc[relevant]
    if pairs.empty:
        return pairs
    event = pairs["resident_status_date"]
    latest = event + pd.Timedelta(days=1)
    loss = pairs["loss_date"]
    occurred = (event.isna() | (event <= as_of)).astype(bool)
    active = ages.active_on(pd.Series(pd.NaT, index=pairs.index, dtype="datetime64[ns]"), loss, as_of)
    still_active = (active & (event.isna() | (latest < as_of))).astype(bool)
    late = (loss.notna() & (loss > latest)).fillna(False).astype(bool)
    fires = occurred & (still_active | late)
    out = pairs.loc[fires].copy()
    if out.empty:
        return out
    active_now = still_active.loc[fires].to_numpy(bool)
    out["status"] = out.pop("resident_status")
    out["status_date"] = out.pop("resident_status_date")
    out["status_ja"] = out["status"].map({k: v[0] for k, v in EXIT_STATUS.items()})
    out["status_en"] = out["status"].map({k: v[1] for k, v in EXIT_STATUS.items()})
    out["state_ja"] = np.where(active_now, "有効のまま", "喪失日が遅い（" + out["loss_date"].dt.strftime("%Y-%m-%d").fillna("") + "）")
    out["state_en"] = np.where(active_now, "still active", "lost too late (" + out["loss_date"].dt.strftime("%Y-%m-%d").fillna("") + ")")
    out["expected_loss_from"] = out["status_date"]
    out["expected_loss_to"] = out["status_date"] + pd.Timedelta(days=1)
    out["severity"] = np.where(active_now, "high", "medium")
    out["suggested_resident_id"] = out["resident_id"]
    out["as_of"] = as_of
    out["facts"] = out["status"] + "|" + out["status_date"].dt.strftime("%Y-%m-%d").fillna("") + "|" + \
        np.where(active_now, "active", "late")
    return out.rename(columns={"_line": "line"})


@rule("QUAL_ACTIVE_PAST_AGE_LIMIT", category="qualification_date", severity="high", requires=("members",),
      summary_ja="75歳到達（誕生日 {birthday_75}）で後期高齢者医療へ移行しているはずですが、国保の資格が{state_ja}です",
      summary_en="Turned 75 on {birthday_75} (late-elderly insurance), but the 国保 qualification is {state_en}")
def qual_active_past_age_limit(members: pd.DataFrame, as_of: pd.Timestamp, judgeable: np.ndarray) -> pd.DataFrame:
    """75歳到達後も国保の資格が有効 / A 国保 member is 75 or older on as_of and still active (or lost too late).

    後期高齢者医療 starts on the 75th birthday and 国保 is lost the day after (国保法6条8号・8条);
    data often holds the birthday itself, so either is accepted, and a member is flagged once
    ``as_of`` is past the day after the birthday. Applies to 市町村国保 and 国保組合 (both under
    国保法); 被用者保険 and 後期 are not judged here.
    """
    kind = members["insurer_type"].fillna("kokuho")
    judged = kind.isin(["kokuho", "kumiai"]).to_numpy(bool) & members["birth_date"].notna().to_numpy(bool) & judgeable
    frame = rows_of(members, judged, ["birth_date", "loss_date"])
    latest = ages.kokuho_age_loss_latest(frame["birth_date"])
    past = (as_of > latest).to_numpy(bool)
    loss = frame["loss_date"]
    active_now = (loss.isna() | (loss > as_of)).to_numpy(bool)
    late = (loss > latest).fillna(False).to_numpy(bool)
    # Joining 国保 after 75 does not make it right: past the day after the birthday, active is wrong.
    fires = past & (active_now | late)
    out = failing_rows(members, judged, fires,
                       [*KEY, "insurer_type", "birth_date", "acquisition_date", "loss_date", "loss_reason", "_line"]).copy()
    if out.empty:
        return out
    still = active_now[fires]
    out["birthday_75"] = ages.late_elderly_start(out["birth_date"])
    out["latest_loss_date"] = latest[fires]
    out["age"] = ages.age_on(out["birth_date"], as_of)
    out["state_ja"] = np.where(still, "有効のまま", "喪失日が遅い（" + out["loss_date"].dt.strftime("%Y-%m-%d").fillna("") + "）")
    out["state_en"] = np.where(still, "still active", "lost too late (" + out["loss_date"].dt.strftime("%Y-%m-%d").fillna("") + ")")
    out["severity"] = np.where(still, "high", "medium")
    out["as_of"] = as_of
    out["facts"] = out["birthday_75"].dt.strftime("%Y-%m-%d") + "|" + np.where(still, "active", "late")
    return out.rename(columns={"_line": "line"})


_NOT_ENDED = pd.Timestamp("2262-04-11")  # stands for an open qualification in interval arithmetic
LEGAL_OVERLAP_DAYS = 1  # 国保 → 被用者保険, 国保 → 後期: lost the day after the other starts


def _per_unique(values: pd.Series, key) -> pd.Series:
    """``key`` once per distinct non-missing value (empty keys count as missing)."""
    codes, uniques = pd.factorize(values)
    keyed = np.array([key(u) or None for u in uniques.tolist()] + [None], dtype=object)
    return pd.Series(keyed[codes], index=values.index, dtype="string")


def _registry_lookalikes(pairs: pd.DataFrame, residents: pd.DataFrame) -> np.ndarray:
    """Per pair: the registry holds two or more residents with the record's birth date, sex and name.

    Then the records may be two persons (twins given one name, a same-name stranger) whose
    numbers were mixed up: one number on both is the mis-link family's, not proof of one person.
    Only residents born on the pairs' birth dates are keyed (a few, even on 1M-member feeds).
    """
    from matchers.normalise import kana_key, kanji_key

    births = pd.Index(pairs["birth_date"].dropna().unique())
    near = residents.loc[residents["birth_date"].isin(births).to_numpy(bool), ["birth_date", "sex", "name_kanji", "name_kana"]]
    if near.empty:
        return np.zeros(len(pairs), dtype=bool)
    near = near.assign(kanji_key=_per_unique(near["name_kanji"], kanji_key), kana_key=_per_unique(near["name_kana"], kana_key))
    flags = np.zeros(len(pairs), dtype=bool)
    for key in ("kanji_key", "kana_key"):
        counts = near.dropna(subset=[key]).groupby(["birth_date", "sex", key], observed=True).size().rename("n").reset_index()
        looked = pairs[["birth_date", "sex", key]].astype({"sex": near["sex"].dtype}).merge(
            counts, on=["birth_date", "sex", key], how="left")
        flags |= (looked["n"].fillna(0).to_numpy() >= 2)
    return flags


def _shared_key(members: pd.DataFrame, usable: np.ndarray) -> np.ndarray:
    """Positions of the usable members whose (last four, birth date, sex) another usable member
    has too — ``frame.duplicated(keep=False)`` of those three columns, in member order (a missing
    sex is one value, as there)."""
    rows = np.flatnonzero(usable)
    if len(rows) == 0:
        return rows
    # Coded on the whole columns (no copy of the usable rows first); codes are only compared.
    last4 = pd.factorize(members["number_last4"])[0].astype(np.int64)[rows]
    birth = pd.factorize(members["birth_date"])[0].astype(np.int64)[rows]
    sex = pd.factorize(members["sex"], use_na_sentinel=False)[0].astype(np.int64)[rows]
    key = (last4 * (int(birth.max()) + 1) + birth) * (int(sex.max()) + 1) + sex
    return rows[pd.Series(key).duplicated(keep=False).to_numpy(bool)]


def same_person_pairs(members: pd.DataFrame, member_resident: pd.DataFrame | None = None,
                      residents: pd.DataFrame | None = None) -> pd.DataFrame:
    """Pairs of member records (both orders) that are the same person holding one number.

    Same person = the same individual number — equal keyed hash, or, where a record carries
    only the last four digits (domain brief §2a), equal last four — with the same birth date,
    sex and name (kana, kanji or alphabet name equal after the matcher's notation keys:
    width, spacing, variant kanji, small kana). Twins share birth date and sex but not the
    given name: a number on the wrong twin is a mis-link, never an overlap. Records of one
    person in two insurers of one feed are paired too.

    With ``member_resident`` (the one provider of the member's resident) both records must
    also be the same resident and neither a suspected mis-link: a stranger with the same name
    and birth date on the number is NUMBER_SHARED / MISLINK_SUSPECTED, not an overlap (§1).
    With ``residents``, a pair is not one person either when the registry holds two residents
    with that birth date, sex and name (twins given one name, a same-name stranger): the
    numbers may be mixed up, which is the mis-link family's to say.
    """
    from matchers.normalise import alpha_tokens, kana_key, kanji_key

    cols = [*KEY, "number_hash", "number_last4", "birth_date", "sex", "insurer_type", "acquisition_date", "loss_date",
            "name_kanji", "name_kana", "name_alpha", "_line"]
    usable = (members["number_last4"].notna() & members["birth_date"].notna()).to_numpy(bool)
    # Records sharing last four, birth date and sex (few), found on integer codes; only those
    # rows are copied (copying every usable member's 14 columns first was most of the cost).
    shared = _shared_key(members, usable)
    dup = members[cols].iloc[shared].assign(_pos=shared)
    if dup.empty:
        return dup.assign(**{f"{c}_other": dup[c] for c in cols})
    dup["kanji_key"] = _per_unique(dup["name_kanji"], kanji_key)
    dup["kana_key"] = _per_unique(dup["name_kana"], kana_key)
    dup["alpha_key"] = _per_unique(dup["name_alpha"], lambda t: " ".join(sorted(alpha_tokens(t))))
    pairs = dup.merge(dup, on=["number_last4", "birth_date", "sex"], suffixes=("", "_other"))
    pairs["number_last4_other"] = pairs["number_last4"]
    pairs["birth_date_other"] = pairs["birth_date"]
    pairs["sex_other"] = pairs["sex"]
    itself = ((pairs["insurer_number"] == pairs["insurer_number_other"])
              & (pairs["member_id"] == pairs["member_id_other"])).fillna(False).to_numpy(bool)

    def equal(column: str) -> np.ndarray:
        left, right = pairs[column].astype("string"), pairs[f"{column}_other"].astype("string")
        return (left == right).fillna(False).to_numpy(bool)

    both_full = (pairs["number_hash"].notna() & pairs["number_hash_other"].notna()).to_numpy(bool)
    same_number = ~both_full | equal("number_hash")
    same_name = equal("kana_key") | equal("kanji_key") | equal("alpha_key")
    keep = ~itself & same_number & same_name
    if member_resident is not None and len(member_resident) == len(members):
        resident = member_resident["resident_pos"].to_numpy(np.int64)
        suspected = member_resident["mislink_suspected"].to_numpy(dtype=bool, na_value=False)
        a, b = pairs["_pos"].to_numpy(np.int64), pairs["_pos_other"].to_numpy(np.int64)
        keep &= (resident[a] == resident[b]) & ~suspected[a] & ~suspected[b]
    if residents is not None and keep.any():
        keep[keep] = ~_registry_lookalikes(pairs.loc[keep], residents)
    return pairs.loc[keep].reset_index(drop=True)


@rule("QUAL_OVERLAP", category="qualification_date", severity="high", requires=("members", "residents"),
      summary_ja="同じ人（個人番号 下4桁 {number_last4}）の資格が {overlap_from} から重複しています（相手: {other_members}）。古い資格の喪失漏れの可能性",
      summary_en="The same person (number last four {number_last4}) holds overlapping qualifications from {overlap_from} (other: {other_members}); an old qualification may have been left valid")
def qual_overlap(members: pd.DataFrame, residents: pd.DataFrame, member_resident: pd.DataFrame,
                 as_of: pd.Timestamp) -> pd.DataFrame:
    """同一人の資格期間が重複している / The same person holds overlapping qualifications.

    Same person: see :func:`same_person_pairs` (one number, same birth date, sex and name, the
    same resident, no suspected mis-link and no look-alike in the registry; a number on
    different persons is NUMBER_SHARED, a number on the wrong twin MISLINK_SUSPECTED). The typical case is an old qualification left valid, so that one
    number carries two members, possibly in two insurers of one feed. The legal one-day
    overlaps (国保 → 被用者保険, 国保 → 後期) are accepted; any other common day is an anomaly.
    High when both are active on ``as_of``.
    """
    pairs = same_person_pairs(members, member_resident, residents)
    if pairs.empty:
        return pairs.iloc[:, :0].assign(insurer_number=pd.Series(dtype="string"), member_id=pd.Series(dtype="string"))
    start = np.maximum(pairs["acquisition_date"].fillna(pd.Timestamp.min).to_numpy(),
                       pairs["acquisition_date_other"].fillna(pd.Timestamp.min).to_numpy())
    end = np.minimum(pairs["loss_date"].fillna(_NOT_ENDED).to_numpy(), pairs["loss_date_other"].fillna(_NOT_ENDED).to_numpy())
    days = (end - start) / np.timedelta64(1, "D")
    kind = pairs["insurer_type"].fillna("kokuho")
    other_kind = pairs["insurer_type_other"].fillna("kokuho")
    kokuho_pair = ((kind.isin(["kokuho", "kumiai"]) & other_kind.isin(["employee", "kouki"]))
                   | (other_kind.isin(["kokuho", "kumiai"]) & kind.isin(["employee", "kouki"]))).to_numpy(bool)
    allowed = np.where(kokuho_pair, LEGAL_OVERLAP_DAYS, 0)
    overlap = pairs.loc[days > allowed].copy()
    if overlap.empty:
        return overlap
    overlap["overlap_from"] = start[days > allowed]
    overlap["overlap_to"] = pd.Series(end[days > allowed], index=overlap.index).where(
        lambda s: s != _NOT_ENDED) - pd.Timedelta(days=1)
    both_active = (ages.active_on(overlap["acquisition_date"], overlap["loss_date"], as_of)
                   & ages.active_on(overlap["acquisition_date_other"], overlap["loss_date_other"], as_of))
    overlap["other_ref"] = overlap["insurer_number_other"] + ":" + overlap["member_id_other"]
    overlap["both_active"] = both_active
    per_member = overlap.sort_values("other_ref").groupby(KEY, sort=False).agg(
        number_last4=("number_last4", "first"), birth_date=("birth_date", "first"),
        acquisition_date=("acquisition_date", "first"), loss_date=("loss_date", "first"),
        line=("_line", "first"), other_members=("other_ref", ", ".join),
        overlap_from=("overlap_from", "min"), overlap_to=("overlap_to", "max"),
        both_active=("both_active", "any"), overlaps=("other_ref", "size")).reset_index()
    per_member["severity"] = np.where(per_member["both_active"].to_numpy(bool), "high", "medium")
    per_member["as_of"] = as_of
    per_member["facts"] = per_member["other_members"]
    return per_member
