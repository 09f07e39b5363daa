"""A module page is light: compressed, cached, and only what it needs (issue 10, part 3).

In a real browser through the real hub, with two of the real modules: a learner opens one
module with an empty cache (at most ``FIRST_VISIT`` bytes transferred, every text
response compressed, every static asset cached for good), then another module (at most
``LATER_VISIT``), and both pages work (the first enabled option can be chosen and is
saved) with no Content-Security-Policy violation.

Bytes are what Chrome reports per request (``Network.loadingFinished``'s
``encodedDataLength``: headers and body as sent), plus the kernel websocket's messages as
permessage-deflate sends them (Chrome reports frames uncompressed: ``websocket_bytes``
compresses them as the server does). ``Traffic`` is also what the benchmark measures with
(``tests/benchmarks/bench_learning.py``).
"""

from __future__ import annotations

import base64
import json
import re
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from pages import login
from platform_fixture import ROOT, Platform, start_platform
from playwright.sync_api import Browser, BrowserContext, Page, expect

FIRST_VISIT = 1_500_000
LATER_VISIT = 150_000
#: tornado compresses nothing shorter (GZipContentEncoding.MIN_LENGTH)
MIN_COMPRESSED = 1024
MODULES = ("kasam", "hbtqi")
STATIC = ("/voila/static/", "/voila/labextensions/", "/voila/templates/")
IMMUTABLE = "immutable"


@dataclass
class Response:
    url: str
    status: int = 0
    mime: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    #: bytes on the wire: headers and (compressed) body
    transferred: int = 0
    #: bytes of the body after decoding
    body: int = 0
    cached: bool = False

    @property
    def text(self) -> bool:
        mime = self.mime.lower()
        return mime.startswith("text/") or "javascript" in mime or "json" in mime

    @property
    def encoding(self) -> str:
        return self.headers.get("content-encoding", "")


class Traffic:
    """What the browser fetched, from Chrome's network events (CDP), until ``clear``."""

    def __init__(self, context: BrowserContext, page: Page) -> None:
        self.cdp = context.new_cdp_session(page)
        self.responses: dict[str, Response] = {}
        self.ws_messages: list[bytes] = []
        self.ws_extensions: list[str] = []
        self.cdp.on("Network.requestWillBeSent", self._request)
        self.cdp.on("Network.responseReceived", self._response)
        self.cdp.on("Network.dataReceived", self._data)
        self.cdp.on("Network.loadingFinished", self._finished)
        self.cdp.on("Network.requestServedFromCache", self._from_cache)
        self.cdp.on("Network.webSocketFrameReceived", self._frame)
        self.cdp.on("Network.webSocketHandshakeResponseReceived", self._handshake)
        self.cdp.send("Network.enable")

    def clear(self) -> None:
        self.responses = {}
        self.ws_messages = []
        self.ws_extensions = []

    def _get(self, request_id: str, url: str = "") -> Response:
        return self.responses.setdefault(request_id, Response(url))

    def _request(self, event: dict[str, Any]) -> None:
        request_id, url = event["requestId"], event["request"]["url"]
        redirect = event.get("redirectResponse")
        if redirect and request_id in self.responses:
            # a redirect keeps its request id: keep the redirect as a response of its own
            hop = self.responses.pop(request_id)
            hop.status = redirect["status"]
            hop.headers = {k.lower(): v for k, v in redirect["headers"].items()}
            hop.transferred = int(redirect.get("encodedDataLength", 0))
            self.responses[f"{request_id}:{len(self.responses)}"] = hop
        if not url.startswith("data:"):
            self._get(request_id, url)

    def _response(self, event: dict[str, Any]) -> None:
        if event["requestId"] not in self.responses:
            return
        got = event["response"]
        r = self._get(event["requestId"], got["url"])
        r.status = got["status"]
        r.mime = got.get("mimeType", "")
        r.headers = {k.lower(): v for k, v in got["headers"].items()}
        r.cached = r.cached or bool(got.get("fromDiskCache") or got.get("fromPrefetchCache"))

    def _data(self, event: dict[str, Any]) -> None:
        if event["requestId"] in self.responses:
            self.responses[event["requestId"]].body += event["dataLength"]

    def _finished(self, event: dict[str, Any]) -> None:
        if event["requestId"] in self.responses:
            self.responses[event["requestId"]].transferred = int(event["encodedDataLength"])

    def _from_cache(self, event: dict[str, Any]) -> None:
        if event["requestId"] in self.responses:
            self.responses[event["requestId"]].cached = True

    def _frame(self, event: dict[str, Any]) -> None:
        frame = event["response"]
        data = frame["payloadData"]
        self.ws_messages.append(base64.b64decode(data) if frame["opcode"] == 2 else data.encode())

    def _handshake(self, event: dict[str, Any]) -> None:
        headers = {k.lower(): v for k, v in event["response"]["headers"].items()}
        self.ws_extensions.append(headers.get("sec-websocket-extensions", ""))

    @property
    def http_bytes(self) -> int:
        return sum(r.transferred for r in self.responses.values())

    @property
    def requests(self) -> int:
        return len(self.responses)

    @property
    def fetched(self) -> int:
        """Requests that went to the network (not answered from the browser's cache)."""
        return sum(1 for r in self.responses.values() if not r.cached and r.transferred > 0)

    @property
    def websocket_bytes(self) -> int:
        """The server's websocket messages as sent: deflated with context takeover when
        permessage-deflate was agreed (tornado's way), with their frame headers."""
        deflate = any("permessage-deflate" in e for e in self.ws_extensions)
        compressor = zlib.compressobj(6, zlib.DEFLATED, -15, 5)
        total = 0
        for message in self.ws_messages:
            size = len(message)
            if deflate:
                size = len(compressor.compress(message) + compressor.flush(zlib.Z_SYNC_FLUSH)) - 4
            total += size + 2 + (2 if size >= 126 else 0) + (6 if size >= 65536 else 0)
        return total

    @property
    def total_bytes(self) -> int:
        return self.http_bytes + self.websocket_bytes


def first_control(page: Page) -> Any:
    """The first option of the page a learner can choose."""
    return page.locator("#rendered_cells").get_by_role("radio", disabled=False).first


def open_page(page: Page, traffic: Traffic, url: str) -> None:
    """Open ``url`` and wait until its first control is visible and nothing is loading."""
    traffic.clear()
    page.goto(url)
    expect(first_control(page)).to_be_visible(timeout=90_000)
    page.wait_for_load_state("networkidle")
    page.wait_for_timeout(500)


def module_url(platform: Platform, module: str) -> str:
    return f"{platform.url}/services/learn/modul/{module}"


def describe(traffic: Traffic) -> str:
    rows = sorted(traffic.responses.values(), key=lambda r: -r.transferred)[:15]
    return "\n".join(
        f"{r.transferred:>9} {r.status} {r.encoding or '-':5} {r.headers.get('cache-control', '-')}"
        f" {r.url}"
        for r in rows
    )


# -- the test ------------------------------------------------------------------------------

pytestmark = [pytest.mark.slow]


@pytest.fixture(scope="module")
def two_modules(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    yield from start_platform(
        tmp_path_factory.mktemp("page-weight"), [ROOT / "modules" / m for m in MODULES]
    )


@pytest.mark.browser
def test_a_module_page_is_light_and_still_works(two_modules: Platform, browser: Browser) -> None:
    platform = two_modules
    context = browser.new_context(viewport={"width": 360, "height": 800})
    page = context.new_page()
    problems: list[str] = []
    page.on(
        "console",
        lambda m: (
            problems.append(m.text)
            if "Content Security Policy" in m.text or "Refused to" in m.text
            else None
        ),
    )
    page.on("pageerror", lambda e: problems.append(f"uncaught: {e}"))
    login(page, platform, "anna")
    traffic = Traffic(context, page)

    # a first visit, nothing of the learn service's in the cache
    open_page(page, traffic, module_url(platform, MODULES[0]))
    learn = [r for r in traffic.responses.values() if "/services/learn/" in r.url]
    assert learn and len(learn) == traffic.requests, describe(traffic)
    print(
        f"\nfirst visit: {traffic.http_bytes} bytes in {traffic.requests} requests, "
        f"websocket {traffic.websocket_bytes}"
    )
    assert traffic.total_bytes <= FIRST_VISIT, (
        f"first visit: {traffic.http_bytes} bytes in {traffic.requests} requests and "
        f"{traffic.websocket_bytes} on the websocket\n{describe(traffic)}"
    )
    uncompressed = [
        f"{r.url} ({r.mime}, {r.body} bytes)"
        for r in learn
        if r.text
        and r.status == 200
        and r.body >= MIN_COMPRESSED
        and r.encoding not in ("gzip", "br")
    ]
    assert not uncompressed, uncompressed
    assert any("permessage-deflate" in e for e in traffic.ws_extensions), traffic.ws_extensions
    static = [r for r in learn if any(s in r.url for s in STATIC)]
    assert static
    not_kept = [r.url for r in static if IMMUTABLE not in r.headers.get("cache-control", "")]
    assert not not_kept, not_kept
    personal = [r for r in learn if "/voila/render/" in r.url]
    assert personal and all("no-store" in r.headers["cache-control"] for r in personal)
    use_first_control(page)

    # a later visit to another module: only what is personal comes again
    open_page(page, traffic, module_url(platform, MODULES[1]))
    print(
        f"later visit: {traffic.http_bytes} bytes in {traffic.requests} requests, "
        f"websocket {traffic.websocket_bytes}"
    )
    assert traffic.total_bytes <= LATER_VISIT, (
        f"later visit: {traffic.http_bytes} bytes in {traffic.requests} requests and "
        f"{traffic.websocket_bytes} on the websocket\n{describe(traffic)}"
    )
    use_first_control(page)
    assert not problems, problems
    context.close()


def use_first_control(page: Page) -> None:
    """Choose the first option a learner can choose: it is chosen, and saved."""
    before = page.locator(".ol-save").first.get_attribute("data-sparning") or "0"
    option = first_control(page)
    option.click()
    expect(option).to_be_checked()
    expect(page.locator(".ol-save").first).not_to_have_attribute(
        "data-sparning", before, timeout=15_000
    )
    expect(page.locator(".ol-save").first).to_contain_text("Sparat")


# -- headers, without a browser ------------------------------------------------------------


def test_static_assets_are_versioned_compressed_and_kept(two_modules: Platform) -> None:
    client = two_modules.login("bengt")
    page = client.get("/services/learn/modul/kasam")
    assert page.status_code == 200
    assert page.headers["content-encoding"] == "gzip"
    assert "no-store" in page.headers["cache-control"]
    script = re.search(r'src="([^"]*/voila/static/v([0-9a-f]{16})/voila\.js)"', page.text)
    assert script, "voila.js from a versioned path"
    bundle, version = script.group(1), script.group(2)
    config = re.search(
        r'id="jupyter-config-data" type="application/json">(.*?)</script>', page.text, re.S
    )
    assert config
    data = json.loads(config.group(1))
    assert data["fullStaticUrl"].endswith(f"/voila/static/v{version}")
    extensions = {e["name"]: e for e in data["federated_extensions"]}
    assert set(extensions) == {
        "@jupyter-widgets/jupyterlab-manager",
        "@voila-dashboards/widgets-manager8",
    }

    kept = client.get(bundle)
    assert kept.status_code == 200
    assert kept.headers["content-encoding"] == "gzip"
    assert kept.headers["cache-control"] == "public, max-age=31536000, immutable"
    # the same file elsewhere, or under another version, is revalidated every time
    for other in ("voila.js", "v0123456789abcdef/voila.js"):
        reply = client.get(f"/services/learn/voila/static/{other}")
        assert reply.status_code == 200 and reply.content == kept.content
        assert reply.headers["cache-control"] == "no-cache", other

    manager = extensions["@jupyter-widgets/jupyterlab-manager"]
    base = "/services/learn/voila/labextensions/@jupyter-widgets/jupyterlab-manager/"
    entry = client.get(base + manager["load"])
    assert entry.status_code == 200
    assert entry.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert entry.headers["content-encoding"] == "gzip"
    unhashed = client.get(base + "package.json")
    assert unhashed.status_code == 200
    assert unhashed.headers["cache-control"] == "no-cache"

    css = re.search(r'href="([^"]*/voila/templates/lab/static/index\.css\?v=[0-9a-f]+)"', page.text)
    assert css
    sheet = client.get(css.group(1))
    assert sheet.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert sheet.headers["content-encoding"] == "gzip"
    stale = client.get(css.group(1).split("?")[0] + "?v=0")
    assert stale.headers["cache-control"] == "no-cache"

    home = client.get("/services/learn/")
    assert home.headers.get("content-encoding") == "gzip"
    assert home.headers["cache-control"] == "no-store"
