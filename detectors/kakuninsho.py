"""資格確認書の職権交付 / ex officio issuance of the 資格確認書: who is a target, and the issuance list.

Domain brief §8. After 2024-12-02 no new paper cards are issued; members who cannot use the
My Number card for qualification checks get a 資格確認書 without applying (職権交付):

==============================  ===============================================================
trigger                         judged on
==============================  ===============================================================
not_registered                  ``registered`` = 0 in the national status file
registration_cancelled          初回登録解除区分 ``1`` (holder's request) or ``2`` (ex officio)
ecert_expired                   電子証明書 expired and the grace period over, on ``status_as_of``
card_returned                   カード返納日 on or before ``as_of`` (the insurer's own log)
self_info_restricted            DV-type viewing restriction
requested                       the holder asked for one (要配慮者 etc.)
kouki_everyone                  後期高齢者医療 sends one to everyone until 2026-07-31
==============================  ===============================================================

The national file (初回登録・有効期限状況一覧) shows status as of an earlier month-end, so the
registration and certificate triggers are judged on the file's own ``status_as_of``, never on
``as_of``. The electronic certificate: the card keeps working until the end of the 3rd month
after the expiry month, then the registration is cancelled ex officio (code 2). Inside that
window the member can still use the card, so they are **not yet** a target; once the window
is over on ``status_as_of`` they are.

A target who holds a 資格確認書 still valid on ``as_of`` needs nothing, whenever it was issued
(before the card was returned, before the certificate expired, for a trigger dated in the
future): the document proves the qualification by itself. Valid = ``kakuninsho_valid_until``
on or after ``as_of`` when the feed gives it, else issued within the insurer's validity
(setting ``kakuninsho_validity_years``, default 5, the legal maximum). A target whose latest
資格確認書 has expired needs a new one.

Members still holding a pre-2024-12-02 paper card need nothing until 2025-12-01 (the latest
expiry of those cards). Only members active on ``as_of`` and present in ``card_status`` are
judged. Full individual numbers never appear: the list carries the last four digits.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from detectors import ages
from detectors.alignment import positions
from detectors.schema import KEY

PAPER_CARDS_STOPPED = pd.Timestamp("2024-12-02")   # 健康保険証の新規発行停止
OLD_CARDS_LAST_VALID = pd.Timestamp("2025-12-01")  # 従来の保険証の有効期限（最長）
KOUKI_EVERYONE_UNTIL = pd.Timestamp("2026-07-31")  # 後期: 全員に資格確認書を交付する暫定運用
ECERT_GRACE_MONTHS = 3                             # 有効期限月の3か月後の月末まで利用可
DEFAULT_VALIDITY_YEARS = 5                         # 資格確認書の有効期間（法定上限5年）

TRIGGERS = {
    "not_registered": ("マイナ保険証の利用登録なし", "not registered for health-insurance use"),
    "registration_cancelled": ("利用登録の解除", "registration cancelled"),
    "ecert_expired": ("電子証明書の有効期限切れ（利用猶予期間経過）", "electronic certificate expired (grace period over)"),
    "card_returned": ("マイナンバーカード返納", "My Number card returned"),
    "self_info_restricted": ("自己情報の閲覧制限（DV等）", "viewing of own information restricted (DV etc.)"),
    "requested": ("資格確認書の交付申請（要配慮者等）", "the holder asked for one (needs care, etc.)"),
    "kouki_everyone": ("後期高齢者医療は2026年7月まで全員に交付", "late-elderly insurance issues one to everyone until July 2026"),
}

ISSUANCE_LIST_COLUMNS = [
    "insurer_number", "member_id", "household_id", "name_kanji", "name_kana", "birth_date", "sex", "address",
    "number_last4", "acquisition_date", "reasons", "reasons_ja", "trigger_date", "previous_kakuninsho_issued_date",
    "status_as_of",
]


def ecert_grace_end(expiry: pd.Series) -> pd.Series:
    """Last day the card still works after the certificate expired: end of the 3rd month after the expiry month."""
    days = expiry.to_numpy(dtype="datetime64[ns]").astype("datetime64[M]")
    end = (days + np.timedelta64(ECERT_GRACE_MONTHS + 1, "M")).astype("datetime64[D]") - np.timedelta64(1, "D")
    return pd.Series(end.astype("datetime64[ns]"), index=expiry.index)


def _flag(values: pd.Series) -> pd.Series:
    return values.astype("boolean").fillna(False).astype(bool)


def kakuninsho_valid_until(card_status: pd.DataFrame, validity_years: int = DEFAULT_VALIDITY_YEARS) -> pd.Series:
    """Last valid day of each row's latest 資格確認書 (NaT: none known).

    ``kakuninsho_valid_until`` when the feed gives it; otherwise the issue date plus the
    insurer's validity (``validity_years``, default 5 — the legal maximum) less one day.
    """
    given = card_status["kakuninsho_valid_until"] if "kakuninsho_valid_until" in card_status.columns else \
        pd.Series(pd.NaT, index=card_status.index, dtype="datetime64[ns]")
    issued = card_status["kakuninsho_issued_date"]
    derived = ages.add_years(issued, int(validity_years)) - pd.Timedelta(days=1)
    return given.where(given.notna(), derived)


#: card_status columns the triggers read.
TRIGGER_COLUMNS = ("registered", "cancellation_code", "ecert_expiry_date", "status_as_of", "card_returned_date",
                   "self_info_restricted", "kakuninsho_requested")


def kakuninsho_targets(members: pd.DataFrame, card_status: pd.DataFrame, as_of: pd.Timestamp,
                       card_position: np.ndarray | None = None,
                       validity_years: int = DEFAULT_VALIDITY_YEARS) -> pd.DataFrame:
    """Active members who are 職権交付 targets, with their triggers and whether they hold a valid 資格確認書.

    One row per target: the member columns, the ``card_status`` columns, one boolean column per
    trigger (``trigger_<name>``), ``reasons`` (codes joined by ``|``), ``reasons_ja``,
    ``trigger_date`` (latest dated trigger; NA when only undated ones hold; evidence only),
    ``valid_until`` (the latest 資格確認書's last valid day), ``validity_basis``
    (``valid_until`` given by the feed, or ``issued_plus_years``), ``issued`` (holds one
    valid on ``as_of``: it covers the member whenever it was issued, even before the trigger
    or for a trigger dated in the future) and ``needs_issue``. ``card_position`` (each
    member's row in ``card_status``, −1 none) is computed when not given.
    """
    as_of = pd.Timestamp(as_of).normalize()
    active = ages.active_on(members["acquisition_date"], members["loss_date"], as_of)
    cols = [*KEY, "insurer_type", "household_id", "name_kanji", "name_kana", "birth_date", "sex", "address",
            "number_last4", "acquisition_date", "_line"]
    if card_position is None:
        card_position = positions(members, card_status, KEY, keep="last")
    rows = np.flatnonzero(active.to_numpy(bool) & (card_position >= 0))
    status_columns = [c for c in card_status.columns if c not in cols and c != "_line"]
    if len(rows) == 0:
        frame = pd.concat([members[cols].iloc[rows].reset_index(drop=True),
                           card_status[status_columns].iloc[card_position[rows]].reset_index(drop=True)], axis=1)
        return frame.assign(reasons=pd.Series(dtype="string"), needs_issue=pd.Series(dtype=bool))
    # The triggers are judged on the few columns they read; only the targets' rows are built whole.
    status = card_status[[c for c in TRIGGER_COLUMNS if c in status_columns]].iloc[card_position[rows]].reset_index(drop=True)
    seen = status["status_as_of"]
    expiry = status["ecert_expiry_date"]
    cancel = status["cancellation_code"].astype("string")
    kind = members["insurer_type"].iloc[rows].reset_index(drop=True).fillna("kokuho")
    acquired = members["acquisition_date"].iloc[rows].reset_index(drop=True)
    triggers = pd.DataFrame({
        "not_registered": (status["registered"].astype("boolean") == False).fillna(False),  # noqa: E712
        "registration_cancelled": cancel.isin(["1", "2"]).fillna(False),
        # The national file lags: certificate expiry is judged on status_as_of, not as_of.
        "ecert_expired": (ecert_grace_end(expiry) < seen).fillna(False),
        "card_returned": (status["card_returned_date"] <= as_of).fillna(False),
        "self_info_restricted": _flag(status["self_info_restricted"]),
        "requested": _flag(status["kakuninsho_requested"]),
        "kouki_everyone": pd.Series((kind == "kouki").to_numpy(bool) & (as_of <= KOUKI_EVERYONE_UNTIL), index=status.index),
    }).astype(bool)
    # A pre-2024-12-02 paper card stays valid until 2025-12-01 at the latest.
    holds_old_card = ((acquired < PAPER_CARDS_STOPPED).fillna(False) & (as_of <= OLD_CARDS_LAST_VALID))
    any_trigger = (triggers.any(axis=1) & ~holds_old_card.astype(bool)).to_numpy(bool)
    targets = rows[any_trigger]
    frame = pd.concat([members[cols].iloc[targets].reset_index(drop=True),
                       card_status[status_columns].iloc[card_position[targets]].reset_index(drop=True)], axis=1)
    triggers = triggers.loc[any_trigger].reset_index(drop=True)
    expiry = frame["ecert_expiry_date"]
    cancel = frame["cancellation_code"].astype("string")
    dated = pd.DataFrame({
        "registration_cancelled": expiry.loc[frame.index].where(cancel.loc[frame.index] == "2"),
        "ecert_expired": expiry.loc[frame.index],
        "card_returned": frame["card_returned_date"],
    })
    for name in dated.columns:
        dated[name] = dated[name].where(triggers[name])
    trigger_date = dated.max(axis=1)
    valid_until = kakuninsho_valid_until(frame, validity_years)
    given = frame["kakuninsho_valid_until"].notna() if "kakuninsho_valid_until" in frame.columns else \
        pd.Series(False, index=frame.index)
    # A valid 資格確認書 proves the qualification by itself (domain brief §8), whenever it was issued.
    issued = (valid_until >= as_of).fillna(False).astype(bool)
    out = frame.copy()
    for name in TRIGGERS:
        out[f"trigger_{name}"] = triggers[name]
    names = np.array(list(TRIGGERS))
    labels = np.array([ja for ja, _ in TRIGGERS.values()])
    held = triggers[list(TRIGGERS)].to_numpy(bool)
    # Joined once per distinct combination of triggers (a handful), not per target.
    combination = held.astype(np.int64) @ (np.int64(1) << np.arange(len(names), dtype=np.int64))
    distinct, which = np.unique(combination, return_index=True)
    at = np.searchsorted(distinct, combination)
    out["reasons"] = np.array(["|".join(names[held[i]]) for i in which], dtype=object)[at].tolist()
    out["reasons_ja"] = np.array(["、".join(labels[held[i]]) for i in which], dtype=object)[at].tolist()
    out["trigger_date"] = trigger_date
    out["valid_until"] = valid_until
    out["validity_basis"] = np.where(given.to_numpy(bool), "kakuninsho_valid_until",
                                     np.where(valid_until.notna().to_numpy(bool), f"issued_plus_{int(validity_years)}_years",
                                              "none"))
    out["issued"] = issued
    out["needs_issue"] = ~issued
    return out.reset_index(drop=True)


def issuance_list(members: pd.DataFrame, card_status: pd.DataFrame, as_of: pd.Timestamp,
                  validity_years: int = DEFAULT_VALIDITY_YEARS) -> pd.DataFrame:
    """資格確認書 職権交付対象者一覧 / the list a municipality prints 資格確認書 from.

    Active targets holding no 資格確認書 valid on ``as_of``, sorted by insurer, household
    and member; columns :data:`ISSUANCE_LIST_COLUMNS` (last four digits only, never the number).
    """
    targets = kakuninsho_targets(members, card_status, as_of, validity_years=validity_years)
    if targets.empty:
        return pd.DataFrame(columns=ISSUANCE_LIST_COLUMNS)
    todo = targets.loc[targets["needs_issue"]].rename(
        columns={"kakuninsho_issued_date": "previous_kakuninsho_issued_date"})
    todo = todo.sort_values(["insurer_number", "household_id", "member_id"], na_position="last", ignore_index=True)
    return todo[ISSUANCE_LIST_COLUMNS]
