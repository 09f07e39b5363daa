"""ipywidgets for each block kind. Swedish labels; native controls for keyboard use.

Every widget is one of :mod:`omsorgslyft.runtime.safety`'s classes: the page may set only a
control's value, and nothing of a disabled control (a click on a disabled button does
nothing). Each displayed block is registered there, so an error shows in it.

Layout on a phone: every control takes the card's width and wraps its text (the widgets'
own layout traits here, the rest in the page's ``widgets.css``, which knows the classes
added below: ``ol-choices``, ``ol-option``, ``ol-match``, ``ol-say``, ``ol-order-row``).
Focus follows what a learner did: after an ordering move it stays on the moved item's
button, after a dialogue choice it moves to the line just above the new scene, after
*Lämna in* to the result's title line. ipywidgets can focus only a control or a Label
(``tabbable=False`` gives it tabindex -1; an HTML widget's focus goes to a part that
cannot take it, and boxes ignore ``tabbable``), so those lines are Labels.
Icons are inline SVG, so no glyph depends on a font the phone may lack.
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
    Label,
    RadioButtons,
    Textarea,
    VBox,
)
from omsorgslyft.runtime.session import Session

FULL = w.Layout(width="100%", max_width="48rem")
#: a box that grows with its content (ipywidgets' boxes scroll by default)
GROW = w.Layout(width="100%", overflow="visible")

_SVG = (
    '<svg class="ol-icon" viewBox="0 0 16 16" width="16" height="16" aria-hidden="true" '
    'focusable="false"><path fill="currentColor" d="{}"/></svg>'
)
#: inline icons (no font needed): a tick, a cross, a dash and a padlock
ICONS = {
    "right": _SVG.format("M6.1 13.2 1.3 8.4l1.6-1.6 3.2 3.2 7-7 1.6 1.6z"),
    "wrong": _SVG.format(
        "M3.6 2 8 6.4 12.4 2 14 3.6 9.6 8l4.4 4.4-1.6 1.6L8 9.6 3.6 14 2 12.4 6.4 8 2 3.6z"
    ),
    "none": _SVG.format("M3 7h10v2H3z"),
    "lock": _SVG.format("M4 7V5a4 4 0 0 1 8 0v2h1v8H3V7zm2 0h4V5a2 2 0 0 0-4 0zm1 3v3h2v-3z"),
}


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
    return _html("", "ol-feedback")


def _say(box: w.HTML, ok: bool | None, html: str, live: bool = True) -> None:
    """Feedback after something the learner did; read out at once unless ``live`` is off.

    ipywidgets replaces an HTML widget's content on every change, so the live region is
    new each time: ``role="alert"`` is the kind that screen readers announce on arrival.
    """
    mark = {
        True: f"{ICONS['right']} Rätt. ",
        False: f"{ICONS['wrong']} Inte riktigt. ",
        None: "",
    }[ok]
    cls = {True: "ol-right", False: "ol-wrong", None: "ol-info"}[ok]
    role = ' role="alert"' if live else ""
    box.value = f'<div{role} class="{cls}"><strong>{mark}</strong>{html}</div>'


def _focus_line(cls: str) -> Label:
    """A line of text the kernel moves focus to (``focus()``); not in the tab order."""
    line = Label("", tabbable=False, layout=w.Layout(width="100%", height="auto"))
    line.add_class("ol-focus")
    line.add_class(cls)
    return line


def _card(spec: dict[str, Any], *children: w.Widget) -> VBox:
    kind = "Fråga" if spec.get("graded") else "Övning"
    if spec.get("number"):
        kind = f"Fråga {spec['number']}"
    label = {
        "enkelval": "Välj ett svar",
        "flerval": "Välj ett eller flera svar",
        "sant-falskt": "Sant eller falskt?",
        "ordning": "Sätt i rätt ordning",
        "para": "Para ihop",
    }.get(spec["type"], "")
    # the page names the question's group by its prompt (aria-labelledby)
    prompt = f'<div class="ol-prompt" id="ol-fraga-{spec["id"]}">{spec["prompt"]}</div>'
    head = _html(f'<p class="ol-kind">{kind} · {label}</p>{prompt}')
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
            # a native checkbox inside its label: the whole label is the touch target
            cb = Checkbox(
                value=opt["id"] in chosen,
                description=plain(opt["html"]),
                indent=False,
                layout=w.Layout(width="100%", height="auto"),
            )
            cb.add_class("ol-option")
            boxes.append(cb)

        def changed(_: Any) -> None:
            on_change(sorted(o["id"] for o, cb in zip(options, boxes, strict=True) if cb.value))

        for cb in boxes:
            cb.observe(changed, names="value")
        group = VBox(boxes, layout=GROW)
        group.add_class("ol-choices")
        return group
    radios = RadioButtons(
        options=[(plain(o["html"]), o["id"]) for o in options],
        value=value if value in {o["id"] for o in options} else None,
        layout=w.Layout(width="100%", height="auto"),
    )
    radios.add_class("ol-choices")
    radios.observe(lambda change: on_change(change["new"]), names="value")
    return radios


def _ordering_control(
    spec: dict[str, Any], value: Any, on_change: Callable[[Any], None]
) -> w.Widget:
    by_id = {i["id"]: i for i in spec["items"]}
    order = list(value) if value and set(value) == set(by_id) else [i["id"] for i in spec["items"]]
    n = len(order)
    # the rows stay; only their texts move, so a keyboard user's focus is never lost
    ups, downs, labels, rows = [], [], [], []
    for pos in range(n):
        up = Button(description="Upp", disabled=pos == 0, layout=w.Layout(width="auto"))
        down = Button(description="Ned", disabled=pos == n - 1, layout=w.Layout(width="auto"))
        up.on_click(lambda _, p=pos: move(p, -1))
        down.on_click(lambda _, p=pos: move(p, 1))
        label = HTML(layout=w.Layout(flex="1 1 10rem", width="auto"))
        label.add_class("ol-order-item")
        row = HBox([up, down, label], layout=GROW)
        row.add_class("ol-order-row")
        ups.append(up)
        downs.append(down)
        labels.append(label)
        rows.append(row)
    box = VBox(rows, layout=GROW)
    box.add_class("ol-order")

    def render() -> None:
        for pos, item_id in enumerate(order):
            text = plain(by_id[item_id]["html"])
            labels[pos].value = f'<span class="ol-pos">{pos + 1}.</span> {by_id[item_id]["html"]}'
            where = f"nu plats {pos + 1} av {n}"
            ups[pos].tooltip = f"Flytta upp: {text} ({where})"
            downs[pos].tooltip = f"Flytta ned: {text} ({where})"

    def move(pos: int, step: int) -> None:
        order[pos], order[pos + step] = order[pos + step], order[pos]
        render()
        on_change(list(order))
        # focus goes with the item: the same button in its new row, or the other one there
        target = pos + step
        same, other = (ups, downs) if step < 0 else (downs, ups)
        (other if same[target].disabled else same)[target].focus()

    render()
    return box


def _wrappable(text: str) -> str:
    """A select's option text that may wrap between words.

    ipywidgets' dropdown turns every space into a no-break space (to keep runs of spaces);
    a zero-width space after each gives the line a place to break again.
    """
    return text.replace(" ", " \u200b")


def _matching_control(
    spec: dict[str, Any], value: Any, on_change: Callable[[Any], None]
) -> w.Widget:
    chosen = dict(value or {})
    choices = [("Välj …", "")] + [(_wrappable(plain(r["html"])), r["id"]) for r in spec["right"]]
    rows = []
    for left in spec["left"]:
        # the select is labelled by its left-hand text (a native <label for>)
        dd = Dropdown(
            options=choices,
            value=chosen.get(left["id"], ""),
            description=plain(left["html"]),
            tooltip="",  # ipywidgets writes a missing tooltip as the label's title "null"
            style={"description_width": "initial"},
            layout=w.Layout(width="100%", height="auto"),
        )
        dd.add_class("ol-match")

        def changed(change: Any, key: str = left["id"]) -> None:
            if change["new"]:
                chosen[key] = change["new"]
            else:
                chosen.pop(key, None)
            on_change(dict(chosen))

        dd.observe(changed, names="value")
        rows.append(dd)
    return VBox(rows, layout=GROW)


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
    check = Button(
        description="Kontrollera svaret", button_style="primary", layout=w.Layout(width="auto")
    )

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
    # after a choice the old buttons are gone: focus moves to what was said, just above
    # the new scene
    said = _focus_line("ol-said")
    said.layout.display = "none"
    buttons = VBox(layout=GROW)
    buttons.add_class("ol-say-choices")
    intro = VBox([_html(f'<p class="ol-kind">Dialogövning</p>{spec["intro"]}'), said], layout=GROW)
    box = VBox([intro, scene, feedback, buttons], layout=FULL)
    box.add_class("ol-card")
    box.add_class("ol-dialog")

    def render(note: str = "") -> None:
        node = nodes[path[-1]]
        scene.value = node["html"]
        if note:
            _say(feedback, None, note, live=False)  # read with the scene, where focus goes
        if node["choices"]:
            opts = []
            for choice in node["choices"]:
                b = Button(
                    description=plain(choice["html"]),
                    layout=w.Layout(width="100%", max_width="48rem", height="auto"),
                )
                b.add_class("ol-say")
                b.on_click(lambda _, c=choice: choose(c))
                opts.append(b)
            buttons.children = [_html("<p><strong>Vad säger du?</strong></p>"), *opts]
        else:
            again = Button(description="Börja om dialogen", layout=w.Layout(width="auto"))
            again.on_click(lambda _: restart())
            buttons.children = [_html("<p><em>Slut på dialogen.</em></p>"), again]

    def choose(choice: dict[str, Any]) -> None:
        path.append(choice["target"])
        session.set("dialog", spec["id"], list(path))
        render(choice.get("feedback", ""))
        tell(f"Du sa: ”{plain(choice['html'])}”")

    def restart() -> None:
        path[:] = [spec["start"]]
        session.set("dialog", spec["id"], list(path))
        feedback.value = ""
        render()
        tell("Dialogen börjar om.")

    def tell(text: str) -> None:
        said.value = text
        said.layout.display = None
        said.focus()

    render()
    return box


def reflection_widget(spec: dict[str, Any], session: Session) -> w.Widget:
    # the prompt names the text box (its <label for>; the page shows the prompt above it)
    area = Textarea(
        value=session.get("reflektion", spec["id"], ""),
        placeholder="Skriv dina tankar här …",
        description=plain(spec["prompt"]),
        tooltip="",
        layout=w.Layout(width="100%", max_width="48rem", height="8rem"),
    )
    area.add_class("ol-reflection-text")
    area.observe(lambda change: session.set("reflektion", spec["id"], change["new"]), names="value")
    note = _html(
        f'<p class="ol-private">{ICONS["lock"]} Det du skriver sparas bara för dig. '
        "Ingen annan kan läsa det.</p>"
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
