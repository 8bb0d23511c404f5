"""``czbench submit``: upload a file (or an MLflow package folder, zipped on the fly) with a
progress bar, wait for its score and return the public scores."""

from __future__ import annotations

import io
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from czbench.errors import CZBenchError, InputError

CHUNK = 1 << 16


class ServerError(CZBenchError):
    """The server refused a request (its one-line reason)."""


def package_bytes(folder: Path) -> bytes:
    """An MLflow package folder as zip bytes (paths relative to the folder)."""
    if not (folder / "MLmodel").is_file():
        raise InputError(f"FILE: '{folder}' is a folder without an MLmodel file (expected a "
                         f".npy, an .h5ad or an MLflow package folder)")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as bundle:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                bundle.write(path, path.relative_to(folder).as_posix())
    return buffer.getvalue()


def _reason(answer: Any) -> str:
    try:
        detail = answer.json().get("detail")
    except ValueError:
        detail = answer.text[:200]
    return f"server: {answer.status_code} {detail}"


def submit(server: str, challenge: str, token: str, path: str | Path, *,
           wait: bool = True, name: str = "submission", timeout_s: float = 3600.0,
           progress: Any = None) -> dict[str, Any]:
    """Upload ``path`` to ``challenge``; the submission as the server describes it (scored or
    failed when ``wait``). ``progress`` is a ``rich.progress.Progress`` or None."""
    import httpx

    path = Path(path)
    if not path.exists():
        raise InputError(f"FILE: '{path}' does not exist")
    body = package_bytes(path) if path.is_dir() else path.read_bytes()
    task = progress.add_task("uploading", total=len(body)) if progress is not None else None

    def chunks() -> Iterator[bytes]:
        for start in range(0, len(body), CHUNK):
            if progress is not None:
                progress.update(task, advance=min(CHUNK, len(body) - start))
            yield body[start:start + CHUNK]

    headers = {"Authorization": f"Bearer {token}", "Content-Length": str(len(body)),
               "Content-Type": "application/octet-stream"}
    with httpx.Client(base_url=server.rstrip("/"), timeout=120) as client:
        answer = client.post(f"/challenges/{challenge}/submissions", params={"name": name},
                             content=chunks(), headers=headers)
        if answer.status_code not in (200, 202):
            raise ServerError(_reason(answer))
        submission = answer.json()
        if progress is not None:
            progress.update(task, description=f"queued {submission['id']}")
        deadline = time.monotonic() + timeout_s
        while wait and submission["state"] in ("queued", "running"):
            if time.monotonic() > deadline:
                raise ServerError(f"server: not scored within {timeout_s:g} s "
                                  f"(submission {submission['id']})")
            time.sleep(1.0)
            answer = client.get(f"/submissions/{submission['id']}",
                                headers={"Authorization": f"Bearer {token}"})
            if answer.status_code != 200:
                raise ServerError(_reason(answer))
            submission = answer.json()
            if progress is not None:
                progress.update(task, description=f"{submission['state']} {submission['id']}")
    return submission
