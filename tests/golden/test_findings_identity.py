"""Every speed commit leaves the findings byte-identical (issue #12); see findings_identity.py."""
from __future__ import annotations

import difflib

import pytest

from tests.golden.findings_identity import FEEDS, findings_lines, golden_path, read_golden


@pytest.mark.parametrize("name", FEEDS)
def test_findings_are_the_stored_ones(name):
    assert golden_path(name).exists(), f"run: python -m tests.golden.findings_identity --update {name}"
    stored, fresh = read_golden(name), findings_lines(name)
    if stored != fresh:
        diff = list(difflib.unified_diff(stored, fresh, "stored", "now", n=0, lineterm=""))
        pytest.fail(f"{name}: findings changed ({len(diff)} diff lines); a deliberate change rewrites "
                    "them with `python -m tests.golden.findings_identity --update` in its own commit:\n"
                    + "\n".join(line[:400] for line in diff[:40]))
