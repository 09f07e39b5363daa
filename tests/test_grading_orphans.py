"""A grading service killed with SIGKILL leaves no worker process and no kernel behind."""

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


def test_sigkill_of_the_service_leaves_no_worker_or_kernel(tmp_path: Path) -> None:
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
                "--prestart=1",
            ],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    survivors: list[psutil.Process] = []
    try:
        deadline = time.monotonic() + 120
        me = psutil.Process(service.pid)
        while True:
            try:
                up = (
                    httpx.get(
                        f"http://127.0.0.1:{port}/services/grading/api/submissions/x", timeout=5
                    ).status_code
                    == 401
                )
            except httpx.HTTPError:
                up = False
            tree = me.children(recursive=True)
            kernels = [p for p in tree if "omsorgslyft.grading.gradekernel" in p.cmdline()]
            if up and len(kernels) >= 2:  # both workers and a kernel of each
                break
            assert service.poll() is None, log.read_text(errors="replace")
            assert time.monotonic() < deadline, log.read_text(errors="replace")
            time.sleep(0.5)
        survivors = tree
        os.kill(service.pid, signal.SIGKILL)
        service.wait(timeout=10)
        _gone, alive = psutil.wait_procs(tree, timeout=10)
        assert alive == [], f"left running: {[(p.pid, p.cmdline()[:4]) for p in alive]}"
    finally:
        if service.poll() is None:
            os.killpg(service.pid, signal.SIGKILL)
            service.wait()
        for p in survivors:
            if p.is_running():
                p.kill()
