"""JupyterHub configuration for one machine (the embedded default).

Everything is decided by ``omsorgslyft.hub.settings.apply``; this file only says where the
project is. Run from the project root:  .venv/bin/jupyterhub -f hub_config/jupyterhub_config.py
"""

from pathlib import Path

from omsorgslyft.hub.settings import HubSettings, apply

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "var"
DATA.mkdir(exist_ok=True)

settings = HubSettings(
    project_root=ROOT,
    data_dir=DATA,
    proxy_command=(str(ROOT / "hub_config" / "node_modules" / ".bin" / "configurable-http-proxy"),),
)
apply(c, settings)  # type: ignore[name-defined]  # noqa: F821  (c is given by JupyterHub)
