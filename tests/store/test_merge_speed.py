"""Merge speed: 100k findings, merged twice, on SQLite and PostgreSQL (prints rows/s)."""
from __future__ import annotations

import hashlib
import time

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from detectors.engine import FINDING_COLUMNS
from reconcile import store

N = 100_000
# A floor, not a target: per-row executemany through psycopg ran at ~1.5k rows/s; the staged,
# set-based merge runs at ~10k+ rows/s even on a loaded 2-core machine.
MIN_ROWS_PER_SECOND = 3_000


def big_findings(n: int) -> pd.DataFrame:
    rng = np.random.default_rng(7)
    rules = np.array(["MISLINK_SUSPECTED", "NOTATION_DIFFERENCE", "BURDEN_RATIO_RULE", "QUAL_OVERLAP"])
    categories = np.array(["mislink", "notation", "burden_ratio", "qualification_date"])
    pick = rng.integers(0, 4, n)
    return pd.DataFrame({
        "finding_id": [hashlib.sha256(str(i).encode()).hexdigest()[:24] for i in range(n)],
        "rule_id": rules[pick], "category": categories[pick],
        "severity": np.array(["high", "medium", "low", "info"])[pick], "score": rng.random(n),
        "insurer_number": "131016", "member_id": [f"M{i:07d}" for i in range(n)],
        "summary_ja": "氏名の表記が異なります（髙橋 / 高橋）", "summary_en": "Name notation differs",
        "evidence": '{"name_kanji": {"insurer": "髙橋 一郎", "resident": "高橋 一郎", "similarity": 0.93}}',
        "suggested_resident_id": None, "suggested_individual_number_last4": "1234", "facts": "x",
    })[FINDING_COLUMNS]


@pytest.mark.slow
def test_merge_100k_twice_is_fast_and_duplicate_free(db_engine):
    findings = big_findings(N)
    with store.session_scope(db_engine) as session:
        feed = store.add_feed(session, fingerprint="big", path="/big", as_of="2026-11-01", period="2026-11",
                              manifest={}, validation={}, row_counts={})
        scans = [store.start_scan(session, feed_id=feed, as_of="2026-11-01") for _ in range(2)]
    rates = []
    for scan_id, expected_new in zip(scans, (N, 0)):
        started = time.perf_counter()
        with store.session_scope(db_engine) as session:
            result = store.merge_findings(session, scan_id, findings)
        seconds = time.perf_counter() - started
        rates.append(N / seconds)
        print(f"\n{db_engine.dialect.name}: merged {N:,} findings (new={result.new:,}) in {seconds:.2f}s "
              f"= {N / seconds:,.0f} rows/s")
        assert (result.new, result.seen_again) == (expected_new, N - expected_new)
    with store.session_scope(db_engine) as session:
        counts = [session.scalar(sa.text(f"SELECT count(*) FROM {t}"))
                  for t in ("findings", "work_items", "scan_findings")]
    assert counts == [N, N, 2 * N]
    assert min(rates) > MIN_ROWS_PER_SECOND
