"""The widget runtime that released module notebooks run in the learner's kernel.

A notebook calls :func:`start` once, then :func:`show` for every interactive block and
:func:`check` for the knowledge check. The specs come from
:func:`omsorgslyft.authoring.notebook.learner_spec`: exercises carry their own answers
(feedback is immediate), graded questions do not.

Answers live in :data:`session` (a :class:`Session`); a :class:`Store` decides where they
are saved. The default keeps them in memory, which is what preview uses.

A learner's page gets the learn service as its store in one of two ways: :func:`connect`
(the kernel was started for the page, with its token in the start cell), or
:func:`preheated` (the learn service started and ran the notebook before anyone opened the
page). A preheated page knows nobody: it shows each block as an empty slot and asks the
service, in the background, whose page it is. When the service hands the kernel to a
learner it answers, once, with that learner's token and saved state, and only then are the
blocks built, with the learner's answers. A preheated kernel is never handed to a second
learner, so no one's answers are ever in another's page.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from typing import Any

from omsorgslyft.runtime.session import MemoryStore, Session, Store

__all__ = [
    "MemoryStore",
    "Session",
    "Store",
    "check",
    "connect",
    "preheated",
    "session",
    "show",
    "start",
]

session: Session = Session(MemoryStore())
log = logging.getLogger("omsorgslyft.runtime")  # the kernel's own stderr (safety)
#: a preheated page's empty slots and what to build in each once the learner is known;
#: None once known (or if the page was never preheated): blocks are built at once
_waiting: list[tuple[Callable[[], Any], Any]] | None = None


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
    session.attempt = store.last_load.get("attempt")
    display(save_status_widget(session))


def preheated(api_url: str, base_url: str, kernel_id: str) -> None:
    """A preheated page (the learn service's pool): build nothing of a learner's until the
    service says whose page this is, then load their state into every block.

    The question goes out at once, from a thread, signed with this kernel's connection key;
    the answer is applied on the kernel's own event loop, between messages.
    """
    from IPython import get_ipython
    from IPython.display import display

    from omsorgslyft.runtime.widgets import save_status_widget

    global _waiting
    session.preview = False
    session.base_url = base_url
    _waiting = []
    display(save_status_widget(session))
    kernel = get_ipython().kernel
    key: bytes = kernel.session.key
    loop = kernel.io_loop
    threading.Thread(
        target=_ask_whose_page,
        args=(api_url, kernel_id, key, lambda reply: loop.add_callback(_bound, api_url, reply)),
        name="omsorgslyft-bind",
        daemon=True,
    ).start()


def _ask_whose_page(
    api_url: str, kernel_id: str, key: bytes, then: Callable[[dict[str, Any]], None]
) -> None:
    from omsorgslyft.runtime.remote import RemoteError, request_binding

    for attempt in range(10):
        try:
            reply = request_binding(api_url, kernel_id, key)
        except RemoteError as exc:
            if exc.status not in (0, 502, 503, 504):
                # refused (a forged or second request, or the kernel was never handed out)
                log.error("The learn service refused to bind this page (%s)", exc.status)
                return
            time.sleep(min(0.2 * 2**attempt, 5))
            continue
        then(reply)
        return
    log.error("The learn service did not answer whose page this is")


def _bound(api_url: str, reply: dict[str, Any]) -> None:
    """The learner is known: their store and state, then every block, built with it."""
    global _waiting
    from omsorgslyft.runtime import safety
    from omsorgslyft.runtime.remote import RemoteStore

    waiting, _waiting = _waiting or [], None
    try:
        store = RemoteStore(
            api_url, reply["token"], loaded={"state": reply["state"], "result": reply["result"]}
        )
        session.rebind(store)
        session.result = reply.get("result")
        session.attempt = reply.get("attempt")
    except Exception:
        log.exception("Could not load the learner's state")
        safety.show_error(None)
        return  # the page stays empty: nothing it showed could be saved
    for build, slot in waiting:
        try:
            slot.children = (build(),)
        except Exception:
            log.exception("Could not show a block")
            safety.show_error(None)


_slot_layout: Any = None


def _slot() -> Any:
    """An empty place for a block (nothing to see or use), without a box of its own.
    The slots share one layout: each widget model is sent to the page."""
    import ipywidgets as w

    from omsorgslyft.runtime.safety import VBox

    global _slot_layout
    if _slot_layout is None:
        _slot_layout = w.Layout(display="contents")
    slot = VBox(layout=_slot_layout)
    slot.add_class("ol-slot")
    return slot


def _display(build: Callable[[], Any]) -> None:
    from IPython.display import display

    if _waiting is None:
        display(build())
        return
    slot = _slot()
    _waiting.append((build, slot))
    display(slot)


#: set by the grading service: its kernels only need the answers, not the widgets
GRADING = os.environ.get("OMSORGSLYFT_GRADING") == "1"


def show(spec: dict[str, Any]) -> None:
    if GRADING:
        return
    from omsorgslyft.runtime.widgets import build_widget

    _display(lambda: build_widget(spec, session))


def check(spec: dict[str, Any]) -> None:
    """The knowledge check: this attempt's questions, Lämna in and the result."""
    if GRADING:
        return
    from omsorgslyft.runtime.knowledge_check import check_widget

    _display(lambda: check_widget(spec, session))
