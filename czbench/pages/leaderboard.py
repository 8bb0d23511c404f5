"""The leaderboard page of a challenge and a team's own page, rendered from the dicts the
server returns (``GET /challenges/{id}/leaderboard``, ``GET /teams/me``; docs/pages.md)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

import numpy as np

from czbench.errors import InputError
from czbench.pages import plots
from czbench.pages._render import number, render, safe_href

#: at most this many submission rows in the heatmap (the board's first ones, as ordered)
HEATMAP_ROWS = 25
BOARD_KEYS = ("challenge", "metrics", "aggregates", "rows")
CHALLENGE_KEYS = ("id", "name", "dataset", "dataset_sha256", "tasks", "hold_out", "seed",
                  "public_fraction", "deadline", "quota_per_day", "quota_total", "state",
                  "digits")
ROW_KEYS = ("id", "kind", "team", "name", "submitted_at", "scores", "aggregates",
            "document_url")
STATES = ("queued", "running", "scored", "failed")


def _require(obj: Any, keys: tuple[str, ...], where: str) -> None:
    if not isinstance(obj, Mapping):
        raise InputError(f"{where}: expected an object, got {type(obj).__name__}")
    missing = [k for k in keys if k not in obj]
    if missing:
        raise InputError(f"{where}: missing {', '.join(repr(k) for k in missing)}")


def check_board(board: Any) -> None:
    """One-line :class:`InputError` naming the first field of ``board`` that does not follow
    the leaderboard contract."""
    _require(board, BOARD_KEYS, "board")
    _require(board["challenge"], CHALLENGE_KEYS, "board.challenge")
    for i, metric in enumerate(board["metrics"]):
        _require(metric, ("key", "higher_is_better"), f"board.metrics[{i}]")
    for i, agg in enumerate(board["aggregates"]):
        _require(agg, ("key", "higher_is_better"), f"board.aggregates[{i}]")
    for i, row in enumerate(board["rows"]):
        _require(row, ROW_KEYS, f"board.rows[{i}]")
        if row["kind"] not in ("submission", "reference"):
            raise InputError(f"board.rows[{i}].kind: expected 'submission' or 'reference', "
                             f"got {row['kind']!r}")
    digits = board["challenge"]["digits"]
    if isinstance(digits, bool) or not isinstance(digits, int) or not 0 <= digits <= 12:
        raise InputError(f"board.challenge.digits: expected an integer in [0, 12], "
                         f"got {digits!r}")


def _columns(board: dict) -> list[tuple[str, str, str, bool]]:
    """(source, key, label, higher_is_better) of each score column."""
    cols = [("scores", m["key"], m.get("metric") or m["key"].split("/")[-1],
             bool(m["higher_is_better"])) for m in board["metrics"]]
    cols += [("aggregates", a["key"], a["key"].replace("_", " "), bool(a["higher_is_better"]))
             for a in board["aggregates"]]
    return cols


def _value(row: dict, source: str, key: str) -> float | None:
    return number((row.get(source) or {}).get(key), 12)[1]


def _table(board: dict, base_url: str) -> dict:
    digits = board["challenge"]["digits"]
    cols = _columns(board)
    columns = [{"label": "name"}, {"label": "team"}, {"label": "submitted"}]
    for source, key, label, higher in cols:
        task = key.split("/")[0] if source == "scores" and "/" in key else ""
        first = "descending" if higher else "ascending"
        columns.append({"label": label, "num": True, "sort_first": first, "key": key,
                        "sub": ("↑" if higher else "↓") + (f" {task}" if task else "")})
    rows = []
    for row in board["rows"]:
        cells = [{"text": row["name"], "href": safe_href(row["document_url"], base_url),
                  "value": None},
                 {"text": row["team"] or "—", "value": None},
                 {"text": row["submitted_at"] or "—", "value": row["submitted_at"] or ""}]
        for source, key, _, _ in cols:
            text, value = number((row.get(source) or {}).get(key), digits)
            cells.append({"text": text, "value": value, "num": True})
        rows.append({"cells": cells, "class": row["kind"],
                     "attrs": {"id": row["id"], "kind": row["kind"], "team": row["team"] or ""}})
    name = board["challenge"]["name"]
    return {"caption": f"{name}: {len(rows)} rows; sort by a column with its header button",
            "columns": columns, "rows": rows, "index": 1, "sortable": True, "id": "board-table",
            "body_id": "board-body"}


def _figures(board: dict) -> tuple[dict, ...]:
    """The board's pictures, drawn once per distinct board (a polled page re-renders an
    unchanged board for free: the figures are most of the rendering time)."""
    return _drawn(json.dumps([board["metrics"], board["aggregates"], board["rows"]],
                             sort_keys=True, default=str))


@lru_cache(maxsize=8)
def _drawn(key: str) -> tuple[dict, ...]:
    metrics, aggregates, rows = json.loads(key)
    return tuple(_draw({"metrics": metrics, "aggregates": aggregates, "rows": rows}))


def _draw(board: dict) -> list[dict]:
    cols = _columns(board)
    if not board["rows"] or not cols:
        return []
    labels = [label for _, _, label, _ in cols]
    subs = [r for r in board["rows"] if r["kind"] == "submission"]
    refs = [r for r in board["rows"] if r["kind"] == "reference"]
    shown = subs[:HEATMAP_ROWS] + refs
    values = np.array([[np.nan if (v := _value(r, s, k)) is None else v for s, k, _, _ in cols]
                       for r in shown], dtype=float)
    names = [f"{r['name']} ({r['team']})" if r["team"] else r["name"] for r in shown]
    figures = [plots.embed(
        plots.heatmap(values, names, labels, splits=[len(board["metrics"])] if
                      board["aggregates"] else [], title="metrics | aggregates"),
        alt=f"Heatmap of the board: {len(shown)} rows by {len(labels)} score columns; "
            "the same numbers are in the table above",
        caption=f"The board as an scIB-style table (first {min(len(subs), HEATMAP_ROWS)} "
                "submissions as ordered, then the reference rows).")]
    source, key, label, _ = cols[len(board["metrics"])] if board["aggregates"] else cols[0]
    series: dict[str, list[tuple[str, float]]] = {}
    for r in subs:
        value = _value(r, source, key)
        if r["team"] and r["submitted_at"] and value is not None:
            series.setdefault(r["team"], []).append((r["submitted_at"], value))
    figures.append(plots.embed(
        plots.over_time(series, label), alt=f"{label} of each team's submissions over time",
        caption=f"{label} of each team's submissions, by submission time."))
    dist = [[v for r in subs if (v := _value(r, s, k)) is not None] for s, k, _, _ in cols]
    references = {r["name"]: [_value(r, s, k) for s, k, _, _ in cols] for r in refs}
    figures.append(plots.embed(
        plots.distribution(labels, dist, references),
        alt="Distribution of each score over the submissions, with the reference rows marked",
        caption="Each score over the submissions (boxes); reference rows as markers."))
    return figures


def render_leaderboard(board: dict, *, base_url: str = "", poll_seconds: int = 30,
                       figures: bool = True) -> str:
    """The leaderboard page of ``board`` (the ``GET /challenges/{id}/leaderboard`` dict).

    ``base_url`` prefixes root-relative ``document_url`` links; the page re-reads its own URL
    every ``poll_seconds`` (0: never) and swaps in the new rows, keeping the sort and filter.
    """
    check_board(board)
    challenge = board["challenge"]
    hold_out = (f"{', '.join(challenge['hold_out']) or 'nothing'}; the public board scores "
                f"{challenge['public_fraction']:.0%} of the held-out data, the rest is kept for "
                f"the final board (split seed {challenge['seed']})")
    teams = sorted({r["team"] for r in board["rows"] if r["team"]})
    return render("leaderboard.html", title=f"{challenge['name']}", challenge=challenge,
                  hold_out=hold_out, teams=teams, table=_table(board, base_url),
                  figures=_figures(board) if figures else (), poll_seconds=poll_seconds,
                  generated_at=board.get("generated_at"))


def render_team(team: dict, *, poll_seconds: int = 15) -> str:
    """A team's own page (the ``GET /teams/me`` dict): its quota left and its submissions,
    with their states and, for a failed one, the reason."""
    _require(team, ("team", "quota", "submissions"), "team")
    _require(team["quota"], ("used_today", "per_day", "used_total", "total"), "team.quota")
    quota = dict(team["quota"])
    quota["left_today"] = max(0, quota["per_day"] - quota["used_today"])
    quota["left_total"] = max(0, quota["total"] - quota["used_total"])
    columns = [{"label": h} for h in ("submission", "challenge", "state", "reason",
                                      "submitted", "scored", "sha256", "scores")]
    rows = []
    for i, sub in enumerate(team["submissions"]):
        _require(sub, ("id", "challenge", "state", "reason", "submitted_at", "scored_at",
                       "sha256", "scores"), f"team.submissions[{i}]")
        if sub["state"] not in STATES:
            raise InputError(f"team.submissions[{i}].state: expected one of "
                             f"{', '.join(STATES)}, got {sub['state']!r}")
        scores = ", ".join(f"{k} {number(v, 4)[0]}" for k, v in (sub["scores"] or {}).items())
        rows.append({"attrs": {"id": sub["id"], "state": sub["state"]}, "cells": [
            {"text": sub["id"], "value": None}, {"text": sub["challenge"], "value": None},
            {"text": sub["state"], "value": None, "attrs": {"role": "state"},
             "class": f"state-{sub['state']}"},
            {"text": sub["reason"] or "", "value": None, "attrs": {"role": "reason"},
             "class": "reason"},
            {"text": sub["submitted_at"] or "—", "value": None},
            {"text": sub["scored_at"] or "—", "value": None},
            {"text": (sub["sha256"] or "")[:12], "value": None},
            {"text": scores or "—", "value": None}]})
    table = {"caption": f"Submissions of {team['team']}", "columns": columns, "rows": rows,
             "index": 1, "sortable": False, "body_id": "submissions-body"}
    return render("team.html", title=f"Team {team['team']}", team=team["team"], quota=quota,
                  table=table, poll_seconds=poll_seconds)


def render_login(*, error: str | None = None) -> str:
    """The form that hands a team's token to the server for its page (``POST /login``)."""
    return render("login.html", title="Sign in", error=error)
