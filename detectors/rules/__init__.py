"""Importing this package registers every rule family (one module each)."""
from detectors.rules import burden, cards, drift, history, limit, numbers, qualification  # noqa: F401
from detectors.rules import mislink  # noqa: F401  (matchers: MISLINK_SUSPECTED, NOTATION_DIFFERENCE)
