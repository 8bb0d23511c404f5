"""``czbench report``: compare results files side by side as tables and plots.

Writes into an output folder: ``report.md`` and ``report.html`` (a table per task: mean ± sd over
seeds and the control-normalised score, plus the aggregates), one bar chart per task
(``<task>.png``, error bars = sd over seeds) and ``summary.png``, an scIB-style table of the bio,
batch and aggregate scores. Control embeddings appear in the tables, not in the plots.
``report.html`` is one self-contained page (:mod:`czbench.pages`: figures inline, no server);
``html_only`` writes just that page.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from czbench.errors import InputError
from czbench.pages import plots
from czbench.pages.report import frame_table, render_report
from czbench.run.document import read_json
from czbench.run.summary import BATCH, BIO, SCIB_BATCH, SCIB_BIO
from czbench.utils.checks import check_output_path
from czbench.utils.io import atomic_write_bytes, atomic_write_text
from czbench.utils.params import format_params

AGGREGATES = ("avg_bio", "scib_overall", "mean_normalized")


def load_runs(paths: Sequence[str | Path]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(summary rows, aggregate rows) of several results files, with a ``label`` column naming
    each embedding (prefixed by its file's stem where labels would collide)."""
    if not paths:
        raise InputError("results: give at least one results file")
    resolved = [Path(p).resolve() for p in paths]
    twice = next((p for i, p in enumerate(paths) if resolved[i] in resolved[:i]), None)
    if twice is not None:
        raise InputError(f"results: {twice} is given twice; give each results file once")
    documents = [(Path(p), read_json(p)) for p in paths]
    for path, doc in documents:
        if "summary" not in doc:
            raise InputError(f"results: {path} has no summary (written by an older czbench); "
                             f"re-run it")
    # controls depend on the dataset only: show each dataset's controls once
    seen_controls: set[tuple[str, str]] = set()
    kept: list[tuple[Path, dict, list[str]]] = []
    for path, doc in documents:
        names = []
        for entry in doc["aggregates"]:
            key = (doc["dataset"]["name"], entry["embedding"])
            if entry["embedding"].startswith("control:"):
                if key in seen_controls:
                    continue
                seen_controls.add(key)
            names.append(entry["embedding"])
        kept.append((path, doc, names))
    all_names = [n for _, _, names in kept for n in names]
    clash = {n for n in all_names if all_names.count(n) > 1}
    summaries, aggregates = [], []
    for path, doc, names in kept:
        for rows, out in ((doc["summary"], summaries), (doc["aggregates"], aggregates)):
            frame = pd.DataFrame(rows)
            frame = frame[frame["embedding"].isin(names)].copy()
            frame["label"] = [f"{path.stem}:{e}" if e in clash else e
                              for e in frame["embedding"]]
            frame["control"] = frame["embedding"].str.startswith("control:")
            frame["dataset"] = doc["dataset"]["name"]
            out.append(frame)
    summary = pd.concat(summaries, ignore_index=True)
    summary["params"] = summary["params"].map(format_params)
    return summary, pd.concat(aggregates, ignore_index=True)


def dataset_table(paths: Sequence[str | Path]) -> pd.DataFrame:
    """One row per results file: its dataset, modality, rows (with what a row is) and
    features (files written before modalities: transcriptomics, cells)."""
    rows = []
    for path in paths:
        data = read_json(path)["dataset"]
        rows.append({"results": Path(path).name, "dataset": data["name"],
                     "modality": data.get("modality", "transcriptomics"),
                     "rows": f"{data['n_cells']} {data.get('row_unit', 'cell')}s",
                     "features": data.get("n_genes", ""),
                     "sha256": (data.get("sha256") or "")[:12]})
    return pd.DataFrame(rows).set_index("results")


def _cell(row: pd.Series) -> str:
    text = f"{row['mean']:.4f}"
    if pd.notna(row["std"]):
        text += f" ± {row['std']:.4f}"
    if pd.notna(row["normalized"]):
        text += f" ({row['normalized']:.2f})"
    return text


def task_tables(summary: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Per task: rows (metric, params), columns embedding labels, cells 'mean ± sd (norm)'."""
    summary = summary.assign(cell=summary.apply(_cell, axis=1))
    labels = list(dict.fromkeys(summary["label"]))
    tables = {}
    for task, rows in summary.groupby("task", sort=False):
        table = rows.pivot_table(index=["metric", "params"], columns="label", values="cell",
                                 aggfunc="first", sort=False)
        tables[task] = table[[label for label in labels if label in table.columns]]
    return tables


def markdown_table(frame: pd.DataFrame) -> str:
    """A DataFrame as a GitHub Markdown table (index levels become the first columns)."""
    flat = frame.reset_index()
    header = [str(c) for c in flat.columns]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in flat.itertuples(index=False):
        lines.append("| " + " | ".join("" if pd.isna(v) else str(v) for v in row) + " |")
    return "\n".join(lines) + "\n"


def benchmarker_table(summary: pd.DataFrame, *, min_max: bool = False) -> pd.DataFrame | None:
    """scib-metrics' Benchmarker table: one row per (non-control) embedding, its bio and batch
    metrics, their means and the total 0.6 * bio + 0.4 * batch. ``min_max`` scales each metric
    to [0, 1] across the embeddings shown first (scib-metrics' ``min_max_scale``). None when
    no embedding has the whole set."""
    plain = summary[(summary["params"] == "") & ~summary["control"]]
    keys = [*SCIB_BIO, *SCIB_BATCH]
    table = pd.DataFrame({metric: plain[(plain["task"] == task) & (plain["metric"] == metric)]
                          .set_index("label")["mean"] for task, metric in keys})
    table = table.dropna()
    if table.empty:
        return None
    if min_max:
        low, high = table.min(), table.max()
        table = (table - low) / (high - low).where(high > low, 1.0)
    bio = table[[m for _, m in SCIB_BIO]].mean(axis=1)
    batch = table[[m for _, m in SCIB_BATCH]].mean(axis=1)
    table["Bio conservation"], table["Batch correction"] = bio, batch
    table["Total"] = 0.6 * bio + 0.4 * batch
    return table.sort_values("Total", ascending=False).round(4)


def _bars(summary: pd.DataFrame, task: str) -> bytes:
    import matplotlib.pyplot as plt

    rows = summary[(summary["task"] == task) & ~summary["control"]]
    headline = rows["params"].str.fullmatch(r"classifier=MEAN\([^)]*\)")  # not grouped_by=
    rows = rows[(rows["params"] == "") | headline]
    metrics = list(dict.fromkeys(rows["metric"]))
    labels = list(dict.fromkeys(rows["label"]))
    width = 0.8 / max(1, len(labels))
    fig, ax = plt.subplots(figsize=(max(5.0, 1.6 * len(metrics) + 2), 4))
    for i, label in enumerate(labels):
        sub = rows[rows["label"] == label].set_index("metric").reindex(metrics)
        ax.bar(np.arange(len(metrics)) + i * width, sub["mean"], width,
               yerr=pd.to_numeric(sub["std"], errors="coerce").fillna(0.0).to_numpy(),
               capsize=3, label=label)
    ax.set_xticks(np.arange(len(metrics)) + width * (len(labels) - 1) / 2)
    ax.set_xticklabels(metrics, rotation=15, ha="right", fontsize=8)
    ax.set_ylabel("score (mean ± sd over seeds)")
    ax.set_title(task)
    ax.legend(fontsize=8)
    png = plots.png_bytes(fig, dpi=110)
    plt.close(fig)
    return png


def figure_name(task: str) -> str:
    """The file name of a task's chart: the task name made safe (never a path)."""
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", str(task)).strip("._") or "task"
    return f"{safe}.png"


def _summary_figure(summary: pd.DataFrame, aggregates: pd.DataFrame) -> bytes:
    plain = summary[summary["params"] == ""]
    columns = [(t, m) for t, m in (*BIO, *BATCH) if ((plain["task"] == t) &
                                                     (plain["metric"] == m)).any()]
    labels = list(dict.fromkeys(aggregates["label"]))
    values = np.full((len(labels), len(columns) + len(AGGREGATES)), np.nan)
    for i, label in enumerate(labels):
        for j, (task, metric) in enumerate(columns):
            hit = plain[(plain["label"] == label) & (plain["task"] == task) &
                        (plain["metric"] == metric)]
            if len(hit):
                values[i, j] = hit["mean"].iloc[0]
        agg = aggregates[aggregates["label"] == label].iloc[0]
        for j, key in enumerate(AGGREGATES):
            values[i, len(columns) + j] = np.nan if agg[key] is None else agg[key]
    names = [m for _, m in columns] + ["AvgBIO", "scIB overall", "mean normalised"]
    return plots.heatmap(values, labels, names,
                         splits=[len([c for c in columns if c in BIO]), len(columns)],
                         title="bio conservation | batch correction | aggregates", dpi=110)


def _fixed(frame: pd.DataFrame) -> pd.DataFrame:
    """Numbers as text with four decimals ("" for a missing one)."""
    return frame.apply(lambda col: col.map(lambda v: "" if pd.isna(v) else f"{v:.4f}"))


def _html_task_table(summary: pd.DataFrame, task: str, text: pd.DataFrame) -> dict:
    """The task's table for the page: each cell carries its seed mean and where it is from."""
    rows = summary[summary["task"] == task]
    means = rows.pivot_table(index=["metric", "params"], columns="label", values="mean",
                             aggfunc="first", sort=False).reindex_like(text)
    return frame_table(text, f"{task}: mean ± sd over seeds (control-normalised score)",
                       values=means, cell_attrs=lambda key, label: {
                           "label": label, "task": task, "metric": key[0], "params": key[1]})


def write_report(paths: Sequence[str | Path], output: str | Path, *,
                 overwrite: bool = False, min_max: bool = False,
                 html_only: bool = False) -> list[Path]:
    """Write the report for ``paths`` into the folder ``output``; returns the files written.
    ``min_max``: scale the Benchmarker table's metrics across the embeddings (recorded in the
    report). ``html_only``: write only ``report.html`` (self-contained, figures inline)."""
    import matplotlib

    matplotlib.use("Agg")
    output = Path(output)
    summary, aggregates = load_runs(paths)
    tables = task_tables(summary)
    charts = {task: figure_name(task) for task in tables}
    if len(set(charts.values())) < len(charts):
        charts = {task: f"{i}-{name}" for i, (task, name) in enumerate(charts.items())}
    pngs = {output / "summary.png": "summary", **{output / name: task
                                                  for task, name in charts.items()}}
    targets = [output / "report.html"] if html_only else [output / "report.md",
                                                          output / "report.html", *pngs]
    existing = [t for t in targets if t.exists() and not t.is_symlink()]
    if existing and not overwrite:
        raise InputError(f"output: {existing[0]} already exists; pass --overwrite to replace "
                         f"the report")
    for target in targets:  # links (dangling too), folders, pipes: refused before any work
        check_output_path(target, overwrite=True)
    try:
        output.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError) as err:
        raise InputError(f"output: {output} is not a folder") from err
    agg_values = aggregates.set_index("label")[list(AGGREGATES)].astype(float)
    agg_table = agg_values.round(4)
    sources = ", ".join(f"`{Path(p).name}`" for p in paths)
    datasets = dataset_table(paths)
    figures = {"summary": _summary_figure(summary, aggregates),
               **{task: _bars(summary, task) for task in tables}}
    intro = (f"Results: {', '.join(Path(p).name for p in paths)}. Cells: mean ± sd over seeds "
             "(control-normalised score).")
    md = [f"# czbench report\n\nResults: {sources}. Cells: mean ± sd over seeds "
          "(control-normalised score).\n\n", markdown_table(datasets)]
    blocks = [{"table": frame_table(datasets, "Datasets of the results files")},
              {"heading": "Summary", "figure": plots.embed(
                  figures["summary"], alt="scIB-style table of the bio conservation, batch "
                  "correction and aggregate scores of each embedding (seed means)",
                  caption="Seed means on [0, 1]; the same numbers are in the tables below.")}]
    for task, table in tables.items():
        md += [f"\n## {task}\n\n![{task}]({charts[task]})\n\n", markdown_table(table), "\n"]
        blocks.append({"heading": task, "table": _html_task_table(summary, task, table),
                       "figure": plots.embed(figures[task], alt=f"Bar chart of the {task} "
                                             "metrics of each embedding, error bars sd over "
                                             "seeds")})
    md += ["\n## Aggregates\n\n![summary](summary.png)\n\n", markdown_table(agg_table), "\n"]
    blocks.append({"heading": "Aggregates", "table": frame_table(
        _fixed(agg_table), "Aggregates of each "
        "embedding", values=agg_values, cell_attrs=lambda key, column: {
            "label": key[0], "aggregate": column})})
    scib = benchmarker_table(summary, min_max=min_max)
    if scib is not None:
        how = ("min-max scaled across the embeddings shown (scib-metrics' "
               "`min_max_scale=True`)" if min_max else "raw values, not min-max scaled")
        text = (f"\n## scib-metrics Benchmarker table\n\nSeed means; {how}. Total = 0.6 x bio "
                f"conservation + 0.4 x batch correction.\n\n")
        md += [text, markdown_table(scib), "\n"]
        blocks.append({"heading": "scib-metrics Benchmarker table",
                       "text": f"Seed means; {how.replace('`', '')}. Total = 0.6 x bio "
                               "conservation + 0.4 x batch correction.",
                       "table": frame_table(_fixed(scib),
                                            "scib-metrics Benchmarker table", values=scib)})
    html = render_report(title="czbench report", intro=intro, blocks=blocks)
    if not html_only:
        atomic_write_text(output / "report.md", "".join(md))
    atomic_write_text(output / "report.html", html)
    if not html_only:
        for path, figure in pngs.items():
            atomic_write_bytes(path, figures[figure])
    return targets
