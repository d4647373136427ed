"""Files for Excel: BOM, CP932 replacements reported (count and lines), formula-like cells neutralised."""
from __future__ import annotations

import io

import pandas as pd

from reconcile.exports import neutralise_formulas, unencodable, write_frame_csv


def test_formula_like_text_cells_are_prefixed_and_numbers_left_alone():
    frame = pd.DataFrame({"text": ["=HYPERLINK(\"x\")", "+81 3", "-取消", "@SUM(A1)", "\tTAB", "\rCR", "田中", "-5",
                                   None],
                          "score": [-0.5, 1, 2, 3, 4, 5, 6, 7, 8]})
    out = neutralise_formulas(frame)
    assert out["text"].tolist()[:8] == ["'=HYPERLINK(\"x\")", "'+81 3", "'-取消", "'@SUM(A1)", "'\tTAB", "'\rCR",
                                        "田中", "-5"]
    assert pd.isna(out["text"].iloc[8])
    assert out["score"].tolist() == frame["score"].tolist()


def test_neutralise_false_writes_cells_as_they_are():
    buffer = io.BytesIO()
    write_frame_csv(pd.DataFrame({"a": ["=1+1"]}), buffer, neutralise=False)
    assert buffer.getvalue().decode("utf-8") == "a\n=1+1\n"


def test_bom_by_request_and_cp932_reports_every_replaced_character_with_lines():
    frame = pd.DataFrame({"name": ["𠮷田 花子", "渡邊 太郎", "葛\U000E0100城 一郎", "𠮷野 𠮷"], "n": [1, 2, 3, 4]})
    buffer = io.BytesIO()
    written = write_frame_csv(frame, buffer, encoding="utf-8-sig")
    assert buffer.getvalue().startswith(b"\xef\xbb\xbf") and written == 4 and written.replaced == ()

    buffer = io.BytesIO()
    written = write_frame_csv(frame, buffer, encoding="cp932")
    text = buffer.getvalue().decode("cp932")
    assert text.splitlines()[1:] == ["〓田 花子,1", "渡邊 太郎,2", "葛城 一郎,3", "〓野 〓,4"]
    by_char = {r.char: r for r in written.replaced}
    assert set(by_char) == {"𠮷", "\U000E0100"}
    assert (by_char["𠮷"].count, by_char["𠮷"].lines, by_char["𠮷"].replacement) == (3, (2, 5), "〓")
    assert (by_char["\U000E0100"].count, by_char["\U000E0100"].lines, by_char["\U000E0100"].replacement) == (1, (4,), "")
    assert "U+20BB7" in by_char["𠮷"].describe("ja") and "行: 2, 5" in by_char["𠮷"].describe("ja")
    assert unencodable(pd.DataFrame({"x": ["abc"]})) == []
