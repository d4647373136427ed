"""書いたフィードを取込で読み戻す / every notation the writer uses reads back through the real feed reader.

Each style option is forced at least once; the canonical frames must equal the world's values
and nothing may be quarantined.
"""
from __future__ import annotations

import pandas as pd
import pytest

from reconcile.feeds.loader import load_feed
from reconcile.synth import writer
from reconcile.synth.population import build_world

KEY = b"roundtrip-test-key-0123456789abcdef"

STYLE_SETS = [
    {"members": {"birth": "wareki_letter", "dates": "iso", "sex": "code", "ratio": "percent", "limit": "code",
                 "bool": "01", "cp932": True},
     "residents": {"dates": "iso", "cp932": True}, "oqs": {"dates": "iso", "limit": "code", "cp932": False},
     "benefit_history": {"dates": "iso", "ratio": "percent", "limit": "code", "cp932": False},
     "card_status": {"dates": "iso", "bool": "01", "cp932": True}},
    {"members": {"birth": "wareki_kanji", "dates": "slash", "sex": "kanji", "ratio": "wari", "limit": "label",
                 "bool": "truefalse", "cp932": False},
     "residents": {"dates": "compact", "cp932": False}, "oqs": {"dates": "compact", "limit": "oqs", "cp932": False},
     "benefit_history": {"dates": "slash", "ratio": "wari", "limit": "label", "cp932": False},
     "card_status": {"dates": "compact", "bool": "umu", "cp932": False}},
    {"members": {"birth": "slash", "dates": "compact", "sex": "letter", "ratio": "tenth", "limit": "oqs",
                 "bool": "umu", "cp932": True},
     "residents": {"dates": "wareki_kanji", "cp932": True}, "oqs": {"dates": "iso", "limit": "oqs", "cp932": False},
     "benefit_history": {"dates": "iso", "ratio": "percent", "limit": "oqs", "cp932": False},
     "card_status": {"dates": "slash", "bool": "01", "cp932": False}},
    {"members": {"birth": "iso", "dates": "wareki_letter", "sex": "code", "ratio": "percent", "limit": "code",
                 "bool": "01", "cp932": False},
     "residents": {"dates": "slash", "cp932": False}, "oqs": {"dates": "iso", "limit": "code", "cp932": False},
     "benefit_history": {"dates": "iso", "ratio": "percent", "limit": "code", "cp932": False},
     "card_status": {"dates": "iso", "bool": "01", "cp932": False}},
]


@pytest.fixture(scope="module")
def world():
    return build_world(400, seed=21, as_of="2026-11-01", profile="hard")


@pytest.mark.parametrize("styles", STYLE_SETS, ids=["iso-cp932", "kanji-labels", "compact-oqs-codes", "wareki-dates"])
def test_written_feed_reads_back_to_the_world(world, styles, tmp_path, monkeypatch):
    monkeypatch.setattr(writer, "choose_styles", lambda rng: styles)
    writer.write_feed(world, tmp_path, seed=1)
    feed = load_feed(tmp_path, key=KEY)
    assert 0 == len(feed.quarantine), feed.quarantine.head().to_dict("records")
    members = feed.frames["members"].set_index("member_id").loc[world.members["member_id"]]
    expected = world.members.set_index("member_id")
    for column in ("birth_date", "acquisition_date", "loss_date", "card_issue_date"):
        got, want = members[column], expected[column]
        assert ((got == want) | (got.isna() & want.isna())).all(), column
    assert (members["sex"].astype(int) == expected["sex"]).all()
    assert (members["burden_ratio"].astype(int) == expected["burden_ratio"]).all()
    assert (members["limit_category"].astype(str) == expected["limit_category"]).all()
    last4 = expected["individual_number"].str[-4:].fillna(expected["individual_number_last4"])
    assert (members["number_last4"].astype(str) == last4).all()
    assert set(members["number_status"]) == {"valid", "last4_only"}
    residents = feed.frames["residents"].set_index("resident_id").loc[world.residents["resident_id"]]
    assert (residents["birth_date"] == world.residents.set_index("resident_id")["birth_date"]).all()
    assert (residents["number_status"] == "valid").all()
    history = feed.frames["benefit_history"]
    assert len(world.benefit_history) == len(history)
    ratios = history.loc[history["item"] == "burden_ratio", "value"]
    assert set(ratios) <= {"10", "20", "30"}
    cards = feed.frames["card_status"].set_index("member_id")
    want_cards = world.card_status.set_index("member_id")
    assert (cards.loc[want_cards.index, "registered"].astype(bool) == want_cards["registered"]).all()
    issued = cards.loc[want_cards.index, "kakuninsho_issued_date"]
    assert ((issued == want_cards["kakuninsho_issued_date"]) | (issued.isna() & want_cards["kakuninsho_issued_date"].isna())).all()
    assert (cards["status_as_of"] == pd.Timestamp("2026-09-30")).all()


def test_parquet_feed_reads_back(world, tmp_path):
    writer.write_feed(world, tmp_path, seed=2, formats=("parquet",))
    assert not list(tmp_path.glob("members.csv"))
    feed = load_feed(tmp_path, key=KEY)
    assert 0 == len(feed.quarantine)
    assert len(world.members) == len(feed.frames["members"])
    assert (feed.frames["residents"]["number_status"] == "valid").all()
