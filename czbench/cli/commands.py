"""What each ``czbench`` subcommand does (the parser is in :mod:`czbench.cli`)."""

from __future__ import annotations

import argparse
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from czbench.cli.preflight import check_run
from czbench.cli.show import print_result
from czbench.errors import InputError


def report(args: argparse.Namespace, console: Console) -> None:
    from czbench.report import write_report

    written = write_report(args.results, args.output, overwrite=args.overwrite,
                           min_max=args.min_max, html_only=args.html)
    console.print(f"report written to {args.output}: " + ", ".join(p.name for p in written))


def list_plugins(console: Console) -> None:
    """``czbench list plugins``: every entry point found and what became of it."""
    from czbench.plugins import PLUGIN_GROUPS, list_plugins

    table = Table("group", "name", "distribution", "version", "status", "error",
                  title="Plugins (entry points in " + ", ".join(PLUGIN_GROUPS) + ")")
    reports = list_plugins()
    for r in reports:
        style = {"loaded": "green", "error": "red", "refused": "yellow",
                 "replaced": "yellow"}.get(r.status, "")
        table.add_row(r.group, r.name, r.distribution, r.version or "-",
                      f"[{style}]{r.status}[/{style}]", escape(r.error) or "-")
    console.print(table if reports else "no plugins installed (see docs/contributing.md)")


def list_assets(what: str, console: Console) -> None:
    """``czbench list datasets|tasks|metrics|baselines|modalities|models|plugins``; the
    origin column says built-in, or which plugin distribution (and version) ships it."""
    if what == "plugins":
        return list_plugins(console)
    if what == "datasets":
        import czbench.datasets as ds
        from czbench.datasets.registry import REGISTRY

        table = Table("name", "modality", "rows", "features", "columns", "embeddings",
                      "licence", "origin", title="Registered datasets (provenance: czbench/"
                                                 "datasets/data/NAME.md)")
        table.columns[0].overflow = "fold"  # names are typed back: never cut them
        for name in ds.list():
            info = ds.info(name)
            table.add_row(name, info.modality, f"{info.n_cells} {info.rows}s",
                          str(info.n_genes), ", ".join(info.columns),
                          ", ".join(info.embeddings) or "-", info.licence,
                          escape(REGISTRY.origin(name).label()))
    elif what == "modalities":
        from czbench.datasets.modalities import get_modality, list_modalities

        table = Table("modality", "a row is", "a column is", "counts", "default tasks",
                      "default baselines", "description", title="Modalities")
        for name in list_modalities():
            m = get_modality(name)
            table.add_row(name, m.row_unit, m.feature_unit, "yes" if m.counts else "no",
                          ", ".join(m.tasks), ", ".join(f"baseline:{b}" for b in m.baselines),
                          m.description)
    elif what == "models":
        from czbench.models import list_models
        from czbench.models.registry import REGISTRY, model_factory

        table = Table("model", "needs", "seeded", "description", "origin",
                      title="Models (also mlflow:PATH_OR_URI packages)")
        for name in list_models():
            origin = escape(REGISTRY.origin(name).label())
            try:
                cls = model_factory(name)
            except ImportError:  # a registered model whose module cannot be imported
                table.add_row(name, "-", "-", "(cannot be imported)", origin)
                continue
            extra = getattr(cls, "extra", None)
            table.add_row(name, escape(f"czbench[{extra}]") if extra else "-",
                          "yes" if getattr(cls, "seeded", True) else "no",
                          getattr(cls, "description", ""), origin)
    elif what == "baselines":
        from czbench.baselines import REGISTRY
        from czbench.run.inputs import all_baselines

        table = Table("baseline", "kind", "from", "description", "origin", title="Baselines")
        for name, (baseline, where) in all_baselines().items():
            needs = " (needs raw counts)" if baseline.needs_counts else ""
            origin = REGISTRY.origin(name).label() if name in REGISTRY else "-"
            table.add_row(f"baseline:{name}", baseline.kind, where,
                          baseline.description + needs, escape(origin))
    else:
        from czbench.metrics.registry import REGISTRY as METRICS
        from czbench.tasks import list_tasks, task_class
        from czbench.tasks.registry import REGISTRY as TASKS

        if what == "tasks":
            table = Table("task", "scores", "needs obs columns", "metrics", "description",
                          "origin", title="Registered tasks")
            for name in list_tasks():
                task = task_class(name)()
                table.add_row(name, task.input_kind, ", ".join(task.required_columns),
                              ", ".join(m.name for m in type(task).metrics), task.description,
                              escape(TASKS.origin(name).label()))
        else:
            table = Table("task", "metric", "higher is better", "description", "origin",
                          title="Metrics (definitions: docs/spec.md; task '-': registered "
                                "metric functions, czbench.metrics.compute)")
            reported = set()
            for name in list_tasks():  # a task's number comes from the task's code
                for spec in task_class(name).metrics:
                    reported.add(spec.name)
                    table.add_row(name, spec.name, "yes" if spec.higher_is_better else "no",
                                  spec.description, escape(TASKS.origin(name).label()))
            for name in METRICS.names():
                if name not in reported:
                    info = METRICS.get(name)
                    table.add_row("-", name, "yes" if info.higher_is_better else "no",
                                  info.description, escape(METRICS.origin(name).label()))
    console.print(table)


def sequence_datasets(datasets: list[str], args: argparse.Namespace
                      ) -> tuple[list[Any], dict[str, Any]]:
    """Sequence files (FASTA / CSV / TSV) and ``--sequence-key`` data are read here, with
    their sequence and label columns (:func:`czbench.datasets.load`); the rest is the run's."""
    from czbench.cli.preflight import is_sequence_path

    keys = {"label_key": args.label_key, "modality": args.modality}
    chosen = [d for d in datasets if is_sequence_path(d) or getattr(args, "sequence_key", None)]
    if not chosen:
        return datasets, keys
    if len(chosen) != len(datasets):
        raise InputError("dataset: sequence files (or --sequence-key) cannot be mixed with "
                         "other datasets in one run")
    import czbench.datasets as ds

    loaded = [ds.load(d, label_key=args.label_key, sequence_key=args.sequence_key,
                      modality=args.modality or (None if is_sequence_path(d) or d in
                                                 ds.list() else "sequence"))
              for d in datasets]
    return loaded, {}


def run(args: argparse.Namespace, console: Console) -> None:
    """``czbench run``: check everything, run the grid, write one results file per dataset."""
    request = check_run(args)  # no heavy import yet: a mistyped command fails at once
    allow = getattr(args, "allow_missing_genes", None)
    if allow is not None:  # the option of every mlflow: model
        from czbench.models import get_model

        if not request.embeddings or not any(s.startswith("mlflow:")
                                             for s in request.embeddings.values()):
            raise InputError("--allow-missing-genes: applies to --model mlflow:URI packages; "
                             "none given")
        request.embeddings.update({
            name: get_model(spec, allow_missing_genes=allow)
            for name, spec in request.embeddings.items()
            if isinstance(spec, str) and spec.startswith("mlflow:")})
    from czbench.export.tracking import after_run, before_run

    before_run(args)  # an MLflow store that cannot be written fails before any work
    from czbench.run import RunConfig, run_config

    with Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(),
                  MofNCompleteColumn(), TimeElapsedColumn(), console=console,
                  disable=args.quiet, transient=True) as progress:
        bar = progress.add_task("loading", total=None)

        def on_step(label: str, step: int, total: int) -> None:
            progress.update(bar, description=label, completed=step - 1, total=total)

        datasets, keys = sequence_datasets(request.datasets, args)
        config = RunConfig.from_kwargs(
            datasets, request.embeddings, request.tasks,
            predictions=request.predictions, seeds=request.seeds, controls=args.controls,
            batch_key=args.batch_key, task_options=request.options,
            knn_backend=args.knn_backend, device=args.device, backed=args.backed,
            scheduler=args.scheduler, n_workers=args.workers, run_dir=args.run_dir,
            resume=args.resume, use_cache=not args.no_cache, spatial_key=args.spatial_key, **keys)
        results = run_config(config, on_step=on_step)
    for result, output in zip(results, request.outputs, strict=True):
        result.write_json(output, overwrite=args.overwrite)
        print_result(result.document, console)
        console.print(f"results written to {output}")
        after_run(args, result.document, console)
