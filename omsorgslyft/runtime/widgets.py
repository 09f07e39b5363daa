"""ipywidgets for each block kind. Swedish labels; native controls for keyboard use.

Every widget is one of :mod:`omsorgslyft.runtime.safety`'s classes: the page may set only a
control's value, and nothing of a disabled control (a click on a disabled button does
nothing). Each displayed block is registered there, so an error shows in it.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from html.parser import HTMLParser
from typing import Any

import ipywidgets as w

from omsorgslyft.runtime import safety
from omsorgslyft.runtime.safety import (
    HTML,
    Button,
    Checkbox,
    Dropdown,
    HBox,
    RadioButtons,
    Textarea,
    VBox,
)
from omsorgslyft.runtime.session import Session

FULL = w.Layout(width="100%", max_width="48rem")


def plain(html: str) -> str:
    """Text content of a small HTML fragment (for controls whose labels are text)."""

    class _P(HTMLParser):
        def __init__(self) -> None:
            super().__init__()
            self.parts: list[str] = []

        def handle_data(self, data: str) -> None:
            self.parts.append(data)

    parser = _P()
    parser.feed(html)
    return " ".join("".join(parser.parts).split())


def _html(value: str, cls: str = "") -> HTML:
    box = HTML(value, layout=FULL)
    if cls:
        box.add_class(cls)
    return box


def _feedback() -> HTML:
    box = _html('<div role="status" aria-live="polite"></div>', "ol-feedback")
    return box


def _say(box: w.HTML, ok: bool | None, html: str) -> None:
    mark = {True: "✔ Rätt. ", False: "✘ Inte riktigt. ", None: ""}[ok]
    cls = {True: "ol-right", False: "ol-wrong", None: "ol-info"}[ok]
    box.value = (
        f'<div role="status" aria-live="polite" class="{cls}"><strong>{mark}</strong>{html}</div>'
    )


def _card(spec: dict[str, Any], *children: w.Widget) -> VBox:
    kind = "Fråga" if spec.get("graded") else "Övning"
    label = {
        "enkelval": "Välj ett svar",
        "flerval": "Välj ett eller flera svar",
        "sant-falskt": "Sant eller falskt?",
        "ordning": "Sätt i rätt ordning",
        "para": "Para ihop",
    }.get(spec["type"], "")
    head = _html(f'<p class="ol-kind">{kind} · {label}</p>{spec["prompt"]}')
    box = VBox([head, *children], layout=FULL)
    box.add_class("ol-card")
    box.add_class("ol-graded" if spec.get("graded") else "ol-exercise")
    return box


def _choice_control(spec: dict[str, Any], value: Any, on_change: Callable[[Any], None]) -> w.Widget:
    options = spec["options"]
    if spec["type"] == "flerval":
        chosen = set(value or [])
        boxes = []
        for opt in options:
            cb = Checkbox(
                value=opt["id"] in chosen,
                description=opt["html"],
                description_allow_html=True,
                indent=False,
                layout=FULL,
            )
            boxes.append(cb)

        def changed(_: Any) -> None:
            on_change(sorted(o["id"] for o, cb in zip(options, boxes, strict=True) if cb.value))

        for cb in boxes:
            cb.observe(changed, names="value")
        return VBox(boxes)
    radios = RadioButtons(
        options=[(plain(o["html"]), o["id"]) for o in options],
        value=value if value in {o["id"] for o in options} else None,
        layout=FULL,
    )
    radios.observe(lambda change: on_change(change["new"]), names="value")
    return radios


def _ordering_control(
    spec: dict[str, Any], value: Any, on_change: Callable[[Any], None]
) -> w.Widget:
    by_id = {i["id"]: i for i in spec["items"]}
    order = list(value) if value and set(value) == set(by_id) else [i["id"] for i in spec["items"]]
    box = VBox()

    def render() -> None:
        rows = []
        for pos, item_id in enumerate(order):
            up = Button(
                description="Upp",
                tooltip="Flytta upp",
                disabled=pos == 0,
                layout=w.Layout(width="4.5rem"),
            )
            down = Button(
                description="Ned",
                tooltip="Flytta ned",
                disabled=pos == len(order) - 1,
                layout=w.Layout(width="4.5rem"),
            )
            up.on_click(lambda _, p=pos: move(p, -1))
            down.on_click(lambda _, p=pos: move(p, 1))
            label = _html(f'<span class="ol-pos">{pos + 1}.</span> {by_id[item_id]["html"]}')
            row = HBox([up, down, label])
            row.add_class("ol-order-row")
            rows.append(row)
        box.children = rows

    def move(pos: int, step: int) -> None:
        order[pos], order[pos + step] = order[pos + step], order[pos]
        render()
        on_change(list(order))

    render()
    return box


def _matching_control(
    spec: dict[str, Any], value: Any, on_change: Callable[[Any], None]
) -> w.Widget:
    chosen = dict(value or {})
    choices = [("Välj …", "")] + [(plain(r["html"]), r["id"]) for r in spec["right"]]
    rows = []
    for left in spec["left"]:
        dd = Dropdown(
            options=choices,
            value=chosen.get(left["id"], ""),
            description=plain(left["html"]),
            style={"description_width": "initial"},
            layout=FULL,
        )

        def changed(change: Any, key: str = left["id"]) -> None:
            if change["new"]:
                chosen[key] = change["new"]
            else:
                chosen.pop(key, None)
            on_change(dict(chosen))

        dd.observe(changed, names="value")
        rows.append(dd)
    return VBox(rows)


CONTROLS = {
    "enkelval": _choice_control,
    "flerval": _choice_control,
    "sant-falskt": _choice_control,
    "ordning": _ordering_control,
    "para": _matching_control,
}


def _exercise_feedback(spec: dict[str, Any], value: Any) -> tuple[bool, str]:
    answer = spec["answer"]
    right = (sorted(value or []) == answer) if spec["type"] == "flerval" else value == answer
    notes = []
    for opt in spec.get("options", []):
        picked = opt["id"] == value or (isinstance(value, list) and opt["id"] in value)
        if picked and opt.get("feedback"):
            notes.append(opt["feedback"])
    return right, "".join(notes) + spec.get("explanation", "")


def question_widget(spec: dict[str, Any], session: Session) -> w.Widget:
    kind = "svar" if spec["graded"] else "ovning"
    feedback = _feedback()
    current = {"value": session.get(kind, spec["id"])}

    def changed(value: Any) -> None:
        current["value"] = value
        session.set(kind, spec["id"], value)

    control = CONTROLS[spec["type"]](spec, current["value"], changed)
    if spec["graded"]:
        return _card(spec, control)
    check = Button(description="Kontrollera svaret", button_style="primary")

    def on_check(_: Any) -> None:
        value = current["value"]
        if value in (None, [], {}, ""):
            _say(feedback, None, "Välj ett svar först.")
            return
        right, notes = _exercise_feedback(spec, value)
        _say(feedback, right, notes)

    check.on_click(on_check)
    return _card(spec, control, check, feedback)


def dialogue_widget(spec: dict[str, Any], session: Session) -> w.Widget:
    nodes = spec["nodes"]
    path: list[str] = list(session.get("dialog", spec["id"]) or [spec["start"]])
    if not path or any(n not in nodes for n in path):
        path = [spec["start"]]
    scene = _html("", "ol-dialog-scene")
    feedback = _feedback()
    buttons = VBox()
    box = VBox(
        [_html(f'<p class="ol-kind">Dialogövning</p>{spec["intro"]}'), scene, feedback, buttons],
        layout=FULL,
    )
    box.add_class("ol-card")
    box.add_class("ol-dialog")

    def render(note: str = "") -> None:
        node = nodes[path[-1]]
        scene.value = node["html"]
        if note:
            _say(feedback, None, note)
        if node["choices"]:
            opts = []
            for choice in node["choices"]:
                b = Button(description=plain(choice["html"]), layout=FULL)
                b.add_class("ol-say")
                b.on_click(lambda _, c=choice: choose(c))
                opts.append(b)
            buttons.children = [_html("<p><strong>Vad säger du?</strong></p>"), *opts]
        else:
            again = Button(description="Börja om dialogen")
            again.on_click(lambda _: restart())
            buttons.children = [_html("<p><em>Slut på dialogen.</em></p>"), again]

    def choose(choice: dict[str, Any]) -> None:
        path.append(choice["target"])
        session.set("dialog", spec["id"], list(path))
        render(choice.get("feedback", ""))

    def restart() -> None:
        path[:] = [spec["start"]]
        session.set("dialog", spec["id"], list(path))
        feedback.value = ""
        render()

    render()
    return box


def reflection_widget(spec: dict[str, Any], session: Session) -> w.Widget:
    area = Textarea(
        value=session.get("reflektion", spec["id"], ""),
        placeholder="Skriv dina tankar här …",
        layout=w.Layout(width="100%", max_width="48rem", height="8rem"),
    )
    area.observe(lambda change: session.set("reflektion", spec["id"], change["new"]), names="value")
    note = _html(
        '<p class="ol-private">🔒 Det du skriver sparas bara för dig. Ingen annan kan läsa det.</p>'
    )
    box = VBox(
        [_html(f'<p class="ol-kind">Reflektion</p>{spec["prompt"]}'), area, note], layout=FULL
    )
    box.add_class("ol-card")
    box.add_class("ol-reflection")
    return box


def build_widget(spec: dict[str, Any], session: Session) -> w.Widget:
    if spec["type"] == "dialog":
        return safety.block(dialogue_widget(spec, session))
    if spec["type"] == "reflektion":
        return safety.block(reflection_widget(spec, session))
    return safety.block(question_widget(spec, session))


def save_status_widget(session: Session) -> w.Widget:
    status = _html(
        '<p class="ol-save" role="status" aria-live="polite">Dina svar sparas automatiskt medan du arbetar.</p>'
    )

    count = [0]

    def saved(error: Exception | None) -> None:
        count[0] += 1
        if error is None:
            text = f"Sparat kl. {datetime.now().strftime('%H:%M:%S')}."
        else:
            text = f"<strong>Kunde inte spara:</strong> {getattr(error, 'message', str(error))}"
        # data-sparning changes with every save, so the page hears of each one
        status.value = f'<p class="ol-save" role="status" aria-live="polite" data-sparning="{count[0]}">{text}</p>'

    session.on_saved.append(saved)
    safety.page_status(status)
    return status


def result_html(result: dict[str, Any], base_url: str) -> str:
    passed = result["passed"]
    head = (
        f"<h3>{'Godkänd!' if passed else 'Inte godkänd än'}</h3>"
        f"<p>Du fick <strong>{result['score']:g} av {result['max_score']:g} poäng</strong> "
        f"({result['percent']:g} %). Gränsen för godkänt är {result['pass_mark']} %.</p>"
    )
    if passed:
        cert = f"{base_url}intyg/{result['module']}.pdf"
        head += (
            f'<p><a href="{cert}" download>Ladda ned ditt intyg (PDF)</a> · '
            f'<a href="{base_url}">Tillbaka till Mina utbildningar</a></p>'
        )
    else:
        head += "<p>Läs förklaringarna nedan, ändra dina svar och lämna in igen.</p>"
    rows = []
    for i, q in enumerate(result["questions"], start=1):
        mark = "✔ Rätt" if q["correct"] else ("✘ Fel" if q["answered"] else "– Inte besvarad")
        rows.append(
            f"<tr><th scope='row'>Fråga {i}</th><td><strong>{mark}</strong> "
            f"({q['points']:g}/{q['max_points']:g})</td><td>{q['prompt']}{q['feedback']}{q['explanation']}</td></tr>"
        )
    table = (
        "<table><caption>Resultat per fråga</caption><thead><tr><th scope='col'>Fråga</th>"
        "<th scope='col'>Resultat</th><th scope='col'>Förklaring</th></tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table>"
    )
    return f'<section class="ol-result" role="status" aria-live="polite">{head}{table}</section>'


def submit_widget(session: Session) -> w.Widget:
    button = Button(description="Lämna in", button_style="success", icon="check")
    status = _feedback()
    result_box = _html("", "ol-result-box")
    if session.result:
        result_box.value = result_html(session.result, session.base_url)

    def on_click(_: Any) -> None:
        missing = session.unanswered()
        left = f" Du har inte svarat på {len(missing)} frågor." if missing else ""
        if session.preview:
            _say(status, None, f"Förhandsgranskning: inget lämnas in.{left}")
            return
        button.disabled = True
        _say(status, None, f"Lämnar in …{left}")
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
        result_box.value = result_html(reply["result"], session.base_url)
        button.disabled = bool(reply["result"]["passed"])

    button.on_click(on_click)
    box = VBox([button, status, result_box], layout=FULL)
    box.add_class("ol-submit")
    return safety.block(box)
