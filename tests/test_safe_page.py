"""End to end on the real platform: a learner's page socket with crafted widget messages.

What the attacker can see is everything that comes back on the page's websocket; what they
can change is the learner's saved answers. A disabled "Upp" stays dead even after the page
"enables" it, and a failing widget message brings back a short Swedish message and no
traceback, while the traceback is in the service log.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets
from kernel_socket import kernel_message, page_config, state_request, states_in
from platform_fixture import ROOT, Platform

from omsorgslyft.authoring import load_module
from omsorgslyft.learn.store import AnswerStore, PageSession
from omsorgslyft.runtime.safety import MESSAGE

pytestmark = pytest.mark.slow
EXAMPLE = load_module(ROOT / "docs" / "exempelmodul")
LEARNER = "cecilia"


def _kernel_id(client: httpx.Client) -> str:
    page = client.get("/services/learn/modul/exempelmodul")
    assert page.status_code == 200, page.text[:300]
    config = page_config(page.text)
    assert config is not None
    return str(config["kernelId"])


def _msg(msg_type: str, content: dict[str, Any], metadata: dict[str, Any] | None = None) -> str:
    return kernel_message(msg_type, content, metadata, username=LEARNER, session="angripare")[1]


def _saved(platform: Platform) -> dict[str, dict[str, object]]:
    store = AnswerStore(f"sqlite:///{platform.learn_db}")
    return store.load(PageSession(LEARNER, "exempelmodul", EXAMPLE.version))


class Page:
    """The page's websocket, spoken to as an attacker would."""

    def __init__(self, ws: Any) -> None:
        self.ws = ws
        self.seen: list[dict[str, Any]] = []

    async def send(
        self, msg_type: str, content: dict[str, Any], metadata: dict[str, Any] | None = None
    ) -> None:
        await self.ws.send(_msg(msg_type, content, metadata))

    async def listen(self, quiet: float = 2.0) -> list[dict[str, Any]]:
        """Everything the kernel sends until it is silent for ``quiet`` seconds."""
        got: list[dict[str, Any]] = []
        try:
            while True:
                got.append(json.loads(await asyncio.wait_for(self.ws.recv(), quiet)))
        except TimeoutError:
            pass
        self.seen.extend(got)
        return got

    async def states(self) -> dict[str, dict[str, Any]]:
        """Every widget's state, asked for as the page's widget manager does."""
        for text in state_request(LEARNER, "angripare"):
            await self.ws.send(text)
        for msg in await self.listen():
            states = states_in(msg)
            if states is not None:
                return states
        raise AssertionError(f"no widget states in {[m['msg_type'] for m in self.seen]}")

    async def comm(self, comm_id: str, data: dict[str, Any]) -> list[dict[str, Any]]:
        await self.send("comm_msg", {"comm_id": comm_id, "data": data})
        return await self.listen()


def _refs(state: dict[str, Any]) -> list[str]:
    return [c.removeprefix("IPY_MODEL_") for c in state.get("state", {}).get("children", [])]


def _graded_card(states: dict[str, dict[str, Any]], label: str) -> str:
    """The model id of the graded question card whose heading says ``label``."""
    for model_id, state in states.items():
        children = _refs(state)
        if not children or children[0] not in states:
            continue
        head = states[children[0]]["state"].get("value", "")
        # "Fråga 2 av 5 · Sätt i rätt ordning": graded, numbered in the attempt
        if isinstance(head, str) and re.search(rf"Fråga \d+ av \d+ · {label}", head):
            return model_id
    raise AssertionError(label)


def test_crafted_widget_messages_on_the_page_socket(platform: Platform) -> None:
    client = platform.login(LEARNER)
    kernel_id = _kernel_id(client)
    url = platform.url.replace("http", "ws") + f"/services/learn/api/kernels/{kernel_id}/channels"
    cookie = "; ".join(f"{c.name}={c.value}" for c in client.cookies.jar)
    before = _saved(platform)
    assert "k-ordning" not in before["svar"]

    async def attack() -> tuple[Page, list[dict[str, Any]], list[dict[str, Any]]]:
        async with websockets.connect(url, additional_headers={"Cookie": cookie}) as ws:
            page = Page(ws)
            # a preheated kernel builds the page's blocks after it is handed out: let it
            # finish (quiet on the socket) before reading the states and clicking
            await page.listen(quiet=3.0)
            states = await page.states()
            mark = len(page.seen)
            ordering = _graded_card(states, "Sätt i rätt ordning")
            rows = _refs(states[_refs(states[ordering])[1]])
            first_up = _refs(states[rows[0]])[0]
            assert states[first_up]["state"]["description"] == "Upp"
            assert states[first_up]["state"]["disabled"] is True
            click = {"method": "custom", "content": {"event": "click"}}
            await page.comm(first_up, click)  # before: moved the last step first, saved
            await page.comm(first_up, {"method": "update", "state": {"disabled": False}})
            await page.comm(first_up, click)
            dead = page.seen[mark:]
            choice = _graded_card(states, "Välj ett svar")
            radios = _refs(states[choice])[1]
            failed = await page.comm(radios, {"method": "update", "state": {"index": 99}})
            return page, dead, failed

    page, dead, failed = asyncio.run(attack())
    # nothing moved: no update of the rows, nothing saved
    moved = [
        m
        for m in dead
        if m["msg_type"] == "comm_msg" and "children" in (m["content"]["data"].get("state") or {})
    ]
    assert not moved, json.dumps(moved, ensure_ascii=False)[:3000]
    assert _saved(platform) == before
    # the learner is told, in Swedish; the page gets no traceback of any kind
    assert MESSAGE in json.dumps([m["content"] for m in failed], ensure_ascii=False)
    for msg in page.seen:
        assert msg["msg_type"] not in ("error", "stream"), msg
        text = json.dumps(msg["content"])
        assert "Traceback" not in text and "TraitError" not in text, msg
    # the service log has it
    deadline = time.monotonic() + 20
    while "TraitError: Invalid selection" not in Path(platform.log).read_text(errors="replace"):
        assert time.monotonic() < deadline, "the traceback is not in the service log"
        time.sleep(0.5)
