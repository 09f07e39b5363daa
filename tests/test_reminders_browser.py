"""The HR page ``paminnelser`` in a real chromium: on a phone (360 px) nothing is wider
than the screen, and axe finds no accessibility violations; the same at 1280 px."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from test_reminders_service import PREFIX, HubUsers
from test_reminders_smtp import TODAY, Relay, World, fixed_world, running_relay
from tornado.httpserver import HTTPServer
from tornado.testing import bind_unused_port

from omsorgslyft.records.service import make_app

pytestmark = pytest.mark.browser


@pytest.fixture
def relay() -> Iterator[Relay]:
    yield from running_relay()


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    yield from fixed_world(tmp_path)


def serve(world: World, relay: Relay) -> Iterator[str]:
    service = world.service(relay.port)
    service.run(TODAY - timedelta(days=1))  # a log, and a preview for today
    auth = HubUsers(
        api_token="t" * 32,
        api_url="http://127.0.0.1:9/hub/api",
        oauth_client_id="service-records",
        base_url=PREFIX,
        hub_prefix="/hub/",
    )
    sock, port = bind_unused_port()
    loop = asyncio.new_event_loop()
    started = threading.Event()

    def run() -> None:
        asyncio.set_event_loop(loop)
        server = HTTPServer(make_app(service.records, PREFIX, auth, "/hub/", reminders=service))
        server.add_sockets([sock])
        started.set()
        loop.run_forever()
        server.stop()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    started.wait(10)
    try:
        yield f"http://127.0.0.1:{port}{PREFIX}paminnelser"
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)


def test_the_reminders_page_on_a_phone_and_a_desktop(
    browser: Any, world: World, relay: Relay
) -> None:
    from axe_playwright_python.sync_playwright import Axe

    for url in serve(world, relay):
        for width in (360, 1280):
            page = browser.new_page(
                viewport={"width": width, "height": 800},
                extra_http_headers={"X-Test-User": "hanna"},
            )
            page.goto(url)
            assert page.locator("h1").inner_text() == "Påminnelser per e-post"
            assert page.evaluate("document.documentElement.scrollWidth") <= width
            violations = Axe().run(page).response["violations"]
            assert violations == [], [(v["id"], v["nodes"][0]["html"]) for v in violations]
            # the text of a message opens under its summary
            page.get_by_text("Visa texten").first.click()
            assert "Hej Gunilla!" in page.locator("details[open] pre").inner_text()
            page.close()
