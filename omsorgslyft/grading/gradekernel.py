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

import sys

sys.modules["debugpy"] = None  # type: ignore[assignment]  # "import debugpy" now fails

if __name__ == "__main__":
    from omsorgslyft.lifeline import die_with_parent

    die_with_parent()
    from ipykernel.kernelapp import launch_new_instance

    launch_new_instance()
