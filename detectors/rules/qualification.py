"""資格取得日・資格喪失日 / qualification-date rules."""
from __future__ import annotations

import pandas as pd

from detectors.registry import rule
from detectors.schema import KEY


@rule("QUAL_DATE_INVALID", category="qualification_date", severity="high", requires=("members",),
      summary_ja="ありえない日付: {problems_ja}",
      summary_en="Impossible dates: {problems_en}")
def qual_date_invalid(members: pd.DataFrame, as_of: pd.Timestamp) -> pd.DataFrame:
    """取得日が生年月日より前、喪失日が取得日より前、基準日より後の日付 / Impossible qualification dates."""
    checks = [
        (members["acquisition_date"] < members["birth_date"],
         "資格取得日が生年月日より前", "acquisition before birth", "acquisition_before_birth"),
        (members["loss_date"] < members["acquisition_date"],
         "資格喪失日が資格取得日より前", "loss before acquisition", "loss_before_acquisition"),
        (members["birth_date"] > as_of, "生年月日が基準日より後", "birth date after as_of", "birth_after_as_of"),
        (members["acquisition_date"] > as_of,
         "資格取得日が基準日より後", "acquisition after as_of", "acquisition_after_as_of"),
        (members["loss_date"] > as_of, "資格喪失日が基準日より後", "loss after as_of", "loss_after_as_of"),
        (members["card_issue_date"] > as_of, "交付日が基準日より後", "card issue date after as_of", "issue_after_as_of"),
    ]
    masks = pd.DataFrame({code: mask.fillna(False).astype(bool) for mask, _, _, code in checks})
    failing = masks.any(axis=1)
    if not failing.any():
        return members.iloc[0:0]
    out = members.loc[failing, [*KEY, "birth_date", "acquisition_date", "loss_date", "card_issue_date", "_line"]].copy()
    sub = masks.loc[failing]
    out["reason_codes"] = [[c for c in sub.columns if row[c]] for _, row in sub.iterrows()]
    ja = {code: text for _, text, _, code in checks}
    en = {code: text for _, _, text, code in checks}
    out["problems_ja"] = ["、".join(ja[c] for c in codes) for codes in out["reason_codes"]]
    out["problems_en"] = ["; ".join(en[c] for c in codes) for codes in out["reason_codes"]]
    out["facts"] = [",".join(codes) for codes in out["reason_codes"]]
    out["as_of"] = as_of
    return out.rename(columns={"_line": "line"})
