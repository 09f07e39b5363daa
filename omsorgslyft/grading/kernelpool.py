"""Single-use kernels started ahead of time for nbgrader's Execute preprocessor.

Starting and stopping a kernel is about half of an autograde. A :class:`KernelPool` keeps
``size`` kernels started and ready (they answered ``kernel_info``) in a background thread
with its own event loop, so a grading worker takes one that is already running. A kernel is
never used twice: :meth:`KernelPool.retire` shuts it down after its one autograde, off the
critical path, and the pool starts a fresh one in its place.

The kernels are started exactly as nbclient would start them for nbgrader (same kernel,
same extra arguments, ``NBGRADER_EXECUTION=autograde``), with two differences: a kernel
gets only the part of the worker's environment that :mod:`omsorgslyft.kernelenv` lets
through (never a database URL, a password or the broker's URL), and
its working directory: :class:`omsorgslyft.grading.course` moves the
kernel into the submission's directory before the notebook runs.

Replacements are started at once while the pool is low (at most ``low_water`` ready);
above that they wait until no kernel has been out for ``idle_delay`` seconds, so that a
burst of submissions is graded on the kernels already waiting instead of competing with
new kernels for the CPU. A kernel that dies while waiting is dropped and replaced. When
the pool is empty, the next :meth:`take` waits for a kernel that is starting (starting one
if none is); if kernels cannot be started at all, :meth:`take` raises instead of hanging.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import json
import logging
import os
import tempfile
import threading
import time
from collections import deque
from collections.abc import Mapping, Sequence
from pathlib import Path
from queue import Empty
from typing import Any

from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import AsyncKernelManager
from jupyter_core.utils import run_sync
from nbclient.util import run_hook
from nbgrader.preprocessors import Execute

from omsorgslyft.kernelenv import inherited

log = logging.getLogger("omsorgslyft.grading.kernels")

#: seconds between checks that the waiting kernels are still alive
WATCH_INTERVAL = 1.0
#: first and longest pause after a kernel failed to start
RETRY_FIRST = 1.0
RETRY_MAX = 30.0


class KernelStartError(RuntimeError):
    """No kernel could be started for a grading."""


def kernel_pid(km: AsyncKernelManager) -> int | None:
    """The kernel's process id (None once it has been cleaned up)."""
    provisioner: Any = km.provisioner
    process = getattr(provisioner, "process", None)
    return process.pid if process is not None else None


class KernelPool:
    """Pre-started, single-use kernels, kept in a background thread.

    ``take()`` and ``retire()`` may be called from any thread; everything else happens on
    the pool's own event loop. Call :meth:`close` when done (it is also registered with
    ``atexit``); kernels also stop by themselves when their parent process dies, since
    ipykernel polls its parent.
    """

    def __init__(
        self,
        size: int,
        *,
        kernel_name: str = "python3",
        extra_arguments: Sequence[str] = (),
        ipython_hist_file: str | None = ":memory:",
        env: Mapping[str, str] | None = None,
        startup_timeout: float = 60.0,
        low_water: int = 2,
        idle_delay: float = 0.3,
        argv: Sequence[str] | None = None,
    ) -> None:
        if size < 1:
            raise ValueError("a kernel pool holds at least one kernel")
        self.size = size
        self.kernel_name = kernel_name
        self.extra_arguments = list(extra_arguments)
        self.ipython_hist_file = ipython_hist_file
        self.env = dict(env or {})
        self.startup_timeout = startup_timeout
        self.low_water = min(low_water, size)
        self.idle_delay = idle_delay
        #: the kernel's command line, if not its kernelspec's (``{connection_file}`` in it)
        self.argv = list(argv) if argv else None
        self._specs: KernelSpecManager | None = None
        self._spec_dir: tempfile.TemporaryDirectory[str] | None = None
        #: kernels started so far (each one once: it is never reused)
        self.started = 0
        self._ready: deque[AsyncKernelManager] = deque()
        self._starting: set[asyncio.Task[None]] = set()
        self._background: set[asyncio.Task[Any]] = set()
        self._out = 0  # kernels handed out and not yet retired
        self._last_out = 0.0  # loop time when the last one came back
        self._failure: BaseException | None = None
        self._retry_delay = RETRY_FIRST
        self._retry_at = 0.0
        self._closed = False
        self._timer: asyncio.TimerHandle | None = None
        self._loop = asyncio.new_event_loop()
        self._changed: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._run, name="kernel-pool", daemon=True)

    # -- the public side (any thread) ---------------------------------------------------
    def start(self) -> None:
        """Start the pool's thread and its first ``size`` kernels (returns at once)."""
        self._thread.start()
        self._call(self._begin)
        atexit.register(self.close)

    def take(self) -> AsyncKernelManager:
        """A started, ready kernel of its own for one autograde; the pool starts another.

        Waits for a starting kernel when none is ready. Raises :class:`KernelStartError`
        when kernels cannot be started (never waits longer than ``startup_timeout`` and a
        little for the kernel that was already starting).
        """
        future = asyncio.run_coroutine_threadsafe(self._take(), self._loop)
        try:
            return future.result(timeout=2 * self.startup_timeout + 5)
        except TimeoutError:
            future.cancel()
            raise KernelStartError("no kernel became ready in time") from None

    def retire(self, km: AsyncKernelManager) -> None:
        """Shut a kernel down that has been used (in the background; returns at once)."""
        self._call(self._retire, km)

    def alive(self, km: AsyncKernelManager) -> bool:
        """Whether the kernel's process still runs (True if the pool cannot tell in time)."""
        future = asyncio.run_coroutine_threadsafe(_is_alive(km), self._loop)
        try:
            return future.result(timeout=30)
        except TimeoutError:
            log.warning("the kernel pool did not answer; kernel %s taken as alive", kernel_pid(km))
            return True

    def ready_pids(self) -> list[int]:
        """Process ids of the kernels waiting in the pool (for tests and diagnostics)."""
        future = asyncio.run_coroutine_threadsafe(self._ready_pids(), self._loop)
        return future.result(timeout=10)

    def close(self, timeout: float = 15.0) -> None:
        """Shut every kernel down and stop the pool's thread. Idempotent."""
        if self._closed or not self._thread.is_alive():
            self._closed = True
            return
        future = asyncio.run_coroutine_threadsafe(self._close(), self._loop)
        with contextlib.suppress(Exception):
            future.result(timeout=timeout)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)
        with contextlib.suppress(Exception):
            atexit.unregister(self.close)
        if self._spec_dir is not None:
            self._spec_dir.cleanup()

    # -- the pool's event loop ----------------------------------------------------------
    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._loop.run_forever()
        finally:
            with contextlib.suppress(Exception):
                self._loop.close()

    def _call(self, fn: Any, *args: Any) -> None:
        if not self._closed:
            self._loop.call_soon_threadsafe(fn, *args)

    def _spawn(self, coro: Any) -> asyncio.Task[Any]:
        task = self._loop.create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        return task

    def _notify(self) -> None:
        if self._changed is not None:
            self._changed.set()

    def _begin(self) -> None:
        self._changed = asyncio.Event()
        self._spawn(self._watch())
        self._refill(urgent=True)

    def _refill(self, urgent: bool = False) -> None:
        """Start kernels up to ``size`` (only up to ``low_water`` while the pool is busy)."""
        if self._closed:
            return
        now = self._loop.time()
        if now < self._retry_at:
            self._later(self._retry_at - now)
            return
        target = self.size
        if not urgent and (self._out > 0 or now - self._last_out < self.idle_delay):
            target = self.low_water
            self._later(self.idle_delay)
        while len(self._ready) + len(self._starting) < target:
            task = self._loop.create_task(self._fill_one())
            self._starting.add(task)
            task.add_done_callback(self._starting.discard)

    def _later(self, delay: float) -> None:
        """Look again at the pool after ``delay`` seconds (one timer, pushed back)."""
        if self._timer is not None:
            self._timer.cancel()
        self._timer = self._loop.call_later(delay + 0.01, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        self._refill()

    async def _fill_one(self) -> None:
        try:
            km = await self._start_one()
        except Exception as exc:
            log.exception("a grading kernel failed to start")
            self._failure = exc
            self._retry_at = self._loop.time() + self._retry_delay
            self._retry_delay = min(2 * self._retry_delay, RETRY_MAX)
        else:
            self._failure = None
            self._retry_delay = RETRY_FIRST
            self._retry_at = 0.0
            if self._closed:
                await _dispose(km, now=True)
            else:
                self._ready.append(km)
        finally:
            self._notify()
        self._loop.call_soon(self._refill)

    def _spec_manager(self) -> KernelSpecManager:
        """Kernelspecs as usual, or the pool's own command under the same kernel name
        (so notebooks asking for ``python3`` still get the pool's kernels)."""
        if self._specs is None:
            if self.argv is None:
                self._specs = KernelSpecManager()
            else:
                self._spec_dir = tempfile.TemporaryDirectory(prefix="omsorgslyft-kernels-")
                folder = Path(self._spec_dir.name) / self.kernel_name
                folder.mkdir()
                spec = {"argv": self.argv, "display_name": "Rättning", "language": "python"}
                (folder / "kernel.json").write_text(json.dumps(spec), encoding="utf-8")
                self._specs = KernelSpecManager(
                    kernel_dirs=[self._spec_dir.name], ensure_native_kernel=False
                )
        return self._specs

    async def _start_one(self) -> AsyncKernelManager:
        km = AsyncKernelManager(
            kernel_name=self.kernel_name, kernel_spec_manager=self._spec_manager()
        )
        self.started += 1
        arguments = list(self.extra_arguments)
        # what nbclient adds when it starts an IPython kernel itself
        if (
            km.ipykernel
            and self.ipython_hist_file
            and not any(a.startswith("--HistoryManager.hist_file") for a in arguments)
        ):
            arguments.append(f"--HistoryManager.hist_file={self.ipython_hist_file}")
        try:
            await km.start_kernel(
                extra_arguments=arguments, env={**inherited(os.environ), **self.env}
            )
            kc = km.client()
            # no heartbeat: the manager sees the process; stopping its thread blocks
            kc.start_channels(hb=False)
            try:
                await kc.wait_for_ready(timeout=self.startup_timeout)
            finally:
                kc.stop_channels()
        except BaseException:
            await _dispose(km, now=True)
            raise
        log.debug("kernel %s ready in the pool", kernel_pid(km))
        return km

    async def _take(self) -> AsyncKernelManager:
        assert self._changed is not None
        while True:
            if self._closed:
                raise KernelStartError("the kernel pool is closed")
            while self._ready:
                km = self._ready.popleft()
                if await _is_alive(km):
                    self._out += 1
                    self._refill()
                    return km
                log.warning("kernel %s died while waiting; replaced", kernel_pid(km))
                self._spawn(_dispose(km))
            if not self._starting:
                if self._failure is not None:
                    raise KernelStartError("no kernel could be started") from self._failure
                self._refill(urgent=True)
            self._changed.clear()
            await self._changed.wait()

    def _retire(self, km: AsyncKernelManager) -> None:
        self._out = max(0, self._out - 1)
        self._last_out = self._loop.time()
        self._spawn(_dispose(km))
        self._refill()

    async def _watch(self) -> None:
        while not self._closed:
            await asyncio.sleep(WATCH_INTERVAL)
            for km in list(self._ready):
                if not await _is_alive(km):
                    log.warning("kernel %s died while waiting; replaced", kernel_pid(km))
                    with contextlib.suppress(ValueError):
                        self._ready.remove(km)
                    self._spawn(_dispose(km))
                    self._refill(urgent=True)

    async def _ready_pids(self) -> list[int]:
        return [pid for km in self._ready if (pid := kernel_pid(km)) is not None]

    async def _close(self) -> None:
        self._closed = True
        if self._timer is not None:
            self._timer.cancel()
        self._notify()
        starting = list(self._starting)
        for task in starting:
            task.cancel()
        await asyncio.gather(*starting, return_exceptions=True)
        kernels = list(self._ready)
        self._ready.clear()
        await asyncio.gather(*(_dispose(km) for km in kernels), return_exceptions=True)
        pending = [t for t in self._background if not t.done()]
        await asyncio.gather(*pending, return_exceptions=True)


async def _is_alive(km: AsyncKernelManager) -> bool:
    try:
        return bool(await km.is_alive())
    except Exception:
        return False


async def _dispose(km: AsyncKernelManager, now: bool = False) -> None:
    """Stop a kernel (politely unless ``now``) and free its ports and connection file."""
    try:
        if km.has_kernel and await _is_alive(km):
            await km.shutdown_kernel(now=now)
            return
    except Exception:
        log.exception("stopping kernel %s failed; killing it", kernel_pid(km))
        with contextlib.suppress(Exception):
            await km.shutdown_kernel(now=True)
        return
    with contextlib.suppress(Exception):
        await km.cleanup_resources()


class LeasedExecute(Execute):  # type: ignore[misc]
    """nbgrader's Execute preprocessor, running the notebook in a kernel from the pool.

    nbclient does not stop a kernel whose manager it was given (``owns_km`` is False), so
    the kernel outlives the notebook and the pool retires it. The notebook runs where
    nbclient would have started the kernel: its directory in ``autograded/``. A notebook
    that asks for another kernel than the pool's gets one started as usual.
    """

    def __init__(self, km: AsyncKernelManager, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.leased_km = km

    def preprocess(
        self, nb: Any, resources: Any = None, km: Any = None
    ) -> tuple[Any, dict[str, Any]]:
        wanted = self.kernel_name or nb.metadata.get("kernelspec", {}).get("name")
        leased = km or (self.leased_km if wanted in (None, self.leased_km.kernel_name) else None)
        try:
            out: tuple[Any, dict[str, Any]] = super().preprocess(nb, resources, km=leased)
            return out
        finally:
            kc: Any = getattr(self, "kc", None)
            if leased is not None and kc is not None:
                kc.stop_channels()  # nbclient keeps a client of a kernel it does not own
                self.kc = None

    async def async_start_new_kernel_client(self) -> Any:
        """A client for the leased kernel, connected and in the notebook's directory.

        nbclient's own start waits for the kernel (``wait_for_ready``), which ends with
        0.2 s of listening for IOPub to fall silent. The pool has already seen this kernel
        answer; here one silent request both moves it into the notebook's directory and
        proves that this client's IOPub subscription receives (its ``idle`` arrives).
        """
        if self.owns_km:
            return await super().async_start_new_kernel_client()
        assert self.km is not None
        path = (self.resources or {}).get("metadata", {}).get("path")
        code = f"__import__('os').chdir({os.path.abspath(path)!r})" if path else ""
        self.kc = kc = self.km.client()
        kc.start_channels(hb=False)  # liveness comes from the kernel manager (the process)
        try:
            await _connect(kc, code, float(self.startup_timeout))
        except Exception:
            kc.stop_channels()
            self.kc = None
            raise
        kc.allow_stdin = False
        await run_hook(self.on_notebook_start, notebook=self.nb)
        return kc

    # the sync wrapper nbconvert's ExecutePreprocessor calls wraps the base class's coroutine
    start_new_kernel_client = run_sync(async_start_new_kernel_client)


async def _connect(kc: Any, code: str, timeout: float) -> None:
    """Run ``code`` silently; return once it has replied on shell and gone idle on IOPub.

    Seeing the ``idle`` proves this client's IOPub subscription receives (what
    ``wait_for_ready`` checks); if it does not come, the code is sent again (it must be
    idempotent). Raises if the kernel dies, the code fails or ``timeout`` passes.
    """
    deadline = time.monotonic() + timeout
    sent = {kc.execute(code, silent=True, store_history=False)}
    replied = idle = False
    resend_at = check_at = time.monotonic() + 1.0
    while True:
        if not replied:
            with contextlib.suppress(Empty):
                reply = await kc.get_shell_msg(timeout=0.02)
                if reply["parent_header"].get("msg_id") in sent:
                    if reply["content"].get("status") != "ok":
                        raise RuntimeError(f"the kernel could not run {code!r}")
                    replied = True
                    resend_at = time.monotonic() + 0.5
        with contextlib.suppress(Empty):
            msg = await kc.get_iopub_msg(timeout=0.02)
            if (
                msg["parent_header"].get("msg_id") in sent
                and msg["msg_type"] == "status"
                and msg["content"].get("execution_state") == "idle"
            ):
                idle = True
        if replied and idle:
            return
        now = time.monotonic()
        if replied and now > resend_at:  # IOPub was not connected yet: once more
            sent.add(kc.execute(code, silent=True, store_history=False))
            resend_at = now + 0.5
        if now > check_at:
            if not await kc.is_alive():
                raise RuntimeError("the kernel died before it answered")
            check_at = now + 1.0
        if now > deadline:
            raise RuntimeError(f"the kernel did not answer in {timeout:.0f} s")
