"""The commands: serve init, team add, challenge create|list|close, submit (against a live
server on 127.0.0.1), one-line errors."""

from __future__ import annotations

import re
import threading
import time

import numpy as np
import pytest
import uvicorn

from czbench.cli import main
from czbench.serve.app import create_app
from czbench.serve.worker import Worker
from tests.serve.conftest import free_port, random_embedding


def test_the_commands_run_a_challenge_end_to_end(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    data = tmp_path / "srv"
    where = ["--data", str(data)]
    assert main(["serve", "init", *where]) == 0
    out = capsys.readouterr().out
    assert re.search(r"admin token \(shown once\): czb_\S+", out)
    assert main(["serve", "init", *where]) == 0  # again: migrated, no second admin token
    assert "admin token" not in capsys.readouterr().out
    assert main(["team", "add", "gamma", *where]) == 0
    token = re.search(r"(czb_\S+)", capsys.readouterr().out).group(1)
    assert main(["team", "add", "gamma", *where]) == 2
    assert "already exists" in capsys.readouterr().err
    assert main(["challenge", "create", *where, "--dataset", "pbmc_3chemistries_symphony",
                 "--tasks", "clustering", "--hold-out", "cell_type,cell_type_broad",
                 "--max-cells", "150", "--seed", "2"]) == 0
    challenge = re.search(r"challenge (\w{16}) created", capsys.readouterr().out).group(1)
    assert main(["challenge", "list", *where]) == 0
    assert challenge in capsys.readouterr().out
    assert main(["challenge", "create", *where, "--dataset", "pbmc_3chemistries_symphony",
                 "--tasks", "clustering", "--hold-out", "no_such_column"]) == 2
    assert "hold_out" in capsys.readouterr().err

    url = f"sqlite:///{(data / 'serve.db').resolve()}"
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(url, data), host="127.0.0.1", port=port,
                                           log_level="warning"))
    serving = threading.Thread(target=server.run, daemon=True)
    serving.start()
    stop = threading.Event()
    worker = threading.Thread(target=Worker(url, data, poll_s=0.1).run,
                              kwargs={"stop": stop}, daemon=True)
    worker.start()
    try:
        while not server.started:
            time.sleep(0.05)
        n = int(re.search(r"(\d+) cells", _list_cells(data, challenge)).group(1))
        np.save(tmp_path / "mine.npy", random_embedding(n, 4))
        submit = ["submit", str(tmp_path / "mine.npy"), "--server", f"http://127.0.0.1:{port}",
                  "--challenge", challenge, "--token", token]
        assert main(submit) == 0
        out = capsys.readouterr().out
        assert "clustering/adjusted_rand_index" in out and "mean_control_normalized" in out
        assert main([*submit, "--no-wait"]) == 0  # the same file: its id, at no cost
        assert re.fullmatch(r"\s*\w{16}\n", capsys.readouterr().out)
        assert main([*submit[:-2], "--token", "czb_wrong"]) == 2
        assert "401" in capsys.readouterr().err
    finally:
        stop.set()
        server.should_exit = True
        serving.join(10)
        worker.join(30)
    assert main(["challenge", "close", challenge, *where]) == 0
    assert "closed" in capsys.readouterr().out


def _list_cells(data, challenge) -> str:
    from czbench.serve.admin import get_challenge
    from czbench.serve.migrate import make_engine, sessions

    with sessions(make_engine(f"sqlite:///{(data / 'serve.db').resolve()}"))() as session:
        return f"{get_challenge(session, challenge).n_cells} cells"


@pytest.mark.parametrize("argv, message", [
    (["submit", "nothing.npy", "--server", "http://127.0.0.1:9", "--challenge", "x",
      "--token", "t"], "does not exist"),
    (["serve", "init", "--db", "mysql://x"], "db: expected"),
])
def test_bad_input_is_one_line(argv, message, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
