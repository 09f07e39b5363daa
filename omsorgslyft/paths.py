"""Where each store and process keeps its files on one machine (paths only, no I/O).

Used by the CLI's defaults, the records commands and the hub settings alike, so every
part of the platform agrees where the answer store or the roster lives. Which system user
owns each place is ``omsorgslyft.hub.isolation``'s business (docs/operators.md).

::

    var/hub/        the hub's database, cookie secret and pid files (the hub alone)
    var/learn/      the answer store
    var/grading/    the grading service's own state (autograde kernels' runtime dir)
    var/records/    the roster, module versions and the import log
    var/trainers/   one private home per trainer
    grading/        the nbgrader course (source/ holds the answer keys)
    /run/omsorgslyft/<tag>/   kernels' connection files and IPC sockets (``run_dir``)
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Layout:
    data_dir: Path
    project_root: Path

    @property
    def hub_dir(self) -> Path:
        return self.data_dir / "hub"

    @property
    def learn_dir(self) -> Path:
        return self.data_dir / "learn"

    @property
    def run_dir(self) -> Path:
        """Short-lived files of this platform: kernels' connection files and IPC sockets.

        Short on purpose: a unix socket's path has room for 107 bytes, and a kernel's
        sockets are named ``kernel-<uuid>-ipc-<n>`` after their connection file."""
        uid = os.geteuid()
        base = Path("/run/omsorgslyft") if uid == 0 else Path(tempfile.gettempdir())
        tag = hashlib.sha256(str(self.data_dir.resolve()).encode()).hexdigest()[:8]
        return base / (tag if uid == 0 else f"omsorgslyft-{uid}-{tag}")

    @property
    def runtime_dir(self) -> Path:
        """The learn service's Jupyter runtime dir: kernels' connection files and sockets."""
        return self.run_dir / "learn"

    @property
    def grading_state_dir(self) -> Path:
        """The grading service's own state (its Jupyter runtime dir for autograde kernels)."""
        return self.data_dir / "grading"

    @property
    def records_dir(self) -> Path:
        return self.data_dir / "records"

    @property
    def trainers_dir(self) -> Path:
        return self.data_dir / "trainers"

    @property
    def grading_dir(self) -> Path:
        return self.project_root / "grading"

    @property
    def modules_dir(self) -> Path:
        return self.project_root / "modules"

    @property
    def learn_db(self) -> Path:
        return self.learn_dir / "learn.db"

    @property
    def records_db(self) -> Path:
        return self.records_dir / "records.db"

    @property
    def hub_db(self) -> Path:
        return self.hub_dir / "jupyterhub.sqlite"
