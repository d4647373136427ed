"""`reconcile serve [--host H] [--port P] [--workers N]` — the HTTP API and the steward web UI (contract api.md).

``--workers N`` (an addition to the contract's flags) runs N uvicorn worker processes on one port:
a Python process serves requests on one core at a time, so a machine with more cores needs more
processes to use them. Each worker has its own connection pool, credential cache and
``/metrics`` request counters (queue sizes and scans are read from the store and agree).
"""
from __future__ import annotations

import os
from datetime import datetime, timezone

import click

from reconcile.cli.common import guarded, t


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="待ち受けアドレス / address to listen on.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535), help="ポート / port.")
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 64),
              help="ワーカープロセス数 / worker processes (one core each).")
@click.option("--log-level", default="warning", show_default=True,
              type=click.Choice(["critical", "error", "warning", "info", "debug"]))
@guarded
def serve(host: str, port: int, workers: int, log_level: str) -> None:
    """APIとWeb画面を起動 / run the JSON API (/api/v1), the web UI and /metrics."""
    import uvicorn

    from reconcile.config import get_settings
    from reconcile.service import open_store

    open_store(get_settings())   # a writing command: pending migrations once, before listening
    # Workers (re)started later leave the uploads of this server's other workers alone (api.app).
    os.environ["RECONCILE_SERVER_STARTED_AT"] = datetime.now(timezone.utc).isoformat()
    click.echo(t(f"http://{host}:{port}/ で待ち受けます（API: /api/v1、仕様: /openapi.json）",
                 f"Listening on http://{host}:{port}/ (API: /api/v1, spec: /openapi.json)"), err=True)
    # By import string: `reconcile` sits below `api` in the layers (api → reconcile), so the CLI names
    # the app factory instead of importing it.
    # log_config=None: uvicorn's loggers propagate to the root handlers (JSON logs, number masking).
    uvicorn.run("api.app:create_app", factory=True, host=host, port=port, log_level=log_level,
                access_log=False, log_config=None, workers=workers)


def register(cli: click.Group) -> None:
    cli.add_command(serve)
