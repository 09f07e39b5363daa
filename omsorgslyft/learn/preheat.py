"""Preheated module pages: kernels started, and notebooks run, before anyone opens them.

Starting a kernel and running a module's notebook is most of the time before a learner can
use the page. The pool does both ahead of time, the way Voilà's own preheating does (its
``NotebookRenderer.generate_content_hybrid``: the page is rendered into memory while the
notebook runs, and handed out whole or in the middle), but binds each kernel to the
learner it is handed to:

1. **Preheating knows nobody.** The kernel gets the same minimal environment as any page's
   kernel and no request data at all (no ``VOILA_REQUEST_URL``, query string or headers:
   Voilà's pool copies the previous request's URL into its refills). The notebook's start
   cell ends with ``ol.preheated(url, base, kernel_id)``: every block is an empty slot, and
   the kernel asks this service, in the background, whose page it is
   (``POST api/page/bind``, signed with its connection key: HMAC-SHA256 over the kernel
   id and the time, ``omsorgslyft.runtime.remote.bind_signature``). The service holds the
   request. The page's HTML is rendered with a nonce of its own for the page's
   Content-Security-Policy, used for this one response.
2. **Handing out** (``KernelPool.hand_out``, when a learner opens the module): the kernel
   leaves the pool (once: it is never handed out again, and never goes back), gets the
   learner as its owner under the same per-learner limit as a kernel started for a page
   (``LearnerKernels.hand_out``), and a fresh page token for (learner, module, version)
   is made. The held request is answered with the token and the learner's saved state,
   and only then does the kernel build its blocks, with the learner's answers.
3. **Binding is once** (``KernelPool.bind``). The service answers only a request signed
   with the key of a kernel it preheated itself and has not bound yet, with a fresh
   time; one request per kernel may wait, and once answered the kernel id opens nothing
   again. A kernel started for a page (pool empty) has its token from the prelaunch hook
   and can bind to nothing.

The pool is bounded: at most ``size`` kernels wait (about 55 MB each), shared among the
modules by recent demand (each module's weight is 1 plus its page opens, halved every
``DEMAND_HALF_LIFE`` seconds; slots by the D'Hondt rule, so every module has one when
there are enough). It is refilled one kernel at a time, in quiet moments: once no learner
has opened or asked for a page of the service for ``refill_delay`` seconds, so that
preheating never competes with a learner's own kernel start on a small machine. (When
learners keep opening pages more often than that, the pool waits, and pages start their
own kernels as they would without it.) Waiting kernels are never culled; a handed-out
kernel is culled like any other, idle from its hand-out.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import os
import secrets
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from voila.notebook_renderer import NotebookRenderer
from voila.utils import ENV_VARIABLE, get_page_config

from omsorgslyft.learn.catalog import Catalog, ModuleInfo
from omsorgslyft.learn.kernels import LearnerKernels, Starting
from omsorgslyft.learn.store import AnswerStore
from omsorgslyft.runtime.remote import bind_signature

#: how far a bind request's time may be from ours, in seconds
BIND_WINDOW = 60
#: a module's recent page opens count half after this many seconds
DEMAND_HALF_LIFE = 600.0
#: a notebook that has not run through in this many seconds is given up
WARM_TIMEOUT = 180.0


@dataclass(frozen=True)
class Ticket:
    """What a handed-out kernel is told when it asks whose page it is."""

    learner: str
    token: str
    module: str
    version: int


class Gone(Exception):
    """The kernel stopped before it was bound."""


class BindRefused(Exception):
    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


@dataclass(eq=False)
class Preheated:
    """One preheated page: its kernel, its rendering, its nonce and, once handed out, its
    learner's ticket."""

    module: str
    version: int
    notebook: str
    kernel_id: str
    nonce: str
    renderer: NotebookRenderer
    task: asyncio.Task[Any]
    ticket: asyncio.Future[Ticket] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )
    #: a bind request is waiting for this kernel, or was answered
    asked: bool = False

    @property
    def ready(self) -> bool:
        """The notebook has run through (the whole page is rendered)."""
        return self.task.done() and not self.task.cancelled() and self.task.exception() is None

    async def html(self) -> AsyncIterator[str]:
        """The page: what is rendered already, then the rest as the notebook runs on."""
        renderer = self.renderer
        renderer.stop_generator = True
        cached = list(renderer.rendered_cache)
        if cached:
            yield "".join(cached)
        rendered, rest = await self.task
        if len(rendered) > len(cached):
            yield "".join(rendered[len(cached) :])
        async for snippet, _ in rest:
            yield snippet


def make_renderer(app: Any, notebook: str) -> NotebookRenderer:
    """Voilà's renderer for ``notebook`` as a page request would make it, with no request
    and no prelaunch hook (``app``: the Voilà application, after ``start``)."""
    voila_configuration = app.voila_configuration
    settings = app.app.settings
    kwargs = {
        "base_url": app.base_url,
        "settings": settings,
        "log": app.log,
        "voila_configuration": voila_configuration,
    }
    page_config = get_page_config(**kwargs)
    if voila_configuration.page_config_hook:
        page_config = voila_configuration.page_config_hook(
            page_config, **kwargs, notebook_path=notebook
        )
    renderer = NotebookRenderer(
        voila_configuration=voila_configuration,
        traitlet_config=app.config,
        notebook_path=notebook,
        template_paths=app.template_paths,
        config_manager=app.config_manager,
        contents_manager=app.contents_manager,
        base_url=app.base_url,
        kernel_spec_manager=app.kernel_spec_manager,
        page_config=page_config,
        mathjax_config=settings.get("mathjax_config"),
        mathjax_url=settings.get("mathjax_url"),
    )
    renderer.prelaunch_hook = None  # the learner is not known yet: ol.preheated instead
    return renderer


def allocate(weights: list[tuple[str, float]], size: int) -> dict[str, int]:
    """``size`` slots among modules by the D'Hondt rule (ties: the order given)."""
    slots = dict.fromkeys((m for m, _ in weights), 0)
    for _ in range(size):
        if not weights:
            break
        best = max(weights, key=lambda mw: mw[1] / (slots[mw[0]] + 1))
        slots[best[0]] += 1
    return slots


class KernelPool:
    """Preheated pages for the modules of ``catalog`` (see the module docstring).

    ``renderer_for(notebook)`` makes a page's renderer; ``api_url`` is how kernels reach
    this service, ``base_url`` the service's public prefix.
    """

    def __init__(
        self,
        manager: LearnerKernels,
        catalog: Catalog,
        store: AnswerStore,
        renderer_for: Callable[[str], NotebookRenderer],
        *,
        size: int,
        refill_delay: float,
        api_url: str,
        base_url: str,
        kernel_env: dict[str, str] | None = None,
        log: logging.Logger | None = None,
    ) -> None:
        self.manager = manager
        self.catalog = catalog
        self.store = store
        self.renderer_for = renderer_for
        self.size = size
        self.refill_delay = refill_delay
        self.api_url = api_url
        self.base_url = base_url
        self.kernel_env = dict(kernel_env or {})
        self.log = log or logging.getLogger(__name__)
        #: waiting pages by notebook, oldest first
        self._items: dict[str, list[Preheated]] = {}
        #: every kernel that may still bind: waiting, or handed out and not bound yet
        self._bindable: dict[str, Preheated] = {}
        self._demand: dict[str, float] = {}
        self._demand_at = time.monotonic()
        self._busy = 0
        self._quiet_since = time.monotonic()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        manager.on_removed = self._removed

    # -- what the service asks ------------------------------------------------------------

    def start(self) -> None:
        """Begin filling (on the running loop)."""
        if self._task is None and self.size > 0:
            self._task = asyncio.ensure_future(self._fill())

    def waiting(self) -> int:
        return sum(len(items) for items in self._items.values())

    def touch(self) -> None:
        """A learner asked for a page: no refill for a while."""
        self._quiet_since = time.monotonic()

    @contextlib.contextmanager
    def busy(self) -> Iterator[None]:
        """A module page is being opened: no refill until it is done and a while after."""
        self._busy += 1
        try:
            yield
        finally:
            self._busy -= 1
            self.touch()

    def _quiet_for(self) -> float:
        """Seconds until the service has been quiet long enough (0: now)."""
        if self._busy:
            return self.refill_delay
        return max(0.0, self._quiet_since + self.refill_delay - time.monotonic())

    async def hand_out(self, notebook: str, learner: str) -> Preheated | None:
        """A preheated page of ``notebook`` for ``learner``, bound to them (None: none)."""
        info = self._module_of(notebook)
        if info is None:
            return None
        self._note_demand(info.id)
        self._wake.set()
        items = self._items.get(notebook, [])
        # a page that has run through first, else the one furthest along
        for item in sorted(items, key=lambda i: not i.ready):
            if item.version != info.version or (item.task.done() and not item.ready):
                continue  # another version, or its notebook failed (about to be stopped)
            items.remove(item)
            token = self.store.open_session(learner, info.id, info.version)
            if not await self.manager.hand_out(item.kernel_id, Starting(learner, token)):
                self.store.end_session(token)
                self._bindable.pop(item.kernel_id, None)
                continue
            if not item.ticket.done():
                item.ticket.set_result(Ticket(learner, token, info.id, info.version))
            self.log.info(
                "Preheated kernel %s handed out for %s (%d waiting)",
                item.kernel_id,
                info.id,
                self.waiting(),
            )
            return item
        return None

    async def bind(
        self, kernel_id: str, when: int, signature: str, gone: asyncio.Future[None]
    ) -> Ticket:
        """Answer a preheated kernel's question, once it has been handed out (see the
        module docstring); ``gone`` is done if the asking connection closes."""
        item = self._bindable.get(kernel_id)
        key = self.manager.kernel_key(kernel_id) if item is not None else None
        fresh = abs(time.time() - when) <= BIND_WINDOW
        if (
            item is None
            or key is None
            or not fresh
            or not hmac.compare_digest(bind_signature(key, kernel_id, when), signature)
        ):
            self.log.warning("Refused a bind request for kernel %r", kernel_id[:64])
            raise BindRefused(403, "Okänd eller felaktigt signerad kärna.")
        if item.asked:
            self.log.warning("Refused a second bind request for kernel %s", kernel_id)
            raise BindRefused(409, "Kärnan har redan frågat.")
        item.asked = True
        waits: set[asyncio.Future[Any]] = {item.ticket, gone}
        await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        if not item.ticket.done():  # the kernel hung up before it was handed out
            item.asked = False
            raise BindRefused(410, "Frågan avbröts.")
        try:
            ticket = item.ticket.result()
        except Gone:
            raise BindRefused(410, "Kärnan har stoppats.") from None
        self._bindable.pop(kernel_id, None)  # bound: never again
        return ticket

    # -- filling --------------------------------------------------------------------------

    def _module_of(self, notebook: str) -> ModuleInfo | None:
        return next((m for m in self.catalog.modules.values() if m.notebook == notebook), None)

    def _note_demand(self, module: str) -> None:
        now = time.monotonic()
        factor = 0.5 ** ((now - self._demand_at) / DEMAND_HALF_LIFE)
        self._demand = {m: d * factor for m, d in self._demand.items()}
        self._demand_at = now
        self._demand[module] = self._demand.get(module, 0.0) + 1.0

    def _wanted(self) -> dict[str, int]:
        modules = list(self.catalog.modules.values())
        slots = allocate([(m.id, 1.0 + self._demand.get(m.id, 0.0)) for m in modules], self.size)
        return {m.notebook: slots[m.id] for m in modules}

    def _next(self) -> tuple[str | None, Preheated | None]:
        """The notebook to preheat next, and a waiting page to stop first to make room."""
        wanted = self._wanted()
        have = {nb: len(self._items.get(nb, [])) for nb in wanted}
        short = [nb for nb in wanted if have[nb] < wanted[nb]]
        if not short:
            return None, None
        # the most wanted first: the biggest share of its slots still missing
        notebook = max(short, key=lambda nb: (wanted[nb] - have[nb]) / wanted[nb])
        if self.waiting() < self.size:
            return notebook, None
        if have[notebook] > 0:
            return None, None  # it has one: not worth stopping another module's for it
        spare = [nb for nb in have if have[nb] > wanted.get(nb, 0)]
        if not spare:
            return None, None
        most = max(spare, key=lambda nb: have[nb] - wanted.get(nb, 0))
        ready = [i for i in self._items[most] if i.ready]
        return (notebook, ready[-1]) if ready else (None, None)

    async def _until_quiet(self) -> None:
        while (wait := self._quiet_for()) > 0:
            await asyncio.sleep(min(wait, 0.5))

    async def _fill(self) -> None:
        failures = 0
        while True:
            notebook, evict = self._next()
            if notebook is None:
                self._wake.clear()
                await self._wake.wait()
                continue
            await self._until_quiet()
            notebook, evict = self._next()  # demand may have moved meanwhile
            if notebook is None:
                continue
            if evict is not None:
                await self._stop(evict, "to make room for another module")
            try:
                item = await self._warm(notebook)
            except Exception:
                failures += 1
                self.log.exception("Could not preheat a kernel for %s", notebook)
                await asyncio.sleep(min(60.0, 2.0**failures))
                continue
            if item is None:
                continue  # a learner came meanwhile: their page first
            done, _ = await asyncio.wait({item.task}, timeout=WARM_TIMEOUT)
            if not done and item.kernel_id in self.manager.pooled:
                # (a handed-out page's rendering is its learner's now: cancelled under
                # the page, the page would be cut off with an error)
                item.task.cancel()
            if not item.ready and item.kernel_id in self.manager.pooled:
                failures += 1
                self.log.error("Preheating %s failed (kernel %s)", notebook, item.kernel_id)
                await self._stop(item, "its notebook did not run")
                await asyncio.sleep(min(60.0, 2.0**failures))
                continue
            failures = 0
            if item.ready and item.kernel_id in self.manager.pooled:
                self.log.info(
                    "Preheated kernel %s ready for %s (%d waiting)",
                    item.kernel_id,
                    item.module,
                    self.waiting(),
                )

    async def _warm(self, notebook: str) -> Preheated | None:
        renderer = self.renderer_for(notebook)
        await renderer.initialize()
        meta = renderer.notebook.metadata.get("omsorgslyft", {})
        module, version = meta.get("module"), int(meta.get("version", 0))
        env = {**os.environ, **self.kernel_env, ENV_VARIABLE.VOILA_PREHEAT: "False"}
        if self._quiet_for() > 0:
            return None
        kernel_id = await self.manager.start_pooled_kernel(
            kernel_name=renderer.notebook.metadata.kernelspec.name,
            path=os.path.dirname(notebook),
            env=env,
        )
        nonce = secrets.token_urlsafe(18)
        meta["csp_nonce"] = nonce  # the template puts it on every inline script
        start = renderer.notebook.cells[0]
        start.source += f"\nol.preheated({self.api_url!r}, {self.base_url!r}, {kernel_id!r})"
        task = asyncio.ensure_future(
            renderer.generate_content_hybrid(kernel_id, self.manager.get_kernel(kernel_id))  # type: ignore[attr-defined]
        )
        item = Preheated(module, version, notebook, kernel_id, nonce, renderer, task)
        self._items.setdefault(notebook, []).append(item)
        self._bindable[kernel_id] = item
        return item

    async def _stop(self, item: Preheated, why: str) -> None:
        self._removed(item.kernel_id)
        if item.kernel_id not in self.manager.pooled:
            return  # handed out meanwhile: the learner's now
        self.log.info("Stopping preheated kernel %s (%s): %s", item.kernel_id, item.module, why)
        with contextlib.suppress(Exception):
            await self.manager.shutdown_kernel(item.kernel_id)  # type: ignore[attr-defined]

    def _removed(self, kernel_id: str) -> None:
        """The kernel is gone, or leaves the pool without a learner."""
        item = self._bindable.pop(kernel_id, None)
        for items in self._items.values():
            for waiting in list(items):
                if waiting.kernel_id == kernel_id:
                    items.remove(waiting)
                    item = waiting
        if item is not None and not item.ticket.done():
            item.ticket.set_exception(Gone())
            item.ticket.exception()  # retrieved: no "never retrieved" warning
        self._wake.set()
