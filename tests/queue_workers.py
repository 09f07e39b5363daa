"""Real grading workers on the shared queue (``python -m omsorgslyft.grading.worker``) for
tests: RabbitMQ on loopback, a queue of the test's own, each worker a process of its own
with its own log, stopped with SIGTERM afterwards (SIGKILL if it will not go)."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path

from omsorgslyft.grading.taskqueue import make_celery

BROKER = os.environ.get("OMSORGSLYFT_TEST_AMQP", "amqp://guest:guest@127.0.0.1:5672//")


class Worker:
    def __init__(self, number: int, process: subprocess.Popen[bytes], log: Path) -> None:
        self.number = number
        self.process = process
        self.log = log

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def graded(self) -> list[str]:
        """The submissions this worker graded and recorded, in order."""
        return re.findall(r"graded (\S+):", self.text())


@contextlib.contextmanager
def fresh_queue() -> Iterator[str]:
    """A queue name nobody else uses; the queue is deleted afterwards."""
    name = f"omsorgslyft-test-{uuid.uuid4().hex[:10]}"
    yield name
    app = make_celery(BROKER, name)
    with app.connection_for_write() as conn:
        channel = conn.channel()
        try:
            channel.queue_delete(name)
        finally:
            channel.close()


@contextlib.contextmanager
def queue_workers(
    course_dirs: Sequence[Path],
    modules_dir: Path,
    log_url: str,
    gradebook_url: str,
    queue_name: str,
    logs: Path,
) -> Iterator[list[Worker]]:
    """One worker per course folder (the same folder twice: two workers on one host),
    each ready (listening on the queue) when this yields."""
    started: list[Worker] = []
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    try:
        for n, course in enumerate(course_dirs, start=1):
            log = logs / f"worker{n}.log"
            with log.open("wb") as out:
                process = subprocess.Popen(
                    [
                        sys.executable,
                        "-m",
                        "omsorgslyft.grading.worker",
                        f"--queue={BROKER}",
                        f"--queue-name={queue_name}",
                        f"--course-dir={course}",
                        f"--modules-dir={modules_dir}",
                        f"--db-url={log_url}",
                        f"--gradebook-url={gradebook_url}",
                        "--prestart=1",
                        f"--name=test{n}@localhost",
                    ],
                    env=env,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            started.append(Worker(n, process, log))
        deadline = time.monotonic() + 120
        for w in started:
            while not re.search(r"@localhost ready\.", w.text()):
                assert w.process.poll() is None, w.text()
                assert time.monotonic() < deadline, w.text()
                time.sleep(0.3)
        yield started
    finally:
        for w in started:
            if w.process.poll() is None:
                w.process.send_signal(signal.SIGTERM)
        for w in started:
            try:
                w.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(w.process.pid, signal.SIGKILL)
                w.process.wait()
