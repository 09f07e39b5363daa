"""The learn service's limits, as a learner or an attacker meets them on the real platform.

Kernels hold no hub token and listen only on unix sockets in a private folder; a learner
keeps at most three module kernels; oversized websocket messages and request bodies are
refused before they are read; page tokens expire; pages carry a Content-Security-Policy,
``no-store`` and SameSite cookies.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import socket
import stat
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import psutil
import pytest
import websockets
from jupyter_client.blocking.client import BlockingKernelClient
from platform_fixture import ROOT, Platform, start_platform
from sqlalchemy import select, update
from test_learning_security import cookie_header, message, ws_url

from omsorgslyft.authoring import load_module
from omsorgslyft.learn.store import AnswerStore, PageSession, page_session

pytestmark = pytest.mark.slow
EXAMPLE = load_module(ROOT / "docs" / "exempelmodul")
RIGHT = EXAMPLE.graded_questions[0].options[0].id  # an answer to k-enkel (any option will do)
MODULE = "/services/learn/modul/exempelmodul"


# -- helpers -------------------------------------------------------------------------------


def open_module(client: httpx.Client) -> tuple[httpx.Response, str]:
    """Render the example module; returns the response and the page's kernel id."""
    page = client.get(MODULE)
    assert page.status_code == 200, page.text[:300]
    config = re.search(
        r'id="jupyter-config-data" type="application/json">(.*?)</script>', page.text, re.S
    )
    assert config is not None
    return page, json.loads(config.group(1))["kernelId"]


def kernel_process(kernel_id: str) -> psutil.Process | None:
    """The kernel's process, found by its connection file on the command line."""
    for proc in psutil.process_iter(["cmdline"]):
        if any(arg.endswith(f"kernel-{kernel_id}.json") for arg in proc.info["cmdline"] or []):
            return proc
    return None


def connection_file(proc: psutil.Process) -> Path:
    cmdline = proc.cmdline()
    return Path(cmdline[cmdline.index("-f") + 1])


def wait_gone(kernel_id: str, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if kernel_process(kernel_id) is None:
            return True
        time.sleep(0.5)
    return kernel_process(kernel_id) is None


def run_in_kernel(kernel_id: str, code: str) -> str:
    """Run code in a page's kernel from the server side (as the operator could)."""
    proc = kernel_process(kernel_id)
    assert proc is not None
    kc = BlockingKernelClient()
    kc.load_connection_file(str(connection_file(proc)))
    kc.start_channels()
    try:
        kc.wait_for_ready(timeout=30)
        msg_id = kc.execute(code)
        out, error = [], None
        while True:
            msg = kc.get_iopub_msg(timeout=30)
            if msg["parent_header"].get("msg_id") != msg_id:
                continue
            if msg["msg_type"] == "stream":
                out.append(msg["content"]["text"])
            elif msg["msg_type"] == "error":
                error = msg["content"]["ename"]
            elif msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
                break
        assert error is None, error
        return "".join(out)
    finally:
        kc.stop_channels()


def page_token(kernel_id: str) -> str:
    """The capability token the page's kernel holds."""
    return run_in_kernel(
        kernel_id, "import omsorgslyft.runtime as ol\nprint(ol.session.store.token)"
    ).strip()


def page_api(platform: Platform, action: str, token: str, body: object = None) -> httpx.Response:
    return httpx.post(
        f"http://127.0.0.1:{platform.learn_port}/services/learn/api/page/{action}",
        json=body or {},
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )


def store(platform: Platform) -> AnswerStore:
    return AnswerStore(f"sqlite:///{platform.learn_db}")


def learn_process(platform: Platform) -> psutil.Process:
    for proc in psutil.process_iter(["cmdline"]):
        cmdline = proc.info["cmdline"] or []
        if "omsorgslyft.learn.app" in cmdline and any(
            str(platform.project) in arg for arg in cmdline
        ):
            return proc
    raise AssertionError("no learn service")


# -- kernels -------------------------------------------------------------------------------


def test_kernel_holds_no_hub_token_and_listens_on_private_unix_sockets(
    platform: Platform,
) -> None:
    _, kernel_id = open_module(platform.login("cecilia"))
    proc = kernel_process(kernel_id)
    assert proc is not None
    service = proc.parent()
    assert service is not None
    service_env = service.environ()
    hub_token = service_env["JUPYTERHUB_API_TOKEN"]
    assert hub_token  # the service has one ...

    environ = Path(f"/proc/{proc.pid}/environ").read_bytes()
    names = {entry.split(b"=", 1)[0].decode() for entry in environ.split(b"\0") if entry}
    assert not {n for n in names if n.startswith("JUPYTERHUB_")}, names
    assert "JPY_API_TOKEN" not in names
    assert hub_token.encode() not in environ  # ... its kernels do not, under any name
    assert "PATH" in names  # and they still have what they need

    # the channels are unix sockets next to the connection file, in folders of the
    # service's own user alone
    conn_file = connection_file(proc)
    info = json.loads(conn_file.read_text())
    assert info["transport"] == "ipc"
    assert Path(info["ip"]).parent == conn_file.parent
    for name in ("shell_port", "iopub_port", "stdin_port", "control_port", "hb_port"):
        assert stat.S_ISSOCK(os.stat(f"{info['ip']}-{info[name]}").st_mode)
    for folder in (conn_file.parent, conn_file.parent.parent):
        mode = folder.stat()
        assert stat.S_IMODE(mode.st_mode) & 0o077 == 0, folder
        assert mode.st_uid == service.uids().effective
    # no channel listens on TCP; what is left is ipykernel's pipe for forked subprocesses'
    # output (loopback, each message must start with a random id)
    listening = [c for c in proc.net_connections(kind="inet") if c.status == psutil.CONN_LISTEN]
    assert len(listening) <= 1 and all(c.laddr.ip == "127.0.0.1" for c in listening)

    # the page still works over them: the kernel loads and saves through its token
    assert page_api(platform, "load", page_token(kernel_id)).status_code == 200

    if service.uids().effective != 0:
        # code in a kernel cannot read the service's environment through /proc either
        denied = run_in_kernel(
            kernel_id,
            "import os\ntry:\n    open(f'/proc/{os.getppid()}/environ', 'rb').read()\n"
            "    print('read')\nexcept PermissionError:\n    print('denied')",
        )
        assert denied.strip() == "denied"


def test_a_learner_keeps_at_most_three_module_kernels(platform: Platform) -> None:
    learner = "hanna"
    client = platform.login(learner)
    _, first = open_module(client)
    # an answer on the first page, saved the way the page saves it (acknowledged)
    first_token = page_token(first)
    run_in_kernel(
        first,
        f"import omsorgslyft.runtime as ol\nol.session.store.save('svar', 'k-enkel', {RIGHT!r})",
    )
    kernels = [first] + [open_module(client)[1] for _ in range(5)]
    assert len(set(kernels)) == 6
    for old in kernels[:3]:
        assert wait_gone(old, 10), old
    alive = [k for k in kernels if kernel_process(k) is not None]
    assert alive == kernels[3:]
    # the stopped page's token opens nothing any more; the answer is kept
    assert page_api(platform, "load", first_token).status_code == 401
    saved = store(platform).load(PageSession(learner, "exempelmodul", EXAMPLE.version))
    assert saved["svar"]["k-enkel"] == RIGHT
    reply = page_api(platform, "load", page_token(kernels[-1]))
    assert reply.json()["state"]["svar"]["k-enkel"] == RIGHT


#: seconds one of six pages opened at once may take, all told (httpx's read timeout starts
#: again with every chunk, and Voilà sends a heartbeat every 10 s: it never fires)
PAGE_DEADLINE = 150.0


def test_many_pages_at_once_start_no_more_kernels(platform: Platform) -> None:
    client = platform.login("tove")
    service = learn_process(platform).pid

    def kernels() -> set[int]:
        return {p.pid for p in psutil.process_iter(["ppid"]) if p.info["ppid"] == service}

    async def page(many: httpx.AsyncClient, n: int) -> httpx.Response:
        started = time.monotonic()
        try:
            return await asyncio.wait_for(many.get(MODULE), PAGE_DEADLINE)
        except TimeoutError:
            raise AssertionError(
                f"page {n} of 6 was still open after {time.monotonic() - started:.0f} s"
            ) from None

    async def burst() -> list[httpx.Response | BaseException]:
        cookies = {c.name: c.value or "" for c in client.cookies.jar}
        async with httpx.AsyncClient(
            base_url=platform.url, cookies=cookies, follow_redirects=True, timeout=60
        ) as many:
            return await asyncio.gather(
                *(page(many, n) for n in range(1, 7)), return_exceptions=True
            )

    before = kernels()
    peak = 0

    async def main() -> list[httpx.Response | BaseException]:
        nonlocal peak
        job = asyncio.create_task(burst())
        while not job.done():
            peak = max(peak, len(kernels() - before))
            await asyncio.sleep(0.1)
        return await job

    replies = asyncio.run(main())
    failed = [f"page {n}: {r!r}" for n, r in enumerate(replies, 1) if isinstance(r, BaseException)]
    assert not failed, failed
    pages = [r for r in replies if isinstance(r, httpx.Response)]
    # every page ended, whole: rendered, or closed with a note (its kernel was stopped for
    # a newer page before it had been rendered)
    assert [r.status_code for r in pages] == [200] * 6, [
        (r.status_code, r.text[-300:]) for r in pages
    ]
    for reply in pages:
        assert reply.text.rstrip().endswith("</html>"), reply.text[-300:]
        assert "jupyter-config-data" in reply.text or 'id="ol-closed"' in reply.text
    time.sleep(1)
    assert len(kernels() - before) <= 3
    assert peak <= 3  # the oldest is stopped before the next one starts


@pytest.mark.parametrize("case", ["open to others", "too deep for sockets"])
def test_the_service_refuses_an_unsafe_runtime_dir(tmp_path: Path, case: str) -> None:
    runtime = tmp_path / "runtime"
    if case == "open to others":
        runtime.mkdir(mode=0o755)
        runtime.chmod(0o755)
    else:
        runtime = tmp_path.joinpath(*["d" * 20] * 5) / "runtime"
    (tmp_path / "release").mkdir()
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "omsorgslyft.learn.app",
            f"--LearnApp.release_dir={tmp_path / 'release'}",
            f"--LearnApp.store_url=sqlite:///{tmp_path / 'learn.db'}",
            f"--LearnApp.runtime_dir={runtime}",
            "--port=0",
            "--no-browser",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        env={k: v for k, v in os.environ.items() if not k.startswith("JUPYTERHUB_")},
    )
    assert done.returncode == 1, done.stderr[-2000:]
    why = "chmod 700" if case == "open to others" else "too long for kernels' unix sockets"
    assert why in done.stderr, done.stderr[-2000:]
    if case == "too deep for sockets":
        assert stat.S_IMODE(runtime.stat().st_mode) == 0o700  # made private, then refused
        assert not list(runtime.iterdir())


# -- websocket messages and request bodies ------------------------------------------------


def test_an_oversized_websocket_message_is_refused(platform: Platform) -> None:
    client = platform.login("anna")
    _, kernel_id = open_module(client)
    headers = {"Cookie": cookie_header(client)}
    huge = message("comm_msg", {"comm_id": "x", "data": {"junk": "x" * 2_000_000}})

    async def attack() -> int | None:
        async with websockets.connect(
            ws_url(platform, kernel_id), additional_headers=headers, max_size=None
        ) as ws:
            try:
                await ws.send(huge)
                while True:
                    await asyncio.wait_for(ws.recv(), 10)
            except websockets.ConnectionClosed as closed:
                # 1009 "message too big"; the proxy may pass on only the dropped connection
                return closed.rcvd.code if closed.rcvd else 1006
            except TimeoutError:
                return None

    async def still_works() -> list[str]:
        seen = []
        async with websockets.connect(
            ws_url(platform, kernel_id), additional_headers=headers
        ) as ws:
            await ws.send(message("kernel_info_request", {}))
            while "kernel_info_reply" not in seen:
                seen.append(json.loads(await asyncio.wait_for(ws.recv(), 10))["msg_type"])
        return seen

    assert asyncio.run(attack()) in (1009, 1006)  # closed, not passed on
    assert kernel_process(kernel_id) is not None
    assert "kernel_info_reply" in asyncio.run(still_works())


def _post_raw(port: int, path: str, length: int, headers: str = "") -> tuple[int, int, float]:
    """POST ``length`` bytes as fast as the server lets us; returns the status, how many
    bytes we could hand to the socket before the answer, and the seconds it took."""
    sock = socket.create_connection(("127.0.0.1", port))
    sock.sendall(
        (
            f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {length}\r\n{headers}\r\n"
        ).encode()
    )
    sock.setblocking(False)
    chunk = b" " * 65536
    sent, answer, start = 0, b"", time.monotonic()
    while b"\r\n\r\n" not in answer and time.monotonic() - start < 30:
        try:
            data = sock.recv(65536)
            if not data:
                break
            answer += data
            continue
        except BlockingIOError:
            pass
        except ConnectionResetError:
            break
        if sent < length:
            try:
                sent += sock.send(chunk[: length - sent])
            except BlockingIOError:
                time.sleep(0.005)
            except (BrokenPipeError, ConnectionResetError):
                pass
        else:
            time.sleep(0.005)
    elapsed = time.monotonic() - start
    sock.close()
    status = int(answer.split(b" ", 2)[1]) if answer.startswith(b"HTTP/1.1 ") else 0
    return status, sent, elapsed


def test_large_bodies_are_refused_unread(platform: Platform) -> None:
    port, big = platform.learn_port, 50 * 1024 * 1024  # the old service read up to 100 MB
    api = "/services/learn/api/page/save"
    token = store(platform).open_session("frida", "exempelmodul", EXAMPLE.version)
    cases = [
        (api, "", 401),  # no page token
        (api, "Authorization: Bearer forged\r\n", 401),
        (api, f"Authorization: Bearer {token}\r\n", 413),  # a token, but far too long
        ("/services/learn/api/mina", "", 400),  # anywhere else: over the service's 1 MiB
    ]
    for path, headers, expected in cases:
        status, sent, elapsed = _post_raw(port, path, big, headers)
        assert status == expected, (path, headers, status)
        assert elapsed < 5, elapsed
        # the service answered long before it could have read the body: no more got
        # through than the socket buffers hold (recv() does not show in /proc/<pid>/io)
        assert sent < 20 * 1024 * 1024, (path, sent)
    # within the limits the page API still reads and answers
    good = {"kind": "svar", "key": "k-enkel", "value": RIGHT}
    assert page_api(platform, "save", token, good).status_code == 200


# -- page tokens -----------------------------------------------------------------------------


def test_an_expired_page_token_is_refused_and_removed(platform: Platform) -> None:
    answers = store(platform)
    old = answers.open_session("david", "exempelmodul", EXAMPLE.version)
    old_hash = _hash_of(old)
    with answers.engine.begin() as conn:
        conn.execute(
            update(page_session)
            .where(page_session.c.token_hash == old_hash)
            .values(created_at=datetime.now(UTC) - timedelta(hours=13))
        )
    reply = page_api(platform, "load", old)
    assert reply.status_code == 401
    assert "Ladda om sidan" in reply.json()["error"]
    assert reply.headers["Cache-Control"] == "no-store"
    fresh = answers.open_session("david", "exempelmodul", EXAMPLE.version)
    assert page_api(platform, "load", fresh).status_code == 200
    # opening a page removes the learner's expired tokens
    open_module(platform.login("david"))
    with answers.engine.connect() as conn:
        hashes = {r.token_hash for r in conn.execute(select(page_session.c.token_hash))}
    assert old_hash not in hashes
    assert page_api(platform, "load", old).status_code == 401


def _hash_of(token: str) -> str:
    import hashlib

    return hashlib.sha256(token.encode()).hexdigest()


# -- headers ---------------------------------------------------------------------------------


def _policy(header: str) -> dict[str, str]:
    parts = [p.strip().split(None, 1) for p in header.split(";") if p.strip()]
    return {p[0]: (p[1] if len(p) > 1 else "") for p in parts}


def test_pages_carry_csp_no_store_and_samesite_cookies(platform: Platform) -> None:
    set_cookies: list[str] = []

    def keep(response: httpx.Response) -> None:
        if "/services/learn/" in str(response.url):
            set_cookies.extend(response.headers.get_list("set-cookie"))

    learner = "tove"  # no other test looks at her certificates (she is in no roster)
    client = platform.login(learner)
    client.event_hooks = {"request": [], "response": [keep]}
    # a fresh OAuth round trip to the learn service (its state cookie and login cookie)
    client.cookies.delete("service-learn", path="/services/learn/")
    home = client.get("/services/learn/")
    assert home.status_code == 200
    names = {c.split("=", 1)[0] for c in set_cookies}
    assert {"service-learn", "_xsrf"} <= names, set_cookies
    assert any(n.startswith("service-learn-oauth-state") for n in names), set_cookies
    for cookie in set_cookies:
        if not cookie.split("=", 1)[1].split(";", 1)[0].strip().strip('"'):
            continue  # clearing a cookie
        assert "samesite=lax" in cookie.lower(), cookie

    # a pass in the learn store: the page says so, but only the register issues a
    # certificate, and tove is not in its roster: a Swedish page, with the same headers
    answers = store(platform)
    answers.record_result(
        learner,
        "exempelmodul",
        EXAMPLE.version,
        f"test-{uuid.uuid4().hex[:8]}",
        {"score": 7, "max_score": 7, "passed": True, "version": EXAMPLE.version, "questions": []},
    )
    page, _ = open_module(client)
    responses = {
        "home": client.get("/services/learn/"),
        "mina": client.get("/services/learn/api/mina"),
        "module": page,
        "certificate": client.get("/services/learn/intyg/exempelmodul.pdf"),
        "page api": page_api(platform, "load", "forged"),
    }
    for name, reply in responses.items():
        expected = (404,) if name == "certificate" else (200, 401)
        assert reply.status_code in expected, (name, reply.status_code)
        assert "no-store" in reply.headers["Cache-Control"], name
        policy = _policy(reply.headers["Content-Security-Policy"])
        assert policy["frame-ancestors"] == "'none'", name
        assert policy["default-src"] == "'none'", name
        assert "script-src" not in policy or "'unsafe-inline'" not in policy["script-src"], name
    assert "script-src" not in _policy(responses["home"].headers["Content-Security-Policy"])
    assert "intyg" in responses["certificate"].text.lower()  # a page a person can read

    # the module page lets only its own scripts run: every inline one has the nonce
    script_src = _policy(page.headers["Content-Security-Policy"])["script-src"].split()
    nonces = [s[len("'nonce-") : -1] for s in script_src if s.startswith("'nonce-")]
    assert len(nonces) == 1 and len(nonces[0]) >= 16
    for attrs, body in re.findall(r"<script([^>]*)>(.*?)</script>", page.text, re.S):
        kind = re.search(r'type="([^"]+)"', attrs)
        if kind and kind.group(1) not in ("text/javascript", "module"):
            continue  # data, not run
        if "src=" in attrs:
            continue
        assert f'nonce="{nonces[0]}"' in attrs, body[:80]
    # another request gets another nonce
    again, _ = open_module(client)
    assert nonces[0] not in again.headers["Content-Security-Policy"]


# -- idle open pages (a platform of their own, with a short limit) -------------------------

SHORT = """
for _service in c.JupyterHub.services:
    if _service["name"] == "learn":
        _service["command"].append("--LearnApp.open_page_idle_minutes=0.2")
"""


@pytest.fixture(scope="module")
def short_platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    yield from start_platform(
        tmp_path_factory.mktemp("short-platform"),
        [ROOT / "docs" / "exempelmodul"],
        extra_config=SHORT,
    )


def test_an_idle_open_page_is_culled_and_a_reload_goes_on(short_platform: Platform) -> None:
    platform = short_platform
    client = platform.login("anna")
    _, kernel_id = open_module(client)
    token = page_token(kernel_id)
    good = {"kind": "svar", "key": "k-enkel", "value": RIGHT}
    assert page_api(platform, "save", token, good).status_code == 200
    headers = {"Cookie": cookie_header(client)}

    async def keep_open() -> bool:
        """The page stays open (its websocket connected) until its kernel is culled."""
        async with websockets.connect(
            ws_url(platform, kernel_id), additional_headers=headers
        ) as ws:
            deadline = time.monotonic() + 50
            while time.monotonic() < deadline:
                if kernel_process(kernel_id) is None:
                    return True
                try:
                    await asyncio.wait_for(ws.recv(), 1)
                except TimeoutError:
                    pass
                except websockets.ConnectionClosed:
                    pass
            return False

    assert asyncio.run(keep_open())
    assert page_api(platform, "load", token).status_code == 401
    _, again = open_module(client)
    state = page_api(platform, "load", page_token(again)).json()["state"]
    assert state["svar"]["k-enkel"] == RIGHT


@pytest.mark.browser
def test_an_idle_open_page_in_a_browser_says_so(short_platform: Platform) -> None:
    """The page stays open while its kernel is culled: the learner is told, can change
    nothing that would not be saved, and a reload goes on with everything saved."""
    from platform_fixture import CHROMIUM_ARGS, PASSWORD
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.goto(f"{short_platform.url}/hub/login")
            page.get_by_label("Användarnamn").fill("bengt")
            page.get_by_label("Lösenord").fill(PASSWORD)
            page.get_by_role("button", name="Logga in").click()
            page.get_by_role("link", name="Exempelmodul med alla blocktyper").first.click()
            expect(page.locator(".ol-card").first).to_be_visible(timeout=60_000)
            config = json.loads(page.locator("#jupyter-config-data").text_content() or "{}")
            exercise = page.locator(".ol-card").filter(
                has_text="Vilken del av KASAM handlar om att förstå"
            )
            exercise.get_by_label("Begriplighet").check()
            expect(page.locator(".ol-save")).to_contain_text("Sparat kl.", timeout=10_000)
            expect(page.get_by_role("alert")).to_be_hidden()
            assert wait_gone(config["kernelId"], 45)
            lost = page.get_by_role("alert")
            expect(lost).to_contain_text("Sidan är inte längre ansluten", timeout=15_000)
            # the rest of the page takes no more input (it could not be saved)
            assert page.evaluate("document.getElementById('rendered_cells').inert")
            lost.get_by_role("button", name="Ladda om sidan").click()
            expect(page.locator(".ol-card").first).to_be_visible(timeout=60_000)
            expect(exercise.get_by_label("Begriplighet")).to_be_checked(timeout=30_000)
            expect(page.get_by_role("alert")).to_be_hidden()
        finally:
            browser.close()
