"""`reconcile backup OUT` — a consistent copy of the store.

SQLite: the online backup API (``sqlite3.Connection.backup``) copies the database page by page
while scans and the server keep working; the copy is checked (``PRAGMA integrity_check``) and is
itself a ready-to-use store: restore by stopping the writers and putting the file back at the
configured path (or pointing ``RECONCILE_DATABASE_URL`` at it).

PostgreSQL: ``pg_dump --format=custom`` (run when ``pg_dump`` is on PATH, else the command is
printed and the exit code is 2). Restore with ``pg_restore --clean --if-exists --no-owner
--dbname URL OUT``. The password is passed in ``PGPASSWORD``, never on the command line.

Read-only: never creates or upgrades a database (no database at the URL is exit 1).
"""
from __future__ import annotations

import os
import shlex
import shutil
import sqlite3
import subprocess
import time
from pathlib import Path

import click

from reconcile.cli.common import EXIT_INTERNAL, EXIT_OK, EXIT_REJECTED, fail, guarded, t


def sqlite_backup(database: Path, out: Path, *, pages_per_step: int = 1024) -> dict:
    """Copy the SQLite database at ``database`` to ``out`` with the online backup API."""
    started = time.perf_counter()
    source = sqlite3.connect(f"{database.resolve().as_uri()}?mode=ro", uri=True)
    tmp = out.with_name(out.name + ".partial")
    tmp.unlink(missing_ok=True)
    try:
        target = sqlite3.connect(tmp)
        try:
            source.backup(target, pages=pages_per_step)
            # The copy stands alone: no WAL file next to it.
            target.execute("PRAGMA journal_mode=DELETE")
            check = target.execute("PRAGMA integrity_check").fetchone()[0]
            tables = [r[0] for r in target.execute(
                "SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%' ORDER BY name")]
            counts = {name: target.execute(f'SELECT count(*) FROM "{name}"').fetchone()[0] for name in tables}
        finally:
            target.close()
    finally:
        source.close()
    if check != "ok":
        tmp.unlink(missing_ok=True)
        raise RuntimeError(f"integrity_check of the copy: {check}")
    os.replace(tmp, out)
    return {"seconds": time.perf_counter() - started, "bytes": out.stat().st_size, "rows": counts}


def pg_dump_command(url, out: Path) -> tuple[list[str], dict[str, str]]:
    """The ``pg_dump`` command (and environment) for the SQLAlchemy URL ``url``.

    A ``search_path`` in the URL's libpq ``options`` limits the dump to that schema."""
    env = {}
    if url.password:
        env["PGPASSWORD"] = url.password
    libpq = url.set(drivername="postgresql", password=None)
    command = ["pg_dump", "--format=custom", "--no-owner", f"--file={out}"]
    options = libpq.query.get("options")
    if isinstance(options, str) and "search_path=" in options:
        schema = options.split("search_path=", 1)[1].split()[0].split(",")[0]
        command.append(f"--schema={schema}")
    command.append(f"--dbname={libpq.render_as_string(hide_password=False)}")
    return command, env


@click.command("backup")
@click.argument("out", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="OUT があれば上書き / overwrite OUT if it exists.")
@guarded
def backup_command(out: Path, force: bool) -> None:
    """保存領域の一貫したコピーを OUT に作る / write a consistent copy of the store to OUT."""
    from sqlalchemy.engine import make_url

    from reconcile import store
    from reconcile.config import get_settings

    settings = get_settings()
    url = make_url(store.normalise_url(settings.database_url))
    shown = url.render_as_string(hide_password=True)
    if out.exists() and not force:
        fail(t(f"{out} は既にあります（上書きするには --force）", f"{out} already exists (--force to overwrite)"),
             EXIT_REJECTED)
    if out.parent and not out.parent.exists():
        fail(t(f"出力先のフォルダ {out.parent} がありません", f"output folder {out.parent} does not exist"), EXIT_REJECTED)
    backend = url.get_backend_name()
    if backend == "sqlite":
        database = Path(url.database or "")
        if not url.database or url.database == ":memory:" or not database.is_file():
            fail(t(f"データベース {shown} がありません（バックアップするものがありません）",
                   f"no database at {shown} (nothing to back up)"), EXIT_INTERNAL)
        if database.resolve() == out.resolve():
            fail(t("出力先がデータベースそのものです", "OUT is the database itself"), EXIT_REJECTED)
        result = sqlite_backup(database, out)
        rows = sum(result["rows"].values())
        click.echo(t(f"バックアップを作成しました: {out}（{result['bytes']:,} バイト、{len(result['rows'])} 表、"
                     f"{rows:,} 行、整合性 OK、{result['seconds']:.1f} 秒）",
                     f"Backup written: {out} ({result['bytes']:,} bytes, {len(result['rows'])} tables, {rows:,} rows, "
                     f"integrity ok, {result['seconds']:.1f} s)"))
        click.echo(t(f"復元: 書き込むプロセス（serve, schedule）を止め、{out} を {database} に戻します",
                     f"Restore: stop the writers (serve, schedule) and copy {out} back to {database}"))
        raise SystemExit(EXIT_OK)
    if backend == "postgresql":
        command, env = pg_dump_command(url, out)
        printable = " ".join(shlex.quote(part) for part in command)
        if shutil.which("pg_dump") is None:
            click.echo(t("PostgreSQL のバックアップは pg_dump で取ります（pg_dump が PATH にありません）。次を実行してください:",
                         "PostgreSQL is backed up with pg_dump (not found on PATH). Run:"), err=True)
            click.echo(("PGPASSWORD=… " if env else "") + printable, err=True)
            click.echo(t(f"復元: pg_restore --clean --if-exists --no-owner --dbname URL {out}",
                         f"Restore: pg_restore --clean --if-exists --no-owner --dbname URL {out}"), err=True)
            raise SystemExit(EXIT_REJECTED)
        started = time.perf_counter()
        done = subprocess.run(command, env={**os.environ, **env}, capture_output=True, text=True)
        if done.returncode != 0:
            out.unlink(missing_ok=True)
            fail(t(f"pg_dump が失敗しました（終了コード {done.returncode}）: {done.stderr.strip()[:500]}",
                   f"pg_dump failed (exit {done.returncode}): {done.stderr.strip()[:500]}"), EXIT_INTERNAL)
        click.echo(t(f"バックアップを作成しました: {out}（pg_dump カスタム形式、{out.stat().st_size:,} バイト、"
                     f"{time.perf_counter() - started:.1f} 秒）",
                     f"Backup written: {out} (pg_dump custom format, {out.stat().st_size:,} bytes, "
                     f"{time.perf_counter() - started:.1f} s)"))
        click.echo(t(f"復元: pg_restore --clean --if-exists --no-owner --dbname URL {out}",
                     f"Restore: pg_restore --clean --if-exists --no-owner --dbname URL {out}"))
        raise SystemExit(EXIT_OK)
    fail(t(f"{backend} のバックアップには対応していません", f"backups of {backend} are not supported"), EXIT_REJECTED)


def register(cli: click.Group) -> None:
    cli.add_command(backup_command)
