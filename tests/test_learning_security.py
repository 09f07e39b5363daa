"""Security of the learn and grading services, against the real running platform."""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from pathlib import Path

import httpx
import pytest
import websockets
from jupyter_client import BlockingKernelClient
from platform_fixture import ROOT, Platform

from omsorgslyft.authoring import load_module
from omsorgslyft.learn.store import AnswerStore

pytestmark = pytest.mark.slow
EXAMPLE = load_module(ROOT / "docs" / "exempelmodul")


def open_module(client: httpx.Client) -> tuple[str, str]:
    """Render the example module for a logged-in client; returns (page html, kernel id)."""
    page = client.get("/services/learn/modul/exempelmodul")
    assert page.status_code == 200, page.text[:300]
    config = json.loads(
        re.search(
            r'id="jupyter-config-data" type="application/json">(.*?)</script>', page.text, re.S
        ).group(1)
    )
    return page.text, config["kernelId"]


def ws_url(platform: Platform, kernel_id: str) -> str:
    return platform.url.replace("http", "ws") + f"/services/learn/api/kernels/{kernel_id}/channels"


def cookie_header(client: httpx.Client) -> str:
    return "; ".join(f"{c.name}={c.value}" for c in client.cookies.jar)


def message(msg_type: str, content: dict[str, object]) -> str:
    msg_id = uuid.uuid4().hex
    return json.dumps(
        {
            "header": {
                "msg_id": msg_id,
                "msg_type": msg_type,
                "username": "x",
                "session": "s",
                "version": "5.3",
                "date": "",
            },
            "parent_header": {},
            "metadata": {},
            "content": content,
            "channel": "shell",
            "buffers": [],
        }
    )


def test_no_login_is_turned_away(platform: Platform) -> None:
    with platform.client() as anonymous:
        for path in (
            "/services/learn/",
            "/services/learn/modul/exempelmodul",
            "/services/learn/voila/render/exempelmodul/exempelmodul.ipynb",
            "/services/learn/api/mina",
            "/services/learn/intyg/exempelmodul.pdf",
        ):
            reply = anonymous.get(path)
            assert reply.status_code in (302, 401, 403), path
            if reply.status_code == 302:
                assert (
                    "/hub/api/oauth2/authorize" in reply.headers["location"]
                    or "/hub/login" in reply.headers["location"]
                )
        assert anonymous.post("/services/learn/api/page/save", content=b"{}").status_code == 401
        assert anonymous.post("/services/grading/api/submissions", content=b"{}").status_code == 401


def test_execute_request_is_refused(platform: Platform, tmp_path: Path) -> None:
    client = platform.login("anna")
    _, kernel_id = open_module(client)
    marker = tmp_path / "pwned"

    async def attack() -> list[str]:
        seen: list[str] = []
        async with websockets.connect(
            ws_url(platform, kernel_id), additional_headers={"Cookie": cookie_header(client)}
        ) as ws:
            await ws.send(
                message(
                    "execute_request",
                    {"code": f"open({str(marker)!r}, 'w').write('x')", "silent": False},
                )
            )
            await ws.send(message("kernel_info_request", {}))
            try:
                while True:
                    reply = json.loads(await asyncio.wait_for(ws.recv(), 5))
                    seen.append(reply["msg_type"])
            except (TimeoutError, websockets.ConnectionClosed):
                pass
        return seen

    seen = asyncio.run(attack())
    assert "kernel_info_reply" in seen  # the socket works ...
    assert "execute_reply" not in seen and "execute_input" not in seen  # ... but code is not run
    assert not marker.exists()


def test_other_learners_kernel_is_out_of_reach(platform: Platform) -> None:
    anna = platform.login("anna")
    _, kernel_id = open_module(anna)
    bengt = platform.login("bengt")

    async def connect() -> None:
        async with websockets.connect(
            ws_url(platform, kernel_id), additional_headers={"Cookie": cookie_header(bengt)}
        ):
            pass

    with pytest.raises(websockets.InvalidStatus) as info:
        asyncio.run(connect())
    assert info.value.response.status_code == 403
    assert bengt.get(f"/services/learn/api/kernels/{kernel_id}").status_code in (403, 404)
    assert bengt.post(f"/services/learn/voila/api/shutdown/{kernel_id}").status_code == 403


def test_page_holds_no_answer_key(platform: Platform) -> None:
    html, _ = open_module(platform.login("cecilia"))
    assert "Det här är vanlig text" in html and "widget-view+json" in html  # the page is rendered
    for q in EXAMPLE.graded_questions:
        assert q.explanation_html not in html, q.id
        for option in q.options:
            if option.feedback_html:
                assert option.feedback_html not in html
    assert "BEGIN SOLUTION" not in html and "HIDDEN TESTS" not in html and "assert" not in html
    assert "ol.connect" not in html  # code (and the page's token) never reaches the browser


def _kernel_client(platform: Platform, kernel_id: str) -> BlockingKernelClient:
    import psutil

    files = {
        part
        for p in psutil.process_iter(["cmdline"])
        for part in p.info["cmdline"] or []
        if part.endswith(f"kernel-{kernel_id}.json")
    }
    assert len(files) == 1
    kc = BlockingKernelClient()
    kc.load_connection_file(files.pop())
    kc.start_channels()
    kc.wait_for_ready(timeout=30)
    return kc


def _run(kc: BlockingKernelClient, code: str) -> str:
    kc.execute(code)
    out = []
    while True:
        msg = kc.get_iopub_msg(timeout=30)
        if msg["msg_type"] == "stream":
            out.append(msg["content"]["text"])
        if msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
            return "".join(out)


def test_kernel_state_holds_no_answer_key(platform: Platform) -> None:
    """Inspect the learner's kernel from the server side: no correct answer in memory."""
    _, kernel_id = open_module(platform.login("david"))
    kc = _kernel_client(platform, kernel_id)
    try:
        dump = _run(
            kc,
            "import gc, json\n"
            "strings = [o for o in gc.get_objects() if isinstance(o, dict)]\n"
            "print(json.dumps([repr(d)[:20000] for d in strings if 'options' in d or 'items' in d or 'right' in d]))",
        )
    finally:
        kc.stop_channels()
    specs = "\n".join(json.loads(dump))
    assert "Vad betyder salutogenes?" in specs  # graded question specs are there ...
    for q in EXAMPLE.graded_questions:
        assert q.explanation_html not in specs
        answer = q.correct_answer()
        if isinstance(answer, (list, dict)):
            assert repr(answer) not in specs and json.dumps(answer) not in specs
    for q in EXAMPLE.graded_questions:
        assert f"'id': '{q.id}'" in specs
    # ... and none of them carries an answer
    graded = re.findall(r"\{'type': '[^']+', 'id': 'k-[^']+'.*?\}\]", specs)
    assert graded and not any("'answer'" in g or "'correct'" in g for g in graded)


def _token(platform: Platform, learner: str) -> str:
    store = AnswerStore(f"sqlite:///{platform.learn_db}")
    return store.open_session(learner, "exempelmodul", EXAMPLE.version)


def _saved(platform: Platform, learner: str) -> dict[str, dict[str, object]]:
    store = AnswerStore(f"sqlite:///{platform.learn_db}")
    from omsorgslyft.learn.store import PageSession

    return store.load(PageSession(learner, "exempelmodul", EXAMPLE.version))


def test_forged_and_oversized_answers_are_refused(platform: Platform) -> None:
    token = _token(platform, "erik")
    headers = {"Authorization": f"Bearer {token}"}
    url = f"http://127.0.0.1:{platform.learn_port}/services/learn/api/page/save"
    before = _saved(platform, "erik")
    bad = [
        {"kind": "svar", "key": "k-enkel", "value": "not-an-option"},
        {"kind": "svar", "key": "k-enkel", "value": {"$ne": 1}},
        {"kind": "svar", "key": "k-fler", "value": ["x", "y"]},
        {"kind": "svar", "key": "k-ordning", "value": ["a"]},
        {"kind": "svar", "key": "ingen-sadan", "value": "x"},
        {"kind": "ovning", "key": "k-enkel", "value": None},
        {"kind": "reflektion", "key": "ref-1", "value": "x" * 20_000},
        {"kind": "admin", "key": "k-enkel", "value": "x"},
    ]
    for payload in bad:
        reply = httpx.post(url, json=payload, headers=headers)
        assert reply.status_code == 400, payload
    assert httpx.post(url, content=b"{" + b" " * 70_000 + b"}", headers=headers).status_code == 413
    assert httpx.post(url, content=b"not json", headers=headers).status_code == 400
    assert (
        httpx.post(url, json=bad[0], headers={"Authorization": "Bearer forged"}).status_code == 401
    )
    assert _saved(platform, "erik") == before
    good = {"kind": "svar", "key": "k-enkel", "value": EXAMPLE.graded_questions[0].options[0].id}
    assert httpx.post(url, json=good, headers=headers).status_code == 200
    assert _saved(platform, "erik")["svar"] == {"k-enkel": good["value"]}


def test_learners_only_see_their_own(platform: Platform) -> None:
    anna = platform.login("anna")
    mine = anna.get("/services/learn/api/mina").json()
    assert {row["id"] for row in mine} == {"exempelmodul"}
    # grading is for the learn service only: a learner's cookie does not open it
    anna.follow_redirects = False
    assert anna.get("/services/grading/api/learners/bengt/submissions").status_code == 401
    assert anna.post("/services/grading/api/submissions", json={}).status_code == 401
    # a certificate exists only for one's own pass
    bengt = platform.login("bengt")
    assert bengt.get("/services/learn/intyg/exempelmodul.pdf").status_code == 404
