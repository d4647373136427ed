"""名寄せ / the two paths: linked by number (or last4 + birth date) and resolved by blocking + scoring."""
from __future__ import annotations

import numpy as np
import pandas as pd

from matchers.resolve import candidate_pairs, household_state, number_links, resolve
from matchers.prepare import CODED_COLUMNS, SIDE_COLUMNS, prepare_side
from tests.factories import members_frame, residents_frame

RESIDENTS = residents_frame([
    {"resident_id": "R1", "number": "000000000011", "name_kanji": "山田 太郎", "name_kana": "ヤマダ タロウ",
     "birth_date": "1960-04-01", "household_id": "H1"},
    {"resident_id": "R2", "number": "000000000022", "name_kanji": "山田 花子", "name_kana": "ヤマダ ハナコ",
     "birth_date": "1962-07-07", "sex": 2, "household_id": "H1"},
    {"resident_id": "R3", "number": "000000000033", "name_kanji": "鈴木 一郎", "name_kana": "スズキ イチロウ",
     "birth_date": "1970-03-03", "household_id": "H2"},
])


def test_linked_by_hash_and_last4_only_members_by_their_resolved_resident():
    members = members_frame([
        {"member_id": "M1", "number": "000000000011", "name_kanji": "山田 太郎", "birth_date": "1960-04-01"},
        {"member_id": "M2", "number_hash": None, "number_last4": "0022", "number_status": "last4_only",
         "name_kanji": "山田 花子", "name_kana": "ヤマダ ハナコ", "birth_date": "1962-07-07", "sex": 2},
        # Same last four as 花子 but nobody like this person lives here: no link, nobody matches.
        {"member_id": "M3", "number_hash": None, "number_last4": "0022", "number_status": "last4_only",
         "name_kanji": "木村 拓也", "name_kana": "キムラ タクヤ", "birth_date": "1999-01-01"},
    ])
    assert number_links(members, RESIDENTS).values.tolist() == [[0, 0, "number_hash"]]
    verdicts = resolve(members, RESIDENTS).verdicts.set_index("member_id")
    assert (verdicts.loc["M2", "linked_resident_id"], verdicts.loc["M2", "linked_by"]) == ("R2", "last4")
    assert verdicts.loc["M2", "p_wrong"] < 0.3
    assert "M3" not in verdicts.index or verdicts.loc["M3", "linked_pos"] == -1


def test_last4_only_member_whose_resolved_resident_holds_other_digits_is_a_mismatch():
    members = members_frame([
        {"member_id": "M2", "number_hash": None, "number_last4": "0033", "number_status": "last4_only",
         "name_kanji": "山田 花子", "name_kana": "ヤマダ ハナコ", "birth_date": "1962-07-07", "sex": 2},
    ])
    verdict = resolve(members, RESIDENTS).verdicts.iloc[0]
    assert (verdict["linked_pos"], verdict["resolved_resident_id"], bool(verdict["last4_mismatch"])) == (-1, "R2", True)
    assert verdict["p_wrong"] > 0.5


def test_blocking_finds_a_birth_date_typo_and_a_variant_name():
    members = members_frame([
        {"member_id": "M1", "number": None, "name_kanji": "鈴木 一郎", "name_kana": "スズキ イチロウ",
         "birth_date": "1970-03-08"},
        {"member_id": "M2", "number": None, "name_kanji": "山田 花子", "name_kana": "ﾔﾏﾀﾞ ﾊﾅｺ",
         "birth_date": "1962-07-07", "sex": 2},
    ])
    li, ri = candidate_pairs(prepare_side(members, "members"), prepare_side(RESIDENTS, "residents"), 60)
    assert sorted(zip(li.tolist(), ri.tolist())) == [(0, 2), (1, 1)]


def test_household_state_uses_the_other_members_links():
    members = members_frame([
        {"member_id": "M1", "number": "000000000011", "household_id": "X9"},
        {"member_id": "M2", "number": None, "household_id": "X9"},
        {"member_id": "M3", "number": None, "household_id": "X8"},
    ])
    links = number_links(members, RESIDENTS)
    state = household_state(members, RESIDENTS, links, np.array([0, 1, 1, 2]), np.array([1, 1, 2, 1]))
    # M1 alone has a link: its own household cannot vouch for itself; M2 is vouched for by M1.
    assert state.tolist() == ["unknown", "same", "different", "unknown"]


def test_resolution_suggests_the_right_person():
    members = members_frame([
        {"member_id": "M1", "number": "000000000011", "name_kanji": "山田 花子", "name_kana": "ヤマダ ハナコ",
         "birth_date": "1962-07-07", "sex": 2, "household_id": "H1"},
    ])
    verdict = resolve(members, RESIDENTS).verdicts.iloc[0]
    assert (verdict["linked_resident_id"], verdict["resolved_resident_id"], verdict["resolved_last4"]) == ("R1", "R2", "0022")
    assert verdict["p_wrong"] > 0.9


def test_preparing_both_sides_at_once_equals_preparing_each():
    import pandas as pd

    from matchers.prepare import prepare_sides

    members = members_frame([
        {"member_id": "M1", "number": "000000000011", "name_kanji": "山田 太郎", "birth_date": "1960-04-01"},
        {"member_id": "M2", "number": None, "name_kanji": "髙橋 〓子", "name_kana": "ﾀｶﾊｼ ﾖｳｺ", "sex": 2},
        {"member_id": "M3", "number": None, "name_kanji": "NGUYEN VAN AN", "name_kana": "グエン ヴァン アン"},
    ])
    m, r = prepare_sides(members, RESIDENTS)

    def values(frame):
        # Sides prepared together hold their coded columns as categoricals of one vocabulary.
        return pd.DataFrame({c: pd.Series(frame[c].to_numpy(dtype=object, na_value=None), dtype=object)
                             if frame[c].dtype == "category" else frame[c] for c in frame.columns})

    assert all(m[c].dtype == "category" and m[c].dtype is r[c].dtype for c in CODED_COLUMNS
               if c not in ("alias_key", "former_key"))   # the members side has none
    pd.testing.assert_frame_equal(values(m[SIDE_COLUMNS]), prepare_side(members, "members"))
    pd.testing.assert_frame_equal(values(r[SIDE_COLUMNS]), prepare_side(RESIDENTS, "residents"))


SHARED_RESIDENTS = residents_frame([
    {"resident_id": "R1", "number": "000000000011", "name_kanji": "WANG MING", "alias_name": "王 明",
     "name_kana": "ワン ミン", "birth_date": "1960-04-01", "municipality_code": "131016"},
    {"resident_id": "R2", "number": "000000000022", "name_kanji": "高橋 洋子", "former_surname": "高橋",
     "birth_date": "1962-07-07", "sex": 2, "municipality_code": "131024"},
    {"resident_id": "R3", "number": "000000000033", "name_kanji": "山田 太郎", "name_kana": "ヤマダ タロウ",
     "birth_date": "1960-04-01", "sex": 1, "municipality_code": "131016"},
])
FIRST_MEMBERS = [
    {"member_id": "A1", "number": "000000000011", "name_kanji": "王 明", "name_kana": "ワン ミン", "sex": 1},
]
LATER_MEMBERS = [   # values the residents and the first members lack: a new name, new last four, sex 9
    {"member_id": "B1", "number_hash": None, "number_last4": "0022", "number_status": "last4_only", "name_kanji": "髙橋 洋子", "name_kana": "タカハシ ヨウコ",
     "birth_date": "1962-07-07", "sex": 2},
    {"member_id": "B2", "number": "000000000044", "name_kanji": "鈴木 一郎", "name_kana": "スズキ イチロウ", "sex": 9},
    {"member_id": "B3", "number": "000000000033", "name_kanji": "山田 太郎", "name_kana": "ヤマダ タロウ",
     "birth_date": "1960-04-01", "sex": 1},
]


def test_a_shared_residents_side_gives_the_later_partitions_the_same_sides_and_resolution():
    """Under ``shared_residents`` a second members frame is prepared alone and joined to the kept
    residents' vocabulary: the same values as preparing both at once, equal codes exactly for equal
    values (also the separately coded sex and last four), the kept side untouched by the caller's
    recode, and the same resolution as without sharing."""
    from matchers.prepare import (CODE_PREFIX, SEPARATELY_CODED, _SHARED, column_codes, prepare_sides, recode,
                                  shared_residents)

    first, later = members_frame(FIRST_MEMBERS), members_frame(LATER_MEMBERS)
    plain_m, plain_r = prepare_sides(later, SHARED_RESIDENTS)
    with shared_residents(SHARED_RESIDENTS):
        prepare_sides(first, SHARED_RESIDENTS, shared_as=SHARED_RESIDENTS)
        kept = _SHARED[id(SHARED_RESIDENTS)][1]
        kept_codes = kept[CODE_PREFIX + "municipality"].copy()
        m, r = prepare_sides(later, SHARED_RESIDENTS, shared_as=SHARED_RESIDENTS)
        m["municipality"] = np.array(["131024", "999999", None], dtype=object)
        recode(m, r, "municipality")
        now_kept = _SHARED[id(SHARED_RESIDENTS)][1]     # the joined side, kept for the next partition
        assert now_kept is not r and now_kept[CODE_PREFIX + "municipality"].equals(kept_codes)
        shared_resolution = resolve(later, SHARED_RESIDENTS)
    assert not _SHARED

    def values(frame):
        return pd.DataFrame({c: pd.Series(frame[c].to_numpy(dtype=object, na_value=None), dtype=object)
                             if frame[c].dtype == "category" else frame[c] for c in SIDE_COLUMNS if c != "municipality"})

    pd.testing.assert_frame_equal(values(m), values(plain_m))
    pd.testing.assert_frame_equal(values(r), values(plain_r))
    assert m.attrs["vocabulary"] == r.attrs["vocabulary"] != kept.attrs["vocabulary"]   # joined, not prepared again
    assert all(m[c].dtype is r[c].dtype for c in CODED_COLUMNS if c not in ("alias_key", "former_key"))
    both = pd.concat([values(m), values(r)], ignore_index=True)
    both["municipality"] = np.concatenate([m["municipality"].to_numpy(dtype=object),
                                           r["municipality"].to_numpy(dtype=object, na_value=None)])
    for c in [*CODED_COLUMNS, *SEPARATELY_CODED]:
        codes = np.concatenate([column_codes(side, c) if column_codes(side, c) is not None else np.full(len(side), -1)
                                for side in (m, r)])
        plain = both[c].to_numpy(dtype=object)
        assert ((codes >= 0) == pd.notna(both[c]).to_numpy()).all(), c
        for i in range(len(plain)):
            for j in range(len(plain)):
                if codes[i] >= 0 and codes[j] >= 0:
                    assert (codes[i] == codes[j]) == (plain[i] == plain[j]), (c, i, j)

    alone = resolve(later, SHARED_RESIDENTS)
    pd.testing.assert_frame_equal(shared_resolution.verdicts, alone.verdicts)
    pd.testing.assert_frame_equal(shared_resolution.pairs.astype(object), alone.pairs.astype(object))


def test_codes_of_one_vocabulary_agree_with_the_values_they_stand_for():
    """Equal values, equal codes (also across columns: a member's kanji key against the resident's
    通称 key); missing values −1; codes of two vocabularies never reach one pairs frame."""
    from matchers.prepare import (CODE_PREFIX, CODED_COLUMNS, SEPARATELY_CODED, column_codes, pairs_frame, prepare_sides,
                                  recode)

    members = members_frame([
        {"member_id": "M1", "number": None, "name_kanji": "王 明", "name_kana": "ワン ミン", "sex": 1},
        {"member_id": "M2", "number": None, "name_kanji": "髙橋 〓子", "name_kana": None, "sex": 2},
    ])
    residents = residents_frame([
        {"resident_id": "R1", "number": "000000000011", "name_kanji": "WANG MING", "alias_name": "王 明",
         "name_kana": "ワン ミン", "birth_date": "1960-04-01"},
        {"resident_id": "R2", "number": "000000000022", "name_kanji": "高橋 洋子", "former_surname": "高橋",
         "birth_date": "1962-07-07", "sex": 2},
    ])
    m, r = prepare_sides(members, residents)
    m["municipality"] = np.array(["131016", None], dtype=object)
    recode(m, r, "municipality")
    values = pd.concat([m, r], ignore_index=True)
    columns = [*CODED_COLUMNS, *SEPARATELY_CODED]

    def side_codes(frame, c):
        found = column_codes(frame, c)
        return np.full(len(frame), -1) if found is None else found   # the members' 通称 / 旧氏: none

    codes = {c: np.concatenate([side_codes(m, c), side_codes(r, c)]) for c in columns}
    plain = {c: values[c].to_numpy(dtype=object) for c in columns}
    for c in columns:
        assert ((codes[c] >= 0) == pd.notna(values[c]).to_numpy()).all(), c
    same_vocabulary = [c for c in CODED_COLUMNS]
    for a in same_vocabulary:
        for b in same_vocabulary:
            for i in range(len(values)):
                for j in range(len(values)):
                    if codes[a][i] >= 0 and codes[b][j] >= 0:
                        assert (codes[a][i] == codes[b][j]) == (plain[a][i] == plain[b][j]), (a, b, i, j)
    assert column_codes(m, "kanji_key")[0] == column_codes(r, "alias_key")[0]
    together = pairs_frame(m, r, np.array([0]), np.array([0]))
    assert column_codes(together, "kanji_key_l") is not None
    assert together["kanji_key_l"].dtype is together["alias_key_r"].dtype
    apart = pairs_frame(prepare_side(members, "members", codes=True), prepare_side(residents, "residents", codes=True),
                        np.array([0]), np.array([0]))
    # Two vocabularies: no code_ columns, and the categoricals' codes are never compared across.
    assert not [c for c in apart.columns if c.startswith(CODE_PREFIX)]
    assert apart["kanji_key_l"].dtype is not apart["kanji_key_r"].dtype
    from matchers.comparisons import PairView, equal
    assert equal(PairView(apart), "kanji_key_l", "alias_key_r").tolist() == [True]


def test_two_insurers_sharing_a_household_id_are_two_households():
    """世帯番号 are numbered per insurer: in a prefecture's feed two insurers' equal household ids
    are two households, so one insurer's linked member never vouches for the other's member."""
    members = members_frame([
        {"insurer_number": "131016", "member_id": "M1", "number": "000000000011", "household_id": "H1"},
        {"insurer_number": "131016", "member_id": "M2", "number": None, "household_id": "H1"},
        {"insurer_number": "272000", "member_id": "M3", "number": None, "household_id": "H1"},
    ])
    links = number_links(members, RESIDENTS)
    state = household_state(members, RESIDENTS, links, np.array([1, 2]), np.array([1, 1]))
    # M2 shares insurer 131016's household H1 with the linked M1; M3 is alone in 272000's H1.
    assert state.tolist() == ["same", "unknown"]


def test_header_only_frames_resolve_to_nothing():
    """Empty Arrow-backed text columns (header-only files) prepare and resolve without error."""
    members, residents = members_frame([]), residents_frame([])
    members = members.astype({c: "string[pyarrow]" for c in members.columns if members[c].dtype == "string"})
    residents = residents.astype({c: "string[pyarrow]" for c in residents.columns if residents[c].dtype == "string"})
    res = resolve(members, residents)
    assert len(res.verdicts) == 0 and len(res.pairs) == 0
