"""走査 / scan: canonical frames in, findings out. No HTTP, no printing, no database."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

import pandas as pd

from detectors import RuleRun, run_rules


@dataclass
class Evaluation:
    findings: pd.DataFrame
    skipped: list[tuple[str, str]]
    seconds: dict[str, float]
    stats: pd.DataFrame                       # insurer_number, statistic, value (kept for drift)
    notes: list[str] = field(default_factory=list)


def feed_statistics(frames: Mapping[str, pd.DataFrame | None], findings: pd.DataFrame,
                    quarantine: pd.DataFrame, row_counts: Mapping[str, int],
                    as_of: pd.Timestamp) -> pd.DataFrame:
    """Per-insurer statistics of this feed that later scans compare against (FEED_DRIFT)."""
    from detectors.stats import feed_stats

    stats = feed_stats(frames, as_of)
    members = frames["members"]
    per_insurer = members.groupby("insurer_number", observed=True).size()
    extra = []
    # Quarantine rate of members.csv and the share of notation findings feed the drift rule too:
    # a jump in either usually means the extract itself changed, not the members.
    bad_members = quarantine.loc[quarantine["file"].astype(str).str.startswith("members")] if len(quarantine) else quarantine
    read = max(int(row_counts.get("members", 0)), 1)
    total_quarantine_rate = (bad_members["line"].nunique() / read) if len(bad_members) else 0.0
    notation = findings.loc[findings["rule_id"] == "NOTATION_DIFFERENCE"] if len(findings) else findings
    notation_by_insurer = notation.groupby("insurer_number").size() if len(notation) else pd.Series(dtype=float)
    for insurer, count in per_insurer.items():
        extra.append({"insurer_number": insurer, "statistic": "quarantine_rate_members", "value": total_quarantine_rate})
        extra.append({"insurer_number": insurer, "statistic": "share_notation_findings",
                      "value": float(notation_by_insurer.get(insurer, 0)) / max(int(count), 1)})
    return pd.concat([stats, pd.DataFrame(extra)], ignore_index=True)


def evaluate(frames: Mapping[str, pd.DataFrame | None], *, as_of: pd.Timestamp,
             quarantine: pd.DataFrame, row_counts: Mapping[str, int],
             detector_settings: Mapping[str, Any] | None = None,
             feed_history: pd.DataFrame | None = None,
             on_rule: Callable[[str], None] | None = None) -> Evaluation:
    """Run every registered rule over the feed's frames and compute the feed's statistics."""
    run: RuleRun = run_rules(frames, as_of=as_of, settings=detector_settings,
                             feed_history=feed_history, on_rule=on_rule)
    stats = feed_statistics(frames, run.findings, quarantine, row_counts, as_of)
    return Evaluation(findings=run.findings, skipped=run.skipped, seconds=run.seconds, stats=stats)
