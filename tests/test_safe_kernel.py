"""In a real kernel: crafted comm messages change nothing they may not, and no traceback
reaches the page. Everything the kernel publishes on iopub is what a page would receive;
the kernel's own stderr is what ends up in the service log.
"""

from __future__ import annotations

import json
import os
import queue
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from jupyter_client import BlockingKernelClient, KernelManager

from omsorgslyft.authoring import load_module
from omsorgslyft.authoring.notebook import learner_spec
from omsorgslyft.model import Question
from omsorgslyft.runtime.safety import MESSAGE

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = load_module(ROOT / "docs" / "exempelmodul")
SPECS = {b.id: learner_spec(EXAMPLE, b) for b in EXAMPLE.blocks if isinstance(b, Question)}
SECRET = "hemlig-detalj-4711"

SETUP = f"""
import json
import omsorgslyft.runtime as ol
from omsorgslyft.runtime.widgets import build_widget
ol.start({{"id": "exempelmodul", "version": 1, "questions": ["k-ordning", "k-enkel"]}})
specs = json.loads({json.dumps(SPECS)!r})
ordning = build_widget(specs["k-ordning"], ol.session)
enkel = build_widget(specs["k-enkel"], ol.session)
rows = ordning.children[1].children
def order():
    return [row.children[2].value for row in ordning.children[1].children]
print(json.dumps({{
    "first_up": rows[0].children[0].model_id,
    "radio": enkel.children[1].model_id,
}}))
"""


@pytest.fixture
def kernel(tmp_path: Path) -> Iterator[tuple[BlockingKernelClient, Path]]:
    # as under the learn service: ipykernel forwards the kernel's fd 2 to the page (it
    # does not when it sees pytest in the environment)
    env = {k: v for k, v in os.environ.items() if k != "PYTEST_CURRENT_TEST"}
    env["PYTHONPATH"] = str(ROOT)
    log = tmp_path / "kernel.log"
    with log.open("wb") as stderr:
        km = KernelManager()
        km.start_kernel(env=env, stderr=stderr, cwd=str(tmp_path))
        kc = km.client()
        kc.start_channels()
        try:
            kc.wait_for_ready(timeout=30)
            yield kc, log
        finally:
            kc.stop_channels()
            km.shutdown_kernel(now=True)


def iopub(kc: BlockingKernelClient, quiet: float = 1.0) -> list[dict[str, Any]]:
    """Everything the kernel publishes until it has been idle and silent for ``quiet`` s."""
    out: list[dict[str, Any]] = []
    while True:
        try:
            out.append(kc.get_iopub_msg(timeout=quiet))
        except queue.Empty:
            return out


def run(kc: BlockingKernelClient, code: str) -> str:
    kc.execute(code)
    msgs = iopub(kc)
    errors = [m for m in msgs if m["msg_type"] == "error"]
    assert not errors, errors[0]["content"]["traceback"]
    return "".join(m["content"]["text"] for m in msgs if m["msg_type"] == "stream")


def page_sends(kc: BlockingKernelClient, msg_type: str, content: dict[str, Any]) -> list[Any]:
    kc.shell_channel.send(kc.session.msg(msg_type, content))
    return iopub(kc)


def assert_nothing_leaks(msgs: list[dict[str, Any]]) -> None:
    for msg in msgs:
        assert msg["msg_type"] not in ("error", "stream"), msg
        text = json.dumps(msg["content"])
        for word in ("Traceback", SECRET, "site-packages", "Error"):
            assert word not in text, msg


def test_crafted_messages_in_a_real_kernel(
    kernel: tuple[BlockingKernelClient, Path],
) -> None:
    kc, log = kernel
    ids = json.loads(run(kc, SETUP))
    order = run(kc, "print(json.dumps(order()))")

    # a click on the disabled "Upp" of the first step, also after "enabling" it
    click = {"method": "custom", "content": {"event": "click"}}
    msgs = page_sends(kc, "comm_msg", {"comm_id": ids["first_up"], "data": click})
    enable = {"method": "update", "state": {"disabled": False}}
    msgs += page_sends(kc, "comm_msg", {"comm_id": ids["first_up"], "data": enable})
    msgs += page_sends(kc, "comm_msg", {"comm_id": ids["first_up"], "data": click})
    assert_nothing_leaks(msgs)
    assert run(kc, "print(json.dumps(order()))") == order
    assert json.loads(run(kc, "print(json.dumps(ol.session.state))"))["svar"] == {}

    # a value no option has: ipywidgets' own validation fails
    bad = {"method": "update", "state": {"index": 99}}
    msgs = page_sends(kc, "comm_msg", {"comm_id": ids["radio"], "data": bad})
    assert_nothing_leaks(msgs)
    assert MESSAGE in json.dumps([m["content"] for m in msgs], ensure_ascii=False)

    # a callback that fails (here: saving)
    run(kc, f"def broken(*_):\n    raise RuntimeError({SECRET!r})\nol.session.set = broken")
    choose = {"method": "update", "state": {"index": 1}}
    msgs = page_sends(kc, "comm_msg", {"comm_id": ids["radio"], "data": choose})
    assert_nothing_leaks(msgs)

    # a widget the kernel cannot open
    opened = {
        "comm_id": "f" * 32,
        "target_name": "jupyter.widget",
        "data": {"state": {"_model_name": "Inget"}},
    }
    assert_nothing_leaks(page_sends(kc, "comm_open", opened))

    # the service log has the tracebacks
    logged = log.read_text(encoding="utf-8", errors="replace")
    assert f"RuntimeError: {SECRET}" in logged
    assert "TraitError: Invalid selection: index out of bounds" in logged
    assert logged.count("Traceback (most recent call last)") >= 3

    # an error in a cell (only the learn service runs cells) is reported as before
    kc.execute("raise ValueError('i en cell')")
    errors = [m for m in iopub(kc) if m["msg_type"] == "error"]
    assert errors and errors[0]["content"]["evalue"] == "i en cell"
