"""負担割合・限度額区分・資格日付・カード状況の注入 / burden, limit, qualification-date, card and
history injection (owned by the detector engineer).

Stub: the generator calls :func:`inject` after the number injector, before identity.
"""
from __future__ import annotations

from reconcile.synth.world import World


def inject(world: World) -> None:
    """Inject burden-ratio / limit-category / qualification-date / card-status / benefit-history
    defects into ``world``; record each in ``world.truth`` via ``world.record`` and skip
    members already in ``world.touched``.
    """
