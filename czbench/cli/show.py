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


def equal_to_controls(doc: dict) -> dict[str, str]:
    """{input: control} for inputs whose values equal a control's at every seed (e.g.
    ``baseline:pca`` and ``control:pca``, both the unintegrated PCA)."""
    hashes: dict[str, list] = {}
    for entry in doc["embeddings"]:
        hashes.setdefault(entry["source"], []).append(entry.get("sha256"))
    controls = {k: v for k, v in hashes.items() if k.startswith("control:")}
    return {name: control for name, values in hashes.items() if not name.startswith("control:")
            for control, c_values in controls.items() if values == c_values}


#: a (task, metric, param names) group with more rows than this per input is only counted
MAX_SHOWN_ROWS = 12


def _per_item_rows(summary: list[dict]) -> dict[tuple, int]:
    """{(task, metric, param names): rows per input} for groups too long for the table (e.g.
    one mAP per perturbation)."""
    counts: dict[tuple, set] = {}
    for row in summary:
        if row["params"]:
            key = (row["task"], row["metric"], frozenset(row["params"]))
            counts.setdefault(key, set()).add(format_params(row["params"]))
    return {k: len(v) for k, v in counts.items() if len(v) > MAX_SHOWN_ROWS}


def print_result(doc: dict, console: Console) -> None:
    """The results table (non-control embeddings) and, with controls, the aggregates."""
    shown = [e["source"] for e in doc["embeddings"] if e["role"] != "control"]
    shown = list(dict.fromkeys(shown)) or list(dict.fromkeys(e["source"]
                                                            for e in doc["embeddings"]))
    cells: dict[tuple, dict[str, str]] = {}
    many = _per_item_rows(doc["summary"])
    for row in doc["summary"]:
        if row["embedding"] in shown and (row["task"], row["metric"],
                                          frozenset(row["params"])) not in many:
            params = format_params(row["params"])
            cells.setdefault((row["task"], row["metric"], params), {})[row["embedding"]] = \
                format_value(row)
    seeds = ",".join(map(str, doc["seeds"]))
    several = len(doc["seeds"]) > 1
    caption = [f"mean ± sd over {len(doc['seeds'])} seeds" if several else "one seed"]
    if doc.get("controls"):
        caption.append("\\[control-normalised: 0 = worst control, 1 = best]")
    table = Table("task", "metric", "params", *shown,
                  title=f"czbench {doc['czbench_version']} · {doc['dataset']['name']} · "
                        f"{doc['dataset']['n_cells']} {doc['dataset'].get('row_unit', 'cell')}s"
                        f" · seed{'s' if several else ''} "
                        f"{seeds}", caption=" ".join(caption))
    for (task, metric, params), values in cells.items():
        table.add_row(task, metric, params, *(values.get(e, "-") for e in shown))
    console.print(table)
    for (task, metric, keys), count in many.items():
        console.print(f"[dim]{task}/{metric}: {count} rows per {', '.join(sorted(keys))} are "
                      f"in the results file (not shown)[/dim]")
    for name, control in equal_to_controls(doc).items():
        console.print(f"[dim]{name} has the same values as {control} (a control), so its "
                      f"normalised scores sit at that control's end of the scale "
                      f"by construction[/dim]")
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

