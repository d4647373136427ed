"""書き出し / the feed writer: value notations the contract accepts, CSV bytes, encodings."""
from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest

from reconcile.feeds.values import parse_date
from reconcile.synth.writer import (DATE_STYLES, choose_encoding, csv_bytes, format_dates, format_limit,
                                    format_numbers, format_ratio, _write_csv)


@pytest.mark.parametrize("case", [
    {"date": "1970-03-12", "style": "wareki_letter", "text": "S45.03.12"},
    {"date": "1970-03-12", "style": "wareki_kanji", "text": "昭和45年3月12日"},
    {"date": "1989-01-07", "style": "wareki_letter", "text": "S64.01.07"},
    {"date": "1989-01-08", "style": "wareki_short", "text": "H1/1/8"},
    {"date": "2019-04-30", "style": "wareki_kanji", "text": "平成31年4月30日"},
    {"date": "2019-05-01", "style": "wareki_kanji", "text": "令和元年5月1日"},
    {"date": "2024-04-01", "style": "wareki_letter", "text": "R06.04.01"},
    {"date": "1926-12-24", "style": "wareki_kanji", "text": "大正15年12月24日"},
    {"date": "2026-11-01", "style": "slash", "text": "2026/11/01"},
    {"date": "2026-11-01", "style": "compact", "text": "20261101"},
    {"date": None, "style": "wareki_kanji", "text": ""},
])
def test_date_notations(case):
    values = pd.Series(pd.to_datetime([case["date"]]))
    assert [case["text"]] == format_dates(values, case["style"]).tolist()


@pytest.mark.parametrize("style", DATE_STYLES)
def test_every_date_style_reads_back_through_the_feed_reader(style):
    days = pd.Series(pd.date_range("1925-01-01", "2027-12-31", freq="13D"))
    written = format_dates(days, style)
    parsed = [parse_date(text) for text in written]
    assert [d.date() for d in days] == parsed


def test_value_notations():
    assert ["3割", "2割"] == format_ratio(pd.Series([30, 20]), "wari").tolist()
    assert ["ア", "現役並みⅢ", "B06", ""] == [
        *format_limit(pd.Series(["A", "G3"]), "label"), *format_limit(pd.Series(["L1", None]), "oqs")]


def test_number_formats_keep_the_digits():
    rng = np.random.default_rng(0)
    numbers = pd.Series(["123456789018"] * 300 + [None])
    out = format_numbers(rng, numbers, fullwidth=0.3, hyphen=0.3, space=0.3)
    import unicodedata
    digits = {unicodedata.normalize("NFKC", v).replace("-", "").replace(" ", "") for v in out[:-1]}
    assert {"123456789018"} == digits
    assert {"1234-5678-9018", "1234 5678 9018", "１２３４５６７８９０１８"} <= set(out)
    assert "" == out.iloc[-1]


def test_csv_bytes_quote_text_and_read_back():
    frame = pd.DataFrame({"name": ["山田 太郎", "a,b", None, 'say "hi"'], "n": ["1", "", "3", "4"]})
    data = csv_bytes(frame, eol="\r\n")
    assert data.startswith('"name","n"\r\n"山田 太郎","1"\r\n"a,b",""\r\n,"3"\r\n'.encode("utf-8"))
    back = pd.read_csv(io.BytesIO(data), dtype=str, keep_default_na=False)
    assert ["山田 太郎", "a,b", "", 'say "hi"'] == back["name"].tolist()


@pytest.mark.parametrize("case", [
    {"description": "plain text fits CP932", "text": "髙橋 﨑 ①", "prefer": True, "encoding": "cp932"},
    {"description": "𠮷 is outside CP932", "text": "𠮷田 太郎", "prefer": True, "encoding": "utf-8-sig"},
    {"description": "a variation selector is outside CP932", "text": "葛\U000E0100城", "prefer": True,
     "encoding": "utf-8-sig"},
    {"description": "not preferred", "text": "山田", "prefer": False, "encoding": "utf-8-sig"},
])
def test_cp932_only_when_the_text_round_trips(case):
    assert case["encoding"] == choose_encoding(case["text"], case["prefer"]), case["description"]


def test_written_cp932_file_decodes_to_the_same_text(tmp_path):
    frame = pd.DataFrame({"name_kanji": ["髙橋 一郎", "渡邉 花子"], "limit_category": ["現役並みⅢ", "ア"]})
    assert "cp932" == _write_csv(frame, tmp_path / "a.csv", prefer_cp932=True)
    back = pd.read_csv(tmp_path / "a.csv", dtype=str, encoding="cp932")
    pd.testing.assert_frame_equal(frame, back, check_dtype=False)
    frame.loc[0, "name_kanji"] = "𠮷田 一郎"
    assert "utf-8-sig" == _write_csv(frame, tmp_path / "b.csv", prefer_cp932=True)
    assert (tmp_path / "b.csv").read_bytes().startswith(b"\xef\xbb\xbf")
