"""CSV meant for a spreadsheet (Excel on Japanese Windows): cells that must not run as formulas.

A text cell beginning with ``=``, ``+``, ``-``, ``@``, tab or CR would be taken by Excel for a
formula (CSV injection); it is written with a leading ``'`` so the spreadsheet shows it as text.
Numbers, and text that is just a number such as ``-5``, are left alone. Used by every CSV export
(:mod:`reconcile.exports`) and the weekly report's CSVs; files the product reads back
(``export labels``) are exempt.
"""
from __future__ import annotations

import pandas as pd

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_NUMBER_RE = r"^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$"


def neutralise_formulas(frame: pd.DataFrame) -> pd.DataFrame:
    """Prefix ``'`` to text cells beginning with ``=``, ``+``, ``-``, ``@``, tab or CR; numbers
    (numeric columns, and text that is just a number such as ``-5``) are left alone."""
    out = frame.copy()
    for column in out.columns:
        if pd.api.types.is_numeric_dtype(out[column].dtype) or pd.api.types.is_bool_dtype(out[column].dtype):
            continue
        text = out[column].astype("string")
        risky = text.str.startswith(FORMULA_START).fillna(False) & ~text.str.match(_NUMBER_RE).fillna(False)
        if risky.any():
            out[column] = out[column].astype("object")
            out.loc[risky, column] = "'" + text[risky].astype(str)
    return out


