"""Tokens: random (256 bits), shown once, stored as their sha256; admin and team scopes."""

from __future__ import annotations

import hashlib
import hmac
import secrets

from sqlalchemy import select
from sqlalchemy.orm import Session

from czbench.serve.models import Team

PREFIX = "czb_"


def new_token() -> str:
    """A fresh token (shown to its owner once, never stored in clear)."""
    return PREFIX + secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    """The stored form of ``token``: its sha256 (hex)."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def find_team(session: Session, token: str | None) -> Team | None:
    """The team (or admin) holding ``token``; None for a missing or unknown token. The stored
    hash is compared in constant time after the indexed lookup."""
    if not token or not token.startswith(PREFIX) or len(token) > 128:
        return None
    digest = hash_token(token)
    team = session.scalar(select(Team).where(Team.token_hash == digest))
    if team is None or not hmac.compare_digest(team.token_hash, digest):
        return None
    return team
