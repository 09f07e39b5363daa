"""Benchmark autograding one submission: ``nbgrader autograde`` vs ``Course.autograde``.

Prints figures and ratios; asserts nothing about time. One run, on the real modules, built
with ``omsorgslyft build`` into a temporary course directory.

    .venv/bin/python tests/benchmarks/bench_grading.py [--module kasam] [--cli 6]
        [--sequential 12] [--sustained 40] [--at-once 10] [--prestart 5]

1. ``nbgrader autograde <assignment> --student <id> --force`` from the command line, one
   submission after another (the stock way; a new process and a new kernel each).
2. In this process: ``NbGraderAPI.autograde`` as ``Course.autograde`` did before the pool
   ("before"), ``Course(prestart=0)`` and ``Course(prestart=N)``, one after another.
3. Two worker processes, each with its own ``Course(prestart=N)`` (as the grading service
   runs them): ``--at-once`` submissions handed in together (p50/p95 from handing in to
   the result), then ``--sustained`` submissions (throughput, also over the second half).
4. The same 10 at once through the real :class:`~omsorgslyft.grading.grader.Grader`
   (``accept()``, then its listener), with whatever kernel pool it passes to ``Course``.

With ``--queue amqp://guest:guest@127.0.0.1:5672//`` only the shared queue is measured
against the in-process pool: ``--at-once`` submissions handed in together, graded by the
in-process Grader (2 workers, SQLite), then by 1 and by 2 queue workers
(``omsorgslyft.grading.worker`` processes; the log and the gradebook on PostgreSQL, a
fresh database each, dropped after; ``OMSORGSLYFT_TEST_PG`` as for the tests).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import inspect
import multiprocessing
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(HERE.parent))
os.environ["OMSORGSLYFT_GRADING"] = "1"  # as the grading workers run, inherited by kernels

import nbformat  # noqa: E402

from omsorgslyft.authoring.discover import load_modules  # noqa: E402
from omsorgslyft.grading.course import Course, fill_answers  # noqa: E402
from omsorgslyft.model import Module  # noqa: E402

from answers import right_answers  # noqa: E402

BIN = Path(sys.executable).parent


def p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20)[18] if len(values) >= 2 else values[0]


def build(tmp: Path) -> Path:
    grading = tmp / "grading"
    subprocess.run(
        [str(BIN / "omsorgslyft"), "--root", str(ROOT), "build", "--grading", str(grading)],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    # the same settings for the command line as Course gives nbgrader in-process
    (grading / "nbgrader_config.py").write_text(
        "c = get_config()  # noqa\n"
        "c.CourseDirectory.course_id = 'omsorgslyft'\n"
        "c.Execute.timeout = 120\n",
        encoding="utf-8",
    )
    return grading


def module_of(module_id: str) -> Module:
    modules, problems = load_modules([ROOT / "modules"], ROOT)
    assert not problems, problems
    return next(m for m in modules if m.id == module_id)


def assignment_of(grading: Path, module_id: str) -> str:
    """The first nbgrader assignment of the module (``kasam-v1-a``; once just ``kasam``)."""
    names = sorted(p.name for p in (grading / "source").iterdir() if p.name.startswith(module_id))
    assert names, f"no assignment of {module_id} in {grading / 'source'}"
    return names[0]


def filled(grading: Path, assignment: str, module: Module) -> nbformat.NotebookNode:
    release = grading / "release" / assignment / f"{assignment}.ipynb"
    return fill_answers(nbformat.read(release, as_version=4), right_answers(module))


# -- 1. the command line -----------------------------------------------------------------
def cli(grading: Path, assignment: str, notebook: Any, n: int) -> list[float]:
    course = Course(grading)
    env = dict(os.environ, PATH=f"{BIN}{os.pathsep}{os.environ['PATH']}")
    times = []
    for i in range(n):
        student = f"cli{i:03d}"
        course.submit(assignment, student, notebook)
        start = time.perf_counter()
        subprocess.run(
            [str(BIN / "nbgrader"), "autograde", assignment, "--student", student, "--force"],
            cwd=grading,
            env=env,
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        times.append(time.perf_counter() - start)
    return times


# -- 2. in this process, one after another -------------------------------------------------
def wait_full(course: Course, seconds: float = 120) -> None:
    if course.kernels is None:
        return
    deadline = time.monotonic() + seconds
    while len(course.kernels.ready_pids()) < course.kernels.size:
        assert time.monotonic() < deadline, "the kernel pool did not fill"
        time.sleep(0.1)


def sequential(
    grading: Path, assignment: str, notebook: Any, n: int, prestart: int, how: str
) -> list[float]:
    course = Course(grading, prestart=prestart)
    try:
        wait_full(course)
        times = []
        for i in range(n):
            student = f"{how}{i:03d}"
            course.submit(assignment, student, notebook)
            start = time.perf_counter()
            if how == "before":  # what Course.autograde did before the pool
                result = course.api.autograde(assignment, student, force=True, create=True)
                assert result["success"], result.get("error")
                course.grade(assignment, student)
            else:
                assert course.autograde(assignment, student).score > 0
            times.append(time.perf_counter() - start)
        return times
    finally:
        course.close()


# -- 3. two worker processes ---------------------------------------------------------------
_COURSE: Course | None = None


def _worker_start(grading: str, prestart: int) -> None:
    global _COURSE
    os.environ["OMSORGSLYFT_GRADING"] = "1"
    _COURSE = Course(Path(grading), prestart=prestart)


def _worker_wait(_: int = 0) -> int:
    assert _COURSE is not None
    wait_full(_COURSE)
    return os.getpid()


def _worker_grade(assignment: str, student: str) -> float:
    assert _COURSE is not None
    assert _COURSE.autograde(assignment, student).score > 0
    return time.perf_counter()


def _worker_close(_: int = 0) -> None:
    if _COURSE is not None:
        _COURSE.close()


def workers(
    grading: Path, assignment: str, notebook: Any, prestart: int, at_once: int, sustained: int
) -> dict[str, Any]:
    course = Course(grading)
    pool = ProcessPoolExecutor(
        max_workers=2,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=_worker_start,
        initargs=(str(grading), prestart),
    )

    def settle() -> None:
        # both workers started and their pools full (each worker waits once per call)
        pids = set()
        while len(pids) < 2:
            pids |= set(pool.map(_worker_wait, range(2), chunksize=1))
        time.sleep(1.0)

    def wave(prefix: str, n: int) -> tuple[list[float], list[float], float]:
        students = [f"{prefix}{i:03d}" for i in range(n)]
        for s in students:
            course.submit(assignment, s, notebook)
        start = time.perf_counter()
        futures = [pool.submit(_worker_grade, assignment, s) for s in students]
        done = sorted(f.result() for f in futures)
        return [d - start for d in done], done, start

    try:
        settle()
        wave("varm", 2)
        settle()
        burst, _, _ = wave("samtidigt", at_once)
        settle()
        latencies, done, start = wave("flode", sustained)
        half = len(done) // 2
        return {
            "burst": burst,
            "sustained_rate": sustained / (done[-1] - start),
            "steady_rate": (len(done) - half) / (done[-1] - done[half - 1]),
            "sustained_p95": p95(latencies),
        }
    finally:
        list(pool.map(_worker_close, range(2), chunksize=1))
        pool.shutdown()


# -- 4. through the Grader ------------------------------------------------------------------
def through_grader(
    grading: Path, assignment: str, module: Module, prestart: int, at_once: int
) -> tuple[list[float], str]:
    from omsorgslyft.grading.grader import Grader

    db = grading.parent / "submissions.db"
    accepts = inspect.signature(Grader).parameters
    kwargs: dict[str, Any] = {"workers": 2}
    note = "Grader passes no prestart (not wired yet): kernels started per autograde"
    if "prestart" in accepts:
        kwargs["prestart"] = prestart
        note = f"Grader(prestart={prestart})"
    asked = set(
        nbformat.read(
            grading / "release" / assignment / f"{assignment}.ipynb", as_version=4
        ).metadata["omsorgslyft"]["questions"]
    )
    answers = {k: v for k, v in right_answers(module).items() if k in asked}
    letter = assignment.rsplit("-", 1)[-1] if assignment != module.id else ""

    async def run() -> list[float]:
        grader = Grader(grading, ROOT / "modules", f"sqlite:///{db}", **kwargs)
        try:
            await grader.start()
            await asyncio.sleep(3 + prestart)  # the workers' pools fill
            finished: dict[str, float] = {}
            everyone = asyncio.Event()
            names: set[str] = set()

            def listener(sub: Any) -> None:
                if sub.id in names:
                    finished[sub.id] = time.perf_counter()
                    assert sub.status == "klar", sub.result
                    if len(finished) == len(names):
                        everyone.set()

            grader.listeners.append(listener)
            started: dict[str, float] = {}
            for i in range(at_once):
                sid = uuid.uuid4().hex
                names.add(sid)
                started[sid] = time.perf_counter()
                grader.accept(sid, f"grader{i:03d}", module.id, module.version, answers, letter)
            await asyncio.wait_for(everyone.wait(), timeout=300)
            return [finished[s] - started[s] for s in names]
        finally:
            grader.shutdown()

    return asyncio.run(run()), note


def through_queue(
    grading: Path, module: Module, broker: str, n_workers: int, prestart: int, at_once: int
) -> tuple[list[float], float]:
    """``at_once`` submissions at once to ``n_workers`` queue workers: the times from handing
    in to the grade, and the seconds until the last grade."""
    from databases import pg_database

    from omsorgslyft.grading.build import build_modules
    from omsorgslyft.grading.taskqueue import QueueGrader, make_celery

    queue = f"omsorgslyft-bench-{uuid.uuid4().hex[:8]}"
    logs, books = pg_database(), pg_database()
    log_url, book_url = next(logs), next(books)
    project = grading.parent / "queue-project"
    shutil.rmtree(project, ignore_errors=True)
    shutil.copytree(ROOT / "modules" / module.id, project / "modules" / module.id)
    build_modules([project / "modules"], project, project / "grading", gradebook_url=book_url)
    procs: list[subprocess.Popen[bytes]] = []
    letter = "a"
    asked = set(
        nbformat.read(
            next((project / "grading" / "release").glob(f"{module.id}*-a/*.ipynb")), as_version=4
        ).metadata["omsorgslyft"]["questions"]
    )
    answers = {k: v for k, v in right_answers(module).items() if k in asked}
    try:
        for i in range(n_workers):
            procs.append(
                subprocess.Popen(
                    [
                        sys.executable,
                        "-m",
                        "omsorgslyft.grading.worker",
                        f"--queue={broker}",
                        f"--queue-name={queue}",
                        f"--course-dir={project / 'grading'}",
                        f"--modules-dir={project / 'modules'}",
                        f"--db-url={log_url}",
                        f"--gradebook-url={book_url}",
                        f"--prestart={prestart}",
                        f"--name=bench{i}@localhost",
                    ],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            )

        async def run() -> tuple[list[float], float]:
            grader = QueueGrader(
                project / "grading", project / "modules", log_url, broker, queue=queue, poll=0.05
            )
            try:
                await grader.start()
                # the workers start and their pools fill: one warm-up submission each
                warm = [f"warm{i}" for i in range(n_workers)]
                for i, sid in enumerate(warm):
                    grader.accept(sid, f"warm{i:03d}", module.id, module.version, answers, letter)
                while any(grader.log.get(s).status == "mottagen" for s in warm):  # type: ignore[union-attr]
                    await asyncio.sleep(0.2)
                await asyncio.sleep(3 + prestart)
                finished: dict[str, float] = {}

                def listener(sub: Any) -> None:
                    finished.setdefault(sub.id, time.perf_counter())

                grader.listeners.append(listener)
                started: dict[str, float] = {}
                began = time.perf_counter()
                for i in range(at_once):
                    sid = uuid.uuid4().hex
                    started[sid] = time.perf_counter()
                    grader.accept(sid, f"queue{i:03d}", module.id, module.version, answers, letter)
                while not set(started) <= set(finished):
                    await asyncio.sleep(0.02)
                    assert time.perf_counter() - began < 600
                return [finished[s] - started[s] for s in started], max(finished.values()) - began
            finally:
                grader.shutdown()

        return asyncio.run(run())
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(timeout=60)
        with make_celery(broker, queue).connection_for_write() as conn:
            channel = conn.channel()
            channel.queue_delete(queue)
            channel.close()
        for gen in (logs, books):
            with contextlib.suppress(StopIteration):
                next(gen)


def queue_only(args: argparse.Namespace) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="bench-grading-"))
    try:
        grading = build(tmp)
        module = module_of(args.module)
        assignment = assignment_of(grading, args.module)
        print(f"assignment {assignment}, {os.cpu_count()} cores, {args.at_once} at once")
        began = time.perf_counter()
        times, _note = through_grader(grading, assignment, module, args.prestart, args.at_once)
        total = max(times)  # handed in together: the last grade
        del began
        print(
            f"in-process Grader, 2 workers:   p50 {statistics.median(times):5.2f} s  "
            f"p95 {p95(times):5.2f} s  {args.at_once / total:5.2f}/s",
            flush=True,
        )
        for n in (1, 2):
            times, total = through_queue(
                grading, module, args.queue, n, args.prestart, args.at_once
            )
            print(
                f"shared queue, {n} worker{'s' if n > 1 else ' '}:       "
                f"p50 {statistics.median(times):5.2f} s  p95 {p95(times):5.2f} s  "
                f"{args.at_once / total:5.2f}/s",
                flush=True,
            )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def line(label: str, times: list[float], cli_median: float) -> str:
    med = statistics.median(times)
    return (
        f"{label:44s} p50 {med:5.2f} s  p95 {p95(times):5.2f} s  "
        f"{1 / med:5.2f}/s  {cli_median / med:5.1f}× CLI"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--module", default="kasam")
    parser.add_argument("--cli", type=int, default=6)
    parser.add_argument("--sequential", type=int, default=12)
    parser.add_argument("--sustained", type=int, default=40)
    parser.add_argument("--at-once", type=int, default=10)
    parser.add_argument("--prestart", type=int, default=5, help="kernels per worker")
    parser.add_argument("--skip", action="append", default=[], help="before, grader")
    parser.add_argument("--queue", default="", help="a broker: measure the shared queue")
    args = parser.parse_args()
    if args.queue:
        queue_only(args)
        return

    tmp = Path(tempfile.mkdtemp(prefix="bench-grading-"))
    try:
        grading = build(tmp)
        module = module_of(args.module)
        assignment = assignment_of(grading, args.module)
        notebook = filled(grading, assignment, module)
        print(f"assignment {assignment}, {os.cpu_count()} cores", flush=True)

        cli_times = cli(grading, assignment, notebook, args.cli)
        cli_med = statistics.median(cli_times)
        print(line("nbgrader autograde (CLI), one after another", cli_times, cli_med), flush=True)
        rows = []
        if "before" not in args.skip:
            t = sequential(grading, assignment, notebook, args.sequential, 0, "before")
            rows.append(line("in-process NbGraderAPI.autograde (before)", t, cli_med))
            print(rows[-1], flush=True)
        t = sequential(grading, assignment, notebook, args.sequential, 0, "nopool")
        rows.append(line("Course(prestart=0).autograde", t, cli_med))
        print(rows[-1], flush=True)
        t = sequential(grading, assignment, notebook, args.sequential, args.prestart, "pool")
        rows.append(line(f"Course(prestart={args.prestart}).autograde", t, cli_med))
        print(rows[-1], flush=True)

        w = workers(grading, assignment, notebook, args.prestart, args.at_once, args.sustained)
        burst = w["burst"]
        grader_times: list[float] | None = None
        note = ""
        if "grader" not in args.skip:
            try:
                grader_times, note = through_grader(
                    grading, assignment, module, args.prestart, args.at_once
                )
            except Exception as exc:  # the Grader is being rewritten; report, go on
                note = f"Grader failed: {exc!r}"

        print()
        print(
            f"Lämna in, {assignment}, 2 cores; CLI per submission {cli_med:.2f} s "
            f"({1 / cli_med:.2f}/s)"
        )
        print("-" * 100)
        print(line("nbgrader autograde (CLI)", cli_times, cli_med))
        for r in rows:
            print(r)
        print(
            f"{args.at_once} at once, 2 workers × prestart {args.prestart}:"
            f"{'':10s} p50 {statistics.median(burst):5.2f} s  p95 {p95(burst):5.2f} s  "
            f"max {max(burst):5.2f} s"
        )
        if grader_times:
            print(
                f"{args.at_once} at once through Grader ({note}): p50 "
                f"{statistics.median(grader_times):5.2f} s  p95 {p95(grader_times):5.2f} s"
            )
        elif note:
            print(note)
        print(
            f"sustained, 2 workers, {args.sustained} submissions:{'':8s} "
            f"{w['sustained_rate']:5.2f}/s overall, {w['steady_rate']:5.2f}/s second half "
            f"({w['sustained_rate'] * cli_med:4.1f}× / {w['steady_rate'] * cli_med:4.1f}× "
            f"the CLI's {1 / cli_med:.2f}/s); p95 from handing in {w['sustained_p95']:.2f} s"
        )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
