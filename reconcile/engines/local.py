"""Local engine: today's single-process pipeline (:func:`reconcile.pipeline.evaluate`)."""
from __future__ import annotations

from reconcile.pipeline import Evaluation, evaluate

__all__ = ["Evaluation", "evaluate"]
