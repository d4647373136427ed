"""`generate --previous`: the following month of a feed — same people, some problems fixed, others
persisting, new ones, and truth.csv saying which."""
from __future__ import annotations

import json

import pandas as pd

from reconcile.synth.followup import _read, generate_followup
from reconcile.synth.generate import generate


def test_following_month_keeps_the_people_and_moves_the_problems(tmp_path):
    first, second = tmp_path / "m1", tmp_path / "m2"
    generate(first, members=400, seed=5, as_of="2026-10-01")
    result = generate_followup(first, second, seed=5)

    manifest = json.loads((second / "manifest.json").read_text(encoding="utf-8"))
    assert (manifest["as_of"], manifest["period"], result.period) == ("2026-11-01", "2026-11", "2026-11")
    before, _ = _read(first / "members.csv")
    after, _ = _read(second / "members.csv")
    assert before["member_id"].tolist() == after["member_id"].tolist()            # same people, same order
    assert (before["birth_date"] == after["birth_date"]).all()
    assert (second / "residents.csv").read_bytes() == (first / "residents.csv").read_bytes()

    old = pd.read_csv(first / "truth.csv", dtype=str, keep_default_na=False)
    new = pd.read_csv(second / "truth.csv", dtype=str, keep_default_na=False)
    key = ["member_id", "rule_id"]
    persisting = old.merge(new, on=key)
    fixed = old.merge(new[key], on=key, how="left", indicator=True).query("_merge == 'left_only'")
    fresh = new.merge(old[key], on=key, how="left", indicator=True).query("_merge == 'left_only'")
    assert (result.fixed, result.persisting, result.new) == (len(fixed), len(persisting), len(fresh))
    assert len(fixed) > 0 and len(persisting) > 0 and len(fresh) > 0
    assert set(fresh["pattern"]) <= {"number_typo_new_month", "kana_halfwidth_new_month"}
    # a fixed mis-link now carries its true resident's number; a new one another resident's
    residents, _ = _read(first / "residents.csv")
    number_of = dict(zip(residents["resident_id"], residents["individual_number"]))
    members = after.set_index("member_id")
    for row in fixed.loc[fixed["rule_id"] == "MISLINK_SUSPECTED"].itertuples():
        if members.at[row.member_id, "individual_number"]:
            assert members.at[row.member_id, "individual_number"] == number_of[row.true_resident_id]
    for row in fresh.loc[fresh["rule_id"] == "MISLINK_SUSPECTED"].itertuples():
        assert members.at[row.member_id, "individual_number"] != number_of.get(row.true_resident_id)
