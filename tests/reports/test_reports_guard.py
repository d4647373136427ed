"""The 12-digit guard: what it refuses, what it lets through, and that its own message leaks nothing."""
from __future__ import annotations

import pandas as pd
import pytest

from reports.guard import IndividualNumberLeak, assert_no_individual_number, find_individual_numbers, last4

REFUSED = [
    {"description": "bare 12 digits", "text": "123456789018"},
    {"description": "inside Japanese text", "text": "個人番号123456789018の住民"},
    {"description": "after letters", "text": "ID123456789018"},
    {"description": "full-width digits", "text": "番号１２３４５６７８９０１８"},
    {"description": "groups of four with spaces", "text": "1234 5678 9018"},
    {"description": "groups of four with hyphens", "text": "1234-5678-9018"},
    {"description": "longer run holding a number", "text": "12345678901801"},
    {"description": "in a CSV cell", "text": 'a,b\n"x",123456789018\n'},
    # issue #8 defect 1: every separator of the findings contract's definition, and runs of them
    {"description": "en dashes", "text": "4555–0645–6069"},
    {"description": "full stops", "text": "1479.1901.8314"},
    {"description": "two spaces", "text": "6542  5847  2870"},
    {"description": "ideographic spaces", "text": "4555　0645　6069"},
    {"description": "hyphen U+2010", "text": "4555‐0645‐6069"},
    {"description": "em dashes", "text": "4555—0645—6069"},
    {"description": "minus signs", "text": "4555−0645−6069"},
    {"description": "full-width hyphen-minus", "text": "４５５５－０６４５－６０６９"},
    {"description": "uneven groups", "text": "番号 45 550 6456 069 です"},
    {"description": "spaced hyphens", "text": "4555 - 0645 - 6069"},
]
ALLOWED = [
    {"description": "last four digits", "text": "下4桁 9018"},
    {"description": "insurer number", "text": "保険者番号 131016 / 01131016"},
    {"description": "eleven digits", "text": "12345678901"},
    {"description": "timestamp", "text": "2026-11-23 10:00:00"},
    {"description": "phone number", "text": "03-1234-5678"},
    {"description": "a week's date range", "text": "期間: 2026-11-23 – 2026-11-29"},
    {"description": "two phone numbers", "text": "03-1234-5678 090-1234-5678"},
    {"description": "insurer-qualified 12-digit member id", "text": "相手: 122218:100000000101"},
    {"description": "JSON field naming a member id", "text": '{"partner_member_id": "100000000101", "p": 0.1}'},
    {"description": "JSON field naming a resident id", "text": '{"resident_id": "201000000001"}'},
    {"description": "base64 image with long digit runs",
     "text": '<img src="data:image/png;base64,iVBOR123456789012345678w0KGgo=">'},
]


@pytest.mark.parametrize("case", REFUSED, ids=[c["description"] for c in REFUSED])
def test_refused(case):
    with pytest.raises(IndividualNumberLeak, match="report.html"):
        assert_no_individual_number(case["text"], "report.html")


@pytest.mark.parametrize("case", ALLOWED, ids=[c["description"] for c in ALLOWED])
def test_allowed(case):
    assert find_individual_numbers(case["text"]) == []
    assert_no_individual_number(case["text"], "report.html")


def test_the_error_shows_only_the_last_four_digits():
    with pytest.raises(IndividualNumberLeak) as caught:
        assert_no_individual_number("a 123456789018 b 987654321098", "x.csv")
    message = str(caught.value)
    assert "123456789018" not in message and "987654321098" not in message
    assert "…9018" in message and "…1098" in message and "2 run(s)" in message


def test_last4_keeps_only_four_digits():
    values = pd.Series(["123456789018", "9018", "12-34", None, ""], dtype="string")
    assert last4(values).tolist() == ["9018", "9018", "1234", pd.NA, pd.NA]


def test_named_identifiers_pass_but_other_runs_are_still_refused():
    html = "<td>100000000101</td><td>個人番号 123456789018</td>"
    assert find_individual_numbers(html, identifiers={"100000000101"}) == ["…9018"]
    assert find_individual_numbers("<td>100000000101</td>", identifiers={"100000000101"}) == []
    # An identifier context does not shelter a number written next to it.
    assert find_individual_numbers('{"member_id": "M1"} 123456789018') == ["…9018"]
    assert find_individual_numbers("122218:M1 123456789018") == ["…9018"]
