"""The report page (``czbench report``): the leaderboard's look, opened from a file.

Tables come in as pandas DataFrames (what :mod:`czbench.report` builds) and go out as the
templates' table dicts; a cell can carry its number (``data-value``) and where it comes from
(``data-*``), so the page and the results file can be compared cell by cell.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import pandas as pd

from czbench.pages._render import render


def frame_table(frame: pd.DataFrame, caption: str, *, values: pd.DataFrame | None = None,
                cell_attrs: Callable[[tuple, Any], dict] | None = None) -> dict:
    """A DataFrame as a table dict: index levels become row headers (``<th scope=row>``).
    ``values``: a frame of the same shape with each cell's number; ``cell_attrs(index,
    column)``: extra ``data-*`` attributes of a cell."""
    names = [str(n) if n is not None else "" for n in frame.index.names]
    columns = [{"label": n} for n in names]
    columns += [{"label": str(c), "num": values is not None} for c in frame.columns]
    rows = []
    for index, row in frame.iterrows():
        key = index if isinstance(index, tuple) else (index,)
        cells: list[dict] = [{"text": str(k), "value": None} for k in key]
        for column, text in row.items():
            value = None
            if values is not None:
                raw = values.at[index, column]
                value = None if pd.isna(raw) else float(raw)
            cells.append({"text": "" if pd.isna(text) else str(text), "value": value,
                          "num": values is not None,
                          "attrs": cell_attrs(key, column) if cell_attrs else {}})
        rows.append({"cells": cells})
    return {"caption": caption, "columns": columns, "rows": rows, "index": len(names)}


def render_report(*, title: str, intro: str, blocks: Sequence[dict]) -> str:
    """The report page: ``blocks`` of ``{"heading", "text", "figure", "table"}`` (figure from
    :func:`czbench.pages.plots.embed`, table from :func:`frame_table`), each key optional."""
    full = [{"heading": b.get("heading"), "text": b.get("text"), "figure": b.get("figure"),
             "table": b.get("table")} for b in blocks]
    return render("report.html", title=title, intro=intro, blocks=full)
