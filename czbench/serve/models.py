"""The server's tables (SQLAlchemy 2). Migrations: :mod:`czbench.serve.migrations`.

Files never live in the database: uploads are stored under the server's data folder by their
sha256, challenge data under ``challenges/<id>/``.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

#: the job states of a submission
STATES = ("queued", "running", "scored", "failed")


def utcnow() -> datetime:
    """Now in UTC, stored naive (every timestamp of the server is UTC)."""
    return datetime.now(timezone.utc).replace(tzinfo=None)


class Base(DeclarativeBase):
    """Declarative base of the server's tables."""


class Team(Base):
    """A participant team (``is_admin``: the lab's own admin identity)."""

    __tablename__ = "teams"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    #: bumped by every submission: the row lock that serialises a team's quota checks
    lock_version: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class Challenge(Base):
    """A held-out benchmark on one dataset; its files live in ``challenges/<id>/``."""

    __tablename__ = "challenges"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(128))
    dataset: Mapped[str] = mapped_column(String(256))
    dataset_sha256: Mapped[str] = mapped_column(String(64))
    public_sha256: Mapped[str] = mapped_column(String(64))
    tasks: Mapped[list[str]] = mapped_column(JSON)
    hold_out: Mapped[list[str]] = mapped_column(JSON)
    task_options: Mapped[dict[str, Any]] = mapped_column(JSON)
    seed: Mapped[int] = mapped_column(Integer)
    public_fraction: Mapped[float] = mapped_column(Float)
    n_cells: Mapped[int] = mapped_column(Integer)
    deadline: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    quota_per_day: Mapped[int] = mapped_column(Integer)
    quota_total: Mapped[int] = mapped_column(Integer)
    digits: Mapped[int] = mapped_column(Integer)
    allow_mlflow: Mapped[bool] = mapped_column(Boolean, default=True)
    state: Mapped[str] = mapped_column(String(16), default="open")
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class Submission(Base):
    """One scored input: a team's upload (``kind='submission'``) or a reference row
    (``kind='reference'``: the PCA baseline and the controls). Its job state, lease and
    results live on the same row."""

    __tablename__ = "submissions"
    __table_args__ = (
        UniqueConstraint("challenge_id", "team_id", "sha256", name="uq_submission_file"),
        Index("ix_submissions_state", "state", "submitted_at"),
        Index("ix_submissions_team", "team_id", "challenge_id"),
    )
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    challenge_id: Mapped[str] = mapped_column(ForeignKey("challenges.id"))
    team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id"), nullable=True)
    kind: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(64))
    file_kind: Mapped[str] = mapped_column(String(16))
    sha256: Mapped[str] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(16), default="queued")
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    submitted_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    scored_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    worker: Mapped[str | None] = mapped_column(String(64), nullable=True)
    lease_until: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    #: how many times a result was stored (the exactly-once check: never above 1)
    times_scored: Mapped[int] = mapped_column(Integer, default=0)
    public_scores: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    public_aggregates: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    private_scores: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    private_aggregates: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    public_document: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    private_document: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
