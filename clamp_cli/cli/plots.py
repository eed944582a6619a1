"""PNG figures (a confusion matrix, a map of the embedding space) with matplotlib, byte-for-byte
reproducible: the Agg backend, no timestamp or version in the file, a fixed size in pixels."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..errors import InputError, UsageError
from ..fsutil import atomic_write, os_reason

DPI = 100


def parse_size(text: str) -> tuple[int, int]:
    """ "1200x900" -> (1200, 900) pixels."""
    try:
        w, h = (int(x) for x in text.lower().split("x"))
    except ValueError:
        raise UsageError(f"--size must be WIDTHxHEIGHT in pixels (e.g. 1200x900), not '{text}'") from None
    if not (100 <= w <= 10000 and 100 <= h <= 10000):
        raise UsageError("--size: each side between 100 and 10000 pixels")
    return w, h


def _figure(size: tuple[int, int]):
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    plt.rcParams.update({"svg.hashsalt": "clamp", "font.size": 10})
    return plt, plt.figure(figsize=(size[0] / DPI, size[1] / DPI), dpi=DPI)


def _save(plt, fig, path: Path) -> None:
    import io

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, metadata={"Software": None})
    plt.close(fig)
    try:
        atomic_write(path, lambda f: f.write(buf.getvalue()))
    except OSError as exc:
        raise InputError(f"{path}: cannot write ({os_reason(exc)})") from None


def confusion_png(path: Path, labels: Sequence[str], confusion: Sequence[Sequence[int]],
                  size: tuple[int, int] = (900, 800), title: str = "") -> None:
    plt, fig = confusion_figure(labels, confusion, size, title)
    _save(plt, fig, path)


def confusion_figure(labels: Sequence[str], confusion: Sequence[Sequence[int]],
                     size: tuple[int, int] = (900, 800), title: str = ""):
    """The confusion matrix drawn (pyplot, figure): each cell's count in white or black, whichever
    reads on the cell's colour."""
    plt, fig = _figure(size)
    ax = fig.add_subplot()
    m = np.asarray(confusion)
    image = ax.imshow(m, cmap="Blues")
    ax.set_xticks(range(len(labels)), labels, rotation=45, ha="right")
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    for i in range(m.shape[0]):
        for j in range(m.shape[1]):
            ax.text(j, i, str(m[i, j]), ha="center", va="center",
                    color=text_colour(image.cmap(image.norm(m[i, j]))))
    ax.set_title(title)
    fig.tight_layout()
    return plt, fig


def text_colour(rgba) -> str:
    """White on a dark cell, black on a light one: by the cell's relative luminance (WCAG), so that
    the number stays readable whatever the colour map makes of it."""
    def linear(c: float) -> float:
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (linear(float(c)) for c in rgba[:3])
    luminance = 0.2126 * r + 0.7152 * g + 0.0722 * b
    # the colour whose contrast with white equals its contrast with black: (1.05 / 0.05) ** 0.5 * 0.05 - 0.05
    return "white" if luminance < 0.179 else "black"


def map_png(path: Path, xy: np.ndarray, groups: Sequence[str], names: dict[int, str],
            size: tuple[int, int] = (1200, 900), title: str = "",
            explained: Sequence[float] | None = None) -> None:
    """Points coloured by group (a legend), a few of them labelled by name; the axes name the
    principal components and the share of the variance each explains."""
    plt, fig = map_figure(xy, groups, names, size, title, explained)
    _save(plt, fig, path)


def map_figure(xy: np.ndarray, groups: Sequence[str], names: dict[int, str], size: tuple[int, int] = (1200, 900),
               title: str = "", explained: Sequence[float] | None = None):
    """The map drawn (pyplot, figure); see map_png."""
    plt, fig = _figure(size)
    ax = fig.add_subplot()
    kinds = list(dict.fromkeys(groups))
    cmap = plt.get_cmap("tab20" if len(kinds) > 10 else "tab10")
    for n, kind in enumerate(kinds):
        rows = [i for i, g in enumerate(groups) if g == kind]
        ax.scatter(xy[rows, 0], xy[rows, 1], s=14, color=cmap(n % cmap.N), label=f"{kind} ({len(rows)})",
                   alpha=0.8, linewidths=0)
    for i, name in names.items():
        ax.annotate(name, xy[i], xytext=(4, 4), textcoords="offset points", fontsize=8)
    ax.legend(loc="best", fontsize=8, markerscale=1.5, frameon=False)
    ax.set_xticks([])
    ax.set_yticks([])
    if explained is not None:
        ax.set_xlabel(f"PC1 ({explained[0]:.1%} of variance)")
        ax.set_ylabel(f"PC2 ({explained[1]:.1%} of variance)")
    ax.set_title(title)
    fig.tight_layout()
    return plt, fig
