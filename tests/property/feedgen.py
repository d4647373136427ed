"""Hypothesis strategies for hostile feeds: rows written as raw CSV lines with known physical
line numbers, each either intact or damaged in one known way (issue #8, property tests)."""
from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field

from hypothesis import strategies as st

from reports.guard import NUMBER_SEPARATORS

MEMBER_HEADER = ["insurer_number", "member_id", "name_kanji", "name_kana", "birth_date", "sex",
                 "individual_number", "acquisition_date", "burden_ratio", "limit_category", "loss_reason",
                 "insurer_type", "address", "memo"]
GOOD = {"insurer_number": "131016", "name_kanji": "山田 太郎", "name_kana": "ヤマダ タロウ", "birth_date": "1980-05-10",
        "sex": "1", "individual_number": "123456789018", "acquisition_date": "2020-04-01", "burden_ratio": "30",
        "limit_category": "U", "loss_reason": "", "insurer_type": "", "address": "東京都千代田区1-2-3", "memo": "メモ"}
RESIDENT_HEADER = ["resident_id", "individual_number", "name_kanji", "birth_date", "sex", "status", "status_date"]
RESIDENT_ROW = ["R1", "123456789018", "山田 太郎", "1980-05-10", "1", "active", ""]

# Columns where a number spelling or garbage can never pass (a date, a code): the row must be
# quarantined with its line.
STRICT_COLUMNS = ["birth_date", "sex", "acquisition_date", "burden_ratio"]
# Plain text fields a stray quote can be put into (no comma, no quote of their own).
PLAIN_COLUMNS = ["name_kanji", "name_kana", "member_id"]

DIGITS = "0123456789０１２３４５６７８９"
ALPHABET = DIGITS + "".join(NUMBER_SEPARATORS) + "－ー_/,\"'年月日山田タロウｱｲｳabcXYZ=+@\t\x00\x1b\x7f\u200b\u3000\n"


def number_spelling(draw) -> str:
    """Twelve digits (ASCII or full-width) split by random runs of the definition's separators."""
    digits = draw(st.lists(st.sampled_from(DIGITS), min_size=12, max_size=12))
    out = [digits[0]]
    for digit in digits[1:]:
        out.append(draw(st.text(alphabet="".join(NUMBER_SEPARATORS), max_size=2)))
        out.append(digit)
    return "".join(out)


@st.composite
def hostile_values(draw) -> str:
    choice = draw(st.integers(0, 3))
    if choice == 0:
        return number_spelling(draw)
    if choice == 1:
        prefix = draw(st.text(alphabet="番号メモ abc", max_size=4))
        return prefix + number_spelling(draw) + draw(st.text(alphabet="です。x", max_size=3))
    if choice == 2:
        return draw(st.sampled_from(["1999-02-30", "昭和64年1月8日", "ZZ", "", "　", "=1+1", "\x00", "a\x00b",
                                     "明治45年7月30日", "1234567890123", "12345678901", "4555–0645–6069"]))
    return draw(st.text(alphabet=ALPHABET, min_size=1, max_size=20))


@dataclass
class Row:
    kind: str                  # ok | value | strict | extra | missing | stray_mid | stray_open | blank
    line: int = 0              # physical line of the record (header = 1)
    member_id: str = ""
    text: str = ""             # the record as written (may span lines)
    column: str | None = None
    value: str | None = None


@dataclass
class MembersFile:
    rows: list[Row] = field(default_factory=list)
    text: str = ""

    def lines_of(self, *kinds: str) -> list[int]:
        return [r.line for r in self.rows if r.kind in kinds]

    @property
    def data_lines(self) -> list[int]:
        return [r.line for r in self.rows if r.kind != "blank"]


def _csv_line(values: list[str]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow(values)  # "\n" so that values holding one are quoted
    return buffer.getvalue()[:-1]


@st.composite
def members_files(draw, min_rows: int = 1, max_rows: int = 12, newline: str = "\n") -> MembersFile:
    kinds = draw(st.lists(st.sampled_from(["ok", "ok", "value", "strict", "extra", "missing", "stray_mid",
                                           "stray_open", "blank"]), min_size=min_rows, max_size=max_rows))
    out = MembersFile()
    lines = [",".join(MEMBER_HEADER)]
    line = 2
    for index, kind in enumerate(kinds):
        row = Row(kind=kind, line=line, member_id=f"M{index}")
        values = {**GOOD, "member_id": row.member_id}
        if kind == "blank":
            row.text = ""
        else:
            if kind == "value":
                row.column = draw(st.sampled_from([c for c in MEMBER_HEADER if c != "member_id"]))
                row.value = draw(hostile_values())
                values[row.column] = row.value
            elif kind == "strict":
                row.column = draw(st.sampled_from(STRICT_COLUMNS))
                # never a date nor a code, in any encoding: twelve digits, or plain garbage
                row.value = draw(st.one_of(st.builds(lambda: None).map(lambda _: "ZZ"),
                                           st.composite(lambda d: number_spelling(d))()))
                values[row.column] = row.value
            fields = [values[c] for c in MEMBER_HEADER]
            text = _csv_line(fields)
            if kind == "extra":
                text += ",extra"
            elif kind == "missing":
                text = _csv_line(fields[:-1])
            elif kind in ("stray_mid", "stray_open"):
                column = draw(st.sampled_from(PLAIN_COLUMNS))
                position = MEMBER_HEADER.index(column)
                plain = fields[position]
                if kind == "stray_mid":
                    cut = draw(st.integers(1, len(plain) - 1)) if len(plain) > 1 else 1
                    fields[position] = plain[:cut] + '"' + plain[cut:] + ("x" if cut >= len(plain) else "")
                else:
                    fields[position] = '"' + plain
                text = ",".join(fields)  # raw: the stray quote must stay unescaped
            row.text = text
        lines.append(row.text)
        out.rows.append(row)
        line += 1 + row.text.count("\n")
    out.text = ("\n".join(lines) + "\n").replace("\n", newline)
    return out


def encode(text: str, encoding: str) -> bytes:
    """Bytes of ``text`` in one of the feed encodings (characters CP932 lacks become '?')."""
    if encoding == "utf-8-sig":
        return b"\xef\xbb\xbf" + text.encode("utf-8")
    if encoding == "bom+cp932":
        return b"\xef\xbb\xbf" + text.encode("cp932", errors="replace")
    return text.encode(encoding, errors="replace")


def residents_text() -> str:
    return ",".join(RESIDENT_HEADER) + "\n" + ",".join(RESIDENT_ROW) + "\n"
