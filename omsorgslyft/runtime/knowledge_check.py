"""The knowledge check on a learner's page: one attempt's questions, Lämna in, the result.

The page holds every pool question (without its answer) and which questions each variant
asks. The learn service says which attempt this is (``session.attempt``: its number,
variant, question order and seed); the options of each question are shown in an order of
that attempt's own. After a failed attempt the learner sees what the module's review
rule allows (grading decides what the result holds), and may start a new attempt, with
other questions, while the daily limit allows.
"""

from __future__ import annotations

import random
from html import escape
from typing import Any

import ipywidgets as w

from omsorgslyft.runtime import safety
from omsorgslyft.runtime.safety import Button, HBox, VBox
from omsorgslyft.runtime.session import Session
from omsorgslyft.runtime.widgets import (
    FULL,
    GROW,
    ICONS,
    _focus_line,
    _html,
    _say,
    question_widget,
)


def preview_attempt(spec: dict[str, Any]) -> dict[str, Any]:
    """Without the learn service (a trainer's preview): the first variant, as written."""
    letter = next(iter(spec["variants"]))
    return {"number": 1, "variant": letter, "questions": spec["variants"][letter], "seed": 0}


def shuffled_spec(spec: dict[str, Any], seed: int) -> dict[str, Any]:
    """A question's spec with its options (or items, or right-hand column) in this
    attempt's order. Grading goes by option ids, so the order changes nothing else."""
    rng = random.Random(f"{seed}/{spec['id']}")
    out = dict(spec)
    for key in ("options", "items", "right"):
        if key in spec and not (key == "options" and spec["type"] == "sant-falskt"):
            items = list(spec[key])
            rng.shuffle(items)
            out[key] = items
    return out


def result_title(result: dict[str, Any]) -> str:
    verdict = "Godkänd!" if result["passed"] else "Inte godkänd än."
    return (
        f"Resultat: {verdict} {result['score']:g} av {result['max_score']:g} poäng "
        f"({result['percent']:g} %)."
    )


def _mark(q: dict[str, Any]) -> str:
    if q["correct"]:
        return f"{ICONS['right']} Rätt"
    if q["answered"]:
        return f"{ICONS['wrong']} Fel"
    return f"{ICONS['none']} Inte besvarad"


def _section_link(q: dict[str, Any]) -> str:
    if not q.get("section"):
        return ""
    return f'<a href="#{escape(q["section_id"])}">{escape(q["section"])}</a>'


def result_html(
    result: dict[str, Any], base_url: str, prompts: dict[str, str], order: list[str]
) -> str:
    """The result as the learner reads it. ``prompts``: question id -> its text on this page;
    ``order``: the attempt's question order (for "Fråga 3")."""
    passed = result["passed"]
    head = (
        f"<h3>{'Godkänd!' if passed else 'Inte godkänd än'}</h3>"
        f"<p>Du fick <strong>{result['score']:g} av {result['max_score']:g} poäng</strong> "
        f"({result['percent']:g} %). Gränsen för godkänt är {result['pass_mark']} %.</p>"
    )
    position = {qid: i for i, qid in enumerate(order, start=1)}
    questions = sorted(result["questions"], key=lambda q: position.get(q["id"], 999))
    if passed:
        cert = f"{base_url}intyg/{result['module']}.pdf"
        head += (
            f'<p><a href="{cert}" download>Ladda ned ditt intyg (PDF)</a> · '
            f'<a href="{base_url}">Tillbaka till Mina utbildningar</a></p>'
        )
        if not questions:
            return f'<section class="ol-result">{head}</section>'
        items = [
            f'<li><h4>Fråga {position.get(q["id"], i)}: {_mark(q)} <span class="ol-points">'
            f"({q['points']:g} av {q['max_points']:g} poäng)</span></h4>"
            f"{q.get('prompt', '')}{q.get('feedback', '')}{q.get('explanation', '')}</li>"
            for i, q in enumerate(questions, start=1)
        ]
        listing = (
            '<p class="ol-kind">Förklaringar till dina frågor</p>'
            f'<ol class="ol-result-list">{"".join(items)}</ol>'
        )
        return f'<section class="ol-result">{head}{listing}</section>'
    wrong = [q for q in questions if not q["correct"]]
    if not questions:  # the module shows the score only
        head += "<p>Läs modulen igen. Sedan kan du göra ett nytt försök med nya frågor.</p>"
        return f'<section class="ol-result">{head}</section>'
    sections: dict[str, str] = {}
    for q in wrong:
        if q.get("section"):
            sections.setdefault(q["section_id"], _section_link(q))
    if sections:
        head += (
            "<p>Läs de här avsnitten igen. Sedan kan du göra ett nytt försök med nya frågor.</p>"
            f'<ul class="ol-reread">{"".join(f"<li>{link}</li>" for link in sections.values())}</ul>'
        )
    else:
        head += "<p>Läs modulen igen. Sedan kan du göra ett nytt försök med nya frågor.</p>"
    items = []
    for q in questions:
        again = _section_link(q) if not q["correct"] else ""
        reread = f'<p class="ol-meta">Läs igen: {again}</p>' if again else ""
        items.append(
            f"<li><h4>Fråga {position.get(q['id'], '')}: {_mark(q)}</h4>"
            f'<div class="ol-prompt-again">{prompts.get(q["id"], "")}</div>{reread}</li>'
        )
    listing = (
        f'<p class="ol-kind">Resultat per fråga</p><ol class="ol-result-list">{"".join(items)}</ol>'
    )
    return f'<section class="ol-result">{head}{listing}</section>'


def check_widget(spec: dict[str, Any], session: Session) -> w.Widget:
    """The knowledge check's questions for this attempt, Lämna in and the result."""
    attempt_line = _focus_line("ol-attempt-title")
    questions = VBox([], layout=GROW)
    questions.add_class("ol-check-questions")
    button = Button(description="Lämna in", button_style="success", layout=w.Layout(width="auto"))
    status = _html("", "ol-feedback")
    confirm_text = _focus_line("ol-confirm-text")
    go_on = Button(
        description="Lämna in ändå", button_style="warning", layout=w.Layout(width="auto")
    )
    back = Button(description="Svara på fler frågor", layout=w.Layout(width="auto"))
    # a layout of its own: GROW is shared by many boxes, and this one is hidden and shown
    confirm = VBox(
        [confirm_text, HBox([go_on, back], layout=GROW)],
        layout=w.Layout(width="100%", overflow="visible", display="none"),
    )
    confirm.add_class("ol-confirm")
    title = _focus_line("ol-result-title")
    result = _html("")
    again = Button(
        description="Gör ett nytt försök", button_style="primary", layout=w.Layout(width="auto")
    )
    again.layout.display = "none"
    again.add_class("ol-again")
    again_status = _html("", "ol-feedback")
    result_box = VBox([title, result, again, again_status], layout=GROW)
    result_box.add_class("ol-result-box")
    current: dict[str, Any] = {}

    def attempt() -> dict[str, Any]:
        return session.attempt or preview_attempt(spec)

    def render_questions() -> None:
        now = attempt()
        current["order"] = list(now["questions"])
        n = len(now["questions"])
        widgets = []
        for i, qid in enumerate(now["questions"], start=1):
            shown = shuffled_spec(spec["questions"][qid], int(now.get("seed", 0)))
            shown["number"] = f"{i} av {n}"
            widgets.append(question_widget(shown, session))
        questions.children = tuple(widgets)
        attempt_line.value = f"Försök {now['number']}: {n} frågor." if now["number"] > 1 else ""

    def show_result(data: dict[str, Any] | None) -> None:
        if not data:
            title.value = ""
            result.value = ""
            again.layout.display = "none"
            button.disabled = False
            return
        prompts = {qid: spec["questions"][qid]["prompt"] for qid in spec["questions"]}
        title.value = result_title(data)
        result.value = result_html(data, session.base_url, prompts, current.get("order", []))
        passed = bool(data["passed"])
        button.disabled = True  # this attempt is handed in
        again.layout.display = "none" if passed or session.preview else None
        safety.disable_controls(questions)

    def submit() -> None:
        confirm.layout.display = "none"
        button.disabled = True
        _say(status, None, "Lämnar in …")
        try:
            reply = session.store.submit()  # type: ignore[attr-defined]
        except Exception as exc:
            _say(status, False, getattr(exc, "message", "Något gick fel.") + " Försök igen.")
            button.disabled = False
            return
        if reply.get("status") != "klar":
            _say(
                status,
                None,
                "Inlämnad. Rättningen tar lite längre tid än vanligt: tryck igen om en stund.",
            )
            button.disabled = False
            return
        session.result = reply["result"]
        status.value = ""
        show_result(reply["result"])
        title.focus()  # the learner hears the result first, then reads on from its heading

    def on_submit(_: Any) -> None:
        missing = session.unanswered(current.get("order"))
        total = len(current.get("order", []))
        if session.preview:
            left = f" Du har inte svarat på {len(missing)} frågor." if missing else ""
            _say(status, None, f"Förhandsgranskning: inget lämnas in.{left}")
            return
        if total and len(missing) == total:
            _say(status, None, "Du har inte svarat på någon fråga än. Svara på frågorna först.")
            return
        if missing:
            word = "fråga" if len(missing) == 1 else "frågor"
            confirm_text.value = f"Du har inte svarat på {len(missing)} {word}. Lämna in ändå?"
            confirm.layout.display = None
            status.value = ""
            confirm_text.focus()
            return
        submit()

    def on_back(_: Any) -> None:
        confirm.layout.display = "none"
        button.focus()

    def on_again(_: Any) -> None:
        again.disabled = True
        try:
            reply = session.store.new_attempt()  # type: ignore[attr-defined]
        except Exception as exc:
            _say(again_status, None, getattr(exc, "message", "Något gick fel. Försök igen."))
            # over today's limit: the message says when; the button waits for a new day
            again.disabled = getattr(exc, "status", 0) == 429
            return
        session.attempt = reply["attempt"]
        session.state["svar"] = dict(reply.get("state", {}).get("svar", {}))
        session.result = None
        again.disabled = False
        again_status.value = ""
        show_result(None)
        render_questions()
        attempt_line.focus()

    button.on_click(on_submit)
    go_on.on_click(lambda _: submit())
    back.on_click(on_back)
    again.on_click(on_again)
    render_questions()
    if session.result:
        show_result(session.result)
    box = VBox([attempt_line, questions, button, confirm, status, result_box], layout=FULL)
    box.add_class("ol-check")
    box.add_class("ol-submit")
    return safety.block(box)
