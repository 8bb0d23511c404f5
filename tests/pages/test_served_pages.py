"""The pages of a live ``czbench serve`` (uvicorn on 127.0.0.1 and a scoring worker) in headless
Chromium: a participant submits with ``czbench submit`` while the board is open, and the scored
row appears without a reload; a team signs in with its token and sees its failed submission's
reason appear on its own page."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from czbench.cli import main
from tests.serve.conftest import Env, free_port, make_package, new_database, random_embedding

pytestmark = pytest.mark.filterwarnings("ignore:Add type hints:UserWarning")


@pytest.fixture
def live(tmp_path, request):
    """A challenge on SQLite served by uvicorn with one worker; pages poll every second."""
    import uvicorn

    from czbench.serve.app import create_app
    from czbench.serve.worker import Worker

    env = Env(new_database("sqlite", tmp_path, request), tmp_path)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(env.url, env.data, poll_seconds=1),
                                           host="127.0.0.1", port=port, log_level="warning"))
    serving = threading.Thread(target=server.run, daemon=True)
    stop = threading.Event()
    worker = threading.Thread(target=Worker(env.url, env.data, name="w0", poll_s=0.1).run,
                              kwargs={"stop": stop}, daemon=True)
    serving.start()
    while not server.started:
        time.sleep(0.05)
    worker.start()
    yield env, f"http://127.0.0.1:{port}"
    stop.set()
    server.should_exit = True
    serving.join(10)
    worker.join(30)


def test_a_submitted_row_appears_on_the_open_board(live, page, tmp_path, capsys):
    import httpx

    env, base = live
    page.goto(f"{base}/challenges/{env.id}")
    page.evaluate("window.__notReloaded = true")
    before = page.locator("tbody tr").count()
    assert before >= 3  # the PCA baseline and the controls
    path = tmp_path / "alpha.npy"
    np.save(path, random_embedding(env.n_cells, 7, dims=8))
    assert main(["submit", "--server", base, "--challenge", env.id, "--token",
                 env.teams["alpha"], "--name", "alpha-first", str(path)]) == 0
    assert "Public scores of" in capsys.readouterr().out
    row = page.locator("tbody tr", has_text="alpha-first")
    row.wait_for(timeout=30_000)
    assert page.evaluate("window.__notReloaded") is True
    assert page.locator("tbody tr").count() == before + 1
    board = httpx.get(f"{base}/challenges/{env.id}/leaderboard").json()
    mine = next(r for r in board["rows"] if r["name"] == "alpha-first")
    shown = row.locator("td.num").all_inner_texts()
    expected = [f"{v:.{board['challenge']['digits']}f}" for v in mine["scores"].values()
                if v is not None]
    assert all(any(text.strip() == e for text in shown) for e in expected), (shown, expected)
    link = row.locator("a").first.get_attribute("href")
    document = httpx.get(f"{base}{link}").json()  # the row's public document, for anyone
    assert document["dataset"]["part"] == "public"


@pytest.mark.slow
def test_a_team_signs_in_and_sees_its_failed_submissions_reason(live, page, tmp_path):
    from czbench.serve.client import submit

    env, base = live
    page.goto(f"{base}/teams/me")  # no token yet: the sign-in form
    assert page.url.endswith("/login")
    page.fill("#token", "czb_not-a-token")
    page.click("button[type=submit]")
    assert "not valid" in page.inner_text("[role=alert]")
    page.fill("#token", env.teams["beta"])
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/teams/me")
    page.evaluate("window.__notReloaded = true")
    package = tmp_path / "package"
    package.mkdir()
    (tmp_path / "package.zip").write_bytes(
        make_package(package, "raise ValueError('boom from the package')"))
    sent = submit(base, env.id, env.teams["beta"], tmp_path / "package.zip", wait=False,
                  name="beta-pkg")
    row = page.locator(f"tbody tr[data-id='{sent['id']}']")
    row.locator(".state-failed").wait_for(timeout=120_000)
    assert "boom from the package" in row.locator("[data-role=reason], .reason").inner_text()
    assert page.evaluate("window.__notReloaded") is True
    # the cookie carries the token to the GET pages only: a submission needs the bearer header
    cookies = {c["name"]: c for c in page.context.cookies()}
    assert cookies["czbench_token"]["httpOnly"] and cookies["czbench_token"]["sameSite"] == "Strict"
