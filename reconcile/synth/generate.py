"""合成フィード生成 / synthetic feed generation: population → injectors → feed files + truth.csv.

``generate(out_dir, members=…, seed=…)`` is what ``reconcile generate`` and ``reconcile demo``
call. Same arguments ⇒ the same bytes: one numpy ``Generator`` seeded from ``seed`` drives the
population and the injectors, the writer draws from its own stream.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from reconcile.synth import benefits, identity, numbers
from reconcile.synth.population import build_world
from reconcile.synth.world import World
from reconcile.synth.writer import write_feed

PROFILES = ("default", "hard")


@dataclass(frozen=True)
class GenerateResult:
    out_dir: Path
    counts: dict[str, int]           # rows per written file (members, residents, …, truth)
    truth_path: Path
    as_of: pd.Timestamp
    encodings: dict[str, str] = field(default_factory=dict)   # CSV encoding chosen per file


def default_as_of(today: pd.Timestamp | None = None) -> pd.Timestamp:
    """基準日 default: the first day of the current month."""
    today = pd.Timestamp.today() if today is None else pd.Timestamp(today)
    return today.normalize().replace(day=1)


def run_injectors(world: World) -> None:
    """Apply the injectors in their fixed order (numbers → benefits → identity).

    Each one skips members already in ``world.touched``, so every truth row has one cause.
    Looked up on the modules at call time so the owners' implementations are always used.
    """
    numbers.inject(world)
    benefits.inject(world)
    identity.inject(world)


def build(members: int = 20_000, *, seed: int = 0, as_of: str | pd.Timestamp | None = None,
          profile: str = "default") -> World:
    """The injected world, not yet written (for tests and benchmarks)."""
    if profile not in PROFILES:
        raise ValueError(f"profile must be one of {PROFILES}, not {profile!r}")
    if members < 1:
        raise ValueError("members must be at least 1")
    as_of_ts = default_as_of() if as_of is None else pd.Timestamp(as_of).normalize()
    world = build_world(members, seed=seed, as_of=as_of_ts, profile=profile)
    run_injectors(world)
    return world


def generate(out_dir: str | Path, *, members: int = 20_000, seed: int = 0,
             as_of: str | pd.Timestamp | None = None, profile: str = "default",
             formats: tuple[str, ...] = ("csv",)) -> GenerateResult:
    """合成フィードを書く / Write a synthetic feed (all contract files) plus ``truth.csv``.

    ``members``: member rows of the insurer master (active and lost); the registry extract
    holds about 1.3× as many residents. ``as_of`` defaults to the first of the current month.
    ``profile="hard"`` makes same-name strangers, twins and foreign names denser.
    ``formats``: ``("csv",)``, ``("parquet",)`` or both.
    """
    unknown = set(formats) - {"csv", "parquet"}
    if unknown or not formats:
        raise ValueError(f"formats must be a non-empty subset of ('csv', 'parquet'), not {formats!r}")
    world = build(members, seed=seed, as_of=as_of, profile=profile)
    written = write_feed(world, out_dir, seed=seed, formats=tuple(formats))
    out = Path(out_dir)
    return GenerateResult(out_dir=out, counts=written["counts"], truth_path=out / "truth.csv",
                          as_of=world.as_of, encodings=written["encodings"])
