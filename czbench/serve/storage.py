"""Where the server keeps files: ``<data>/challenges/<id>/`` (full.h5ad and split.npy, server
only; public.h5ad, the download) and ``<data>/uploads/<sha256>`` (submissions, named by their
content; a client's file name is never used as a path)."""

from __future__ import annotations

import hashlib
import os
import re
import secrets
from pathlib import Path
from typing import BinaryIO

ID_PATTERN = re.compile(r"^[0-9a-f]{16}$")
SHA_PATTERN = re.compile(r"^[0-9a-f]{64}$")
CHUNK = 1 << 20


class TooLarge(Exception):
    """An upload beyond the server's size limit (HTTP 413)."""


def challenge_dir(data: Path, challenge_id: str) -> Path:
    """The folder of a challenge (ids are generated: 16 hex digits)."""
    if not ID_PATTERN.match(challenge_id):
        raise ValueError(f"not a challenge id: {challenge_id!r}")
    return Path(data) / "challenges" / challenge_id


def upload_path(data: Path, sha256: str) -> Path:
    """The stored upload with content hash ``sha256``."""
    if not SHA_PATTERN.match(sha256):
        raise ValueError("not a sha256")
    return Path(data) / "uploads" / sha256


class Incoming:
    """An upload being received: chunks go to a temporary file in ``uploads/``, renamed to
    the content's sha256 by :meth:`commit` (so an interrupted upload leaves nothing
    half-written); :class:`TooLarge` beyond ``limit`` bytes."""

    def __init__(self, data: Path, limit: int) -> None:
        self.data = Path(data)
        self.limit = limit
        folder = self.data / "uploads"
        folder.mkdir(parents=True, exist_ok=True)
        self.temporary = folder / f".part-{secrets.token_hex(8)}"
        self.handle: BinaryIO = open(self.temporary, "wb")  # noqa: SIM115
        self.digest = hashlib.sha256()
        self.size = 0
        self.head = b""

    def write(self, chunk: bytes) -> None:
        """Add ``chunk``."""
        self.size += len(chunk)
        if self.size > self.limit:
            self.abort()
            raise TooLarge(f"upload: larger than the limit of {self.limit} bytes")
        if len(self.head) < 16:
            self.head = (self.head + chunk)[:16]
        self.digest.update(chunk)
        self.handle.write(chunk)

    def commit(self) -> tuple[str, int, bytes]:
        """Finish the upload: (sha256, size, first 16 bytes); the file is at
        :func:`upload_path`."""
        self.handle.flush()
        os.fsync(self.handle.fileno())
        self.handle.close()
        sha = self.digest.hexdigest()
        os.replace(self.temporary, upload_path(self.data, sha))
        return sha, self.size, self.head

    def abort(self) -> None:
        """Drop the partial upload."""
        self.handle.close()
        self.temporary.unlink(missing_ok=True)
