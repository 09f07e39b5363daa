"""Least privilege on one machine: system users, owners and modes, made before the hub starts.

``prepare(settings)`` is called from ``jupyterhub_config.py`` (as root, the README's run
command): it creates the unprivileged system users of ``SystemUsers``, gives each store's
folder to its service, closes the hub's own files to everyone else and returns the settings
with ``system_users`` set, so that ``apply`` runs every service as its user. Started
without root it says in one line what is not isolated and changes nothing else.

Who owns what (docs/operators.md has the table for operators):

* ``var/hub`` root 0700: hub database, cookie secret, pid files.
* ``var/learn`` learn:answers 2770: the answer store; only the records service (group
  ``olyft-answers``) reads it. ``var/learn/ipython`` is the learn user's alone (0700).
* ``/run/omsorgslyft/<tag>`` root 0711: ``learn/`` (learners' kernels' connection files
  and IPC sockets) is the learn user's alone (0700), ``u<uid>/`` each trainer's (0700).
* ``var/grading`` grading 0700: the grading service's own state (autograde kernels).
* ``var/records`` records 0700: roster, module versions, import log.
* ``var/trainers`` root 0711: each trainer's home 0700 (``TrainerSpawner``).
* ``grading`` grading:course 2771: the course; ``source/`` (answer keys) and everything but
  ``release/`` only for the course group (the grading service, trainers, records);
  ``release/`` is readable by the learn service.
* ``modules`` root:course 2770: module Markdown holds the answer key too.
"""

from __future__ import annotations

import grp
import os
import pwd
import shutil
import stat
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from omsorgslyft.hub.users import SystemUsers
from omsorgslyft.paths import Layout

if TYPE_CHECKING:
    from omsorgslyft.hub.settings import HubSettings

#: the group of services that may read the learn service's answer table (records)
ANSWERS_GROUP = "olyft-answers"

#: files of the old flat ``var/`` layout, and where they live now
_MOVED = {
    "jupyterhub.sqlite": "hub",
    "jupyterhub_cookie_secret": "hub",
    "jupyterhub.pid": "hub",
    "jupyterhub-proxy.pid": "hub",
    "learn.db": "learn",
    "records.db": "records",
}


class IsolationError(RuntimeError):
    """The platform cannot run its processes as separate users (the message says why)."""


DEFAULT_USERS = SystemUsers()


def prepare(
    s: HubSettings, users: SystemUsers | None = DEFAULT_USERS, *, quiet: bool = False
) -> HubSettings:
    """Make the folders, and as root the users, owners and modes; returns settings for
    ``apply``. ``users=None`` asks for no isolation (everything as the hub's user)."""
    where = Layout(s.data_dir, s.project_root)
    _make_folders(where)
    if users is None or os.geteuid() != 0:
        if not quiet:
            me = pwd.getpwuid(os.geteuid()).pw_name
            why = "isolation is turned off" if users is None else "not started as root"
            print(
                f"omsorgslyft: {why}: the services, trainers' servers and learners' kernels "
                f"all run as {me!r}, not isolated from each other (docs/operators.md).",
                file=sys.stderr,
            )
        return replace(s, system_users=None)
    _check_reachable([Path(s.python), s.project_root], users.learn)
    _make_users(users)
    _shared_databases(s)
    _set_owners(where, users)
    # the services and trainers' servers inherit it: nothing new is world-readable
    os.umask(0o007)
    return replace(s, system_users=users)


def _make_folders(where: Layout) -> None:
    where.data_dir.mkdir(parents=True, exist_ok=True)
    for folder in (
        where.hub_dir,
        where.learn_dir,
        where.grading_state_dir,
        where.records_dir,
        where.trainers_dir,
    ):
        folder.mkdir(exist_ok=True)
    for name, place in _MOVED.items():
        for suffix in ("", "-wal", "-shm"):
            old = where.data_dir / f"{name}{suffix}"
            new = where.data_dir / place / f"{name}{suffix}"
            if old.exists() and not new.exists():
                old.rename(new)
    where.run_dir.mkdir(mode=0o711, parents=True, exist_ok=True)
    for private in (where.hub_dir, where.runtime_dir, where.learn_dir / "ipython"):
        private.mkdir(exist_ok=True)
        private.chmod(0o700)


def _shared_databases(s: HubSettings) -> None:
    """SQLite creates a database (and its -wal, -shm and -journal files) 0644 whatever the
    umask: the databases another user writes too are made here first, empty, so that the
    group keeps write access (trainers' formgrader writes the gradebook; the records
    service's GDPR erase deletes answers and submissions)."""
    where = s.layout
    for url, path in (
        (s.store_url, where.learn_db),
        (s.gradebook_url, where.grading_dir / "gradebook.db"),
        (s.submissions_url, where.grading_dir / "submissions.db"),
    ):
        if not url:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.touch(exist_ok=True)


def _check_reachable(paths: list[Path], user: str) -> None:
    """Every folder above ``paths`` must let other users pass, or no service can start."""
    for path in paths:
        real = path.resolve()
        for parent in [real, *real.parents]:
            mode = parent.stat().st_mode
            if stat.S_ISDIR(mode) and not mode & stat.S_IXOTH:
                raise IsolationError(
                    f"{parent} (mode {stat.S_IMODE(mode):04o}) stops the system user {user!r} "
                    f"from reaching {path}: the services cannot start as their own users. Put "
                    "the project and its Python where other users can read them (bash "
                    ".ci/install uses Debian's /usr/bin/python3 for that), or pass users=None "
                    "to prepare() to run everything as root, not isolated."
                )


def _make_users(users: SystemUsers) -> None:
    for group in (users.course_group, ANSWERS_GROUP):
        ensure_group(group)
    ensure_user(users.learn, Path("/nonexistent"))
    ensure_user(users.grading, Path("/nonexistent"), users.course_group)
    # records reads the gradebook, the submission log, modules and the answer table
    ensure_user(users.records, Path("/nonexistent"), users.course_group, ANSWERS_GROUP)
    ensure_user(users.proxy, Path("/nonexistent"))


def _retry(command: list[str]) -> None:
    """useradd and friends lock /etc/passwd; two spawns at once may find it taken."""
    for attempt in range(20):
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        if done.returncode == 0:
            return
        if "lock" not in done.stderr or attempt == 19:
            raise IsolationError(f"{' '.join(command)}: {done.stderr.strip()}")
        time.sleep(0.1)


def ensure_group(name: str) -> None:
    try:
        grp.getgrnam(name)
    except KeyError:
        _retry(["groupadd", "--system", "-f", name])


def ensure_user(name: str, home: Path, *groups: str, shell: str = "/usr/sbin/nologin") -> None:
    """A system user with its own primary group and exactly these supplementary groups."""
    try:
        pwd.getpwnam(name)
    except KeyError:
        command = ["useradd", "--system", "--user-group", "--no-create-home"]
        command += ["--home-dir", str(home), "--shell", shell]
        if groups:
            command += ["--groups", ",".join(groups)]
        _retry([*command, name])
        return
    have = {g.gr_name for g in grp.getgrall() if name in g.gr_mem}
    if have != set(groups):
        _retry(["usermod", "--groups", ",".join(groups), name])


def _own(path: Path, user: str, group: str, dir_mode: int, file_mode: int) -> None:
    """``path`` and everything under it (symlinks untouched), only where it differs."""
    uid, gid = pwd.getpwnam(user).pw_uid, grp.getgrnam(group).gr_gid
    if not path.exists():
        return
    todo = [path]
    while todo:
        here = todo.pop()
        info = here.lstat()
        if stat.S_ISLNK(info.st_mode):
            continue
        is_dir = stat.S_ISDIR(info.st_mode)
        mode = dir_mode if is_dir else file_mode
        if (info.st_uid, info.st_gid) != (uid, gid):
            os.chown(here, uid, gid, follow_symlinks=False)
        if stat.S_IMODE(info.st_mode) != mode:
            here.chmod(mode)
        if is_dir:
            todo.extend(here.iterdir())


def _set_owners(where: Layout, users: SystemUsers) -> None:
    where.data_dir.chmod(0o755)
    _own(where.hub_dir, "root", "root", 0o700, 0o600)
    _own(where.learn_dir, users.learn, ANSWERS_GROUP, 0o2770, 0o660)
    for private in (where.runtime_dir, where.learn_dir / "ipython"):
        _own(private, users.learn, users.learn, 0o700, 0o600)
    for folder in (where.run_dir.parent, where.run_dir):
        os.chown(folder, 0, 0)
        folder.chmod(0o711)
    _own(where.grading_state_dir, users.grading, users.grading, 0o700, 0o600)
    _own(where.records_dir, users.records, users.records, 0o700, 0o600)
    trainers = where.trainers_dir
    os.chown(trainers, 0, 0)
    trainers.chmod(0o711)
    course = users.course_group
    grading = where.grading_dir
    grading.mkdir(exist_ok=True)
    for entry in grading.iterdir():
        if entry.name == "release":
            _own(entry, users.grading, course, 0o2775, 0o664)
        elif entry.name != "nbgrader_config.py":
            _own(entry, users.grading, course, 0o2770, 0o660)
    os.chown(grading, pwd.getpwnam(users.grading).pw_uid, grp.getgrnam(course).gr_gid)
    grading.chmod(0o2771)
    config = grading / "nbgrader_config.py"
    if config.exists():
        shutil.chown(config, "root", course)
        config.chmod(0o640)
    _own(where.modules_dir, "root", course, 0o2770, 0o660)
