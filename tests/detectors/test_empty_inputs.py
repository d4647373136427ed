"""Issue #8 defect 5: a header-only optional file is an empty input, never an IndexError."""
from __future__ import annotations

import itertools

import pandas as pd
import pytest

from detectors.alignment import positions
from detectors.engine import run_rules
from tests.factories import (benefit_history_frame, card_status_frame, members_frame, oqs_frame,
                             residents_frame)

AS_OF = pd.Timestamp("2026-11-01")
OPTIONAL = {"residents": residents_frame, "oqs": oqs_frame, "card_status": card_status_frame,
            "benefit_history": benefit_history_frame}


def test_positions_against_an_empty_frame_are_all_missing():
    members = members_frame([{}, {"member_id": "M2"}])
    assert positions(members, card_status_frame([{}]).iloc[0:0]).tolist() == [-1, -1]
    assert positions(members.iloc[0:0], members).tolist() == []


@pytest.mark.parametrize("empty", [c for k in range(1, 5) for c in itertools.combinations(OPTIONAL, k)])
def test_every_rule_runs_when_files_are_header_only(empty):
    members = members_frame([{}, {"member_id": "M2", "number": None}])
    frames = {"members": members}
    for name, build in OPTIONAL.items():
        frame = build([{}])
        frames[name] = frame.iloc[0:0] if name in empty else frame
    run = run_rules(frames, as_of=AS_OF)
    assert set(run.findings.columns) >= {"rule_id", "member_id"}
    # An empty registry finds no resident for the members; nothing crashes.
    run_empty_members = run_rules({**frames, "members": members.iloc[0:0]}, as_of=AS_OF)
    assert run_empty_members.findings.empty
