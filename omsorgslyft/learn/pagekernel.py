"""The kernel a module page runs in: IPython's own kernel without its debugger or history.

A learner never runs code and nobody debugs a page, but ipykernel imports its debugger
(debugpy with pydevd) and keeps an IPython history database in every kernel: about 30 MB
of the 75 MB a page's kernel held, times every open page. With ``debugpy`` unimportable
ipykernel runs as usual, only without the debugger; ``--HistoryManager.enabled=False``
(given by :data:`ARGV`) keeps no history. The kernel dies with the learn service that
started it (``PR_SET_PDEATHSIG``, :func:`omsorgslyft.lifeline.die_with_parent`).

    python -m omsorgslyft.learn.pagekernel -f <connection file> --HistoryManager.enabled=False
"""

from __future__ import annotations

import sys

sys.modules["debugpy"] = None  # type: ignore[assignment]  # "import debugpy" now fails

#: the command the learn service starts a page's kernel with (its kernel spec's argv)
ARGV = [
    sys.executable,
    "-m",
    "omsorgslyft.learn.pagekernel",
    "-f",
    "{connection_file}",
    "--HistoryManager.enabled=False",
]

if __name__ == "__main__":
    from omsorgslyft.lifeline import die_with_parent

    die_with_parent()
    from ipykernel.kernelapp import launch_new_instance

    launch_new_instance()
