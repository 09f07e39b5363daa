"""Start the real platform for tests: JupyterHub, configurable-http-proxy, learn, grading.

A test project (modules copied into a temporary folder, built with nbgrader) and a hub
config that calls ``omsorgslyft.hub.settings.apply`` with free loopback ports. The hub is
polled until the learn service answers, and stopped (with its services) afterwards.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx

from omsorgslyft.grading.build import build_modules
from omsorgslyft.paths import Layout

ROOT = Path(__file__).resolve().parents[1]
PASSWORD = "omsorg-demo-2026"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
#: a test-only hub service that starts trainers' servers and talks to them
TESTADMIN_TOKEN = "testadmin-token-0123456789abcdef01"
CHP = ROOT / "hub_config" / "node_modules" / ".bin" / "configurable-http-proxy"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Platform:
    url: str
    project: Path
    data: Path
    log: Path
    learn_port: int
    grading_port: int
    pid: int = 0
    records_port: int = 0
    #: the ports of learn shards 1, 2, ... (omsorgslyft.learn.shards)
    shard_ports: tuple[int, ...] = ()

    @property
    def learn_db(self) -> Path:
        return self.data / "learn" / "learn.db"

    @property
    def records_db(self) -> Path:
        return self.data / "records" / "records.db"

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, follow_redirects=False, timeout=60)

    def login(self, user: str, password: str = PASSWORD) -> httpx.Client:
        """An HTTP client logged in as ``user`` (hub cookie and learn-service OAuth cookie)."""
        client = httpx.Client(base_url=self.url, follow_redirects=True, timeout=60)
        page = client.get("/hub/login")
        xsrf = re.search(r'name="_xsrf" value="([^"]+)"', page.text)
        data = {"username": user, "password": password}
        if xsrf:
            data["_xsrf"] = xsrf.group(1)
        reply = client.post("/hub/login", data=data)
        assert reply.status_code == 200, reply.text[:500]
        # each person lands where their work is (omsorgslyft.hub.roles.landing)
        assert "/services/" in str(reply.url), reply.url
        if "/services/learn/" not in str(reply.url):
            # the learn service's OAuth cookie too, as a learner's landing gives it
            assert client.get("/services/learn/").status_code == 200
        return client


CONFIG = """
from pathlib import Path
from omsorgslyft.hub.isolation import prepare
from omsorgslyft.hub.settings import HubSettings, apply
apply(c, prepare(HubSettings(
    project_root=Path({project!r}),
    data_dir=Path({data!r}),
    port={port}, hub_port={hub_port}, learn_port={learn_port}, grading_port={grading_port},
    records_port={records_port},{settings}
    proxy_command=({chp!r},),
    kernel_idle_minutes={idle}, kernel_cull_interval=3,
)))
c.ConfigurableHTTPProxy.api_url = "http://127.0.0.1:{proxy_api}"
# tests start trainers' servers and use them as their owner would
c.JupyterHub.services.append({{"name": "testadmin", "api_token": {testadmin!r}}})
c.JupyterHub.load_roles.append({{"name": "testadmin", "services": ["testadmin"],
    "scopes": ["admin:users", "admin:servers", "access:servers"]}})
"""


def make_project(
    tmp: Path,
    module_dirs: list[Path],
    courses: dict[str, str] | None = None,
    gradebook_url: str = "",
) -> Path:
    project = tmp / "project"
    for folder in module_dirs:
        shutil.copytree(folder, project / "modules" / folder.name)
    shutil.copytree(
        ROOT / "hub_config" / "templates", project / "hub_config" / "templates", dirs_exist_ok=True
    )
    (project / "courses").mkdir(parents=True, exist_ok=True)
    for name, text in (courses or {}).items():
        (project / "courses" / f"{name}.toml").write_text(text, encoding="utf-8")
    (project / "grading").mkdir()
    shutil.copy(ROOT / "grading" / "nbgrader_config.py", project / "grading" / "nbgrader_config.py")
    build_modules([project / "modules"], project, project / "grading", gradebook_url=gradebook_url)
    return project


def start_platform(
    tmp: Path,
    module_dirs: list[Path],
    idle_minutes: float = 0.2,
    extra_config: str = "",
    courses: dict[str, str] | None = None,
    roster: Path | None = None,
    learn_shards: int = 1,
    settings: str = "",
    gradebook_url: str = "",
) -> Iterator[Platform]:
    """``settings``: more ``HubSettings`` arguments, as Python source (``"store_url=..."``);
    ``gradebook_url``: nbgrader's gradebook elsewhere than the course's SQLite file (the
    modules are built into it, and the services use it)."""
    # as root the services run as their own users (omsorgslyft.hub.isolation), who cannot
    # pass pytest's private temporary folder: the project and its data live in a folder
    # of their own that others may pass through (but not list)
    home = Path(tempfile.mkdtemp(prefix="omsorgslyft-platform-"))
    home.chmod(0o711)
    try:
        yield from _start_platform(
            tmp,
            home,
            module_dirs,
            idle_minutes,
            extra_config,
            courses,
            roster,
            learn_shards,
            settings,
            gradebook_url,
        )
    finally:
        shutil.rmtree(Layout(home / "var", home / "project").run_dir, ignore_errors=True)
        shutil.rmtree(home, ignore_errors=True)


def _start_platform(
    tmp: Path,
    home: Path,
    module_dirs: list[Path],
    idle_minutes: float,
    extra_config: str,
    courses: dict[str, str] | None,
    roster: Path | None,
    learn_shards: int = 1,
    settings: str = "",
    gradebook_url: str = "",
) -> Iterator[Platform]:
    project = make_project(home, module_dirs, courses, gradebook_url)
    if gradebook_url:
        settings = ", ".join(filter(None, [f"gradebook_url={gradebook_url!r}", settings]))
    data = home / "var"
    (data / "records").mkdir(parents=True)
    if roster is not None:
        subprocess.run(
            [
                str(Path(sys.executable).parent / "omsorgslyft"),
                f"--root={project}",
                "roster",
                "import",
                str(roster),
                f"--db-url=sqlite:///{data / 'records' / 'records.db'}",
            ],
            check=True,
            capture_output=True,
        )
    ports = {
        name: free_port()
        for name in (
            "port",
            "hub_port",
            "learn_port",
            "grading_port",
            "records_port",
            "proxy_api",
        )
    }
    shard_ports = tuple(free_port() for _ in range(learn_shards - 1))
    if learn_shards > 1:
        settings = f"learn_shards={learn_shards}, learn_shard_ports={shard_ports!r}, {settings}"
    config = tmp / "jupyterhub_config.py"
    config.write_text(
        CONFIG.format(
            settings=f"\n    {settings}," if settings else "",
            project=str(project),
            data=str(data),
            chp=str(CHP),
            idle=idle_minutes,
            testadmin=TESTADMIN_TOKEN,
            **ports,
        )
        + extra_config,
        encoding="utf-8",
    )
    log = tmp / "hub.log"
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [str(Path(sys.executable).parent / "jupyterhub"), "-f", str(config)],
            cwd=tmp,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
    platform = Platform(
        f"http://127.0.0.1:{ports['port']}",
        project,
        data,
        log,
        ports["learn_port"],
        ports["grading_port"],
        proc.pid,
        ports["records_port"],
        shard_ports,
    )
    try:
        deadline = time.monotonic() + 120
        while True:
            if proc.poll() is not None:
                raise RuntimeError("the hub exited:\n" + log.read_text(errors="replace")[-5000:])
            try:
                learn = httpx.get(f"{platform.url}/services/learn/", timeout=5)
                grading = httpx.get(
                    f"http://127.0.0.1:{ports['grading_port']}/services/grading/api/submissions/x",
                    timeout=5,
                )
                records = httpx.get(
                    f"http://127.0.0.1:{ports['records_port']}/services/records/api/records",
                    timeout=5,
                )
                shards = [
                    httpx.get(f"http://127.0.0.1:{port}/services/learn-{k}/", timeout=5).status_code
                    for k, port in enumerate(shard_ports, start=1)
                ]
                if (
                    learn.status_code in (302, 200)
                    and all(code in (302, 200) for code in shards)
                    and grading.status_code == 401
                    and records.status_code in (302, 403)
                ):
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(
                    "the platform did not start:\n" + log.read_text(errors="replace")[-5000:]
                )
            time.sleep(0.5)
        yield platform
    finally:
        with contextlib.suppress(ProcessLookupError):  # the hub may have exited already
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        _stop_strays(platform.url, (str(home), str(Layout(data, project).run_dir)))


def _stop_strays(url: str, places: tuple[str, ...] = ()) -> None:
    """Anything of ours still serving this platform's port (a proxy the hub left behind),
    or still running from its folders (services and kernels of a hub that was killed)."""
    import psutil

    port = url.rsplit(":", 1)[1]
    for p in psutil.process_iter(["cmdline"]):
        cmdline = " ".join(p.info["cmdline"] or [])
        proxy = "configurable-http-proxy" in cmdline and f"--port {port}" in cmdline
        if proxy or any(place in cmdline for place in places):
            with contextlib.suppress(psutil.Error):
                p.kill()
