"""Small feeds written in tmp_path by the tests themselves (raw CSV text, any encoding)."""
from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

KEY = b"test-key-not-secret"

MEMBER_HEADER = ["insurer_number", "member_id", "name_kanji", "name_kana", "birth_date", "sex",
                 "individual_number", "acquisition_date", "burden_ratio", "limit_category"]
# 123456789018 has a valid check digit (domain brief §3); 123456789019 does not.
MEMBER_ROW = ["131016", "M1", "山田 太郎", "ヤマダ タロウ", "1980-05-10", "1", "123456789018", "2020-04-01", "30", "U"]
RESIDENT_HEADER = ["resident_id", "individual_number", "name_kanji", "birth_date", "sex", "status"]
RESIDENT_ROW = ["R1", "123456789018", "山田 太郎", "1980-05-10", "1", "active"]


def csv_text(header: list[str], rows: list[list[str]], newline: str = "\n") -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator=newline)
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue()


@pytest.fixture
def write_feed(tmp_path: Path):
    """write_feed(members=(header, rows) | raw text, residents=..., encoding=..., manifest=...) → dir."""

    def write(*, encoding: str = "utf-8", manifest: dict | None = None, **files) -> Path:
        files.setdefault("members", (MEMBER_HEADER, [MEMBER_ROW]))
        files.setdefault("residents", (RESIDENT_HEADER, [RESIDENT_ROW]))
        for stem, content in files.items():
            if content is None:
                continue
            text = content if isinstance(content, str) else csv_text(*content)
            (tmp_path / f"{stem}.csv").write_bytes(text.encode(encoding))
        if manifest is not None:
            (tmp_path / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
        return tmp_path

    return write
