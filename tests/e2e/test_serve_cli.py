"""``ragline serve`` as a user runs it: a subprocess on a free port, stopped by a signal."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import httpx

from tests.constants import RAGLINE
from tests.e2e.harness import run_ragline


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def test_serve_answers_and_stops_cleanly_on_a_signal(tmp_path: Path) -> None:
    port = _free_port()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "RAGLINE_HOME": str(tmp_path / "home")}
    process = subprocess.Popen([*RAGLINE, "serve", "--port", str(port)], cwd=tmp_path, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, process.communicate()
            try:
                if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "ragline serve did not start"
            time.sleep(0.1)
        ready = httpx.get(f"{url}/ready", timeout=60)
        assert ready.status_code == 200 and ready.json()["status"] == "ready"
        missing = httpx.get(f"{url}/api/sessions/nope", timeout=10)
        assert missing.status_code == 404
        assert missing.json()["error"]["type"] == "SessionNotFound"
    finally:
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=30)
    assert process.returncode == 0, err
    assert "Traceback" not in err


def test_serve_refuses_several_workers_over_an_embedded_index(tmp_path: Path) -> None:
    done = run_ragline(["serve", "--workers", "2", "--port", str(_free_port())], tmp_path)
    assert done.returncode == 2
    assert "index.transport: client" in done.stderr and "Traceback" not in done.stderr


def test_serve_refuses_several_workers_over_an_in_memory_index(tmp_path: Path) -> None:
    done = run_ragline(["serve", "--workers", "2", "--port", str(_free_port())], tmp_path,
                       RAGLINE_INDEX__TRANSPORT="client", RAGLINE_INDEX__URL=":memory:")
    assert done.returncode == 2
    assert "':memory:'" in done.stderr and "Traceback" not in done.stderr
