"""Detectors: a registry of rules over canonical frames (see :mod:`detectors.registry`).

Never imports ``reconcile`` or ``api``: rules take frames and return frames.
"""
from detectors.engine import FINDING_COLUMNS, RuleRun, run_rules
from detectors.registry import PROVIDERS, RULES, provider, rule

__all__ = ["FINDING_COLUMNS", "PROVIDERS", "RULES", "RuleRun", "provider", "rule", "run_rules"]
