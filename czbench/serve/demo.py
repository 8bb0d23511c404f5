"""``czbench serve --demo``: a server on SQLite with one challenge on the shipped
``pbmc_3chemistries_symphony`` (cell types held out) and its reference rows, a worker, and a
team token printed for ``czbench submit``."""

from __future__ import annotations

import tempfile
import threading
from pathlib import Path
from typing import Any

from czbench.serve import admin
from czbench.serve.migrate import make_engine, sessions, upgrade
from czbench.serve.worker import Worker

DEMO_DATASET = "pbmc_3chemistries_symphony"
DEMO_TASKS = ["clustering", "embedding"]
DEMO_HOLD_OUT = ["cell_type", "cell_type_broad"]


def prepare(folder: str | Path | None = None) -> dict[str, Any]:
    """Create the demo's database, challenge and tokens in ``folder`` (a new temporary folder
    by default); {url, data, challenge, admin_token, team_token}."""
    data = Path(folder) if folder is not None else Path(tempfile.mkdtemp(prefix="czbench-"))
    data.mkdir(parents=True, exist_ok=True)
    url = f"sqlite:///{(data / 'serve.db').resolve()}"
    upgrade(url)
    with sessions(make_engine(url))() as session:
        existing = admin.list_challenges(session)
        if existing:  # a demo folder used before: reuse it, tokens were shown then
            return {"url": url, "data": data, "challenge": existing[0].id,
                    "admin_token": None, "team_token": None}
        admin_token = admin.add_team(session, "admin", admin=True)
        team_token = admin.add_team(session, "demo")
        challenge = admin.create_challenge(session, data, DEMO_DATASET, tasks=DEMO_TASKS,
                                           hold_out=DEMO_HOLD_OUT, seed=0, name="pbmc-demo",
                                           quota_per_day=20, quota_total=100)
    return {"url": url, "data": data, "challenge": challenge.id, "admin_token": admin_token,
            "team_token": team_token}


def serve(url: str, data: Path, *, host: str = "127.0.0.1", port: int = 8000,
          with_worker: bool = False, max_upload: int | None = None) -> None:
    """Run the web server (and, with ``with_worker``, one worker thread) until interrupted."""
    import uvicorn

    from czbench.serve.app import MAX_UPLOAD, create_app

    stop = threading.Event()
    if with_worker:
        threading.Thread(target=Worker(url, data).run, kwargs={"stop": stop},
                         daemon=True).start()
    try:
        uvicorn.run(create_app(url, data, max_upload=max_upload or MAX_UPLOAD), host=host,
                    port=port, log_level="warning")
    finally:
        stop.set()
