"""finalise builds the evidence JSON and summaries column by column: the text must be exactly
what the per-finding path gives (``to_json`` of the cleaned evidence, ``_format`` of each row)."""
from __future__ import annotations

import math
from collections import OrderedDict

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from detectors.engine import _clean, _format, evidence_json, finalise, fingerprint, to_json
from detectors.registry import Rule

RULE = Rule("TEST_RULE", "notation", "low", ("members",),
            summary_ja="{name}さん: {reason}（{missing}）", summary_en="{name}: {reason} at {when}",
            func=lambda: None)

leaves = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-2**70, max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=6),
    st.sampled_from(["a\"b", "back\\slash", "tab\t", "改行\n", "\x00", "齋藤 美加子", "-0.0"]),
    st.sampled_from([pd.NA, pd.NaT, np.int64(7), np.float64("nan"), np.float64(0.5), pd.Timestamp("2026-01-02"),
                     pd.Timestamp("2026-01-02 03:04:05"), (1, "x"), {3, 4}]),
)
values = st.recursive(leaves, lambda inner: st.one_of(
    st.lists(inner, max_size=3),
    st.dictionaries(st.sampled_from(["a", "b", "c", 1, True, None]), inner, max_size=3)), max_leaves=8)


def _per_row(evidence: list) -> list[str]:
    return [to_json(e) for e in evidence]


def test_one_shape_many_rows_matches_per_row_encoding():
    base = {"reasons": ["VARIANT_KANJI"], "score": 0.999, "line": 7, "name": "齋藤",
            "fields": {"sex": {"member": 2, "resident": 2, "contribution": -0.0},
                       "alpha": {"member": None, "resident": "A\"B"}}}
    rows = []
    for i in range(50):
        row = {**base, "line": i, "score": [0.5, float("nan"), 1e-7, float("inf"), 3.0][i % 5],
               "fields": {**base["fields"], "sex": {**base["fields"]["sex"], "contribution": i / 7}}}
        if i % 7 == 3:
            row = {**row, "extra": {"nested": [1, {"x": float("nan")}]}}          # a second shape
        if i % 11 == 5:
            row = {**row, "fields": None}                                           # a third
        if i % 13 == 4:
            row = OrderedDict(row)                                                  # not a plain dict
        rows.append(row)
    assert evidence_json(rows).to_pylist() == _per_row(rows)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.dictionaries(st.sampled_from(["k", "l", "m", 2]), values, max_size=4), min_size=1, max_size=12))
def test_any_evidence_matches_per_row_encoding(rows):
    assert evidence_json(rows).to_pylist() == _per_row(rows)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.one_of(st.none(), st.text(max_size=4)), st.one_of(st.none(), st.integers(-5, 5)),
                          st.one_of(st.none(), st.floats(allow_nan=True), st.text(max_size=3)),
                          st.one_of(st.none(), st.sampled_from([pd.Timestamp("2026-03-04"),
                                                                pd.Timestamp("2026-03-04 10:00")]))),
                min_size=1, max_size=10),
       st.booleans())
def test_finalise_matches_the_row_by_row_definition(rows, evidence_column):
    frame = pd.DataFrame({
        "insurer_number": ["139000"] * len(rows), "member_id": [f"M{i % 3}" for i in range(len(rows))],
        "name": [r[0] for r in rows], "reason": pd.array([r[1] for r in rows], dtype="Int64"),
        "note": pd.Series([r[2] for r in rows], dtype=object),
        "when": pd.to_datetime(pd.Series([r[3] for r in rows], dtype=object)),
    })
    if evidence_column:
        frame = frame.assign(evidence=[{"name": r[0], "reason": r[2], "when": r[3]} for r in rows])[
            ["insurer_number", "member_id", "evidence", "when"]]
    out = finalise(RULE, frame)

    # The definition, row by row (the engine before the columnar build).
    evidence = ([_clean(dict(e)) for e in frame["evidence"]] if evidence_column
                else [_clean(r) for r in frame.drop(columns=["insurer_number", "member_id"]).to_dict("records")])
    row_dicts = frame.drop(columns=["evidence"], errors="ignore").to_dict("records")
    expected_json = [to_json(e) for e in evidence]
    ids = [fingerprint("TEST_RULE", r["insurer_number"], r["member_id"], j) for r, j in zip(row_dicts, expected_json)]
    keep = ~pd.Series(ids).duplicated().to_numpy()
    assert out["finding_id"].tolist() == list(np.array(ids)[keep])
    assert out["evidence"].tolist() == list(np.array(expected_json, dtype=object)[keep])
    for template, column in ((RULE.summary_ja, "summary_ja"), (RULE.summary_en, "summary_en")):
        expected = [_format(template, {**e, **r}) for e, r in zip(evidence, row_dicts)]
        assert out[column].tolist() == list(np.array(expected, dtype=object)[keep])
    assert str(out["evidence"].dtype) == "str" and str(out["summary_ja"].dtype) == "str"


def test_nan_and_infinity_spelt_as_json_does():
    rows = [{"x": math.inf}, {"x": -math.inf}, {"x": math.nan}, {"x": 1.5}]
    assert evidence_json(rows).to_pylist() == ['{"x": Infinity}', '{"x": -Infinity}', '{"x": null}', '{"x": 1.5}']
