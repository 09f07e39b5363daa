"""Load: simulated learners on the whole platform (two learn shards, PostgreSQL), step by step.

Prints a table per step; asserts nothing about time.

    .venv/bin/python tests/benchmarks/bench_load.py [--steps 100,200,300,400]
        [--hold 600] [--think 8] [--shards 2] [--module kasam] [--sqlite]

The real hub, proxy and services on loopback (``tests/platform_fixture.py``), a roster of
``max(steps)`` learners, the answer store, submission log and gradebook on one fresh
PostgreSQL database (dropped afterwards). At each step the new learners log in and open
the module page (four at a time, as the hub's login and Voilà's render allow), then every
learner's page websocket is connected and, for ``--hold`` seconds, each learner changes an
answer every ``--think`` seconds on average (a widget message, as the page sends it) and
waits for the page's "Sparat" (the save acknowledged by the answer store); once in its
first step, at a random moment, each learner hands in (Lämna in, then Lämna in ändå) and
waits for the result. Per step: pages opened, save p50 / p95, timeouts, submissions and
their p95, responses of 500 or more, and the memory of every process of the platform (the
hub, proxy, services, kernels and grading workers; PostgreSQL's server is not counted),
and how many cores each part kept busy while the step was held (the learn shards, the
pages' kernels, grading with its kernels, PostgreSQL, these clients themselves).
The 5xx column counts what the clients got and what the platform's log shows (the hub,
the proxy and every service log there: a page's own calls to the learn service too).

The issue's target: no 5xx, p95 save under 250 ms, memory under 20 GB at 300 learners for
10 minutes (``--hold 600``); the per-user design (a jupyter-server with Voilà per
learner) held about 101 learners in 20 GB (``bench_learning.py``'s capacity figures).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import re
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
import websockets

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from databases import pg_database  # noqa: E402
from kernel_socket import kernel_message, page_config, state_request, states_in  # noqa: E402
from platform_fixture import Platform, start_platform  # noqa: E402

RESULT = "Resultat:"
#: a response of 500 or more in the log of the hub, the proxy or a service
LOGGED_5XX = re.compile(r"\b5\d\d (GET|POST|PUT|PATCH|DELETE|HEAD) ")


def logged_5xx(platform: Platform, offset: int) -> tuple[int, int, list[str]]:
    """Responses of 500 or more logged since ``offset``; the new offset; the first few."""
    with platform.log.open("rb") as f:
        f.seek(offset)
        text = f.read().decode("utf-8", "replace")
        end = f.tell()
    lines = [line for line in text.splitlines() if LOGGED_5XX.search(line)]
    return len(lines), end, lines[:3]


def p(values: list[float], q: int) -> float:
    """The ``q``-th percentile (0 for no values)."""
    if not values:
        return 0.0
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100)[q - 1]


def platform_rss_gb(platform: Platform) -> float:
    total = 0
    try:
        root = psutil.Process(platform.pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0.0
    for proc in procs:
        with contextlib.suppress(psutil.Error):
            total += proc.memory_info().rss
    return total / 2**30


#: where the machine's CPU goes, by what a process runs (its command line)
PARTS = (
    ("page kernels", "omsorgslyft.learn.pagekernel"),
    ("learn", "omsorgslyft.learn"),
    ("grading", "omsorgslyft.grading"),
    ("records", "omsorgslyft.records"),
    ("proxy", "configurable-http-proxy"),
    ("hub", "jupyterhub"),
)


def cpu_seconds(platform: Platform) -> dict[str, float]:
    """CPU seconds (user + system, with reaped children: a graded notebook's kernel counts
    for grading) of every process of the platform by part, PostgreSQL's server and this
    benchmark's own clients."""
    out = dict.fromkeys([name for name, _ in PARTS] + ["other", "postgres", "clients"], 0.0)
    procs: list[tuple[str, psutil.Process]] = []
    parts: dict[int, str] = {}

    def part_of(proc: psutil.Process) -> str:
        """By the command line, else the parent's part (a grading pool's worker)."""
        if proc.pid not in parts:
            line = " ".join(proc.cmdline())
            part = next((name for name, marker in PARTS if marker in line), "")
            parent = proc.parent()
            parts[proc.pid] = part or (part_of(parent) if parent is not None else "other")
        return parts[proc.pid]

    with contextlib.suppress(psutil.NoSuchProcess):
        root = psutil.Process(platform.pid)
        for proc in [root, *root.children(recursive=True)]:
            with contextlib.suppress(psutil.Error):
                procs.append((part_of(proc), proc))
    for proc in psutil.process_iter(["name"]):
        if proc.info["name"] == "postgres":
            procs.append(("postgres", proc))
    procs.append(("clients", psutil.Process()))
    for part, proc in procs:
        with contextlib.suppress(psutil.Error):
            t = proc.cpu_times()
            out[part] += t.user + t.system + t.children_user + t.children_system
    return out


def cores_used(before: dict[str, float], after: dict[str, float], seconds: float) -> str:
    """``learn 0.92, page kernels 0.41, …``: cores each part kept busy, the busiest first."""
    used = {k: max(0.0, after[k] - before.get(k, 0.0)) / seconds for k in after}
    return ", ".join(
        f"{k} {v:.2f}" for k, v in sorted(used.items(), key=lambda kv: -kv[1]) if v >= 0.01
    )


def msg(msg_type: str, content: dict[str, Any], metadata: dict[str, Any] | None = None) -> str:
    return kernel_message(msg_type, content, metadata)[1]


@dataclass
class Step:
    """What one step saw."""

    saves: list[float] = field(default_factory=list)
    submits: list[float] = field(default_factory=list)
    timeouts: int = 0
    save_errors: int = 0
    server_errors: int = 0  # HTTP 5xx, and websockets refused with one
    failures: list[str] = field(default_factory=list)


class Learner:
    """One person: logged in, their module page open (a kernel in their shard)."""

    def __init__(self, platform: Platform, name: str, module: str) -> None:
        self.name = name
        started = time.perf_counter()
        self.client = platform.login(name)
        page = self.client.get(f"/services/learn/modul/{module}")
        self.status = page.status_code
        self.open_s = time.perf_counter() - started
        config = page_config(page.text)
        if page.status_code != 200 or config is None:
            raise RuntimeError(f"{name}: page {page.status_code}")
        self.kernel_id = config["kernelId"]
        base = str(page.url).split("/voila/", 1)[0]  # /services/learn/ or /services/learn-1/
        self.socket_url = base.replace("http", "ws", 1) + f"/api/kernels/{self.kernel_id}/channels"
        self.shard = 1 if "/services/learn-" in base else 0
        self.cookies = "; ".join(f"{c.name}={c.value}" for c in self.client.cookies.jar)
        self.submitted = False
        self.index: dict[str, int] = {}

    async def connect(self, gate: asyncio.Semaphore) -> None:
        async with gate:
            self.ws = await websockets.connect(
                self.socket_url, additional_headers={"Cookie": self.cookies}, max_size=2**24
            )
            for text in state_request():
                await self.ws.send(text)
            states = None
            while states is None:
                states = states_in(json.loads(await asyncio.wait_for(self.ws.recv(), 120)))
        # a handed-in attempt's questions stay disabled on the page
        self.radios = [
            k
            for k, v in states.items()
            if v["model_name"] == "RadioButtonsModel" and not v["state"].get("disabled", False)
        ]
        self.options = {k: len(states[k]["state"]["_options_labels"]) for k in self.radios}
        self.index = {k: states[k]["state"].get("index") or 0 for k in self.radios}
        self.save_status = next(
            k
            for k, v in states.items()
            if v["model_name"] == "HTMLModel" and "ol-save" in v["state"].get("value", "")
        )
        buttons = {
            v["state"].get("description"): k
            for k, v in states.items()
            if v["model_name"] == "ButtonModel"
        }
        self.submit_button = buttons.get("Lämna in")
        self.go_on = buttons.get("Lämna in ändå")

    async def _until(self, wanted: Any, seconds: float) -> str:
        """Read the socket until ``wanted(reply, text)`` says which outcome it is."""
        deadline = time.monotonic() + seconds
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError
            reply = json.loads(await asyncio.wait_for(self.ws.recv(), left))
            content = reply.get("content", {})
            text = json.dumps(content.get("data", {}), ensure_ascii=False)
            outcome = wanted(reply, content, text)
            if outcome:
                return str(outcome)

    async def save(self, step: Step, radio: str | None = None) -> None:
        """Change one answer (another option than the one chosen) and wait for "Sparat"."""
        if not self.radios:
            return
        radio = radio or random.choice(self.radios)
        self.index[radio] = (self.index[radio] + 1) % self.options[radio]
        update = {"method": "update", "state": {"index": self.index[radio]}, "buffer_paths": []}
        start = time.perf_counter()
        await self.ws.send(msg("comm_msg", {"comm_id": radio, "data": update}))

        def saved(reply: dict[str, Any], content: dict[str, Any], text: str) -> str:
            if reply["msg_type"] == "comm_msg" and content.get("comm_id") == self.save_status:
                if "Sparat" in text:
                    return "ok"
                if "Kunde inte spara" in text:
                    return "error"
            return ""

        try:
            outcome = await self._until(saved, 10)
        except TimeoutError:
            step.timeouts += 1
            step.failures.append(f"{self.name}: no 'Sparat' within 10 s")
            return
        if outcome == "ok":
            step.saves.append(time.perf_counter() - start)
        else:
            step.save_errors += 1

    async def submit(self, step: Step) -> None:
        if self.submit_button is None:
            return
        self.submitted = True
        for radio in self.radios:  # as a person: every question answered, then Lämna in
            await self.save(step, radio)
        click = {"method": "custom", "content": {"event": "click"}}
        start = time.perf_counter()
        await self.ws.send(msg("comm_msg", {"comm_id": self.submit_button, "data": click}))

        def answered(reply: dict[str, Any], content: dict[str, Any], text: str) -> str:
            if RESULT in text:
                return "result"
            if "Lämna in ändå?" in text:
                return "confirm"
            if "inte svarat på någon fråga" in text:
                return "nothing answered"
            if "Försök igen" in text or "tar lite längre tid" in text:
                return "late: " + re.sub(r"<[^>]+>", "", text)[:200]
            return ""

        try:
            outcome = await self._until(answered, 60)
            if outcome == "confirm" and self.go_on is not None:
                await self.ws.send(msg("comm_msg", {"comm_id": self.go_on, "data": click}))
                outcome = await self._until(answered, 60)
        except TimeoutError:
            step.timeouts += 1
            step.failures.append(f"{self.name}: no result within 60 s")
            return
        if outcome == "result":
            step.submits.append(time.perf_counter() - start)
        else:
            step.failures.append(f"{self.name}: submission {outcome}")
        # a handed-in attempt's questions are disabled: go on changing the others
        self.radios = [k for k, enabled in (await self._radios()).items() if enabled]

    async def _radios(self) -> dict[str, bool]:
        """Every radio group's model id, and whether it is enabled now."""
        for text in state_request():
            await self.ws.send(text)

        def states(reply: dict[str, Any], content: dict[str, Any], text: str) -> str:
            found = states_in(reply)
            return json.dumps(found) if found is not None else ""

        found = json.loads(await self._until(states, 60))
        return {
            k: not v["state"].get("disabled", False)
            for k, v in found.items()
            if v["model_name"] == "RadioButtonsModel"
        }

    async def run(self, stop_at: float, think: float, step: Step, submit_at: float) -> None:
        await asyncio.sleep(random.random() * think)
        while time.monotonic() < stop_at:
            if not self.submitted and time.monotonic() >= submit_at:
                await self.submit(step)
            else:
                await self.save(step)
            await asyncio.sleep(think * (0.5 + random.random()))
        await self.ws.close()


async def hold(learners: list[Learner], seconds: float, think: float, step: Step) -> None:
    gate = asyncio.Semaphore(10)

    async def connect(learner: Learner) -> bool:
        try:
            await learner.connect(gate)
            return True
        except Exception as exc:  # a refused websocket (5xx) or a page that went away
            if " 5" in str(exc) or "50" in str(exc):
                step.server_errors += 1
            step.failures.append(f"{learner.name}: websocket {exc!r}"[:300])
            return False

    ok = await asyncio.gather(*(connect(learner) for learner in learners))
    live = [learner for learner, good in zip(learners, ok, strict=True) if good]
    stop_at = time.monotonic() + seconds
    now = time.monotonic()
    await asyncio.gather(
        *(
            learner.run(stop_at, think, step, now + random.random() * seconds * 0.8)
            for learner in live
        )
    )


def roster(path: Path, n: int) -> Path:
    units = ["Hemtjänst Norr", "Hemtjänst Söder", "Särskilt boende Björkbacken"]
    lines = [
        "anställningsnummer;förnamn;efternamn;e-post;enhet;befattning;anställd från;"
        "anställd till;användarnamn"
    ]
    for i in range(n):
        lines.append(
            f"{9000 + i};Last;Test{i};last{i:04d}@omsorg.example.se;{units[i % 3]};"
            f"Undersköterska;2024-01-01;;last{i:04d}"
        )
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--steps", default="100,200,300,400")
    parser.add_argument("--hold", type=float, default=120, help="seconds per step (600: 10 min)")
    parser.add_argument(
        "--long-step", type=int, default=300, help="the step held for --long-hold seconds"
    )
    parser.add_argument("--long-hold", type=float, default=600)
    parser.add_argument(
        "--min-free-gb",
        type=float,
        default=3.0,
        help="open no more pages once the machine has less memory available than this",
    )
    parser.add_argument(
        "--think", type=float, default=8, help="seconds between a learner's changes"
    )
    parser.add_argument("--shards", type=int, default=2)
    parser.add_argument("--module", default="kasam")
    parser.add_argument("--sqlite", action="store_true", help="SQLite instead of PostgreSQL")
    parser.add_argument(
        "--sqlite-gradebook", action="store_true", help="nbgrader's gradebook on SQLite"
    )
    args = parser.parse_args()
    steps = sorted(int(x) for x in args.steps.split(","))
    print(
        f"load: {os.cpu_count()} cores, {psutil.virtual_memory().total / 2**30:.0f} GB, "
        f"load average {os.getloadavg()[0]:.1f}; {args.shards} learn shard(s), "
        f"{'SQLite' if args.sqlite else 'PostgreSQL'}; module {args.module}; steps {steps}, "
        f"{args.hold:.0f} s each, a change every {args.think:.0f} s per learner",
        flush=True,
    )
    tmp = Path(tempfile.mkdtemp(prefix="omsorgslyft-load-"))
    urls = iter([""]) if args.sqlite else pg_database()
    url = next(urls)
    settings = "login_max_address_failures=0"
    if url:
        settings += f", store_url={url!r}, submissions_url={url!r}"
    rows = []
    try:
        for platform in start_platform(
            tmp,
            [ROOT / "modules" / args.module],
            idle_minutes=120,
            roster=roster(tmp / "roster.csv", max(steps)),
            learn_shards=args.shards,
            settings=settings,
            gradebook_url="" if args.sqlite_gradebook else url,
        ):
            learners: list[Learner] = []
            offset = platform.log.stat().st_size
            for target in steps:
                step = Step()
                started = time.perf_counter()
                opened: list[float] = []

                def open_one(
                    i: int, platform: Platform = platform, step: Step = step
                ) -> Learner | None:
                    if psutil.virtual_memory().available < args.min_free_gb * 2**30:
                        step.failures.append(f"last{i:04d}: not opened, memory is short")
                        return None
                    try:
                        return Learner(platform, f"last{i:04d}", args.module)
                    except Exception as exc:
                        if re.search(r"\b5\d\d\b", str(exc)):
                            step.server_errors += 1
                        step.failures.append(f"last{i:04d}: {exc!r}"[:300])
                        return None

                with ThreadPoolExecutor(max_workers=4) as pool:
                    for learner in pool.map(open_one, range(len(learners), target)):
                        if learner is not None:
                            learners.append(learner)
                            opened.append(learner.open_s)
                open_s = time.perf_counter() - started
                seconds = args.long_hold if target == args.long_step else args.hold
                cpu_before, held_from = cpu_seconds(platform), time.perf_counter()
                asyncio.run(hold(learners, seconds, args.think, step))
                cpu = cores_used(cpu_before, cpu_seconds(platform), time.perf_counter() - held_from)
                logged, offset, examples = logged_5xx(platform, offset)
                step.server_errors += logged
                step.failures[:0] = examples
                row = {
                    "learners": len(learners),
                    "held": seconds,
                    "open_p95": p(opened, 95),
                    "open_all": open_s,
                    "saves": len(step.saves),
                    "p50": 1000 * p(step.saves, 50),
                    "p95": 1000 * p(step.saves, 95),
                    "timeouts": step.timeouts + step.save_errors,
                    "submits": len(step.submits),
                    "submit_p95": p(step.submits, 95),
                    "5xx": step.server_errors,
                    "gb": platform_rss_gb(platform),
                    "load": os.getloadavg()[0],
                }
                rows.append(row)
                print(
                    f"  {row['learners']:4d} learners: save p50 {row['p50']:.0f} ms, p95 "
                    f"{row['p95']:.0f} ms ({row['saves']} saves, {row['timeouts']} timeouts or "
                    f"errors); {row['submits']} submissions, p95 {row['submit_p95']:.1f} s; "
                    f"5xx {row['5xx']}; memory {row['gb']:.2f} GB; opening {len(opened)} "
                    f"pages took {open_s:.0f} s (p95 {row['open_p95']:.1f} s each); load {row['load']:.1f}",
                    flush=True,
                )
                print(f"    cores used while held: {cpu}", flush=True)
                for failure in step.failures[:3]:
                    print(f"    {failure}")
                if psutil.virtual_memory().available < 2 * 2**30:
                    print("  stopped: less than 2 GB of memory left on the machine")
                    break
    finally:
        with contextlib.suppress(StopIteration):
            next(urls)  # drops the database
    print()
    print(
        "learners  held s  save p50 ms  save p95 ms  saves  timeouts  submissions  submit p95 s  5xx  "
        "memory GB  p95 < 250 ms  < 20 GB"
    )
    for r in rows:
        print(
            f"{r['learners']:8d}  {r['held']:6.0f}  {r['p50']:11.0f}  {r['p95']:11.0f}  {r['saves']:5d}  "
            f"{r['timeouts']:8d}  {r['submits']:11d}  {r['submit_p95']:12.1f}  {r['5xx']:3d}  "
            f"{r['gb']:9.2f}  {'yes' if r['p95'] < 250 else 'NO':>12}  "
            f"{'yes' if r['gb'] < 20 else 'NO':>7}"
        )
    print("(per-user design, measured earlier: about 101 learners in 20 GB)")


if __name__ == "__main__":
    main()
