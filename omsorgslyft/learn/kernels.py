"""Module pages' kernels: who owns each, what they inherit, how many a learner keeps.

Voilà starts one kernel per module page, inside the learn service. The kernel manager
here (Voilà's own class with :class:`LearnerKernels` mixed in) adds:

* an owner for every kernel (the learner whose page started it) and the page session
  token the kernel holds; the token is ended when the kernel stops, however it stops;
* a minimal environment: Voilà passes the service's whole environment (with the hub's
  API token, which may submit for anyone) to every kernel; a kernel gets only what it
  needs to run (:func:`kernel_environment`);
* at most ``max_per_learner`` kernels per learner: opening one more page shuts the oldest
  down first. Starts are one at a time per learner, so many requests at once cannot start
  more. Nothing acknowledged is lost: a page says "Sparat" only after the service stored
  the change, and the store, not the kernel, holds every answer;
* IPC transport next to the connection file (:func:`check_runtime_dir` makes sure the
  folder is the service's alone), with socket names short enough for ``sun_path``;
* culling of idle kernels whose page is still open, after ``open_page_idle_seconds``
  (jupyter_server's ``cull_idle_timeout`` is for kernels without an open page);
* ``when_gone``: the page's websocket is closed when its kernel stops (jupyter_server
  leaves it open), so the page can tell the learner to reload;
* :class:`PageWatch` and :func:`until_gone`: a page still being rendered ends its response
  when its kernel stops or no longer runs. Voilà does not: its render task dies when the
  kernel is gone before it answered (nbclient re-raises from ``wait_for_ready``) and its
  handler then sends heartbeats forever; a kernel gone in the middle costs a second per
  cell left (nbclient polls whether it is alive) and error cells;
* preheated kernels (``omsorgslyft.learn.preheat``): started with no owner
  (:meth:`LearnerKernels.start_pooled_kernel`), never culled while they wait, reachable by
  nobody until :meth:`LearnerKernels.hand_out` gives one to a learner, under the same
  limit as a kernel started for a page.
"""

from __future__ import annotations

import asyncio
import contextvars
import os
import stat
import weakref
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from jupyter_core.utils import ensure_async
from jupyter_server._tz import utcnow
from tornado import web
from voila.utils import ENV_VARIABLE

from omsorgslyft.kernelenv import inherited

#: what Voilà adds for the page's request (CGI-style names and VOILA_*)
REQUEST = frozenset(v.value for v in ENV_VARIABLE)

#: ``sun_path`` holds 108 bytes with the terminating NUL
MAX_SOCKET_PATH = 107
_KERNEL_ID = "00000000-0000-0000-0000-000000000000"


def kernel_environment(env: Mapping[str, str] | None = None) -> dict[str, str]:
    """The part of ``env`` (Voilà's kernel env; default ``os.environ``) a kernel gets."""
    source = os.environ if env is None else env
    return inherited(source) | {k: v for k, v in source.items() if k in REQUEST}


class RuntimeDirError(RuntimeError):
    """The runtime dir cannot hold kernels' connection files safely (the message says why)."""


def check_runtime_dir(path: str | Path) -> Path:
    """Create ``path`` (mode 0700) if missing; refuse it unless it is ours and closed to
    group and others (connection files hold each kernel's signing key)."""
    folder = Path(path)
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    info = folder.stat()
    if info.st_uid != os.geteuid():
        raise RuntimeDirError(
            f"{folder} belongs to uid {info.st_uid}, not to this service (uid {os.geteuid()}): "
            "kernels' connection files and sockets need a folder of the service's own."
        )
    mode = stat.S_IMODE(info.st_mode)
    if mode & 0o077:
        raise RuntimeDirError(
            f"{folder} (mode {mode:04o}) is open to group or others, who could read kernels' "
            f"connection files and reach their sockets: chmod 700 {folder}, or choose "
            "another --LearnApp.runtime_dir."
        )
    return folder


def socket_prefix(connection_dir: str, kernel_id: str) -> str:
    """Where a kernel's IPC sockets go: ``<connection_dir>/<kernel id>-<n>``."""
    return os.path.join(connection_dir, kernel_id)


def check_socket_room(connection_dir: str) -> None:
    """Unix socket paths are short: refuse a folder too deep for them."""
    longest = os.fsencode(socket_prefix(connection_dir, _KERNEL_ID) + "-99")
    if len(longest) > MAX_SOCKET_PATH:
        raise RuntimeDirError(
            f"{connection_dir} is too long for kernels' unix sockets ({len(longest)} bytes, "
            f"at most {MAX_SOCKET_PATH}): choose a shorter --LearnApp.runtime_dir."
        )


@dataclass(frozen=True)
class Starting:
    """The page a kernel is being started for (set by the prelaunch hook)."""

    learner: str
    token: str


#: set in the prelaunch hook, read when the kernel manager starts the page's kernel, in
#: the same request's task
STARTING: contextvars.ContextVar[Starting | None] = contextvars.ContextVar("starting", default=None)


class PageWatch:
    """A page request's watch on its kernel: :attr:`gone` is done once the kernel has
    stopped (for a newer page, culled, died), or its process no longer runs."""

    def __init__(self) -> None:
        self.gone: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.kernel_id: str | None = None
        self._manager: LearnerKernels | None = None
        self._started = False
        self._undo: Callable[[], None] = lambda: None

    def attach(self, manager: LearnerKernels, kernel_id: str, *, started: bool) -> None:
        """Watch ``kernel_id`` (``started``: its process is running already)."""
        self._undo()
        self.kernel_id, self._manager, self._started = kernel_id, manager, started
        self._undo = manager.when_gone(kernel_id, self._gone)

    def started(self) -> None:
        self._started = True

    def _gone(self) -> None:
        if not self.gone.done():
            self.gone.set_result(None)

    async def check(self) -> None:
        """Mark the kernel gone if its process has ended while the manager still has it
        (nbclient kills a kernel that does not get ready in time, behind its back)."""
        manager, kernel_id = self._manager, self.kernel_id
        if self.gone.done() or manager is None or kernel_id is None or not self._started:
            return
        if kernel_id not in manager:  # type: ignore[operator]
            self._gone()
            return
        km = manager.get_kernel(kernel_id)  # type: ignore[attr-defined]
        if not await ensure_async(km.is_alive()):
            self._gone()

    def close(self) -> None:
        """The page's response is done: stop watching."""
        self._undo()
        self._undo = lambda: None


#: set by the page handler; the page's kernel is attached to it when it is started
WATCH: contextvars.ContextVar[PageWatch | None] = contextvars.ContextVar("watch", default=None)

#: how often a rendering page checks that its kernel still runs, in seconds
CHECK_SECONDS = 1.0
#: how long a cut-off rendering may take to stop, in seconds
STOP_SECONDS = 5.0


async def until_gone(
    pages: AsyncGenerator[str, None], watch: PageWatch, *, check: float = CHECK_SECONDS
) -> AsyncIterator[str | None]:
    """``pages``, until they end or the watched kernel is gone; then one ``None`` (the page
    must say so and end), and the rest of ``pages`` is stopped.

    ``pages`` runs in a task of its own (in this context: the page's kernel is watched from
    its start); what it has made meanwhile comes out joined. Whatever it raises is raised
    here, unless the kernel is gone (a preheated page's rendering fails with it), or it is
    a cancellation from within (a rendering cancelled under it): those end the page as if
    the kernel were gone."""
    made: list[str] = []
    more = asyncio.Event()

    async def pump() -> None:
        try:
            async for snippet in pages:
                made.append(snippet)
                more.set()
        finally:
            more.set()

    loop = asyncio.get_running_loop()
    task = asyncio.ensure_future(pump())
    checked = loop.time()
    try:
        while True:
            while not made and not task.done() and not watch.gone.done():
                more.clear()
                waiter = asyncio.ensure_future(more.wait())
                waits: set[asyncio.Future[Any]] = {waiter, watch.gone}
                wait = max(0.0, checked + check - loop.time())
                await asyncio.wait(waits, timeout=wait, return_when=asyncio.FIRST_COMPLETED)
                waiter.cancel()
                if loop.time() >= checked + check:
                    break
            if loop.time() >= checked + check:  # now and then, output or not
                await watch.check()
                checked = loop.time()
            if watch.gone.done():
                yield None
                return
            if made:
                # a kernel killed mid-cell makes Voilà render an error cell for it as soon
                # as nbclient sees the process gone, which can be before the manager has
                # removed the kernel: look at the process before passing anything on
                await watch.check()
                checked = loop.time()
                if watch.gone.done():
                    yield None
                    return
                html = "".join(made)
                made.clear()
                yield html
                continue
            if not task.done():
                continue
            if task.cancelled():
                yield None
                return
            error = task.exception()
            if error is None:
                return
            await watch.check()
            if not watch.gone.done():
                raise error
            yield None  # the rendering failed because its kernel is gone
            return
    finally:
        watch.close()
        if not task.done():
            task.cancel()
            await asyncio.wait({task}, timeout=STOP_SECONDS)


class KernelOwners:
    """Each kernel's learner and page token; each learner's kernels, oldest first."""

    def __init__(self) -> None:
        self._kernels: dict[str, Starting] = {}  # insertion order is start order

    def add(self, kernel_id: str, page: Starting) -> None:
        self._kernels[kernel_id] = page

    def remove(self, kernel_id: str) -> Starting | None:
        return self._kernels.pop(kernel_id, None)

    def owner(self, kernel_id: str) -> str | None:
        page = self._kernels.get(kernel_id)
        return page.learner if page else None

    def kernels_of(self, learner: str) -> list[str]:
        return [k for k, page in self._kernels.items() if page.learner == learner]


class LearnerKernels:
    """Mixed into Voilà's kernel manager class (see the module docstring)."""

    #: set by the learn service after the manager is made
    max_per_learner: int = 3
    open_page_idle_seconds: float = 0.0
    on_session_end: Callable[[str], None] | None = None

    #: called with a kernel's id whenever it is removed (the pool forgets it)
    on_removed: Callable[[str], None] | None = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.owners = KernelOwners()
        self._watchers: dict[str, list[Callable[[], None]]] = {}
        self._start_locks: weakref.WeakValueDictionary[str, asyncio.Lock] = (
            weakref.WeakValueDictionary()
        )
        #: preheated kernels not handed out yet: no owner, nobody may reach them
        self.pooled: set[str] = set()
        self._stopping: set[asyncio.Future[None]] = set()

    def _lock(self, learner: str) -> asyncio.Lock:
        lock = self._start_locks.get(learner)
        if lock is None:
            lock = self._start_locks[learner] = asyncio.Lock()
        return lock

    async def start_kernel(self, *args: Any, **kwargs: Any) -> str:
        page = STARTING.get()
        if page is None:  # every kernel belongs to a learner's page
            raise web.HTTPError(403)
        STARTING.set(None)
        watch = WATCH.get()
        WATCH.set(None)
        kwargs["env"] = kernel_environment(kwargs.get("env"))
        async with self._lock(page.learner):
            for old in self._over_limit(page.learner):
                await self._retire(old, page.learner)
            kernel_id: str = kwargs.pop("kernel_id", None) or self.new_kernel_id()  # type: ignore[attr-defined]
            self.owners.add(kernel_id, page)
            if watch is not None:
                watch.attach(self, kernel_id, started=False)
            try:
                started: str = await super().start_kernel(*args, kernel_id=kernel_id, **kwargs)  # type: ignore[misc]
            except BaseException:
                self._forget(kernel_id)
                raise
            if watch is not None:
                watch.started()
            return started

    async def start_pooled_kernel(self, **kwargs: Any) -> str:
        """Start a kernel for the pool: nobody's yet, the same minimal environment."""
        kwargs["env"] = kernel_environment(kwargs.get("env"))
        kernel_id: str = self.new_kernel_id()  # type: ignore[attr-defined]
        self.pooled.add(kernel_id)
        try:
            started: str = await super().start_kernel(kernel_id=kernel_id, **kwargs)  # type: ignore[misc]
        except BaseException:
            self.pooled.discard(kernel_id)
            raise
        return started

    async def hand_out(self, kernel_id: str, page: Starting) -> bool:
        """Give a pooled kernel to a learner's page (False if it is gone or was given).

        The learner's oldest kernels over the limit lose their owner (and token) at once,
        so the learner reaches no more than the limit; they are stopped in the background,
        off the page's way."""
        async with self._lock(page.learner):
            if kernel_id not in self.pooled or kernel_id not in self:  # type: ignore[operator]
                return False
            for old in self._over_limit(page.learner):
                self._forget(old)
                stopping = asyncio.ensure_future(self._stop(old, page.learner))
                self._stopping.add(stopping)
                stopping.add_done_callback(self._stopping.discard)
            self.pooled.discard(kernel_id)
            self.owners.add(kernel_id, page)
            # idle from now on, not from when it was preheated
            self.get_kernel(kernel_id).last_activity = utcnow()  # type: ignore[attr-defined]
            return True

    def kernel_key(self, kernel_id: str) -> bytes | None:
        """The kernel's connection (message signing) key, if this service runs it."""
        if kernel_id not in self:  # type: ignore[operator]
            return None
        key = self.get_kernel(kernel_id).session.key  # type: ignore[attr-defined]
        return bytes(key) if key else None

    def _over_limit(self, learner: str) -> list[str]:
        """The learner's oldest kernels that must go before they get one more."""
        if self.max_per_learner <= 0:
            return []
        mine = self.owners.kernels_of(learner)
        return mine[: max(0, len(mine) - self.max_per_learner + 1)]

    async def _retire(self, kernel_id: str, learner: str) -> None:
        if kernel_id not in self:  # type: ignore[operator]
            self._forget(kernel_id)
            return
        await self._stop(kernel_id, learner)

    async def _stop(self, kernel_id: str, learner: str) -> None:
        log = self.log  # type: ignore[attr-defined]
        log.info(
            "Stopping kernel %s, the oldest of %s's module pages (at most %d open)",
            kernel_id,
            learner,
            self.max_per_learner,
        )
        try:
            await self.shutdown_kernel(kernel_id)  # type: ignore[attr-defined]
        except (web.HTTPError, KeyError, RuntimeError):  # stopped meanwhile (culled, died)
            self._forget(kernel_id)

    def pre_start_kernel(self, kernel_name: str | None, kwargs: Any) -> tuple[Any, str, str]:
        km, name, kernel_id = super().pre_start_kernel(kernel_name, kwargs)  # type: ignore[misc]
        if km.transport == "ipc":
            # jupyter_client's default, <dir>/kernel-<id>-ipc-<n>, is too long for sun_path
            # below a deep runtime dir
            km.ip = socket_prefix(self.connection_dir, kernel_id)  # type: ignore[attr-defined]
        return km, name, kernel_id

    def remove_kernel(self, kernel_id: str) -> Any:
        """Every way a kernel ends (shut down, culled, died) comes through here."""
        km = super().remove_kernel(kernel_id)  # type: ignore[misc]
        self._forget(kernel_id)
        return km

    def when_gone(self, kernel_id: str, callback: Callable[[], None]) -> Callable[[], None]:
        """Call ``callback`` when the kernel stops (now, if it has); returns an undo."""
        if self.owners.owner(kernel_id) is None:
            callback()
            return lambda: None
        self._watchers.setdefault(kernel_id, []).append(callback)

        def undo() -> None:
            watchers = self._watchers.get(kernel_id, [])
            if callback in watchers:
                watchers.remove(callback)

        return undo

    def _forget(self, kernel_id: str) -> None:
        page = self.owners.remove(kernel_id)
        log = self.log  # type: ignore[attr-defined]
        self.pooled.discard(kernel_id)
        if self.on_removed is not None:
            try:
                self.on_removed(kernel_id)
            except Exception:
                log.exception("Could not drop kernel %s from the pool", kernel_id)
        if page is not None and self.on_session_end is not None:
            try:
                self.on_session_end(page.token)
            except Exception:
                log.exception("Could not end the page session of kernel %s", kernel_id)
        for callback in self._watchers.pop(kernel_id, []):
            try:
                callback()
            except Exception:
                log.exception("Could not tell a page that kernel %s stopped", kernel_id)

    async def cull_kernel_if_idle(self, kernel_id: str) -> None:
        if kernel_id in self.pooled:
            return  # waiting for a learner: idle by design
        kernel = self._kernels.get(kernel_id)  # type: ignore[attr-defined]
        connections = self._kernel_connections.get(kernel_id, 0)  # type: ignore[attr-defined]
        if kernel is not None and connections and getattr(kernel, "execution_state", "") != "dead":
            last = getattr(kernel, "last_activity", None)
            limit = self.open_page_idle_seconds
            if limit <= 0 or last is None or utcnow() - last <= timedelta(seconds=limit):
                return  # the page is open and has not been idle long enough
        await super().cull_kernel_if_idle(kernel_id)  # type: ignore[misc]


def learner_kernel_manager(base: type) -> type:
    """Voilà's kernel manager class with :class:`LearnerKernels` mixed in."""
    return type("LearnerKernelManager", (LearnerKernels, base), {})
