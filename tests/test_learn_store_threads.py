"""One page's answer waiting on the database holds up no other page.

The learn service relays every open page's widget messages on one event loop. The page
API's database work (token, attempt, answer) runs in its store threads
(``LearnApp.store_threads``), so a commit that waits (a busy disk, a locked table) does
not stop the loop. Here the test itself holds the answer store's write lock: Bengt
changes an answer, and his save waits for the lock; meanwhile David's page still answers
at once. When the lock is let go, Bengt's page says "Sparat" and the store holds his
answer.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import websockets
from kernel_socket import kernel_message, page_config
from platform_fixture import ROOT, Platform, start_platform
from test_safe_page import Page, _graded_card, _refs

from omsorgslyft.authoring import load_module
from omsorgslyft.learn.store import AnswerStore, PageSession

pytestmark = pytest.mark.slow
EXAMPLE = load_module(ROOT / "docs" / "exempelmodul")
ROSTER = Path(__file__).parent / "fixtures" / "learners.csv"


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    yield from start_platform(
        tmp_path_factory.mktemp("store-threads"), [ROOT / "docs" / "exempelmodul"], roster=ROSTER
    )


def _socket(platform: Platform, name: str) -> tuple[str, str]:
    client = platform.login(name)
    page = client.get("/services/learn/modul/exempelmodul")
    assert page.status_code == 200, page.text[:300]
    config = page_config(page.text)
    assert config is not None
    cookie = "; ".join(f"{c.name}={c.value}" for c in client.cookies.jar)
    url = platform.url.replace("http", "ws", 1)
    return f"{url}/services/learn/api/kernels/{config['kernelId']}/channels", cookie


def _saved(platform: Platform, learner: str) -> dict[str, Any]:
    store = AnswerStore(f"sqlite:///{platform.learn_db}")
    try:
        return store.load(PageSession(learner, EXAMPLE.id, EXAMPLE.version))["svar"]
    finally:
        store.engine.dispose()


async def _until(ws: Any, wanted: Any, seconds: float) -> dict[str, Any]:
    """The first message from the kernel for which ``wanted(message)`` is true."""
    async with asyncio.timeout(seconds):
        while True:
            message = json.loads(await ws.recv())
            if wanted(message):
                return dict(message)


def _says_saved(status_id: str) -> Any:
    def wanted(message: dict[str, Any]) -> bool:
        content = message.get("content", {})
        return (
            message.get("msg_type") == "comm_msg"
            and content.get("comm_id") == status_id
            and "Sparat" in json.dumps(content.get("data", {}), ensure_ascii=False)
        )

    return wanted


async def _scenario(platform: Platform) -> None:
    (bengt_url, bengt_cookie), (david_url, david_cookie) = (
        _socket(platform, "bengt"),
        _socket(platform, "david"),
    )
    async with (
        websockets.connect(bengt_url, additional_headers={"Cookie": bengt_cookie}) as bengt_ws,
        websockets.connect(david_url, additional_headers={"Cookie": david_cookie}) as david_ws,
    ):
        bengt, david = Page(bengt_ws), Page(david_ws)
        await bengt.listen(quiet=3.0)  # a preheated page builds its blocks after hand-out
        await david.listen(quiet=3.0)
        states = await bengt.states()
        radios = _refs(states[_graded_card(states, "Välj ett svar")])[1]
        status = next(
            k
            for k, v in states.items()
            if v["model_name"] == "HTMLModel" and "ol-save" in str(v["state"].get("value"))
        )
        choice = (int(states[radios]["state"].get("index") or 0) + 1) % len(
            states[radios]["state"]["_options_labels"]
        )

        before = _saved(platform, "bengt").get("k-enkel")
        lock = sqlite3.connect(platform.learn_db, timeout=30, isolation_level=None)
        try:
            lock.execute("BEGIN EXCLUSIVE")  # no one else may write the answer store now
            update = {"method": "update", "state": {"index": choice}, "buffer_paths": []}
            await bengt.send("comm_msg", {"comm_id": radios, "data": update})
            await asyncio.sleep(1.0)  # his save has reached the store and waits for the lock

            # David's page answers while Bengt's save waits
            msg_id, text = kernel_message("kernel_info_request", {})
            await david_ws.send(text)
            reply = await _until(
                david_ws,
                lambda m: (
                    m.get("parent_header", {}).get("msg_id") == msg_id
                    and m.get("msg_type") == "kernel_info_reply"
                ),
                15,
            )
            assert reply["content"]["status"] == "ok"
            with pytest.raises(TimeoutError):  # and Bengt's is still not saved
                await _until(bengt_ws, _says_saved(status), 0.5)
        finally:
            lock.execute("ROLLBACK")
            lock.close()
        await _until(bengt_ws, _says_saved(status), 30)
    after = _saved(platform, "bengt").get("k-enkel")
    assert after is not None and after != before, (before, after)


def test_a_save_waiting_on_the_database_holds_up_no_other_page(platform: Platform) -> None:
    asyncio.run(_scenario(platform))
