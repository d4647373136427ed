"""Scan engines (``reconcile scan --engine local|dask``): where the rule functions run.

Both give the same findings (finding ids included) for the same feed; only where the work runs
differs. ``evaluator(name, workers=, scheduler=)`` returns a callable with the signature of
:func:`reconcile.pipeline.evaluate`.
"""
from __future__ import annotations

from typing import Callable

from reconcile.errors import InvalidInput

ENGINES = ("local", "dask")


def evaluator(engine: str = "local", *, workers: int | None = None, scheduler: str | None = None) -> Callable:
    """The ``evaluate`` function of engine ``engine`` (InvalidInput for an unknown name or flags
    that do not belong to it)."""
    if engine == "local":
        if workers is not None or scheduler:
            raise InvalidInput("--workers と --scheduler は --engine dask のときだけ指定できます",
                               "--workers and --scheduler only go with --engine dask", field="--engine")
        from reconcile.engines.local import LocalEngine
        return LocalEngine().evaluate
    if engine == "dask":
        from reconcile.engines.dask import DaskEngine
        return DaskEngine(workers=workers, scheduler=scheduler).evaluate
    raise InvalidInput(f"不明なエンジン {engine}（local または dask）", f"unknown engine {engine} (local or dask)",
                       field="--engine", value=engine)
