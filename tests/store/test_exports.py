"""CSV出力 / Findings and quarantine CSV: exact columns, CP932 with 〓, and the full-number guard."""
from __future__ import annotations

import io
import json

import pandas as pd
import pytest

from reconcile.exports import (FINDINGS_EXPORT_COLUMNS, QUARANTINE_EXPORT_COLUMNS, PrivacyLeak,
                               write_findings_csv, write_frame_csv, write_quarantine_csv)

HEADER = ("finding_id,scan_id,insurer_number,member_id,rule_id,category,severity,score,summary,evidence,"
          "suggested_resident_id,suggested_individual_number_last4,queue,status,first_seen_scan,last_seen_scan")


def export_row(**overrides):
    row = {"finding_id": "0123456789abcdef01234567", "scan_id": 3, "insurer_number": "131016",
           "member_id": "M1", "rule_id": "NOTATION_DIFFERENCE", "category": "notation", "severity": "low",
           "score": 0.9, "summary": "氏名の表記が異なります（𠮷田 / 吉田）",
           "evidence": json.dumps({"name_kanji": ["𠮷田 花子", "吉田 花子"], "reasons": ["variant_kanji"]},
                                  ensure_ascii=False),
           "suggested_resident_id": None, "suggested_individual_number_last4": "0018", "queue": "notation",
           "status": "open", "first_seen_scan": 1, "last_seen_scan": 3}
    return {**row, **overrides}


def frame(*rows):
    return pd.DataFrame(list(rows), columns=FINDINGS_EXPORT_COLUMNS).astype(
        {"scan_id": "Int64", "first_seen_scan": "Int64", "last_seen_scan": "Int64"})


def test_utf8_columns_exact_and_evidence_kept(tmp_path):
    out = tmp_path / "findings.csv"
    shuffled = frame(export_row())[list(reversed(FINDINGS_EXPORT_COLUMNS))]   # order is restored
    assert write_findings_csv(shuffled, out) == 1
    text = out.read_text(encoding="utf-8")
    assert text.splitlines()[0] == HEADER
    back = pd.read_csv(out, dtype=str, keep_default_na=False)
    assert list(back.columns) == FINDINGS_EXPORT_COLUMNS
    assert back.loc[0, "summary"] == "氏名の表記が異なります（𠮷田 / 吉田）"
    assert json.loads(back.loc[0, "evidence"])["name_kanji"] == ["𠮷田 花子", "吉田 花子"]
    assert back.loc[0, ["scan_id", "first_seen_scan", "suggested_resident_id"]].tolist() == ["3", "1", ""]


def test_cp932_replaces_what_it_cannot_hold_with_geta(tmp_path):
    out = tmp_path / "findings_sjis.csv"
    row = export_row(summary="𠮷田〜髙橋﨑 − テスト")
    write_findings_csv(frame(row), out, encoding="cp932")
    back = pd.read_csv(out, dtype=str, keep_default_na=False, encoding="cp932")
    # 𠮷 (outside CP932) → 〓; WAVE DASH and MINUS SIGN → their CP932 look-alikes; 髙 and 﨑 are
    # IBM extensions CP932 holds.
    assert back.loc[0, "summary"] == "〓田～髙橋﨑 － テスト"
    assert json.loads(back.loc[0, "evidence"])["name_kanji"] == ["〓田 花子", "吉田 花子"]


def test_binary_and_text_streams():
    buffer = io.BytesIO()
    write_findings_csv(frame(export_row()), buffer, encoding="cp932")
    assert buffer.getvalue().decode("cp932").startswith(HEADER)
    text = io.StringIO()
    write_findings_csv(frame(export_row()), text)
    assert text.getvalue().splitlines()[0] == HEADER


@pytest.mark.parametrize("column, value", [
    ("summary", "個人番号 123456789018 が重複"),
    ("evidence", json.dumps({"number": "123456789018"})),
    ("suggested_individual_number_last4", "123456789018"),
])
def test_full_number_refused_and_nothing_written(tmp_path, column, value):
    out = tmp_path / "leak.csv"
    with pytest.raises(PrivacyLeak, match=f"column '{column}'"):
        write_findings_csv(frame(export_row(), export_row(**{column: value})), out)
    assert not out.exists()


def test_identifier_columns_are_not_mistaken_for_numbers(tmp_path):
    # A 24-hex fingerprint can hold twelve decimal digits in a row; a member id may be numeric.
    row = export_row(finding_id="a123456789012b0000000000", member_id="000123456789")
    assert write_findings_csv(frame(row), tmp_path / "ok.csv") == 1


def test_missing_column_is_an_error(tmp_path):
    with pytest.raises(ValueError, match="lacks column"):
        write_findings_csv(frame(export_row()).drop(columns=["queue"]), tmp_path / "x.csv")
    with pytest.raises(ValueError, match="encoding 'latin-1'"):
        write_findings_csv(frame(export_row()), tmp_path / "x.csv", encoding="latin-1")


def test_quarantine_csv(tmp_path):
    out = tmp_path / "quarantine.csv"
    rows = pd.DataFrame({"reason": ["unparseable date"], "value": ["昭和99年1月1日"], "column": ["birth_date"],
                         "line": pd.array([12], dtype="Int64"), "file": ["members.csv"]})
    assert write_quarantine_csv(rows, out) == 1
    assert out.read_text(encoding="utf-8") == "file,line,column,value,reason\nmembers.csv,12,birth_date,昭和99年1月1日,unparseable date\n"
    leaked = rows.assign(value=["123456789018"])
    with pytest.raises(PrivacyLeak):
        write_quarantine_csv(leaked, tmp_path / "q2.csv")
    assert list(QUARANTINE_EXPORT_COLUMNS) == ["file", "line", "column", "value", "reason"]


def test_generic_writer_keeps_all_columns_and_guards(tmp_path):
    data = pd.DataFrame({"member_id": ["M1"], "name": ["山田 太郎"], "last4": ["9018"]})
    assert write_frame_csv(data, tmp_path / "k.csv", encoding="utf-8-sig", what="kakuninsho") == 1
    assert (tmp_path / "k.csv").read_bytes().startswith(b"\xef\xbb\xbfmember_id,name,last4\n")
    with pytest.raises(PrivacyLeak, match="column 'last4'"):
        write_frame_csv(data.assign(last4=["123456789018"]), tmp_path / "k2.csv", what="kakuninsho")
