"""Preheated module pages: each kernel is bound to the learner it is handed to, once.

Against a real platform of its own (the pool's state is followed from the service log):
a preheated kernel gets the saved answers of the learner it is handed to and nobody
else's; a bind request that is forged, stale, second, or for a kernel the pool does not
hold is refused; waiting kernels know nobody, are out of every learner's reach, are never
culled, and the pool stays within its size and refills. The runtime's side (empty slots
until the learner is known, then their state) and the pool's allocation are tested
in-process.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets
from platform_fixture import CHROMIUM_ARGS, PASSWORD, ROOT, Platform, start_platform
from test_learn_limits import (
    RIGHT,
    connection_file,
    kernel_process,
    open_module,
    page_api,
    page_token,
    run_in_kernel,
    store,
)
from test_learning_security import cookie_header, ws_url

from omsorgslyft.authoring import load_module
from omsorgslyft.learn.preheat import allocate
from omsorgslyft.model import Reflection
from omsorgslyft.runtime.remote import bind_signature

EXAMPLE = load_module(ROOT / "docs" / "exempelmodul")
EXERCISE = next(q for q in EXAMPLE.questions if not q.graded)  # "Vilken del av KASAM …"
SIZE = 2
MODULE = EXAMPLE.id

# a pool of two, refilled one second after the last page was opened; any user name
POOL = """
c.Authenticator.post_auth_hook.open_to |= {"erik", "frida", "gustav"}  # the demo gate
for _service in c.JupyterHub.services:
    if _service["name"] == "learn":
        _service["command"] += ["--LearnApp.pool_size=2", "--LearnApp.pool_refill_delay=1"]
"""


# -- in-process: the runtime and the allocation ------------------------------------------


def test_slots_stay_empty_until_the_learner_is_known() -> None:
    """Before binding a block is an empty slot (nothing of anyone's, nothing to use);
    after it, the block is built with the learner's saved state."""
    import omsorgslyft.runtime as ol
    from omsorgslyft.authoring.notebook import check_spec, learner_spec

    spec = learner_spec(EXAMPLE, EXERCISE)
    ol.start({"id": EXAMPLE.id, "version": EXAMPLE.version, "questions": []})
    ol._waiting = []
    try:
        ol.show(spec)
        ol.check(check_spec(EXAMPLE))
        slots = [slot for _, slot in ol._waiting]
        assert len(slots) == 2 and all(slot.children == () for slot in slots)
        saved = EXERCISE.options[1].id
        state = {"svar": {}, "ovning": {EXERCISE.id: saved}, "dialog": {}, "reflektion": {}}
        asked = [q.id for q in EXAMPLE.graded_questions][::-1][:2]
        attempt = {"number": 2, "variant": "a", "questions": asked, "seed": 7}
        reply = {"token": "t", "state": state, "result": None, "attempt": attempt}
        ol._bound("http://127.0.0.1:1/", reply)
        assert ol._waiting is None
        assert ol.session.store.token == "t"
        assert ol.session.get("ovning", EXERCISE.id) == saved
        values = [getattr(w, "value", None) for w in _walk(slots[0].children[0])]
        assert saved in values  # the control shows the learner's answer
        # the knowledge check shows this attempt's questions, in its order
        check = slots[1].children[0]
        shown = [c for c in _walk(check) if "ol-prompt" in str(getattr(c, "value", ""))]
        assert all(f'id="ol-fraga-{q}"' in c.value for q, c in zip(asked, shown, strict=True))
        assert len(shown) == 2
    finally:
        ol._waiting = None


def _walk(widget: Any) -> Iterator[Any]:
    yield widget
    for child in getattr(widget, "children", ()):
        yield from _walk(child)


def test_allocation_follows_demand_and_covers_every_module_when_it_can() -> None:
    assert allocate([("a", 1.0), ("b", 1.0), ("c", 1.0)], 2) == {"a": 1, "b": 1, "c": 0}
    assert allocate([("a", 1.0), ("b", 1.0)], 4) == {"a": 2, "b": 2}
    assert allocate([("a", 1.0), ("b", 6.0), ("c", 1.0)], 3) == {"a": 0, "b": 3, "c": 0}
    assert allocate([("a", 2.0), ("b", 1.5), ("c", 1.0)], 3) == {"a": 2, "b": 1, "c": 0}
    assert allocate([], 3) == {}


def test_a_bind_signature_covers_the_kernel_and_the_time() -> None:
    key = b"k" * 32
    signed = bind_signature(key, "kernel-a", 1000)
    assert signed == bind_signature(key, "kernel-a", 1000)
    assert signed != bind_signature(key, "kernel-b", 1000)
    assert signed != bind_signature(key, "kernel-a", 1001)
    assert signed != bind_signature(b"x" * 32, "kernel-a", 1000)


# -- the real platform -------------------------------------------------------------------

READY = re.compile(r"Preheated kernel ([0-9a-f-]{36}) ready for (\S+)")
HANDED = re.compile(r"Preheated kernel ([0-9a-f-]{36}) handed out for")


@pytest.fixture(scope="module")
def pool_platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    yield from start_platform(
        tmp_path_factory.mktemp("pool-platform"),
        [ROOT / "docs" / "exempelmodul"],
        extra_config=POOL,
    )


def waiting(platform: Platform) -> list[str]:
    """Preheated kernels ready and not handed out (from the service log), still running."""
    log = platform.log.read_text(errors="replace")
    handed = set(HANDED.findall(log))
    return [k for k, _ in READY.findall(log) if k not in handed and kernel_process(k) is not None]


def wait_for_pool(platform: Platform, n: int = SIZE, seconds: float = 90) -> list[str]:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        ready = waiting(platform)
        if len(ready) >= n:
            return ready
        time.sleep(0.3)
    raise AssertionError(f"the pool did not fill: {waiting(platform)}")


def handed_out(platform: Platform, kernel_id: str) -> bool:
    return kernel_id in HANDED.findall(platform.log.read_text(errors="replace"))


def kernel_key(kernel_id: str) -> bytes:
    """The kernel's connection key, read from its connection file (as root would)."""
    proc = kernel_process(kernel_id)
    assert proc is not None
    return str(json.loads(connection_file(proc).read_text())["key"]).encode()


def bind(
    platform: Platform,
    kernel_id: str,
    key: bytes,
    when: int | None = None,
    timeout: float = 5,
    url: str | None = None,
    **client: Any,
) -> httpx.Response | None:
    """A bind request as a kernel sends it; None if it is held (no answer in time)."""
    when = int(time.time()) if when is None else when
    body = {"kernel": kernel_id, "time": when, "signature": bind_signature(key, kernel_id, when)}
    target = url or f"http://127.0.0.1:{platform.learn_port}/services/learn/api/page/bind"
    try:
        return httpx.post(target, json=body, timeout=timeout, **client)
    except httpx.ReadTimeout:
        return None


def in_kernel(kernel_id: str, code: str) -> Any:
    return json.loads(run_in_kernel(kernel_id, code))


STATE = (
    "import json, omsorgslyft.runtime as ol\n"
    "from ipywidgets.widgets.widget import _instances\n"
    "print(json.dumps({'waiting': ol._waiting is not None, 'state': ol.session.state,\n"
    "  'store': type(ol.session.store).__name__,\n"
    "  'values': [getattr(w, 'value', None) for w in list(_instances.values())\n"
    "             if type(w).__name__ in ('RadioButtons', 'Textarea')]}))"
)


@pytest.mark.slow
def test_a_preheated_kernel_is_bound_to_the_learner_it_is_handed_to(
    pool_platform: Platform,
) -> None:
    platform = pool_platform
    answers = store(platform)
    token = answers.open_session("anna", MODULE, EXAMPLE.version)
    secret = f"annas-reflektion-{uuid.uuid4().hex[:8]}"
    reflection = next(b.id for b in EXAMPLE.blocks if isinstance(b, Reflection))
    for body in (
        {"kind": "svar", "key": "k-enkel", "value": RIGHT},
        {"kind": "reflektion", "key": reflection, "value": secret},
    ):
        assert page_api(platform, "save", token, body).status_code == 200

    pooled = wait_for_pool(platform)
    before = in_kernel(pooled[0], STATE)
    # waiting: nobody's state, an empty page, no token
    assert before["waiting"] and before["store"] == "MemoryStore"
    assert before["values"] == [] and not any(before["state"].values())

    anna = platform.login("anna")
    page, kernel = open_module(anna)
    assert kernel in pooled and handed_out(platform, kernel)
    assert secret not in page.text  # state reaches the page only through the kernel
    deadline = time.monotonic() + 15
    while (mine := in_kernel(kernel, STATE))["waiting"] and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not mine["waiting"] and mine["store"] == "RemoteStore"
    assert mine["state"]["svar"] == {"k-enkel": RIGHT}
    assert mine["state"]["reflektion"] == {reflection: secret}
    assert RIGHT in mine["values"] and secret in mine["values"]  # in the widgets, too
    # its token is anna's, for this module
    assert page_api(platform, "load", page_token(kernel)).json()["state"]["svar"] == {
        "k-enkel": RIGHT
    }

    wait_for_pool(platform, 1)
    page, theirs = open_module(platform.login("bengt"))
    assert handed_out(platform, theirs) and theirs != kernel
    assert secret not in page.text
    deadline = time.monotonic() + 15
    while (other := in_kernel(theirs, STATE))["waiting"] and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not other["waiting"]
    assert not any(other["state"].values())
    assert RIGHT not in other["values"] and secret not in other["values"]
    assert page_api(platform, "load", page_token(theirs)).json()["state"]["svar"] == {}


@pytest.mark.slow
def test_forged_stale_second_and_unknown_binds_are_refused(pool_platform: Platform) -> None:
    platform = pool_platform
    pooled = wait_for_pool(platform)[0]
    key = kernel_key(pooled)
    forged = b"0" * len(key)
    # forged: another key, a stale time, another kernel's id
    for attempt in (
        bind(platform, pooled, forged),
        bind(platform, pooled, key, when=int(time.time()) - 3600),
        bind(platform, pooled, key, when=int(time.time()) + 3600),
        bind(platform, str(uuid.uuid4()), key),
        bind(platform, str(uuid.uuid4()), forged),
    ):
        assert attempt is not None and attempt.status_code == 403, attempt
        assert "token" not in attempt.text
    # through the proxy, with a learner's cookies: the same (the page never has the key)
    anna = platform.login("anna")
    public = f"{platform.url}/services/learn/api/page/bind"
    attempt = bind(platform, pooled, forged, url=public, cookies=anna.cookies)
    assert attempt is not None and attempt.status_code == 403
    # the kernel's own key, while its own request waits: a second request
    second = bind(platform, pooled, key)
    assert second is not None and second.status_code == 409, second
    # what a bind request may be
    url = f"http://127.0.0.1:{platform.learn_port}/services/learn/api/page/bind"
    assert httpx.post(url, content=b"not json").status_code == 400
    assert (
        httpx.post(url, json={"kernel": pooled, "time": "now", "signature": ""}).status_code == 400
    )
    assert httpx.post(url, content=b"{" + b" " * 5000 + b"}").status_code == 413

    # none of it disturbed the kernel's own request: handed out, it is bound as usual
    for _ in range(SIZE + 1):
        if open_module(anna)[1] == pooled:
            break
        wait_for_pool(platform, 1)
    assert handed_out(platform, pooled)
    token = page_token(pooled)
    assert page_api(platform, "load", token).status_code == 200
    # bound: its id opens nothing again, with its own key either
    again = bind(platform, pooled, key)
    assert again is not None and again.status_code == 403 and token not in again.text


@pytest.mark.slow
def test_a_kernel_started_for_its_page_cannot_bind(pool_platform: Platform) -> None:
    """With the pool empty a page starts its own kernel, with its token from the start
    cell: it can bind to no one (not even its own learner a second time)."""
    platform = pool_platform
    client = platform.login("cecilia")
    kernels = [open_module(client)[1] for _ in range(SIZE + 1)]
    cold = [k for k in kernels if not handed_out(platform, k)]
    assert cold, "every page was preheated"
    refused = bind(platform, cold[-1], kernel_key(cold[-1]))
    assert refused is not None and refused.status_code == 403
    assert page_api(platform, "load", page_token(cold[-1])).status_code == 200


@pytest.mark.slow
def test_waiting_kernels_know_nobody_and_are_out_of_reach(pool_platform: Platform) -> None:
    platform = pool_platform
    pooled = wait_for_pool(platform)[0]
    proc = kernel_process(pooled)
    assert proc is not None
    environ = Path(f"/proc/{proc.pid}/environ").read_bytes().split(b"\0")
    names = {item.split(b"=", 1)[0].decode() for item in environ if item}
    # no request of anyone's (Voilà's pool would carry the last one's URL), no credentials
    assert not names & {"VOILA_REQUEST_URL", "QUERY_STRING", "SCRIPT_NAME", "SERVER_NAME"}
    assert not {n for n in names if n.startswith(("JUPYTERHUB", "HTTP_"))}
    assert all(b"token" not in item.lower() for item in environ)

    david = platform.login("david")
    headers = {"Cookie": cookie_header(david)}

    async def connect() -> None:
        async with websockets.connect(ws_url(platform, pooled), additional_headers=headers):
            pass

    with pytest.raises(websockets.InvalidStatus) as info:
        asyncio.run(connect())
    assert info.value.response.status_code == 403
    david.follow_redirects = False
    assert david.get(f"/services/learn/api/kernels/{pooled}").status_code in (403, 404)
    assert david.post(f"/services/learn/voila/api/shutdown/{pooled}").status_code == 403
    assert kernel_process(pooled) is not None and pooled in waiting(platform)


@pytest.mark.slow
def test_the_pool_stays_bounded_refills_and_is_never_culled(pool_platform: Platform) -> None:
    """The platform culls idle kernels after 12 s: a waiting kernel stays, a handed-out
    one is culled idle from its hand-out; the pool never holds more than its size."""
    platform = pool_platform
    wait_for_pool(platform)
    time.sleep(15)  # past the idle limit (cull checks every 3 s)
    still = waiting(platform)
    assert len(still) == SIZE, still
    client = platform.login("frida")
    mine = [open_module(client)[1] for _ in range(SIZE)]
    assert all(handed_out(platform, k) for k in mine)
    refilled = wait_for_pool(platform, SIZE, seconds=60)
    assert not set(refilled) & set(mine)
    assert len(waiting(platform)) <= SIZE
    # the handed-out kernels (no page connected) are culled like any other
    deadline = time.monotonic() + 45
    while any(kernel_process(k) for k in mine) and time.monotonic() < deadline:
        time.sleep(1)
    assert not any(kernel_process(k) for k in mine)
    assert len(waiting(platform)) == SIZE


@pytest.mark.slow
@pytest.mark.browser
def test_a_preheated_page_in_a_browser_shows_only_its_learners_answers(
    pool_platform: Platform,
) -> None:
    from playwright.sync_api import expect, sync_playwright

    platform = pool_platform
    token = store(platform).open_session("erik", MODULE, EXAMPLE.version)
    option = EXERCISE.options[0]
    body = {"kind": "ovning", "key": EXERCISE.id, "value": option.id}
    assert page_api(platform, "save", token, body).status_code == 200
    label = re.sub(r"<[^>]+>", "", option.html).strip()
    prompt = "Vilken del av KASAM handlar om att förstå"

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        try:
            for learner, checked in (("erik", True), ("gustav", False)):
                wait_for_pool(platform, 1)
                page = browser.new_context().new_page()
                page.goto(f"{platform.url}/hub/login")
                page.get_by_label("Användarnamn").fill(learner)
                page.get_by_label("Lösenord").fill(PASSWORD)
                page.get_by_role("button", name="Logga in").click()
                page.get_by_role("link", name="Exempelmodul med alla blocktyper").first.click()
                expect(page.locator(".ol-card").first).to_be_visible(timeout=60_000)
                config = json.loads(page.locator("#jupyter-config-data").text_content() or "{}")
                assert handed_out(platform, config["kernelId"])
                box = page.locator(".ol-card").filter(has_text=prompt).get_by_label(label)
                if checked:
                    expect(box).to_be_checked()
                else:
                    expect(box).not_to_be_checked()
                page.context.close()
        finally:
            browser.close()
