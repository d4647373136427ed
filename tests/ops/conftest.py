"""Fixtures of the operations tests: a small generated feed, drop folders, the console script.

``small_feed``  one generated feed (1,500 members, seed 1), made once per session; tests copy it.
``ops_env``     environment for ``reconcile`` subprocesses on a test database (``db_url``): its own
                key, no config file from the working directory, JSON logs, CI (no progress bars).
"""
from __future__ import annotations

import csv
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

TEST_KEY = "ops-test-key-not-a-secret-0001"


def reconcile(workdir: Path, env: dict, *args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "reconcile.cli.main", *args], cwd=workdir, env=env,
                          capture_output=True, text=True, timeout=timeout)


def make_env(workdir: Path, db_url: str, **extra: str) -> dict:
    return {**os.environ, "RECONCILE_SECRET_KEY": TEST_KEY, "RECONCILE_DATABASE_URL": db_url,
            "RECONCILE_CONFIG": str(workdir / "reconcile.toml"), "RECONCILE_LOG_FORMAT": "json", "CI": "true",
            **extra}


@pytest.fixture(scope="session")
def small_feed(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("ops_feed") / "feed"
    done = subprocess.run([sys.executable, "-m", "reconcile.cli.main", "generate", str(out), "--members", "1500",
                           "--seed", "1"], capture_output=True, text=True, timeout=600,
                          env={**os.environ, "CI": "true"})
    assert done.returncode == 0, done.stderr
    return out


def drop(feed: Path, drop_dir: Path, name: str, *, ready: bool = True) -> Path:
    """Copy ``feed`` into ``drop_dir/name`` as a sender would (``_READY`` last)."""
    target = drop_dir / name
    shutil.copytree(feed, target, ignore=shutil.ignore_patterns("truth.csv"))
    if ready:
        (target / "_READY").write_text("", encoding="utf-8")
    return target


def drop_column(folder: Path, file: str, column: str) -> None:
    path = folder / file
    with path.open(encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.reader(handle))
    index = rows[0].index(column)
    with path.open("w", encoding="utf-8", newline="") as handle:
        csv.writer(handle).writerows([row[:index] + row[index + 1:] for row in rows])


@pytest.fixture
def ops_env(tmp_path, db_url):
    return make_env(tmp_path, db_url)
