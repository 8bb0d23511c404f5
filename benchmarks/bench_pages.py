"""Page weight and time to first render of the pages (czbench/pages) in headless Chromium.

Scores the shipped PBMC dataset once (PCA at 10 and 30 components of its log-normalised
expression, the PCA baseline, the controls; clustering and embedding), writes its report
(``czbench report --html``) and a 1,000-row board whose rows cycle through the run's real
scores (20 teams), then measures: bytes of each page, the server-side render time, and in
Debian's Chromium (``chromium`` on the PATH, via Playwright) the first contentful paint and the
load event of each page served from 127.0.0.1 (median of 5 loads).

    python benchmarks/bench_pages.py
"""

from __future__ import annotations

import gzip
import shutil
import statistics
import sys
import tempfile
import threading
import time
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "pages"))
from pages_helpers import board_from_document  # noqa: E402
from sklearn.decomposition import PCA  # noqa: E402

import czbench.datasets as ds  # noqa: E402
from czbench.pages import render_leaderboard  # noqa: E402
from czbench.report import write_report  # noqa: E402
from czbench.run import benchmark  # noqa: E402

ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]


class Quiet(SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def run_document() -> dict:
    adata = ds.load("pbmc_3chemistries_symphony")
    x = adata.layers["lognorm_original"]
    x = x.toarray() if hasattr(x, "toarray") else np.asarray(x)
    pcs = PCA(30, random_state=0).fit_transform(x).astype(np.float32)
    return benchmark(adata, {"pca10": pcs[:, :10], "pca30": pcs, "pca": "baseline:pca"},
                     ["clustering", "embedding"], seed=0, controls=True)


def big_board(doc: dict, n_rows: int = 1000) -> dict:
    names = ["pca10", "pca30"]
    subs = [{"embedding": names[i % 2], "team": f"team-{i % 20:02d}", "name": f"sub-{i:04d}",
             "submitted_at": f"2026-12-{1 + i % 28:02d}T{i % 24:02d}:00:00Z"}
            for i in range(n_rows)]
    return board_from_document(doc, subs, ["pca", "control:shuffled", "control:random"])


def main() -> None:
    from playwright.sync_api import sync_playwright

    result = run_document()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        path = result.write_json(folder / "run.json")
        write_report([path], folder / "report", html_only=True)
        board = big_board(result.document)
        t0 = time.perf_counter()
        (folder / "board.html").write_text(render_leaderboard(board, poll_seconds=0))
        render_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        render_leaderboard(board, poll_seconds=0, figures=False)
        table_s = time.perf_counter() - t0
        server = ThreadingHTTPServer(("127.0.0.1", 0), partial(Quiet, directory=tmp))
        threading.Thread(target=server.serve_forever, daemon=True).start()
        base = f"http://127.0.0.1:{server.server_address[1]}"
        pages = {"report": "report/report.html", "board-1000": "board.html"}
        print(f"1,000-row board: rendered by czbench in {render_s:.2f} s "
              f"({table_s:.2f} s without the figures)")
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=shutil.which("chromium"), args=ARGS)
            for name, rel in pages.items():
                data = (folder / rel).read_bytes()
                size, packed = len(data), len(gzip.compress(data))
                paints, loads = [], []
                for _ in range(5):
                    page = browser.new_page(viewport={"width": 1280, "height": 900})
                    page.goto(f"{base}/{rel}", wait_until="load")
                    timing = page.evaluate("""() => new Promise(done => {
                        const n = performance.getEntriesByType('navigation')[0];
                        new PerformanceObserver((list, obs) => {
                          const p = list.getEntriesByName('first-contentful-paint')[0];
                          if (p) { obs.disconnect(); done([p.startTime, n.loadEventEnd]); }
                        }).observe({type: 'paint', buffered: true}); })""")
                    paints.append(timing[0])
                    loads.append(timing[1])
                    page.close()
                print(f"{name}: {size:,} bytes ({packed:,} gzipped); first contentful paint "
                      f"{statistics.median(paints):.0f} ms, load {statistics.median(loads):.0f} "
                      f"ms (median of 5)")
            browser.close()
        server.shutdown()


if __name__ == "__main__":
    main()
