"""``czbench serve worker``: claim jobs, score them on both parts, store the results.

Any number of workers may run against PostgreSQL; one against SQLite. A worker extends its
lease while it scores; a worker that dies leaves its job to be re-queued when the lease runs
out, and :func:`czbench.serve.jobs.finish` stores a result only for the lease holder, so every
job is scored exactly once.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from pathlib import Path
from typing import Any

from sqlalchemy import select

from czbench.errors import InputError
from czbench.serve import jobs
from czbench.serve.migrate import make_engine, sessions
from czbench.serve.models import Challenge, Submission
from czbench.serve.protocol import check_embedding, read_embedding
from czbench.serve.sandbox import Limits, run_package
from czbench.serve.scoring import PARTS, SUBMISSION, aggregates, challenge_data, score_parts, scores
from czbench.serve.storage import challenge_dir, upload_path

LOG = logging.getLogger(__name__)


class Worker:
    """A scoring worker on database ``url`` and data folder ``data``. ``scheduler``: score on
    a Dask scheduler (its address, ``"local"`` or a ``distributed.Client``; None: in this
    process), as ``czbench run --scheduler`` does."""

    def __init__(self, url: str, data: str | Path, *, name: str | None = None,
                 lease_s: float = 60.0, poll_s: float = 0.5,
                 limits: Limits | None = None, scheduler: Any = None) -> None:
        self.url = url
        self.scheduler = scheduler
        self.data = Path(data)
        self.name = name or f"{socket.gethostname()}:{os.getpid()}"
        self.lease_s = lease_s
        self.poll_s = poll_s
        self.limits = limits or Limits()
        self.engine = make_engine(url)
        self.Session = sessions(self.engine)

    def run(self, *, max_jobs: int | None = None, stop_when_idle: bool = False,
            stop: threading.Event | None = None) -> int:
        """Score jobs until ``max_jobs`` are done, the queue is empty (``stop_when_idle``) or
        ``stop`` is set; returns how many were handled."""
        handled = 0
        stop = stop or threading.Event()
        while (max_jobs is None or handled < max_jobs) and not stop.is_set():
            if self.step():
                handled += 1
            elif stop_when_idle:
                break
            else:
                stop.wait(self.poll_s)
        return handled

    def step(self) -> bool:
        """Re-queue expired leases, claim one job and score it; False when none was queued."""
        with self.Session() as session:
            jobs.requeue_expired(session)
            job = jobs.claim(session, self.name, self.lease_s)
        if job is None:
            return False
        stop = threading.Event()
        beat = threading.Thread(target=self._heartbeat, args=(job, stop), daemon=True)
        beat.start()
        try:
            values = self._score(job)
        finally:
            stop.set()
            beat.join()
        with self.Session() as session:
            jobs.finish(session, job, self.name, values)
        return True

    def _heartbeat(self, job: str, stop: threading.Event) -> None:
        while not stop.wait(self.lease_s / 3):
            with self.Session() as session:
                if not jobs.extend(session, job, self.name, self.lease_s):
                    return

    def _score(self, job: str) -> dict[str, Any]:
        with self.Session() as session:
            row = session.get(Submission, job)
            challenge = session.get(Challenge, row.challenge_id)
            references = list(session.scalars(select(Submission).where(
                Submission.challenge_id == challenge.id, Submission.kind == "reference")))
        folder = challenge_dir(self.data, challenge.id)
        full, mask = challenge_data(str(folder))
        try:  # our own checks: their messages name public facts only
            if row.file_kind == "mlflow":
                embedding = check_embedding(run_package(upload_path(self.data, row.sha256),
                                                        folder / "public.h5ad", self.limits),
                                            full.n_obs)
            else:
                embedding = read_embedding(upload_path(self.data, row.sha256), row.file_kind,
                                           full.obs_names)
        except InputError as err:
            return {"state": "failed", "reason": str(err)}
        try:
            documents = score_parts(challenge, full, mask, {SUBMISSION: embedding},
                                    scheduler=self.scheduler)
        except Exception as err:  # the engine's messages may name held-out values: not shown
            LOG.warning("submission %s: scoring failed: %s: %s", job, type(err).__name__, err)
            return {"state": "failed", "reason": f"scoring failed ({type(err).__name__}); "
                    f"the message stays on the server, as it may name held-out values"}
        values: dict[str, Any] = {}
        for part in PARTS:
            controls = [r for ref in references if ref.name.startswith("control:")
                        for r in getattr(ref, f"{part}_document")["results"]]
            values[f"{part}_scores"] = scores(documents[part], SUBMISSION)
            values[f"{part}_aggregates"] = aggregates(documents[part], SUBMISSION, controls)
            values[f"{part}_document"] = documents[part]
        values["reason"] = None
        return values

