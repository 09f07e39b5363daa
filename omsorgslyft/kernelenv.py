"""What a kernel keeps of the environment of the service that starts it.

A module page's kernel (learn) and a hand-in's kernel (grading) run what the service
gives them, and neither needs the service's secrets: the hub's API token, database URLs
and passwords, the broker's URL with its password. Jupyter passes a kernel its parent's
whole environment unless told otherwise, so each service starts its kernels with only
:func:`inherited` (plus what it adds on purpose).
"""

from __future__ import annotations

from collections.abc import Mapping

#: what a kernel keeps of the service's environment: where Python, Jupyter and IPython
#: find their files, the locale and the temporary folder; nothing else (no JUPYTERHUB_*,
#: no tokens, no database URLs, no broker)
INHERITED = frozenset(
    {
        "PATH",
        "HOME",
        "USER",
        "LOGNAME",
        "LANG",
        "LANGUAGE",
        "TZ",
        "TMPDIR",
        "PYTHONPATH",
        "PYTHONHOME",
        "VIRTUAL_ENV",
        "LD_LIBRARY_PATH",
        "IPYTHONDIR",
        "MPLCONFIGDIR",
        "JUPYTER_CONFIG_DIR",
        "JUPYTER_CONFIG_PATH",
        "JUPYTER_DATA_DIR",
        "JUPYTER_PATH",
        "JUPYTER_RUNTIME_DIR",
        "JUPYTER_PLATFORM_DIRS",
        "JUPYTER_PREFER_ENV_PATH",
        "JUPYTER_NO_CONFIG",
        "XDG_CACHE_HOME",
        "XDG_CONFIG_HOME",
        "XDG_DATA_HOME",
        "XDG_RUNTIME_DIR",
    }
)
INHERITED_PREFIXES = ("LC_",)


def inherited(env: Mapping[str, str]) -> dict[str, str]:
    """The part of ``env`` any kernel may keep."""
    return {k: v for k, v in env.items() if k in INHERITED or k.startswith(INHERITED_PREFIXES)}
