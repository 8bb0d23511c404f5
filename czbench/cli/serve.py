"""``czbench serve [init|worker]``, ``czbench challenge create|close|list``, ``czbench team
add`` and ``czbench submit`` (docs/serve.md)."""

from __future__ import annotations

import argparse
import os
from datetime import datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from czbench.errors import InputError

DEFAULT_DATA = Path("czbench-serve")
COMMANDS = ("serve", "challenge", "team", "submit")


def _csv(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


def _default_db(data: Path) -> str:
    return os.environ.get("CZBENCH_SERVE_DB") or f"sqlite:///{(data / 'serve.db').resolve()}"


def _where(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--db", help="database URL: sqlite:///FILE (default: "
                        "$CZBENCH_SERVE_DB, else czbench-serve/serve.db) or "
                        "postgresql+psycopg://USER@HOST/DB for several workers")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA,
                        help="server folder for challenge data and uploads "
                        "(default: czbench-serve)")


def add_parsers(sub: Any) -> None:
    """Add the server's subcommands to the ``czbench`` parser."""
    serve = sub.add_parser("serve", help="run a held-out benchmark server (init, worker, or "
                                         "the web server; --demo for a ready one)")
    serve.add_argument("action", nargs="?", choices=["init", "worker"],
                       help="init: create or migrate the database and print an admin token; "
                       "worker: score queued submissions; none: the web server")
    _where(serve)
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--max-upload", type=int, default=None, metavar="BYTES",
                       help="upload size limit (default 64 MiB; larger is refused with 413)")
    serve.add_argument("--demo", action="store_true",
                       help="SQLite in --data (default: a new temporary folder), one challenge "
                       "on pbmc_3chemistries_symphony with its reference rows, a worker")
    serve.add_argument("--lease", type=float, default=60.0,
                       help="worker: seconds a claimed job is held before re-queueing")
    serve.add_argument("--package-seconds", type=float, default=300.0,
                       help="worker: wall-time limit of an MLflow package run")
    serve.add_argument("--package-memory", type=int, default=8 << 30, metavar="BYTES",
                       help="worker: address-space limit of an MLflow package run")
    serve.add_argument("--scheduler", default=None, metavar="ADDRESS",
                       help="worker: hand the scoring to this Dask scheduler (tcp://HOST:PORT, "
                       "or 'local' for a local cluster); default: score in the worker")
    serve.add_argument("--allow-network", action="store_true",
                       help="worker: run MLflow packages even where 'unshare --net' is not "
                       "available (refused by default)")

    challenge = sub.add_parser("challenge", help="create, close or list challenges")
    challenge.add_argument("action", choices=["create", "close", "list"])
    challenge.add_argument("id", nargs="?", help="challenge id (close)")
    _where(challenge)
    challenge.add_argument("--dataset", help="registered name or .h5ad path")
    challenge.add_argument("--tasks", type=_csv, help="tasks to score, comma-separated")
    challenge.add_argument("--hold-out", type=_csv, help="obs columns never published; the "
                           "first stratifies the public/private split")
    challenge.add_argument("--seed", type=int, default=0)
    challenge.add_argument("--public-fraction", type=float, default=0.5)
    challenge.add_argument("--name")
    challenge.add_argument("--quota-per-day", type=int, default=5)
    challenge.add_argument("--quota-total", type=int, default=50)
    challenge.add_argument("--digits", type=int, default=3,
                           help="digits public scores are rounded to (default 3)")
    challenge.add_argument("--deadline", help="ISO 8601 UTC time after which submissions "
                           "are refused")
    challenge.add_argument("--max-cells", type=int, help="keep a stratified subsample")
    challenge.add_argument("--no-mlflow", action="store_true",
                           help="take embeddings only, no MLflow packages")

    team = sub.add_parser("team", help="add a team (its token is printed once)")
    team.add_argument("action", choices=["add"])
    team.add_argument("name")
    _where(team)

    submit = sub.add_parser("submit", help="submit an embedding or an MLflow package to a "
                                           "czbench server and print its public scores")
    submit.add_argument("file", type=Path, help=".npy, .h5ad or an MLflow package folder")
    submit.add_argument("--server", required=True, help="server URL, e.g. http://HOST:8000")
    submit.add_argument("--challenge", required=True)
    submit.add_argument("--token", default=os.environ.get("CZBENCH_TOKEN"),
                        help="team token (default: $CZBENCH_TOKEN)")
    submit.add_argument("--name", default="submission", help="name on the board")
    submit.add_argument("--no-wait", action="store_true",
                        help="print the submission id without waiting for its score")


def run(args: argparse.Namespace, console: Console) -> None:
    """Run one of the server's commands."""
    if args.command == "submit":
        return _submit(args, console)
    from czbench.serve import admin, demo
    from czbench.serve.migrate import make_engine, sessions, upgrade

    if args.command == "serve" and args.demo:
        ready = demo.prepare(args.data if args.data != DEFAULT_DATA else None)
        console.print(f"demo challenge [bold]{ready['challenge']}[/bold] in {ready['data']}")
        if ready["team_token"]:
            console.print(f"team 'demo' token (shown once): {ready['team_token']}")
            console.print(f"admin token (shown once): {ready['admin_token']}")
        console.print(f"submit: czbench submit --server http://{args.host}:{args.port} "
                      f"--challenge {ready['challenge']} --token TOKEN my_embedding.npy")
        return demo.serve(ready["url"], ready["data"], host=args.host, port=args.port,
                          with_worker=True, max_upload=args.max_upload)
    url = args.db or _default_db(args.data)
    args.data.mkdir(parents=True, exist_ok=True)
    if args.command == "serve" and args.action == "init":
        upgrade(url)
        with sessions(make_engine(url))() as session:
            if not admin.list_admins(session):
                console.print(f"admin token (shown once): "
                              f"{admin.add_team(session, 'admin', admin=True)}")
        console.print(f"database ready: {url.split('@')[-1]}")
        return None
    if args.command == "serve" and args.action == "worker":
        from czbench.serve.sandbox import Limits
        from czbench.serve.worker import Worker

        limits = Limits(seconds=args.package_seconds, memory_bytes=args.package_memory,
                        allow_network=args.allow_network)
        Worker(url, args.data, lease_s=args.lease, limits=limits, scheduler=args.scheduler).run()
        return None
    if args.command == "serve":
        return demo.serve(url, args.data, host=args.host, port=args.port,
                          max_upload=args.max_upload)
    with sessions(make_engine(url))() as session:
        if args.command == "team":
            token = admin.add_team(session, args.name)
            console.print(f"team '{args.name}' token (shown once): {token}")
        elif args.action == "create":
            _create(args, session, console)
        elif args.action == "close":
            if not args.id:
                raise InputError("challenge close: expected a challenge id")
            admin.close_challenge(session, args.id)
            console.print(f"challenge {args.id} closed: the private board is shown")
        else:
            _list(admin.list_challenges(session), console)
    return None


def _create(args: argparse.Namespace, session: Any, console: Console) -> None:
    from czbench.serve import admin

    for field in ("dataset", "tasks", "hold_out"):
        if not getattr(args, field):
            raise InputError(f"challenge create: --{field.replace('_', '-')} is required")
    deadline = None
    if args.deadline:
        try:
            deadline = datetime.fromisoformat(args.deadline.replace("Z", "+00:00"))
        except ValueError:
            raise InputError(f"deadline: expected an ISO 8601 time, got {args.deadline!r}"
                             ) from None
        if deadline.tzinfo is not None:  # stored as naive UTC
            deadline = deadline.replace(tzinfo=None) - deadline.utcoffset()
    challenge = admin.create_challenge(
        session, args.data, args.dataset, tasks=args.tasks, hold_out=args.hold_out,
        seed=args.seed, public_fraction=args.public_fraction, name=args.name,
        quota_per_day=args.quota_per_day, quota_total=args.quota_total, digits=args.digits,
        deadline=deadline, max_cells=args.max_cells, allow_mlflow=not args.no_mlflow)
    console.print(f"challenge {challenge.id} created on {challenge.dataset} "
                  f"({challenge.n_cells} cells; reference rows scored)")


def _list(challenges: list[Any], console: Console) -> None:
    table = Table(title="Challenges")
    for column in ("id", "name", "dataset", "tasks", "hold out", "state"):
        table.add_column(column)
    for c in challenges:
        table.add_row(c.id, c.name, c.dataset, ",".join(c.tasks), ",".join(c.hold_out),
                      c.state)
    console.print(table)


def _submit(args: argparse.Namespace, console: Console) -> None:
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn

    from czbench.serve.client import submit

    if not args.token:
        raise InputError("token: expected --token or $CZBENCH_TOKEN")
    with Progress(TextColumn("{task.description}"), BarColumn(), DownloadColumn(),
                  console=console, transient=True) as progress:
        done = submit(args.server, args.challenge, args.token, args.file,
                      wait=not args.no_wait, name=args.name, progress=progress)
    if args.no_wait:
        console.print(done["id"])
        return
    if done["state"] == "failed":
        raise InputError(f"submission {done['id']} failed: {done['reason']}")
    table = Table(title=f"Public scores of {done['id']}"
                  f"{' (already submitted)' if done.get('duplicate') else ''}")
    table.add_column("metric")
    table.add_column("score", justify="right")
    for key, value in {**(done["scores"] or {}), **(done["aggregates"] or {})}.items():
        table.add_row(key, "-" if value is None else f"{value}")
    console.print(table)
