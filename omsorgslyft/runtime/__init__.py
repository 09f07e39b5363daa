"""The widget runtime that released module notebooks run in the learner's kernel.

A notebook calls :func:`start` once, then :func:`show` for every interactive block and
:func:`submit_button` at the end of the knowledge check. The specs come from
:func:`omsorgslyft.authoring.notebook.learner_spec`: exercises carry their own answers
(feedback is immediate), graded questions do not.

Answers live in :data:`session` (a :class:`Session`); a :class:`Store` decides where they
are saved. The default keeps them in memory, which is what preview uses.
"""

from __future__ import annotations

import os
from typing import Any

from omsorgslyft.runtime.session import MemoryStore, Session, Store

__all__ = [
    "MemoryStore",
    "Session",
    "Store",
    "connect",
    "session",
    "show",
    "start",
    "submit_button",
]

session: Session = Session(MemoryStore())


def start(info: dict[str, Any], store: Store | None = None) -> None:
    """Begin a module page: ``info`` names the module, its version and graded questions."""
    global session
    session = Session(store or MemoryStore(), info)
    if not GRADING:
        from omsorgslyft.runtime import safety

        safety.install()


def connect(api_url: str, token: str, base_url: str) -> None:
    """Use the learn service as the store (called in the learner's page only)."""
    from IPython.display import display

    from omsorgslyft.runtime.remote import RemoteStore
    from omsorgslyft.runtime.widgets import save_status_widget

    global session
    store = RemoteStore(api_url, token)
    info = session.info
    session = Session(store, info)
    session.preview = False
    session.base_url = base_url
    session.result = store.last_load.get("result")
    display(save_status_widget(session))


#: set by the grading service: its kernels only need the answers, not the widgets
GRADING = os.environ.get("OMSORGSLYFT_GRADING") == "1"


def show(spec: dict[str, Any]) -> None:
    if GRADING:
        return
    from IPython.display import display

    from omsorgslyft.runtime.widgets import build_widget

    display(build_widget(spec, session))


def submit_button() -> None:
    if GRADING:
        return
    from IPython.display import display

    from omsorgslyft.runtime.widgets import submit_widget

    display(submit_widget(session))
