"""`reconcile user add|passwd|list|disable|token` — users of the API and web UI (contract cli.md)."""
from __future__ import annotations

import sys

import click

from reconcile.cli.common import guarded, t


@click.group("user")
def user_group() -> None:
    """利用者の管理 / manage users of the API and the web UI."""


def _engine():
    from reconcile.config import get_settings
    from reconcile.service import open_store

    return open_store(get_settings())        # a writing command: applies pending migrations


def _session():
    from reconcile.store import session_scope

    return session_scope(_engine())


@user_group.command("add")
@click.argument("name")
@click.option("--role", required=True, type=click.Choice(["steward", "supervisor", "auditor", "admin"]),
              help="役割 / role.")
@click.option("--insurer", "insurers", multiple=True, help="担当する保険者番号（複数可）/ insurer number (repeatable).")
@guarded
def add(name: str, role: str, insurers: tuple[str, ...]) -> None:
    """利用者を作る（APIトークンを一度だけ表示）/ create a user; prints its API token once."""
    from reconcile import auth

    with _session() as session:
        info, token = auth.add_user(session, name, role, insurers)
    scope = ", ".join(info.insurers) if info.insurers else t("全保険者", "every insurer")
    click.echo(t(f"利用者 {info.name}（{info.role}、{scope}）を作成しました。APIトークン（この一度だけ表示）:",
                 f"Created user {info.name} ({info.role}, {scope}). API token (shown this once):"), err=True)
    click.echo(token)


@user_group.command("passwd")
@click.argument("name")
@guarded
def passwd(name: str) -> None:
    """Webサインインのパスワードを設定（端末で入力、または標準入力）/ set the web sign-in password."""
    from reconcile import auth

    if sys.stdin.isatty():
        password = click.prompt(t("パスワード", "Password"), hide_input=True, confirmation_prompt=True)
    else:
        password = sys.stdin.readline().rstrip("\r\n")
    with _session() as session:
        auth.set_password(session, name, password)
    click.echo(t(f"{name} のパスワードを設定しました", f"Password set for {name}"), err=True)


@user_group.command("list")
@guarded
def list_users() -> None:
    """利用者の一覧 / list users (never their tokens)."""
    from reconcile import auth

    with _session() as session:
        users = auth.list_users(session)
    click.echo("\t".join(["name", "role", "insurers", "active", "password"]))
    for user in users:
        click.echo("\t".join([user.name, user.role, ",".join(user.insurers) if user.insurers else "*",
                              "yes" if user.active else "no", "yes" if user.has_password else "no"]))


@user_group.command("disable")
@click.argument("name")
@guarded
def disable(name: str) -> None:
    """利用者を無効にする（トークンとパスワードは即時に無効）/ disable a user; its token stops working."""
    from reconcile import auth

    with _session() as session:
        auth.disable_user(session, name)
    click.echo(t(f"{name} を無効にしました", f"Disabled {name}"), err=True)


@user_group.command("token")
@click.argument("name")
@guarded
def token(name: str) -> None:
    """新しいAPIトークンを発行（古いものは無効）/ issue a new API token; the old one stops working."""
    from reconcile import auth

    with _session() as session:
        new = auth.issue_token(session, name)
    click.echo(t(f"{name} の新しいAPIトークン（この一度だけ表示）:", f"New API token for {name} (shown this once):"),
               err=True)
    click.echo(new)


def register(cli: click.Group) -> None:
    cli.add_command(user_group)
