"""Fault tests on the real platform: a process is killed with SIGKILL while work is in
flight, comes back (the hub restarts its managed services; the hub itself is started again
with the same command and config), and nothing the platform acknowledged is lost.

Each test prints its figures (``acknowledged N, kept N, ...``; run with ``-s`` or ``-rA``)
and puts them in its assertion messages. One platform serves the file; the hub is killed
last.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import websockets
from faults import Hub, kill9, kill_orphans, platform_with_hub, service, wait_back
from platform_fixture import ROOT, Platform

from omsorgslyft.authoring import load_module
from omsorgslyft.learn.store import AnswerStore, PageSession

pytestmark = pytest.mark.slow
EXAMPLE = load_module(ROOT / "docs" / "exempelmodul")
LEARNERS = ("anna", "bengt", "cecilia", "david")
REFLECTION = "ref-1"


@pytest.fixture(scope="module")
def faulty(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Platform, Hub]]:
    # kernels stay while a test works (the fixture's default culls them after 12 s idle)
    yield from platform_with_hub(
        tmp_path_factory.mktemp("faults"),
        [ROOT / "docs" / "exempelmodul"],
        idle_minutes=5,
        roster=ROOT / "tests" / "fixtures" / "learners.csv",
    )


def answers(platform: Platform) -> AnswerStore:
    return AnswerStore(f"sqlite:///{platform.learn_db}")


# -- a learner's page, spoken to over its kernel websocket ----------------------------------


def _msg(learner: str, msg_type: str, content: dict[str, Any], metadata: Any = None) -> Any:
    header = {
        "msg_id": uuid.uuid4().hex,
        "msg_type": msg_type,
        "username": learner,
        "session": f"faults-{learner}",
        "version": "5.3",
        "date": "",
    }
    return header["msg_id"], json.dumps(
        {
            "header": header,
            "parent_header": {},
            "metadata": metadata or {},
            "content": content,
            "channel": "shell",
            "buffers": [],
        }
    )


def open_page(client: httpx.Client) -> str:
    """Open the module page as the browser does; its kernel's id."""
    page = client.get("/services/learn/modul/exempelmodul")
    assert page.status_code == 200, page.text[:300]
    found = re.search(
        r'id="jupyter-config-data" type="application/json">(.*?)</script>', page.text, re.S
    )
    assert found
    return str(json.loads(found.group(1))["kernelId"])


def channels(platform: Platform, client: httpx.Client, kernel_id: str) -> tuple[str, str]:
    url = platform.url.replace("http", "ws") + f"/services/learn/api/kernels/{kernel_id}/channels"
    return url, "; ".join(f"{c.name}={c.value}" for c in client.cookies.jar)


async def widget_states(ws: Any, learner: str, seconds: float = 60) -> dict[str, Any]:
    """Every widget's state, asked for as the page's widget manager does."""
    control = uuid.uuid4().hex
    _, opening = _msg(
        learner,
        "comm_open",
        {"comm_id": control, "target_name": "jupyter.widget.control", "data": {}},
        {"version": "1.0.0"},
    )
    await ws.send(opening)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        _, ask = _msg(
            learner, "comm_msg", {"comm_id": control, "data": {"method": "request_states"}}
        )
        await ws.send(ask)
        try:
            while True:
                msg = json.loads(await asyncio.wait_for(ws.recv(), 3))
                data = msg["content"].get("data") or {}
                if msg["msg_type"] == "comm_msg" and data.get("method") == "update_states":
                    states: dict[str, Any] = data["states"]
                    # a preheated page builds its blocks once it knows whose it is
                    if reflection_model(states):
                        return states
                    break
        except TimeoutError:
            pass
    raise AssertionError(f"no widget states from {learner}'s page")


def reflection_model(states: dict[str, Any]) -> str:
    for model_id, state in states.items():
        if state["state"].get("_model_name") == "TextareaModel":
            return model_id
    return ""


def status_model(states: dict[str, Any]) -> str:
    for model_id, state in states.items():
        if 'class="ol-save' in str(state["state"].get("value", "")):
            return model_id
    raise AssertionError("no save status on the page")


@dataclass
class Writer:
    """One learner changing their reflection over and over on their page."""

    learner: str
    url: str
    cookie: str
    sent: list[int] = field(default_factory=list)
    acked: list[int] = field(default_factory=list)
    refused: list[int] = field(default_factory=list)
    closed: bool = False

    def text(self, n: int) -> str:
        return f"{self.learner} skriver version {n}"

    async def run(self, stop: asyncio.Event) -> None:
        try:
            async with websockets.connect(
                self.url, additional_headers={"Cookie": self.cookie}, open_timeout=60
            ) as ws:
                states = await widget_states(ws, self.learner)
                area, status = reflection_model(states), status_model(states)
                n = 0
                while not stop.is_set():
                    n += 1
                    msg_id, update = _msg(
                        self.learner,
                        "comm_msg",
                        {
                            "comm_id": area,
                            "data": {
                                "method": "update",
                                "state": {"value": self.text(n)},
                                "buffer_paths": [],
                            },
                        },
                    )
                    self.sent.append(n)
                    await ws.send(update)
                    # the page's status line says so when the save is done ("Sparat kl.")
                    while True:
                        msg = json.loads(await asyncio.wait_for(ws.recv(), 60))
                        data = msg["content"].get("data") or {}
                        value = str((data.get("state") or {}).get("value", ""))
                        if (
                            msg["msg_type"] == "comm_msg"
                            and msg["content"].get("comm_id") == status
                            and msg["parent_header"].get("msg_id") == msg_id
                            and "data-sparning" in value
                        ):
                            (self.acked if "Sparat kl." in value else self.refused).append(n)
                            break
        except (websockets.ConnectionClosed, OSError, TimeoutError):
            self.closed = True


def stored_version(platform: Platform, learner: str) -> int:
    state = answers(platform).load(PageSession(learner, EXAMPLE.id, EXAMPLE.version))
    text = str(state["reflektion"].get(REFLECTION, ""))
    found = re.fullmatch(rf"{learner} skriver version (\d+)", text)
    return int(found.group(1)) if found else 0


def test_kill_learn_while_answers_are_saved(faulty: tuple[Platform, Hub]) -> None:
    platform, _hub = faulty
    clients = {learner: platform.login(learner) for learner in LEARNERS}
    writers = []
    for learner, client in clients.items():
        url, cookie = channels(platform, client, open_page(client))
        writers.append(Writer(learner, url, cookie))
    learn = service(platform, "learn")
    assert learn is not None
    killed: dict[str, Any] = {}

    async def scenario() -> None:
        stop = asyncio.Event()
        tasks = [asyncio.create_task(w.run(stop)) for w in writers]
        deadline = time.monotonic() + 180
        # everyone has had a few saves acknowledged, and keeps saving
        while min(len(w.acked) for w in writers) < 5:
            assert time.monotonic() < deadline, [(w.learner, len(w.acked)) for w in writers]
            assert not any(w.closed for w in writers), "a page closed before the kill"
            await asyncio.sleep(0.05)
        killed["acked"] = sum(len(w.acked) for w in writers)
        killed["in_flight"] = sum(len(w.sent) > len(w.acked) + len(w.refused) for w in writers)
        kill9(learn, "learn")
        killed["at"] = time.monotonic()
        # the pages' sockets went with the service (they are proxied through it)
        await asyncio.wait(tasks, timeout=60)
        stop.set()
        await asyncio.wait(tasks, timeout=30)

    asyncio.run(scenario())
    new_pid = wait_back(platform, "learn", learn.pid)
    kill_orphans(platform)  # the killed service's kernels (their sockets are gone with it)

    acknowledged = sum(len(w.acked) for w in writers)
    kept = 0
    for w in writers:
        now = stored_version(platform, w.learner)
        # kept: the stored text is this save's, or a later one's this page sent
        kept += sum(1 for n in w.acked if now >= n and now in w.sent)
    lost = acknowledged - kept
    figures = (
        f"acknowledged {acknowledged}, kept {kept}, lost {lost} "
        f"({killed['acked']} acknowledged before the kill, {killed['in_flight']} of "
        f"{len(writers)} pages with a save in flight at it; learn {learn.pid} -> {new_pid})"
    )
    print(figures)
    assert all(w.closed for w in writers), figures  # the kill really cut the pages off
    assert new_pid != learn.pid, figures
    assert killed["in_flight"] >= 1, figures
    assert acknowledged >= 5 * len(writers) and lost == 0, figures

    # a page opened again shows what was saved
    for learner, client in clients.items():
        expected = stored_version(platform, learner)
        url, cookie = channels(platform, client, open_page(client))

        async def reopen(url: str = url, cookie: str = cookie, learner: str = learner) -> str:
            async with websockets.connect(
                url, additional_headers={"Cookie": cookie}, open_timeout=60
            ) as ws:
                states = await widget_states(ws, learner, seconds=150)
                return str(states[reflection_model(states)]["state"]["value"])

        shown = asyncio.run(reopen())
        assert shown == f"{learner} skriver version {expected}", (learner, shown, figures)
        client.close()
