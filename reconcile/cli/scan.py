"""`reconcile scan FEED_DIR` — exit 0 done, 2 feed rejected or refused, 1 internal error."""
from __future__ import annotations

import logging

import click

from reconcile.cli.common import EXIT_INTERNAL, EXIT_OK, EXIT_REJECTED, fail, guarded, lang, t


def print_summary(summary) -> None:
    click.echo(t(f"走査 {summary.scan_id} 完了: {summary.feed_path}（基準日 {summary.as_of}、対象月 {summary.period}）",
                 f"Scan {summary.scan_id} done: {summary.feed_path} (as of {summary.as_of}, period {summary.period})"))
    rows = ", ".join(f"{name} {count:,}" for name, count in summary.rows.items())
    click.echo(t(f"  読込件数: {rows}", f"  rows read: {rows}"))
    click.echo(t(f"  隔離した行: {summary.quarantined_rows:,}（reconcile export quarantine で出力）",
                 f"  quarantined rows: {summary.quarantined_rows:,} (reconcile export quarantine)"))
    click.echo(t(f"  検出: {summary.total_findings:,} 件（新規 {summary.new_findings:,}、継続 {summary.seen_again:,}）",
                 f"  findings: {summary.total_findings:,} (new {summary.new_findings:,}, seen again {summary.seen_again:,})"))
    for rule_id, count in summary.findings_by_rule.items():
        click.echo(f"    {rule_id:<30} {count:>8,}")
    q = getattr(summary, "queue_counts", None) or {}
    if q:
        click.echo(t(f"  作業項目: 新規 {q.get('new', 0):,}、継続 {q.get('carried', 0):,}、"
                     f"検出されなくなった {q.get('closed_not_seen', 0):,}、再オープン {q.get('reopened', 0):,}",
                     f"  work items: new {q.get('new', 0):,}, carried {q.get('carried', 0):,}, "
                     f"closed not seen {q.get('closed_not_seen', 0):,}, reopened {q.get('reopened', 0):,}"))
        if q.get("not_seen_in_progress"):
            click.echo(t(f"  対応中のまま検出されなくなった項目: {q['not_seen_in_progress']:,}（担当者に残します）",
                         f"  in progress but no longer detected: {q['not_seen_in_progress']:,} (left with their steward)"))
        if q.get("kept_quarantined"):
            click.echo(t(f"  閉じずに残した項目: {q['kept_quarantined']:,}（被保険者の行が隔離されたため）",
                         f"  items kept open: {q['kept_quarantined']:,} (the member's row was quarantined)"))
        if q.get("kept_absent"):
            click.echo(t(f"  閉じずに残した項目: {q['kept_absent']:,}（途中で切れた疑いのあるフィードにいない被保険者）",
                         f"  items kept open: {q['kept_absent']:,} (member absent from a feed that looks truncated)"))
    deferred = getattr(summary, "rules_closing_nothing", None) or []
    if deferred:
        click.echo(t(f"  隔離行があるため今回は閉じなかったルール: {', '.join(deferred)}",
                     f"  rules that closed nothing (quarantined rows of their files): {', '.join(deferred)}"))
    for forced in getattr(summary, "forced", None) or []:
        click.echo(t(f"  --force で実行: {forced['ja']}", f"  forced: {forced['en']}"))
    for rule_id, reason in summary.skipped:
        click.echo(t(f"  スキップ: {rule_id}（{reason}）", f"  skipped: {rule_id} ({reason})"))
    total = summary.seconds.get("total")
    if total:
        click.echo(t(f"  所要時間: {total:.1f} 秒", f"  time: {total:.1f} s"))


@click.command("scan")
@click.argument("feed_dir", type=click.Path(file_okay=False, path_type=str))
@click.option("--as-of", "as_of", default=None, help="基準日 YYYY-MM-DD（省略時は manifest、次に実行日）/ evaluation date.")
@click.option("--force", is_flag=True, default=False,
              help="古い対象月・被保険者数の急減でも走査する / scan an older or truncated-looking feed anyway.")
@click.option("--no-wait", "no_wait", is_flag=True, default=False,
              help="同じ保険者の走査が実行中なら待たずに終了（exit 2）/ exit 2 instead of waiting for a running scan.")
@click.option("--engine", type=click.Choice(["local", "dask"]), default="local", show_default=True,
              help="実行エンジン（dask: 保険者ごとに分割して並列実行）/ where the rules run.")
@click.option("--workers", type=click.IntRange(min=1), default=None,
              help="--engine dask: このマシンで起動するワーカー数 / local Dask workers to start.")
@click.option("--scheduler", default=None, metavar="ADDRESS",
              help="--engine dask: 既存の Dask スケジューラー（tcp://HOST:PORT）/ an existing Dask scheduler.")
@guarded
def scan_command(feed_dir: str, as_of: str | None, force: bool, no_wait: bool, engine: str = "local",
                 workers: int | None = None, scheduler: str | None = None) -> None:
    """フィードを検証し、全ルールで点検して作業キューに反映 / Validate a feed, run every rule, fill the queues."""
    from reconcile import service
    from reconcile.errors import ReconcileError
    from reconcile.feeds import FeedRejected
    from reconcile.progress import stage_progress

    try:
        with stage_progress(lang=lang()) as progress:
            summary = service.scan(feed_dir, as_of=as_of, progress=progress, force=force, wait=not no_wait,
                                   engine=engine, workers=workers, scheduler=scheduler)
    except FeedRejected as exc:
        fail(t(f"フィードを受け付けられません: {exc.text('ja')}", f"Feed rejected: {exc.text('en')}"), EXIT_REJECTED)
    except ReconcileError:
        raise  # the one mapping (reconcile.cli.common.report_error)
    except OSError:
        raise  # disk full and friends: the one mapping says so
    except Exception as exc:  # noqa: BLE001 — the contract wants exit 1 with a message, not a traceback
        from sqlalchemy.exc import DBAPIError
        if isinstance(exc, DBAPIError):
            raise  # database unreachable / disk full: the one mapping says so
        logging.getLogger("reconcile").info("scan failed", exc_info=True)  # traceback with -v
        fail(t(f"内部エラーで走査を中止しました（保存内容は変わっていません）: {type(exc).__name__}: {exc}",
               f"Internal error, scan aborted (nothing stored changed): {type(exc).__name__}: {exc}"), EXIT_INTERNAL)
    print_summary(summary)
    raise SystemExit(EXIT_OK)


def register(cli: click.Group) -> None:
    cli.add_command(scan_command)
