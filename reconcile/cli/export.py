"""`reconcile export …` — findings, quarantine, national report, 資格確認書 issuance list."""
from __future__ import annotations

import click

from reconcile.cli.common import guarded, lang, t


@click.group("export")
def export_group() -> None:
    """CSV 出力 / CSV exports."""


def _where(path, count: int) -> None:
    if path is not None:
        click.echo(t(f"{count:,} 行を {path} に出力しました", f"Wrote {count:,} rows to {path}"), err=True)


@export_group.command("findings")
@click.option("--scan", "scan_id", type=int, default=None, help="走査 ID（省略時は最新）/ scan id (default latest).")
@click.option("--out", type=click.Path(dir_okay=False, path_type=str), default=None, help="出力先（省略時は標準出力）.")
@click.option("--encoding", type=click.Choice(["utf-8", "cp932"]), default="utf-8", show_default=True)
@guarded
def export_findings(scan_id: int | None, out: str | None, encoding: str) -> None:
    """検出結果 CSV / findings CSV (contract columns)."""
    from reconcile import service

    path, count = service.export_findings(out, scan_id=scan_id, encoding=encoding, lang=lang())
    _where(path, count)


@export_group.command("quarantine")
@click.option("--scan", "scan_id", type=int, default=None)
@click.option("--out", type=click.Path(dir_okay=False, path_type=str), default=None)
@guarded
def export_quarantine(scan_id: int | None, out: str | None) -> None:
    """隔離した行 / rejected rows with file, line, column, value and reason."""
    from reconcile import service

    path, count = service.export_quarantine(out, scan_id=scan_id)
    _where(path, count)


@export_group.command("national")
@click.option("--period", required=True, help="報告対象月 YYYY-MM / reporting month.")
@click.option("--out", type=click.Path(dir_okay=False, path_type=str), default=None)
@click.option("--encoding", type=click.Choice(["utf-8-sig", "utf-8", "cp932"]), default="utf-8-sig", show_default=True)
@guarded
def export_national(period: str, out: str | None, encoding: str) -> None:
    """全国報告用の集計（保険者×区分）/ national-reporting export per insurer and category."""
    import re

    from reconcile import service

    if not re.fullmatch(r"\d{4}-(0[1-9]|1[0-2])", period):
        raise click.BadParameter(t("YYYY-MM で指定してください", "use YYYY-MM"), param_hint="--period")
    path, count = service.export_national(out, period=period, lang=lang(), encoding=encoding)
    _where(path, count)


@export_group.command("kakuninsho")
@click.option("--out", type=click.Path(dir_okay=False, path_type=str), default=None)
@click.option("--feed", "feed_dir", type=click.Path(file_okay=False, path_type=str), default=None,
              help="フィード（省略時は最新の走査のフィード）/ feed directory (default: the latest scan's).")
@click.option("--as-of", "as_of", default=None)
@click.option("--encoding", type=click.Choice(["utf-8", "cp932"]), default="utf-8", show_default=True)
@guarded
def export_kakuninsho(out: str | None, feed_dir: str | None, as_of: str | None, encoding: str) -> None:
    """資格確認書 職権交付対象者一覧 / the 資格確認書 ex officio issuance list."""
    from reconcile import service
    from reconcile.cli.common import EXIT_REJECTED, fail
    from reconcile.feeds import FeedRejected

    try:
        path, count = service.export_kakuninsho(out, feed_dir=feed_dir, as_of=as_of, encoding=encoding)
    except FeedRejected as exc:
        fail(str(exc), EXIT_REJECTED)
    _where(path, count)


def register(cli: click.Group) -> None:
    cli.add_command(export_group)
