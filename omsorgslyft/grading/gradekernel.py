"""The kernel submissions are autograded in: IPython's own kernel, without its debugger.

Importing the debugger (debugpy) is about a third of a kernel's start-up CPU, and every
submission gets a fresh kernel; nobody debugs an autograde. With ``debugpy`` unimportable,
ipykernel runs as usual, only without the debugger.

    python -m omsorgslyft.grading.gradekernel -f <connection file>
"""

from __future__ import annotations

import sys

sys.modules["debugpy"] = None  # type: ignore[assignment]  # "import debugpy" now fails

if __name__ == "__main__":
    from ipykernel.kernelapp import launch_new_instance

    launch_new_instance()
