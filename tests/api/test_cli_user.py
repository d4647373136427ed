"""`reconcile user …` and `reconcile export labels` (contract cli.md), and the labels feeding `train`."""
from __future__ import annotations

import pandas as pd
import pytest
from sqlalchemy.orm import Session

from tests.api.conftest import A, B


def run(world, tmp_path, *args, stdin: str | None = None):
    """The console script in-process (click's runner), with the store's URL in the environment."""
    from click.testing import CliRunner

    from reconcile.cli.main import cli

    env = {"RECONCILE_DATABASE_URL": world.url, "RECONCILE_SECRET_KEY": "test-key-not-secret",
           "RECONCILE_CONFIG": str(tmp_path / "none.toml")}
    result = CliRunner(env=env).invoke(cli, list(args), input=stdin, catch_exceptions=False)
    result.returncode = result.exit_code
    return result


def test_user_commands(world, tmp_path):
    from reconcile import auth

    added = run(world, tmp_path, "user", "add", "erin", "--role", "steward", "--insurer", A, "--insurer", B)
    assert added.returncode == 0, added.stderr
    token = added.stdout.strip()
    assert token.startswith("rct_") and len(token) > 40
    with Session(world.engine) as s:
        actor = auth.authenticate_token(s, token)
        assert (actor.name, actor.role, actor.insurers) == ("erin", "steward", (A, B))
        from reconcile.store.models import User
        stored = s.query(User).filter_by(name="erin").one()
        assert token not in (stored.token_hash or "") and stored.token_hash == auth.hash_token(token)
    assert run(world, tmp_path, "user", "add", "erin", "--role", "steward", "--insurer", A).returncode == 2
    bad = run(world, tmp_path, "user", "add", "frank", "--role", "steward", "--insurer", "12AB")
    assert bad.returncode == 2 and "12AB" in bad.stderr and "Traceback" not in bad.stderr
    assert run(world, tmp_path, "user", "add", "gina", "--role", "auditor").returncode == 2   # no insurer
    assert run(world, tmp_path, "user", "passwd", "erin", stdin="short\n").returncode == 2
    assert run(world, tmp_path, "user", "passwd", "erin", stdin="a-long-password\n").returncode == 0
    with Session(world.engine) as s:
        assert auth.authenticate_password(s, "erin", "a-long-password").name == "erin"
        assert auth.authenticate_password(s, "erin", token).name == "erin"          # the token signs in too
        assert auth.authenticate_password(s, "erin", "wrong-password") is None
    listed = run(world, tmp_path, "user", "list")
    assert listed.returncode == 0 and "erin\tsteward\t122218,131016\tyes\tyes" in listed.stdout
    assert token not in listed.stdout
    new = run(world, tmp_path, "user", "token", "erin").stdout.strip()
    with Session(world.engine) as s:
        assert auth.authenticate_token(s, token) is None and auth.authenticate_token(s, new).name == "erin"
    assert run(world, tmp_path, "user", "disable", "erin").returncode == 0
    with Session(world.engine) as s:
        assert auth.authenticate_token(s, new) is None
        assert auth.authenticate_password(s, "erin", "a-long-password") is None
    assert run(world, tmp_path, "user", "disable", "nobody").returncode == 2
    # every user change is in the audit trail
    with Session(world.engine) as s:
        from reconcile import workflow
        events = workflow.list_audit(s, auth.actor_by_name(s, "admin"), limit=500).items
    assert [e["action"] for e in events if e["subject"] == "user:erin"] == [
        "user_added", "password_set", "token_issued", "user_disabled"]


def test_export_labels_feeds_train(world, tmp_path):
    from reconcile import workflow
    from reconcile.auth import actor_by_name

    with Session(world.engine) as s, s.begin():
        sa_, sb = actor_by_name(s, "steward_a"), actor_by_name(s, "steward_b")
        mis_a = world.items(A, "mislink")
        notation_b = world.items(B, "notation")
        workflow.resolve(s, sa_, mis_a[0], "resolved_fixed", "別人でした")             # label 0
        workflow.resolve(s, sa_, mis_a[1], "resolved_false_positive", "本人です")     # label 1
        workflow.resolve(s, sa_, mis_a[2], "resolved_wont_fix", "保留")               # no label
        workflow.resolve(s, sb, notation_b[0], "resolved_fixed", "表記を統一")        # label 1
        workflow.resolve(s, sb, world.items(B, "benefit")[0], "resolved_fixed", "x")  # not a pair rule
    out = tmp_path / "labels.csv"
    r = run(world, tmp_path, "export", "labels", "--out", str(out))
    assert r.returncode == 0, r.stderr
    labels = pd.read_csv(out, dtype=str, keep_default_na=False)
    assert sorted(labels["label"]) == ["0", "1", "1"]
    row = labels[labels["label"] == "0"].iloc[0]
    assert (row["name_kanji_l"], row["birth_date_r"], row["number_last4_l"], row["household_agrees"]) == \
        ("佐藤 一郎", "1988-07-24", "5339", "0")
    notation = labels[labels["rule_id"] == "NOTATION_DIFFERENCE"].iloc[0]
    assert (notation["name_kanji_l"], notation["name_kanji_r"], notation["label"]) == ("佐藤 一郎", "佐藤 一朗", "1")
    trained = run(world, tmp_path, "train", str(out), "--out", str(tmp_path / "model.json"))
    assert trained.returncode == 0, trained.stderr + trained.stdout
    assert (tmp_path / "model.json").is_file()       # written where asked, never into the working tree
