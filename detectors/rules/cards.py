"""資格確認書 / card-issuance rule: 職権交付 targets with no 資格確認書 (domain brief §8).

Who is a target and when a 資格確認書 counts is decided in :mod:`detectors.kakuninsho`, which
also builds the issuance list of ``reconcile export kakuninsho``; this rule reports the same
members as findings.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from detectors.kakuninsho import DEFAULT_VALIDITY_YEARS, TRIGGERS, kakuninsho_targets
from detectors.alignment import positions
from detectors.registry import Param, provider, rule, setting
from detectors.schema import KEY


@provider("card_position")
def card_position(members: pd.DataFrame, card_status: pd.DataFrame) -> np.ndarray:
    """Each member's row in the card-status file (−1 when absent)."""
    return positions(members, card_status, KEY, keep="last")


@rule("KAKUNINSHO_NOT_ISSUED", category="card_issuance", severity="high", requires=("members", "card_status"),
      summary_ja="資格確認書の職権交付対象（{reasons_ja}）ですが、{issued_ja}（状況一覧は {status_as_of} 時点）",
      summary_en="A 資格確認書 ex officio target ({reasons_en}) {issued_en} (status file as of {status_as_of})",
      params=(Param("kakuninsho_validity_years", int, DEFAULT_VALIDITY_YEARS,
                    "資格確認書の有効期間（年）: used when the feed gives no kakuninsho_valid_until"),))
def kakuninsho_not_issued(members: pd.DataFrame, card_status: pd.DataFrame, card_position: np.ndarray,
                          as_of: pd.Timestamp, settings: dict) -> pd.DataFrame:
    """資格確認書の職権交付対象なのに未交付 / A 資格確認書 ex officio target with none issued.

    Targets: not registered, registration cancelled (1, 2), certificate expired past the grace
    period, card returned, viewing restricted, a request on file (and every 後期 member until
    2026-07). A target holding a 資格確認書 valid on ``as_of`` needs nothing, whenever it was
    issued; one whose latest 資格確認書 has expired needs a new one (medium). Registration and
    certificate status are judged on the national file's own ``status_as_of``, which lags
    ``as_of``; the evidence says by how much.
    """
    years = setting(settings, "kakuninsho_validity_years")
    targets = kakuninsho_targets(members, card_status, as_of, card_position, validity_years=years)
    if targets.empty:
        return targets
    out = targets.loc[targets["needs_issue"]].copy()
    if out.empty:
        return out
    english = {name: en for name, (_, en) in TRIGGERS.items()}
    out["reasons_en"] = ["; ".join(english[r] for r in codes.split("|")) for codes in out["reasons"]]
    never = out["kakuninsho_issued_date"].isna().to_numpy(bool)
    issued_text = out["kakuninsho_issued_date"].dt.strftime("%Y-%m-%d").fillna("")
    until_text = out["valid_until"].dt.strftime("%Y-%m-%d").fillna("")
    never = never & out["valid_until"].isna().to_numpy(bool)
    shown_ja = issued_text.where(issued_text != "", "不明")
    shown_en = issued_text.where(issued_text != "", "unknown")
    out["issued_ja"] = np.where(never, "資格確認書が交付されていません",
                                "最新の資格確認書（交付日 " + shown_ja + "）は " + until_text + " で有効期限が切れています")
    out["issued_en"] = np.where(never, "has no 資格確認書",
                                "whose latest 資格確認書 (issued " + shown_en + ") expired on " + until_text)
    out["severity"] = np.where(never, "high", "medium")
    out["as_of"] = as_of
    out["status_lag_days"] = (as_of - out["status_as_of"]).dt.days.astype("Int64")
    out["status_note"] = ("登録状況は全国ファイルの基準日（status_as_of）時点で判定。全国ファイルは月末締めで最大2か月遅れ、"
                          "返納済みでも登録ありと表示されることがあります / registration status is judged as of the national "
                          "file's status_as_of, which lags as_of by up to two month-ends")
    evidence = [*KEY, "reasons", "reasons_ja", "reasons_en", "issued_ja", "issued_en", "trigger_date",
                "kakuninsho_issued_date", "valid_until", "validity_basis", "registered", "cancellation_code", "ecert_expiry_date", "card_returned_date",
                "self_info_restricted", "kakuninsho_requested", "status_as_of", "as_of", "status_lag_days",
                "status_note", "severity", "_line"]
    out["facts"] = out["reasons"] + "|" + issued_text + "|" + until_text
    return out[[*evidence, "facts"]].rename(columns={"_line": "line"})
