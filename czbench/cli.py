"""The ``czbench`` command line: ``czbench list ...`` and ``czbench run ...``."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from czbench import __version__
from czbench.errors import CZBenchError

DEFAULT_DATASET = "pbmc_3chemistries_symphony"


def _csv(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="czbench", description="Reproducible benchmarks for single-cell embeddings.")
    parser.add_argument("--version", action="version", version=f"czbench {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    lister = sub.add_parser("list", help="list datasets, tasks or metrics")
    lister.add_argument("what", choices=["datasets", "tasks", "metrics"])

    run = sub.add_parser("run", help="benchmark embeddings of a dataset on tasks")
    run.add_argument("--dataset", action="append", type=_csv, default=None, metavar="NAME",
                     help=f"registered name or .h5ad path; repeat or comma-separate for a grid "
                     f"over several (default: {DEFAULT_DATASET})")
    run.add_argument("--embedding", action="append", type=_csv, default=None,
                     metavar="SPEC", help="obsm:KEY | FILE.npy | baseline:pca | baseline:raw; "
                     "repeat or comma-separate for several (default: the PCA baseline and the "
                     "dataset's shipped embeddings)")
    run.add_argument("--task", type=_csv, default=None, metavar="T1,T2",
                     help="tasks to run (default: the core tasks the dataset has columns for)")
    run.add_argument("--label-key", help="obs column holding cell types")
    run.add_argument("--batch-key", help="obs column holding batches")
    run.add_argument("--seed", type=int, default=42, help="seed of every random choice")
    run.add_argument("--seeds", type=_csv, metavar="S1,S2,...",
                     help="run every task once per seed; report mean, sd and raw values")
    run.add_argument("--controls", action="store_true",
                     help="also score control embeddings and report control-normalised scores")
    run.add_argument("--option", action="append", default=[], metavar="TASK.KEY=VALUE",
                     help="a task option, e.g. label_prediction.max_cells=100000 (VALUE is "
                     "read as JSON, else as a string); repeat for several")
    run.add_argument("--knn-backend", default="auto", choices=["auto", "exact", "faiss-ivf"],
                     help="kNN search: exact torch up to 100k cells on CPU, faiss IVF above "
                     "(auto), or forced")
    run.add_argument("--backed", action="store_true",
                     help="open .h5ad datasets with X left on disk (for files larger than "
                     "memory; embeddings come from obsm or files)")
    run.add_argument("--scheduler", metavar="local|ADDRESS",
                     help="run the grid's cells on Dask: 'local' starts a LocalCluster, an "
                     "address (tcp://host:8786) joins a running scheduler")
    run.add_argument("--workers", type=int, default=2,
                     help="worker processes of --scheduler local (default 2)")
    run.add_argument("--run-dir", type=Path,
                     help="folder where each finished (task, seed, embedding) result is saved "
                     "at once, so an interrupted run can --resume")
    run.add_argument("--resume", action="store_true",
                     help="continue the run in --run-dir, skipping finished results")
    run.add_argument("--output", type=Path,
                     help="results JSON path (default: results/<dataset>.json); with several "
                     "datasets, a folder that gets one <dataset>.json each")
    run.add_argument("--overwrite", action="store_true", help="replace an existing output")
    run.add_argument("--quiet", action="store_true", help="no progress display")

    report = sub.add_parser("report", help="compare results files: tables and plots")
    report.add_argument("results", nargs="+", type=Path, help="results JSON files")
    report.add_argument("--output", type=Path, default=Path("report"),
                        help="folder for report.md, report.html and PNG plots (default: report)")
    report.add_argument("--overwrite", action="store_true", help="replace an existing report")
    return parser


def _report(args: argparse.Namespace, console: Console) -> None:
    from czbench.report import write_report

    written = write_report(args.results, args.output, overwrite=args.overwrite)
    console.print(f"report written to {args.output}: " + ", ".join(p.name for p in written))


def _list(what: str, console: Console) -> None:
    if what == "datasets":
        import czbench.datasets as ds

        table = Table("name", "cells", "genes", "columns", "embeddings", "licence",
                      title="Registered datasets")
        for name in ds.list():
            info = ds.info(name)
            table.add_row(name, str(info.n_cells), str(info.n_genes),
                          ", ".join(info.columns), ", ".join(info.embeddings) or "-",
                          info.licence)
    else:
        from czbench.tasks import get_task, list_tasks

        if what == "tasks":
            table = Table("task", "needs obs columns", "metrics", "description",
                          title="Registered tasks")
            for name in list_tasks():
                task = get_task(name)
                table.add_row(name, ", ".join(task.required_columns),
                              ", ".join(m.name for m in task.metrics), task.description)
        else:
            table = Table("task", "metric", "higher is better", "description",
                          title="Metrics")
            for name in list_tasks():
                for spec in get_task(name).metrics:
                    table.add_row(name, spec.name, "yes" if spec.higher_is_better else "no",
                                  spec.description)
    console.print(table)


def parse_options(items: Sequence[str]) -> dict[str, dict[str, object]]:
    """{task: {key: value}} from ``TASK.KEY=VALUE`` strings (VALUE parsed as JSON if it can
    be, e.g. 100000, true, [\"lr\"]; else kept as a string)."""
    options: dict[str, dict[str, object]] = {}
    for item in items:
        target, sep, raw = item.partition("=")
        task, dot, key = target.partition(".")
        if not sep or not dot or not task or not key:
            raise CZBenchError(f"option: expected TASK.KEY=VALUE, got {item!r}")
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            value = raw
        options.setdefault(task, {})[key.replace("-", "_")] = value
    return options


def _outputs(args: argparse.Namespace, datasets: list[str]) -> list[Path]:
    stems = [Path(str(d)).stem for d in datasets]
    if len(stems) != len(set(stems)):
        raise CZBenchError(f"dataset: names must differ, got {', '.join(datasets)}")
    if len(datasets) == 1:
        return [args.output or Path("results") / f"{stems[0]}.json"]
    folder = args.output or Path("results")
    if folder.suffix == ".json" or folder.is_file():
        raise CZBenchError(f"output: with several datasets --output must be a folder, got "
                           f"{folder}")
    return [folder / f"{stem}.json" for stem in stems]


def _run(args: argparse.Namespace, console: Console) -> None:
    from czbench.runner import benchmark_grid

    datasets = [d for group in args.dataset for d in group] if args.dataset \
        else [DEFAULT_DATASET]
    outputs = _outputs(args, datasets)
    for output in outputs:
        if output.exists() and not args.overwrite:
            raise CZBenchError(f"output: {output} already exists; pass --overwrite to replace "
                               f"it")
    if args.resume and args.run_dir is None:
        raise CZBenchError("resume: --resume needs --run-dir, the folder of the run to continue")
    embeddings = [e for group in args.embedding for e in group] if args.embedding else None
    try:
        seeds = [int(s) for s in args.seeds] if args.seeds else [args.seed]
    except ValueError as err:
        raise CZBenchError(f"seeds: expected integers like 0,1,2, got {args.seeds}") from err
    if args.workers < 1:
        raise CZBenchError(f"workers: expected at least 1, got {args.workers}")
    with Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(),
                  MofNCompleteColumn(), TimeElapsedColumn(), console=console,
                  disable=args.quiet, transient=True) as progress:
        bar = progress.add_task("loading", total=None)

        def on_step(label: str, step: int, total: int) -> None:
            progress.update(bar, description=label, completed=step - 1, total=total)

        results = benchmark_grid(
            datasets, embeddings, args.task, seeds=seeds, controls=args.controls,
            label_key=args.label_key, batch_key=args.batch_key,
            task_options=parse_options(args.option), on_step=on_step,
            knn_backend=args.knn_backend, backed=args.backed, scheduler=args.scheduler,
            n_workers=args.workers, run_dir=args.run_dir, resume=args.resume)
    for result, output in zip(results, outputs, strict=True):
        result.write_json(output, overwrite=args.overwrite)
        print_result(result.document, console)
        console.print(f"results written to {output}")


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
            params = ", ".join(f"{k}={v}" for k, v in sorted(row["params"].items()))
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


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    console = Console(width=None if sys.stdout.isatty() else 160)
    try:
        if args.command == "list":
            _list(args.what, console)
        elif args.command == "report":
            _report(args, console)
        else:
            _run(args, console)
    except CZBenchError as err:
        Console(stderr=True).print(f"[bold red]error:[/bold red] {err}", highlight=False,
                                   soft_wrap=True)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
