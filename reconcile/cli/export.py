"""`reconcile export …` — findings, quarantine, national report, 資格確認書 issuance list.

Every CSV meant for people is UTF-8 with a BOM unless ``--encoding`` says otherwise; with
``--encoding cp932`` each character CP932 could not hold is reported on stderr (count and lines),
and the command still ends 0.
"""
from __future__ import annotations

import click

from reconcile.cli.common import guarded, lang, t

ENCODING_CHOICES = click.Choice(["utf-8-sig", "utf-8", "cp932"])
ENCODING_HELP = ("文字コード: utf-8-sig（BOM 付き UTF-8、Excel 向け・既定）、utf-8（BOM なし）、cp932 / "
                 "utf-8-sig (UTF-8 with BOM, for Excel; default), utf-8 (no BOM), cp932")


@click.group("export")
def export_group() -> None:
    """CSV 出力 / CSV exports."""


def _where(path, count: int) -> None:
    if path is not None:
        click.echo(t(f"{count:,} 行を {path} に出力しました", f"Wrote {count:,} rows to {path}"), err=True)


def _replaced(count) -> None:
    """Say on stderr which characters CP932 could not hold (never silently)."""
    replaced = getattr(count, "replaced", ())
    if not replaced:
        return
    total = sum(r.count for r in replaced)
    click.echo(t(f"注意: CP932 で表せない文字 {len(replaced)} 種類・{total:,} 箇所を置き換えました:",
                 f"Note: {len(replaced)} distinct characters ({total:,} occurrences) CP932 cannot hold were replaced:"),
               err=True)
    for item in replaced:
        click.echo("  " + item.describe(lang()), err=True)


@export_group.command("findings")
@click.option("--scan", "scan_id", type=int, default=None, help="スキャン ID（省略時は最新）/ scan id (default latest).")
@click.option("--out", type=click.Path(dir_okay=False, path_type=str), default=None, help="出力先（省略時は標準出力）.")
@click.option("--encoding", type=ENCODING_CHOICES, default="utf-8-sig", show_default=True, help=ENCODING_HELP)
@guarded
def export_findings(scan_id: int | None, out: str | None, encoding: str) -> None:
    """検出結果 CSV / findings CSV (contract columns)."""
    from reconcile import service

    path, count = service.export_findings(out, scan_id=scan_id, encoding=encoding, lang=lang())
    _where(path, count)
    _replaced(count)


@export_group.command("quarantine")
@click.option("--scan", "scan_id", type=int, default=None)
@click.option("--out", type=click.Path(dir_okay=False, path_type=str), default=None)
@click.option("--encoding", type=ENCODING_CHOICES, default="utf-8-sig", show_default=True, help=ENCODING_HELP)
@guarded
def export_quarantine(scan_id: int | None, out: str | None, encoding: str) -> None:
    """隔離した行 / rejected rows with file, line, column, value and reason."""
    from reconcile import service

    path, count = service.export_quarantine(out, scan_id=scan_id, encoding=encoding)
    _where(path, count)
    _replaced(count)


@export_group.command("national")
@click.option("--period", required=True, help="報告対象月 YYYY-MM（フィードの対象月）/ the feeds' reporting month.")
@click.option("--out", type=click.Path(dir_okay=False, path_type=str), default=None,
              help="保険者×区分の集計（省略時は標準出力）/ rows per insurer and category (default stdout).")
@click.option("--totals", type=click.Path(dir_okay=False, path_type=str), default=None,
              help="合計を別ファイルに出力 / write the totals to their own file.")
@click.option("--corrections", type=click.Path(dir_okay=False, path_type=str), default=None,
              help="確定した紐付け誤りの一覧（番号は下4桁のみ）/ per-record list of confirmed mis-links.")
@click.option("--encoding", type=ENCODING_CHOICES, default="utf-8-sig", show_default=True, help=ENCODING_HELP)
@guarded
def export_national(period: str, out: str | None, totals: str | None, corrections: str | None,
                    encoding: str) -> None:
    """全国報告用の集計（保険者×区分）/ national-reporting export per insurer and category."""
    import re

    from reconcile import service

    if not re.fullmatch(r"\d{4}-(0[1-9]|1[0-2])", period):
        raise click.BadParameter(t("YYYY-MM で指定してください", "use YYYY-MM"), param_hint="--period")
    result = service.export_national(out, period=period, totals=totals, corrections=corrections,
                                     lang=lang(), encoding=encoding)
    _where(result.path, result.rows)
    if result.totals_path is not None:
        click.echo(t(f"合計を {result.totals_path} に出力しました", f"Totals written to {result.totals_path}"), err=True)
    if result.corrections_path is not None:
        _where(result.corrections_path, result.corrections)
    _replaced(result.rows)


@export_group.command("kakuninsho")
@click.option("--out", type=click.Path(dir_okay=False, path_type=str), default=None)
@click.option("--feed", "feed_dir", type=click.Path(file_okay=False, path_type=str), default=None,
              help="フィード（省略時は最新のスキャンのフィード）/ feed directory (default: the latest scan's).")
@click.option("--as-of", "as_of", default=None)
@click.option("--encoding", type=ENCODING_CHOICES, default="utf-8-sig", show_default=True, help=ENCODING_HELP)
@guarded
def export_kakuninsho(out: str | None, feed_dir: str | None, as_of: str | None, encoding: str) -> None:
    """資格確認書 職権交付対象者一覧 / the 資格確認書 ex officio issuance list."""
    from reconcile import service

    path, count = service.export_kakuninsho(out, feed_dir=feed_dir, as_of=as_of, encoding=encoding)
    _where(path, count)
    _replaced(count)


@export_group.command("labels")
@click.option("--out", type=click.Path(dir_okay=False, path_type=str), default=None, help="出力先（省略時は標準出力）.")
@guarded
def export_labels(out: str | None) -> None:
    """担当者の判断を学習用ペアに / stewards' mis-link and notation decisions as labelled pairs for `train`."""
    from reconcile import workflow

    path, count, by_label = workflow.export_labels(out)
    if path is not None:
        click.echo(t(f"{count:,} 組を {path} に出力しました（同一人物 {by_label.get(1, 0):,}、別人 {by_label.get(0, 0):,}）",
                     f"Wrote {count:,} pairs to {path} (same person {by_label.get(1, 0):,}, "
                     f"different {by_label.get(0, 0):,})"), err=True)


def register(cli: click.Group) -> None:
    cli.add_command(export_group)
