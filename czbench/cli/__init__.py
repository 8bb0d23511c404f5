"""The ``czbench`` command line: ``czbench list ...``, ``czbench run ...``, ``czbench report``.

Also ``python -m czbench``. Every bad input is a one-line error and exit status 2.
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path

from rich.console import Console
from rich.markup import escape

from czbench import __version__
from czbench import export as export_cli
from czbench.cli import package as package_cli
from czbench.cli import serve as serve_cli
from czbench.cli.commands import list_assets, report, run
from czbench.cli.preflight import DEFAULT_DATASET
from czbench.datasets.modalities import list_modalities
from czbench.errors import CZBenchError, CZBenchWarning
from czbench.export import tracking as tracking_cli

LISTS = ("datasets", "tasks", "metrics", "baselines", "modalities", "models", "plugins")


def _csv(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


class Parser(argparse.ArgumentParser):
    """argparse with a one-line error (and the hint to ``--help``) and exit status 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"error: {message} (see '{self.prog} --help')\n")


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="czbench", description="Reproducible benchmarks for single-cell embeddings.")
    parser.add_argument("--version", action="version", version=f"czbench {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)

    lister = sub.add_parser("list", help="list datasets, tasks, metrics, baselines, "
                                         "modalities, models or plugins")
    lister.add_argument("what", choices=LISTS)

    run = sub.add_parser("run", help="benchmark embeddings of a dataset on tasks")
    run.add_argument("--dataset", action="append", type=_csv, default=None, metavar="NAME",
                     help=f"registered name or .h5ad path; repeat or comma-separate for a grid "
                     f"over several (default: {DEFAULT_DATASET})")
    run.add_argument("--embedding", action="append", type=_csv, default=None,
                     metavar="[NAME=]SPEC", help="obsm:KEY | FILE.npy | baseline:NAME, "
                     "optionally named (scvi=obsm:X_scVI); repeat or comma-separate for several "
                     "(default: the PCA baseline and the dataset's shipped embeddings)")
    run.add_argument("--model", action="append", default=None, metavar="NAME|mlflow:URI",
                     help="a model czbench runs to get an embedding: a registered name "
                     "(harmony, scvi, scanorama, combat; czbench list models) or an MLflow "
                     "package (mlflow:PATH_OR_URI); repeatable, mixed freely with --embedding")
    run.add_argument("--allow-missing-genes", type=float, default=None, metavar="FRACTION",
                     help="share of an MLflow package's training genes the dataset may lack "
                     "(zero-filled; recorded in the results file) before it is an error "
                     "(default 0.1)")
    run.add_argument("--no-cache", action="store_true",
                     help="recompute model outputs instead of reading the cache "
                     "($CZBENCH_CACHE)")
    run.add_argument("--prediction", action="append", type=_csv, default=None,
                     metavar="[NAME=]FILE", help="an expression prediction (FILE.h5ad with "
                     "cell and gene names, or FILE.npy of the dataset's shape) for tasks that "
                     "score expression, e.g. perturbation_expression_prediction; repeatable")
    run.add_argument("--task", action="append", type=_csv, default=None, metavar="T1,T2",
                     help="tasks to run; repeat or comma-separate (default: the core tasks and "
                     "the dataset's registered ones, where its columns allow)")
    run.add_argument("--label-key", help="obs column holding cell types (sequence files: "
                     "the label column, or the FASTA header's KEY=VALUE key; default label)")
    run.add_argument("--sequence-key", help="column of the DNA sequences in a CSV / TSV / "
                     ".h5ad of the sequence modality (default: sequence)")
    run.add_argument("--modality", choices=list_modalities(),
                     help="what the rows of your .h5ad measure (default transcriptomics; "
                     "morphology: image-based profiles); picks the default tasks and "
                     "baselines. Registered datasets declare their own")
    run.add_argument("--batch-key", help="obs column holding batches")
    run.add_argument("--spatial-key", help="obsm key of your .h5ad's 2-D cell coordinates "
                     "(default 'spatial' with --modality spatial; giving it implies spatial)")
    run.add_argument("--seed", type=int, default=None, help="seed of every random choice "
                     "(default 42)")
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
    run.add_argument("--device", help="torch device of the metrics, e.g. cpu or cuda "
                     "(default: CUDA when available, else CPU)")
    run.add_argument("--backed", action="store_true",
                     help="open .h5ad datasets with X left on disk (for files larger than "
                     "memory; embeddings come from obsm or files)")
    run.add_argument("--scheduler", metavar="local|ADDRESS",
                     help="run the grid's cells on Dask: 'local' starts a LocalCluster, an "
                     "address (tcp://host:8786) joins a running scheduler")
    run.add_argument("--workers", type=int, default=2,
                     help="worker processes of --scheduler local (default 2)")
    run.add_argument("--run-dir", type=Path,
                     help="folder where each finished (task, seed, input) result is saved "
                     "at once, so an interrupted run can --resume")
    run.add_argument("--resume", action="store_true",
                     help="continue the run in --run-dir, skipping finished results")
    run.add_argument("--output", type=Path,
                     help="results JSON path (default: results/<dataset>.json); with several "
                     "datasets, a folder that gets one <dataset>.json each")
    run.add_argument("--overwrite", action="store_true", help="replace an existing output")
    run.add_argument("--quiet", action="store_true", help="no progress display")
    tracking_cli.add_run_arguments(run)

    report = sub.add_parser("report", help="compare results files: tables and plots")
    report.add_argument("results", nargs="+", type=Path, help="results JSON files")
    report.add_argument("--output", type=Path, default=Path("report"),
                        help="folder for report.md, report.html and PNG plots (default: report)")
    report.add_argument("--overwrite", action="store_true", help="replace an existing report")
    report.add_argument("--html", action="store_true",
                        help="write only report.html: one self-contained page (figures inline) "
                        "that opens from a file without a server")
    report.add_argument("--min-max", action="store_true",
                        help="min-max scale the scib-metrics Benchmarker table across the "
                        "embeddings (scib-metrics' min_max_scale); recorded in the report")
    package_cli.add_parser(sub)
    export_cli.add_parser(sub)
    serve_cli.add_parsers(sub)
    return parser


def _one_line_warning(message: Warning | str, category: type[Warning], filename: str,
                      lineno: int, file: object = None, line: str | None = None) -> None:
    text = " ".join(str(message).split())
    print(f"warning: {text}", file=sys.stderr)


def tolerant_streams() -> None:
    """Let stdout and stderr that cannot encode czbench's symbols (``LANG=C``,
    ``PYTHONIOENCODING=ascii``, some pipes) write ``?`` for them instead of failing."""
    for stream in (sys.stdout, sys.stderr):
        try:
            "±·…─━✓".encode(getattr(stream, "encoding", None) or "ascii")
        except (UnicodeEncodeError, LookupError):
            if hasattr(stream, "reconfigure"):
                stream.reconfigure(errors="replace")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status (0; 2 for a bad input; 130 when
    interrupted by Ctrl-C). Errors and warnings are one line each, never a traceback."""
    tolerant_streams()
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as done:  # --help, --version, or a usage error (one line, status 2)
        return int(done.code or 0)
    # piped output is 160 columns wide unless COLUMNS says otherwise
    console = Console(width=None if sys.stdout.isatty() or os.environ.get("COLUMNS") else 160)
    with warnings.catch_warnings():
        warnings.showwarning = _one_line_warning
        warnings.filterwarnings("once", category=CZBenchWarning)
        return _dispatch(args, console)


def _dispatch(args: argparse.Namespace, console: Console) -> int:
    try:
        if args.command == "list":
            list_assets(args.what, console)
        elif args.command == "report":
            report(args, console)
        elif args.command == "package-model":
            package_cli.run(args, console)
        elif args.command == "export":
            export_cli.run(args, console)
        elif args.command in serve_cli.COMMANDS:
            serve_cli.run(args, console)
        else:
            run(args, console)
    except CZBenchError as err:
        Console(stderr=True).print(f"[bold red]error:[/bold red] {escape(str(err))}",
                                   highlight=False, soft_wrap=True)
        return 2
    except (MemoryError, OSError) as err:  # the machine, not the input: still one line
        Console(stderr=True).print(f"[bold red]error:[/bold red] {type(err).__name__}: "
                                   f"{escape(str(err))}", highlight=False, soft_wrap=True)
        return 1
    except KeyboardInterrupt:
        where = f"; finished results are kept in {args.run_dir} (add --resume)" \
            if getattr(args, "run_dir", None) else ""
        print(f"interrupted: no results file was written{where}", file=sys.stderr)
        return 130
    return 0


__all__ = ["DEFAULT_DATASET", "build_parser", "main"]
