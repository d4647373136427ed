"""Shared bits of the command-line interface: language, exit codes, error reporting.

Exceptions become exit codes in ONE place, :func:`report_error` (used by the root group in
:mod:`reconcile.cli.main` for every command, and by :func:`guarded`): a
:class:`reconcile.errors.ReconcileError` ends with its ``exit_code`` and its message in the chosen
language; anything unexpected ends with exit 1 and a one-line message — the traceback goes only to
the debug log (``reconcile -v``). No command prints a traceback.
"""
from __future__ import annotations

import errno
import logging
import os
import sys
from functools import wraps
from typing import Callable, NoReturn

import click

EXIT_OK, EXIT_INTERNAL, EXIT_REJECTED = 0, 1, 2

log = logging.getLogger("reconcile.cli")


def lang() -> str:
    ctx = click.get_current_context(silent=True)
    chosen = ctx.find_root().params.get("lang") if ctx else None
    return chosen or os.environ.get("RECONCILE_LANG", "ja")


def t(ja: str, en: str) -> str:
    """The Japanese text, or the English one under ``--lang en``."""
    return en if lang() == "en" else ja


def fail(message: str, code: int = EXIT_INTERNAL) -> NoReturn:
    click.echo(message, err=True)
    sys.exit(code)


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def report_error(exc: BaseException) -> NoReturn:
    """Print what went wrong in one or a few lines and exit with the contract's code."""
    from reconcile.errors import ReconcileError

    if isinstance(exc, ReconcileError):
        log.debug("command failed: %s", exc, exc_info=exc)
        fail(exc.text(lang()), exc.exit_code)
    # Outputs refused by the 12-digit guards (reports cannot import reconcile.errors).
    name = type(exc).__name__
    if name in ("PrivacyLeak", "IndividualNumberLeak", "NoScanYet", "ConfigError"):
        log.debug("command refused: %s", exc, exc_info=exc)
        fail(str(exc), EXIT_INTERNAL)
    try:
        from sqlalchemy.exc import DBAPIError, OperationalError
    except ImportError:  # pragma: no cover
        DBAPIError = OperationalError = ()  # type: ignore[assignment]
    log.info("command failed", exc_info=exc)  # the traceback only with -v
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
        fail(t(f"ディスクの空きがありません（保存内容は変わっていません）: {_one_line(exc)}",
               f"Disk full (nothing stored changed): {_one_line(exc)}"), EXIT_INTERNAL)
    if isinstance(exc, OperationalError) or isinstance(exc, DBAPIError):
        detail = _one_line(getattr(exc, "orig", None) or exc)[:300]
        if "disk is full" in detail or "No space left" in detail or "could not extend file" in detail:
            fail(t(f"ディスクの空きがありません（保存内容は変わっていません）: {detail}",
                   f"Disk full (nothing stored changed): {detail}"), EXIT_INTERNAL)
        fail(t(f"データベースのエラーです（reconcile doctor で点検してください）: {detail}",
               f"Database error (check with reconcile doctor): {detail}"), EXIT_INTERNAL)
    if isinstance(exc, (FileNotFoundError, NotADirectoryError, IsADirectoryError, PermissionError)):
        fail(t(f"ファイルを開けません: {_one_line(exc)}", f"Cannot open a file: {_one_line(exc)}"), EXIT_REJECTED)
    fail(t(f"内部エラーで中止しました（reconcile -v で詳細）: {type(exc).__name__}: {_one_line(exc)[:300]}",
           f"Internal error, stopped (details with reconcile -v): {type(exc).__name__}: {_one_line(exc)[:300]}"),
         EXIT_INTERNAL)


def guarded(func: Callable) -> Callable:
    """Map every exception of a command to a message and its exit code (see :func:`report_error`).

    The root group does the same for every command; this decorator keeps direct calls of a
    command function (and commands registered elsewhere) on the same mapping."""

    @wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except (click.exceptions.Exit, click.ClickException, click.exceptions.Abort, SystemExit):
            raise
        except Exception as exc:  # noqa: BLE001 — the one mapping of exceptions to exit codes
            report_error(exc)
    return wrapper


def setup_logging(verbose: bool) -> None:
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    if verbose:
        log.setLevel(logging.DEBUG)
    # Great Expectations announces its temporary docs folder at INFO on every run; stewards
    # and cron mails need only its warnings.
    logging.getLogger("great_expectations").setLevel(logging.WARNING)
