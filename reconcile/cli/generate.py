"""`reconcile generate OUT_DIR` — a synthetic feed with its ground truth."""
from __future__ import annotations

import click

from reconcile.cli.common import t


@click.command("generate")
@click.argument("out_dir", type=click.Path(file_okay=False, path_type=str))
@click.option("--members", "members", type=click.IntRange(min=10), default=20_000, show_default=True,
              help="被保険者数 / number of members.")
@click.option("--seed", type=int, default=0, show_default=True, help="乱数の種 / random seed.")
@click.option("--as-of", "as_of", default=None, help="基準日 YYYY-MM-DD.")
@click.option("--profile", type=click.Choice(["default", "hard"]), default="default", show_default=True,
              help="hard: 同姓同名・同一生年月日や外国人氏名が多い / denser collisions, more foreign names.")
@click.option("--previous", "previous", type=click.Path(exists=True, file_okay=False, path_type=str), default=None,
              help="このフィードの翌月を作成（同じ人、一部の誤りは修正済み、新たな誤りあり）/ "
                   "write the following month of this feed.")
def generate_command(out_dir: str, members: int, seed: int, as_of: str | None, profile: str,
                     previous: str | None) -> None:
    """合成フィード（正解 truth.csv 付き）を作成 / Write a synthetic feed plus truth.csv."""
    from reconcile.synth.generate import generate

    if previous is not None:   # reports engineer (#11): the following month, reconcile.synth.followup
        from reconcile.synth.followup import generate_followup

        followup = generate_followup(previous, out_dir, seed=seed)
        click.echo(t(f"{previous} の翌月（{followup.period}）を {followup.out_dir} に作成しました"
                     f"（修正済み {followup.fixed}・継続 {followup.persisting}・新規 {followup.new}）",
                     f"Following month ({followup.period}) of {previous} written to {followup.out_dir} "
                     f"({followup.fixed} fixed, {followup.persisting} persisting, {followup.new} new)"))
        return
    result = generate(out_dir, members=members, seed=seed, as_of=as_of, profile=profile)
    click.echo(t(f"合成フィードを {result.out_dir} に作成しました（正解: {result.truth_path}）",
                 f"Synthetic feed written to {result.out_dir} (truth: {result.truth_path})"))
    for name, count in result.counts.items():
        click.echo(f"  {name:<20} {count:>10,}")


def register(cli: click.Group) -> None:
    cli.add_command(generate_command)
