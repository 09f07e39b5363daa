"""Benchmark the learning platform against stock Voilà and stock nbgrader, in one run.

Prints figures and ratios; asserts nothing about time.

    .venv/bin/python tests/benchmarks/bench_learning.py [--max-learners 300] [--skip capacity]

1. Navigation to the first enabled control, median of 10, warm browser cache, on loopback
   and under Chrome DevTools Protocol network throttling ("4G": 9 Mbit/s, 40 ms; "3G":
   1.6 Mbit/s, 150 ms): our learn service (through the hub and proxy, its preheated
   pages) vs stock standalone Voilà (lab template) serving the same released notebook,
   and stock Voilà with its own preheated kernels.
2. Capacity: simulated learners with an open module page (a real kernel each) sending
   widget messages over the kernel websocket; p95 time from a widget change to the
   "Sparat" (saved) update, and memory of every process of the platform; vs the memory of
   one stock per-user design (a jupyter-server with Voilà as extension, plus its kernel).
3. Lämna in: 10 learners submitting at once, p95 submit-to-result; sustained grading
   throughput; vs ``nbgrader autograde`` from the command line on the same course.
4. Page weight: bytes transferred and requests of a first visit to a module page (empty
   browser cache) and of a later visit to another module (warm cache), ours vs stock
   Voilà (lab template) serving the same released notebooks; with the kernel websocket's
   messages as sent (``tests/test_page_weight.py``'s ``Traffic``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import psutil
import websockets

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from platform_fixture import CHROMIUM_ARGS, ROOT, Platform, free_port, start_platform  # noqa: E402

from omsorgslyft.authoring import load_module  # noqa: E402
from omsorgslyft.grading.course import Course, fill_answers  # noqa: E402
from omsorgslyft.learn.store import AnswerStore  # noqa: E402

from answers import right_answers  # noqa: E402

MODULE = "kasam"
FAILURES: list[str] = []


def p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20)[18] if len(values) >= 2 else values[0]


def tree_rss_mb(pid: int) -> float:
    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0.0
    total = 0
    for p in procs:
        with contextlib.suppress(psutil.NoSuchProcess):
            total += p.memory_info().rss
    return total / 2**20


# -- 1. first control -------------------------------------------------------------------
#: the first control a learner can use: an enabled input, select or text box in a block
FIRST_CONTROL = ", ".join(
    f".ol-card {tag}:not(:disabled)" for tag in ("input", "select", "textarea")
)
#: records when (ms after navigation start) the first control is shown and usable
WATCH_CONTROL = """
(() => {
  const selector = SELECTOR;
  const seen = () => {
    if (window.__firstControl !== undefined) return;
    for (const el of document.querySelectorAll(selector)) {
      if (el.getClientRects().length && getComputedStyle(el).visibility !== "hidden") {
        window.__firstControl = performance.now();
        return;
      }
    }
  };
  new MutationObserver(seen).observe(document, {subtree: true, childList: true, attributes: true});
})();
""".replace("SELECTOR", json.dumps(FIRST_CONTROL))
#: Chrome DevTools Protocol network conditions (throughput in bytes per second); uploads
#: as Lighthouse's profiles of the same downlink and latency
PROFILES: dict[str, dict[str, float] | None] = {
    "loopback": None,
    "4G (9 Mbit/s, 40 ms)": {"latency": 40, "down": 9e6 / 8, "up": 9e6 / 8},
    "3G (1.6 Mbit/s, 150 ms)": {"latency": 150, "down": 1.6e6 / 8, "up": 750e3 / 8},
}


def _pool_log(platform: Platform) -> tuple[int, set[str]]:
    """How many kernels the learn service has preheated, and which it has handed out."""
    log = platform.log.read_text(errors="replace")
    ready = len(re.findall(rf"Preheated kernel \S+ ready for {MODULE}", log))
    handed = set(re.findall(r"Preheated kernel (\S+) handed out for", log))
    return ready, handed


def _wait_for_pool(platform: Platform, seconds: float = 40) -> None:
    """Until a preheated kernel waits (as between two learners opening the module)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        ready, handed = _pool_log(platform)
        if ready > len(handed):
            return
        time.sleep(0.25)


def _first_control_ms(page: Any, seconds: float = 120) -> float:
    """When the page showed its first control, in ms after navigation start (recorded in
    the page by ``WATCH_CONTROL``; polled from here: the page's policy allows no eval)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with contextlib.suppress(Exception):  # the page may be navigating still
            when = page.evaluate("window.__firstControl")
            if when is not None:
                return float(when)
        time.sleep(0.02)
    raise TimeoutError("no control appeared")


def _stock_voila(release: Path, preheat: bool) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    extra = ["--preheat_kernel=True", "--pool_size=1"] if preheat else []
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "voila",
            str(release),
            "--no-browser",
            f"--port={port}",
            "--Voila.ip=127.0.0.1",
            *extra,
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    for _ in range(240):
        with contextlib.suppress(httpx.HTTPError):
            httpx.get(f"http://127.0.0.1:{port}/voila/static/voila.js", timeout=2)
            break
        time.sleep(0.5)
    return proc, f"http://127.0.0.1:{port}/"


def first_control(platform: Platform, runs: int) -> dict[str, dict[str, list[float]]]:
    """Navigation to the first enabled control, per network profile: our learn service
    (its preheated pages), stock Voilà (lab template) on the same released notebook, and
    stock Voilà with its own preheated kernels. Warm browser cache (a first visit is not
    timed). Between our runs the pool is given time to refill, as between two learners."""
    from playwright.sync_api import sync_playwright

    release = platform.project / "grading" / "release" / MODULE / f"{MODULE}.ipynb"
    stock, stock_url = _stock_voila(release, preheat=False)
    heated, heated_url = _stock_voila(release, preheat=True)
    sites = {
        "Omsorgslyft": f"{platform.url}/services/learn/modul/{MODULE}",
        "stock Voilà": stock_url,
        "stock Voilà preheated": heated_url,
    }
    figures: dict[str, dict[str, list[float]]] = {}
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
            context = browser.new_context()
            context.add_init_script(WATCH_CONTROL)
            page = context.new_page()
            cdp = context.new_cdp_session(page)
            cdp.send("Network.enable")
            largest = {"bytes": 0}  # the largest kernel websocket message, uncompressed

            def frame(event: dict[str, Any]) -> None:
                response = event["response"]
                size = len(response["payloadData"])
                if response.get("opcode") == 2:  # binary frames come base64-encoded
                    size = size * 3 // 4
                largest["bytes"] = max(largest["bytes"], size)

            cdp.on("Network.webSocketFrameReceived", frame)
            biggest: dict[str, int] = {}
            page.goto(f"{platform.url}/hub/login")
            page.fill("#username_input", "anna")
            page.fill("#password_input", "omsorg-demo-2026")
            page.click("#login_submit")
            page.wait_for_selector("text=Mina utbildningar")
            for profile, conditions in PROFILES.items():
                if conditions is None:
                    settings = {"latency": 0, "downloadThroughput": -1, "uploadThroughput": -1}
                else:
                    settings = {
                        "latency": conditions["latency"],
                        "downloadThroughput": conditions["down"],
                        "uploadThroughput": conditions["up"],
                    }
                cdp.send("Network.emulateNetworkConditions", {"offline": False, **settings})
                row = figures[profile] = {}
                pooled = 0
                for site, url in sites.items():
                    ours = site == "Omsorgslyft"
                    times = row[site] = []
                    page.goto(url)  # warm-up: static assets cached as a returning learner has them
                    page.wait_for_selector(FIRST_CONTROL, timeout=120_000)
                    largest["bytes"] = 0
                    for _ in range(runs):
                        if ours:
                            _wait_for_pool(platform)
                        else:
                            time.sleep(4 if "preheated" in site else 1)  # its pool refills
                        page.goto("about:blank")
                        page.goto(url, wait_until="commit", timeout=120_000)
                        times.append(_first_control_ms(page) / 1000)
                        if ours:
                            kernel = page.evaluate(
                                "JSON.parse(document.getElementById('jupyter-config-data')"
                                ".textContent).kernelId"
                            )
                            pooled += kernel in _pool_log(platform)[1]
                    biggest[site] = largest["bytes"]
                ratio = statistics.median(row["stock Voilà"]) / statistics.median(
                    row["Omsorgslyft"]
                )
                print(
                    f"  {profile}: Omsorgslyft {statistics.median(row['Omsorgslyft']):.2f} s "
                    f"({pooled}/{runs} preheated), stock Voilà "
                    f"{statistics.median(row['stock Voilà']):.2f} s (ratio {ratio:.2f}x), "
                    f"stock Voilà preheated {statistics.median(row['stock Voilà preheated']):.2f} s",
                    flush=True,
                )
            down = min(c["down"] for c in PROFILES.values() if c)
            print(
                "  (Chrome's throttling counts kernel websocket messages uncompressed: the "
                "largest, the page's widget states, is "
                + ", ".join(f"{b / 1000:.0f} kB for {site}" for site, b in biggest.items())
                + f"; {biggest['Omsorgslyft'] / down:.2f} s of Omsorgslyft's figure at "
                "1.6 Mbit/s. On the wire permessage-deflate sends a fraction of it: see "
                "the page weight above.)",
                flush=True,
            )
            browser.close()
    finally:
        for proc in (stock, heated):
            proc.terminate()
            proc.wait()
    return figures


# -- 2. capacity -----------------------------------------------------------------------
def msg(
    msg_type: str, content: dict[str, object], metadata: dict[str, object] | None = None
) -> str:
    return json.dumps(
        {
            "header": {
                "msg_id": uuid.uuid4().hex,
                "msg_type": msg_type,
                "username": "",
                "session": "",
                "version": "5.3",
                "date": "",
            },
            "parent_header": {},
            "metadata": metadata or {},
            "content": content,
            "channel": "shell",
            "buffers": [],
        }
    )


class Learner:
    def __init__(self, platform: Platform, name: str) -> None:
        self.platform = platform
        self.name = name
        self.client = platform.login(name)
        page = self.client.get(f"/services/learn/modul/{MODULE}")
        data = re.search(
            r'id="jupyter-config-data" type="application/json">(.*?)</script>', page.text, re.S
        )
        assert data, page.text[:500]
        self.kernel_id = json.loads(data.group(1))["kernelId"]
        self.cookies = "; ".join(f"{c.name}={c.value}" for c in self.client.cookies.jar)
        self.latencies: list[float] = []
        self.errors = 0

    async def connect(self, gate: asyncio.Semaphore) -> None:
        """Open the page's websocket and learn the widget ids, as the page's front end does."""
        url = (
            self.platform.url.replace("http", "ws")
            + f"/services/learn/api/kernels/{self.kernel_id}/channels"
        )
        async with gate:
            self.ws = await websockets.connect(
                url, additional_headers={"Cookie": self.cookies}, max_size=2**24
            )
            control = uuid.uuid4().hex
            await self.ws.send(
                msg(
                    "comm_open",
                    {"comm_id": control, "target_name": "jupyter.widget.control", "data": {}},
                    {"version": "1.0.0"},  # the widget control protocol
                )
            )
            await self.ws.send(
                msg("comm_msg", {"comm_id": control, "data": {"method": "request_states"}})
            )
            states = None
            while states is None:
                reply = json.loads(await asyncio.wait_for(self.ws.recv(), 60))
                data = reply.get("content", {}).get("data", {})
                if reply["msg_type"] == "comm_msg" and data.get("method") == "update_states":
                    states = data["states"]
        self.radio = next(k for k, v in states.items() if v["model_name"] == "RadioButtonsModel")
        self.n_options = len(states[self.radio]["state"]["_options_labels"])
        self.status = next(
            k
            for k, v in states.items()
            if v["model_name"] == "HTMLModel" and "ol-save" in v["state"].get("value", "")
        )
        self.index = states[self.radio]["state"].get("index") or 0

    async def run(self, stop_at: float, think: float) -> None:
        """Click every ``think`` seconds (on average) and time each click to its "Sparat"."""
        ws = self.ws
        await asyncio.sleep(random.random() * think)
        while time.monotonic() < stop_at:
            self.index = (self.index + 1) % self.n_options
            start = time.perf_counter()
            update = {"method": "update", "state": {"index": self.index}, "buffer_paths": []}
            await ws.send(msg("comm_msg", {"comm_id": self.radio, "data": update}))
            try:
                while True:
                    reply = json.loads(await asyncio.wait_for(ws.recv(), 10))
                    content = reply.get("content", {})
                    data = json.dumps(content.get("data", {}), ensure_ascii=False)
                    if reply["msg_type"] == "comm_msg" and content.get("comm_id") == self.status:
                        if "Sparat" in data:
                            self.latencies.append(time.perf_counter() - start)
                            break
                        if "Kunde inte spara" in data:
                            self.errors += 1
                            FAILURES.append(data[:300])
                            break
            except TimeoutError:
                self.errors += 1
                FAILURES.append(f"no reply within 10 s (kernel {self.kernel_id})")
            await asyncio.sleep(think * (0.5 + random.random()))
        await ws.close()


async def measure(learners: list[Learner], seconds: float, think: float) -> tuple[list[float], int]:
    """All learners connect (10 at a time), then the steady state is measured."""
    for learner in learners:
        learner.latencies.clear()
        learner.errors = 0
    gate = asyncio.Semaphore(10)
    await asyncio.gather(*(learner.connect(gate) for learner in learners))
    stop_at = time.monotonic() + seconds
    await asyncio.gather(*(learner.run(stop_at, think) for learner in learners))
    return [x for learner in learners for x in learner.latencies], sum(
        learner.errors for learner in learners
    )


def stock_per_user_mb(platform: Platform) -> float:
    """One learner in a per-user design: a jupyter-server with Voilà, and the page's kernel."""
    release = platform.project / "grading" / "release" / MODULE
    port = free_port()
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "jupyter",
            "server",
            "--no-browser",
            f"--port={port}",
            "--ServerApp.ip=127.0.0.1",
            "--IdentityProvider.token=",
            "--allow-root",
            f"--ServerApp.root_dir={release}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(120):
            try:
                httpx.get(f"http://127.0.0.1:{port}/api", timeout=2)
                break
            except httpx.HTTPError:
                time.sleep(0.5)
        httpx.get(f"http://127.0.0.1:{port}/voila/render/{MODULE}.ipynb", timeout=120)
        time.sleep(2)
        return tree_rss_mb(server.pid)
    finally:
        server.terminate()
        server.wait()


def capacity(
    platform: Platform, steps: list[int], seconds: float, think: float
) -> list[dict[str, float]]:
    rows = []
    learners: list[Learner] = []
    for target in steps:
        needed = target - len(learners)
        started = time.perf_counter()
        with ThreadPoolExecutor(max_workers=4) as pool:
            learners.extend(
                pool.map(lambda i: Learner(platform, f"bench{i:04d}"), range(len(learners), target))
            )
        opened = time.perf_counter() - started
        latencies, errors = asyncio.run(measure(learners, seconds, think))
        mem = tree_rss_mb(platform.pid)
        row = {
            "learners": target,
            "p95_ms": 1000 * p95(latencies),
            "median_ms": 1000 * statistics.median(latencies),
            "saves": len(latencies),
            "timeouts": errors,
            "memory_gb": mem / 1024,
            "open_s_each": opened / max(needed, 1),
        }
        rows.append(row)
        print(
            f"  {target:4d} learners: save p95 {row['p95_ms']:.0f} ms (median {row['median_ms']:.0f} ms, "
            f"{len(latencies)} saves, {errors} timeouts), memory {row['memory_gb']:.2f} GB, "
            f"opening a page {row['open_s_each']:.2f} s",
            flush=True,
        )
        if errors:
            print("  failures, first three:", *FAILURES[:3], sep="\n    ")
        if row["p95_ms"] > 250 or row["memory_gb"] > 20 or errors:
            break
    return rows


# -- 3. submissions ----------------------------------------------------------------------
def submissions(
    platform: Platform, at_once: int, sustained: int, stock_runs: int
) -> dict[str, float]:
    module = load_module(ROOT / "modules" / MODULE)
    store = AnswerStore(f"sqlite:///{platform.learn_db}")
    api = f"http://127.0.0.1:{platform.learn_port}/services/learn/api/page/"
    right = right_answers(module)

    def prepare(name: str) -> str:
        """A learner's page session with this attempt's questions answered right."""
        token = store.open_session(name, MODULE, module.version)
        loaded = httpx.post(api + "load", json={}, headers={"Authorization": f"Bearer {token}"})
        loaded.raise_for_status()
        for key in loaded.json()["attempt"]["questions"]:
            value = right[key]
            r = httpx.post(
                api + "save",
                json={"kind": "svar", "key": key, "value": value},
                headers={"Authorization": f"Bearer {token}"},
            )
            r.raise_for_status()
        return token

    def submit(token: str) -> float:
        """As the page does: submit, and ask again (same attempt, same submission) until graded."""
        start = time.perf_counter()
        while True:
            r = httpx.post(
                api + "submit", json={}, headers={"Authorization": f"Bearer {token}"}, timeout=120
            )
            if r.status_code == 200:
                break
            assert r.status_code == 202, r.text[:300]
            time.sleep(1)
        assert r.json()["result"]["passed"], r.text[:300]
        return time.perf_counter() - start

    def wave(prefix: str, n: int) -> tuple[list[float], float]:
        tokens = [prepare(f"{prefix}{i:03d}") for i in range(n)]
        start = time.perf_counter()
        with ThreadPoolExecutor(max_workers=n) as pool:
            times = list(pool.map(submit, tokens))
        return times, time.perf_counter() - start

    wave("varm", 2)  # warm-up
    burst, _ = wave("samtidigt", at_once)
    _, total = wave("flode", sustained)

    # stock: nbgrader autograde from the command line, on a copy of the same course
    course_dir = Path(tempfile.mkdtemp(prefix="stock-nbgrader-"))
    shutil.copytree(platform.project / "grading", course_dir, dirs_exist_ok=True)
    course = Course(course_dir)
    assignment = f"{MODULE}-v{module.version}-a"  # one variant: what a learner's attempt is
    released = json.loads((course_dir / "release" / assignment / f"{assignment}.ipynb").read_text())
    import nbformat

    asked = released["metadata"]["omsorgslyft"]["questions"]
    filled = fill_answers(nbformat.from_dict(released), {q: right[q] for q in asked})
    cli_times = []
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}:{os.environ['PATH']}")
    for i in range(stock_runs):
        student = f"stock{i:03d}"
        course.submit(assignment, student, filled)
        start = time.perf_counter()
        subprocess.run(
            [
                str(Path(sys.executable).parent / "nbgrader"),
                "autograde",
                assignment,
                "--student",
                student,
                "--force",
            ],
            cwd=course_dir,
            env=env,
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        cli_times.append(time.perf_counter() - start)
    shutil.rmtree(course_dir, ignore_errors=True)
    return {
        "burst_p95": p95(burst),
        "burst_median": statistics.median(burst),
        "burst_max": max(burst),
        "sustained_per_submission": total / sustained,
        "cli_per_submission": statistics.median(cli_times),
    }


# -- 4. page weight ----------------------------------------------------------------------
#: the module of a later visit (the platform has both)
OTHER_MODULE = "hbtqi"


def page_weight(platform: Platform) -> dict[str, dict[str, tuple[int, int, int, int]]]:
    """A first visit (empty cache) to MODULE's page, then a later one to OTHER_MODULE's,
    each (bytes over HTTP, websocket bytes, requests, requests to the network): our learn
    service vs stock Voilà (lab template) serving the same released notebooks."""
    from playwright.sync_api import sync_playwright
    from test_page_weight import Traffic, module_url, open_page

    release = platform.project / "grading" / "release"
    port = free_port()
    stock = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "voila",
            str(release),
            "--no-browser",
            f"--port={port}",
            "--Voila.ip=127.0.0.1",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    stock_url = f"http://127.0.0.1:{port}/voila/render/{{0}}/{{0}}.ipynb"
    figures: dict[str, dict[str, tuple[int, int, int, int]]] = {}
    try:
        for _ in range(240):
            with contextlib.suppress(httpx.HTTPError):
                httpx.get(f"http://127.0.0.1:{port}/voila/static/voila.js", timeout=2)
                break
            time.sleep(0.5)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
            for site in ("Omsorgslyft", "stock Voilà"):
                context = browser.new_context(viewport={"width": 360, "height": 800})
                page = context.new_page()
                if site == "Omsorgslyft":
                    page.goto(f"{platform.url}/hub/login")
                    page.fill("#username_input", "anna")
                    page.fill("#password_input", "omsorg-demo-2026")
                    page.click("#login_submit")
                    page.wait_for_selector("text=Mina utbildningar")
                traffic = Traffic(context, page)
                row = figures[site] = {}
                for visit, module in (("first", MODULE), ("later", OTHER_MODULE)):
                    url = (
                        module_url(platform, module)
                        if site == "Omsorgslyft"
                        else stock_url.format(module)
                    )
                    open_page(page, traffic, url)
                    row[visit] = (
                        traffic.http_bytes,
                        traffic.websocket_bytes,
                        traffic.requests,
                        traffic.fetched,
                    )
                context.close()
            browser.close()
    finally:
        stock.terminate()
        stock.wait()
    return figures


def print_page_weight(figures: dict[str, dict[str, tuple[int, int, int, int]]]) -> None:
    labels = {
        "first": f"first visit ({MODULE}, empty cache)",
        "later": f"later visit ({OTHER_MODULE}, warm cache)",
    }
    print("page weight (bytes transferred; kernel websocket messages as sent):")
    for visit, label in labels.items():
        parts = []
        for site, row in figures.items():
            http, ws, requests, fetched = row[visit]
            parts.append(
                f"{site} {(http + ws) / 1e6:.3f} MB ({http / 1e6:.3f} MB HTTP + "
                f"{ws / 1e3:.0f} kB websocket), {requests} requests ({fetched} from the network)"
            )
        ours, stock = (sum(figures[s][visit][:2]) for s in ("Omsorgslyft", "stock Voilà"))
        print(f"  {label}: " + "; ".join(parts) + f" (ratio {stock / ours:.1f}x)", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--steps", default="25,50,100,150,200,250,300,350,400")
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument(
        "--think", type=float, default=3.0, help="seconds between a learner's clicks"
    )
    parser.add_argument(
        "--skip", action="append", default=[], choices=["widget", "capacity", "submit", "weight"]
    )
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="omsorgslyft-bench-"))
    gen = start_platform(
        tmp,
        [ROOT / "modules" / MODULE, ROOT / "modules" / OTHER_MODULE],
        idle_minutes=60,
        extra_config="\nc.Authenticator.allow_all = True\nc.JupyterHub.concurrent_spawn_limit = 0\n",
    )
    platform = next(gen)
    try:
        print(
            f"machine: {os.cpu_count()} cores, {psutil.virtual_memory().total / 2**30:.0f} GB; module {MODULE}"
        )
        if "weight" not in args.skip:
            print_page_weight(page_weight(platform))
        if "widget" not in args.skip:
            print(
                f"first control (navigation to the first enabled input), median of "
                f"{args.runs}, warm browser cache:",
                flush=True,
            )
            first_control(platform, args.runs)
        if "submit" not in args.skip:
            s = submissions(platform, at_once=10, sustained=30, stock_runs=5)
            print(
                f"Lämna in, 10 at once: p95 {s['burst_p95']:.2f} s (median {s['burst_median']:.2f} s, max {s['burst_max']:.2f} s)\n"
                f"sustained grading: {s['sustained_per_submission']:.2f} s per submission; "
                f"nbgrader autograde CLI: {s['cli_per_submission']:.2f} s per submission "
                f"(ratio {s['cli_per_submission'] / s['sustained_per_submission']:.2f}x)"
            )
        if "capacity" not in args.skip:
            stock_mb = stock_per_user_mb(platform)
            print(
                f"stock per-user design: {stock_mb:.0f} MB per learner -> {20 * 1024 / stock_mb:.0f} learners in 20 GB"
            )
            rows = capacity(
                platform, [int(x) for x in args.steps.split(",")], args.seconds, args.think
            )
            ok = [
                r for r in rows if r["p95_ms"] <= 250 and r["memory_gb"] <= 20 and not r["timeouts"]
            ]
            best = max((r["learners"] for r in ok), default=0)
            per = rows[-1]["memory_gb"] * 1024 / rows[-1]["learners"]
            print(
                f"capacity: {best} learners with save p95 <= 250 ms and memory <= 20 GB "
                f"({per:.0f} MB per learner; stock {stock_mb:.0f} MB, ratio {stock_mb / per:.2f}x)"
            )
    except Exception:
        print(platform.log.read_text(errors="replace")[-6000:])
        raise
    finally:
        with contextlib.suppress(StopIteration):
            next(gen)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
