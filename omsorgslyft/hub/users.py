"""The unprivileged system users the platform runs as, and who owns which place.

Pure: names only. ``omsorgslyft.hub.isolation.prepare`` creates the users and sets owners
and modes; ``omsorgslyft.hub.settings.apply`` runs each process as its user.

::

    var/hub/        0700 root            hub database, cookie secret, pid files
    var/learn/      0700 olyft-learn     answer store, kernels' runtime dir (IPC sockets)
    var/records/    0700 olyft-records   roster, module versions, import log
    var/trainers/   0711 root            one 0700 home per trainer (olt-…)
    grading/        2771 olyft-grading:olyft-course   the nbgrader course
      source/       2770                 answer keys: course group only
      release/      2775                 released notebooks: the learn service reads them
    modules/        2770 root:olyft-course            module Markdown (holds the key too)
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from omsorgslyft.hub.roles import slug


@dataclass(frozen=True)
class SystemUsers:
    """The unprivileged system users and group the platform runs as (hub as root)."""

    learn: str = "olyft-learn"
    grading: str = "olyft-grading"
    records: str = "olyft-records"
    proxy: str = "olyft-proxy"
    #: trainers and the grading service share the course (source, gradebook)
    course_group: str = "olyft-course"
    #: a trainer's system user is this prefix, a slug of the hub name and a short hash
    trainer_prefix: str = "olt-"

    def trainer(self, hub_name: str) -> str:
        """``tove`` -> ``olt-tove-5f2c1a``: unique per hub name, at most 32 characters."""
        digest = hashlib.sha256(hub_name.encode()).hexdigest()[:6]
        return f"{self.trainer_prefix}{slug(hub_name)[:20]}-{digest}"
