"""Meta-tests of the rule registry: every rule is in the contract, documented and tested."""
from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest

import detectors.rules  # noqa: F401 — registers every rule
from detectors.engine import FINDING_COLUMNS, finalise, fingerprint, run_rules
from detectors.registry import RULES, Rule, rule
from tests.factories import members_frame, residents_frame

ROOT = Path(__file__).resolve().parents[2]
CONTRACT = ROOT.parent / "shared" / "contract" / "findings.md"
CATALOGUE_IDS = {
    "MISLINK_SUSPECTED", "NUMBER_SHARED", "NUMBER_INVALID", "RESIDENT_NOT_FOUND", "NOTATION_DIFFERENCE",
    "BURDEN_RATIO_OQS_MISMATCH", "BURDEN_RATIO_RULE", "LIMIT_CATEGORY_OQS_MISMATCH", "LIMIT_CATEGORY_RULE",
    "BENEFIT_HISTORY_DIVERGENCE", "QUAL_DATE_IS_ISSUE_DATE", "QUAL_DATE_OQS_MISMATCH", "QUAL_LOSS_NOT_LINKED",
    "QUAL_ACTIVE_AFTER_EXIT", "QUAL_ACTIVE_PAST_AGE_LIMIT", "QUAL_OVERLAP", "QUAL_DATE_INVALID",
    "KAKUNINSHO_NOT_ISSUED", "FEED_DRIFT",
}


def test_catalogue_copy_matches_the_contract_when_it_is_beside_the_repo():
    if not CONTRACT.exists():
        pytest.skip("shared/contract is not beside this checkout")
    ids = set(re.findall(r"^\| `([A-Z_]+)` \|", CONTRACT.read_text(encoding="utf-8"), flags=re.M))
    assert ids == CATALOGUE_IDS


@pytest.mark.parametrize("rule_id", sorted(RULES))
def test_every_registered_rule_is_in_the_catalogue_documented_and_tested(rule_id):
    registered: Rule = RULES[rule_id]
    assert rule_id in CATALOGUE_IDS
    assert registered.description, f"{rule_id} needs a docstring (its first line is what a steward reads)"
    assert registered.summary_ja and registered.summary_en
    test_sources = "\n".join(p.read_text(encoding="utf-8") for p in (ROOT / "tests").rglob("test_*.py")
                             if p.name != "test_registry.py")
    assert f'"{rule_id}"' in test_sources, f"no test mentions {rule_id}"


def test_a_duplicate_rule_id_is_refused():
    with pytest.raises(ValueError, match="already registered"):
        rule("NUMBER_INVALID", category="mislink", severity="high", requires=("members",),
             summary_ja="x", summary_en="x")(lambda members: members)


def test_unknown_severity_and_unknown_feed_are_refused():
    with pytest.raises(ValueError, match="severity"):
        rule("X_TEST", category="x", severity="urgent", requires=(), summary_ja="", summary_en="")
    with pytest.raises(ValueError, match="unknown feed"):
        rule("X_TEST", category="x", severity="low", requires=("payments",), summary_ja="", summary_en="")


def test_fingerprint_depends_on_rule_member_and_facts_only():
    a = fingerprint("NUMBER_INVALID", "131016", "M1", "bad_check|9018")
    assert a == fingerprint("NUMBER_INVALID", "131016", "M1", "bad_check|9018")
    assert a != fingerprint("NUMBER_INVALID", "131016", "M1", "missing|")
    assert a != fingerprint("NUMBER_INVALID", "131016", "M2", "bad_check|9018")
    assert len(a) == 24


def test_finalise_formats_summaries_and_builds_evidence_from_the_other_columns():
    fake = Rule("NUMBER_INVALID", "mislink", "high", ("members",),
                "番号 {number_last4} の確認", "check {number_last4}", lambda members: members)
    raw = pd.DataFrame({"insurer_number": ["131016"], "member_id": ["M1"], "number_last4": ["9018"],
                        "when": [pd.Timestamp("2026-11-01")], "severity": ["low"]})
    out = finalise(fake, raw)
    assert list(out.columns) == FINDING_COLUMNS
    row = out.iloc[0]
    assert row["summary_ja"] == "番号 9018 の確認"
    assert row["summary_en"] == "check 9018"
    assert row["evidence"] == '{"number_last4": "9018", "when": "2026-11-01"}'
    assert row["severity"] == "low"
    assert row["facts"] == row["evidence"]


def test_rules_whose_feed_file_is_absent_are_skipped_with_the_reason():
    members = members_frame([{"member_id": "M1"}])
    run = run_rules({"members": members, "residents": residents_frame([{}]), "oqs": None,
                     "benefit_history": None, "card_status": None}, as_of=pd.Timestamp("2026-11-01"))
    reasons = dict(run.skipped)
    skipped_needing_oqs = [r for r, rule_ in RULES.items() if "oqs" in rule_.requires]
    for rule_id in skipped_needing_oqs:
        assert "oqs.csv" in reasons[rule_id]
    assert "NUMBER_INVALID" not in reasons


def test_settings_are_declared_typed_and_documented():
    from detectors.registry import declared_settings

    declared = declared_settings()
    assert declared["kakuninsho_validity_years"].default == 5
    assert declared["drift_z"].type is float
    assert "mislink_queue_threshold" in declared   # the matcher's thresholds are declared too
    assert all(p.doc for p in declared.values())


def test_an_unknown_setting_is_an_error_naming_it_and_the_close_names():
    from detectors.registry import SettingsError, validate_settings

    with pytest.raises(SettingsError) as caught:
        validate_settings({"drift_z": 5, "kakuninsho_validty_years": 2})
    assert caught.value.key == "kakuninsho_validty_years"
    assert "kakuninsho_validty_years" in str(caught.value)
    assert "kakuninsho_validity_years" in str(caught.value)


def test_a_setting_of_the_wrong_type_is_an_error_and_good_values_are_typed():
    from detectors.registry import SettingsError, validate_settings

    with pytest.raises(SettingsError, match="kakuninsho_validity_years"):
        validate_settings({"kakuninsho_validity_years": "two"})
    with pytest.raises(SettingsError, match="drift_z"):
        validate_settings({"drift_z": True})
    assert validate_settings({"drift_z": 5, "kakuninsho_validity_years": 2}) == {"drift_z": 5.0,
                                                                                "kakuninsho_validity_years": 2}


def test_the_validity_setting_changes_which_kakuninsho_counts():
    from tests.factories import card_status_frame

    members = members_frame([{"member_id": "M1"}])
    status = card_status_frame([{"member_id": "M1", "registered": False, "kakuninsho_issued_date": "2024-12-10"}])
    frames = {"members": members, "card_status": status}
    as_of = pd.Timestamp("2026-11-01")
    default = run_rules(frames, as_of=as_of, rule_ids=["KAKUNINSHO_NOT_ISSUED"]).findings
    short = run_rules(frames, as_of=as_of, settings={"kakuninsho_validity_years": 1},
                      rule_ids=["KAKUNINSHO_NOT_ISSUED"]).findings
    assert (len(default), short["severity"].tolist()) == (0, ["medium"])
