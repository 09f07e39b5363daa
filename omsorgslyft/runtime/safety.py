"""Safe defaults for the widgets in a learner's kernel.

The page reaches the kernel only through widget comm messages, and a crafted message can
say anything a real page could not: click a disabled button, set the value of a disabled
control, enable it, change a label, or make a callback fail. Two mechanisms, shared by
every widget the runtime shows:

- **What the browser may change.** Every widget is one of the classes here (a
  :class:`Guarded` subclass of the ipywidgets class). The browser may set only a control's
  own value (:attr:`Guarded.from_browser`), and nothing at all while the control is
  disabled: a refused update is dropped before any observer hears of it, and the kernel's
  state is sent back so the page shows the previous value again. A click or other custom
  message to a disabled widget is ignored. ``disabled`` itself is never taken from the
  browser, so a page cannot enable a control first.
- **What the browser hears of errors.** :func:`install` replaces the kernel shell's
  ``showtraceback`` (where ipywidgets' ``CallbackDispatcher`` and ``Widget._handle_msg``
  report exceptions) while a comm message is handled: the traceback goes to the kernel
  process's own stderr (the service log) and the learner sees :data:`MESSAGE` in the block
  the widget belongs to. Nothing of the exception goes out on iopub. Errors in executed
  cells are shown as before.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import os
import sys
import weakref
from collections.abc import Callable, Iterator
from typing import Any, ClassVar

import ipywidgets as w

MESSAGE = "Något gick fel. Ladda om sidan och försök igen."
#: kernel messages that carry what a page sends to its widgets
COMM_MESSAGES = frozenset({"comm_open", "comm_msg", "comm_close"})

log = logging.getLogger("omsorgslyft.runtime")
#: the widget whose message from the page is being handled now
_handling: contextvars.ContextVar[Any] = contextvars.ContextVar("omsorgslyft_widget", default=None)


class Guarded(w.DOMWidget):  # type: ignore[misc]
    """A widget that takes from the browser only its value, and nothing while disabled."""

    #: the synced traits a page may set (the control's value); nothing else is taken
    from_browser: ClassVar[frozenset[str]] = frozenset()

    def set_state(self, sync_data: dict[str, Any]) -> None:
        taken = (
            {}
            if self._disabled()
            else {k: v for k, v in sync_data.items() if k in self.from_browser}
        )
        refused = [k for k in sync_data if k not in taken and k in self.keys]
        if taken:
            try:
                super().set_state(taken)
            except Exception:
                self.send_state(list(taken))  # the page keeps nothing the kernel refused
                raise
        if refused:
            log.warning("Ignored a page's change of %s on %s", refused, self._describe())
            # the page shows what it sent: tell it what the kernel holds
            self.send_state(refused)

    def _handle_msg(self, msg: dict[str, Any]) -> None:
        token = _handling.set(self)
        try:
            super()._handle_msg(msg)
        finally:
            _handling.reset(token)

    def _handle_custom_msg(self, content: Any, buffers: Any) -> None:
        if self._disabled():
            log.warning("Ignored a page's %r on disabled %s", content, self._describe())
            return
        super()._handle_custom_msg(content, buffers)

    def _disabled(self) -> bool:
        return bool(getattr(self, "disabled", False))

    def _describe(self) -> str:
        return f"{type(self).__name__} {self.model_id}"


class Button(Guarded, w.Button):  # type: ignore[misc]
    """Clicks come as custom messages; a page sets no state of a button."""


class Checkbox(Guarded, w.Checkbox):  # type: ignore[misc]
    from_browser = frozenset({"value"})


class RadioButtons(Guarded, w.RadioButtons):  # type: ignore[misc]
    # selection widgets sync the chosen index; value follows it in the kernel
    from_browser = frozenset({"index"})


class Dropdown(Guarded, w.Dropdown):  # type: ignore[misc]
    from_browser = frozenset({"index"})


class Textarea(Guarded, w.Textarea):  # type: ignore[misc]
    from_browser = frozenset({"value"})


class HTML(Guarded, w.HTML):  # type: ignore[misc]
    """Text the kernel writes; a page changes none of it."""


class Label(Guarded, w.Label):  # type: ignore[misc]
    """Plain text the kernel writes; with ``tabbable=False`` the kernel can focus it."""


class VBox(Guarded, w.VBox):  # type: ignore[misc]
    pass


class HBox(Guarded, w.HBox):  # type: ignore[misc]
    pass


# -- errors -----------------------------------------------------------------------------

#: the blocks on this page (cards, dialogues, the submit box): an error shows in its block
_blocks: weakref.WeakSet[Any] = weakref.WeakSet()
#: the notice added to a block after an error, by block
_notices: weakref.WeakKeyDictionary[Any, Any] = weakref.WeakKeyDictionary()
#: the page's status line (the save status), for errors outside any block
_status: list[weakref.ReferenceType[Any]] = []


def block(box: Any) -> Any:
    """Register a block the runtime displays, so an error in it is shown in it."""
    _blocks.add(box)
    return box


def page_status(status: Any) -> None:
    """Register the page's status line for errors that belong to no block."""
    _status[:] = [weakref.ref(status)]


def _widgets_in(root: Any) -> Iterator[Any]:
    stack = [root]
    while stack:
        item = stack.pop()
        yield item
        stack.extend(getattr(item, "children", ()))


def disable_controls(root: Any) -> None:
    """Disable every control under ``root`` (a handed-in attempt's questions)."""
    for item in _widgets_in(root):
        if isinstance(item, (Button, Checkbox, RadioButtons, Dropdown, Textarea)):
            item.disabled = True


def show_error(widget: Any) -> None:
    """Tell the learner that something went wrong, in the block ``widget`` belongs to."""
    html = f'<p class="ol-info ol-error" role="alert">{MESSAGE}</p>'
    for box in list(_blocks):
        if widget is not None and any(item is widget for item in _widgets_in(box)):
            notice = _notices.get(box)
            if notice is None:
                notice = _notices[box] = HTML(html, layout=w.Layout(width="100%"))
                box.children = (*box.children, notice)
            return
    status = _status[0]() if _status else None
    if status is not None:
        status.value = f'<p class="ol-save ol-error" role="alert">{MESSAGE}</p>'


class _ServerStderr(logging.Handler):
    """Writes to the kernel process's own stderr, which the service logs, never to iopub.

    ipykernel forwards both ``sys.stderr`` and file descriptor 2 to the page as stream
    messages; the original descriptor survives as ``_original_stdstream_copy``.
    """

    def __init__(self) -> None:
        super().__init__()
        self.setFormatter(logging.Formatter("[%(levelname)s %(asctime)s %(name)s] %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        fd = getattr(sys.stderr, "_original_stdstream_copy", None)
        if fd is None:
            fd = sys.__stderr__.fileno() if sys.__stderr__ is not None else None
        if fd is None:
            return
        # logging's own error report would print to sys.stderr, that is, to the page
        with contextlib.suppress(Exception):
            os.write(fd, (self.format(record) + "\n").encode("utf-8", "replace"))


log.addHandler(_ServerStderr())
log.propagate = False  # the root logger's last resort writes to sys.stderr: the page


def _comm_message(shell: Any) -> str | None:
    """The type of the page's message the kernel is handling now, or None (a cell runs)."""
    parent = getattr(shell, "parent_header", None)
    header = (parent.get("header") or {}) if isinstance(parent, dict) else {}
    msg_type = header.get("msg_type")
    if msg_type in COMM_MESSAGES:
        return str(msg_type)
    return "comm_msg" if _handling.get() is not None else None


def install(shell: Any = None) -> None:
    """Keep tracebacks of widget errors in this kernel's log and off the page."""
    if shell is None:
        from IPython import get_ipython

        shell = get_ipython()
    if shell is None or getattr(shell, "_omsorgslyft_safe", False):
        return
    root = logging.getLogger()
    if not root.handlers:
        # ipykernel's comm manager logs a failed comm_open with its traceback, and without
        # a handler logging's last resort prints that to sys.stderr: the page
        root.addHandler(_ServerStderr())
    original: Callable[..., Any] = shell.showtraceback

    def showtraceback(exc_tuple: Any = None, *args: Any, **kwargs: Any) -> None:
        msg_type = _comm_message(shell)
        if msg_type is None:
            original(exc_tuple, *args, **kwargs)
            return
        exc = exc_tuple or sys.exc_info()
        widget = _handling.get()
        where = widget._describe() if widget is not None else "a widget"
        log.error("Exception in %s for %s", msg_type, where, exc_info=exc if exc[0] else None)
        try:
            show_error(widget)
        except Exception:
            log.exception("Could not show the error message")

    shell.showtraceback = showtraceback
    shell._omsorgslyft_safe = True
