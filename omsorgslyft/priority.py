"""Batch work gives way to people: grading runs at a lower CPU priority than the pages.

A learner who changes an answer waits for "Sparat"; a learner who hands in waits for a
result they are told may take a few seconds. On a full machine both compete for the same
cores, and one notebook being graded (nbgrader running it in a kernel, about a core for a
second) is enough to hold up the saves of many open pages. Grading therefore lowers its
own priority as nice(1) does, before it starts any thread, worker process or kernel: they
all inherit it (on Linux a nice value belongs to a thread and is copied to new threads and
children). The pages' kernels, the learn service and the hub keep the normal priority.

Lowering a priority needs no privilege, so a service running as its own system user can.
"""

from __future__ import annotations

import logging
import os

#: nice(1)'s scale: 0 the normal priority, 19 the lowest
LOWEST = 19


def lower_priority(nice: int, log: logging.Logger | None = None) -> int:
    """Run this process (and what it starts from now on) at nice value ``nice`` (0–19);
    never raises the priority. Returns the nice value it runs at."""
    if not 0 <= nice <= LOWEST:
        raise ValueError(f"a nice value from 0 to {LOWEST}, not {nice}")
    now = os.getpriority(os.PRIO_PROCESS, 0)
    if nice > now:
        os.setpriority(os.PRIO_PROCESS, 0, nice)
        now = nice
        if log is not None:
            log.info("running at nice %d: pages go first", nice)
    return now
