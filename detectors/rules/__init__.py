"""Importing this package registers every rule family (one module each)."""
from detectors.rules import numbers, qualification  # noqa: F401
