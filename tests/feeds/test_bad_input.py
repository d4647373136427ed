"""Issue #8 (ingest half): bad input never leaks a number and never crashes the reader.

Each test names the defect of the issue it guards against; every one failed before the fix.
"""
from __future__ import annotations

import io
import json
import logging
import re
import unicodedata

import pandas as pd
import pytest

from reconcile import privacy
from reconcile.feeds import FeedRejected, eras, load_feed, values
from reports import guard

from .conftest import KEY, MEMBER_HEADER, MEMBER_ROW, RESIDENT_HEADER, RESIDENT_ROW, csv_text

# The issue's own examples and the other separators of the findings contract's definition.
NUMBER_SPELLINGS = ["4555–0645–6069", "1479.1901.8314", "6542  5847  2870", "4555‐0645‐6069", "4555—0645—6069",
                    "4555−0645−6069", "4555　0645　6069", "４５５５－０６４５－６０６９", "455506456069",
                    "4555ー0645ー6069", "4555ｰ0645ｰ6069", "4555―0645―6069"]


def _last4(spelling: str) -> str:
    return re.sub(r"\D", "", unicodedata.normalize("NFKC", spelling))[-4:]


def _row(**changes) -> list[str]:
    row = dict(zip(MEMBER_HEADER, MEMBER_ROW))
    row.update(changes)
    return [row[c] for c in MEMBER_HEADER]


def _texts(feed) -> list[str]:
    """Every string the feed hands on: quarantine, validation, canonical string columns."""
    # file digests (hex sha256) are product-made, not feed values
    validation = {k: ({f: v for f, v in part.items() if f != "sha256"} if isinstance(part, dict) else part)
                  for k, part in feed.validation.items()}
    out = [feed.quarantine.to_csv(), json.dumps(validation, ensure_ascii=False)]
    for frame in feed.frames.values():
        if frame is None:
            continue
        for column in frame.columns:
            if column in ("member_id", "resident_id", "household_id") or frame[column].dtype.kind in "biufcmM":
                continue
            out.extend(str(v) for v in frame[column].dropna())
    return out


# ------------------------------------------------------------------ defect 1: the privacy leak
@pytest.mark.parametrize("spelling", NUMBER_SPELLINGS)
def test_defect1_number_typed_into_another_column_never_leaves_ingest(write_feed, spelling):
    header = MEMBER_HEADER + ["loss_reason", "insurer_type", "address", "memo"]
    columns = ["birth_date", "sex", "burden_ratio", "limit_category", "acquisition_date", "name_kanji",
               "insurer_number"]
    rows = [MEMBER_ROW + ["", "", "", ""]]
    rows += [_row(member_id=f"C{i}", **{column: spelling}) + ["", "", "", ""] for i, column in enumerate(columns)]
    rows += [_row(member_id="M3") + [spelling, "", "", ""],                 # a code column
             _row(member_id="M4") + ["", spelling, "", ""],                 # an enum column
             _row(member_id="M5") + ["", "", f"東京都 {spelling}", f"メモ {spelling} 以上"]]  # text, passthrough
    feed = load_feed(write_feed(members=(header, rows)), key=KEY, as_of="2026-11-01")
    for text in _texts(feed):
        assert guard.number_runs(text) == [], text
    masked = f"********{_last4(spelling)}"
    quarantined = feed.quarantine.set_index("line")
    for line in (3, 4, 5, 6, 7, 9, 10, 11):                     # every column but the name
        assert quarantined.loc[[line], "value"].tolist() == [masked], line
    members = feed.frames["members"].set_index("member_id")
    assert members.loc["C5", "name_kanji"] == masked
    assert members.loc["M5", "memo"] == f"メモ {masked} 以上" and members.loc["M5", "address"] == f"東京都 {masked}"


def test_defect1_one_definition_for_every_layer():
    # reconcile.privacy re-exports the guard's definition; ingest masks with it.
    assert privacy.number_runs is guard.number_runs
    for spelling in NUMBER_SPELLINGS:
        assert guard.looks_like_individual_number(spelling), spelling
        assert privacy.mask_text(f"x{spelling}y") == f"x********{_last4(spelling)}y"
        assert guard.find_individual_numbers(spelling) == [f"…{_last4(spelling)}"]
        assert guard.find_individual_numbers(privacy.mask_text(spelling)) == []
    for harmless in ["03-1234-5678", "2026-11-23 – 2026-11-29", "12345678901", "保険者番号 131016"]:
        assert not guard.looks_like_individual_number(harmless)
        assert privacy.mask_text(harmless) == harmless


@pytest.mark.parametrize("spelling", NUMBER_SPELLINGS)
def test_defect1_the_number_parser_accepts_exactly_the_definitions_separators(spelling):
    parsed, bad = values.individual_number(pd.Series([spelling], dtype="string"))
    assert parsed.tolist() == [re.sub(r"\D", "", unicodedata.normalize("NFKC", spelling))] and bad.tolist() == [False]


@pytest.mark.parametrize("text", ["4555_0645_6069", "4555/0645/6069", "4555\t0645\t6069",
                                  "-455506456069", "4555,0645,6069"])
def test_defect1_other_separators_are_not_a_number(text):
    parsed, bad = values.individual_number(pd.Series([text], dtype="string"))
    assert bad.tolist() == [True]


def test_defect1_masking_a_malformed_number_shows_at_most_four_digits(write_feed):
    assert privacy.mask_text("1234567890123") == "********0123"       # was ********90123
    assert privacy.mask_text("12345678901234567") == "********4567"
    assert values.masked("1234-5678-90123") == "********0123"
    rows = [MEMBER_ROW, _row(member_id="M2", individual_number="1234-5678-9012-3456"),
            _row(member_id="M3", individual_number="12345678901x")]
    feed = load_feed(write_feed(members=(MEMBER_HEADER, rows)), key=KEY, as_of="2026-11-01")
    assert feed.quarantine["value"].tolist() == ["********3456", "********8901"]


def test_defect1_log_filter_masks_messages_arguments_extras_and_tracebacks():
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(message)s %(detail)s"))
    handler.addFilter(privacy.NumberMaskingFilter())
    logger = logging.getLogger("test.number_masking")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.warning("member %s has %s", "M1", "4555–0645–6069", extra={"detail": "1479.1901.8314"})
        try:
            raise ValueError("bad number 6542  5847  2870")
        except ValueError:
            logger.exception("failed", extra={"detail": ""})
    finally:
        logger.removeHandler(handler)
    text = stream.getvalue()
    assert "member M1 has ********6069 ********8314" in text
    assert "ValueError: bad number ********2870" in text
    assert guard.number_runs(text) == []


def test_defect1_guard_refuses_every_spelling():
    for spelling in NUMBER_SPELLINGS:
        with pytest.raises(guard.IndividualNumberLeak):
            guard.assert_no_individual_number(f"<td>{spelling}</td>", "report.html")
    guard.assert_no_individual_number("期間: 2026-11-23 – 2026-11-29", "report.html")


# ------------------------------------------------------------------ defect 3: manifest types
@pytest.mark.parametrize("manifest, key", [
    ({"as_of": 20261201}, "as_of"), ({"as_of": ["2026-12-01"]}, "as_of"), ({"as_of": True}, "as_of"),
    ({"as_of": {"y": 2026}}, "as_of"), ({"as_of": "2026-12-01", "period": 202612}, "period"),
    ({"as_of": "2026-12-01", "period": ["2026-12"]}, "period"), ({"as_of": "2026-12-01", "source": 7}, "source"),
])
def test_defect3_manifest_value_of_the_wrong_type_rejects_naming_the_key(write_feed, manifest, key):
    path = write_feed(manifest=manifest)
    with pytest.raises(FeedRejected) as rejected:
        load_feed(path, key=KEY)
    assert rejected.value.exit_code == 2
    assert (rejected.value.file, rejected.value.column) == ("manifest.json", key)
    assert key in rejected.value.message and "manifest.json" in rejected.value.message


def test_defect3_as_of_far_from_the_feeds_own_dates_is_a_warning(write_feed):
    rows = [_row(member_id=f"M{i}", acquisition_date=f"2026-{m:02d}-01") for i, m in enumerate(range(1, 11))]
    path = write_feed(members=(MEMBER_HEADER, rows), manifest={"as_of": "1970-01-01"})
    feed = load_feed(path, key=KEY)
    assert feed.as_of == pd.Timestamp("1970-01-01")
    warnings = feed.validation["warnings"]
    assert [w["key"] for w in warnings] == ["as_of"]
    assert "1970-01-01" in warnings[0]["message"] and "2026-10-01" in warnings[0]["message"]
    assert feed.validation["messages"] == [warnings[0]["message"]]
    near = load_feed(write_feed(members=(MEMBER_HEADER, rows), manifest={"as_of": "2026-11-01"}), key=KEY)
    assert "warnings" not in near.validation


# ------------------------------------------------------------------ defect 4: bad rows
def _members_text(lines: list[str]) -> str:
    return "\n".join([",".join(MEMBER_HEADER), *lines]) + "\n"


M2 = ",".join(_row(member_id="M2", name_kanji="佐藤 一"))
M4 = ",".join(_row(member_id="M4"))


@pytest.mark.parametrize("bad, message", [
    (",".join(_row(member_id="M3")) + ",extra", "11 fields, expected 10"),
    (",".join(_row(member_id="M3"))[:-2], "9 fields, expected 10"),
    (",".join(_row(member_id="M3", name_kanji='佐藤"三')), "quote"),
    (",".join(_row(member_id="M3", name_kanji='"佐藤 三')), "quote"),
    (",".join(_row(member_id="M3", name_kanji='"佐藤" 三')), "quote"),
])
def test_defect4_a_bad_row_is_quarantined_with_its_line_and_the_rest_goes_on(write_feed, bad, message):
    text = _members_text([",".join(MEMBER_ROW), M2, bad, M4, '131016,M5,"山田\n五郎",ヤマダ,1980-01-01,1,,2020-04-01,30,U'])
    feed = load_feed(write_feed(members=text), key=KEY, as_of="2026-11-01")
    assert feed.frames["members"]["member_id"].tolist() == ["M1", "M2", "M4", "M5"]
    assert feed.frames["members"]["_line"].tolist() == [2, 3, 5, 6]
    assert feed.frames["members"]["name_kanji"].tolist()[-1] == "山田\n五郎"
    q = feed.quarantine
    assert q["line"].tolist() == [4] and q["column"].isna().all()
    assert message in q["value"].iloc[0] and q["reason"].iloc[0].startswith("bad_row")
    assert feed.validation["members"]["rows_read"] == 5


def test_defect4_many_bad_rows_in_a_larger_feed_keep_their_lines(write_feed):
    lines, expected_bad = [], []
    for i in range(2, 3002):
        row = _row(member_id=f"M{i}")
        if i % 97 == 0:
            row[2] = '佐"藤'
            expected_bad.append(i)
        elif i % 89 == 0:
            row = row + ["x"]
            expected_bad.append(i)
        lines.append(",".join(row))
    feed = load_feed(write_feed(members=_members_text(lines)), key=KEY, as_of="2026-11-01")
    assert feed.quarantine["line"].tolist() == expected_bad
    assert len(feed.frames["members"]) == 3000 - len(expected_bad)
    kept = feed.frames["members"]
    assert (kept["member_id"].str[1:].astype(int) == kept["_line"]).all()


# ------------------------------------------------------------------ defect 5: empty files
@pytest.mark.parametrize("stem", ["members", "residents"])
def test_defect5_a_header_only_required_file_rejects_the_feed(write_feed, stem):
    header = MEMBER_HEADER if stem == "members" else RESIDENT_HEADER
    path = write_feed(**{stem: csv_text(header, [])})
    with pytest.raises(FeedRejected) as rejected:
        load_feed(path, key=KEY, as_of="2026-11-01")
    assert (rejected.value.file, rejected.value.column) == (f"{stem}.csv", None)
    assert "データ行がありません" in rejected.value.message and "no data rows" in rejected.value.message


def test_defect5_header_only_optional_files_are_empty_inputs_and_the_rules_run(write_feed):
    from reconcile import pipeline

    oqs = csv_text(["insurer_number", "member_id", "name_kanji", "name_kana", "birth_date", "sex",
                    "acquisition_date", "burden_ratio"], [])
    cards = csv_text(["insurer_number", "member_id", "registered", "status_as_of"], [])
    history = csv_text(["source", "insurer_number", "member_id", "item", "value", "valid_from"], [])
    feed = load_feed(write_feed(oqs=oqs, card_status=cards, benefit_history=history), key=KEY, as_of="2026-11-01")
    for kind in ("oqs", "card_status", "benefit_history"):
        assert feed.frames[kind] is not None and len(feed.frames[kind]) == 0
    assert len(feed.quarantine) == 0
    pipeline.evaluate(feed.frames, as_of=feed.as_of, quarantine=feed.quarantine, row_counts=feed.row_counts)


# ------------------------------------------------------------------ defect 9: bare CR, as_of list
def test_defect9_bare_cr_line_ends_reject_naming_the_file(write_feed):
    path = write_feed(members=csv_text(MEMBER_HEADER, [MEMBER_ROW, _row(member_id="M2")], newline="\r"))
    with pytest.raises(FeedRejected) as rejected:
        load_feed(path, key=KEY, as_of="2026-11-01")
    assert rejected.value.exit_code == 2 and rejected.value.file == "members.csv"
    assert "CR" in rejected.value.message and "改行" in rejected.value.message


# ------------------------------------------------------------------ defect 11: era-change days
@pytest.mark.parametrize("text, iso", [
    ("明治45年7月30日", "1912-07-30"), ("大正元年7月30日", "1912-07-30"), ("M45.07.30", "1912-07-30"),
    ("大正15年12月25日", "1926-12-25"), ("昭和元年12月25日", "1926-12-25"), ("T15/12/25", "1926-12-25"),
    ("昭和64年1月7日", "1989-01-07"), ("平成元年1月8日", "1989-01-08"),
    ("平成31年4月30日", "2019-04-30"), ("令和元年5月1日", "2019-05-01"),
])
def test_defect11_era_change_days_are_valid(text, iso):
    assert values.parse_date(text).isoformat() == iso


@pytest.mark.parametrize("text", ["明治45年7月31日", "大正15年12月26日", "昭和64年1月8日", "平成31年5月1日",
                                  "大正元年7月29日", "昭和元年12月24日"])
def test_defect11_days_outside_their_era_stay_invalid(text):
    assert values.parse_date(text) is None


def test_defect11_era_table_still_names_each_day_once():
    # the writer and the table keep one era per day; the change days are also valid in the old era
    assert eras.to_gregorian("明治", 45, 7, 30) == eras.to_gregorian("大正", 1, 7, 30)


# ------------------------------------------------------------------ defect 12: BOM + CP932
def test_defect12_bom_then_cp932_is_an_encoding_problem_with_the_line(write_feed, tmp_path):
    path = write_feed()
    rows = [MEMBER_ROW, _row(member_id="M2"), _row(member_id="M3", name_kanji="髙橋 一郎")]
    body = csv_text(MEMBER_HEADER, rows).encode("cp932")
    (tmp_path / "members.csv").write_bytes(b"\xef\xbb\xbf" + body)
    with pytest.raises(FeedRejected) as rejected:
        load_feed(path, key=KEY, as_of="2026-11-01")
    message = rejected.value.message
    assert rejected.value.file == "members.csv" and "必須の列" not in message
    assert "文字コード" in message and "encoding" in message
    assert "2行目" in message and "line 2" in message


# ------------------------------------------------------------------ defect 13: NUL bytes
def test_defect13_nul_and_control_characters_are_escaped(write_feed, tmp_path):
    from reconcile.exports import write_quarantine_csv

    rows = [MEMBER_ROW, _row(member_id="M2", birth_date="1980-01-\x0001"),
            _row(member_id="M3", name_kanji="佐藤\x00\x1b一")]
    feed = load_feed(write_feed(members=(MEMBER_HEADER, rows)), key=KEY, as_of="2026-11-01")
    assert feed.quarantine["value"].tolist() == ["1980-01-\\x0001"]
    assert feed.frames["members"]["name_kanji"].tolist() == ["山田 太郎", "佐藤\\x00\\x1b一"]
    out = tmp_path / "q.csv"
    write_quarantine_csv(feed.quarantine, out)
    assert b"\x00" not in out.read_bytes() and b"\\x0001" in out.read_bytes()


# ------------------------------------------------------------------ defect 2 (ingest side)
def test_defect2_quarantined_keys_name_the_members_whose_rows_were_quarantined(write_feed):
    cards = csv_text(["insurer_number", "member_id", "registered", "status_as_of"],
                     [["131016", "M1", "1", "2026-09-30"], ["131016", "M2", "x", "2026-09-30"]])
    text = _members_text([",".join(MEMBER_ROW), ",".join(_row(member_id="Ｍ2", birth_date="1980-02-30")),
                          ",".join(_row(member_id="M3")) + ",extra", ",".join(_row(member_id="M1"))])
    feed = load_feed(write_feed(members=text, card_status=cards), key=KEY, as_of="2026-11-01")
    keys = feed.quarantined_keys
    assert list(keys.columns) == ["file", "line", "insurer_number", "member_id"]
    rows = [tuple(None if pd.isna(v) else v for v in row) for row in keys.itertuples(index=False)]
    assert rows == [("members.csv", 3, "131016", "M2"),      # bad date; the id as normalised (NFKC)
                    ("members.csv", 4, None, None),          # wrong field count: key unknown
                    ("members.csv", 5, "131016", "M1"),      # duplicate key
                    ("card_status.csv", 3, "131016", "M2")]
    path = write_feed(members=(MEMBER_HEADER, [MEMBER_ROW]))
    (path / "card_status.csv").unlink()
    clean = load_feed(path, key=KEY, as_of="2026-11-01")
    assert len(clean.quarantined_keys) == 0 and list(clean.quarantined_keys.columns) == list(keys.columns)
