"""`reconcile doctor` — configuration, database, key and migrations."""
from __future__ import annotations

import click

from reconcile.cli.common import EXIT_INTERNAL, t


@click.command("doctor")
def doctor_command() -> None:
    """設定・データベース・鍵・マイグレーションを点検 / Check configuration, database, key and migrations."""
    from reconcile import store
    from reconcile.config import ConfigError, get_settings

    problems = 0

    def line(ok: bool, ja: str, en: str) -> None:
        nonlocal problems
        problems += not ok
        click.echo(("OK  " if ok else "NG  ") + t(ja, en))

    try:
        settings = get_settings()
    except ConfigError as exc:
        line(False, f"設定ファイル: {exc}", f"config file: {exc}")
        raise SystemExit(EXIT_INTERNAL)
    line(True, f"設定ファイル: {settings.config_path}{'' if settings.config_path.exists() else '（なし・既定値を使用）'}",
         f"config file: {settings.config_path}{'' if settings.config_path.exists() else ' (absent, defaults used)'}")
    key = settings.secret_key or ""
    line(len(key) >= 16, f"ハッシュ鍵: {'設定済み' if key else '未設定'}（{len(key)} 文字、16 文字以上が必要）",
         f"secret key: {'set' if key else 'missing'} ({len(key)} chars, 16 or more needed)")
    from sqlalchemy.engine import make_url

    url = make_url(store.normalise_url(settings.database_url)).render_as_string(hide_password=True)
    try:
        engine = store.get_engine(settings.database_url)
        with engine.connect():
            pass
        line(True, f"データベース接続: {url}", f"database reachable: {url}")
    except Exception as exc:  # noqa: BLE001 — doctor reports every failure as a line
        line(False, f"データベース接続: {url}: {exc}", f"database: {url}: {exc}")
        raise SystemExit(EXIT_INTERNAL)
    current, head = store.current_revision(engine), store.head_revision()
    line(current == head, f"マイグレーション: 現在 {current} / 最新 {head}（reconcile scan で自動適用）",
         f"migrations: at {current}, head {head} (applied automatically by reconcile scan)")
    if problems:
        raise SystemExit(EXIT_INTERNAL)


def register(cli: click.Group) -> None:
    cli.add_command(doctor_command)
