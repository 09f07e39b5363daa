"""A grading worker for the shared queue (:mod:`omsorgslyft.grading.taskqueue`).

Run any number, on any host that has the course directory (its ``release/``, as
``omsorgslyft build`` writes it) and reaches the broker and PostgreSQL. Each worker
process grades one submission at a time with its own pre-started kernels; for more at
once, run more workers (one per core).

    OMSORGSLYFT_GRADING_QUEUE=amqp://user:pw@broker:5672/omsorgslyft \\
    python -m omsorgslyft.grading.worker \\
        --db-url postgresql+psycopg://grading@db/grading \\
        --gradebook-url postgresql+psycopg://grading@db/gradebook \\
        --course-dir grading --modules-dir modules

SIGTERM (or SIGINT) stops it after the submission it is grading; SIGKILL loses that
grading, and the broker hands the task to another worker.
"""

from __future__ import annotations

import argparse
import logging
import os
import socket
from pathlib import Path

from omsorgslyft.grading.taskqueue import QUEUE, TASK, make_celery, requires_postgresql
from omsorgslyft.priority import lower_priority


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Omsorgslyft grading worker (shared queue)")
    parser.add_argument(
        "--queue",
        default=os.environ.get("OMSORGSLYFT_GRADING_QUEUE", ""),
        help="the broker: amqp://user:pw@host/vhost (default: $OMSORGSLYFT_GRADING_QUEUE)",
    )
    parser.add_argument("--queue-name", default=QUEUE)
    parser.add_argument("--course-dir", required=True)
    parser.add_argument("--modules-dir", required=True)
    parser.add_argument("--db-url", required=True, help="the shared submission log (PostgreSQL)")
    parser.add_argument(
        "--gradebook-url", default="", help="nbgrader's gradebook (default: SQLite in the course)"
    )
    parser.add_argument(
        "--prestart", type=int, default=5, help="kernels kept started for the next submissions"
    )
    parser.add_argument("--name", default="", help="this worker's name (default: pid@host)")
    parser.add_argument(
        "--nice",
        type=int,
        default=10,
        help="CPU priority as nice(1)'s, 0-19, for this worker and its kernels (default 10: "
        "the pages of learners on the same host go first; omsorgslyft.priority)",
    )
    args = parser.parse_args(argv)
    if not args.queue:
        parser.error("--queue (or OMSORGSLYFT_GRADING_QUEUE) is needed")
    requires_postgresql(args.db_url)
    logging.basicConfig(
        level=logging.INFO, format="[grading-worker %(levelname)s %(asctime)s] %(message)s"
    )
    os.environ["OMSORGSLYFT_GRADING"] = "1"  # before the kernels start: they inherit it
    lower_priority(args.nice, logging.getLogger("omsorgslyft.grading"))  # before any thread

    from omsorgslyft.grading.grader import GradingCore
    from omsorgslyft.grading.submissions import SubmissionLog

    core = GradingCore(
        Path(args.course_dir).resolve(),
        Path(args.modules_dir).resolve(),
        SubmissionLog(args.db_url),
        args.gradebook_url,
        prestart=args.prestart,
    )
    app = make_celery(args.queue, args.queue_name)

    # a grading that fails is recorded as "fel" by grade_and_record; what raises here is
    # the log's database away: the task is tried again later (the submission waits)
    @app.task(  # type: ignore[untyped-decorator]
        name=TASK,
        autoretry_for=(Exception,),
        retry_backoff=5,
        retry_backoff_max=120,
        max_retries=30,
    )
    def grade(sid: str) -> None:
        core.grade_and_record(sid, exclusive=True)

    name = args.name or f"grading-{os.getpid()}@{socket.gethostname()}"
    logging.info(
        "grading worker %s on %s with %d modules", name, args.queue_name, len(core.modules)
    )
    try:
        worker = app.Worker(
            hostname=name,
            pool_cls="solo",  # this process grades: GradingCore and its kernels live here
            concurrency=1,
            queues=[args.queue_name],
            without_gossip=True,
            without_mingle=True,
            without_heartbeat=True,
            loglevel="INFO",
            quiet=True,
        )
        worker.start()
    finally:
        core.course.close()
    raise SystemExit(worker.exitcode or 0)


if __name__ == "__main__":
    main()
