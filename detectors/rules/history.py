"""給付履歴 / benefit-history rule: insurer and online period histories compared period by period.

Domain brief §7 (seed 000): when a newly registered burden category equalled the one of two
changes ago, the aggregation system merged it with the older entry and kept sending the
*previous* value online — 20% (2023-08) → 30% (2024-08) → 20% (2025-08) shows 30% online after
2025-08. Snapshots compared on one day catch it only on that day; this rule builds the change
points of both histories and compares the value in force on every segment between them.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from detectors.registry import rule
from detectors.schema import KEY

ITEM_LABELS = {"burden_ratio": ("一部負担割合", "burden ratio"), "limit_category": ("限度額適用区分", "limit category")}
HISTORY_KEY = [*KEY, "item"]


def _codes(values: pd.Series) -> np.ndarray:
    return pd.factorize(values)[0].astype(np.int64)


_SEPARATOR = "\x1f"


def _pair_codes(history: pd.DataFrame) -> np.ndarray:
    """One code per row for its (insurer, member, item), −1 when any is missing: one hash of the
    three joined (one factorisation of 5M rows at 1M members instead of four); columns holding
    the separator are coded one by one."""
    arrays = [getattr(history[c].array, "_pa_array", None) for c in HISTORY_KEY]
    if all(a is not None and pa.types.is_string(a.type) for a in arrays) and not any(
            pc.any(pc.match_substring(a, _SEPARATOR)).as_py() for a in arrays):
        joined = pc.binary_join_element_wise(*arrays, _SEPARATOR)          # null when any part is
        return pd.factorize(pd.array(joined, dtype="string"))[0].astype(np.int64)
    parts = [_codes(history[c]) for c in HISTORY_KEY]
    valid = np.all([p >= 0 for p in parts], axis=0)
    combined = parts[0]
    for part in parts[1:]:
        combined = combined * (int(part.max(initial=0)) + 1) + part
    return np.where(valid, pd.factorize(np.where(valid, combined, -1))[0].astype(np.int64), -1)


def _differing_pairs(history: pd.DataFrame, keep: np.ndarray | None = None) -> np.ndarray:
    """Row mask: the rows of (member, item) pairs present on both sides whose period sets differ.

    Both sides are sorted by (pair, valid_from, value, valid_to); equal sets then line up row by
    row, so one vectorised comparison finds every pair worth segmenting. ``keep``: the rows to
    judge (the others are as if absent; the result is False there), so the caller need not copy
    the kept rows of a multi-million-row history first.
    """
    n = len(history)
    key = _pair_codes(history)
    valid = key >= 0
    if keep is not None:
        valid &= keep
    # Rows not judged share one extra pair code (present on neither side below).
    pair = np.where(valid, key, int(key.max(initial=-1)) + 1)
    n_pairs = int(pair.max(initial=-1)) + 1
    value = _codes(history["value"])
    start = history["valid_from"].to_numpy(dtype="datetime64[ns]").view("int64")
    end = history["valid_to"].to_numpy(dtype="datetime64[ns]").view("int64")
    source = history["source"]
    # Sort by (pair, start day) on one int64: equal period sets then line up row by row (ties in
    # start only ever send a pair to the detailed comparison, never hide a difference).
    start_day = (start // 86_400_000_000_000).astype(np.int64)
    judged_days = start_day[valid]        # rows outside ``keep`` (NaT starts) must not widen the span
    low = int(judged_days.min(initial=0))
    day_span = int(judged_days.max(initial=0)) - low + 1
    order_key = pair * day_span + (start_day - low)
    sides = []
    for name in ("insurer", "oqs"):
        rows = np.flatnonzero(source.eq(name).to_numpy(dtype=bool, na_value=False) & valid)
        rows = rows[np.argsort(order_key[rows], kind="stable")]
        count = np.bincount(pair[rows], minlength=n_pairs)
        sides.append((rows, count, np.cumsum(count) - count))
    (ins_rows, ins_count, ins_start), (oqs_rows, oqs_count, oqs_start) = sides
    both = (ins_count > 0) & (oqs_count > 0)
    same_size = both & (ins_count == oqs_count)
    pair_of = pair[ins_rows]
    aligned = same_size[pair_of]
    offset = np.arange(len(ins_rows)) - ins_start[pair_of]
    left = ins_rows[aligned]
    right = oqs_rows[oqs_start[pair_of[aligned]] + offset[aligned]]
    unequal = (value[left] != value[right]) | (start[left] != start[right]) | (end[left] != end[right])
    differs = both & ~same_size
    differs[pair_of[aligned][unequal]] = True
    return differs[pair] & valid if n else np.zeros(0, dtype=bool)


def history_segments(benefit_history: pd.DataFrame) -> pd.DataFrame:
    """Both sides' value on every segment between the change points of the two histories.

    Only (member, item) pairs present on both sides are segmented. Columns: ``HISTORY_KEY``,
    ``segment_from``, ``segment_to`` (NaT = open), ``value_insurer``, ``value_oqs`` (NA where
    that side has no period covering the segment), ``compared_from`` (the later of the two
    sides' first ``valid_from``: before it one side has no history yet, which is not a
    divergence).
    """
    empty = pd.DataFrame(columns=[*HISTORY_KEY, "segment_from", "segment_to", "value_insurer", "value_oqs",
                                  "compared_from"])
    columns = [*HISTORY_KEY, "source", "value", "valid_from", "valid_to"]
    keep = (benefit_history["source"].isin(["insurer", "oqs"]) & benefit_history["valid_from"].notna()).to_numpy(bool)
    if not keep.any():
        return empty
    # Identical histories (the vast majority) cannot diverge: keep only (member, item) pairs whose
    # two sides differ as sets of periods, decided on integer codes before any per-pair work (and
    # before any rows are copied: only the differing ones are).
    history = benefit_history[columns]
    history = history.loc[_differing_pairs(history, keep)]
    if history.empty:
        return empty
    history = history.assign(hk=history.groupby(HISTORY_KEY, sort=False).ngroup().to_numpy())
    starts = history.groupby(["hk", "source"])["valid_from"].min().unstack("source")
    if not {"insurer", "oqs"} <= set(starts.columns):
        return empty
    keep = starts["insurer"].notna() & starts["oqs"].notna()
    compared_from = starts.loc[keep, ["insurer", "oqs"]].max(axis=1).rename("compared_from")
    history = history.loc[history["hk"].isin(compared_from.index)]
    if history.empty:
        return empty
    after_end = history.loc[history["valid_to"].notna(), ["hk"]].assign(
        segment_from=history["valid_to"].dropna() + pd.Timedelta(days=1))
    points = pd.concat([history[["hk"]].assign(segment_from=history["valid_from"]), after_end], ignore_index=True)
    points = points.drop_duplicates().sort_values(["hk", "segment_from"], ignore_index=True)
    same_key = points["hk"].shift(-1) == points["hk"]
    points["segment_to"] = (points["segment_from"].shift(-1) - pd.Timedelta(days=1)).where(same_key)

    # Value in force at each segment start: the latest period starting on or before it, if not ended.
    points = points.sort_values("segment_from", kind="stable", ignore_index=True)
    for source in ("insurer", "oqs"):
        side = history.loc[history["source"] == source, ["hk", "value", "valid_from", "valid_to"]]
        side = side.sort_values("valid_from", kind="stable")
        found = pd.merge_asof(points[["hk", "segment_from"]], side, left_on="segment_from", right_on="valid_from",
                              by="hk", direction="backward")
        ended = (found["valid_to"] < found["segment_from"]).fillna(False).to_numpy(bool)
        values = found["value"].astype("string").mask(pd.Series(ended, index=found.index))
        points[f"value_{source}"] = values.to_numpy()
    points["compared_from"] = compared_from.reindex(points["hk"].to_numpy()).to_numpy()
    keys = history.drop_duplicates("hk").set_index("hk")[HISTORY_KEY]
    points = points.join(keys, on="hk")
    points = points.sort_values(["hk", "segment_from"], ignore_index=True)
    return points[[*HISTORY_KEY, "segment_from", "segment_to", "value_insurer", "value_oqs", "compared_from"]]


def diverging_periods(benefit_history: pd.DataFrame, as_of: pd.Timestamp) -> pd.DataFrame:
    """The periods (runs of consecutive segments) in which insurer and online values differ.

    Segments before ``compared_from`` or starting after ``as_of`` are not compared (a future
    change the insurer already registered may not have been sent yet). Columns:
    ``HISTORY_KEY``, ``period_from``, ``period_to`` (NaT = continuing), ``value_insurer``, ``value_oqs``.
    """
    seg = history_segments(benefit_history)
    columns = [*HISTORY_KEY, "period_from", "period_to", "value_insurer", "value_oqs"]
    if seg.empty:
        return pd.DataFrame(columns=columns)
    ins, onl = seg["value_insurer"], seg["value_oqs"]
    differs = ((ins != onl).fillna(True) & ~(ins.isna() & onl.isna())).astype(bool)
    compared = (seg["segment_from"] >= seg["compared_from"]) & (seg["segment_from"] <= as_of)
    seg = seg.loc[differs & compared.astype(bool)].reset_index(drop=True)
    if seg.empty:
        return pd.DataFrame(columns=columns)
    ins_text, oqs_text = seg["value_insurer"].fillna("∅"), seg["value_oqs"].fillna("∅")
    previous_to = seg["segment_to"].shift(1)
    continues = ((seg[HISTORY_KEY] == seg[HISTORY_KEY].shift(1)).all(axis=1)
                 & (previous_to + pd.Timedelta(days=1) == seg["segment_from"]).fillna(False)
                 & (ins_text == ins_text.shift(1)) & (oqs_text == oqs_text.shift(1)))
    seg["run"] = (~continues.astype(bool)).cumsum()
    runs = seg.groupby("run", sort=True).agg(
        **{c: (c, "first") for c in HISTORY_KEY},
        period_from=("segment_from", "min"), period_to=("segment_to", "last"),
        value_insurer=("value_insurer", "first"), value_oqs=("value_oqs", "first"))
    return runs.reset_index(drop=True)[columns]


def _text(value: pd.Series) -> pd.Series:
    return value.dt.strftime("%Y-%m-%d")


@rule("BENEFIT_HISTORY_DIVERGENCE", category="burden_ratio", severity="high", requires=("benefit_history",),
      summary_ja="{item_ja}の履歴が {period_from}〜{period_to_text} で異なります: 保険者 {value_insurer}、中間サーバー {value_oqs}（相違 {periods} 期間）",
      summary_en="{item_en} history differs {period_from}–{period_to_text}: insurer {value_insurer}, online copy {value_oqs} ({periods} diverging period(s))")
def benefit_history_divergence(benefit_history: pd.DataFrame, as_of: pd.Timestamp) -> pd.DataFrame:
    """保険者と中間サーバーの負担割合・限度額区分の履歴が期間単位で食い違う / Insurer and online period histories disagree for some period.

    One finding per member and item; the summary shows the latest diverging period and the
    evidence lists every one (from, to, both values). The category is the item's
    (``burden_ratio`` or ``limit_category``).
    """
    periods = diverging_periods(benefit_history, as_of)
    if periods.empty:
        return periods
    periods = periods.sort_values([*HISTORY_KEY, "period_from"], ignore_index=True)
    periods["from_text"] = _text(periods["period_from"])
    periods["to_text"] = _text(periods["period_to"]).fillna("")
    periods["described"] = (periods["from_text"] + "〜" + periods["to_text"] + ": "
                            + periods["value_insurer"].fillna("なし") + " / " + periods["value_oqs"].fillna("なし"))
    grouped = periods.groupby(HISTORY_KEY, sort=False)
    out = grouped.agg(period_from=("period_from", "last"), period_to=("period_to", "last"),
                      value_insurer=("value_insurer", "last"), value_oqs=("value_oqs", "last"),
                      periods=("period_from", "size"), facts=("described", "|".join)).reset_index()
    # Rows are sorted by the key, so each group's periods are one run of rows: one records list,
    # cut at the group sizes (a per-group apply cost ~3 ms a finding).
    records = periods[["from_text", "to_text", "value_insurer", "value_oqs"]].rename(
        columns={"from_text": "from", "to_text": "to", "value_insurer": "insurer", "value_oqs": "oqs"}).to_dict("records")
    ends = np.cumsum(out["periods"].to_numpy(np.int64))
    diverging = np.empty(len(out), dtype=object)
    diverging[:] = [records[e - n:e] for e, n in zip(ends.tolist(), out["periods"].tolist())]
    out["diverging_periods"] = diverging
    out["value_insurer"] = out["value_insurer"].fillna("なし")
    out["value_oqs"] = out["value_oqs"].fillna("なし")
    out["period_to_text"] = _text(out["period_to"]).fillna("継続中 / continuing")
    out["item_ja"] = out["item"].map({k: v[0] for k, v in ITEM_LABELS.items()})
    out["item_en"] = out["item"].map({k: v[1] for k, v in ITEM_LABELS.items()})
    out["category"] = out["item"]
    out["facts"] = out["item"] + "|" + out["facts"]
    out["as_of"] = as_of
    return out
