"""Submissions and their jobs: quotas, the state machine queued -> running -> scored | failed,
and leases (a worker that dies leaves its job to be re-queued and scored exactly once).

Claiming is ``SELECT ... FOR UPDATE SKIP LOCKED`` on PostgreSQL; on SQLite (one writer at a
time) an atomic ``UPDATE ... WHERE state='queued'`` decides which worker got the job.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from czbench.serve.models import Challenge, Submission, Team, utcnow

#: a job whose lease expired this many times is failed instead of re-queued
MAX_ATTEMPTS = 3


class QuotaError(Exception):
    """A team's quota is spent (HTTP 429)."""


def new_id() -> str:
    """A submission or challenge id: random, URL-safe, never derived from client input."""
    return secrets.token_hex(8)


def usage(session: Session, team_id: int, challenge_id: str,
          now: datetime | None = None) -> tuple[int, int]:
    """(used today, used in total) of a team on a challenge: its submissions that did not
    fail (a failed one is given back). Days are UTC days."""
    now = now or utcnow()
    start = now.replace(hour=0, minute=0, second=0, microsecond=0)
    counted = select(func.count()).select_from(Submission).where(
        Submission.team_id == team_id, Submission.challenge_id == challenge_id,
        Submission.kind == "submission", Submission.state != "failed")
    total = session.scalar(counted) or 0
    today = session.scalar(counted.where(Submission.submitted_at >= start)) or 0
    return today, total


def submit(session: Session, challenge: Challenge, team: Team, *, sha256: str,
           file_kind: str, name: str) -> tuple[Submission, bool]:
    """(submission, created). The same file (sha256) from the same team returns the stored
    submission and costs nothing; otherwise the quotas are checked and a queued job is added.
    Bumping the team's row first serialises one team's submissions (a row lock on PostgreSQL,
    the write lock on SQLite), so quotas are exact under concurrency. Commits."""
    session.execute(update(Team).where(Team.id == team.id)
                    .values(lock_version=Team.lock_version + 1))
    found = session.scalar(select(Submission).where(
        Submission.challenge_id == challenge.id, Submission.team_id == team.id,
        Submission.sha256 == sha256))
    if found is not None:
        session.commit()
        return found, False
    today, total = usage(session, team.id, challenge.id)
    if total >= challenge.quota_total:
        session.rollback()
        raise QuotaError(f"quota: {challenge.quota_total} submissions in total are spent")
    if today >= challenge.quota_per_day:
        session.rollback()
        raise QuotaError(f"quota: {challenge.quota_per_day} submissions per day are spent "
                         f"(UTC day)")
    row = Submission(id=new_id(), challenge_id=challenge.id, team_id=team.id,
                     kind="submission", name=name, file_kind=file_kind, sha256=sha256,
                     state="queued", submitted_at=utcnow())
    session.add(row)
    session.commit()
    return row, True


def requeue_expired(session: Session) -> int:
    """Jobs whose lease ran out go back to the queue (or fail after MAX_ATTEMPTS); returns how
    many were re-queued. Commits."""
    now = utcnow()
    expired = (Submission.state == "running") & (Submission.lease_until < now)
    session.execute(update(Submission).where(expired, Submission.attempts >= MAX_ATTEMPTS)
                    .values(state="failed", reason="scoring: the worker was lost "
                            f"{MAX_ATTEMPTS} times", worker=None, lease_until=None))
    count = session.execute(update(Submission).where(expired).values(
        state="queued", worker=None, lease_until=None)).rowcount
    session.commit()
    return count


def claim(session: Session, worker: str, lease_s: float) -> str | None:
    """Claim the oldest queued job for ``worker`` with a lease of ``lease_s`` seconds; its id,
    or None when the queue is empty. Commits."""
    postgres = session.get_bind().dialect.name == "postgresql"
    query = select(Submission.id).where(Submission.state == "queued") \
        .order_by(Submission.submitted_at, Submission.id).limit(1)
    for _ in range(20):
        if postgres:
            query_locked = query.with_for_update(skip_locked=True)
            job = session.scalar(query_locked)
        else:
            job = session.scalar(query)
        if job is None:
            session.rollback()
            return None
        now = utcnow()
        won = session.execute(
            update(Submission).where(Submission.id == job, Submission.state == "queued")
            .values(state="running", worker=worker, started_at=now,
                    lease_until=now + timedelta(seconds=lease_s),
                    attempts=Submission.attempts + 1)).rowcount
        session.commit()
        if won == 1:
            return job
    return None


def extend(session: Session, job: str, worker: str, lease_s: float) -> bool:
    """Extend the lease of ``worker``'s job; False when the job is no longer its own."""
    done = session.execute(update(Submission).where(
        Submission.id == job, Submission.worker == worker, Submission.state == "running")
        .values(lease_until=utcnow() + timedelta(seconds=lease_s))).rowcount
    session.commit()
    return done == 1


def finish(session: Session, job: str, worker: str, values: dict[str, Any]) -> bool:
    """Store a result (``state='scored'``) or a failure (``values['state']='failed'``) if the
    job is still ``worker``'s; False when its lease was lost (the result is dropped, so a job is
    scored exactly once). Commits."""
    state = values.pop("state", "scored")
    extra = {"times_scored": Submission.times_scored + 1} if state == "scored" else {}
    done = session.execute(update(Submission).where(
        Submission.id == job, Submission.worker == worker, Submission.state == "running")
        .values(state=state, scored_at=utcnow(), lease_until=None, **extra, **values)).rowcount
    session.commit()
    return done == 1
