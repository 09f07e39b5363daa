"""Disabled controls do nothing, the page changes only values, errors stay in the log.

The runtime's widgets are driven in-process with the messages a page (or an attacker
speaking its protocol) sends: ``comm.handle_msg`` is what ipykernel's comm manager calls
for every ``comm_msg``. What the kernel would send back is recorded from
``Widget._send``; what would be saved from the session's store.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import ipywidgets as w
import pytest
from ipywidgets.widgets import widget as widget_module

import omsorgslyft.runtime as ol
from omsorgslyft.authoring import load_module
from omsorgslyft.authoring.notebook import check_spec, learner_spec
from omsorgslyft.model import Dialogue, Question, Reflection
from omsorgslyft.runtime import safety
from omsorgslyft.runtime.knowledge_check import check_widget
from omsorgslyft.runtime.session import MemoryStore, Session
from omsorgslyft.runtime.widgets import build_widget, plain

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = load_module(ROOT / "docs" / "exempelmodul")
SPECS = {
    b.id: learner_spec(EXAMPLE, b)
    for b in EXAMPLE.blocks
    if isinstance(b, (Question, Dialogue, Reflection))
}


class CountingStore(MemoryStore):
    def __init__(self) -> None:
        super().__init__()
        self.saves: list[tuple[str, str, Any]] = []
        self.submits = 0

    def save(self, kind: str, key: str, value: Any) -> None:
        self.saves.append((kind, key, value))
        super().save(kind, key, value)

    def submit(self) -> dict[str, Any]:
        self.submits += 1
        return {"status": "klar", "result": RESULT}


RESULT = {
    "module": "exempelmodul",
    "passed": True,
    "score": 7,
    "max_score": 7,
    "percent": 100,
    "pass_mark": 80,
    "questions": [],
}


@pytest.fixture
def store() -> CountingStore:
    return CountingStore()


@pytest.fixture
def session(store: CountingStore) -> Session:
    return Session(store, {"id": "exempelmodul", "version": 1, "questions": ["k-ordning"]})


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, dict[str, Any]]]:
    """Every message the kernel sends to the page: (model id, message)."""
    out: list[tuple[str, dict[str, Any]]] = []
    original = w.Widget._send

    def record(self: Any, msg: dict[str, Any], buffers: Any = None) -> None:
        out.append((self.model_id, msg))
        original(self, msg, buffers)

    monkeypatch.setattr(w.Widget, "_send", record)
    return out


def page_says(widget: Any, data: dict[str, Any]) -> None:
    """Deliver a comm message from the page to ``widget``, as ipykernel does."""
    widget.comm.handle_msg(
        {
            "header": {"msg_type": "comm_msg", "msg_id": "m"},
            "parent_header": {},
            "metadata": {},
            "content": {"comm_id": widget.model_id, "data": data},
            "buffers": [],
        }
    )


def click(button: Any) -> None:
    page_says(button, {"method": "custom", "content": {"event": "click"}})


def update(widget: Any, **state: Any) -> None:
    page_says(widget, {"method": "update", "state": state})


def order_rows(box: Any) -> Any:
    return box.children[1].children


def order_labels(box: Any) -> list[str]:
    """The items as the page lists them, without their position numbers."""
    return [plain(row.children[2].value).split(" ", 1)[1] for row in order_rows(box)]


def test_every_runtime_widget_is_guarded(session: Session) -> None:
    def widgets(root: Any) -> list[Any]:
        found = [root]
        for child in getattr(root, "children", ()):
            found.extend(widgets(child))
        return found

    for spec in SPECS.values():
        for item in widgets(build_widget(spec, session)):
            assert isinstance(item, safety.Guarded), (spec["id"], type(item))
    for item in widgets(check_widget(check_spec(EXAMPLE), session)):
        assert isinstance(item, safety.Guarded), type(item)


@pytest.mark.parametrize("qid", ["ov-ordning", "k-ordning"])
def test_disabled_up_and_down_move_nothing(
    qid: str, session: Session, store: CountingStore
) -> None:
    box = build_widget(SPECS[qid], session)
    before = order_labels(box)
    first_up = order_rows(box)[0].children[0]
    last_down = order_rows(box)[-1].children[1]
    assert first_up.description == "Upp" and first_up.disabled
    assert last_down.description == "Ned" and last_down.disabled
    click(first_up)  # before: swapped the first and the last item and saved that
    click(last_down)  # before: an IndexError, with its traceback to the page
    assert order_labels(box) == before
    assert store.saves == [] and session.state["svar"] == {} and session.state["ovning"] == {}
    # the same page can still move what may move
    click(order_rows(box)[1].children[0])
    assert order_labels(box) == [before[1], before[0], *before[2:]]
    assert len(store.saves) == 1


def test_a_page_cannot_enable_a_disabled_button(
    session: Session, store: CountingStore, sent: list[tuple[str, dict[str, Any]]]
) -> None:
    box = build_widget(SPECS["k-ordning"], session)
    before = order_labels(box)
    first_up = order_rows(box)[0].children[0]
    update(first_up, disabled=False, description="Klicka")
    assert first_up.disabled and first_up.description == "Upp"
    # the page is told the kernel's state back, so it shows the button as it was
    assert (
        first_up.model_id,
        {
            "method": "update",
            "state": {"disabled": True, "description": "Upp"},
            "buffer_paths": [],
        },
    ) in sent
    click(first_up)
    assert order_labels(box) == before and store.saves == []


def test_submit_once_passed_cannot_be_clicked_again(session: Session, store: CountingStore) -> None:
    session.preview = False
    for q in EXAMPLE.graded_questions:
        session.state["svar"][q.id] = q.correct_answer()
    box = check_widget(check_spec(EXAMPLE), session)
    button = box.children[2]
    assert button.description == "Lämna in"
    click(button)
    assert store.submits == 1 and button.disabled  # passed: nothing more to hand in
    click(button)
    update(button, disabled=False)
    click(button)
    assert store.submits == 1


def _control(qid: str, session: Session) -> Any:
    card = build_widget(SPECS[qid], session)
    return card.children[1]


@pytest.mark.parametrize(
    ("qid", "key", "value"),
    [("k-enkel", "index", 1), ("k-sant", "index", 0), ("ov-enkel", "index", 1)],
)
def test_disabled_choice_keeps_its_value(
    qid: str,
    key: str,
    value: Any,
    session: Session,
    store: CountingStore,
    sent: list[tuple[str, dict[str, Any]]],
) -> None:
    radios = _control(qid, session)
    radios.disabled = True
    sent.clear()
    update(radios, **{key: value})
    assert radios.value is None and radios.index is None
    assert store.saves == []
    # the page's control is set back to the value it had
    assert sent == [
        (radios.model_id, {"method": "update", "state": {"index": None}, "buffer_paths": []})
    ]


def test_disabled_checkbox_dropdown_and_text_keep_their_values(
    session: Session, store: CountingStore
) -> None:
    checkbox = _control("k-fler", session).children[0]
    dropdown = _control("k-para", session).children[0]
    reflection = build_widget(SPECS["ref-1"], session)
    area = reflection.children[1]
    for control in (checkbox, dropdown, area):
        control.disabled = True
    update(checkbox, value=True)
    update(dropdown, index=1)
    update(area, value="ändrad")
    assert checkbox.value is False and dropdown.value == "" and area.value == ""
    assert store.saves == []


def test_the_page_sets_only_a_controls_value(session: Session, store: CountingStore) -> None:
    radios = _control("k-enkel", session)
    labels = radios._options_labels
    update(radios, index=1, _options_labels=["Hackat", "Hackat"], description="x")
    assert radios.index == 1 and radios._options_labels == labels and radios.description == ""
    assert store.saves == [("svar", "k-enkel", SPECS["k-enkel"]["options"][1]["id"])]
    card = build_widget(SPECS["ov-dialog"], session)
    scene = card.children[1]
    before = scene.value
    update(scene, value="<p>Falsk scen</p>")
    assert scene.value == before


# -- errors -----------------------------------------------------------------------------


class Shell:
    """The part of IPython's shell that ipywidgets reports errors through."""

    def __init__(self) -> None:
        self.parent_header: dict[str, Any] = {}
        self.shown: list[Any] = []

    def showtraceback(self, *args: Any, **kwargs: Any) -> None:
        # ipykernel's version sends the traceback to the page as an iopub "error"
        self.shown.append(sys.exc_info()[1])


@pytest.fixture
def shell(monkeypatch: pytest.MonkeyPatch) -> Shell:
    shell = Shell()
    monkeypatch.setattr(widget_module, "get_ipython", lambda: shell)
    safety.install(shell)
    return shell


def test_a_failing_callback_shows_a_swedish_message_and_logs_the_traceback(
    shell: Shell, session: Session, capfd: pytest.CaptureFixture[str]
) -> None:
    card = build_widget(SPECS["ov-enkel"], session)
    check = card.children[2]

    def broken(_: Any) -> None:
        raise RuntimeError("hemlig-detalj")

    check.on_click(broken)
    shell.parent_header = {"header": {"msg_type": "comm_msg"}}
    click(check)
    assert shell.shown == []  # nothing went to the page's error output
    notice = card.children[-1]
    assert safety.MESSAGE in notice.value and 'role="alert"' in notice.value
    err = capfd.readouterr().err
    assert "Traceback" in err and "RuntimeError: hemlig-detalj" in err
    # a second error does not add a second notice
    click(check)
    assert sum(isinstance(c, safety.HTML) and safety.MESSAGE in c.value for c in card.children) == 1


def test_a_crafted_value_error_shows_the_message(shell: Shell, session: Session) -> None:
    card = build_widget(SPECS["k-enkel"], session)
    update(card.children[1], index=99)  # not an option: ipywidgets' own validation fails
    assert shell.shown == []
    assert safety.MESSAGE in card.children[-1].value


def test_an_error_outside_any_block_shows_in_the_page_status(shell: Shell) -> None:
    from omsorgslyft.runtime.widgets import save_status_widget

    status = save_status_widget(Session(MemoryStore()))
    shell.parent_header = {"header": {"msg_type": "comm_msg"}}
    try:
        raise ValueError("utan block")
    except ValueError:
        shell.showtraceback()  # type: ignore[misc]
    assert shell.shown == [] and safety.MESSAGE in status.value


def test_errors_in_cells_are_shown_as_before(shell: Shell) -> None:
    shell.parent_header = {"header": {"msg_type": "execute_request"}}
    try:
        raise ValueError("i en cell")
    except ValueError:
        shell.showtraceback()  # type: ignore[misc]
    assert [str(e) for e in shell.shown] == ["i en cell"]


def test_start_installs_the_hook_except_in_grading(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    shell = Shell()
    monkeypatch.setattr("IPython.get_ipython", lambda: shell)
    monkeypatch.setattr(ol, "GRADING", True)
    ol.start({"id": "m"})
    assert not getattr(shell, "_omsorgslyft_safe", False)
    monkeypatch.setattr(ol, "GRADING", False)
    ol.start({"id": "m"})
    assert shell._omsorgslyft_safe  # type: ignore[attr-defined]
