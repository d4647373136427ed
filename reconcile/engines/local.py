"""Local engine: today's single-process pipeline (:func:`reconcile.pipeline.evaluate`)."""
from __future__ import annotations

from reconcile import pipeline


def evaluate(frames, **kwargs) -> pipeline.Evaluation:
    """:func:`reconcile.pipeline.evaluate`, looked up at call time (tests may replace it)."""
    return pipeline.evaluate(frames, **kwargs)
