"""氏名表記ゆれ・紐付け誤りの注入 / notation variants and mis-link injection (owned by the matcher engineer).

Stub: the generator calls :func:`inject` after the number and benefit injectors.
"""
from __future__ import annotations

from reconcile.synth.world import World


def inject(world: World) -> None:
    """Add notation variants (異体字, 外字, kana, foreign-name order, 旧氏 …) and true mis-links
    (same name + birth date strangers, twins, family mix-ups) to ``world``; record each in
    ``world.truth`` via ``world.record`` and skip members already in ``world.touched``.
    """
