"""`reconcile report weekly` — the weekly report as a page (A4 print layout), CSVs and charts."""
from __future__ import annotations

from pathlib import Path

import click

from reconcile.cli.common import guarded, lang, t


@click.group("report")
def report_group() -> None:
    """レポート / reports."""


@report_group.command("weekly")
@click.option("--week", default=None, help="ISO 週 YYYY-Www（省略時は最新のスキャンの週）/ ISO week (default: the latest scan's).")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=Path("report"),
              show_default=True)
@guarded
def weekly_command(week: str | None, out_dir: Path) -> None:
    """週次レポート / weekly report."""
    from reconcile import exports, service

    if week is not None and hasattr(service, "parse_week"):
        week = service.parse_week(week)
    files = exports.weekly_report(week=week, out_dir=out_dir, lang=lang())
    click.echo(t(f"週次レポートを出力しました: {files[0]}", f"Weekly report written: {files[0]}"))
    for path in files[1:]:
        click.echo(f"  {path}")


def register(cli: click.Group) -> None:
    cli.add_command(report_group)
