"""A hand-in's kernel never sees its grading worker's secrets.

The grading service and its workers hold the submission log's and the gradebook's
database URLs, a broker URL with its password, the hub's API token. The kernel that runs
a learner's hand-in gets only what a kernel needs (omsorgslyft.kernelenv): here a real
kernel of the grading pool, started while the worker's environment holds such secrets,
and its environment read from /proc.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from omsorgslyft.grading.course import GRADE_KERNEL
from omsorgslyft.grading.kernelpool import KernelPool, kernel_pid

SECRET = "hemligt-9f2c"
SECRETS = {
    "OMSORGSLYFT_GRADING_QUEUE": f"amqp://grading:{SECRET}@127.0.0.1:5672/omsorgslyft",
    "PGPASSWORD": SECRET,
    "JUPYTERHUB_API_TOKEN": SECRET,
    "OMSORGSLYFT_DB_URL": f"postgresql+psycopg://grading:{SECRET}@db/grading",
}


def _environ(pid: int) -> dict[str, str]:
    raw = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    return dict(item.decode().split("=", 1) for item in raw if b"=" in item)


def test_a_grading_kernel_gets_no_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("LC_ALL", "C.UTF-8")
    pool = KernelPool(
        1, env={"NBGRADER_EXECUTION": "autograde", "OMSORGSLYFT_GRADING": "1"}, argv=GRADE_KERNEL
    )
    pool.start()
    try:
        km = pool.take()
        pid = kernel_pid(km)
        assert pid is not None
        env = _environ(pid)
        pool.retire(km)
    finally:
        pool.close()
    assert not [k for k, v in env.items() if SECRET in v], env
    assert not set(SECRETS) & set(env)
    # what it needs to run, and what it is told
    assert env["NBGRADER_EXECUTION"] == "autograde" and env["OMSORGSLYFT_GRADING"] == "1"
    assert "PATH" in env and env["LC_ALL"] == "C.UTF-8"
