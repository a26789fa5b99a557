"""lit's fork server (test/forkserver.py) gives what the installed tools give: the same stdout,
stderr and exit status, stdin read through, files written in the caller's directory; and a
client that finds no server runs the installed tool itself."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import REPO

sys.path.insert(0, str(REPO / "test"))
import forkserver  # noqa: E402

BIN = Path(sys.executable).parent


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """A running server and its clients' folder."""
    where = tmp_path_factory.mktemp("fork")
    sock = str(where / "server")
    server = subprocess.Popen(
        [sys.executable, str(REPO / "test" / "forkserver.py"), sock],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 120
    while not os.path.exists(sock) and server.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert os.path.exists(sock), "the fork server did not start"
    forkserver.install_clients(str(where), str(BIN), sock)
    yield where
    server.terminate()
    server.wait(10)


def _both(where: Path, argv: list[str], cwd: Path, stdin: str = ""):  # noqa: ANN202
    """The same command through the client and through the installed tool."""
    out = []
    for folder in (where, BIN):
        done = subprocess.run(
            [str(folder / argv[0]), *argv[1:]],
            input=stdin,
            capture_output=True,
            text=True,
            cwd=cwd,
            timeout=120,
        )
        out.append((done.returncode, done.stdout, done.stderr))
    return out


def test_a_bad_input_gives_the_same_line_and_status(served, tmp_path):
    served_run, real = _both(served, ["xcompass", "import", "--model", "llama-9000"], tmp_path)
    assert served_run == real
    assert real[0] != 0 and real[2].count("\n") == 1 and "llama-9000" in real[2]


def test_a_pipeline_reads_stdin_and_writes_in_the_caller_s_folder(served, tmp_path):
    module = subprocess.run(
        [
            str(BIN / "xcompass"),
            "import",
            "--model",
            "llama3-8b",
            "--layers",
            "1",
            "--target",
            "simba-36",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    argv = ["xcompass-opt", "-p", "llm-partition{strategy=pipeline},map-cost{report=r.json}"]
    served_run, real = _both(served, [*argv, "-o", "out.mlir"], tmp_path, stdin=module)
    assert served_run == real and real[0] == 0
    assert "map.mapping" in (tmp_path / "out.mlir").read_text()
    assert (tmp_path / "r.json").stat().st_size > 0


def test_usage_errors_name_the_tool_as_the_installed_script_does(served, tmp_path):
    served_run, real = _both(served, ["xcompass", "no-such-command"], tmp_path)
    assert served_run == real and real[0] == 2 and "xcompass" in real[2]


def test_filecheck_reports_a_failed_check_the_same_way(served, tmp_path):
    checks = tmp_path / "checks.txt"
    checks.write_text("// CHECK: first\n// CHECK-NEXT: third\n")
    served_run, real = _both(served, ["filecheck", str(checks)], tmp_path, "first\nsecond\n")
    assert served_run == real and real[0] == 1 and "third" in real[2]
    served_run, real = _both(served, ["filecheck", str(checks)], tmp_path, "first\nthird\n")
    assert served_run == real == (0, "", "")


def test_a_client_without_its_server_runs_the_installed_tool(tmp_path):
    forkserver.install_clients(str(tmp_path), str(BIN), str(tmp_path / "no-server"))
    done = subprocess.run(
        [str(tmp_path / "xcompass"), "models"], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0 and "llama3-8b" in done.stdout
