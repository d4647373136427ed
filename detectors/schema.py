"""Canonical frames — the shape every feed file has after ingest (取込後の正規形).

``reconcile.feeds`` reads the raw files of the feed contract and hands the rest of the
product these frames; matchers and detectors only ever see this shape.

Conventions
- Text columns are pandas ``string`` dtype, missing = ``<NA>``; names are *raw* (matchers
  normalise them), codes are normalised (sex 1/2, burden ratio 10/20/30, limit category codes).
- Dates are ``datetime64[ns]`` (``NaT`` = missing), whatever form the feed used (和暦 included).
- Individual numbers never appear: ingest replaces them with ``number_hash`` (HMAC of the
  12 digits) and ``number_last4``; ``number_status`` records what the full number was like.
- ``_line`` is the 1-based physical line of the source row (header = line 1), for evidence.
- Unknown columns of the feed are kept unchanged (passthrough) after these.
"""
from __future__ import annotations

KEY = ["insurer_number", "member_id"]

# number_status values (個人番号の状態)
NUMBER_VALID = "valid"            # 12 digits, check digit holds
NUMBER_BAD_CHECK = "bad_check"    # 12 digits, check digit fails
NUMBER_LAST4_ONLY = "last4_only"  # only the last four digits were delivered
NUMBER_MISSING = "missing"        # neither full number nor last four

STRING, DATE, INT, FLOAT, BOOL = "string", "date", "int", "float", "bool"

MEMBERS = {
    "insurer_number": STRING, "insurer_type": STRING, "member_id": STRING, "household_id": STRING,
    "name_kanji": STRING, "name_kana": STRING, "name_alpha": STRING,
    "birth_date": DATE, "sex": INT, "address": STRING,
    "number_hash": STRING, "number_last4": STRING, "number_status": STRING,
    "acquisition_date": DATE, "loss_date": DATE, "loss_reason": STRING, "card_issue_date": DATE,
    "burden_ratio": INT, "limit_category": STRING,
    "taxable_income": FLOAT, "kyu_tadashigaki_income": FLOAT, "resident_tax_exempt": BOOL,
    "_line": INT,
}

RESIDENTS = {
    "resident_id": STRING, "number_hash": STRING, "number_last4": STRING, "number_status": STRING,
    "name_kanji": STRING, "name_kana": STRING, "name_alpha": STRING, "alias_name": STRING,
    "former_surname": STRING, "birth_date": DATE, "sex": INT, "address": STRING,
    "municipality_code": STRING, "household_id": STRING, "status": STRING, "status_date": DATE,
    "moved_in_date": DATE, "_line": INT,
}

OQS = {
    "insurer_number": STRING, "member_id": STRING,
    "number_hash": STRING, "number_last4": STRING, "number_status": STRING,
    "name_kanji": STRING, "name_kana": STRING, "name_alpha": STRING,
    "birth_date": DATE, "sex": INT, "acquisition_date": DATE, "loss_date": DATE,
    "burden_ratio": INT, "limit_category": STRING, "_line": INT,
}

BENEFIT_HISTORY = {
    "source": STRING, "insurer_number": STRING, "member_id": STRING, "item": STRING,
    # burden_ratio values are "10"/"20"/"30", limit_category values are codes ("A", "G1", …)
    "value": STRING, "valid_from": DATE, "valid_to": DATE, "_line": INT,
}

CARD_STATUS = {
    "insurer_number": STRING, "member_id": STRING, "registered": BOOL, "registration_date": DATE,
    "cancellation_code": STRING, "ecert_expiry_date": DATE, "card_returned_date": DATE,
    "self_info_restricted": BOOL, "kakuninsho_requested": BOOL, "kakuninsho_issued_date": DATE,
    "kakuninsho_valid_until": DATE, "oshirase_issued_date": DATE, "status_as_of": DATE, "_line": INT,
}

FRAMES = {
    "members": MEMBERS,
    "residents": RESIDENTS,
    "oqs": OQS,
    "benefit_history": BENEFIT_HISTORY,
    "card_status": CARD_STATUS,
}


_DTYPES = {STRING: "string", DATE: "datetime64[ns]", INT: "Int64", FLOAT: "Float64", BOOL: "boolean"}


def coerce(kind: str, frame: "pd.DataFrame") -> "pd.DataFrame":
    """Cast ``frame`` to the canonical dtypes of ``kind``, adding absent columns as missing.

    Columns not in the schema are kept after the canonical ones (passthrough).
    """
    import pandas as pd

    schema = FRAMES[kind]
    out = {}
    for column, kind_of in schema.items():
        if column in frame.columns:
            values = frame[column]
            if kind_of == DATE:
                out[column] = pd.to_datetime(values, errors="raise").astype("datetime64[ns]")
            else:
                out[column] = values.astype(_DTYPES[kind_of])
        else:
            out[column] = pd.Series(pd.NA if kind_of != DATE else pd.NaT, index=frame.index,
                                    dtype=_DTYPES[kind_of])
    extra = [c for c in frame.columns if c not in schema]
    result = pd.DataFrame(out, index=frame.index)
    for column in extra:
        result[column] = frame[column]
    return result
