"""The loaded feed and the feed-level rejection (取込結果 / 取込拒否)."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd


@dataclass
class Feed:
    """A feed directory read, normalised and validated (取込済みフィード).

    ``frames`` holds the canonical frames of :mod:`detectors.schema` keyed ``members``,
    ``residents``, ``oqs``, ``benefit_history``, ``card_status`` (``None`` = optional file
    absent); quarantined rows are not in them but in ``quarantine``.
    """
    path: Path
    frames: dict[str, pd.DataFrame | None]
    quarantine: pd.DataFrame          # file, line, column, value, reason
    validation: dict                  # JSON-serialisable, per file (keyed like frames)
    manifest: dict
    as_of: pd.Timestamp
    period: str                       # YYYY-MM
    fingerprint: str                  # sha256 over the files' bytes
    row_counts: dict[str, int]        # data rows read per file
    # feed-level warnings (also in validation["warnings"]), e.g. an as_of far from the feed's dates
    warnings: list[dict] = field(default_factory=list)
    # one row per quarantined line of a member-keyed file (members, oqs, benefit_history,
    # card_status): file, line, insurer_number, member_id as read — NA where the row could not be
    # split into fields. The store keeps those members' work items untouched (issue #8 defect 2).
    quarantined_keys: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(
        {"file": pd.Series(dtype="string"), "line": pd.Series(dtype="int64"),
         "insurer_number": pd.Series(dtype="string"), "member_id": pd.Series(dtype="string")}))


# The whole-feed rejection lives in the one exception hierarchy (reconcile.errors, exit 2 / HTTP 422);
# ``reconcile.feeds.FeedRejected`` / ``reconcile.feeds.model.FeedRejected`` stay valid import paths.
from reconcile.errors import FeedRejected  # noqa: E402

__all__ = ["Feed", "FeedRejected"]
