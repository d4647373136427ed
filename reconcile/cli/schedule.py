"""`reconcile schedule watch DROP_DIR` and `reconcile schedule run` — unattended scans and jobs.

``watch --once`` exits 0 when every ready folder was scanned (or was a re-delivery), 2 when one
was rejected (moved to ``rejected/`` with ``_OUTCOME.json`` saying why), 1 when a scan failed
with an internal or environment error (the folder stays for the next run).
"""
from __future__ import annotations

import signal
import threading
from pathlib import Path

import click

from reconcile import schedule as _schedule  # noqa: F401 — registers the [schedule] validator of reconcile.toml
from reconcile.cli.common import EXIT_INTERNAL, EXIT_OK, EXIT_REJECTED, guarded, lang, t


def _stop_on_signals() -> threading.Event:
    stop = threading.Event()

    def handler(signum, _frame):
        stop.set()

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, handler)
    return stop


@click.group("schedule")
def schedule_group() -> None:
    """無人運転（受付フォルダの監視・定期ジョブ）/ unattended operation (drop folder, scheduled jobs)."""


def _echo_outcome(outcome) -> None:
    mark = {"done": "OK  ", "duplicate": "OK  ", "rejected": "NG  ", "failed": "ERR ", "waiting": "..  "}
    click.echo(f"{mark.get(outcome.status, '    ')}{outcome.folder}: {outcome.messages.get(lang(), '')}")


@schedule_group.command("watch")
@click.argument("drop_dir", type=click.Path(file_okay=False, path_type=Path))
@click.option("--once", is_flag=True, help="今あるフォルダだけ処理して終了 / handle what is there and exit.")
@click.option("--poll", type=click.FloatRange(min=0.1), default=60.0, show_default=True,
              help="監視間隔（秒）/ seconds between looks at DROP_DIR.")
@click.option("--report-dir", type=click.Path(file_okay=False, path_type=Path), default=Path("report"),
              show_default=True, help="更新する週次レポートの出力先 / where the refreshed weekly report goes.")
@click.option("--no-report", is_flag=True, help="週次レポートを更新しない / do not refresh the weekly report.")
@guarded
def watch_command(drop_dir: Path, once: bool, poll: float, report_dir: Path, no_report: bool) -> None:
    """_READY のあるフィードフォルダを走査し done/ か rejected/ に移す / scan every complete feed folder in DROP_DIR."""
    from reconcile import schedule

    if not drop_dir.is_dir():
        click.echo(t(f"受付フォルダ {drop_dir} がありません", f"drop folder {drop_dir} does not exist"), err=True)
        raise SystemExit(EXIT_REJECTED)
    watcher = schedule.Watcher(drop_dir, report_dir=None if no_report else report_dir, lang=lang())
    if not once:
        watcher.run(poll=poll, stop=_stop_on_signals())
        raise SystemExit(EXIT_OK)
    outcomes = watcher.tick()
    for outcome in outcomes:
        _echo_outcome(outcome)
    if not outcomes:
        click.echo(t(f"{drop_dir} に処理するフォルダはありません（_READY のあるフォルダだけを処理します）",
                     f"nothing to do in {drop_dir} (only folders holding _READY are handled)"))
    statuses = {o.status for o in outcomes}
    if schedule.STATUS_FAILED in statuses:
        raise SystemExit(EXIT_INTERNAL)
    if schedule.STATUS_REJECTED in statuses:
        raise SystemExit(EXIT_REJECTED)
    raise SystemExit(EXIT_OK)


@schedule_group.command("run")
@click.option("--config", "config_file", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="設定ファイル（既定 reconcile.toml / RECONCILE_CONFIG）/ config file with a [schedule] table.")
@guarded
def run_command(config_file: Path | None) -> None:
    """[schedule] の定期ジョブを停止されるまで実行 / run the [schedule] jobs until stopped (SIGTERM, Ctrl-C)."""
    from reconcile import schedule, service

    config, settings = schedule.load_schedule(config_file)
    if not config.jobs:
        click.echo(t("[schedule] にジョブがありません", "no jobs in [schedule]"), err=True)
        raise SystemExit(EXIT_REJECTED)
    service.open_store(settings)  # writes: apply pending migrations before the first tick
    runner = schedule.JobRunner(config, settings)
    for job in config.jobs:
        when = f"cron {job.cron}" if job.cron else t(f"{job.every} 秒ごと", f"every {job.every} s")
        click.echo(t(f"ジョブ {job.name}（{when}、{config.timezone}）", f"job {job.name} ({when}, {config.timezone})"))
    runner.run_forever(stop=_stop_on_signals())
    raise SystemExit(EXIT_OK)


def register(cli: click.Group) -> None:
    cli.add_command(schedule_group)
