"""The grading service's worker processes and their kernels go with the service: when
JupyterHub stops it (SIGTERM), and when it is killed (SIGKILL: nothing can clean up)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import psutil
import pytest
from platform_fixture import ROOT, free_port, make_project

pytestmark = pytest.mark.slow


@contextlib.contextmanager
def grading_service(
    tmp_path: Path, *options: str
) -> Iterator[tuple[subprocess.Popen[bytes], int, Path]]:
    """A real grading service on a free port, as the hub starts it; killed afterwards."""
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
                *options,
            ],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        yield service, port, log
    finally:
        if service.poll() is None:
            os.killpg(service.pid, signal.SIGKILL)
            service.wait()


def wait_until(
    service: subprocess.Popen[bytes], port: int, log: Path, ready: Callable[[], bool]
) -> None:
    """Until the service answers (401 without a token) and ``ready()`` says so."""
    deadline = time.monotonic() + 120
    while True:
        try:
            reply = httpx.get(
                f"http://127.0.0.1:{port}/services/grading/api/submissions/x", timeout=5
            )
            if reply.status_code == 401 and ready():
                return
        except httpx.HTTPError:
            pass
        assert service.poll() is None, log.read_text(errors="replace")
        assert time.monotonic() < deadline, log.read_text(errors="replace")
        time.sleep(0.5)


def test_sigterm_leaves_no_worker_behind(tmp_path: Path) -> None:
    with grading_service(tmp_path) as (service, port, log):
        wait_until(service, port, log, lambda: True)
        workers = psutil.Process(service.pid).children(recursive=True)
        assert len(workers) >= 2, "the service runs its grading workers as child processes"
        service.send_signal(signal.SIGTERM)
        service.wait(timeout=30)
        _gone, alive = psutil.wait_procs(workers, timeout=15)
        assert alive == [], f"workers left running: {[p.pid for p in alive]}"
        assert "grading service stopping" in log.read_text(errors="replace")


def test_sigkill_of_the_service_leaves_no_worker_or_kernel(tmp_path: Path) -> None:
    tree: list[psutil.Process] = []
    with grading_service(tmp_path, "--prestart=1") as (service, port, log):
        me = psutil.Process(service.pid)

        def workers_and_kernels() -> bool:
            tree[:] = me.children(recursive=True)
            kernels = [p for p in tree if "omsorgslyft.grading.gradekernel" in p.cmdline()]
            return len(kernels) >= 2  # both workers and a kernel of each

        try:
            wait_until(service, port, log, workers_and_kernels)
            os.kill(service.pid, signal.SIGKILL)
            service.wait(timeout=10)
            _gone, alive = psutil.wait_procs(tree, timeout=10)
            assert alive == [], f"left running: {[(p.pid, p.cmdline()[:4]) for p in alive]}"
        finally:
            for p in tree:
                with contextlib.suppress(psutil.Error):
                    p.kill()
