"""`reconcile train LABELS.csv` — retrain the mis-link scorer from stewards' decisions."""
from __future__ import annotations

from pathlib import Path

import click

from reconcile.cli.common import guarded, t


@click.command("train")
@click.argument("labels", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="保存先（省略時は設定の model_path、なければ ./mislink_model.json）/ where to save the model.")
@guarded
def train_command(labels: Path, out: Path | None) -> None:
    """誤紐付けスコアを再学習 / Retrain the mis-link scorer from labelled pairs."""
    from reconcile import service

    saved, metrics = service.train_scorer(labels, out=out)
    click.echo(t(f"モデルを保存しました: {saved}", f"Model saved: {saved}"))
    for name, value in metrics.items():
        click.echo(f"  {name}: {value}")
    click.echo(t("使うには RECONCILE_MODEL_PATH か reconcile.toml の model_path に設定してください。",
                 "To use it set RECONCILE_MODEL_PATH or model_path in reconcile.toml."))


def register(cli: click.Group) -> None:
    cli.add_command(train_command)
