"""load_feed: encodings, formats, columns, rejection, quarantine with exact lines, privacy."""
from __future__ import annotations

import json
import re

import pandas as pd
import pytest

from detectors.schema import MEMBERS, NUMBER_BAD_CHECK, NUMBER_VALID
from reconcile.feeds import Feed, FeedRejected, load_feed
from reconcile.privacy import keyed_hash

from .conftest import KEY, MEMBER_HEADER, MEMBER_ROW, RESIDENT_HEADER, RESIDENT_ROW, csv_text


def _quarantine(feed: Feed) -> list[tuple]:
    """(file, line, column, value, reason code) — the reason's first word is its code."""
    return [(row.file, row.line, row.column if not pd.isna(row.column) else None, row.value,
             row.reason.split(" ")[0]) for row in feed.quarantine.itertuples()]


def test_members_are_canonical_and_numbers_protected(write_feed):
    path = write_feed(members=(MEMBER_HEADER + ["insurer_type"], [
        ["131016", "M1", "山田 太郎", "ヤマダ タロウ", "昭和55年5月10日", "男", "1234-5678-9018", "R02.04.01", "3割", "ウ", ""],
    ]))
    feed = load_feed(path, key=KEY, as_of="2026-11-01")
    members = feed.frames["members"]
    assert list(members.columns) == list(MEMBERS)
    row = members.iloc[0]
    assert (row.insurer_number, row.insurer_type, row.member_id) == ("131016", "kokuho", "M1")
    assert row.birth_date == pd.Timestamp("1980-05-10")
    assert row.acquisition_date == pd.Timestamp("2020-04-01")
    assert (row.sex, row.burden_ratio, row.limit_category) == (1, 30, "U")
    assert (row.number_hash, row.number_last4, row.number_status) == (keyed_hash(KEY, "123456789018"), "9018", NUMBER_VALID)
    assert row._line == 2
    assert feed.frames["oqs"] is None and feed.frames["benefit_history"] is None and feed.frames["card_status"] is None
    assert feed.row_counts == {"members": 1, "residents": 1}
    assert len(feed.quarantine) == 0
    assert list(feed.quarantine.columns) == ["file", "line", "column", "value", "reason"]
    assert feed.as_of == pd.Timestamp("2026-11-01") and feed.period == "2026-11"


def test_cp932_file_is_detected_and_decoded(write_feed):
    # 髙 is an NEC/IBM extension: in CP932, not in plain Shift_JIS
    row = MEMBER_ROW.copy()
    row[2], row[3] = "髙橋 一郎", "ﾀｶﾊｼ ｲﾁﾛｳ"
    path = write_feed(members=(MEMBER_HEADER, [row]), encoding="cp932")
    feed = load_feed(path, key=KEY, as_of="2026-11-01")
    assert feed.validation["members"]["encoding"] == "cp932"
    assert feed.validation["residents"]["encoding"] == "cp932"
    assert feed.frames["members"]["name_kanji"].tolist() == ["髙橋 一郎"]
    assert feed.frames["members"]["name_kana"].tolist() == ["ﾀｶﾊｼ ｲﾁﾛｳ"]  # raw, never NFKC at ingest


def test_utf8_bom_header_is_read(write_feed):
    path = write_feed(members="\ufeff" + csv_text(MEMBER_HEADER, [MEMBER_ROW]))
    feed = load_feed(path, key=KEY, as_of="2026-11-01")
    assert feed.validation["members"]["encoding"] == "utf-8-sig"
    assert feed.frames["members"]["insurer_number"].tolist() == ["131016"]


def test_unknown_encoding_rejects_the_feed(write_feed, tmp_path):
    path = write_feed()
    (tmp_path / "residents.csv").write_bytes(
        csv_text(RESIDENT_HEADER, [["R1", "", "Zoë Müller", "1980-05-10", "2", "active"]]).encode("latin-1"))
    with pytest.raises(FeedRejected) as rejected:
        load_feed(path, key=KEY, as_of="2026-11-01")
    assert (rejected.value.file, rejected.value.column) == ("residents.csv", None)
    assert "文字コード" in rejected.value.message and "unknown encoding" in rejected.value.message


@pytest.mark.parametrize("kanji, kana", [
    # These two EUC-JP files decode without error as CP932 too (as ｻｳﾅﾄ ･茹ﾞ･ﾀ soup): the
    # reading must still be EUC-JP.
    ("渡辺 裕子", "タナベ ユウコ"),
    ("山田 太郎", "ヤマダ タロウ"),
    ("渡辺 裕子", "ワタナベ ユウコ"),  # this one decodes as Shift_JIS-2004 but not CP932
    ("齋藤 一郎", "サイトウ イチロウ"),
])
def test_euc_jp_is_read_as_euc_jp_even_where_cp932_also_decodes(write_feed, kanji, kana):
    row = MEMBER_ROW.copy()
    row[2], row[3] = kanji, kana
    path = write_feed(members=(MEMBER_HEADER, [row] * 1), residents=(RESIDENT_HEADER, [RESIDENT_ROW]), encoding="euc_jis_2004")
    if kana in ("タナベ ユウコ", "ヤマダ タロウ"):
        (path / "members.csv").read_bytes().decode("cp932")  # the ambiguity is real
    feed = load_feed(path, key=KEY, as_of="2026-11-01")
    assert feed.validation["members"]["encoding"] == "euc_jis_2004"
    assert feed.frames["members"]["name_kanji"].tolist() == [kanji]


def test_cp932_with_half_width_kana_stays_cp932(write_feed):
    row = MEMBER_ROW.copy()
    row[2], row[3] = "ﾔﾏﾀﾞ ﾀﾛｳ", "ﾔﾏﾀﾞ ﾀﾛｳ"
    path = write_feed(members=(MEMBER_HEADER, [row] * 2), residents=(RESIDENT_HEADER, [RESIDENT_ROW]), encoding="cp932")
    feed = load_feed(path, key=KEY, as_of="2026-11-01")
    assert feed.validation["members"]["encoding"] == "cp932"


def test_plausibility_prefers_the_japanese_reading():
    from reconcile.feeds.reader import _plausibility

    euc = "渡辺 裕子,ワタナベ ユウコ".encode("euc_jp")
    assert _plausibility(euc.decode("euc_jp")) > _plausibility(euc.decode("cp932", errors="ignore"))
    sjis = "ﾔﾏﾀﾞ ﾀﾛｳ".encode("cp932")
    assert _plausibility(sjis.decode("cp932")) == 0


def test_parquet_is_read_and_preferred_over_csv(write_feed, tmp_path):
    path = write_feed()
    members = pd.DataFrame({
        "Insurer_Number": ["131016"], "member_id": ["P1"], "name_kanji": ["佐藤 花子"], "name_kana": ["サトウ ハナコ"],
        "birth_date": pd.to_datetime(["1950-04-01"]), "sex": [2], "individual_number_last4": ["9018"],
        "acquisition_date": pd.to_datetime(["2020-04-01"]), "burden_ratio": [20], "taxable_income": [1450000.0],
        "note": ["kept"],
    })
    members.to_parquet(tmp_path / "members.parquet")
    feed = load_feed(path, key=KEY, as_of="2026-11-01")
    row = feed.frames["members"].iloc[0]
    assert (row.member_id, row.sex, row.burden_ratio, row.taxable_income) == ("P1", 2, 20, 1450000.0)
    assert row.birth_date == pd.Timestamp("1950-04-01")
    assert (row.number_hash, row.number_last4, row.number_status) == (pd.NA, "9018", "last4_only") or (
        pd.isna(row.number_hash) and row.number_last4 == "9018" and row.number_status == "last4_only")
    assert row.note == "kept" and row._line == 2
    assert feed.validation["members"]["format"] == "parquet"
    assert feed.validation["members"]["ignored"] == "members.csv"


def test_columns_case_insensitive_any_order_and_passthrough_kept(write_feed):
    header = ["Member_ID", "BRANCH_NOTE", "SEX", "birth_date", "name_kana", "Name_Kanji", "acquisition_date",
              "burden_ratio", "INSURER_NUMBER"]
    path = write_feed(members=(header, [["M9", "支所A", "女", "1980-05-10", "ヤマダ ハナコ", "山田 花子",
                                         "2020-04-01", "2", "131016"]]))
    feed = load_feed(path, key=KEY, as_of="2026-11-01")
    members = feed.frames["members"]
    assert members[["insurer_number", "member_id", "sex", "burden_ratio"]].iloc[0].tolist() == ["131016", "M9", 2, 20]
    assert members["BRANCH_NOTE"].tolist() == ["支所A"]
    assert list(members.columns)[-1] == "BRANCH_NOTE"
    assert members["number_status"].tolist() == ["missing"]
    assert members["insurer_type"].tolist() == ["kokuho"]  # the contract's default when the column is absent
    assert feed.validation["members"]["passthrough_columns"] == ["BRANCH_NOTE"]


def test_missing_required_column_rejects_naming_file_and_column(write_feed):
    header = [c for c in MEMBER_HEADER if c != "birth_date"]
    row = [v for c, v in zip(MEMBER_HEADER, MEMBER_ROW) if c != "birth_date"]
    path = write_feed(members=(header, [row]))
    with pytest.raises(FeedRejected) as rejected:
        load_feed(path, key=KEY, as_of="2026-11-01")
    assert (rejected.value.file, rejected.value.column) == ("members.csv", "birth_date")
    assert rejected.value.message == ("members.csv の列 birth_date: 必須の列がありません / "
                                      "members.csv, column birth_date: required column missing")


def test_missing_members_file_rejects_the_feed(write_feed, tmp_path):
    path = write_feed(members=None)
    with pytest.raises(FeedRejected) as rejected:
        load_feed(path, key=KEY, as_of="2026-11-01")
    assert (rejected.value.file, rejected.value.column) == ("members.csv", None)
    assert "必須のファイルがありません" in rejected.value.message and "required file missing" in rejected.value.message


def test_bad_values_are_quarantined_with_physical_lines(write_feed):
    r = ",".join
    text = "\n".join([
        r(MEMBER_HEADER),                                                                             # 1
        r(MEMBER_ROW),                                                                                # 2
        '131016,M2,"山田\n花子",ヤマダ ハナコ,1999-02-30,2,,2020-04-01,30,U',                         # 3-4 bad date
        "",                                                                                           # 5 blank
        "131016,M3,佐藤 一,サトウ ハジメ,1980-01-01,X,,2020-04-01,30,U",                              # 6 bad sex
        "131016,M4,佐藤 二,サトウ ジ,1980-01-01,1,1234567890123,2020-04-01,30,U",                     # 7 bad number
        "131016,M5,佐藤 三,サトウ サン,1980-01-01,1,,2020-04-01,15,ZZ",                               # 8 two bad codes
        "131016,M1,重複 太郎,ジュウフク タロウ,1980-05-10,1,,2020-04-01,30,U",                        # 9 duplicate key
        "131016,M6,佐藤 四",                                                                          # 10 short row
        "131016,M7,佐藤 五,サトウ ゴ,1980-01-01,1,123456789019,2020-04-01,30,U",                      # 11 bad check digit
        "131016,M8,,サトウ ロク,1980-01-01,1,,,30,U",                                                # 12 no name, no acquisition
        "1310,M9,佐藤 七,サトウ ナナ,1980-01-01,1,,2020-04-01,30,U",                                 # 13 insurer_number format
        "",
    ])
    feed = load_feed(write_feed(members=text), key=KEY, as_of="2026-11-01")
    assert _quarantine(feed) == [
        ("members.csv", 3, "birth_date", "1999-02-30", "bad_date"),
        ("members.csv", 6, "sex", "X", "bad_code"),
        ("members.csv", 7, "individual_number", "********0123", "bad_individual_number"),
        ("members.csv", 8, "burden_ratio", "15", "bad_code"),
        ("members.csv", 8, "limit_category", "ZZ", "bad_code"),
        ("members.csv", 9, "insurer_number+member_id", "131016|M1", "duplicate_key"),
        ("members.csv", 10, None, "3 fields, expected 10", "bad_row"),
        ("members.csv", 12, "acquisition_date", "", "missing_required"),
        ("members.csv", 12, "name_kanji", "", "name_missing"),
        ("members.csv", 13, "insurer_number", "1310", "bad_format"),
    ]
    members = feed.frames["members"]
    assert members["member_id"].tolist() == ["M1", "M7"]
    assert members["_line"].tolist() == [2, 11]
    assert members["name_kanji"].tolist() == ["山田 太郎", "佐藤 五"]  # the first M1 is the one kept
    # a bad check digit is a finding later, not a row error
    assert members["number_status"].tolist() == [NUMBER_VALID, NUMBER_BAD_CHECK]
    assert feed.row_counts["members"] == 10  # data records; blank lines are not rows
    summary = feed.validation["members"]
    assert (summary["rows_read"], summary["rows_valid"], summary["rows_quarantined"]) == (10, 2, 8)
    assert summary["normalise_errors"] == {"bad_date": 1, "bad_code": 3, "bad_individual_number": 1, "bad_row": 1}
    assert summary["gx_errors"] == {"duplicate_key": 1, "missing_required": 1, "name_missing": 1, "bad_format": 1}
    assert "[normalise]" in feed.quarantine["reason"][0] and "[gx]" in feed.quarantine["reason"][5]


def test_crlf_line_ends_keep_line_numbers(write_feed):
    rows = [MEMBER_ROW, ["131016", "M2", "佐藤 一", "サトウ", "1980-02-30", "1", "", "2020-04-01", "30", "U"]]
    path = write_feed(members=csv_text(MEMBER_HEADER, rows, newline="\r\n") + "\r\n")
    feed = load_feed(path, key=KEY, as_of="2026-11-01")
    assert _quarantine(feed) == [("members.csv", 3, "birth_date", "1980-02-30", "bad_date")]


def test_gx_runs_and_its_summary_is_json(write_feed):
    rows = [MEMBER_ROW, MEMBER_ROW]
    feed = load_feed(write_feed(members=(MEMBER_HEADER, rows)), key=KEY, as_of="2026-11-01")
    gx = feed.validation["members"]["gx"]
    assert gx["gx_version"].startswith("1.")
    assert gx["success"] is False
    unique = [e for e in gx["expectations"] if e["expectation"] == "expect_column_values_to_be_unique"]
    # GX flags both rows of the key (fingerprint); the later one is quarantined
    assert unique == [{"expectation": "expect_column_values_to_be_unique", "column": "_key",
                       "key_columns": ["insurer_number", "member_id"],
                       "success": False, "checked": "rows", "element_count": 2, "unexpected_count": 2,
                       "unexpected_rows": 1}]
    sex = [e for e in gx["expectations"] if e["expectation"] == "expect_column_values_to_be_in_set" and e["column"] == "sex"]
    assert sex == [{"expectation": "expect_column_values_to_be_in_set", "column": "sex", "value_set": [1, 2],
                    "success": True, "checked": "distinct_values", "element_count": 1, "unexpected_count": 0,
                    "unexpected_rows": 0}]
    assert _quarantine(feed) == [("members.csv", 3, "insurer_number+member_id", "131016|M1", "duplicate_key")]
    assert feed.validation["residents"]["gx"]["success"] is True
    json.dumps(feed.validation)


def test_residents_status_and_unique_resident_id(write_feed):
    rows = [RESIDENT_ROW, ["R2", "", "John SMITH", "1990-01-01", "M", "gone"],
            ["R1", "", "山田 花子", "1981-01-01", "2", "Active"], ["R3", "", "", "1990-01-01", "2", "deceased"]]
    header = RESIDENT_HEADER + ["name_alpha"]
    rows = [row + [alpha] for row, alpha in zip(rows, ["", "", "", "Jane DOE"])]
    feed = load_feed(write_feed(residents=(header, rows)), key=KEY, as_of="2026-11-01")
    assert _quarantine(feed) == [
        ("residents.csv", 3, "status", "gone", "not_in_set"),
        ("residents.csv", 4, "resident_id", "R1", "duplicate_key"),
    ]
    residents = feed.frames["residents"]
    assert residents["resident_id"].tolist() == ["R1", "R3"]
    assert residents["name_alpha"].tolist() == [pd.NA, "Jane DOE"] or residents["name_alpha"].isna().tolist() == [True, False]


def test_optional_files_benefit_history_and_card_status(write_feed):
    history = (["source", "insurer_number", "member_id", "item", "value", "valid_from", "valid_to"], [
        ["insurer", "131016", "M1", "burden_ratio", "3割", "2024-08-01", "2025-07-31"],
        ["oqs", "131016", "M1", "limit_category", "ア", "R06.08.01", ""],
        ["oqs", "131016", "M1", "limit_category", "カ", "2024-08-01", ""],
        ["bank", "131016", "M1", "burden_ratio", "20", "2024-08-01", ""],
    ])
    cards = (["insurer_number", "member_id", "registered", "cancellation_code", "self_info_restricted", "status_as_of"], [
        ["131016", "M1", "有", "", "無", "2026-09-30"],
        ["131016", "M2", "1", "3", "0", "2026-09-30"],
    ])
    feed = load_feed(write_feed(benefit_history=history, card_status=cards), key=KEY, as_of="2026-11-01")
    assert feed.frames["benefit_history"]["value"].tolist() == ["30", "A"]
    assert feed.frames["benefit_history"]["valid_from"].tolist() == [pd.Timestamp("2024-08-01")] * 2
    assert feed.frames["card_status"][["member_id", "registered", "self_info_restricted"]].values.tolist() == [["M1", True, False]]
    assert _quarantine(feed) == [
        ("benefit_history.csv", 4, "value", "カ", "bad_code"),
        ("benefit_history.csv", 5, "source", "bank", "not_in_set"),
        ("card_status.csv", 3, "cancellation_code", "3", "not_in_set"),
    ]


def test_no_full_individual_number_survives_anywhere(write_feed):
    header = MEMBER_HEADER + ["memo"]
    rows = [MEMBER_ROW + ["電話 090-1234-5678 番号 123456789018"],
            ["131016", "M2", "佐藤 一", "サトウ", "1980-01-01", "1", "１２３４５６７８９０１８７", "2020-04-01", "30", "U",
             "番号 1234-5678-9018"],
            ["131016", "M3", "佐藤 二", "サトウ", "1980-13-01", "1", "123456789019", "2020-04-01", "30", "U", ""],
            ["131016", "M4", "佐藤 三", "サトウ", "123456789018", "1", "", "2020-04-01", "30", "U", ""],
            ["131016", "M5", "佐藤 四", "サトウ", "1980-01-01", "1", "", "2020-04-01", "30", "U", "番号 1234-5678-9018"]]
    feed = load_feed(write_feed(members=(header, rows)), key=KEY, as_of="2026-11-01")
    texts = [json.dumps(feed.validation, ensure_ascii=False), feed.quarantine.to_csv()]
    for frame in feed.frames.values():
        if frame is not None:
            texts.append(frame.to_csv())
            assert "individual_number" not in frame.columns
    for text in texts:
        assert not re.search(r"(?:[0-9０-９][ \-－]?){11}[0-9０-９]", text), text
    assert feed.frames["members"]["memo"].tolist() == ["電話 090-1234-5678 番号 ********9018", "番号 ********9018"]
    assert ("members.csv", 3, "individual_number", "********0187", "bad_individual_number") in _quarantine(feed)
    assert ("members.csv", 5, "birth_date", "********9018", "bad_date") in _quarantine(feed)


def test_as_of_argument_then_manifest_then_today(write_feed):
    path = write_feed(manifest={"as_of": "R08.10.01", "source": "city"})
    from_manifest = load_feed(path, key=KEY)
    assert (from_manifest.as_of, from_manifest.period) == (pd.Timestamp("2026-10-01"), "2026-10")
    assert from_manifest.manifest == {"as_of": "R08.10.01", "source": "city"}
    assert load_feed(path, key=KEY, as_of="2026-12-15").as_of == pd.Timestamp("2026-12-15")
    (path / "manifest.json").write_text(json.dumps({"period": "2026-11"}))
    today = load_feed(path, key=KEY)
    assert (today.as_of, today.period) == (pd.Timestamp.now().normalize(), "2026-11")


def test_manifest_period_is_normalised_or_rejected(write_feed):
    path = write_feed(manifest={"as_of": "2026-11-01", "period": "2026/10"})
    assert load_feed(path, key=KEY).period == "2026-10"
    (path / "manifest.json").write_text(json.dumps({"period": "10月"}))
    with pytest.raises(FeedRejected) as rejected:
        load_feed(path, key=KEY)
    assert (rejected.value.file, rejected.value.column) == ("manifest.json", "period")


def test_fingerprint_is_stable_and_follows_the_bytes(write_feed, tmp_path):
    path = write_feed()
    first = load_feed(path, key=KEY, as_of="2026-11-01").fingerprint
    assert load_feed(path, key=KEY, as_of="2026-11-01").fingerprint == first
    (tmp_path / "residents.csv").write_text(csv_text(RESIDENT_HEADER, [RESIDENT_ROW, ["R2", "", "佐藤", "1990-01-01", "2", "active"]]))
    assert load_feed(path, key=KEY, as_of="2026-11-01").fingerprint != first


def test_progress_is_reported_per_stage(write_feed):
    calls = []
    load_feed(write_feed(), key=KEY, as_of="2026-11-01", progress=lambda stage, rows: calls.append((stage, rows)))
    assert calls == [("read:members", 1), ("validate:members", 1), ("read:residents", 1), ("validate:residents", 1)]


def test_rows_missing_a_key_part_are_missing_not_duplicates(write_feed):
    blank_id = MEMBER_ROW.copy()
    blank_id[1] = ""
    feed = load_feed(write_feed(members=(MEMBER_HEADER, [MEMBER_ROW, blank_id, blank_id])), key=KEY, as_of="2026-11-01")
    assert _quarantine(feed) == [("members.csv", 3, "member_id", "", "missing_required"),
                                 ("members.csv", 4, "member_id", "", "missing_required")]
