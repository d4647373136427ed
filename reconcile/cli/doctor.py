"""`reconcile doctor` — configuration, database, key and migrations; `reconcile migrate`.

Doctor only reads: it never creates a database or changes its schema (``reconcile migrate``, or
any writing command such as ``reconcile scan``, applies pending migrations).
"""
from __future__ import annotations

import click

from reconcile.cli.common import EXIT_INTERNAL, t


@click.command("doctor")
def doctor_command() -> None:
    """設定・データベース・鍵・マイグレーションを点検 / Check configuration, database, key and migrations."""
    from reconcile import service, store
    from reconcile.config import ConfigError, get_settings

    problems = 0

    def line(ok: bool, ja: str, en: str) -> None:
        nonlocal problems
        problems += not ok
        click.echo(("OK  " if ok else "NG  ") + t(ja, en))

    from reconcile.errors import ReconcileError
    try:
        settings = get_settings()
    except (ConfigError, ReconcileError) as exc:
        line(False, f"設定ファイル: {exc.text('ja')}", f"config file: {exc.text('en')}")
        raise SystemExit(exc.exit_code)   # a mistyped key is bad input (2), an unreadable file 1
    line(True, f"設定ファイル: {settings.config_path}{'' if settings.config_path.exists() else '（なし・既定値を使用）'}",
         f"config file: {settings.config_path}{'' if settings.config_path.exists() else ' (absent, defaults used)'}")
    key = settings.secret_key or ""
    line(len(key) >= 16, f"ハッシュ鍵: {'設定済み' if key else '未設定'}（{len(key)} 文字、16 文字以上が必要）",
         f"secret key: {'set' if key else 'missing'} ({len(key)} chars, 16 or more needed)")

    from reconcile.schedule import doctor_checks  # ops (#13): [schedule], free disk, chart font
    for ok, ja, en in doctor_checks(settings):
        line(ok, ja, en)

    url = service._display_url(settings.database_url)
    sqlite_file = service._sqlite_file(settings.database_url)
    if sqlite_file is not None and not sqlite_file.exists():
        line(False, f"データベース: {sqlite_file} がありません（reconcile scan か reconcile demo で作成されます）",
             f"database: {sqlite_file} does not exist (reconcile scan or reconcile demo creates it)")
        raise SystemExit(EXIT_INTERNAL)
    engine = service.engine_for(settings.database_url)
    try:
        with engine.connect():
            pass
        line(True, f"データベース接続: {url}", f"database reachable: {url}")
    except Exception as exc:  # noqa: BLE001 — doctor reports every failure as a line
        detail = " ".join(str(getattr(exc, "orig", None) or exc).split())[:300]
        line(False, f"データベース接続: {url}: {detail}", f"database: {url}: {detail}")
        raise SystemExit(EXIT_INTERNAL)
    current, head = store.current_revision(engine), store.head_revision()
    line(current == head, f"マイグレーション: 現在 {current} / 最新 {head}"
         + ("" if current == head else "（reconcile migrate または reconcile scan で適用）"),
         f"migrations: at {current}, head {head}"
         + ("" if current == head else " (apply with reconcile migrate or reconcile scan)"))
    if current is not None:
        stored = None
        try:
            with store.session_scope(engine) as session:
                stored = store.get_meta(session, service.KEY_FINGERPRINT)
        except Exception:  # noqa: BLE001 — an old schema has no store_meta table
            stored = "?"
        if key and stored not in (None, "?"):
            same = stored == service.key_fingerprint(key.encode("utf-8"))
            line(same, "鍵の指紋: データベースと一致" if same else
                 "鍵の指紋: データベースの鍵と違います（この鍵で走査すると全指摘が変わります。README「鍵の変更」）",
                 "key fingerprint: matches the database" if same else
                 "key fingerprint: differs from the database's key (a scan would change every finding; see README)")
        elif key and stored is None:
            line(True, "鍵の指紋: まだ記録されていません（次の走査で記録）",
                 "key fingerprint: not recorded yet (the next scan records it)")
        if stored != "?":
            try:
                from reconcile.store import locks
                for row in locks.held_locks(engine):
                    click.echo(t(f"    走査ロック: 保険者 {row['insurer_number']}（{row['holder']}、期限 {row['expires_at']}）",
                                 f"    scan lock: insurer {row['insurer_number']} ({row['holder']}, until {row['expires_at']})"))
            except Exception:  # noqa: BLE001 — informational only
                pass
    if problems:
        raise SystemExit(EXIT_INTERNAL)


@click.command("migrate")
def migrate_command() -> None:
    """データベースのスキーマを最新にする / Apply pending schema migrations (creates the database)."""
    from reconcile import service

    before, after = service.migrate()
    if before == after:
        click.echo(t(f"スキーマは最新です（{after}）", f"schema already at head ({after})"))
    else:
        click.echo(t(f"スキーマを更新しました: {before or '（空）'} → {after}", f"schema migrated: {before or '(empty)'} -> {after}"))


def register(cli: click.Group) -> None:
    cli.add_command(doctor_command)
    cli.add_command(migrate_command)
