"""Reports (レポート) — pure builders: frames in, report objects / HTML / CSV / PNG charts out.

Never imports :mod:`reconcile` or :mod:`api`; the service gathers the frames and calls:

- ``build_weekly(findings, work_items_events, scans, quarantine_counts, validation, *, week, lang="ja")``
  → :class:`reports.weekly.WeeklyReport`; ``write_weekly(report, out_dir)`` → written paths;
  ``render_weekly_html(report)`` → the page as a string; ``weekly_json(report)`` the same context as
  JSON; ``weekly_files(report)`` every file by name (checked, not written).
- :mod:`reports.scanlog` — the week's scans as the report shows them (outcome, folder, stage timings,
  reason, retries), from ``list_scans`` rows and the watcher's ``summary["schedule"]``.
- :mod:`reports.spreadsheet` — ``neutralise_formulas(frame)``: the CSV-injection rule of every CSV.
- ``build_national(work_items, scans, feed_stats, scan_findings, *, period, created_on, lang="ja")``
  → DataFrame (fixed layout, no total rows); ``build_national_totals(frame)``;
  ``build_corrections(work_items, scans, feed_stats, *, period)``.
- :mod:`reports.counts` — the one set of count definitions (report, national export, API).
- ``assert_no_individual_number(text, where)`` — the 12-digit guard every writer here applies.

Names are resolved lazily so that the national export does not pay for importing matplotlib.
"""
from __future__ import annotations

from importlib import import_module
from typing import Any

_EXPORTS = {
    "WeeklyReport": "reports.weekly", "build_weekly": "reports.weekly", "write_weekly": "reports.weekly",
    "render_weekly_html": "reports.weekly", "weekly_json": "reports.weekly", "weekly_files": "reports.weekly",
    "build_national": "reports.national", "build_national_totals": "reports.national",
    "build_corrections": "reports.national",
    "NATIONAL_COLUMNS": "reports.national", "NATIONAL_COLUMNS_JA": "reports.national",
    "IndividualNumberLeak": "reports.guard", "assert_no_individual_number": "reports.guard",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'reports' has no attribute {name!r}")
