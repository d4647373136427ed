"""合成フィード生成 / synthetic feed generation: population → injectors → feed files + truth.csv."""
from __future__ import annotations

from reconcile.synth import benefits, identity
from reconcile.synth.world import World

# Order matters: each injector skips members already in ``world.touched``.
INJECTORS = (benefits.inject, identity.inject)


def run_injectors(world: World) -> None:
    """Apply the injectors in their fixed order (numbers → benefits → identity)."""
    for inject in INJECTORS:
        inject(world)
