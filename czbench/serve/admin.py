"""What the lab (admin) does: create the database, add teams, create, close and list
challenges. Used by the ``czbench serve init``, ``team add`` and ``challenge`` commands."""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path
from typing import Any

import anndata as ad
import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from czbench.datasets import load
from czbench.errors import InputError
from czbench.serve.jobs import new_id
from czbench.serve.models import Challenge, Submission, Team, utcnow
from czbench.serve.protocol import publish, stratified_split
from czbench.serve.scoring import PARTS, aggregates, challenge_data, only, score_parts, scores
from czbench.serve.storage import challenge_dir
from czbench.serve.tokens import hash_token, new_token
from czbench.tasks import get_task
from czbench.utils.hashing import sha256_file, sha256_parts

NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
REFERENCE = "baseline:pca"


def check_name(value: str, field: str) -> str:
    """``value`` if it is a plain name (letters, digits, ``.``, ``_``, ``-``; 64 at most)."""
    if not isinstance(value, str) or not NAME_PATTERN.match(value):
        raise InputError(f"{field}: expected 1-64 letters, digits, '.', '_' or '-' starting "
                         f"with a letter or digit, got {value!r}")
    return value


def add_team(session: Session, name: str, *, admin: bool = False) -> str:
    """Add a team (or an admin identity); returns its token, which is shown only once."""
    check_name(name, "team")
    if session.scalar(select(Team).where(Team.name == name)) is not None:
        raise InputError(f"team: '{name}' already exists")
    token = new_token()
    session.add(Team(name=name, is_admin=admin, token_hash=hash_token(token)))
    session.commit()
    return token


def _dataset(dataset: str | Path | ad.AnnData) -> tuple[ad.AnnData, str, str]:
    if isinstance(dataset, ad.AnnData):
        return dataset, "anndata", sha256_parts(dataset.obs_names.tolist(), dataset.n_vars)
    adata = load(dataset)
    meta = adata.uns.get("czbench", {})
    digest = meta.get("sha256") or sha256_file(str(dataset))
    return adata, str(meta.get("name") or Path(str(dataset)).name), digest


def create_challenge(session: Session, data: Path, dataset: str | Path | ad.AnnData, *,
                     tasks: list[str], hold_out: list[str], seed: int = 0,
                     public_fraction: float = 0.5, name: str | None = None,
                     quota_per_day: int = 5, quota_total: int = 50, digits: int = 3,
                     deadline: datetime | None = None, max_cells: int | None = None,
                     task_options: dict[str, dict[str, Any]] | None = None,
                     allow_mlflow: bool = True) -> Challenge:
    """Create a challenge: split the cells (seeded, stratified by ``hold_out[0]``), write the
    full and the public data, and score the reference rows (the PCA baseline and the controls)
    on both parts. ``max_cells`` first keeps a stratified subsample of the cells."""
    if not tasks:
        raise InputError("tasks: expected at least one task name")
    for task in tasks:
        get_task(task)
    if not hold_out:
        raise InputError("hold_out: expected at least one obs column to hold out")
    for field, value in (("quota_per_day", quota_per_day), ("quota_total", quota_total),
                         ("digits", digits)):
        if not isinstance(value, int) or not 0 < value <= 10_000:
            raise InputError(f"{field}: expected a positive integer, got {value!r}")
    adata, dataset_name, digest = _dataset(dataset)
    if hold_out[0] not in adata.obs.columns:
        raise InputError(f"hold_out: column '{hold_out[0]}' is not in the dataset's obs")
    labels = adata.obs[hold_out[0]].to_numpy()
    if max_cells is not None and max_cells < adata.n_obs:
        keep = stratified_split(labels, max_cells / adata.n_obs, seed)
        adata, labels = adata[keep].copy(), labels[keep]
    full, public = publish(adata, list(hold_out), seed)
    mask = stratified_split(full.obs[hold_out[0]].to_numpy(), public_fraction, seed)
    challenge_id = new_id()
    folder = challenge_dir(data, challenge_id)
    folder.mkdir(parents=True)
    full.write_h5ad(folder / "full.h5ad")
    public.write_h5ad(folder / "public.h5ad")
    np.save(folder / "split.npy", mask, allow_pickle=False)
    challenge = Challenge(
        id=challenge_id, name=check_name(name or dataset_name, "name"), dataset=dataset_name,
        dataset_sha256=digest, public_sha256=sha256_file(str(folder / "public.h5ad")),
        tasks=list(tasks), hold_out=list(hold_out), task_options=task_options or {},
        seed=seed, public_fraction=public_fraction, n_cells=int(full.n_obs),
        deadline=deadline, quota_per_day=quota_per_day, quota_total=quota_total,
        digits=digits, allow_mlflow=allow_mlflow, state="open", created_at=utcnow())
    session.add(challenge)
    session.flush()
    add_references(session, challenge, folder)
    session.commit()
    return challenge


def add_references(session: Session, challenge: Challenge, folder: Path) -> None:
    """Score the PCA baseline and the controls on both parts and enter them as reference
    rows of the board."""
    full, mask = challenge_data(str(folder))
    documents = score_parts(challenge, full, mask, {REFERENCE: REFERENCE}, controls=True)
    now = utcnow()
    names = [e["source"] for e in documents["public"]["embeddings"]]
    control_rows = {part: [r for r in documents[part]["results"]
                           if r["embedding"].startswith("control:")] for part in PARTS}
    for embedding in names:
        values: dict[str, Any] = {}
        for part in PARTS:
            values[f"{part}_scores"] = scores(documents[part], embedding)
            values[f"{part}_aggregates"] = aggregates(documents[part], embedding,
                                                      control_rows[part])
            values[f"{part}_document"] = only(documents[part], embedding)
        session.add(Submission(id=new_id(), challenge_id=challenge.id, team_id=None,
                               kind="reference", name=embedding, file_kind="reference",
                               sha256=sha256_parts(challenge.id, embedding), state="scored",
                               submitted_at=now, scored_at=now, times_scored=1, **values))


def get_challenge(session: Session, challenge_id: str) -> Challenge:
    """The challenge ``challenge_id``, or a one-line error."""
    found = session.get(Challenge, challenge_id) if isinstance(challenge_id, str) else None
    if found is None:
        raise InputError(f"challenge: no challenge '{challenge_id}'")
    return found


def close_challenge(session: Session, challenge_id: str) -> Challenge:
    """Close a challenge: no more submissions; the private board is shown."""
    challenge = get_challenge(session, challenge_id)
    challenge.state = "closed"
    session.commit()
    return challenge


def list_admins(session: Session) -> list[Team]:
    """The admin identities."""
    return list(session.scalars(select(Team).where(Team.is_admin)))


def list_challenges(session: Session) -> list[Challenge]:
    """Every challenge, oldest first."""
    return list(session.scalars(select(Challenge).order_by(Challenge.created_at)))
