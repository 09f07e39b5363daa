"""The kernel submissions are autograded in: IPython's own kernel, without its debugger.

Importing the debugger (debugpy) is about a third of a kernel's start-up CPU, and every
submission gets a fresh kernel; nobody debugs an autograde. With ``debugpy`` unimportable,
ipykernel runs as usual, only without the debugger.

The kernel dies with the grading worker that started it (``PR_SET_PDEATHSIG``): a worker
killed with SIGKILL leaves no kernel behind. The signal follows the *thread* that started
the kernel, the kernel pool's own thread, which lives as long as the pool does.

    python -m omsorgslyft.grading.gradekernel -f <connection file>
"""

from __future__ import annotations

import os
import signal
import sys

sys.modules["debugpy"] = None  # type: ignore[assignment]  # "import debugpy" now fails

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


if __name__ == "__main__":
    die_with_parent()
    from ipykernel.kernelapp import launch_new_instance

    launch_new_instance()
