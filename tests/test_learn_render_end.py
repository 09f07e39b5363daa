"""A module page whose kernel is stopped while the page is still rendering ends its
response at once, with a note in Swedish: ``omsorgslyft.learn.kernels.until_gone`` on its
own, then the real platform.

On the platform the kernel is frozen (SIGSTOP) where the test wants it, so the page cannot finish first:
while it is still starting (Voilà's render then died in nbclient's ``wait_for_ready`` and
its handler sent heartbeats forever), or in the middle of the notebook (nbclient then
spent a second per cell left, and the page got error cells). The learner then opens more
pages, and the three-kernel limit stops the frozen one, the oldest.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import AsyncGenerator, Callable
from typing import Any

import httpx
import psutil
import pytest
from platform_fixture import Platform
from test_learn_limits import MODULE, learn_process

from omsorgslyft.learn.kernels import LearnerKernels, PageWatch, Starting, until_gone

#: seconds for anything of a page (its kernel's start, a page load) before the test fails
DEADLINE = 90.0
#: seconds a page may take to end once its kernel is gone
PROMPTLY = 10.0


# -- until_gone, with a kernel manager of its own -----------------------------------------


class Process:
    alive = True

    async def is_alive(self) -> bool:
        return self.alive


class Kernels(LearnerKernels):
    """The learner bookkeeping of the real manager, with one make-believe kernel."""

    log = logging.getLogger("test")

    def __init__(self) -> None:
        super().__init__()
        self.process = Process()
        self.owners.add("k", Starting("anna", "token"))

    def __contains__(self, kernel_id: object) -> bool:
        return self.owners.owner(str(kernel_id)) is not None

    def get_kernel(self, kernel_id: str) -> Process:
        return self.process

    def remove_kernel_of_test(self) -> None:
        """What the real manager's ``remove_kernel`` does after a shutdown."""
        self._forget("k")


async def rendering(closed: list[str], *, end: bool = False) -> AsyncGenerator[str, None]:
    """Like Voilà's page once its render task has died: a heartbeat now and then, for
    ever (or, ``end``: a whole page)."""
    try:
        yield "<html>"
        for _ in range(3 if end else 10**6):
            await asyncio.sleep(0.05)
            yield "<script>window.voila_heartbeat()</script>"
        yield "</html>"
    finally:
        closed.append("closed")


async def read(pages: AsyncGenerator[str, None], watch: PageWatch) -> list[str | None]:
    return [html async for html in until_gone(pages, watch, check=0.1)]


def watched() -> tuple[Kernels, PageWatch]:
    kernels, watch = Kernels(), PageWatch()
    watch.attach(kernels, "k", started=True)
    return kernels, watch


def test_a_page_ends_when_its_kernel_is_stopped_for_a_newer_page() -> None:
    async def main() -> tuple[list[str | None], float]:
        kernels, watch = watched()
        closed: list[str] = []
        asyncio.get_running_loop().call_later(0.3, kernels.remove_kernel_of_test)
        started = time.monotonic()
        out = await asyncio.wait_for(read(rendering(closed), watch), 5)
        assert closed == ["closed"]  # the rendering was stopped too
        return out, time.monotonic() - started

    out, took = asyncio.run(main())
    assert out[-1] is None and None not in out[:-1]
    assert "".join(str(html) for html in out[:-1]).startswith("<html>")
    assert took < 1


def test_a_page_ends_when_its_kernel_process_has_ended() -> None:
    async def main() -> list[str | None]:
        kernels, watch = watched()
        asyncio.get_running_loop().call_later(0.3, setattr, kernels.process, "alive", False)
        return await asyncio.wait_for(read(rendering([]), watch), 5)

    assert asyncio.run(main())[-1] is None


def test_a_whole_page_is_passed_on_and_errors_are_raised() -> None:
    async def whole() -> list[str | None]:
        return await read(rendering([], end=True), watched()[1])

    out = asyncio.run(whole())
    assert None not in out and "".join(str(s) for s in out).endswith("</html>")

    async def broken(alive: bool) -> list[str | None]:
        kernels, watch = watched()
        kernels.process.alive = alive

        async def pages() -> AsyncGenerator[str, None]:
            yield "<html>"
            raise RuntimeError("Kernel died before replying to kernel_info")

        return await read(pages(), watch)

    with pytest.raises(RuntimeError):
        asyncio.run(broken(alive=True))  # not the kernel: the error is the page's
    assert asyncio.run(broken(alive=False))[-1] is None  # the kernel is gone: the page ends


def test_a_rendering_cancelled_under_the_page_ends_it() -> None:
    async def main() -> list[str | None]:
        render: asyncio.Future[Any] = asyncio.get_running_loop().create_future()

        async def pages() -> AsyncGenerator[str, None]:
            yield "<html>"
            await render  # a preheated page waits for its rendering task

        asyncio.get_running_loop().call_later(0.2, render.cancel)
        return await asyncio.wait_for(read(pages(), watched()[1]), 5)

    assert asyncio.run(main()) == ["<html>", None]


# -- the real platform -------------------------------------------------------------------


def page_kernel(service: int, marker: str) -> psutil.Process | None:
    """The kernel the service started for the request whose query holds ``marker``."""
    for proc in psutil.process_iter(["ppid"]):
        if proc.info["ppid"] != service:
            continue
        try:
            if marker in proc.environ().get("QUERY_STRING", ""):
                return proc
        except psutil.Error:
            continue
    return None


def running(proc: psutil.Process) -> bool:
    try:
        return bool(proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE)
    except psutil.Error:
        return False


async def until(what: str, done: Callable[[], bool], seconds: float = DEADLINE) -> None:
    """Wait until ``done()`` is true (polled), or fail saying ``what`` did not happen."""
    deadline = time.monotonic() + seconds
    while not done():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not happen within {seconds:.0f} s")
        await asyncio.sleep(0.02)


@pytest.mark.slow
@pytest.mark.parametrize("when", ["starting", "in the notebook"])
def test_a_page_whose_kernel_is_stopped_while_it_renders_ends(
    platform: Platform, when: str
) -> None:
    client = platform.login("bengt")
    service = learn_process(platform).pid
    render = client.get(MODULE, follow_redirects=False).headers["location"]
    marker = uuid.uuid4().hex
    # a query: never a preheated page (the page starts its own kernel); the marker is in
    # the kernel's environment (QUERY_STRING), which tells its process from others'
    url = f"{render}?theme=light&probe={marker}"
    cookies = {c.name: c.value or "" for c in client.cookies.jar}
    received: list[str] = []
    status: list[int] = []

    async def main() -> tuple[float, float]:
        async with httpx.AsyncClient(
            base_url=platform.url, cookies=cookies, follow_redirects=True, timeout=60
        ) as http:

            async def fetch() -> None:
                async with http.stream("GET", url) as reply:
                    status.append(reply.status_code)
                    async for text in reply.aiter_text():
                        received.append(text)

            page = asyncio.create_task(fetch())
            kernel: psutil.Process | None = None
            try:
                await until(
                    "the page's kernel start",
                    lambda: page.done() or page_kernel(service, marker) is not None,
                )
                kernel = page_kernel(service, marker)
                assert kernel is not None, (status, "".join(received)[-500:])
                if when == "in the notebook":
                    # the page has its kernel's id once the kernel is ready: cells run
                    await until("the page's kernel id", lambda: "kernelId" in "".join(received))
                kernel.suspend()
                await asyncio.sleep(0.5)
                assert not page.done(), "the page ended before its kernel was stopped"
                assert "</html>" not in "".join(received)  # still rendering
                # the learner opens more pages: the limit stops the oldest, the frozen one
                opened = 0
                while running(kernel) and opened < 3:
                    more = await asyncio.wait_for(http.get(MODULE), DEADLINE)
                    assert more.status_code == 200, more.text[-300:]
                    opened += 1
                await until("the stop of the page's kernel", lambda: not running(kernel))
                gone = time.monotonic()
                try:
                    await asyncio.wait_for(asyncio.shield(page), PROMPTLY)
                except TimeoutError:
                    tail = "".join(received)[-300:]
                    raise AssertionError(
                        f"the page was still open {PROMPTLY:.0f} s after its kernel stopped; "
                        f"it had sent {len(''.join(received))} characters, ending {tail!r}"
                    ) from None
                return gone, time.monotonic() - gone
            finally:
                if kernel is not None and running(kernel):
                    kernel.resume()
                page.cancel()

    _, took = asyncio.run(main())
    body = "".join(received)
    assert status == [200]
    assert 'id="ol-closed"' in body, body[-500:]
    assert "Sidan stängdes innan den hann laddas klart" in body
    assert body.rstrip().endswith("</html>")
    assert "An exception occurred at the server" not in body  # Voilà's error cells
    assert took < PROMPTLY
