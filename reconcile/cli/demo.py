"""`reconcile demo` — on a fresh machine: demo feed → scan → queues → weekly report."""
from __future__ import annotations

from pathlib import Path

import click

from reconcile.cli.common import guarded, t


@click.command("demo")
@click.option("--members", type=click.IntRange(min=100), default=20_000, show_default=True,
              help="デモ自治体の被保険者数 / members in the demo municipality.")
@click.option("--seed", type=int, default=2026, show_default=True)
@click.option("--dir", "workdir", type=click.Path(file_okay=False, path_type=Path),
              default=Path("reconcile-demo"), show_default=True, help="出力先 / where the feed and report go.")
@guarded
def demo_command(members: int, seed: int, workdir: Path) -> None:
    """デモ: 合成フィードを作成し、走査し、週次レポートを出力 / Generate, scan and report a demo municipality."""
    from reconcile import service
    from reconcile.cli.scan import print_summary
    from reconcile.config import ensure_secret_key
    from reconcile.progress import stage_progress
    from reconcile.synth.generate import generate

    settings = ensure_secret_key()
    feed_dir = workdir / "feed"
    click.echo(t(f"1/3 デモ自治体のフィードを作成中（被保険者 {members:,} 人）…",
                 f"1/3 generating the demo municipality feed ({members:,} members)…"))
    generated = generate(feed_dir, members=members, seed=seed)
    click.echo(t("2/3 走査中（検証・照合・全ルール）…", "2/3 scanning (validation, matching, every rule)…"))
    with stage_progress() as progress:
        summary = service.scan(feed_dir, settings=settings, progress=progress)
    print_summary(summary)
    click.echo(t("3/3 週次レポートを作成中…", "3/3 writing the weekly report…"))
    report_files = service.weekly_report(out_dir=workdir / "report", settings=settings)
    findings_csv, _ = service.export_findings(workdir / "findings.csv", settings=settings)
    click.echo("")
    click.echo(t("見る場所:", "Where to look:"))
    click.echo(t(f"  フィード（正解 truth.csv 付き）: {generated.out_dir}", f"  feed (with truth.csv): {generated.out_dir}"))
    click.echo(t(f"  データベース: {settings.database_url}", f"  database: {settings.database_url}"))
    click.echo(t(f"  週次レポート: {report_files[0]}", f"  weekly report: {report_files[0]}"))
    click.echo(t(f"  検出結果 CSV: {findings_csv}", f"  findings CSV: {findings_csv}"))
    click.echo(t("  隔離行: reconcile export quarantine", "  quarantined rows: reconcile export quarantine"))


def register(cli: click.Group) -> None:
    cli.add_command(demo_command)
