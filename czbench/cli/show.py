"""The tables ``czbench run`` prints."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from czbench.utils.params import format_params


def format_value(row: dict) -> str:
    """``mean ± sd [normalised]`` for one summary row."""
    text = f"{row['mean']:.4f}"
    if row["std"] is not None:
        text += f" ± {row['std']:.4f}"
    if row["normalized"] is not None:
        text += f" [{row['normalized']:.2f}]"
    return text


def print_result(doc: dict, console: Console) -> None:
    """The results table (non-control embeddings) and, with controls, the aggregates."""
    shown = [e["source"] for e in doc["embeddings"] if e["role"] != "control"]
    shown = list(dict.fromkeys(shown)) or list(dict.fromkeys(e["source"]
                                                            for e in doc["embeddings"]))
    cells: dict[tuple, dict[str, str]] = {}
    for row in doc["summary"]:
        if row["embedding"] in shown:
            params = format_params(row["params"])
            cells.setdefault((row["task"], row["metric"], params), {})[row["embedding"]] = \
                format_value(row)
    seeds = ",".join(map(str, doc["seeds"]))
    table = Table("task", "metric", "params", *shown,
                  title=f"czbench {doc['czbench_version']} · {doc['dataset']['name']} · "
                        f"{doc['dataset']['n_cells']} cells · seeds {seeds}",
                  caption="mean ± sd over seeds \\[control-normalised score]"
                  if doc.get("controls") else None)
    for (task, metric, params), values in cells.items():
        table.add_row(task, metric, params, *(values.get(e, "-") for e in shown))
    console.print(table)
    if doc.get("controls"):
        agg = Table("embedding", "AvgBIO", "scIB overall", "mean normalised",
                    title="Aggregates (controls included for reference)")
        for row in doc["aggregates"]:
            agg.add_row(row["embedding"], *("-" if row[k] is None else f"{row[k]:.4f}"
                                            for k in ("avg_bio", "scib_overall",
                                                      "mean_normalized")))
        console.print(agg)
    totals: dict[str, float] = {}
    for entry in doc["embeddings"]:
        totals[entry["source"]] = totals.get(entry["source"], 0.0) + \
            sum(entry["timings_s"].values())
    console.print("[dim]wall time: " + ", ".join(f"{k} {v:.1f}s" for k, v in totals.items())
                  + "[/dim]")

