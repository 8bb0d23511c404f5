"""Fixtures of the browser tests: a real results document, headless Debian Chromium driven by
Playwright (never a downloaded browser), a local HTTP server on 127.0.0.1, and a page that
records its console errors and every request it makes.

Without Debian's ``chromium`` on the PATH (or ``$CZBENCH_CHROMIUM``) or the playwright package
the browser tests are skipped, unless ``CZBENCH_REQUIRE_BROWSER=1`` (as ``.ci/run`` sets),
where they fail instead."""

from __future__ import annotations

import os
import shutil
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np
import pytest

CHROMIUM = os.environ.get("CZBENCH_CHROMIUM") or shutil.which("chromium") or "chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]


@pytest.fixture(scope="session")
def scored():
    """One real run on the shipped PBMC dataset: four submitted embeddings (PCA at 5, 10 and 30
    components of the log-normalised expression, and the 30 with noise), the PCA baseline and
    the controls; plus the one-line error of a submission with the wrong number of rows."""
    from sklearn.decomposition import PCA

    import czbench.datasets as ds
    from czbench.errors import InputError
    from czbench.run import benchmark

    adata = ds.load("pbmc_3chemistries_symphony")
    x = adata.layers["lognorm_original"]
    x = x.toarray() if hasattr(x, "toarray") else np.asarray(x)
    pcs = PCA(30, random_state=0).fit_transform(x).astype(np.float32)
    noisy = pcs + np.random.default_rng(0).normal(0, 3, pcs.shape).astype(np.float32)
    inputs = {"alpha-pca10": pcs[:, :10], "alpha-pca30": pcs, "beta-noisy": noisy,
              "gamma-pca5": pcs[:, :5], "pca": "baseline:pca"}
    result = benchmark(adata, inputs, ["clustering", "embedding"], seed=0, controls=True)
    with pytest.raises(InputError) as failure:
        benchmark(adata, {"beta-short": pcs[:100]}, ["embedding"], seed=0)
    return result, str(failure.value)


@pytest.fixture(scope="session")
def browser():
    if not (shutil.which(CHROMIUM) or Path(CHROMIUM).exists()):
        if os.environ.get("CZBENCH_REQUIRE_BROWSER") == "1":
            pytest.fail(f"no Chromium at {CHROMIUM} (apt-get install chromium)")
        pytest.skip(f"no Chromium at {CHROMIUM}")
    if os.environ.get("CZBENCH_REQUIRE_BROWSER") == "1":
        import playwright  # noqa: F401
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        yield browser
        browser.close()


class Site:
    """Pages served from memory at http://127.0.0.1:PORT/; ``pages[path] = (type, bytes)``."""

    def __init__(self) -> None:
        self.pages: dict[str, tuple[str, bytes]] = {}
        self.lock = threading.Lock()
        site = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 (http.server's name)
                with site.lock:
                    hit = site.pages.get(urlsplit(self.path).path)
                if hit is None:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Type", hit[0])
                self.send_header("Content-Length", str(len(hit[1])))
                self.end_headers()
                self.wfile.write(hit[1])

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def put(self, path: str, text: str, content_type: str = "text/html; charset=utf-8"):
        with self.lock:
            self.pages[path] = (content_type, text.encode("utf-8"))


@pytest.fixture
def site():
    site = Site()
    yield site
    site.server.shutdown()
    site.server.server_close()


@pytest.fixture
def page(browser, site):
    """A fresh page; at teardown, no console error and no request beyond 127.0.0.1/file://.
    (It holds the ``site``, which so outlives it: a polling page never sees it go away.)"""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.errors, page.requests = [], []
    page.on("console", lambda m: m.type == "error" and page.errors.append(m.text))
    page.on("pageerror", lambda e: page.errors.append(str(e)))
    page.on("request", lambda r: page.requests.append(r.url))
    yield page
    context.close()
    assert page.errors == [], f"console errors: {page.errors}"
    outside = [u for u in page.requests
               if not (u.startswith("file://") or u.startswith("data:")
                       or urlsplit(u).hostname == "127.0.0.1")]
    assert outside == [], f"requests leaving the machine: {outside}"
