"""Trainers' JupyterLab servers, each as the trainer's own unprivileged system user.

JupyterHub's ``LocalProcessSpawner`` runs a server as the system user named like the hub
user. Hub names here are logins (``tove``, ``tove.t@kommun.se``) that should not become
system accounts as they are, so this spawner maps each to its own system user
(``SystemUsers.trainer``: ``olt-tove-5f2c1a``), creates it on the first spawn as a member
of the course group only, gives it a private home, and starts the server in the course
folder with a umask that keeps what the trainer writes shared with the course group and
no one else.
"""

from __future__ import annotations

import asyncio
import os
import pwd
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from jupyterhub.spawner import LocalProcessSpawner, set_user_setuid
from traitlets import Unicode

from omsorgslyft.hub.users import SystemUsers


class TrainerSpawner(LocalProcessSpawner):  # type: ignore[misc]
    course_dir = Unicode(
        help="The nbgrader course folder the server starts in (nbgrader reads its config there)."
    ).tag(config=True)
    homes_dir = Unicode(
        help="Folder of trainers' private homes (each 0700, owned by the trainer)."
    ).tag(config=True)
    runtime_root = Unicode(
        help="Folder of trainers' Jupyter runtime dirs (kernels' IPC sockets): keep it short, "
        "a unix socket's path holds at most 107 bytes.",
    ).tag(config=True)
    course_group = Unicode(
        SystemUsers.course_group,
        help="System group of trainers and the grading service: the course source and gradebook.",
    ).tag(config=True)
    user_prefix = Unicode(
        SystemUsers.trainer_prefix,
        help="Prefix of trainers' system user names (the rest is made from the hub name).",
    ).tag(config=True)

    @property
    def system_user(self) -> str:
        return SystemUsers(trainer_prefix=self.user_prefix).trainer(self.user.name)

    @property
    def home(self) -> Path:
        return Path(self.homes_dir) / self.system_user

    @property
    def runtime_dir(self) -> Path:
        return Path(self.runtime_root) / f"u{pwd.getpwnam(self.system_user).pw_uid}"

    async def start(self) -> Any:
        await asyncio.to_thread(ensure_trainer, self.system_user, self.home, self.course_group)
        await asyncio.to_thread(_private_dir, self.runtime_dir, self.system_user)
        return await super().start()

    def make_preexec_fn(self, name: str) -> Callable[[], None]:
        become = set_user_setuid(self.system_user, chdir=False)
        course = self.course_dir

        def preexec() -> None:
            become()
            os.umask(0o007)
            os.chdir(course)

        return preexec

    def user_env(self, env: dict[str, str]) -> dict[str, str]:
        env["USER"] = self.system_user
        env["HOME"] = str(self.home)
        env["SHELL"] = "/bin/bash"
        env["JUPYTER_RUNTIME_DIR"] = str(self.runtime_dir)
        return env

    async def move_certs(self, paths: dict[str, str]) -> dict[str, str]:  # pragma: no cover
        raise NotImplementedError("internal SSL is not used on one machine")


def ensure_trainer(name: str, home: Path, group: str) -> None:
    """Create the trainer's system user (course group only) and private home if missing."""
    from omsorgslyft.hub.isolation import ensure_group, ensure_user

    ensure_group(group)
    ensure_user(name, home, group, shell="/bin/bash")
    _private_dir(home, name)


def _private_dir(path: Path, owner: str) -> None:
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    entry = pwd.getpwnam(owner)
    shutil.chown(path, entry.pw_uid, entry.pw_gid)
    path.chmod(0o700)
