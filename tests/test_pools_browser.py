"""A question pool as a learner meets it, through the real hub, learn and grading services:
an empty Lämna in hands in nothing, questions left ask first, a failed attempt names
sections (never an answer, in anything the browser receives), a new attempt brings other
questions, and the daily limit holds when the services are killed and come back."""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest
from pages import login
from platform_fixture import ROOT, Platform, start_platform
from playwright.sync_api import Browser, Page, expect
from test_learning_browser import saves, wait_saved
from test_phone_layout import serious

from omsorgslyft.authoring import load_module
from omsorgslyft.grading.submissions import SubmissionLog
from omsorgslyft.learn.store import AnswerStore

pytestmark = [pytest.mark.browser, pytest.mark.slow]

KASAM = load_module(ROOT / "modules" / "kasam")
SEPS = ((",", ":"), (", ", ": "))


@pytest.fixture(scope="module")
def pools(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    # the roster's people: the register issues certificates only to them
    yield from start_platform(
        tmp_path_factory.mktemp("pools"),
        [ROOT / "modules" / "kasam"],
        roster=ROOT / "tests" / "fixtures" / "learners.csv",
    )


def secrets(platform: Platform) -> list[str]:
    """Explanations and option feedback of the pool that the page itself does not carry
    (some teach what the module's own text or an exercise says, word for word)."""
    page = (platform.project / "grading" / "release" / "kasam" / "kasam.ipynb").read_text()
    page = json.dumps(json.loads(page), ensure_ascii=False)
    out = [q.explanation_html for q in KASAM.graded_questions]
    out += [o.feedback_html for q in KASAM.graded_questions for o in q.options if o.feedback_html]
    return [s for s in out if s and s not in page]


class Received:
    """Everything the browser receives on a page: response bodies and websocket frames.
    Bodies are read afterwards (a blocking call inside Playwright's event handler stalls
    the page's events)."""

    def __init__(self, page: Page) -> None:
        self.frames: list[str] = []
        self.responses: list[Any] = []
        page.on("websocket", lambda ws: ws.on("framereceived", self._frame))
        page.on("response", lambda response: self.responses.append(response))

    def _frame(self, payload: Any) -> None:
        self.frames.append(payload if isinstance(payload, str) else payload.decode("latin-1"))

    def text(self) -> str:
        bodies = []
        for response in self.responses:
            with contextlib.suppress(Exception):  # a redirect, or a body already gone
                bodies.append(response.body().decode(errors="replace"))
        raw = "\n".join([*self.frames, *bodies])
        # widget state travels as JSON: compare in the same escaping, and unescaped
        return raw + "\n" + raw.encode().decode("unicode_escape", errors="replace")


def shown_questions(page: Page) -> list[str]:
    return page.locator(".ol-graded .ol-prompt").evaluate_all("els => els.map(e => e.id)")


def answer_some(page: Page, n: int) -> None:
    """Choose the first option of the first ``n`` single-choice questions."""
    cards = page.locator(".ol-graded").filter(has=page.locator("input[type=radio]"))
    for i in range(n):
        before = saves(page)
        cards.nth(i).locator("input[type=radio]").first.check()
        wait_saved(page, before)


def hand_in_anyway(page: Page) -> None:
    page.get_by_role("button", name="Lämna in", exact=True).click()
    expect(page.locator(".ol-confirm")).to_be_visible()
    page.get_by_role("button", name="Lämna in ändå").click()
    expect(page.locator(".ol-result")).to_contain_text("Inte godkänd än", timeout=30_000)


def open_kasam(page: Page, platform: Platform, seconds: float = 60) -> None:
    page.goto(f"{platform.url}/services/learn/modul/kasam")
    expect(page.locator(".ol-graded")).to_have_count(10, timeout=seconds * 1000)


def service(platform: Platform, name: str) -> psutil.Process:
    for proc in psutil.process_iter(["cmdline"]):
        cmdline = proc.info["cmdline"] or []
        if name in cmdline and any(str(platform.project) in arg for arg in cmdline):
            return proc
    raise AssertionError(f"no {name}")


def wait_for_grading(platform: Platform, seconds: float) -> None:
    """Until the grading service runs and answers (its workers and kernels started)."""
    grading = f"http://127.0.0.1:{platform.grading_port}/services/grading/api/submissions/x"
    deadline = time.monotonic() + seconds
    while True:
        with contextlib.suppress(httpx.HTTPError, AssertionError):
            service(platform, "omsorgslyft.grading.service")
            if httpx.get(grading, timeout=5).status_code == 401:
                return
        assert time.monotonic() < deadline, "the grading service is not back"
        time.sleep(1)


def test_a_learner_fails_reads_again_and_meets_the_limit(pools: Platform, browser: Browser) -> None:
    context = browser.new_context(viewport={"width": 360, "height": 800})
    page = context.new_page()
    received = Received(page)
    login(page, pools, "anna")
    open_kasam(page, pools)
    log = SubmissionLog(f"sqlite:///{pools.project / 'grading' / 'submissions.db'}")

    # Lämna in with nothing answered hands in nothing
    page.get_by_role("button", name="Lämna in", exact=True).click()
    expect(page.locator(".ol-submit .ol-feedback").first).to_contain_text(
        "Du har inte svarat på någon fråga än"
    )
    assert log.for_learner("anna") == []

    # questions left: the learner is asked first, and the question has focus
    first = shown_questions(page)
    answer_some(page, 2)
    page.get_by_role("button", name="Lämna in", exact=True).click()
    expect(page.locator(".ol-confirm")).to_contain_text(
        "Du har inte svarat på 8 frågor. Lämna in ändå?"
    )
    # the question takes the focus (as soon as the page has drawn it)
    # (a selector, not a polled script: the page's CSP forbids the eval Playwright's
    # polling of a string expression needs)
    expect(page.locator(".ol-confirm:focus-within")).to_have_count(1, timeout=5000)
    assert serious(page) == []  # the question and its two buttons, as WCAG asks
    page.get_by_role("button", name="Svara på fler frågor").click()
    expect(page.locator(".ol-confirm")).to_be_hidden()
    assert log.for_learner("anna") == []
    hand_in_anyway(page)
    result = page.locator(".ol-result")
    expect(result).to_contain_text("Läs de här avsnitten igen")
    assert serious(page) == []
    page.screenshot(path=str(Path("/tmp") / "pools-failed-360.png"), full_page=True)

    # nothing the browser received gives an answer away
    leaked = [s for s in secrets(pools) if s in received.text()]
    assert len(secrets(pools)) >= len(KASAM.graded_questions)  # the check can fail
    assert leaked == []
    # nor the right answer of a multiple-choice, ordering or matching question
    keys = [q.correct_answer() for q in KASAM.graded_questions]
    forms = [json.dumps(k, separators=sep) for k in keys if not isinstance(k, str) for sep in SEPS]
    assert forms and not [f for f in forms if f in received.text()]
    # nor did the learner's kernel get one: its copy of the result is the learn store's
    stored = AnswerStore(f"sqlite:///{pools.learn_db}").results("anna", "kasam")
    assert stored and not [s for s in secrets(pools) if s in json.dumps(stored, ensure_ascii=False)]
    # a section link leads to its heading on the page
    link = result.locator(".ol-reread a").first
    target = link.get_attribute("href")
    assert target and page.locator(target).count() == 1

    # a new attempt: other questions
    page.get_by_role("button", name="Gör ett nytt försök").click()
    expect(page.locator(".ol-attempt-title")).to_contain_text("Försök 2")
    second = shown_questions(page)
    assert len(second) == 10 and set(second) != set(first)
    for number in (2, 3):
        answer_some(page, 1)
        hand_in_anyway(page)
        if number < 3:
            page.get_by_role("button", name="Gör ett nytt försök").click()
            expect(page.locator(".ol-attempt-title")).to_contain_text(f"Försök {number + 1}")
    assert len(log.for_learner("anna")) == 3

    # the fourth today is refused, with the time it opens
    page.get_by_role("button", name="Gör ett nytt försök").click()
    limit = page.locator(".ol-result-box .ol-feedback")
    expect(limit).to_contain_text("Du har gjort 3 försök det senaste dygnet.")
    expect(limit).to_contain_text("Nästa försök öppnar i morgon kl.")

    # kill learn and grading; the hub starts them again; the limit still holds
    for name in ("omsorgslyft.learn.app", "omsorgslyft.grading.service"):
        proc = service(pools, name)
        proc.kill()
        gone_by = time.monotonic() + 10  # gone, or a zombie until the hub reaps it
        while proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE:
            assert time.monotonic() < gone_by, name
            time.sleep(0.1)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{pools.url}/services/learn/", timeout=5).status_code in (200, 302):
                break
        except httpx.HTTPError:
            pass
        time.sleep(1)
    # the hub finds each dead service on its own round: grading may come back later
    wait_for_grading(pools, seconds=180)
    # the first page after both services were killed starts a kernel of its own while
    # the restarted service preheats: on a busy machine that takes longer
    open_kasam(page, pools, seconds=150)
    expect(page.locator(".ol-result")).to_contain_text("Inte godkänd än")
    page.get_by_role("button", name="Gör ett nytt försök").click()
    expect(limit).to_contain_text("Du har gjort 3 försök det senaste dygnet.")
    assert len(log.for_learner("anna")) == 3
    context.close()


def test_answers_outside_the_draw_are_refused_and_not_written(pools: Platform) -> None:
    from test_learn_limits import page_api

    answers = AnswerStore(f"sqlite:///{pools.learn_db}")
    token = answers.open_session("bengt", "kasam", KASAM.version)
    loaded = page_api(pools, "load", token).json()
    drawn = set(loaded["attempt"]["questions"])
    assert len(drawn) == 10 and "answer" not in json.dumps(loaded)
    outside = next(q for q in KASAM.graded_questions if q.id not in drawn and q.options)
    inside = next(q for q in KASAM.graded_questions if q.id in drawn and q.options)
    refused = page_api(
        pools, "save", token, {"kind": "svar", "key": outside.id, "value": outside.options[0].id}
    )
    assert refused.status_code == 400 and "ingår inte i ditt försök" in refused.json()["error"]
    empty = page_api(pools, "submit", token)
    assert empty.status_code == 400 and "inte svarat" in empty.json()["error"]
    ok = page_api(
        pools, "save", token, {"kind": "svar", "key": inside.id, "value": inside.options[0].id}
    )
    assert ok.status_code == 200
    session = answers.session(token)
    assert session is not None
    assert set(answers.load(session)["svar"]) == {inside.id}
    # a second attempt cannot start before this one is handed in
    early = page_api(pools, "attempt", token)
    assert early.status_code == 409 and "Lämna in" in early.json()["error"]


def test_a_pass_of_variant_b_is_a_pass_with_its_certificate(pools: Platform) -> None:
    """Whichever variant an attempt is, its pass is the module's: in the gradebook under
    the variant's assignment, on Mina utbildningar, and as a certificate."""
    from nbgrader.api import Gradebook
    from sqlalchemy import update
    from test_learn_limits import page_api

    from omsorgslyft.authoring.draws import draw_variants
    from omsorgslyft.grading.course import COURSE_ID
    from omsorgslyft.learn.store import attempt

    from answers import right_answers

    wait_for_grading(pools, seconds=180)  # also after the test before killed it
    answers = AnswerStore(f"sqlite:///{pools.learn_db}")
    token = answers.open_session("cecilia", "kasam", KASAM.version)
    assert page_api(pools, "load", token).status_code == 200  # the first attempt begins
    with answers.engine.begin() as conn:  # make it variant b, whatever was drawn
        conn.execute(update(attempt).where(attempt.c.learner == "cecilia").values(variant="b"))
    loaded = page_api(pools, "load", token).json()
    assert loaded["attempt"]["variant"] == "b"
    asked = loaded["attempt"]["questions"]
    assert set(asked) == set(draw_variants(KASAM)["b"])
    right = right_answers(KASAM)
    for qid in asked:
        saved = page_api(pools, "save", token, {"kind": "svar", "key": qid, "value": right[qid]})
        assert saved.status_code == 200, saved.text
    reply = page_api(pools, "submit", token)
    assert reply.status_code == 200, reply.text
    result = reply.json()["result"]
    assert result["passed"] and result["variant"] == "kasam-v1-b"
    # the explanations of the questions asked, now that it is a pass
    assert {q["id"] for q in result["questions"]} == set(asked)
    assert all(q["explanation"] for q in result["questions"])

    with Gradebook(f"sqlite:///{pools.project / 'grading' / 'gradebook.db'}", COURSE_ID) as gb:
        graded = gb.find_submission("kasam-v1-b", "cecilia")
        assert graded.score == graded.max_score > 0

    client = pools.login("cecilia")
    home = client.get("/services/learn/")
    assert "Godkänd" in home.text
    pdf = client.get("/services/learn/intyg/kasam.pdf")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    client.close()


def test_a_learner_cannot_open_a_variants_notebook(pools: Platform) -> None:
    """Only module pages render for learners: a variant's nbgrader notebook (released, so
    without its key) is not a page, and nothing of the source is served."""
    client = pools.login("david")
    for path in (
        "voila/render/kasam-v1-a/kasam-v1-a.ipynb",
        "voila/files/kasam-v1-a/kasam-v1-a.ipynb",
        "voila/render/../source/kasam-v1-a/kasam-v1-a.ipynb",
        "voila/files/../source/kasam-v1-a/kasam-v1-a.ipynb",
    ):
        reply = client.get(f"/services/learn/{path}")
        assert reply.status_code in (403, 404), (path, reply.status_code)
        assert "BEGIN SOLUTION" not in reply.text and "assert svar" not in reply.text
    assert client.get("/services/learn/voila/render/kasam/kasam.ipynb").status_code == 200
    client.close()
