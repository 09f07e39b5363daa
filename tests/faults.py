"""Helpers of the fault tests (tests/test_faults.py): find a process of the platform, kill
it with SIGKILL, wait for it to come back, restart the hub, and clean up what a killed
process left behind (its orphans).

Every process is found by its command line naming the test's own project folder, and every
kill is by pid.
"""

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
from platform_fixture import Platform, start_platform

from omsorgslyft.paths import Layout

#: the hub's managed services, by the module each runs
SERVICES = {
    "learn": "omsorgslyft.learn.app",
    "grading": "omsorgslyft.grading.service",
    "records": "omsorgslyft.records.service",
}


def home(platform: Platform) -> Path:
    """The platform's own folder (the project and its data are in it)."""
    return platform.project.parent


def places(platform: Platform) -> tuple[str, ...]:
    """Folders that only this platform's processes name on their command lines."""
    return (str(home(platform)), str(Layout(platform.data, platform.project).run_dir))


def _cmdline(proc: psutil.Process) -> list[str]:
    try:
        return list(proc.cmdline())
    except psutil.Error:
        return []


def service(platform: Platform, name: str) -> psutil.Process | None:
    """The running (not zombie) process of managed service ``name``, or None."""
    module = SERVICES[name]
    for proc in psutil.process_iter():
        cmdline = _cmdline(proc)
        if module in cmdline and any(str(platform.project) in arg for arg in cmdline):
            with contextlib.suppress(psutil.Error):
                if proc.status() != psutil.STATUS_ZOMBIE:
                    return proc
    return None


def ours(platform: Platform) -> list[psutil.Process]:
    """Every live process whose command line names this platform's folders."""
    out = []
    for proc in psutil.process_iter():
        cmdline = " ".join(_cmdline(proc))
        if any(place in cmdline for place in places(platform)):
            with contextlib.suppress(psutil.Error):
                if proc.status() != psutil.STATUS_ZOMBIE:
                    out.append(proc)
    return out


def kill9(proc: psutil.Process, what: str) -> list[psutil.Process]:
    """SIGKILL ``proc`` and wait until it is gone (or a zombie its parent has not reaped);
    returns its descendants as they were just before (see :func:`reap`)."""
    try:
        family = proc.children(recursive=True)
    except psutil.Error:
        family = []
    proc.send_signal(signal.SIGKILL)
    deadline = time.monotonic() + 15
    while True:
        try:
            if not proc.is_running() or proc.status() == psutil.STATUS_ZOMBIE:
                return family
        except psutil.NoSuchProcess:
            return family
        assert time.monotonic() < deadline, f"{what} ({proc.pid}) survived SIGKILL"
        time.sleep(0.05)


def survivors(family: list[psutil.Process]) -> list[psutil.Process]:
    """The processes of ``family`` still running (psutil checks that a pid is still the
    same process, by its start time)."""
    out = []
    for proc in family:
        with contextlib.suppress(psutil.Error):
            if proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE:
                out.append(proc)
    return out


def reap(family: list[psutil.Process]) -> int:
    """Kill (by pid) what of a killed process's ``family`` is still running; how many."""
    alive = survivors(family)
    for proc in alive:
        with contextlib.suppress(psutil.Error):
            proc.kill()
    psutil.wait_procs(alive, timeout=10)
    return len(alive)


def poll(check: Callable[[], object], seconds: float, what: str, every: float = 0.5) -> object:
    """``check()``'s first true value within ``seconds`` (HTTP errors count as not yet)."""
    deadline = time.monotonic() + seconds
    while True:
        with contextlib.suppress(httpx.HTTPError):
            value = check()
            if value:
                return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {seconds:.0f} s: {what}")
        time.sleep(every)


def learn_answers(platform: Platform) -> bool:
    reply = httpx.get(f"{platform.url}/services/learn/", timeout=5)
    return reply.status_code in (200, 302)


def grading_answers(platform: Platform) -> bool:
    url = f"http://127.0.0.1:{platform.grading_port}/services/grading/api/submissions/x"
    return httpx.get(url, timeout=5).status_code == 401


def records_answers(platform: Platform) -> bool:
    url = f"http://127.0.0.1:{platform.records_port}/services/records/api/records"
    return httpx.get(url, timeout=5).status_code in (302, 403)


ANSWERS = {"learn": learn_answers, "grading": grading_answers, "records": records_answers}


def wait_back(platform: Platform, name: str, old_pid: int, seconds: float = 180) -> int:
    """Wait until the hub has started service ``name`` again (a new pid) and it answers;
    returns the new pid."""

    def back() -> int:
        proc = service(platform, name)
        if proc is None or proc.pid == old_pid:
            return 0
        return proc.pid if ANSWERS[name](platform) else 0

    pid = poll(back, seconds, f"the hub restarts {name}")
    assert isinstance(pid, int)
    return pid


def orphans(platform: Platform) -> list[psutil.Process]:
    """This platform's processes that lost their parent (adopted by init)."""
    out = []
    for proc in ours(platform):
        with contextlib.suppress(psutil.Error):
            if proc.ppid() == 1:
                out.append(proc)
    return out


def kill_orphans(platform: Platform) -> list[str]:
    """Kill (by pid) what killed processes of this platform left running; returns what."""
    found = orphans(platform)
    names = []
    for proc in found:
        with contextlib.suppress(psutil.Error):
            names.append(" ".join(_cmdline(proc))[:120])
            proc.kill()
    psutil.wait_procs(found, timeout=10)
    return names


class Hub:
    """The platform's JupyterHub: killed with SIGKILL and started again with the same
    command, config and working folder (its output appended to the same log)."""

    def __init__(self, platform: Platform) -> None:
        self.platform = platform
        self.first = platform.pid
        self.restarted: subprocess.Popen[bytes] | None = None

    @property
    def config(self) -> Path:
        return self.platform.log.parent / "jupyterhub_config.py"

    def restart(self) -> int:
        env = dict(os.environ)
        env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
        with self.platform.log.open("ab") as out:
            self.restarted = subprocess.Popen(
                [str(Path(sys.executable).parent / "jupyterhub"), "-f", str(self.config)],
                cwd=self.platform.log.parent,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,
            )
        self.platform.pid = self.restarted.pid
        return self.restarted.pid

    def stop(self) -> None:
        """Stop a restarted hub as the fixture stops the first (SIGTERM to its group)."""
        proc = self.restarted
        if proc is None or proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def platform_with_hub(
    tmp: Path, module_dirs: list[Path], **kwargs: object
) -> Iterator[tuple[Platform, Hub]]:
    """:func:`platform_fixture.start_platform`, and a hub a test may kill and restart."""
    for platform in start_platform(tmp, module_dirs, **kwargs):  # type: ignore[arg-type]
        hub = Hub(platform)
        try:
            yield platform, hub
        finally:
            hub.stop()
            kill_orphans(platform)
