"""A service the hub started goes when that hub goes (learn, grading, records).

JupyterHub starts its managed services in sessions of their own, so a hub killed with
SIGKILL (or one that crashed) leaves them running. The hub started again with the same
config starts the service again on the same port, and with a new OAuth client secret: the
old process would keep the port and fail every login ("Client secret mismatch"), while the
new one could not listen. So a service whose parent is a JupyterHub watches it and stops
(as at the hub's SIGTERM: kernels shut down) when it has gone; the restarted hub's new
service then takes the port.

Kernels (a page's, a grading worker's) go with the process that started them at once:
:func:`die_with_parent`, called first thing in the kernel.

Where a service listens (:func:`listen`) is part of the same contract: at the port of the
URL the hub gave it, on the address of ``--ip``.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from tornado.ioloop import PeriodicCallback

if TYPE_CHECKING:
    import argparse

    from tornado.httpserver import HTTPServer

#: how often the parent is looked at
EVERY_SECONDS = 2.0


def hub_parent() -> int | None:
    """The pid of the JupyterHub that started this process, or None (run otherwise)."""
    parent = os.getppid()
    try:
        cmdline = Path(f"/proc/{parent}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return None
    # jupyterhub, python .../jupyterhub or python -m jupyterhub
    names = [Path(arg.decode(errors="replace")).name for arg in cmdline[:3]]
    return parent if any(name.startswith("jupyterhub") for name in names) else None


def watch_hub(log: logging.Logger) -> PeriodicCallback | None:
    """Stop this process (SIGTERM to itself) once the hub that started it is gone."""
    parent = hub_parent()
    if parent is None:
        return None

    def check() -> None:
        if os.getppid() != parent:
            log.warning("The hub (pid %d) has gone: stopping, its restart starts us again", parent)
            watcher.stop()
            os.kill(os.getpid(), signal.SIGTERM)

    watcher = PeriodicCallback(check, EVERY_SECONDS * 1000)
    watcher.start()
    return watcher


PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """SIGKILL this process when the thread that started it exits (Linux; elsewhere
    ipykernel's own parent poller stops the kernel within a second or so)."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):
        return
    parent = os.environ.get("JPY_PARENT_PID", "")
    if parent.isdigit() and os.getppid() != int(parent):
        os._exit(1)  # the parent died before the signal was asked for


def listen(server: HTTPServer, args: argparse.Namespace) -> int:
    """Listen on ``--ip`` at the port of the hub's URL for us (a service it starts), or at
    ``--port``; returns the port."""
    url = os.environ.get("JUPYTERHUB_SERVICE_URL", f"http://{args.ip}:{args.port}")
    port = int(url.rsplit(":", 1)[1].split("/")[0])
    server.listen(port, args.ip)
    return port
