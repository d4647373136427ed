"""行番号の計算と検証スイートの内容 / physical line numbers and the declared GX suites."""
from __future__ import annotations

import numpy as np

from reconcile.feeds import reader, spec, suites


def _read(path):
    source = reader.open_source(path)
    rows = [(frame, lines) for frame, lines in reader.batches(source)]
    frame = rows[0][0] if rows else None
    lines = np.concatenate([l for _, l in rows]).tolist() if rows else []
    return source, frame, lines


def test_lines_follow_quoted_newlines_escaped_quotes_blank_lines_and_a_missing_final_newline(tmp_path):
    path = tmp_path / "x.csv"
    path.write_bytes((
        'a,b\n'                               # 1
        '1,"say ""hi""\nthere"\n'             # 2-3 (escaped quotes, embedded newline)
        '\n'                                  # 4 blank
        '2,"x,y"\r\n'                         # 5 comma inside quotes, CRLF
        '3\n'                                 # 6 one field: malformed
        '4,"multi\n\nline"\n'                 # 7-9 blank line inside quotes is data
        '5,last'                              # 10 no final newline
    ).encode("utf-8"))
    source, frame, lines = _read(path)
    assert lines == [2, 5, 7, 10]
    assert frame["b"].tolist() == ['say "hi"\nthere', "x,y", "multi\n\nline", "last"]
    assert [(bad.line, bad.message) for bad in source.bad_rows] == [(6, "1 fields, expected 2")]


def test_header_only_file_has_no_rows(tmp_path):
    path = tmp_path / "x.csv"
    path.write_bytes(b"a,b\n")
    source, frame, lines = _read(path)
    assert source.raw_columns == ["a", "b"] and lines == []


def test_members_suite_declares_the_contract():
    columns = [c.name for c in spec.MEMBERS.columns] + [suites.NAME_PRESENT]
    suite = suites.build_suite(spec.MEMBERS, columns)
    declared = {(e.expectation_type, getattr(e, "column", None) or ",".join(getattr(e, "column_list", []) or []))
                for e in suite.expectations}
    assert {
        ("expect_column_values_to_not_be_null", "member_id"),
        ("expect_column_values_to_not_be_null", suites.NAME_PRESENT),
        ("expect_column_values_to_be_in_set", "sex"),
        ("expect_column_values_to_be_in_set", "burden_ratio"),
        ("expect_column_values_to_be_in_set", "limit_category"),
        ("expect_column_values_to_be_in_set", "insurer_type"),
        ("expect_column_values_to_be_in_set", "loss_reason"),
        ("expect_column_values_to_be_between", "birth_date"),
        ("expect_column_values_to_match_regex", "insurer_number"),
        ("expect_column_values_to_be_unique", suites.KEY_FINGERPRINT),
    } <= declared
    assert suite.name == "members_suite"


def test_every_feed_file_has_a_suite_with_its_value_sets():
    expected = {"residents": {"status", "sex"}, "oqs": {"sex", "burden_ratio", "limit_category"},
                "benefit_history": {"source", "item", "value"}, "card_status": {"cancellation_code"}}
    for feed_file in spec.FEED_FILES:
        columns = [c.name for c in feed_file.columns]
        in_set = {e.column for e in suites.build_suite(feed_file, columns).expectations
                  if e.expectation_type == "expect_column_values_to_be_in_set"}
        assert expected.get(feed_file.kind, set()) <= in_set, feed_file.kind


def test_a_row_with_a_wrong_field_count_in_a_later_block_gets_its_line(tmp_path, monkeypatch):
    # Fields are counted only once the parser skips a row; that row may lie in any block.
    monkeypatch.setattr(reader, "CSV_BLOCK", 1 << 10)
    lines = ['a,b'] + [f'"{i}","x{i}"' for i in range(1, 400)]
    lines[300] = '"300","x","extra"'
    path = tmp_path / "x.csv"
    path.write_bytes(("\n".join(lines) + "\n").encode("utf-8"))
    source = reader.open_source(path)
    assert not source.fields_counted
    rows = list(reader.batches(source))
    assert len(rows) > 1
    got = np.concatenate([l for _, l in rows]).tolist()
    assert got == [n for n in range(2, 401) if n != 301]
    assert [(bad.line, bad.message) for bad in source.bad_rows] == [(301, "3 fields, expected 2")]
    frame = rows[-1][0]
    assert frame["b"].iloc[-1] == "x399"
