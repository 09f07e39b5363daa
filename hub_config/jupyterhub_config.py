"""JupyterHub configuration for one machine (the embedded default).

Everything is decided by ``omsorgslyft.hub.settings.apply``; this file only says where the
project is. ``prepare`` runs first: as root it creates the platform's system users and gives
each store's folder to its service (docs/operators.md); without root it says what is not
isolated. Run from the project root:  .venv/bin/jupyterhub -f hub_config/jupyterhub_config.py
"""

from pathlib import Path

from omsorgslyft.hub.isolation import prepare
from omsorgslyft.hub.settings import HubSettings, apply

ROOT = Path(__file__).resolve().parent.parent

settings = HubSettings(
    project_root=ROOT,
    data_dir=ROOT / "var",
    proxy_command=(str(ROOT / "hub_config" / "node_modules" / ".bin" / "configurable-http-proxy"),),
)
apply(c, prepare(settings))  # type: ignore[name-defined]  # noqa: F821  (c is given by JupyterHub)
