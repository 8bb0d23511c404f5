"""Results for other tools: the Virtual Cells Platform layout and MLflow tracking.

* :mod:`.vcp` -- :func:`~czbench.export.vcp.to_vcp`, :func:`~czbench.export.vcp.write_vcp`
  (``czbench export --format vcp RESULTS.json``).
* :mod:`.tracking` -- :func:`~czbench.export.tracking.log_to_mlflow`, one MLflow run per
  results document (``czbench run ... --mlflow-tracking-uri URI``).

A front door: it reads finished results documents and imports only the run layer and the
shared helpers; only the command line imports it. This module stays light (the parser of
``czbench export``); the work is imported when a command runs.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from rich.console import Console

from czbench.errors import InputError

#: export formats: name -> what it writes
FORMATS = {"vcp": "the Virtual Cells Platform results layout (model_metrics, baseline_metrics)"}


def add_parser(sub: Any) -> argparse.ArgumentParser:
    """Add the ``export`` subcommand to ``sub`` (the parser's subparsers)."""
    parser = sub.add_parser("export", help="write a results file in another tool's layout "
                            "(vcp: the Virtual Cells Platform)")
    parser.add_argument("results", type=Path, help="a czbench results JSON file")
    parser.add_argument("--format", required=True, metavar="FORMAT",
                        help="the layout to write: " + "; ".join(
                            f"{name}: {what}" for name, what in FORMATS.items()))
    parser.add_argument("--output", type=Path, help="the file to write (default: "
                        "<stem>.<format>.json beside the results file)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing output")
    return parser


def run(args: argparse.Namespace, console: Console) -> Path:
    """``czbench export``: read the results file, write it in ``args.format``; bad inputs are
    one-line errors, checked before anything is written."""
    if args.format not in FORMATS:
        raise InputError(f"--format: unknown format {args.format!r}; expected one of "
                         f"{', '.join(FORMATS)}")
    from czbench.export.vcp import default_output, write_vcp
    from czbench.run.document import read_json
    from czbench.utils.checks import check_output_path

    output = args.output if args.output is not None else default_output(args.results)
    if output.expanduser().resolve() == args.results.expanduser().resolve():
        raise InputError(f"--output: {output} is the results file itself; choose another path")
    check_output_path(output, overwrite=args.overwrite)
    document = read_json(args.results)
    written = write_vcp(document, output, overwrite=args.overwrite)
    console.print(f"{args.format} export written to {written}")
    return written


__all__ = ["FORMATS", "add_parser", "run"]
