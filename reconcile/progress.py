"""進捗表示 / progress: rows per second and stage on a terminal, silent in pipes and CI."""
from __future__ import annotations

import os
import sys
from contextlib import contextmanager
from typing import Callable, Iterator

from tqdm import tqdm


def interactive() -> bool:
    return sys.stderr.isatty() and not os.environ.get("CI")


@contextmanager
def stage_progress(enabled: bool | None = None) -> Iterator[Callable[[str, int], None]]:
    """Yield ``progress(stage, rows_done)``; one tqdm bar per stage, only on a terminal."""
    enabled = interactive() if enabled is None else enabled
    bars: dict[str, tqdm] = {}

    def progress(stage: str, rows_done: int) -> None:
        if not enabled:
            return
        bar = bars.get(stage)
        if bar is None:
            for other in bars.values():
                other.close()
            bar = bars[stage] = tqdm(desc=stage, unit=" rows", unit_scale=True, file=sys.stderr, leave=False)
        bar.update(max(rows_done - bar.n, 0))

    try:
        yield progress
    finally:
        for bar in bars.values():
            bar.close()
