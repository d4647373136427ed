"""Report time: weeks and months are Japan-time calendar spans (報告の暦は日本時間)."""
from __future__ import annotations

import pandas as pd

REPORT_TZ = "Asia/Tokyo"


def local_times(values: pd.Series) -> pd.Series:
    """Timestamps as naive Japan time. Naive input is UTC, as the store hands it back from SQLite;
    aware input is converted; dates become midnight UTC, i.e. the same calendar day in Japan."""
    parsed = pd.to_datetime(values.astype("object"), errors="coerce", utc=True, format="mixed")
    return parsed.dt.tz_convert(REPORT_TZ).dt.tz_localize(None)
