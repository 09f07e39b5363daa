"""``prepare``: the folders, users, owners and modes made before the hub starts."""

from __future__ import annotations

import os
import pwd
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from omsorgslyft.hub.isolation import ANSWERS_GROUP, IsolationError, prepare
from omsorgslyft.hub.settings import HubSettings
from omsorgslyft.hub.users import SystemUsers

root_only = pytest.mark.skipif(os.geteuid() != 0, reason="makes system users: needs root")


@pytest.fixture
def project() -> Iterator[Path]:
    """A project in a folder other users may pass (pytest's own tmp is private)."""
    umask = os.umask(0o022)  # prepare sets the hub process's umask: give this one's back
    os.umask(umask)
    home = Path(tempfile.mkdtemp(prefix="omsorgslyft-prepare-"))
    home.chmod(0o711)
    (home / "grading" / "source" / "m").mkdir(parents=True)
    (home / "grading" / "release" / "m").mkdir(parents=True)
    (home / "grading" / "source" / "m" / "m.ipynb").write_text("{}")
    (home / "grading" / "release" / "m" / "m.ipynb").write_text("{}")
    (home / "modules" / "m").mkdir(parents=True)
    (home / "modules" / "m" / "module.md").write_text("nyckel")
    # the old flat layout: moved into the hub's and the learn service's folders
    (home / "var").mkdir()
    (home / "var" / "jupyterhub.sqlite").write_text("")
    (home / "var" / "learn.db").write_text("")
    yield home
    import shutil

    shutil.rmtree(HubSettings(home, home / "var").layout.run_dir, ignore_errors=True)
    shutil.rmtree(home, ignore_errors=True)
    os.umask(umask)


def owner_and_mode(path: Path) -> tuple[str, int]:
    info = path.stat()
    return pwd.getpwuid(info.st_uid).pw_name, info.st_mode & 0o7777


@root_only
def test_each_store_goes_to_its_service(project: Path) -> None:
    users = SystemUsers()
    s = prepare(HubSettings(project, project / "var"), quiet=True)
    assert s.system_users == users
    var = project / "var"
    assert owner_and_mode(var / "hub") == ("root", 0o700)
    assert (var / "hub" / "jupyterhub.sqlite").is_file()  # moved from the old place
    assert owner_and_mode(var / "learn") == (users.learn, 0o2770)
    assert owner_and_mode(var / "learn" / "learn.db") == (users.learn, 0o660)
    assert owner_and_mode(var / "records") == (users.records, 0o700)
    assert owner_and_mode(s.layout.runtime_dir) == (users.learn, 0o700)
    assert owner_and_mode(project / "grading") == (users.grading, 0o2771)
    assert owner_and_mode(project / "grading" / "source") == (users.grading, 0o2770)
    assert owner_and_mode(project / "grading" / "release") == (users.grading, 0o2775)
    assert owner_and_mode(project / "grading" / "gradebook.db") == (users.grading, 0o660)
    assert owner_and_mode(project / "modules") == ("root", 0o2770)
    import grp

    assert users.records in grp.getgrnam(ANSWERS_GROUP).gr_mem
    assert users.learn not in grp.getgrnam(users.course_group).gr_mem
    # run twice: nothing changes, nothing fails
    assert prepare(HubSettings(project, project / "var"), quiet=True) == s


@root_only
def test_a_python_others_cannot_reach_is_refused(project: Path) -> None:
    private = Path(tempfile.mkdtemp(prefix="omsorgslyft-private-"))  # 0700
    (private / "python").touch()
    try:
        with pytest.raises(IsolationError, match="mode 0700"):
            prepare(
                HubSettings(project, project / "var", python=str(private / "python")), quiet=True
            )
    finally:
        (private / "python").unlink()
        private.rmdir()


def test_without_root_it_says_what_is_not_isolated(project: Path) -> None:
    code = (
        "from pathlib import Path; import sys\n"
        "from omsorgslyft.hub.isolation import prepare\n"
        "from omsorgslyft.hub.settings import HubSettings\n"
        "p = Path(sys.argv[1])\n"
        "s = prepare(HubSettings(p, p / 'var2'))\n"
        "print(s.system_users)\n"
    )
    command = [sys.executable, "-c", code, str(project)]
    if os.geteuid() == 0:
        (project / "var2").mkdir()
        os.chown(project / "var2", 65534, 65534)
        command = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--", *command]
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "None"
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "not started as root" in lines[0] and "not isolated" in lines[0]
