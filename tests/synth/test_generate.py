"""合成フィード / the synthetic feed generator: files, determinism, clean base, injections."""
from __future__ import annotations

import hashlib
import json
import time
import unicodedata

import numpy as np
import pandas as pd
import pytest

from reconcile.privacy import check_digits_ok
from reconcile.synth import numbers, rules_truth as rt
from reconcile.synth.generate import build, generate
from reconcile.synth.population import build_world, status_as_of
from reconcile.synth.world import TRUTH_COLUMNS

AS_OF = "2026-11-01"
N = 2_500   # ≥ 2,000: at least one of each number / date injection

CONTRACT_COLUMNS = {
    "members": {"insurer_number", "insurer_type", "member_id", "household_id", "name_kanji", "name_kana",
                "name_alpha", "birth_date", "sex", "address", "individual_number", "individual_number_last4",
                "acquisition_date", "loss_date", "loss_reason", "card_issue_date", "burden_ratio",
                "limit_category", "taxable_income", "kyu_tadashigaki_income", "resident_tax_exempt"},
    "residents": {"resident_id", "individual_number", "individual_number_last4", "name_kanji", "name_kana",
                  "name_alpha", "alias_name", "former_surname", "birth_date", "sex", "address",
                  "municipality_code", "household_id", "status", "status_date", "moved_in_date"},
    "oqs": {"insurer_number", "member_id", "individual_number", "individual_number_last4", "name_kanji",
            "name_kana", "name_alpha", "birth_date", "sex", "acquisition_date", "loss_date", "burden_ratio",
            "limit_category"},
    "benefit_history": {"source", "insurer_number", "member_id", "item", "value", "valid_from", "valid_to"},
    "card_status": {"insurer_number", "member_id", "registered", "registration_date", "cancellation_code",
                    "ecert_expiry_date", "card_returned_date", "self_info_restricted", "kakuninsho_requested",
                    "kakuninsho_issued_date", "kakuninsho_valid_until", "oshirase_issued_date", "status_as_of"},
}


def _read(path):
    raw = path.read_bytes()
    for encoding in ("utf-8-sig", "cp932"):
        try:
            text = raw.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    from io import StringIO
    return pd.read_csv(StringIO(text), dtype=str, keep_default_na=False)


def _digits(series: pd.Series) -> pd.Series:
    return series.map(lambda v: unicodedata.normalize("NFKC", v).replace("-", "").replace(" ", ""))


@pytest.fixture(scope="module")
def feed(tmp_path_factory):
    out = tmp_path_factory.mktemp("feed")
    result = generate(out, members=N, seed=11, as_of=AS_OF)
    return result


@pytest.fixture(scope="module")
def clean_world():
    return build_world(N, seed=5, as_of=AS_OF)


def test_every_contract_file_is_written_with_its_columns(feed):
    for name, columns in CONTRACT_COLUMNS.items():
        frame = _read(feed.out_dir / f"{name}.csv")
        assert columns == set(frame.columns), name
        assert feed.counts[name] == len(frame)
    # Injectors may add a member row (e.g. an old qualification left open); the clean base is exact.
    assert N <= feed.counts["members"] <= N * 1.01
    manifest = json.loads((feed.out_dir / "manifest.json").read_text(encoding="utf-8"))
    assert {"as_of": AS_OF, "period": "2026-11"} == {k: manifest[k] for k in ("as_of", "period")}
    truth = pd.read_csv(feed.truth_path, dtype=str)
    assert TRUTH_COLUMNS == list(truth.columns)


def test_same_seed_same_bytes_and_another_seed_differs(tmp_path):
    def digest(directory):
        return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(directory.iterdir())}

    generate(tmp_path / "a", members=400, seed=3, as_of=AS_OF)
    generate(tmp_path / "b", members=400, seed=3, as_of=AS_OF)
    generate(tmp_path / "c", members=400, seed=4, as_of=AS_OF)
    assert digest(tmp_path / "a") == digest(tmp_path / "b")
    assert digest(tmp_path / "a")["members.csv"] != digest(tmp_path / "c")["members.csv"]


def test_small_feed_is_generated_in_a_few_seconds(tmp_path):
    # CPU time, not wall time: the test machine is shared and its wall clock says little.
    started = time.process_time()
    generate(tmp_path, members=2_000, seed=1, as_of=AS_OF)
    assert time.process_time() - started < 6.0


def test_exact_member_count_and_about_1_3_residents_per_member(clean_world):
    assert N == len(clean_world.members)
    assert 1.25 <= len(clean_world.residents) / N <= 1.4


def test_check_digits_valid_except_injected(feed):
    residents = _read(feed.out_dir / "residents.csv")
    assert check_digits_ok(_digits(residents["individual_number"]).to_numpy()).all()
    assert residents["individual_number"].map(lambda v: _digits(pd.Series([v]))[0]).is_unique
    members = _read(feed.out_dir / "members.csv")
    truth = pd.read_csv(feed.truth_path, dtype=str)
    invalid = set(truth.loc[truth["rule_id"] == "NUMBER_INVALID", "member_id"])
    full = members[members["individual_number"] != ""]
    ok = check_digits_ok(_digits(full["individual_number"]).to_numpy())
    assert set(full.loc[~ok, "member_id"]) <= invalid
    assert len(set(full.loc[~ok, "member_id"])) >= 1


def test_truth_rows_reference_existing_members_and_residents(feed):
    truth = pd.read_csv(feed.truth_path, dtype=str, keep_default_na=False)
    members = _read(feed.out_dir / "members.csv")
    residents = _read(feed.out_dir / "residents.csv")
    keys = set(zip(members["insurer_number"], members["member_id"]))
    assert all(k in keys for k in zip(truth["insurer_number"], truth["member_id"]))
    with_resident = truth[truth["true_resident_id"] != ""]
    assert set(with_resident["true_resident_id"]) <= set(residents["resident_id"])


def test_at_least_one_of_each_number_and_date_injection(feed):
    truth = pd.read_csv(feed.truth_path, dtype=str)
    counts = truth["rule_id"].value_counts()
    for rule_id in ("NUMBER_INVALID", "RESIDENT_NOT_FOUND", "NUMBER_SHARED", "QUAL_DATE_INVALID"):
        assert counts.get(rule_id, 0) >= 1, rule_id


@pytest.mark.parametrize("members, expected", [(500, 0), (2_000, 1), (20_000, 6), (1_000_000, 300)])
def test_injection_counts_scale_with_members(members, expected):
    assert expected == numbers.injection_count("NUMBER_INVALID", members)


def test_injected_number_cases_are_what_they_claim():
    world = build(N, seed=2, as_of=AS_OF)
    M = world.members.set_index("member_id")
    truth = world.truth_frame()
    resident_numbers = set(world.residents["individual_number"])
    by_pattern = truth.drop_duplicates(["member_id", "rule_id"]).set_index(["rule_id", "member_id"])["pattern"]
    for (rule_id, member_id), pattern in by_pattern.items():
        number = M.at[member_id, "individual_number"]
        if rule_id == "NUMBER_INVALID" and pattern == "missing":
            assert number is None and M.at[member_id, "individual_number_last4"] is None
        elif rule_id == "NUMBER_INVALID":
            assert not check_digits_ok(np.array([number]))[0]
        elif rule_id == "RESIDENT_NOT_FOUND":
            assert number not in resident_numbers
        elif rule_id == "NUMBER_SHARED" and pattern in ("family_member_number", "other_person_number"):
            sharing = M[M["individual_number"] == number]
            assert 2 == len(sharing)
            assert sharing["birth_date"].nunique() == 2 or sharing["sex"].nunique() == 2
    unknown = truth[truth["pattern"] == "unknown_valid_number"]
    assert check_digits_ok(M.loc[unknown["member_id"], "individual_number"].to_numpy()).all()


def test_clean_members_follow_the_rules_on_as_of(clean_world):
    M = clean_world.members
    active = M["loss_date"].isna()
    expected = rt.expected_values(M, clean_world.as_of)
    assert (expected.loc[active, "burden_ratio"].astype(int) == M.loc[active, "burden_ratio"]).all()
    assert (expected.loc[active, "limit_category"] == M.loc[active, "limit_category"]).all()
    # No active member is 75 or older; those who turned 75 lost the day after the birthday.
    birth = M["birth_date"].to_numpy(dtype="datetime64[D]")
    assert (rt.age_on(birth[active.to_numpy()], np.datetime64(AS_OF)) < 75).all()
    turned = (M["loss_reason"] == "4").to_numpy()
    assert turned.sum() > 0
    assert (M.loc[turned, "loss_date"].to_numpy(dtype="datetime64[D]") == rt.kokuho_loss_at_75(birth[turned])).all()


def test_clean_members_match_their_registry_record(clean_world):
    M, R = clean_world.members, clean_world.residents
    joined = M.merge(R, left_on="_resident_id", right_on="resident_id", suffixes=("", "_r"))
    assert len(M) == len(joined)
    for column in ("name_kanji", "name_kana", "name_alpha", "birth_date", "sex", "address"):
        left, right = joined[column].astype(object), joined[f"{column}_r"].astype(object)
        same = (left == right) | (left.isna() & right.isna())
        assert same.all(), column
    full = joined["individual_number"].notna()
    assert (joined.loc[full, "individual_number"] == joined.loc[full, "individual_number_r"]).all()
    assert 0 < (~full).sum() < 0.05 * len(M)   # a few delivered as last four only


def test_clean_qualification_dates(clean_world):
    M, R = clean_world.members, clean_world.residents
    j = M.merge(R, left_on="_resident_id", right_on="resident_id", suffixes=("", "_r"))
    as_of = clean_world.as_of
    assert (j["acquisition_date"] >= j["birth_date"]).all()
    assert (j["acquisition_date"] <= as_of).all() and (j["card_issue_date"] <= as_of).all()
    lost = j[j["loss_date"].notna()]
    assert (lost["loss_date"] > lost["acquisition_date"]).all() and (lost["loss_date"] <= as_of).all()
    # 資格適用日 = 交付日 only where the member really became eligible that day (moved in / born).
    same_day = j[j["acquisition_date"] == j["card_issue_date"]]
    assert (same_day["moved_in_date"] == same_day["acquisition_date"]).all()
    # Exits: the day after the move-out or death; nobody active after an exit.
    exited = j[j["loss_reason"].isin(["1", "2"])]
    assert (exited["loss_date"] == exited["status_date"] + pd.Timedelta(days=1)).all()
    assert (j.loc[j["loss_date"].isna(), "status"] == "active").all()
    assert set(exited["status"]) == {"moved_out", "deceased"}
    # One person, two memberships (re-enrolled): no overlap.
    twice = j[j.duplicated("resident_id", keep=False)].sort_values(["resident_id", "acquisition_date"])
    assert len(twice) > 0
    first, second = twice.iloc[::2], twice.iloc[1::2]
    assert (second["acquisition_date"].to_numpy() >= first["loss_date"].to_numpy()).all()


def test_oqs_and_histories_mirror_the_insurer(clean_world):
    M, O, B = clean_world.members, clean_world.oqs, clean_world.benefit_history
    merged = M.merge(O, on=["insurer_number", "member_id"], suffixes=("", "_oqs"))
    assert len(M) == len(merged)
    for column in ("acquisition_date", "loss_date", "burden_ratio", "limit_category", "birth_date"):
        left, right = merged[column].astype(object), merged[f"{column}_oqs"].astype(object)
        assert ((left == right) | (left.isna() & right.isna())).all(), column
    insurer = B[B["source"] == "insurer"].drop(columns="source").reset_index(drop=True)
    oqs = B[B["source"] == "oqs"].drop(columns="source").reset_index(drop=True)
    pd.testing.assert_frame_equal(insurer, oqs)
    # The open period of each active member equals its current value.
    current = insurer[insurer["valid_to"].isna()]
    active = M[M["loss_date"].isna()].set_index("member_id")
    ratios = current[current["item"] == "burden_ratio"].set_index("member_id")["value"]
    assert (ratios.astype(int) == active.loc[ratios.index, "burden_ratio"]).all()
    assert set(active.index) == set(ratios.index)
    # Periods of one member and item never overlap.
    ordered = insurer.sort_values(["member_id", "item", "valid_from"])
    nxt = ordered.groupby(["member_id", "item"])["valid_from"].shift(-1)
    assert (ordered["valid_to"][nxt.notna()] < nxt[nxt.notna()]).all()


def test_card_status_clean(clean_world):
    M, C = clean_world.members, clean_world.card_status
    active = M.loc[M["loss_date"].isna(), "member_id"]
    assert set(active) == set(C["member_id"])
    assert (C["status_as_of"] == pd.Timestamp("2026-09-30")).all()
    target = (~C["registered"]) | C["cancellation_code"].notna() | C["card_returned_date"].notna() \
        | C["self_info_restricted"] | C["kakuninsho_requested"]
    assert C.loc[target, "kakuninsho_issued_date"].notna().all()
    assert (C.loc[C["registered"], "ecert_expiry_date"] > clean_world.as_of).all()
    assert 0.6 < C["registered"].mean() < 0.95


@pytest.mark.parametrize("as_of, expected", [("2026-11-01", "2026-09-30"), ("2026-03-15", "2026-01-31"),
                                              ("2027-01-01", "2026-11-30")])
def test_status_as_of_is_the_end_of_the_month_before_last(as_of, expected):
    assert pd.Timestamp(expected) == status_as_of(pd.Timestamp(as_of))


def test_population_shape(clean_world):
    M, R = clean_world.members, clean_world.residents
    active = M[M["loss_date"].isna()]
    age = rt.age_on(active["birth_date"].to_numpy(dtype="datetime64[D]"), np.datetime64(AS_OF))
    assert 0.40 < ((age >= 60) & (age < 75)).mean() < 0.65        # 市町村国保: many 60–74
    assert 0.05 < (age < 15).mean() < 0.25
    foreign = (R["_nationality"] != "").mean()
    assert 0.01 < foreign < 0.05
    assert R["alias_name"].notna().any() and R["former_surname"].notna().any()
    assert set(M["loss_reason"].dropna()) == {"1", "2", "3", "4"}
    assert (R["municipality_code"] != R["municipality_code"].mode()[0]).any()   # members living elsewhere


def test_hard_profile_has_denser_collisions():
    def collisions(world):
        R = world.residents
        return int(R["_stranger_of"].notna().sum()), int((R["_nationality"] != "").sum())

    default = collisions(build_world(6_000, seed=1, as_of=AS_OF))
    hard = collisions(build_world(6_000, seed=1, as_of=AS_OF, profile="hard"))
    assert hard[0] > default[0] and hard[1] > default[1]
