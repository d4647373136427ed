"""`reconcile demo` — on a fresh machine: two consecutive months of a demo municipality, scanned into
the embedded store, so the first look shows carry-forward, items no longer detected and a trend;
then the weekly report, the findings and national exports, and how to start the server and sign in."""
from __future__ import annotations

from pathlib import Path

import click

from reconcile.cli.common import guarded, lang, t


def _first_of_last_month():
    import pandas as pd

    today = pd.Timestamp.now(tz="Asia/Tokyo").tz_localize(None).normalize()
    return (today.replace(day=1) - pd.offsets.MonthBegin(1)).date().isoformat()


@click.command("demo")
@click.option("--members", type=click.IntRange(min=100), default=20_000, show_default=True,
              help="デモ自治体の被保険者数 / members in the demo municipality.")
@click.option("--seed", type=int, default=2026, show_default=True)
@click.option("--as-of", "as_of", default=None,
              help="1か月目の基準日 YYYY-MM-DD（省略時は先月1日）/ first month's as-of date (default: the 1st of last month).")
@click.option("--dir", "workdir", type=click.Path(file_okay=False, path_type=Path),
              default=Path("reconcile-demo"), show_default=True, help="出力先 / where the feeds and report go.")
@guarded
def demo_command(members: int, seed: int, as_of: str | None, workdir: Path) -> None:
    """デモ: 2か月分のフィードを作成・スキャンし、週次レポートを出力 / Two demo months: generate, scan, report."""
    from reconcile import exports, service, store
    from reconcile.cli.scan import print_summary
    from reconcile.config import ensure_secret_key
    from reconcile.progress import stage_progress
    from reconcile.schedule import feed_fingerprint
    from reconcile.synth.followup import generate_followup
    from reconcile.synth.generate import generate

    settings = ensure_secret_key()
    first_dir, second_dir = workdir / "feed", workdir / "feed-next-month"
    as_of = as_of or _first_of_last_month()
    click.echo(t(f"1/4 デモ自治体のフィードを作成中（被保険者 {members:,} 人、基準日 {as_of} とその翌月）…",
                 f"1/4 generating the demo municipality ({members:,} members, as of {as_of} and the month after)…"))
    generate(first_dir, members=members, seed=seed, as_of=as_of)
    followup = generate_followup(first_dir, second_dir, seed=seed)
    click.echo(t(f"    翌月分: 前月の誤りのうち {followup.fixed} 件を修正、{followup.persisting} 件は継続、新たに {followup.new} 件",
                 f"    next month: {followup.fixed} of last month's problems fixed, {followup.persisting} persist, "
                 f"{followup.new} new"))

    click.echo(t("2/4 2か月分をスキャン中（検証・照合・全ルール）…", "2/4 scanning both months (validation, matching, every rule)…"))
    engine = service.open_store(settings)
    for step, feed_dir in enumerate((first_dir, second_dir), start=1):
        with store.session_scope(engine) as session:
            known = store.find_feed(session, feed_fingerprint(feed_dir)) is not None
        if known:
            click.echo(t(f"  {feed_dir} はスキャン済みです（同じ内容）。作業項目はそのままです",
                         f"  {feed_dir} was already scanned (same content); work items unchanged"))
            continue
        with stage_progress(lang=lang()) as progress:
            summary = service.scan(feed_dir, settings=settings, progress=progress)
        print_summary(summary)

    click.echo(t("3/4 週次レポートと CSV を作成中…", "3/4 writing the weekly report and CSVs…"))
    report_files = exports.weekly_report(out_dir=workdir / "report", settings=settings, lang=lang())
    findings_csv, _ = service.export_findings(workdir / "findings.csv", settings=settings, lang=lang(),
                                              encoding="utf-8-sig")
    national = service.export_national(workdir / "national.csv", period=followup.period, settings=settings,
                                       totals=workdir / "national_totals.csv", lang=lang())

    from reconcile.synth.followup import _read

    insurer = _read(first_dir / "members.csv")[0]["insurer_number"].iloc[0]
    click.echo(t("4/4 完了", "4/4 done"))
    click.echo("")
    click.echo(t("見る場所:", "Where to look:"))
    click.echo(t(f"  1か月目のフィード（正解 truth.csv 付き）: {first_dir}", f"  first month's feed (with truth.csv): {first_dir}"))
    click.echo(t(f"  2か月目のフィード: {second_dir}", f"  second month's feed: {second_dir}"))
    click.echo(t(f"  データベース: {settings.database_url}", f"  database: {settings.database_url}"))
    click.echo(t(f"  週次レポート: {report_files[0]}（ブラウザで開く・A4 で印刷可）",
                 f"  weekly report: {report_files[0]} (open in a browser; prints on A4)"))
    click.echo(t(f"  検出結果 CSV: {findings_csv}", f"  findings CSV: {findings_csv}"))
    click.echo(t(f"  全国報告用の集計（{followup.period}）: {national.path}（合計: {national.totals_path}）",
                 f"  national export ({followup.period}): {national.path} (totals: {national.totals_path})"))
    click.echo(t("  隔離行: reconcile export quarantine", "  quarantined rows: reconcile export quarantine"))
    click.echo("")
    click.echo(t("画面で作業するには:", "To work in the browser:"))
    click.echo(t(f"  1. 利用者を作る:      reconcile user add steward1 --role steward --insurer {insurer}",
                 f"  1. create a user:    reconcile user add steward1 --role steward --insurer {insurer}"))
    click.echo(t("                        （管理者なら reconcile user add admin --role admin。トークンが一度だけ表示されます）",
                 "                       (an administrator: reconcile user add admin --role admin; the token is shown once)"))
    click.echo(t("  2. パスワードを設定:  reconcile user passwd steward1", "  2. set a password:   reconcile user passwd steward1"))
    click.echo(t("  3. サーバーを起動:    reconcile serve", "  3. start the server: reconcile serve"))
    click.echo(t("  4. ブラウザで http://127.0.0.1:8000/login を開き、利用者名とパスワード（またはトークン）でサインイン",
                 "  4. open http://127.0.0.1:8000/login and sign in with the user name and password (or the token)"))


def register(cli: click.Group) -> None:
    cli.add_command(demo_command)
