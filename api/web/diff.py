"""Differing characters of two values, for marking them side by side (文字単位の差分)."""
from __future__ import annotations

from difflib import SequenceMatcher


def mark_differences(left: str, right: str) -> tuple[list[tuple[str, bool]], list[tuple[str, bool]]]:
    """Each side as ``[(text, differs), ...]`` segments: equal runs unmarked, the rest marked.

    A full-width and a half-width space, 髙 and 高, カ and ｶ are different characters, so they are
    marked — exactly what a steward must see to fix the notation.
    """
    matcher = SequenceMatcher(a=left, b=right, autojunk=False)
    out_left: list[tuple[str, bool]] = []
    out_right: list[tuple[str, bool]] = []
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        same = tag == "equal"
        if i2 > i1:
            out_left.append((left[i1:i2], not same))
        if j2 > j1:
            out_right.append((right[j1:j2], not same))
    return out_left, out_right
