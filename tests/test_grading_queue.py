"""Grading on the shared queue: two real grading workers (processes) on one machine with
PostgreSQL (the submission log and nbgrader's gradebook) and RabbitMQ serve learners; the
second works in a copy of the course folder of its own, as on another host.

Each submission is graded and recorded once, also when its task is delivered twice and
when the worker grading it is killed with SIGKILL mid-grade (the other worker grades it).
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest
from databases import pg_database
from platform_fixture import ROOT, make_project
from queue_workers import BROKER, Worker, fresh_queue, queue_workers
from tornado.httpclient import AsyncHTTPClient
from tornado.httpserver import HTTPServer
from tornado.netutil import bind_sockets
from traitlets.config import Config

from omsorgslyft.grading.build import build_modules
from omsorgslyft.grading.service import SUBMIT_SCOPE, make_app
from omsorgslyft.grading.submissions import DONE, RECEIVED, SubmissionLog
from omsorgslyft.grading.taskqueue import TASK, QueueGrader
from omsorgslyft.hub.settings import HubSettings, apply

from answers import right_answers, wrong_answers

MODULE = "exempelmodul"


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_project(tmp_path_factory.mktemp("queue"), [ROOT / "docs" / "exempelmodul"])


@pytest.fixture
def log_url() -> Iterator[str]:
    yield from pg_database()


@pytest.fixture
def gradebook_url(project: Path) -> Iterator[str]:
    """nbgrader's gradebook on PostgreSQL, with the project's assignments in it."""
    for url in pg_database():
        build_modules([project / "modules"], project, project / "grading", gradebook_url=url)
        yield url


@pytest.fixture
def queue_name() -> Iterator[str]:
    with fresh_queue() as name:
        yield name


@pytest.fixture
def workers(
    project: Path, log_url: str, gradebook_url: str, queue_name: str, tmp_path: Path
) -> Iterator[list[Worker]]:
    # worker 2 as on another host: a copy of the built course folder of its own (it writes
    # submitted/ and autograded/ there); worker 1 shares the service's
    host2 = tmp_path / "host2" / "grading"
    shutil.copytree(
        project / "grading", host2, ignore=shutil.ignore_patterns("submitted", "autograded")
    )
    with queue_workers(
        [project / "grading", host2],
        project / "modules",
        log_url,
        gradebook_url,
        queue_name,
        tmp_path,
    ) as started:
        yield started


def service_side(project: Path, log_url: str, queue_name: str) -> QueueGrader:
    return QueueGrader(
        project / "grading", project / "modules", log_url, BROKER, queue=queue_name, poll=0.1
    )


class LearnServiceAuth:
    """The hub's side of the grading API for one caller: the learn service's token."""

    def get_token(self, handler: Any, in_cookie: bool = False) -> str | None:
        value = str(handler.request.headers.get("Authorization", ""))
        return value.removeprefix("token ") or None

    async def user_for_token(self, token: str, sync: bool = True) -> dict[str, Any] | None:
        return {"name": "learn", "scopes": [SUBMIT_SCOPE]} if token == "learn-token" else None

    def check_scopes(self, required: set[str], model: dict[str, Any]) -> set[str]:
        return required & set(model["scopes"])


async def submit_all(
    grader: QueueGrader, subs: list[tuple[str, str, dict[str, Any]]], seconds: float = 240
) -> tuple[float, int]:
    """POST every submission at once to the grading API (the service's own handlers in
    front of the queue) and wait until each is graded: the seconds it took, and how many
    answers already carried the grade (the service waits up to WAIT_SECONDS for it)."""
    app = make_app(grader, "/services/grading/", LearnServiceAuth())
    server = HTTPServer(app)
    (sock,) = bind_sockets(0, "127.0.0.1")
    server.add_sockets([sock])
    url = f"http://127.0.0.1:{sock.getsockname()[1]}/services/grading/api/submissions"
    await grader.start()
    client = AsyncHTTPClient()
    version = grader.modules[MODULE].version

    async def post(sid: str, learner: str, answers: dict[str, Any]) -> dict[str, Any]:
        body = {"id": sid, "learner": learner, "module": MODULE, "version": version}
        reply = await client.fetch(
            url,
            method="POST",
            body=json.dumps(body | {"answers": answers}),
            headers={"Authorization": "token learn-token"},
            request_timeout=60,
        )
        assert reply.code == 201
        out: dict[str, Any] = json.loads(reply.body)
        return out

    began = time.monotonic()
    try:
        replies = await asyncio.gather(*(post(*sub) for sub in subs))
        while any(s.status == RECEIVED for s in map(grader.log.get, [x[0] for x in subs]) if s):
            assert time.monotonic() - began < seconds, "not every submission was graded"
            await asyncio.sleep(0.1)
        return time.monotonic() - began, sum(r["status"] == DONE for r in replies)
    finally:
        server.stop()


def gradebook_submissions(gradebook_url: str, student: str) -> list[tuple[str, str, float]]:
    """(assignment, student, score) of each of the student's submissions in the gradebook."""
    from nbgrader.api import Gradebook, SubmittedAssignment

    with Gradebook(gradebook_url, "omsorgslyft") as gb:
        return [
            (s.assignment.name, s.student.id, float(s.score))
            for s in gb.db.query(SubmittedAssignment).all()
            if s.student.id == student
        ]


def autograding(w: Worker) -> str:
    return "".join(line for line in w.text().splitlines() if "] Autograding " in line)


def wait_until(predicate: Callable[[], bool], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


@pytest.mark.slow
def test_two_workers_grade_every_learner_once(
    project: Path, workers: list[Worker], log_url: str, gradebook_url: str, queue_name: str
) -> None:
    grader = service_side(project, log_url, queue_name)
    module = grader.modules[MODULE]
    right, wrong = right_answers(module), wrong_answers(module)
    learners = [f"lärare{n}" for n in range(8)]
    subs = [(f"q-{n}", who, right if n % 2 else wrong) for n, who in enumerate(learners)]
    try:
        seconds, answered = asyncio.run(submit_all(grader, subs))
        # a task delivered twice (the service restarted and queued what was pending, say)
        grader.celery.send_task(TASK, args=["q-0"], queue=queue_name)
        time.sleep(3)
    finally:
        grader.shutdown()
    print(
        f"\n{len(subs)} submissions on 2 queue workers in {seconds:.1f} s, "
        f"{answered} answered with the grade"
    )
    assert answered >= 1
    log = SubmissionLog(log_url)
    for n, (sid, who, _answers) in enumerate(subs):
        sub = log.get(sid)
        assert sub is not None and sub.status == DONE, sub
        assert sub.result is not None
        assert sub.result["passed"] is bool(n % 2)
        assert sub.result["score"] == (sub.result["max_score"] if n % 2 else sub.result["score"])
        rows = gradebook_submissions(gradebook_url, who)
        assert len(rows) == 1, rows
        assert rows[0][2] == sub.result["score"]
    graded = workers[0].graded() + workers[1].graded()
    assert sorted(graded) == sorted(s[0] for s in subs), graded  # each once, by one worker
    assert workers[0].graded() and workers[1].graded(), "both workers served learners"
    log.engine.dispose()


@pytest.mark.slow
def test_a_worker_killed_mid_grade_leaves_the_grade_to_the_other(
    project: Path, workers: list[Worker], log_url: str, gradebook_url: str, queue_name: str
) -> None:
    grader = service_side(project, log_url, queue_name)
    module = grader.modules[MODULE]
    right = right_answers(module)
    log = SubmissionLog(log_url)
    try:
        loop = asyncio.new_event_loop()
        done: set[str] = set()
        grader.listeners.append(lambda s: done.add(s.id))
        loop.run_until_complete(grader.start())
        grader.accept("k-1", "berit", MODULE, module.version, right)

        def grading() -> Worker | None:
            loop.run_until_complete(asyncio.sleep(0.02))
            # mid-grade: nbgrader has recorded the submission in the gradebook, its
            # notebook is about to run
            return next((w for w in workers if "berit/exempelmodul" in autograding(w)), None)

        wait_until(lambda: grading() is not None, 60, "no worker took k-1")
        victim = grading()
        assert victim is not None
        kernels = psutil.Process(victim.process.pid).children(recursive=True)
        assert kernels, "the worker grades in kernels it started"
        os.kill(victim.process.pid, signal.SIGKILL)
        victim.process.wait(timeout=10)
        assert victim.graded() == [], "killed before it recorded the grade"
        _gone, alive = psutil.wait_procs(kernels, timeout=10)
        assert alive == [], "the killed worker's kernels die with it"
        other = next(w for w in workers if w is not victim)

        def finished() -> bool:
            loop.run_until_complete(asyncio.sleep(0.1))
            return "k-1" in done

        wait_until(finished, 120, f"k-1 not regraded:\n{other.text()}")
        loop.run_until_complete(asyncio.sleep(0))
    finally:
        grader.shutdown()
        loop.run_until_complete(asyncio.sleep(0.05))  # the watcher's cancellation runs
        loop.close()
    sub = log.get("k-1")
    assert sub is not None and sub.status == DONE and sub.result is not None
    assert sub.result["passed"] and sub.result["score"] == sub.result["max_score"]
    assert other.graded() == ["k-1"] and victim.graded() == []
    rows = gradebook_submissions(gradebook_url, "berit")
    assert rows == [(sub.variant, "berit", sub.result["score"])], rows
    log.engine.dispose()


def test_the_default_needs_no_queue() -> None:
    """Without a queue the service grades in its own worker processes, as before (and does
    not even import Celery); a queue refuses a submission log it cannot share (SQLite)."""
    with pytest.raises(SystemExit):
        QueueGrader(Path("grading"), Path("modules"), "sqlite:///x.db", BROKER)
    code = "import sys, omsorgslyft.grading.service; print('celery' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def grading_service(**settings: Any) -> dict[str, Any]:
    c = Config()
    apply(c, HubSettings(project_root=Path("/srv/o"), data_dir=Path("/var/lib/o"), **settings))
    return next(s for s in c.JupyterHub.services if s["name"] == "grading")


def test_the_hub_setting_hands_the_queue_to_the_service_in_its_environment() -> None:
    default = grading_service()
    assert "OMSORGSLYFT_GRADING_QUEUE" not in default["environment"]
    assert not any("queue" in arg for arg in default["command"])
    queued = grading_service(
        grading_queue="amqp://grading:hemligt@mq:5672/omsorgslyft",
        submissions_url="postgresql+psycopg://grading:pw@db/grading",
    )
    url = queued["environment"]["OMSORGSLYFT_GRADING_QUEUE"]
    assert url == "amqp://grading:hemligt@mq:5672/omsorgslyft"
    assert not any("hemligt" in arg for arg in queued["command"])  # not in /proc/*/cmdline
    assert queued["environment"]["PGPASSWORD"] == "pw"
    assert "--queue-name=omsorgslyft-grading" in queued["command"]
    named = grading_service(
        grading_queue="amqp://mq//",
        grading_queue_name="kommun-b",
        submissions_url="postgresql://db/g",
    )
    assert "--queue-name=kommun-b" in named["command"]


def test_a_grade_is_recorded_once_and_a_learner_graded_by_one_worker_at_a_time(
    log_url: str,
) -> None:
    log = SubmissionLog(log_url)
    log.receive("s-1", "anna", "kasam", 1, {"k1": "a"})
    assert log.finish("s-1", DONE, {"score": 1.0, "max_score": 1.0}) is True
    assert log.finish("s-1", DONE, {"score": 0.0, "max_score": 1.0}) is False
    sub = log.get("s-1")
    assert sub is not None and sub.result == {"score": 1.0, "max_score": 1.0}
    entered: list[str] = []

    def second_worker() -> None:
        with log.learner_lock("anna"):
            entered.append("anna")

    with log.learner_lock("anna"):
        other = threading.Thread(target=second_worker)
        other.start()
        with log.learner_lock("bertil"):  # another learner is not held up
            entered.append("bertil")
        other.join(timeout=1.0)
        assert entered == ["bertil"], "a second worker waits for anna's lock"
    other.join(timeout=10)
    assert entered == ["bertil", "anna"]
    log.engine.dispose()


def test_workers_starting_at_once_on_a_new_database_create_the_log_once(log_url: str) -> None:
    barrier = threading.Barrier(4)
    failures: list[BaseException] = []

    def start() -> None:
        barrier.wait()
        try:
            SubmissionLog(log_url).engine.dispose()
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=start) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert failures == []
