"""Bar charts as PNG bytes (matplotlib, Agg backend; no display, no global pyplot state).

Japanese labels need a font with Japanese glyphs. :func:`japanese_font` registers the IPAexGothic
that the pip package matplotlib-fontja ships (so a fresh machine without system CJK fonts draws
Japanese), else looks among the fonts matplotlib knows; only without any, charts fall back to
ASCII labels so no tofu boxes appear. 日本語フォントは matplotlib-fontja 同梱の IPAex ゴシックを使う。
"""
from __future__ import annotations

import io
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Sequence

import matplotlib

matplotlib.use("Agg")  # before any figure is built; harmless if already Agg

from matplotlib.figure import Figure  # noqa: E402  (after the backend is chosen)
from matplotlib import font_manager  # noqa: E402

# Families known to carry Japanese glyphs, in order of preference. IPAexGothic first: it is the one
# matplotlib-fontja installs with pip, so charts look the same on every machine.
JAPANESE_FAMILIES = (
    "IPAexGothic", "Noto Sans CJK JP", "Noto Sans JP", "Noto Serif CJK JP", "Source Han Sans JP", "Source Han Sans",
    "IPAGothic", "IPAPGothic", "TakaoGothic", "TakaoPGothic", "VL Gothic",
    "Hiragino Sans", "Hiragino Kaku Gothic ProN", "Yu Gothic", "Meiryo", "MS Gothic",
    "Droid Sans Japanese", "Noto Sans CJK SC", "Noto Sans CJK TC", "WenQuanYi Zen Hei",
)

PALETTE = {
    "new": "#d95f02", "carried": "#7570b3",
    "open": "#e7298a", "in_progress": "#e6ab02",
    "bar": "#1b9e77",
}


_FONT_FILE_HINTS = ("cjk", "ipaex", "ipag", "ipam", "takao", "vl-gothic", "notosansjp", "sourcehansans")


def _known_family() -> str | None:
    installed = {f.name for f in font_manager.fontManager.ttflist}
    return next((family for family in JAPANESE_FAMILIES if family in installed), None)


@lru_cache(maxsize=1)
def japanese_font() -> str | None:
    """Family name of a font with Japanese glyphs, or None (then use ASCII labels).

    matplotlib-fontja (a pip dependency) ships IPAexGothic, so a fresh machine without system CJK
    fonts still draws Japanese labels; installed system fonts are found too.
    """
    try:
        import matplotlib_fontja

        font_manager.fontManager.addfont(matplotlib_fontja.get_font_ttf_path())
    except (ImportError, OSError, RuntimeError, ValueError, AttributeError):
        pass
    family = _known_family()
    if family is None:
        # matplotlib caches its font list; a font installed after that cache was built
        # (e.g. apt-get install fonts-noto-cjk) is found on disk and registered here.
        for path in font_manager.findSystemFonts():
            if any(hint in Path(path).name.lower() for hint in _FONT_FILE_HINTS):
                try:
                    font_manager.fontManager.addfont(path)
                except (OSError, RuntimeError, ValueError):
                    continue
        family = _known_family()
    return family


def is_ascii(text: str) -> bool:
    return all(ord(ch) < 128 for ch in text)


@dataclass(frozen=True)
class ChartText:
    """Labels for one chart; ``font`` None means every string must be ASCII."""
    title: str
    xlabel: str
    font: str | None


def _figure(n_bars: int) -> Figure:
    height = max(2.2, 0.42 * n_bars + 1.4)
    return Figure(figsize=(8.0, height), dpi=100, layout="constrained")


def _png(fig: Figure) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", metadata={"Software": None})
    return buffer.getvalue()


def _style(ax, text: ChartText) -> None:
    family = {"fontfamily": text.font} if text.font else {}
    ax.set_title(text.title, loc="left", fontsize=11, **family)
    ax.set_xlabel(text.xlabel, **family)
    ax.invert_yaxis()  # first category on top, as in the table beside it
    ax.spines[["top", "right"]].set_visible(False)
    ax.grid(axis="x", color="#dddddd", linewidth=0.6)
    ax.set_axisbelow(True)
    ax.xaxis.get_major_locator().set_params(integer=True)


def stacked_barh(labels: Sequence[str], series: Sequence[tuple[str, Sequence[float], str]],
                 text: ChartText) -> bytes:
    """Horizontal stacked bars: ``series`` is ``(legend label, values, colour)`` per stack."""
    fig = _figure(len(labels))
    ax = fig.add_subplot()
    family = {"fontfamily": text.font} if text.font else {}
    left = [0.0] * len(labels)
    positions = list(range(len(labels)))
    for legend, values, colour in series:
        ax.barh(positions, values, left=left, color=colour, label=legend, height=0.65)
        left = [a + float(b) for a, b in zip(left, values)]
    for y, total in zip(positions, left):
        ax.text(total, y, f" {int(total):,}", va="center", fontsize=8)
    ax.set_yticks(positions, labels=list(labels), **family)
    _style(ax, text)
    if len(series) > 1:
        # Below the axis label, so it never covers a bar or the title.
        fig.legend(loc="outside lower center", ncol=len(series), frameon=False,
                   prop={"family": text.font, "size": 8} if text.font else {"size": 8})
    if not labels:
        ax.text(0.5, 0.5, "-", transform=ax.transAxes, ha="center")
    return _png(fig)


def barh(labels: Sequence[str], values: Sequence[float], text: ChartText) -> bytes:
    """Horizontal bars, one series."""
    return stacked_barh(labels, [("", values, PALETTE["bar"])], text)


def weekly_trend(weeks: Sequence[str], new: Sequence[int], closed: Sequence[int] | None,
                 backlog: Sequence[int] | None, *, labels: tuple[str, str, str], text: ChartText) -> bytes:
    """Bars of new and resolved per week, and a line of the backlog at each week's end."""
    fig = Figure(figsize=(8.0, 3.0), dpi=100, layout="constrained")
    ax = fig.add_subplot()
    family = {"fontfamily": text.font} if text.font else {}
    x = list(range(len(weeks)))
    width = 0.38 if closed is not None else 0.6
    ax.bar([i - (width / 2 if closed is not None else 0) for i in x], new, width=width, color=PALETTE["new"],
           label=labels[0])
    if closed is not None:
        ax.bar([i + width / 2 for i in x], closed, width=width, color=PALETTE["bar"], label=labels[1])
    if backlog is not None:
        ax.plot(x, backlog, color=PALETTE["carried"], marker="o", linewidth=1.6, label=labels[2])
    handles = ax.get_legend_handles_labels()[0]
    ax.set_xticks(x, labels=list(weeks), **family)
    ax.set_title(text.title, loc="left", fontsize=11, **family)
    ax.set_ylabel(text.xlabel, **family)
    ax.spines[["top"]].set_visible(False)
    ax.grid(axis="y", color="#dddddd", linewidth=0.6)
    ax.set_axisbelow(True)
    ax.yaxis.get_major_locator().set_params(integer=True)
    fig.legend(handles=handles, loc="outside lower center", ncol=3, frameon=False,
               prop={"family": text.font, "size": 8} if text.font else {"size": 8})
    return _png(fig)
