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


def nice_of_every_thread(proc: psutil.Process) -> set[int]:
    """The nice value of each of the process's threads (Linux keeps one per thread)."""
    values = set()
    for task in Path(f"/proc/{proc.pid}/task").iterdir():
        with contextlib.suppress(OSError):
            # after the command's closing parenthesis: state is field 3, nice field 19
            fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
            values.add(int(fields[16]))
    return values


def test_grading_and_its_kernels_give_way_to_pages(tmp_path: Path) -> None:
    """The service, its workers, their kernels and every thread of them run at the nice
    value asked for; this process (as the learn service and its pages) keeps its own."""
    mine = os.getpriority(os.PRIO_PROCESS, 0)
    with grading_service(tmp_path, "--prestart=1", "--nice=12") as (service, port, log):
        me = psutil.Process(service.pid)
        tree: list[psutil.Process] = []

        def kernels_started() -> bool:
            tree[:] = [me, *me.children(recursive=True)]
            return sum("omsorgslyft.grading.gradekernel" in p.cmdline() for p in tree) >= 2

        wait_until(service, port, log, kernels_started)
        seen = {p.pid: nice_of_every_thread(p) for p in tree}
        assert len(seen) >= 5, "the service, two workers and a kernel of each"
        assert all(values == {12} for values in seen.values()), seen
        assert "running at nice 12" in log.read_text(errors="replace")
    assert os.getpriority(os.PRIO_PROCESS, 0) == mine == 0


def test_a_nice_value_out_of_range_is_refused() -> None:
    from omsorgslyft.priority import lower_priority

    with pytest.raises(ValueError):
        lower_priority(20)
    with pytest.raises(ValueError):
        lower_priority(-1)
    assert lower_priority(0) == os.getpriority(os.PRIO_PROCESS, 0)
