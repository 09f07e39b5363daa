"""Learn in two shards on one machine, with PostgreSQL: the real hub, proxy and services.

Each learner is sent to the shard the stable mapping gives them (``learn`` or ``learn-1``)
and their page's kernel runs in that shard's process; the answers go to the one answer
store. Both hand in, and two grading workers on the shared queue (RabbitMQ) grade each
hand-in once. Then the platform is started again with one shard: the learner whose shard was
``learn-1`` is served by ``learn`` and resumes exactly where they were.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest
import websockets
from databases import pg_database
from faults import Hub, platform_with_hub, poll
from kernel_socket import page_config
from platform_fixture import ROOT, Platform
from queue_workers import BROKER, Worker, fresh_queue, queue_workers
from test_safe_page import Page, _graded_card, _refs

from omsorgslyft.authoring import load_module
from omsorgslyft.grading.submissions import DONE, SubmissionLog
from omsorgslyft.learn.shards import shard_of
from omsorgslyft.learn.store import AnswerStore, PageSession

pytestmark = pytest.mark.slow
EXAMPLE = load_module(ROOT / "docs" / "exempelmodul")
ROSTER = Path(__file__).parent / "fixtures" / "learners.csv"
ON_FIRST, ON_SECOND = "anna", "cecilia"  # shard 0 and shard 1 of two


@pytest.fixture(scope="module")
def sharded(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[Platform, Hub, str, list[Worker]]]:
    """Two learn shards, and grading on the shared queue with two workers on this machine;
    the answers, the submission log and the gradebook on one PostgreSQL database."""
    assert (shard_of(ON_FIRST, 2), shard_of(ON_SECOND, 2)) == (0, 1)
    tmp = tmp_path_factory.mktemp("shards")
    with fresh_queue() as queue:
        for url in pg_database():
            settings = (
                f"store_url={url!r}, submissions_url={url!r}, "
                f"grading_queue={BROKER!r}, grading_queue_name={queue!r}"
            )
            for platform, hub in platform_with_hub(
                tmp,
                [ROOT / "docs" / "exempelmodul"],
                roster=ROSTER,
                learn_shards=2,
                settings=settings,
                gradebook_url=url,
            ):
                grading = platform.project / "grading"
                with queue_workers(
                    [grading, grading], platform.project / "modules", url, url, queue, tmp
                ) as workers:
                    yield platform, hub, url, workers


def _page(client: httpx.Client) -> tuple[str, str]:
    """Open the example module as a learner does from Mina utbildningar: the page's final
    URL and its kernel's id."""
    page = client.get("/services/learn/modul/exempelmodul")
    assert page.status_code == 200, page.text[:300]
    config = page_config(page.text)
    assert config is not None
    return str(page.url), str(config["kernelId"])


def _shard_process(platform: Platform, shard: int) -> psutil.Process:
    for proc in psutil.process_iter(["cmdline"]):
        cmd = proc.info["cmdline"] or []
        ours = any(str(platform.project) in part for part in cmd)
        if "omsorgslyft.learn.app" in cmd and f"--LearnApp.shard={shard}" in cmd and ours:
            return proc
    raise AssertionError(f"no learn shard {shard}")


def _kernels_of(proc: psutil.Process) -> set[str]:
    """The kernel ids whose kernels ``proc`` started (their connection files name them)."""
    out = set()
    for child in proc.children(recursive=True):
        with contextlib.suppress(psutil.Error):
            for part in child.cmdline():
                found = re.search(r"kernel-([0-9a-f-]{36})\.json", part)
                if found:
                    out.add(found.group(1))
    return out


def _socket(platform: Platform, client: httpx.Client, page_url: str, kernel_id: str) -> str:
    base = page_url.split("/voila/", 1)[0]
    return base.replace("http", "ws", 1) + f"/api/kernels/{kernel_id}/channels"


async def _choice(url: str, cookie: str, index: int | None) -> int:
    """The single-choice question's selected option; first set to ``index`` if given."""
    async with websockets.connect(url, additional_headers={"Cookie": cookie}) as ws:
        page = Page(ws)
        await page.listen(quiet=3.0)  # a preheated page builds its blocks after hand-out
        states = await page.states()
        radios = _refs(states[_graded_card(states, "Välj ett svar")])[1]
        if index is not None:
            await page.comm(radios, {"method": "update", "state": {"index": index}})
            return index
        return int(states[radios]["state"]["index"])


async def _hand_in(url: str, cookie: str) -> str:
    """Lämna in (and Lämna in ändå: not every question is answered) as the page's buttons
    are clicked; the result the page shows."""
    click = {"method": "custom", "content": {"event": "click"}}
    async with websockets.connect(url, additional_headers={"Cookie": cookie}) as ws:
        page = Page(ws)
        await page.listen(quiet=2.0)
        states = await page.states()
        buttons = {
            v["state"].get("description"): k
            for k, v in states.items()
            if v["model_name"] == "ButtonModel"
        }
        await page.send("comm_msg", {"comm_id": buttons["Lämna in"], "data": click})
        async with asyncio.timeout(120):
            confirmed = False
            while True:
                content = json.loads(await ws.recv()).get("content", {})
                text = re.sub(r"<[^>]+>", " ", json.dumps(content, ensure_ascii=False))
                if "Resultat:" in text:
                    return text
                if "Lämna in ändå?" in text and not confirmed:
                    confirmed = True
                    await page.send(
                        "comm_msg", {"comm_id": buttons["Lämna in ändå"], "data": click}
                    )


def _cookie(client: httpx.Client) -> str:
    return "; ".join(f"{c.name}={c.value}" for c in client.cookies.jar)


def _saved(url: str, learner: str) -> dict[str, Any]:
    store = AnswerStore(url)
    try:
        return store.load(PageSession(learner, EXAMPLE.id, EXAMPLE.version))["svar"]
    finally:
        store.engine.dispose()


def test_two_shards_serve_learners_and_a_moved_learner_resumes(
    sharded: tuple[Platform, Hub, str, list[Worker]],
) -> None:
    platform, hub, url, workers = sharded
    first, second = platform.login(ON_FIRST), platform.login(ON_SECOND)

    # each lands on their own shard's Mina utbildningar; shard 0 sends the other one on
    lands = second.get("/services/learn/", follow_redirects=False)
    assert lands.status_code == 302
    assert lands.headers["location"].startswith("/services/learn-1/")
    for client, prefix in ((first, "/services/learn/"), (second, "/services/learn-1/")):
        home = client.get("/services/learn/")
        assert home.status_code == 200 and home.url.path == prefix, home.url
        assert "Mina utbildningar" in home.text

    # their module pages run in their shard's process, and save to the one store
    pages = {}
    for shard, (name, client) in enumerate(((ON_FIRST, first), (ON_SECOND, second))):
        page_url, kernel = _page(client)
        assert ("/services/learn-1/" in page_url) == (shard == 1), page_url
        process = _shard_process(platform, shard)
        poll(
            lambda k=kernel, p=process: k in _kernels_of(p),  # type: ignore[misc]
            30,
            f"{name}'s kernel in shard {shard}",
        )
        assert kernel not in _kernels_of(_shard_process(platform, 1 - shard))
        asyncio.run(_choice(_socket(platform, client, page_url, kernel), _cookie(client), 2))
        pages[name] = poll(lambda name=name: _saved(url, name).get("k-enkel"), 30, "the save")
    assert _saved(url, ON_FIRST)["k-enkel"] == pages[ON_FIRST]

    # both hand in; the grading workers on the queue grade each hand-in once
    for client in (first, second):
        page_url, kernel = _page(client)
        result = asyncio.run(_hand_in(_socket(platform, client, page_url, kernel), _cookie(client)))
        assert "Resultat:" in result, result
    log = SubmissionLog(url)
    try:
        subs = [s for name in (ON_FIRST, ON_SECOND) for s in log.for_learner(name)]
    finally:
        log.engine.dispose()
    assert len(subs) == 2 and all(s.status == DONE for s in subs), subs
    graded = workers[0].graded() + workers[1].graded()
    assert sorted(graded) == sorted(s.id for s in subs), graded  # each once, by a worker
    before = _saved(url, ON_SECOND)

    # one shard again: the learner of learn-1 is served by learn and resumes exactly
    os.killpg(platform.pid, signal.SIGTERM)
    psutil.Process(platform.pid).wait(60)
    config = hub.config.read_text(encoding="utf-8")
    one = re.sub(r"learn_shards=2, learn_shard_ports=\([^)]*\), ", "", config)
    assert one != config
    hub.config.write_text(one, encoding="utf-8")
    hub.restart()
    poll(
        lambda: httpx.get(f"{platform.url}/services/learn/", timeout=5).status_code == 302,
        120,
        "the learn service after the restart",
    )
    again = platform.login(ON_SECOND)
    home = again.get("/services/learn/")
    assert home.status_code == 200 and home.url.path == "/services/learn/"
    page_url, kernel = _page(again)
    assert "/services/learn/voila/" in page_url, page_url
    chosen = asyncio.run(_choice(_socket(platform, again, page_url, kernel), _cookie(again), None))
    assert chosen == 2
    assert _saved(url, ON_SECOND) == before
