"""Shared bits of the command-line interface: language, exit codes, error reporting."""
from __future__ import annotations

import logging
import os
import sys
from functools import wraps
from typing import Callable

import click

EXIT_OK, EXIT_INTERNAL, EXIT_REJECTED = 0, 1, 2


def lang() -> str:
    ctx = click.get_current_context(silent=True)
    chosen = ctx.find_root().params.get("lang") if ctx else None
    return chosen or os.environ.get("RECONCILE_LANG", "ja")


def t(ja: str, en: str) -> str:
    """The Japanese text, or the English one under ``--lang en``."""
    return en if lang() == "en" else ja


def fail(message: str, code: int = EXIT_INTERNAL) -> None:
    click.echo(message, err=True)
    sys.exit(code)


def guarded(func: Callable) -> Callable:
    """Turn configuration errors, refused outputs (the 12-digit guard) and "nothing scanned yet"
    into a clear message and exit 1 instead of a traceback."""

    @wraps(func)
    def wrapper(*args, **kwargs):
        # Imported when the command runs, not when the CLI loads (`reconcile --help` stays quick).
        from reconcile.config import ConfigError
        from reconcile.exports import PrivacyLeak
        from reconcile.service import NoScanYet
        from reports.guard import IndividualNumberLeak

        try:
            return func(*args, **kwargs)
        except (ConfigError, PrivacyLeak, IndividualNumberLeak, NoScanYet) as exc:
            fail(str(exc), EXIT_INTERNAL)
    return wrapper


def setup_logging(verbose: bool) -> None:
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    # Great Expectations announces its temporary docs folder at INFO on every run; stewards
    # and cron mails need only its warnings.
    logging.getLogger("great_expectations").setLevel(logging.WARNING)
