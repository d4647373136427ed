"""Property-based tests of ingest on hostile feeds (issue #8): random bad rows, bad values in
every column, random encodings (UTF-8, UTF-8 with BOM, CP932, a BOM before a CP932 body), LF or
CRLF, and numbers written with random runs of the definition's separators.

For every generated feed:
- ``load_feed`` either succeeds or raises ``FeedRejected`` — never another exception;
- no output holds what looks like a full individual number (quarantine, messages, validation
  result, the canonical frames' string columns) nor a raw control character;
- every damaged row (wrong field count, stray quote, a value no column can take) is in
  quarantine at its physical line; every intact row is in the canonical frame at its line;
  every data line is accounted for.

Examples are bounded (CI runs them on every push): the whole-feed property pays for Great
Expectations on each example, the reader and value properties are cheap and run more.
"""
from __future__ import annotations

import json
import re
import unicodedata
from pathlib import Path

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings, strategies as st

from reconcile import privacy
from reconcile.feeds import FeedRejected, load_feed, reader, values
from reports import guard

from .feedgen import DIGITS, NUMBER_SEPARATORS, encode, hostile_values, members_files, number_spelling, residents_text

KEY = b"property-test-key"
CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
IDENTIFIER_COLUMNS = {"member_id", "resident_id", "household_id"}
STRUCTURE = ("extra", "missing", "stray_mid", "stray_open")
FEW = settings(max_examples=20, deadline=None, derandomize=True,
               suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.function_scoped_fixture])
MORE = settings(max_examples=60, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.function_scoped_fixture])


def _assert_clean(text: str, where: str) -> None:
    assert guard.number_runs(text) == [], (where, text)
    assert CONTROL.search(text) is None, (where, text)


def _write(tmp: Path, members: bytes, extra: dict[str, bytes] | None = None) -> Path:
    for old in tmp.glob("*.csv"):
        old.unlink()
    (tmp / "members.csv").write_bytes(members)
    (tmp / "residents.csv").write_bytes(residents_text().encode("utf-8"))
    for stem, data in (extra or {}).items():
        (tmp / f"{stem}.csv").write_bytes(data)
    return tmp


@FEW
@given(members=st.one_of(members_files(), members_files(newline="\r\n")),
       encoding=st.sampled_from(["utf-8", "utf-8-sig", "cp932", "bom+cp932"]),
       optional=st.sampled_from([None, "oqs_header_only", "cards_bad"]))
def test_ingest_of_hostile_feeds_never_crashes_never_leaks_and_keeps_every_line(tmp_path_factory, members, encoding,
                                                                                  optional):
    tmp = tmp_path_factory.mktemp("feed")
    extra = {}
    if optional == "oqs_header_only":
        extra["oqs"] = b"insurer_number,member_id,name_kanji,name_kana,birth_date,sex,acquisition_date,burden_ratio\n"
    elif optional == "cards_bad":
        extra["card_status"] = ("insurer_number,member_id,registered,status_as_of\n131016,M0,1,4555–0645–6069\n"
                                "131016,M1,\x00,2026-09-30,x\n").encode("utf-8")
    path = _write(tmp, encode(members.text, encoding), extra)
    try:
        feed = load_feed(path, key=KEY, as_of="2026-11-01")
    except FeedRejected as rejected:
        _assert_clean(str(rejected), "rejection")
        assert rejected.exit_code == 2
        return

    quarantine = feed.quarantine
    for column in quarantine.columns:
        for value in quarantine[column].dropna().astype(str):
            _assert_clean(value, f"quarantine.{column}")
    # file digests (hex sha256, product-made, may hold long digit runs) are not feed values
    validation = {k: ({f: v for f, v in part.items() if f != "sha256"} if isinstance(part, dict) else part)
                  for k, part in feed.validation.items()}
    _assert_clean(json.dumps(validation, ensure_ascii=False), "validation")
    for kind, frame in feed.frames.items():
        if frame is None:
            continue
        for column in frame.columns:
            if column in IDENTIFIER_COLUMNS or frame[column].dtype.kind in "biufcmM":
                continue
            for value in frame[column].dropna().astype(str):
                _assert_clean(value, f"{kind}.{column}")

    member_q = quarantine[quarantine["file"] == "members.csv"]
    q_lines = set(member_q["line"].tolist())
    kept = feed.frames["members"]
    kept_lines = set(kept["_line"].tolist())
    for line in members.lines_of(*STRUCTURE):
        rows = member_q[member_q["line"] == line]
        assert len(rows) == 1 and rows["reason"].iloc[0].startswith("bad_row"), (line, member_q)
    for line in members.lines_of("strict"):
        assert line in q_lines, (line, member_q)
    bad_lines = set(members.lines_of(*STRUCTURE, "strict"))
    assert not kept_lines & bad_lines
    if encoding != "bom+cp932":
        assert set(members.lines_of("ok")) <= kept_lines, (members.lines_of("ok"), kept_lines, member_q)
    assert kept_lines | q_lines == set(members.data_lines)
    assert feed.validation["members"]["rows_read"] == len(members.data_lines)


def _read_all(path: Path):
    source = reader.open_source(path)
    try:
        batches = list(reader.batches(source))
    except reader.NeedsFallback:
        source.fallback = True
        batches = list(reader.batches(source))
    frame = pd.concat([b[0] for b in batches], ignore_index=True) if batches else None
    lines = np.concatenate([b[1] for b in batches]) if batches else np.zeros(0, dtype=np.int64)
    return source, frame, lines


@MORE
@given(members=st.one_of(members_files(max_rows=25), members_files(max_rows=25, newline="\r\n")),
       encoding=st.sampled_from(["utf-8", "utf-8-sig", "cp932"]))
def test_reader_gives_every_record_its_line_and_every_bad_row_a_row_error(tmp_path_factory, members, encoding):
    tmp = tmp_path_factory.mktemp("reader")
    path = tmp / "members.csv"
    path.write_bytes(encode(members.text, encoding))
    source, frame, lines = _read_all(path)
    bad = {b.line for b in source.bad_rows}
    assert bad == set(members.lines_of(*STRUCTURE))
    assert set(lines.tolist()) == set(members.data_lines) - bad
    assert len(lines) + len(bad) == len(members.data_lines)
    if frame is not None:
        by_line = dict(zip(lines.tolist(), frame["member_id"].tolist()))
        for row in members.rows:
            if row.kind == "ok":
                assert by_line[row.line] == row.member_id


@MORE
@given(text=st.text(alphabet=DIGITS + "".join(NUMBER_SEPARATORS) + "ab年,:/\n－_", max_size=60))
def test_mask_text_leaves_no_number_and_shows_at_most_four_digits_of_each(text):
    masked = privacy.mask_text(text)
    assert guard.number_runs(masked) == []
    assert guard.find_individual_numbers(masked) == []
    if guard.number_runs(text):
        assert "********" in masked
    else:
        assert masked == text
    # the vectorised form agrees with the scalar one
    assert privacy.mask_series(pd.Series([text], dtype="string")).tolist() == [masked]


@MORE
@given(data=st.data())
def test_the_parser_accepts_what_the_definition_calls_a_number(data):
    spelling = number_spelling(data.draw)
    digits = re.sub(r"\D", "", unicodedata.normalize("NFKC", spelling))
    parsed, bad = values.individual_number(pd.Series([spelling], dtype="string"))
    assert parsed.tolist() == [digits] and bad.tolist() == [False]
    assert guard.looks_like_individual_number(spelling)
    assert privacy.mask_text(spelling) == "********" + digits[-4:]


@MORE
@given(value=hostile_values())
def test_any_value_the_parser_rejects_is_shown_masked(value):
    parsed, bad = values.individual_number(values.strip_text(pd.Series([value], dtype="string")))
    if bad.iloc[0]:
        shown = values.masked(value)
        assert len(re.sub(r"\D", "", shown)) <= 4
    assert guard.number_runs(values.shown(value)) == []
    assert CONTROL.search(values.shown(value)) is None


def _stray_quotes_reference(data: bytes, parity: int, previous_byte: int, bom: bool) -> tuple[bool, bool]:
    """One quote at a time: the k-th quote opens when k + parity is even (needs an allowed byte
    before it), else closes (needs an allowed byte after it, or ends the block)."""
    before, after = {0x2C, 0x0A, 0x0D, 0x22}, {0x2C, 0x0A, 0x0D, 0x22}
    quotes = [i for i, b in enumerate(data) if b == 0x22]
    for k, at in enumerate(quotes):
        if (k + parity) % 2 == 0:
            if at == 0:
                if previous_byte != -1 and previous_byte not in before:
                    return True, False
            elif not (bom and at == 3) and data[at - 1] not in before:
                return True, False
        elif at < len(data) - 1 and data[at + 1] not in after:
            return True, False
    closing = quotes[1 - parity::2]
    return False, bool(closing) and closing[-1] == len(data) - 1


@settings(max_examples=400, deadline=None)
@given(st.binary(min_size=1, max_size=16).map(lambda b: bytes(b"ab,\"\n\r x"[x % 8] for x in b)),
       st.integers(0, 1), st.sampled_from([-1, 0x2C, 0x61, 0x0A, 0x22]), st.booleans())
def test_stray_quote_scan_agrees_with_a_quote_by_quote_reading(data, parity, previous_byte, with_bom):
    import codecs

    if with_bom:
        data = codecs.BOM_UTF8 + data
    array = np.frombuffer(data, dtype=np.uint8)
    quotes = np.flatnonzero(array == 0x22)
    if not len(quotes):
        return
    assert reader._stray_quotes(array, quotes, parity, previous_byte, bom=with_bom) == \
        _stray_quotes_reference(data, parity, previous_byte, with_bom)



_MASK_ALPHABET = ("0123456789０１２３４５６７８９ -‐–—−.ー山田タロウｱabc①⑩⑳㉑㊱㍘㎟㏠¼½¾⅐↉⒇⒛²³¹٣〇"
                  "\u3000\u00a0\u2012\u2015")


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(st.none(), st.text(alphabet=_MASK_ALPHABET, max_size=30)), min_size=1, max_size=40))
def test_mask_series_masks_each_value_as_mask_text(texts):
    """Column masking (RE2 on every row, or on the present rows of a mostly empty column) gives
    what masking each value on its own gives."""
    column = pd.Series(texts, dtype="string")
    expected = [None if t is None else privacy.mask_text(t) for t in texts]
    assert [None if pd.isna(v) else v for v in privacy.mask_series(column).tolist()] == expected
