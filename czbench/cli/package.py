"""``czbench package-model``: a LightningModule checkpoint -> an MLflow package.

    czbench package-model runs/ae/checkpoints/epoch=7.ckpt --module-class mypkg.model:AE \\
        --dataset pbmc_3chemistries_symphony --normalize --output runs/ae/model

The package (:func:`czbench.packaging.package_model`) is then scored with
``czbench run --model mlflow:runs/ae/model``.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from rich.console import Console

from czbench.errors import InputError


def add_parser(sub: Any) -> argparse.ArgumentParser:
    """Add the ``package-model`` subcommand to ``sub`` (the parser's subparsers)."""
    parser = sub.add_parser(
        "package-model", help="package a LightningModule checkpoint with embed(batch) as an "
        "MLflow model (score it with --model mlflow:DIR)")
    parser.add_argument("checkpoint", type=Path, help="the Lightning checkpoint (.ckpt)")
    parser.add_argument("--module-class", required=True, metavar="PKG.MODULE:CLASS",
                        help="the LightningModule class of the checkpoint, with an "
                        "embed(batch) method: pkg.module:Class or path/to/file.py:Class")
    parser.add_argument("--dataset", required=True, metavar="NAME_OR_H5AD",
                        help="the data the model was trained on (registered name or .h5ad): "
                        "its genes, in order, are the model's input columns")
    parser.add_argument("--normalize", action="store_true",
                        help="the model reads normalised counts (scaled to the dataset's median "
                        "library size, then log1p), as AnnDataModule(normalize=True)")
    parser.add_argument("--batch-size", type=int, default=256,
                        help="cells per batch at inference (default 256)")
    parser.add_argument("--output", type=Path, required=True, help="the package folder")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace an existing package at --output")
    return parser


def run(args: argparse.Namespace, console: Console) -> Path:
    """Make the package ``args`` describe; bad inputs are one-line errors."""
    if not args.checkpoint.expanduser().is_file():
        raise InputError(f"checkpoint: '{args.checkpoint}' does not exist")
    if args.batch_size < 1:
        raise InputError(f"--batch-size: expected a positive integer, got {args.batch_size}")
    if args.output.expanduser().exists() and not args.overwrite:
        raise InputError(f"--output: '{args.output}' exists; pass --overwrite to replace it")
    from czbench.packaging import package_model, resolve_class

    cls = resolve_class(args.module_class)
    from czbench.datamodules import AnnDataModule

    datamodule = AnnDataModule(args.dataset, normalize=args.normalize,
                               batch_size=args.batch_size)
    output = package_model(args.checkpoint, cls, args.output, datamodule=datamodule,
                           overwrite=args.overwrite)
    size = sum(p.stat().st_size for p in output.rglob("*") if p.is_file())
    console.print(f"packaged {args.checkpoint} ({cls.__qualname__}) -> {output} "
                  f"({size / 1e6:.1f} MB); score it with: czbench run --model mlflow:{output}",
                  highlight=False, soft_wrap=True)
    return output
