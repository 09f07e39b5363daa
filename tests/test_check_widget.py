"""The knowledge check on the page, driven in-process with the messages a page sends:
nothing handed in empty, a confirmation before handing in with questions left, an option
order of each attempt's own, a failed result that shows no key, and a new attempt."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from test_safe_widgets import click

from omsorgslyft.authoring import load_module
from omsorgslyft.authoring.draws import draw_variants
from omsorgslyft.authoring.notebook import check_spec
from omsorgslyft.runtime import widgets
from omsorgslyft.runtime.knowledge_check import check_widget, shuffled_spec
from omsorgslyft.runtime.session import MemoryStore, Session

from answers import wrong_answers

ROOT = Path(__file__).resolve().parents[1]
KASAM = load_module(ROOT / "modules" / "kasam")
SPEC = check_spec(KASAM)
VARIANTS = draw_variants(KASAM)


class PageStore(MemoryStore):
    """The learn service as the page's kernel sees it, with grading's answers scripted."""

    def __init__(self, result: dict[str, Any]) -> None:
        super().__init__()
        self.submits = 0
        self.result = result
        self.next: dict[str, Any] = {}

    def submit(self) -> dict[str, Any]:
        self.submits += 1
        return {"status": "klar", "result": self.result}

    def new_attempt(self) -> dict[str, Any]:
        return {"attempt": self.next, "state": {"svar": {}}}


def attempt(letter: str, number: int = 1, seed: int = 11) -> dict[str, Any]:
    return {"number": number, "variant": letter, "questions": list(VARIANTS[letter]), "seed": seed}


def failed_result(asked: list[str]) -> dict[str, Any]:
    by_id = {q.id: q for q in KASAM.graded_questions}
    return {
        "module": "kasam",
        "passed": False,
        "score": 2,
        "max_score": 11,
        "percent": 18.2,
        "pass_mark": 80,
        "questions": [
            {
                "id": q,
                "points": 0,
                "max_points": 1,
                "correct": False,
                "answered": True,
                "section": by_id[q].section,
                "section_id": by_id[q].section_id,
            }
            for q in asked
        ],
    }


@pytest.fixture
def store() -> PageStore:
    return PageStore(failed_result(list(VARIANTS["a"])))


@pytest.fixture
def session(store: PageStore) -> Session:
    s = Session(store, {"id": "kasam", "version": 1})
    s.preview = False
    s.attempt = attempt("a")
    return s


def parts(box: Any) -> dict[str, Any]:
    line, questions, button, confirm, status, result = box.children
    return {
        "questions": questions,
        "button": button,
        "confirm_text": confirm.children[0],
        "go_on": confirm.children[1].children[0],
        "back": confirm.children[1].children[1],
        "confirm": confirm,
        "status": status,
        "result": result,
        "line": line,
    }


def prompts(box: Any) -> list[str]:
    return [card.children[0].value for card in parts(box)["questions"].children]


def test_the_attempt_shows_its_questions_in_its_order(session: Session) -> None:
    box = check_widget(SPEC, session)
    shown = prompts(box)
    assert len(shown) == len(VARIANTS["a"])
    for qid, html in zip(VARIANTS["a"], shown, strict=True):
        assert f'id="ol-fraga-{qid}"' in html
    assert "Fråga 1 av 10" in shown[0]


def test_each_attempt_orders_the_options_its_own_way() -> None:
    question = next(q for q in KASAM.graded_questions if len(q.options) >= 3)
    spec = SPEC["questions"][question.id]
    orders = {tuple(o["id"] for o in shuffled_spec(spec, seed)["options"]) for seed in range(8)}
    assert len(orders) > 1
    assert all(sorted(order) == sorted(o.id for o in question.options) for order in orders)


def test_nothing_is_handed_in_empty(session: Session, store: PageStore) -> None:
    box = check_widget(SPEC, session)
    click(parts(box)["button"])
    assert store.submits == 0
    assert "inte svarat på någon fråga" in parts(box)["status"].value


def test_questions_left_ask_first(session: Session, store: PageStore) -> None:
    box = check_widget(SPEC, session)
    wrong = wrong_answers(KASAM)
    for qid in VARIANTS["a"][:7]:
        session.set("svar", qid, wrong[qid])
    p = parts(box)
    click(p["button"])
    assert store.submits == 0
    assert p["confirm"].layout.display is None  # shown
    assert p["confirm_text"].value == "Du har inte svarat på 3 frågor. Lämna in ändå?"
    click(p["back"])
    assert store.submits == 0 and p["confirm"].layout.display == "none"
    # hiding the confirmation hid nothing else (it has a layout of its own)
    assert widgets.GROW.display is None
    click(p["button"])
    click(p["go_on"])
    assert store.submits == 1


def test_a_failed_result_names_sections_not_answers(session: Session, store: PageStore) -> None:
    for qid in VARIANTS["a"]:
        session.set("svar", qid, wrong_answers(KASAM)[qid])
    box = check_widget(SPEC, session)
    click(parts(box)["button"])
    html = parts(box)["result"].children[1].value
    assert "Inte godkänd än" in html and "Läs de här avsnitten igen" in html
    for q in KASAM.graded_questions:
        if q.id in VARIANTS["a"]:
            assert f'href="#{q.section_id}"' in html
        assert q.explanation_html not in html
    # the handed-in attempt's controls are locked, Lämna in too
    assert parts(box)["button"].disabled


def test_a_new_attempt_brings_new_questions(session: Session, store: PageStore) -> None:
    for qid in VARIANTS["a"]:
        session.set("svar", qid, wrong_answers(KASAM)[qid])
    box = check_widget(SPEC, session)
    click(parts(box)["button"])
    again = parts(box)["result"].children[2]
    assert again.description == "Gör ett nytt försök" and again.layout.display is None
    store.next = attempt("b", number=2, seed=99)
    click(again)
    shown = prompts(box)
    assert all(f'id="ol-fraga-{q}"' in html for q, html in zip(VARIANTS["b"], shown, strict=True))
    assert set(VARIANTS["a"]) != set(VARIANTS["b"])
    assert not parts(box)["button"].disabled and session.answers == {}
    assert parts(box)["line"].value == "Försök 2: 10 frågor."
    assert parts(box)["result"].children[1].value == ""


def test_over_the_daily_limit_the_button_waits(session: Session, store: PageStore) -> None:
    from omsorgslyft.runtime.remote import RemoteError

    def refused() -> dict[str, Any]:
        raise RemoteError(429, "Du har gjort 3 försök det senaste dygnet. Nästa försök öppnar …")

    store.new_attempt = refused  # type: ignore[method-assign]
    for qid in VARIANTS["a"]:
        session.set("svar", qid, wrong_answers(KASAM)[qid])
    box = check_widget(SPEC, session)
    click(parts(box)["button"])
    again, message = parts(box)["result"].children[2], parts(box)["result"].children[3]
    click(again)
    assert "Nästa försök öppnar" in message.value and again.disabled
    assert prompts(box)[0].count("ol-fraga-") == 1  # the same attempt is still shown


def test_the_page_s_check_function_is_not_shadowed_by_a_module() -> None:
    """``ol.check(spec)`` is what the page's cell calls: no submodule may take its name."""
    import omsorgslyft.runtime as ol
    import omsorgslyft.runtime.knowledge_check  # noqa: F401

    assert callable(ol.check) and ol.check.__module__ == "omsorgslyft.runtime"
