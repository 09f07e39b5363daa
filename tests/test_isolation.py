"""Least privilege on the real platform: who can reach what, tried as each person would.

The hub runs as root (as the README's run command does) and starts each service, the
proxy and each trainer's JupyterLab as its own system user. A trainer runs code in their
own server and tries the stores, the reflections, the hub's files and a learner's kernel;
the learn user tries the answer keys.
"""

from __future__ import annotations

import asyncio
import json
import os
import pwd
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil
import pytest
import websockets
from platform_fixture import PASSWORD, TESTADMIN_TOKEN, Platform
from test_learning_security import _kernel_client, _run, open_module

from omsorgslyft.hub.users import SystemUsers
from omsorgslyft.paths import Layout

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(os.geteuid() != 0, reason="isolation needs the hub to run as root"),
]
USERS = SystemUsers()
ADMIN = {"Authorization": f"token {TESTADMIN_TOKEN}"}


def kernel_process(kernel_id: str) -> psutil.Process:
    for p in psutil.process_iter(["cmdline"]):
        if any(f"kernel-{kernel_id}" in part for part in p.info["cmdline"] or []):
            return p
    raise AssertionError(f"no process for kernel {kernel_id}")


def connection_file(kernel: psutil.Process) -> Path:
    """The kernel's connection file (``-f`` on its command line): in the learn user's
    private runtime dir."""
    cmdline = kernel.cmdline()
    path = Path(cmdline[cmdline.index("-f") + 1])
    folder = path.parent.stat()
    assert pwd.getpwuid(folder.st_uid).pw_name == USERS.learn and folder.st_mode & 0o777 == 0o700
    return path


def spawn(platform: Platform, user: str) -> str:
    """Start ``user``'s JupyterLab through the hub's API; returns its URL prefix."""
    api = f"{platform.url}/hub/api/users/{user}"
    reply = httpx.post(f"{api}/server", headers=ADMIN, timeout=120)
    assert reply.status_code in (201, 202, 400), reply.text  # 400: already running
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        model = httpx.get(api, headers=ADMIN).json()
        server = model["servers"].get("")
        if server and server["ready"]:
            return f"{platform.url}{server['url']}"
        time.sleep(0.5)
    raise AssertionError("the trainer's server did not start:\n" + platform.log.read_text()[-3000:])


def run_in_server(server: str, code: str) -> str:
    """Run ``code`` in a new kernel of a Jupyter server, as its owner would; its stdout."""
    kernel = httpx.post(f"{server}api/kernels", headers=ADMIN, json={}, timeout=60).json()
    url = server.replace("http", "ws") + f"api/kernels/{kernel['id']}/channels"

    async def run() -> str:
        msg_id = uuid.uuid4().hex
        out: list[str] = []
        async with websockets.connect(url, additional_headers=ADMIN, max_size=2**24) as ws:
            await ws.send(
                json.dumps(
                    {
                        "header": {
                            "msg_id": msg_id,
                            "msg_type": "execute_request",
                            "username": "test",
                            "session": uuid.uuid4().hex,
                            "version": "5.3",
                            "date": "",
                        },
                        "parent_header": {},
                        "metadata": {},
                        "content": {"code": code, "silent": False},
                        "channel": "shell",
                        "buffers": [],
                    }
                )
            )
            while True:
                msg = json.loads(await asyncio.wait_for(ws.recv(), 60))
                if msg["parent_header"].get("msg_id") != msg_id:
                    continue
                if msg["msg_type"] == "stream":
                    out.append(msg["content"]["text"])
                elif msg["msg_type"] == "error":
                    raise AssertionError("\n".join(msg["content"]["traceback"]))
                elif msg["msg_type"] == "execute_reply":
                    return "".join(out)

    try:
        return asyncio.run(run())
    finally:
        httpx.delete(f"{server}api/kernels/{kernel['id']}", headers=ADMIN)


PROBE = r"""
import json, os, pwd, socket, ipykernel.connect
targets = json.loads({targets!r})
out = {{"user": pwd.getpwuid(os.getuid()).pw_name, "uid": os.getuid()}}
def attempt(name, fn):
    try:
        fn()
        out[name] = "ok"
    except PermissionError:
        out[name] = "permission denied"
    except Exception as exc:
        out[name] = type(exc).__name__
for name, path in targets["read"].items():
    attempt(name, lambda path=path: open(path, "rb").read(1))
for name, path in targets["list"].items():
    attempt(name, lambda path=path: os.listdir(path))
for name, path in targets["write"].items():
    attempt(name, lambda path=path: open(path, "a").close())
def connect(path):
    s = socket.socket(socket.AF_UNIX)
    try:
        s.connect(path)
    finally:
        s.close()
for name, path in targets["connect"].items():
    attempt(name, lambda path=path: connect(path))
own = json.load(open(ipykernel.connect.get_connection_file()))
out["own kernel transport"] = own["transport"]
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def trainer_server(platform: Platform) -> Iterator[str]:
    server = spawn(platform, "tove")
    yield server
    httpx.delete(f"{platform.url}/hub/api/users/tove/server", headers=ADMIN, timeout=60)


def test_a_trainer_reaches_the_course_and_nothing_else(
    platform: Platform, trainer_server: str
) -> None:
    anna = platform.login("anna")
    _, kernel_id = open_module(anna)
    learner_kernel = kernel_process(kernel_id)
    info = json.loads(connection_file(learner_kernel).read_text())
    data, course = platform.data, platform.project / "grading"
    targets = {
        "read": {
            "answer store": data / "learn" / "learn.db",
            "records": data / "records" / "records.db",
            "hub database": data / "hub" / "jupyterhub.sqlite",
            "hub cookie secret": data / "hub" / "jupyterhub_cookie_secret",
            "learner kernel's connection file": connection_file(learner_kernel),
            "learner kernel's environment": f"/proc/{learner_kernel.pid}/environ",
            "answer key": course / "source" / "exempelmodul-v1-a" / "exempelmodul-v1-a.ipynb",
            "gradebook": course / "gradebook.db",
        },
        "list": {
            "learn runtime dir": connection_file(learner_kernel).parent,
            "hub dir": data / "hub",
            "records dir": data / "records",
            "course source": course / "source",
        },
        "write": {"course source": course / "source" / "utbildarens-anteckning.txt"},
        "connect": {
            "learner kernel's shell socket": f"{info['ip']}-{info['shell_port']}",
        },
    }
    code = PROBE.format(
        targets=json.dumps({k: {n: str(p) for n, p in v.items()} for k, v in targets.items()})
    )
    seen = json.loads(run_in_server(trainer_server, code))
    assert seen["user"] == USERS.trainer("tove") and seen["uid"] != 0, seen
    denied = "permission denied"
    out_of_reach = [
        "answer store",  # the reflections live there
        "records",
        "hub database",
        "hub cookie secret",
        "learner kernel's connection file",
        "learner kernel's environment",
        "learner kernel's shell socket",
        "learn runtime dir",
        "hub dir",
        "records dir",
    ]
    assert {name: seen[name] for name in out_of_reach} == dict.fromkeys(out_of_reach, denied)
    # ... and the course is theirs: the source, the gradebook, new material
    theirs = ["answer key", "gradebook", "course source"]
    assert {name: seen[name] for name in theirs} == dict.fromkeys(theirs, "ok")
    assert seen["own kernel transport"] == "ipc"


def test_a_learners_kernel_is_not_root_and_holds_no_hub_token(platform: Platform) -> None:
    _, kernel_id = open_module(platform.login("bengt"))
    kernel = kernel_process(kernel_id)
    assert json.loads(connection_file(kernel).read_text())["transport"] == "ipc"
    assert kernel.username() == USERS.learn
    assert kernel.uids().effective != 0
    environ = Path(f"/proc/{kernel.pid}/environ").read_bytes().split(b"\0")
    names = {item.split(b"=", 1)[0].decode() for item in environ if item}
    assert not {n for n in names if n.startswith("JUPYTERHUB")}, names
    assert all(b"token" not in item.lower() for item in environ)


def run_as(user: str, code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            "setpriv",
            f"--reuid={user}",
            f"--regid={user}",
            "--init-groups",
            "--",
            sys.executable,
            "-c",
            code,
        ],
        capture_output=True,
        text=True,
        check=False,
    )


def test_the_learn_user_cannot_read_the_answer_keys(platform: Platform) -> None:
    source = (
        platform.project / "grading" / "source" / "exempelmodul-v1-a" / "exempelmodul-v1-a.ipynb"
    )
    module = platform.project / "modules" / "exempelmodul" / "module.md"
    release = platform.project / "grading" / "release" / "exempelmodul" / "exempelmodul.ipynb"
    assert source.is_file() and module.is_file()
    for path in (source, module):
        done = run_as(USERS.learn, f"open({str(path)!r}).read()")
        assert "PermissionError" in done.stderr, (path, done.stderr)
    # the released notebook (no key) is what the learn service reads
    assert run_as(USERS.learn, f"open({str(release)!r}).read()").returncode == 0


def test_each_service_runs_as_its_own_user(platform: Platform) -> None:
    hub = psutil.Process(platform.pid)
    owners = {" ".join(child.cmdline()): child.username() for child in hub.children(recursive=True)}

    def owner(part: str) -> set[str]:
        return {user for cmd, user in owners.items() if part in cmd}

    assert owner("omsorgslyft.learn.app") == {USERS.learn}
    assert owner("omsorgslyft.grading.service") == {USERS.grading}
    assert owner("omsorgslyft.records.service") == {USERS.records}
    assert owner("configurable-http-proxy") == {USERS.proxy}
    assert hub.username() == "root"
    for folder, user, mode in (
        (platform.data / "hub", "root", 0o700),
        (Layout(platform.data, platform.project).runtime_dir, USERS.learn, 0o700),
        (platform.data / "records", USERS.records, 0o700),
    ):
        info = folder.stat()
        assert pwd.getpwuid(info.st_uid).pw_name == user, folder
        assert info.st_mode & 0o777 == mode, folder


def test_no_kernel_port_is_open_to_other_users(platform: Platform) -> None:
    """IPC transport: a learner's kernel listens on no TCP port for its channels. The one
    TCP listener left is ipykernel's IOPub pipe for forked subprocesses, which drops every
    message without the kernel's random 16-byte key."""
    _, kernel_id = open_module(platform.login("cecilia"))
    kernel = kernel_process(kernel_id)
    tcp = {c.laddr.port for c in kernel.net_connections(kind="tcp") if c.status == "LISTEN"}
    assert socket.AF_UNIX in {c.family for c in kernel.net_connections(kind="unix")}
    kc = _kernel_client(platform, kernel_id)  # as root, through the connection file
    try:
        pipe = _run(
            kc,
            "from ipykernel.kernelapp import IPKernelApp\n"
            "print(IPKernelApp.instance().iopub_thread._pipe_port)",
        )
    finally:
        kc.stop_channels()
    assert tcp <= {int(pipe)}


def test_the_hubs_cookies_are_samesite(platform: Platform) -> None:
    with platform.client() as client:
        page = client.get("/hub/login")
        reply = client.post(
            "/hub/login",
            data={"username": "david", "password": PASSWORD, "_xsrf": client.cookies["_xsrf"]},
        )
        cookies = page.headers.get_list("set-cookie") + reply.headers.get_list("set-cookie")
    assert any(c.startswith("jupyterhub-session-id") or "hub" in c for c in cookies), cookies
    assert cookies and all("samesite=lax" in c.lower() for c in cookies), cookies
