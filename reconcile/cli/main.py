"""`reconcile` — the console script. One small module per command group, each a thin call into service."""
from __future__ import annotations

import click

from reconcile.cli import common


class ReconcileGroup(click.Group):
    """The root group: every command's exceptions go through the one mapping to exit codes
    (:func:`reconcile.cli.common.report_error`) — no command prints a traceback."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.ClickException, click.exceptions.Abort, SystemExit):
            raise
        except Exception as exc:  # noqa: BLE001 — the one place exceptions become exit codes
            common.report_error(exc)


@click.group(cls=ReconcileGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--lang", type=click.Choice(["ja", "en"]), default=None,
              help="表示言語 / output language (default ja, or RECONCILE_LANG).")
@click.option("-v", "--verbose", is_flag=True, help="詳細ログ / log progress to stderr.")
@click.option("--log-format", type=click.Choice(["text", "json"]), default=None,
              help="ログ形式 / log format: text or json (default text, or RECONCILE_LOG_FORMAT).")
def cli(lang: str | None, verbose: bool, log_format: str | None = None) -> None:
    """個人番号紐付け・資格情報の点検 / Reconcile insurer members with the resident registry and the online copy."""
    common.setup_logging(verbose)
    from reconcile.logs import apply_log_format  # ops (#13): JSON logs, numbers masked
    apply_log_format(log_format)


def _register() -> None:
    from reconcile.cli import demo, doctor, export, generate, report, scan, train
    for module in (demo, doctor, export, generate, report, scan, train):
        module.register(cli)
    from reconcile.cli import backup, schedule  # ops (#13)
    for module in (backup, schedule):
        module.register(cli)
    from reconcile.cli import serve, user  # api (#10)
    for module in (serve, user):
        module.register(cli)


_register()


def main() -> None:
    cli(prog_name="reconcile")


if __name__ == "__main__":
    main()
