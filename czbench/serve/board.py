"""The JSON views of the server: a challenge, its leaderboard and a team's page (the shared
contract with ``czbench.pages``, docs/serve.md). Every score here is rounded to the
challenge's digits."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from czbench.serve.jobs import usage
from czbench.serve.models import Challenge, Submission, Team, utcnow
from czbench.serve.scoring import AGGREGATES, rounded


def iso(moment: datetime | None) -> str | None:
    """ISO 8601 in UTC (``...Z``), or None."""
    return None if moment is None else moment.replace(microsecond=0).isoformat() + "Z"


def challenge_view(challenge: Challenge) -> dict[str, Any]:
    """The public description of a challenge."""
    return {"id": challenge.id, "name": challenge.name, "dataset": challenge.dataset,
            "dataset_sha256": challenge.dataset_sha256, "tasks": list(challenge.tasks),
            "hold_out": list(challenge.hold_out), "seed": challenge.seed,
            "public_fraction": challenge.public_fraction, "deadline": iso(challenge.deadline),
            "quota_per_day": challenge.quota_per_day, "quota_total": challenge.quota_total,
            "state": challenge.state, "digits": challenge.digits,
            "n_cells": challenge.n_cells, "public_data_sha256": challenge.public_sha256}


def _metrics(references: list[Submission]) -> list[dict[str, Any]]:
    higher: dict[str, bool] = {}
    for row in references:
        for entry in row.public_document["summary"]:
            if not entry["params"]:
                higher.setdefault(f"{entry['task']}/{entry['metric']}",
                                  entry["higher_is_better"])
    return [{"key": key, "task": key.split("/")[0], "metric": key.split("/", 1)[1],
             "higher_is_better": value} for key, value in higher.items()]


def leaderboard(session: Session, challenge: Challenge, *, part: str = "public"
                ) -> dict[str, Any]:
    """The board of ``part`` (``public``; ``private`` once the challenge is closed): the
    reference rows and every scored submission, best ``mean_control_normalized`` first."""
    scores_column = getattr(Submission, f"{part}_scores")
    aggregates_column = getattr(Submission, f"{part}_aggregates")
    rows = session.execute(  # the columns the board shows, not the stored documents
        select(Submission.id, Submission.kind, Submission.name, Submission.submitted_at,
               scores_column, aggregates_column, Team.name)
        .outerjoin(Team, Submission.team_id == Team.id)
        .where(Submission.challenge_id == challenge.id, Submission.state == "scored"))
    references = list(session.scalars(select(Submission).where(
        Submission.challenge_id == challenge.id, Submission.kind == "reference")))
    digits = challenge.digits
    out = [{"id": row_id, "kind": kind, "team": team, "name": name,
            "submitted_at": iso(submitted) if kind == "submission" else None,
            "scores": rounded(scores, digits), "aggregates": rounded(aggregates, digits),
            "document_url": f"/submissions/{row_id}/document?part={part}"}
           for row_id, kind, name, submitted, scores, aggregates, team in rows]
    out.sort(key=lambda r: (r["aggregates"].get("mean_control_normalized") is None,
                            -(r["aggregates"].get("mean_control_normalized") or 0.0), r["id"]))
    return {"challenge": challenge_view(challenge), "part": part,
            "metrics": _metrics(references),
            "aggregates": [{"key": key, "higher_is_better": higher}
                           for key, higher in AGGREGATES],
            "rows": out, "generated_at": iso(utcnow())}


def submission_view(submission: Submission, challenge: Challenge) -> dict[str, Any]:
    """A submission as its team sees it (public scores only, rounded)."""
    return {"id": submission.id, "challenge": submission.challenge_id,
            "state": submission.state, "reason": submission.reason,
            "submitted_at": iso(submission.submitted_at), "scored_at": iso(submission.scored_at),
            "sha256": submission.sha256, "kind": submission.file_kind,
            "scores": rounded(submission.public_scores, challenge.digits),
            "aggregates": rounded(submission.public_aggregates, challenge.digits)}


def team_view(session: Session, team: Team, challenge: Challenge | None) -> dict[str, Any]:
    """A team's page: its quota on ``challenge`` (the newest open one by default) and its own
    submissions."""
    mine = list(session.execute(
        select(Submission, Challenge).join(Challenge, Submission.challenge_id == Challenge.id)
        .where(Submission.team_id == team.id).order_by(Submission.submitted_at)))
    quota = {"used_today": 0, "per_day": 0, "used_total": 0, "total": 0, "challenge": None}
    if challenge is not None:
        today, total = usage(session, team.id, challenge.id)
        quota = {"used_today": today, "per_day": challenge.quota_per_day,
                 "used_total": total, "total": challenge.quota_total,
                 "challenge": challenge.id}
    return {"team": team.name, "quota": quota,
            "submissions": [submission_view(s, c) for s, c in mine]}
