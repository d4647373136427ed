"""名寄せ / resolution: who each member is, by the linked number and by the four items alone.

Two independent paths, then compare:

1. **linked path** — the resident the member's registered number points to: by keyed hash; for a
   member who only has the last four digits (``number_status == last4_only``), the residents
   with the same last four digits *and* the same birth date (if several, the best-scoring one
   — the evidence says it was ambiguous). Last four digits alone (1 in 10,000) would link
   every member to a hundred strangers; adding the birth date makes a chance collision about
   1 in 3.6 million, and a member whose birth date is mistyped simply gets no linked resident
   (the resolved path still names a suggestion).
2. **resolved path** — blocking on birth date + normalised kana key, birth date + folded kanji
   key, birth date + given name, birth date + last four digits, alias, kana key + sex (birth
   date typos), and for foreign names birth date + sex; every candidate pair is compared
   (:mod:`matchers.comparisons`) and scored (:mod:`matchers.scorer`).

The verdict per member: ``p_wrong`` (probability that the link is wrong, from the linked pair's
score and the best other candidate's), the best other candidate and the top candidates.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np
import pandas as pd

from matchers.comparisons import COMPARISONS, compare, names_agree
from matchers.prepare import (CODE_PREFIX, column_codes, drop_codes, pairs_frame, prepare_side, prepare_sides, recode,
                             release_memory)
from matchers.scorer import contributions, link_wrong_probability, load_model, pair_logit, sigmoid
from matchers.settings import resolve_settings

KEY = ["insurer_number", "member_id"]
LAST4_ONLY = "last4_only"
LINKED_BY_NUMBER = "number_hash"   # the full number's keyed hash
LINKED_BY_LAST4 = "last4"          # a last-four-only member's resolved resident with those digits

VERDICT_COLUMNS = [
    *KEY, "member_pos", "linked_pos", "linked_resident_id", "linked_by", "linked_ambiguous",
    "p_same_linked", "other_pos", "other_resident_id", "p_same_other", "p_wrong",
    "resolved_resident_id", "resolved_last4",
]


@dataclass
class Resolution:
    """The matcher's output for one scan (the ``resolution`` provider's value)."""
    verdicts: pd.DataFrame            # one row per member with a linked resident or a candidate
    pairs: pd.DataFrame               # every scored candidate pair (li = member pos, ri = resident pos)
    members: pd.DataFrame             # the members frame as given (positions = member_pos)
    residents: pd.DataFrame           # the residents frame as given (positions = ri)
    settings: dict[str, Any] = field(default_factory=dict)
    model: dict[str, Any] = field(default_factory=dict)


# --- blocking -----------------------------------------------------------------------------------
def _codes(*arrays: np.ndarray) -> tuple[np.ndarray, int]:
    """Factorise the values of several arrays together (same value → same code; missing → −1)."""
    if all(a.dtype.kind in "iu" for a in arrays):
        joined = np.concatenate(arrays)
        codes, uniques = pd.factorize(np.where(joined < 0, np.iinfo(np.int64).min, joined))
        codes = np.where(joined < 0, -1, codes)
        return codes, len(uniques)
    joined = np.concatenate([a.astype(object) for a in arrays])
    codes, uniques = pd.factorize(joined, use_na_sentinel=True)
    return codes, len(uniques)


def _block(left: list[tuple[np.ndarray, np.ndarray, int]], max_right: int,
           left_rows: np.ndarray | None = None, right_rows: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Pairs (left pos, right pos) agreeing on every key; blocks above ``max_right`` dropped.

    ``left`` holds, per key, the factorised codes of both sides and the number of codes."""
    n_left, n_right = len(left[0][0]), len(left[0][1])
    key_l = np.zeros(n_left, dtype=np.int64)
    key_r = np.zeros(n_right, dtype=np.int64)
    valid_l = np.ones(n_left, dtype=bool) if left_rows is None else left_rows.copy()
    valid_r = np.ones(n_right, dtype=bool) if right_rows is None else right_rows.copy()
    for ca, cb, size in left:
        valid_l &= ca >= 0
        valid_r &= cb >= 0
        key_l = key_l * (size + 1) + np.maximum(ca, 0)
        key_r = key_r * (size + 1) + np.maximum(cb, 0)
    r_pos, l_pos = np.flatnonzero(valid_r), np.flatnonzero(valid_l)
    # One hash pass over both sides' keys: the residents' keys first, so a member's key is some
    # resident's exactly when its code is below the residents' number of distinct keys.
    codes, uniques = pd.factorize(np.concatenate([key_r[r_pos], key_l[l_pos]]))
    n_blocks = int(codes[:len(r_pos)].max(initial=-1)) + 1
    code_r, code_l = codes[:len(r_pos)], codes[len(r_pos):]
    sizes = np.bincount(code_r, minlength=n_blocks)
    grouped = r_pos[np.argsort(code_r)]             # the residents block by block
    starts = np.cumsum(sizes) - sizes
    # Each member meets every resident of its block; oversized blocks (common names without
    # birth date) are dropped.
    hit = code_l < n_blocks
    l_pos, code_l = l_pos[hit], code_l[hit]
    reps = np.where(sizes[code_l] <= max_right, sizes[code_l], 0)
    offsets = np.arange(int(reps.sum()), dtype=np.int64) - np.repeat(np.cumsum(reps) - reps, reps)
    li = np.repeat(l_pos, reps).astype(np.int64)
    ri = grouped[np.repeat(starts[code_l], reps) + offsets].astype(np.int64)
    return li, ri


def _sorted_unique(keys: np.ndarray) -> np.ndarray:
    """``np.unique(keys)`` for integer pair keys by sorting: numpy ≥ 2.3 takes a hash-set path
    for a plain ``np.unique`` that is ~50x slower on tens of millions of distinct int64 keys."""
    ordered = np.sort(keys)
    if len(ordered) == 0:
        return ordered
    return ordered[np.concatenate([[True], ordered[1:] != ordered[:-1]])]


def _days(values: pd.Series) -> np.ndarray:
    """Dates as int64 day numbers (−1 when missing) — cheap block keys."""
    days = values.to_numpy(dtype="datetime64[D]")
    out = days.astype(np.int64) + 1_000_000  # days before 1970 stay positive
    out[np.isnat(days)] = -1
    return out


def candidate_pairs(m: pd.DataFrame, r: pd.DataFrame, max_right: int,
                    needs_wide: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Union of the blocking rules' pairs (member pos, resident pos), deduplicated.

    The name-without-birth-date blocks (for a mistyped birth date) are only used for members in
    ``needs_wide`` (default: all) — those without a linked resident of the same birth date and
    sex; for everyone else they would only add common-name strangers."""
    n_m = len(m)
    cache: dict[tuple[str, str], tuple[np.ndarray, np.ndarray, int]] = {}

    vocabulary = m.attrs.get("vocabulary")
    coded = vocabulary is not None and vocabulary == r.attrs.get("vocabulary")

    def key(left: str, right: str | None = None):
        right = right or left
        if (left, right) not in cache:
            code_l = column_codes(m, left) if coded else None
            code_r = column_codes(r, right) if coded else None
            if code_l is not None and code_r is not None:
                # One vocabulary: the prepared codes are the block key's codes already.
                a, b = code_l.astype(np.int64), code_r.astype(np.int64)
                size = int(max(a.max(initial=-1), b.max(initial=-1))) + 1
                cache[(left, right)] = (a, b, size)
                return cache[(left, right)]
            if left in ("birth_date", "sex"):
                a = _days(m[left]) if left == "birth_date" else pd.to_numeric(m[left]).fillna(-1).to_numpy(np.int64)
                b = _days(r[right]) if right == "birth_date" else pd.to_numeric(r[right]).fillna(-1).to_numpy(np.int64)
            else:
                a, b = m[left].to_numpy(dtype=object), r[right].to_numpy(dtype=object)
            codes, size = _codes(a, b)
            cache[(left, right)] = (codes[:n_m], codes[n_m:], size)
        return cache[(left, right)]

    foreign_m = m["alpha_tokens"].notna().to_numpy() | m["latin"].to_numpy()
    foreign_r = r["alpha_tokens"].notna().to_numpy() | r["latin"].to_numpy()
    kana_foreign_m = m["kana_ntok"].to_numpy() >= 3
    # A foreign name held only in katakana in the kanji field (マリア・サントス).
    if "kanji_katakana" in m:
        katakana_m = m["kanji_katakana"].to_numpy(dtype=bool)
    else:
        katakana_m = m["kanji_key"].astype(object).fillna("").str.fullmatch("[ァ-ヶー]+").fillna(False).to_numpy(dtype=bool)
    rules = [
        ([key("birth_date"), key("kana_key")], None, None),
        ([key("birth_date"), key("kanji_key")], None, None),
        ([key("birth_date"), key("kanji_given")], None, None),
        ([key("birth_date"), key("kana_given")], None, None),
        ([key("birth_date"), key("number_last4")], None, None),
        ([key("birth_date"), key("kanji_key", "alias_key")], None, None),
        ([key("kana_key"), key("sex")], needs_wide, None),
        ([key("kanji_key"), key("sex")], needs_wide, None),
        # Foreign names: katakana or another token order defeats the name keys.
        ([key("birth_date"), key("sex")], foreign_m | kana_foreign_m | katakana_m | ~m["kanji_key"].notna().to_numpy(),
         foreign_r),
    ]
    lis, ris = [], []
    for keys, lrows, rrows in rules:
        li, ri = _block(keys, max_right, lrows, rrows)
        lis.append(li)
        ris.append(ri)
    li = np.concatenate(lis)
    ri = np.concatenate(ris)
    pair_key = _sorted_unique(li * np.int64(len(r) + 1) + ri)
    return pair_key // (len(r) + 1), pair_key % (len(r) + 1)


# --- linked path --------------------------------------------------------------------------------
def number_links(members: pd.DataFrame, residents: pd.DataFrame) -> pd.DataFrame:
    """Linked (member pos ``li``, resident pos ``ri``, ``linked_by``) pairs by the keyed hash of
    the full number (the first resident holding it). Last-four-only members are linked later,
    on the resolved path (:func:`last4_links`)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    def hashes(frame: pd.DataFrame):
        values = pa.array(frame["number_hash"], from_pandas=True)
        return values if pa.types.is_large_string(values.type) else values.cast(pa.large_string())

    # Arrow's hash lookup gives the first resident holding each member's hash (no Python objects).
    at = pc.index_in(hashes(members), value_set=hashes(residents), skip_nulls=True)
    at = at.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)
    li = np.flatnonzero(at >= 0)
    by_hash = pd.DataFrame({"li": li.astype(np.int64), "ri": at[li]})
    by_hash["linked_by"] = LINKED_BY_NUMBER
    return by_hash


def last4_only_members(members: pd.DataFrame) -> np.ndarray:
    """Members delivered with the last four digits only (domain brief §2a), as a boolean mask."""
    return ((members["number_status"] == LAST4_ONLY).fillna(False).to_numpy(dtype=bool)
            & members["number_hash"].isna().to_numpy())


def last4_links(pairs: pd.DataFrame, last4_only: np.ndarray) -> np.ndarray:
    """Mask over the compared ``pairs``: the candidates a last-four-only member is linked to.

    A resident is the member's link when the last four digits agree (or the resident has none)
    *and* something besides them ties the two: the birth date (exact or one typo away), the
    registry household, or the address. Four digits alone match one resident in 10,000 — a
    stranger met in a name block would otherwise pass for the link."""
    level_last4 = pairs["level_last4"].to_numpy(dtype=object)
    tied = ((pairs["level_birth_date"].to_numpy(dtype=object) != "else")
            | (pairs["level_household"].to_numpy(dtype=object) == "same")
            | (pairs["level_address"].to_numpy(dtype=object) == "exact"))
    agrees = (level_last4 == "exact") | ~pairs["number_last4_r"].notna().to_numpy()
    return last4_only[pairs["li"].to_numpy(np.int64)] & agrees & tied


def home_municipality(members: pd.DataFrame, residents: pd.DataFrame, links: pd.DataFrame) -> np.ndarray:
    """Per member, the municipality code of its insurer's home (市町村国保): the code most of the
    insurer's linked residents have, when they are a clear majority (> 50 %); else None
    (an employee insurer's members live anywhere)."""
    insurer, insurers = pd.factorize(members["insurer_number"], use_na_sentinel=True)
    code, codes = pd.factorize(residents["municipality_code"], use_na_sentinel=True)
    a = insurer[links["li"].to_numpy(np.int64)]
    b = code[links["ri"].to_numpy(np.int64)]
    known = (a >= 0) & (b >= 0)
    if not known.any():
        return np.full(len(members), None, dtype=object)
    width = np.int64(len(codes))
    keys, counts = np.unique(a[known].astype(np.int64) * width + b[known], return_counts=True)
    totals = np.bincount(keys // width, weights=counts, minlength=len(insurers))
    clear = counts > 0.5 * totals[keys // width]
    home = np.full(len(insurers) + 1, -1, dtype=np.int64)   # the last entry: no insurer number
    home[keys[clear] // width] = keys[clear] % width
    home_code = home[insurer]
    names = np.array(codes.tolist() + [None], dtype=object)
    return names[np.where(home_code >= 0, home_code, len(codes))]


# --- household agreement ----------------------------------------------------------------------
def member_households(members: pd.DataFrame) -> np.ndarray:
    """Integer code per member of its insurer household — (保険者番号, 世帯番号): household ids
    are numbered per insurer, so two insurers' equal ids in one feed are two households (−1 none)."""
    household, households = pd.factorize(members["household_id"], use_na_sentinel=True)
    insurer, _ = pd.factorize(members["insurer_number"], use_na_sentinel=True)
    key = (insurer.astype(np.int64) + 1) * np.int64(len(households) + 1) + household
    codes, _ = pd.factorize(np.where(household >= 0, key, -1))
    return np.where(household >= 0, codes, -1)


def household_codes(members: pd.DataFrame, residents: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, int]:
    """Integer codes of the members' insurer households (:func:`member_households`) and the
    residents' registry households (−1 none) and the number of resident households — so every
    household lookup is an int64 join, not a MultiIndex."""
    hh_m = member_households(members)
    hh_r, rh_uniques = pd.factorize(residents["household_id"], use_na_sentinel=True)
    return hh_m, hh_r, len(rh_uniques)


def household_state(members: pd.DataFrame, residents: pd.DataFrame, links: pd.DataFrame,
                    li: np.ndarray, ri: np.ndarray,
                    codes: tuple[np.ndarray, np.ndarray, int] | None = None) -> np.ndarray:
    """Per pair: 'same' when the resident lives in the registry household that the member's
    *other* insurer-household members are linked to; 'different' when there are such members
    and none is in that household; 'unknown' otherwise (single-member household, no ids).
    ``codes``: :func:`household_codes` of the two frames, when already computed."""
    hh_m, hh_r, n_households = codes or household_codes(members, residents)
    width = np.int64(n_households + 1)
    hashed = links[links["linked_by"] == LINKED_BY_NUMBER]
    t_li = hashed["li"].to_numpy(np.int64)
    t_h, t_rh = hh_m[t_li], hh_r[hashed["ri"].to_numpy(np.int64)]
    ok = (t_h >= 0) & (t_rh >= 0)
    t_li, t_h, t_rh = t_li[ok], t_h[ok], t_rh[ok]
    own_rh = np.full(len(members), -1, dtype=np.int64)
    own_rh[t_li] = t_rh
    has_own = own_rh >= 0
    # Anchors per (household, registry household) and per household: sorted keys + counts,
    # looked up by searchsorted (no hash index over the pairs).
    support_keys, support_counts = np.unique(t_h.astype(np.int64) * width + t_rh, return_counts=True)
    per_h = np.bincount(t_h, minlength=int(hh_m.max(initial=-1)) + 1)

    pair_h, pair_rh = hh_m[li], hh_r[ri]
    pair_key = pair_h.astype(np.int64) * width + pair_rh
    at = np.minimum(np.searchsorted(support_keys, pair_key), max(len(support_keys) - 1, 0))
    sup = (np.where(support_keys[at] == pair_key, support_counts[at], 0) if len(support_keys)
           else np.zeros(len(li), dtype=np.int64))
    own = has_own[li]
    sup = sup - (own & (own_rh[li] == pair_rh))
    others = np.where(pair_h >= 0, per_h[np.maximum(pair_h, 0)] if len(per_h) else 0, 0) - own
    known = (pair_h >= 0) & (pair_rh >= 0) & (others > 0)
    return _HOUSEHOLD_STATES[np.where(~known, 0, np.where(sup > 0, 1, 2))]


_HOUSEHOLD_STATES = np.array(["unknown", "same", "different"], dtype=object)


# --- the whole resolution -----------------------------------------------------------------------
def resolve(members: pd.DataFrame, residents: pd.DataFrame, settings: Mapping[str, Any] | None = None,
            model: Mapping[str, Any] | None = None) -> Resolution:
    """Resolve every member on both paths; see the module docstring."""
    conf = resolve_settings(settings)
    model = dict(model or load_model(conf.get("mislink_model_path")))
    shared_as = residents            # the frame itself: its prepared side may be kept (shared_residents)
    members = members.reset_index(drop=True)
    residents = residents.reset_index(drop=True)
    m, r = prepare_sides(members, residents, shared_as=shared_as)
    del shared_as

    links = number_links(members, residents)
    last4_only = last4_only_members(members)
    m["municipality"] = home_municipality(members, residents, links)
    recode(m, r, "municipality")
    # Members whose linked resident already agrees on birth date and sex need no search across
    # birth dates (the birth-date blocks still look for a better namesake).
    agrees = np.zeros(len(m), dtype=bool)
    if len(links):
        l_li, l_ri = links["li"].to_numpy(np.int64), links["ri"].to_numpy(np.int64)
        same_birth = m["birth_date"].to_numpy()[l_li] == r["birth_date"].to_numpy()[l_ri]
        same_sex = m["sex"].to_numpy(dtype=object)[l_li] == r["sex"].to_numpy(dtype=object)[l_ri]
        agrees[l_li[same_birth & same_sex]] = True
    codes = [column_codes(side, column) for side in (m, r) for column in ("number_last4", "sex")]
    if last4_only.any() and all(c is not None for c in codes):
        # A last-four-only member whose digits, birth date and sex a resident shares needs no
        # search across birth dates either: one int64 key of the three (codes of one
        # factorisation of both sides, day numbers), members' keys looked up among residents'.
        def keys(l4: np.ndarray, sex: np.ndarray, day: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            present = (l4 >= 0) & (sex >= 0) & (day >= 0)
            return (l4.astype(np.int64) * 8 + sex) * np.int64(1 << 24) + day, present

        key_m, ok_m = keys(codes[0], codes[1], _days(m["birth_date"]))
        key_r, ok_r = keys(codes[2], codes[3], _days(r["birth_date"]))
        rows = np.flatnonzero(last4_only & ok_m)
        # A hash set of the residents' keys (np.isin sorts both sides: 5M x4, ~8 s a partition).
        agrees[rows[pd.Index(key_m[rows]).isin(key_r[ok_r])]] = True
    elif last4_only.any():
        ml = pd.DataFrame({"l4": members["number_last4"].to_numpy(dtype=object)[last4_only],
                           "b": m["birth_date"].to_numpy()[last4_only], "s": m["sex"].to_numpy(dtype=object)[last4_only],
                           "li": np.flatnonzero(last4_only)}).dropna()
        rl = pd.DataFrame({"l4": residents["number_last4"].to_numpy(dtype=object), "b": r["birth_date"].to_numpy(),
                           "s": r["sex"].to_numpy(dtype=object)}).dropna().drop_duplicates()
        agrees[ml.merge(rl, on=["l4", "b", "s"])["li"].to_numpy(np.int64)] = True
    li, ri = candidate_pairs(m, r, int(conf["block_max_residents"]), needs_wide=~agrees)
    width = np.int64(len(r) + 1)
    key_all = _sorted_unique(np.concatenate([li * width + ri,
                                             links["li"].to_numpy(np.int64) * width + links["ri"].to_numpy(np.int64)]))
    li, ri = key_all // width, key_all % width

    pairs = pairs_frame(m, r, li, ri)
    households = household_codes(members, residents)
    # Kept as Python objects (three shared strings): the comparisons test it by ==, and a str
    # column would be converted back to 1.7M objects for every test.
    pairs["household_state"] = pd.Series(household_state(members, residents, links, li, ri, households), dtype=object)
    compare(pairs, COMPARISONS)
    pairs["logit"] = pair_logit(pairs, model)
    pairs["p_same"] = sigmoid(pairs["logit"].to_numpy())
    # key_all is sorted and holds every link: mark the links' positions in it.
    link_key = links["li"].to_numpy(np.int64) * width + links["ri"].to_numpy(np.int64)
    is_linked = np.zeros(len(key_all), dtype=bool)
    is_linked[np.searchsorted(key_all, link_key)] = True
    verdicts, all_links = _link_and_judge(pairs, links, is_linked, last4_only, members, residents, model, conf)
    # A mis-linked member must not vouch for its family: its link points into another registry
    # household, which would make the family's own residents look like strangers. Judge the
    # household again without the suspected links as anchors, and rescore the pairs it changes.
    suspected = verdicts["member_pos"].to_numpy(np.int64)[verdicts["suspected"].to_numpy(dtype=bool)]
    if len(suspected):
        anchors = links[~np.isin(links["li"].to_numpy(np.int64), suspected)]
        state = household_state(members, residents, anchors, li, ri, households)
        changed = np.flatnonzero(state != pairs["household_state"].to_numpy(dtype=object))
        if len(changed):
            _rescore(pairs, changed, state[changed], model)
            # Only the members whose pairs changed are judged again.
            affected = np.unique(li[changed])
            rows = np.isin(li, affected)
            sub_pairs = pairs[rows]
            sub_verdicts, _ = _link_and_judge(sub_pairs, links[np.isin(links["li"].to_numpy(np.int64), affected)],
                                              is_linked[rows], last4_only, members, residents, model, conf)
            pairs.loc[rows, "is_linked"] = sub_pairs["is_linked"].to_numpy()
            verdicts = pd.concat([verdicts[~np.isin(verdicts["member_pos"].to_numpy(np.int64), affected)], sub_verdicts],
                                 ignore_index=True).sort_values("member_pos", kind="stable").reset_index(drop=True)
            by_last4 = last4_links(pairs, last4_only)
            all_links = pd.concat([links, pd.DataFrame({"li": li[by_last4], "ri": ri[by_last4], "linked_by": LINKED_BY_LAST4})],
                                  ignore_index=True)
    # The codes served the comparisons; the rules read values and levels.
    pairs = drop_codes(pairs)
    del m, r
    release_memory()   # the prepared sides and the comparisons' temporaries are gone
    return Resolution(verdicts=verdicts, pairs=pairs, members=members, residents=residents,
                      settings=conf, model=model)


def _rescore(pairs: pd.DataFrame, rows: np.ndarray, household: np.ndarray, model: Mapping[str, Any]) -> None:
    """Compare and score ``rows`` of ``pairs`` again with another household state (in place)."""
    sub = pairs.iloc[rows].copy()
    sub["household_state"] = pd.Series(household, index=sub.index, dtype=object)
    compare(sub, COMPARISONS)
    sub["logit"] = pair_logit(sub, model)
    sub["p_same"] = sigmoid(sub["logit"].to_numpy())
    for column in ["household_state", "logit", "p_same",
                   *[f"{kind}_{c.field}" for c in COMPARISONS for kind in ("gamma", "label", "level")]]:
        values = pairs[column]
        if isinstance(values.dtype, pd.CategoricalDtype):
            codes = values.cat.codes.to_numpy().copy()
            codes[rows] = sub[column].cat.codes.to_numpy()
            pairs[column] = pd.Categorical.from_codes(codes, categories=values.cat.categories)
        else:
            array = values.to_numpy().copy()
            array[rows] = sub[column].to_numpy()
            pairs[column] = pd.Series(array, index=pairs.index, dtype=values.dtype)


def pair_positions(pairs: pd.DataFrame, n_residents: int, member_pos: np.ndarray, resident_pos: np.ndarray) -> np.ndarray:
    """Row positions in ``pairs`` of the pairs (member pos, resident pos) (−1 absent), on one
    int64 key: the resolver's pairs are sorted by (member, resident), so a binary search finds
    them without building a hash index over every pair."""
    width = np.int64(n_residents + 1)
    keys = pairs["li"].to_numpy(np.int64) * width + pairs["ri"].to_numpy(np.int64)
    wanted = np.asarray(member_pos, dtype=np.int64) * width + np.asarray(resident_pos, dtype=np.int64)
    if len(keys) and not (keys[1:] > keys[:-1]).all():
        return pd.Index(keys).get_indexer(wanted)
    at = np.searchsorted(keys, wanted)
    found = at < len(keys)
    found[found] = keys[at[found]] == wanted[found]
    return np.where(found, at, -1)


def _link_and_judge(pairs: pd.DataFrame, links: pd.DataFrame, is_linked: np.ndarray, last4_only: np.ndarray,
                    members: pd.DataFrame, residents: pd.DataFrame, model: Mapping[str, Any],
                    conf: Mapping[str, Any]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Last-four-only members' links (§2a) on the scored pairs, then every member's verdict."""
    li, ri = pairs["li"].to_numpy(np.int64), pairs["ri"].to_numpy(np.int64)
    by_last4 = last4_links(pairs, last4_only)
    pairs["is_linked"] = is_linked | by_last4
    all_links = pd.concat([links, pd.DataFrame({"li": li[by_last4], "ri": ri[by_last4], "linked_by": LINKED_BY_LAST4})],
                          ignore_index=True)
    verdicts = _verdicts(pairs, all_links, members, residents, model, conf, last4_only)
    verdicts["suspected"] = _suspected(pairs, verdicts, conf)
    return verdicts, all_links


def _suspected(pairs: pd.DataFrame, verdicts: pd.DataFrame, conf: Mapping[str, Any]) -> np.ndarray:
    """Per verdict: the link is suspected wrong (MISLINK_SUSPECTED's test, read by every rule).

    P(link wrong) reaches ``mislink_queue_threshold`` — unless the identity items themselves
    (name, birth date, sex) agree with the linked resident and no other resident is plausibly
    the member: then only the context differs (a move, a stale address), which is not evidence
    of a different person (contract: "on name / birth date / sex / last4 evidence")."""
    p_wrong = np.nan_to_num(verdicts["p_wrong"].to_numpy(dtype=float))
    suspected = p_wrong >= float(conf["mislink_queue_threshold"])
    linked = verdicts["linked_pos"].to_numpy(np.int64)
    rows = np.flatnonzero(suspected & (linked >= 0))
    if len(rows):
        at = pair_positions(pairs, int(pairs["ri"].max()) + 1 if len(pairs) else 0,
                            verdicts["member_pos"].to_numpy(np.int64)[rows], linked[rows])
        linked_pairs = pairs.iloc[at]
        identity = (names_agree(linked_pairs) & (linked_pairs["level_birth_date"].to_numpy(dtype=object) == "exact")
                    & (linked_pairs["level_sex"].to_numpy(dtype=object) == "exact"))
        other = verdicts["other_pos"].to_numpy(np.int64)[rows] >= 0
        plausible = other & (np.nan_to_num(verdicts["p_same_other"].to_numpy(dtype=float)[rows])
                             >= float(conf["resolved_min_same_probability"]))
        suspected[rows[identity & ~plausible]] = False
    return suspected


def _verdicts(pairs: pd.DataFrame, links: pd.DataFrame, members: pd.DataFrame, residents: pd.DataFrame,
              model: Mapping[str, Any], conf: Mapping[str, Any], last4_only: np.ndarray) -> pd.DataFrame:
    n = len(members)
    li, ri = pairs["li"].to_numpy(np.int64), pairs["ri"].to_numpy(np.int64)
    logit = pairs["logit"].to_numpy(dtype=float)
    is_linked = pairs["is_linked"].to_numpy(dtype=bool)
    # Per member, candidates by descending logit (ties in pair order): the best linked one (of
    # ambiguous last4 links) and the best other one.
    order = np.lexsort((-logit, li))

    def best(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        idx = order[rows[order]]
        first = np.ones(len(idx), dtype=bool)
        first[1:] = li[idx[1:]] != li[idx[:-1]]
        idx = idx[first]
        best_pos, best_logit = np.full(n, -1, dtype=np.int64), np.full(n, np.nan)
        best_pos[li[idx]] = ri[idx]
        best_logit[li[idx]] = logit[idx]
        return best_pos, best_logit

    linked_best, linked_logit = best(is_linked)
    other_best, other_logit = best(~is_linked)
    pos = np.flatnonzero((linked_best >= 0) | (other_best >= 0))
    has_l, has_o = linked_best[pos] >= 0, other_best[pos] >= 0
    lpi = np.where(has_l, linked_best[pos], 0)
    opi = np.where(has_o, other_best[pos], 0)
    logit_l, logit_o = linked_logit[pos], other_logit[pos]
    link_li = links["li"].to_numpy(np.int64)
    n_links = np.bincount(link_li, minlength=n)
    first_link = np.flatnonzero(~pd.Series(link_li).duplicated().to_numpy())
    linked_by = np.full(n, None, dtype=object)
    linked_by[link_li[first_link]] = links["linked_by"].to_numpy(dtype=object)[first_link]
    p_wrong = np.full(len(pos), np.nan)
    p_wrong[has_l] = link_wrong_probability(logit_l[has_l], np.nan_to_num(logit_o[has_l], nan=0.0),
                                            has_o[has_l], model)
    # A last-four-only member none of whose candidates holds those digits: when the best
    # candidate is confidently the member, the digits belong to someone else (§2a) — the
    # probability that the link is wrong is the probability that this candidate is the member.
    unlinked_last4 = last4_only[pos] & ~has_l
    p_other = sigmoid(np.nan_to_num(logit_o, nan=-99))
    found = unlinked_last4 & has_o & (p_other >= float(conf["resolved_min_same_probability"]))
    p_wrong[found] = p_other[found]
    # The resolved resident: the linked one unless another candidate scores higher.
    other_better = has_o & (~has_l | (np.nan_to_num(logit_o, nan=-99) > np.nan_to_num(logit_l, nan=-99)))
    resolved = np.where(other_better, opi, lpi)
    any_res = has_l | has_o
    result = pd.DataFrame({
        "insurer_number": _strings(members["insurer_number"], pos),
        "member_id": _strings(members["member_id"], pos),
        "member_pos": pos,
        "linked_pos": np.where(has_l, lpi, -1),
        "linked_resident_id": _strings(residents["resident_id"], lpi, has_l),
        "linked_by": linked_by[pos],
        "linked_ambiguous": n_links[pos] > 1,
        "p_same_linked": np.where(has_l, sigmoid(np.nan_to_num(logit_l)), np.nan),
        "other_pos": np.where(has_o, opi, -1),
        "other_resident_id": _strings(residents["resident_id"], opi, has_o),
        "p_same_other": np.where(has_o, sigmoid(np.nan_to_num(logit_o)), np.nan),
        "p_wrong": p_wrong,
        "resolved_resident_id": _strings(residents["resident_id"], resolved, any_res),
        "resolved_last4": _strings(residents["number_last4"], resolved, any_res),
        "resolved_pos": np.where(any_res, resolved, -1),
        "last4_only": last4_only[pos],
        # A last-four-only member whose best candidate is confidently them but holds other digits.
        "last4_mismatch": found,
    })
    return result


def _strings(column: pd.Series, positions: np.ndarray, present: np.ndarray | None = None):
    """``column`` at ``positions`` as a ``str`` array, missing where not ``present`` — what a frame
    built from the values as Python objects holds, taken in Arrow without making the objects."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if len(positions) == 0:
        return pd.array([], dtype="str")
    at = positions if present is None else np.where(present, positions, 0)
    values = column.take(at).astype("str").array
    if present is None:
        return values
    arrow = pa.array(values)
    return pd.array(pc.if_else(pa.array(present), arrow, pa.scalar(None, arrow.type)), dtype="str")


EVIDENCE_FIELDS = {  # comparison field → (member column, resident column) shown as the two sides
    "name_kanji": ("name_kanji", "name_kanji"), "name_kana": ("name_kana", "name_kana"),
    "name_alpha": ("name_alpha", "name_alpha"), "birth_date": ("birth_date", "birth_date"),
    "sex": ("sex", "sex"), "last4": ("number_last4", "number_last4"), "address": ("address", "address"),
    "municipality": ("insurer_number", "municipality_code"), "household": ("household_id", "household_id"),
}


def _column(frame: pd.DataFrame, column: str, rows: np.ndarray) -> list:
    if column not in frame:
        return [None] * len(rows)
    values = frame[column]
    if pd.api.types.is_datetime64_any_dtype(values):
        taken = values.to_numpy()[rows]
        return [None if pd.isna(v) else str(v)[:10] for v in taken]
    # Take the rows first: converting the whole (1M-row) column to objects dominated evidence time.
    taken = values.take(np.asarray(rows, dtype=np.int64)).to_numpy(dtype=object, na_value=None)
    if isinstance(values.dtype, (pd.StringDtype, pd.Int64Dtype)):
        return taken.tolist()   # str / int / None already: what _plain would leave
    return [_plain(v) for v in taken]


def field_evidence(resolution: Resolution, pair_rows: pd.DataFrame) -> list[dict[str, Any]]:
    """Per pair: each compared field's values on both sides, level label, gamma and contribution
    (built column-wise: one pass per field, not per row)."""
    rows = pair_rows.reset_index(drop=True)
    n = len(rows)
    if n == 0:
        return []
    contrib = contributions(rows, resolution.model)
    li, ri = rows["li"].to_numpy(np.int64), rows["ri"].to_numpy(np.int64)
    members, residents = resolution.members, resolution.residents
    out: list[dict[str, Any]] = [{} for _ in range(n)]
    for comparison in COMPARISONS:
        f = comparison.field
        left_col, right_col = EVIDENCE_FIELDS[f]
        left = _column(members, left_col, li)
        right = _column(residents, right_col, ri)
        levels = rows[f"level_{f}"].to_numpy(dtype=object)
        labels = rows[f"label_{f}"].to_numpy(dtype=object)
        gammas = [int(g) for g in rows[f"gamma_{f}"].to_numpy()]
        weights = ([float(w) for w in np.round(contrib[f], 3)] if f in contrib else [None] * n)
        for d, lv, rv, level, label, gamma, weight in zip(out, left, right, levels, labels, gammas, weights):
            d[f] = {"member": lv, "resident": rv, "level": level, "label": label,
                    "gamma": gamma, "contribution": weight}
    for extra, label in (("alias_name", "resident_alias"), ("former_surname", "resident_former_surname")):
        values = _column(residents, extra, ri)
        for i, value in enumerate(values):
            if value:
                out[i]["name_kanji"][label] = value
    return out


def _plain(value: Any) -> Any:
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, float) and np.isnan(value):
        return None
    if isinstance(value, pd.Timestamp):
        return value.date().isoformat()
    if isinstance(value, (np.integer,)):
        return int(value)
    return value


def compare_members(members: pd.DataFrame, li: np.ndarray, lj: np.ndarray,
                    model: Mapping[str, Any] | None = None) -> pd.DataFrame:
    """Member-against-member pairs (one number held by two members): are they one person?

    Judged on the identity items only — names, birth date, sex: household, address and
    municipality are set to unknown, since one person may well be insured twice in two places
    (an old qualification left valid), which is not a shared number of different persons.
    """
    model = dict(model or load_model())
    side = prepare_side(members.reset_index(drop=True), "members", codes=True)
    for column in ("address_key", "municipality"):
        side[column] = None
        side[CODE_PREFIX + column] = np.int32(-1)
    pairs = pairs_frame(side, side, np.asarray(li, dtype=np.int64), np.asarray(lj, dtype=np.int64))
    pairs["household_state"] = "unknown"
    compare(pairs, COMPARISONS)
    pairs["logit"] = pair_logit(pairs, model)
    pairs["p_same"] = sigmoid(pairs["logit"].to_numpy())
    return drop_codes(pairs)
