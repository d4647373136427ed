"""走査 / scan: canonical frames in, findings out. No HTTP, no printing, no database."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Mapping

import pandas as pd

from detectors import RULES, run_rules
from detectors.stats import feed_stats

# Feed drift compares this feed's statistics with earlier feeds; two of them (the share of
# notation findings) only exist once the other rules have run, so drift runs last.
DRIFT_RULE = "FEED_DRIFT"
STAT_COLUMNS = ["insurer_number", "statistic", "value"]


@dataclass
class Evaluation:
    findings: pd.DataFrame
    skipped: list[tuple[str, str]]
    seconds: dict[str, float]
    stats: pd.DataFrame                       # insurer_number, statistic, value (kept for drift)


def pipeline_statistics(members: pd.DataFrame, findings: pd.DataFrame, quarantine: pd.DataFrame,
                        row_counts: Mapping[str, int]) -> pd.DataFrame:
    """Statistics only the pipeline knows: members.csv quarantine rate, share of notation findings.

    A jump in either usually means the extract itself changed, not the members.
    """
    per_insurer = members.groupby("insurer_number", observed=True).size()
    if per_insurer.empty:
        return pd.DataFrame(columns=STAT_COLUMNS)
    members_file = quarantine["file"].astype(str).str.startswith("members") if len(quarantine) else []
    bad_lines = quarantine.loc[members_file, "line"].nunique() if len(quarantine) else 0
    quarantine_rate = bad_lines / max(int(row_counts.get("members", 0)), 1)
    notation = findings.loc[findings["rule_id"] == "NOTATION_DIFFERENCE", "insurer_number"]
    notation_counts = notation.value_counts()
    rows = []
    for insurer, count in per_insurer.items():
        rows.append((insurer, "quarantine_rate_members", float(quarantine_rate)))
        rows.append((insurer, "share_notation_findings", float(notation_counts.get(insurer, 0)) / max(int(count), 1)))
    return pd.DataFrame(rows, columns=STAT_COLUMNS)


def evaluate(frames: Mapping[str, pd.DataFrame | None], *, as_of: pd.Timestamp,
             quarantine: pd.DataFrame, row_counts: Mapping[str, int],
             detector_settings: Mapping[str, Any] | None = None,
             feed_history: pd.DataFrame | None = None,
             on_rule: Callable[[str], None] | None = None) -> Evaluation:
    """Run every registered rule over the feed's frames and compute the feed's statistics."""
    settings = dict(detector_settings or {})
    first = run_rules(frames, as_of=as_of, settings=settings, feed_history=feed_history,
                      rule_ids=[r for r in sorted(RULES) if r != DRIFT_RULE], on_rule=on_rule)
    extra = pipeline_statistics(frames["members"], first.findings, quarantine, row_counts)
    statistics = feed_stats(frames, as_of)       # once: FEED_DRIFT reads them, the store keeps them
    drift = run_rules(frames, as_of=as_of, settings={**settings, "feed_stats_extra": extra},
                      feed_history=feed_history, rule_ids=[DRIFT_RULE], on_rule=on_rule,
                      values={"feed_statistics": statistics})
    parts = [f for f in (first.findings, drift.findings) if len(f)]
    findings = pd.concat(parts, ignore_index=True) if parts else first.findings
    stats = pd.concat([statistics, extra], ignore_index=True)
    return Evaluation(findings=findings, skipped=first.skipped + drift.skipped,
                      seconds={**first.seconds, **drift.seconds}, stats=stats)
