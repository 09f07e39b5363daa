"""Stopping the grading service (JupyterHub sends SIGTERM) stops its worker processes too."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil
import pytest
from platform_fixture import ROOT, free_port, make_project

pytestmark = pytest.mark.slow


def test_sigterm_leaves_no_worker_behind(tmp_path: Path) -> None:
    project = make_project(tmp_path, [ROOT / "docs" / "exempelmodul"])
    port = free_port()
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["JUPYTERHUB_SERVICE_URL"] = f"http://127.0.0.1:{port}"
    env["JUPYTERHUB_API_TOKEN"] = "not-used-without-requests"
    log = tmp_path / "grading.log"
    with log.open("wb") as out:
        service = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "omsorgslyft.grading.service",
                f"--course-dir={project / 'grading'}",
                f"--modules-dir={project / 'modules'}",
                "--workers=2",
            ],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                reply = httpx.get(
                    f"http://127.0.0.1:{port}/services/grading/api/submissions/x", timeout=5
                )
                if reply.status_code == 401:
                    break
            except httpx.HTTPError:
                pass
            assert service.poll() is None, log.read_text(errors="replace")
            assert time.monotonic() < deadline, log.read_text(errors="replace")
            time.sleep(0.5)
        workers = psutil.Process(service.pid).children(recursive=True)
        assert len(workers) >= 2, "the service runs its grading workers as child processes"
        service.send_signal(signal.SIGTERM)
        service.wait(timeout=30)
        _gone, alive = psutil.wait_procs(workers, timeout=15)
        assert alive == [], f"workers left running: {[p.pid for p in alive]}"
        assert "grading service stopping" in log.read_text(errors="replace")
    finally:
        if service.poll() is None:
            os.killpg(service.pid, signal.SIGKILL)
            service.wait()
