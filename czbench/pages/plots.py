"""Figures of the pages, drawn with matplotlib's object API (no pyplot state, safe in a
server thread) and embedded as PNG ``data:`` URIs: the scIB-style heatmap that ``czbench
report`` and the leaderboard share, a metric over time and a per-metric distribution."""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence
from datetime import datetime

import numpy as np

DPI = 100


def _figure(width: float, height: float):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=DPI)
    FigureCanvasAgg(fig)
    return fig


def png_bytes(fig, dpi: int = DPI) -> bytes:
    """The figure as PNG bytes (fixed metadata: the same figure gives the same bytes)."""
    buffer = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buffer, format="png", dpi=dpi, metadata={"Software": None})
    return buffer.getvalue()


def embed(png: bytes, alt: str, caption: str = "") -> dict:
    """A figure for the templates: ``src`` a PNG data URI, its pixel size, alt text, caption."""
    width = int.from_bytes(png[16:20], "big")
    height = int.from_bytes(png[20:24], "big")
    return {"src": "data:image/png;base64," + base64.b64encode(png).decode("ascii"),
            "alt": alt, "caption": caption, "width": width, "height": height}


def heatmap(values: np.ndarray, rows: Sequence[str], columns: Sequence[str], *,
            splits: Sequence[int] = (), title: str = "", dpi: int = DPI) -> bytes:
    """scIB-style table: one row per embedding, one column per metric, cells coloured on
    [0, 1] (YlGnBu) and labelled with two decimals; white lines before the ``splits`` columns.
    NaN cells stay blank. Returns PNG bytes."""
    values = np.asarray(values, dtype=float)
    fig = _figure(1.25 * len(columns) + 2.5, 0.5 * len(rows) + 1.8)
    ax = fig.add_subplot()
    ax.imshow(np.ma.masked_invalid(values), cmap="YlGnBu", vmin=0, vmax=1, aspect="auto")
    for i in range(len(rows)):
        for j in range(len(columns)):
            if np.isfinite(values[i, j]):
                ax.text(j, i, f"{values[i, j]:.2f}", ha="center", va="center", fontsize=8,
                        color="white" if values[i, j] > 0.6 else "black")
    ax.set_xticks(range(len(columns)))
    ax.set_xticklabels(columns, rotation=30, ha="right", fontsize=8)
    ax.set_yticks(range(len(rows)))
    ax.set_yticklabels(rows, fontsize=8)
    for split in splits:
        ax.axvline(split - 0.5, color="white", lw=3)
    if title:
        ax.set_title(title, fontsize=9)
    return png_bytes(fig, dpi)


def over_time(series: dict[str, list[tuple[str, float]]], label: str) -> bytes:
    """One line per team: ``label`` of its submissions against their ISO 8601 times."""
    fig = _figure(6.4, 3.6)
    ax = fig.add_subplot()
    for team, points in series.items():
        points = sorted((datetime.fromisoformat(t.replace("Z", "+00:00")), v)
                        for t, v in points)
        ax.plot([t for t, _ in points], [v for _, v in points], marker="o", label=team)
    ax.set_ylabel(label)
    ax.set_xlabel("submitted at (UTC)")
    ax.tick_params(axis="x", labelsize=7, rotation=20)
    if series:
        ax.legend(fontsize=7, title="team", title_fontsize=7)
    return png_bytes(fig)


def distribution(columns: Sequence[str], values: Sequence[Sequence[float]],
                 references: dict[str, Sequence[float | None]]) -> bytes:
    """A box per column over the submissions' values, each reference row as a marker."""
    fig = _figure(max(6.4, 0.9 * len(columns) + 2), 3.8)
    ax = fig.add_subplot()
    positions = np.arange(1, len(columns) + 1)
    kept = [np.asarray(v, dtype=float) for v in values]
    ax.boxplot([v if len(v) else [np.nan] for v in kept], positions=positions, widths=0.5,
               showfliers=True)
    markers = "os^Dv<>p"
    for k, (name, refs) in enumerate(references.items()):
        ys = [np.nan if r is None else r for r in refs]
        ax.scatter(positions, ys, marker=markers[k % len(markers)], zorder=3, label=name, s=22)
    ax.set_xticks(positions)
    ax.set_xticklabels(columns, rotation=30, ha="right", fontsize=8)
    ax.set_ylabel("score")
    if references:
        ax.legend(fontsize=7, title="reference rows", title_fontsize=7)
    return png_bytes(fig)
