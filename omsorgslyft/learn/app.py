"""The learn service: Voilà's standalone app, behind the hub's OAuth, for every learner.

One process serves all learners. Voilà's standalone app only lets comm messages through
to kernels, so a learner cannot execute code. On top of Voilà this adds:

* identity from the hub (JupyterHub's own ``JupyterHubIdentityProvider``): the user of
  every request comes from the hub, never from the browser;
* an authorizer that lets a user reach only kernels started for them;
* a prelaunch hook that gives each page's kernel a capability token for its learner,
  module and version, so the kernel can load and save answers through this service;
* Mina utbildningar, the answer API for kernels, submission to grading, certificates.

Run by the hub as a managed service: ``python -m omsorgslyft.learn``.
"""

from __future__ import annotations

import contextvars
import os
import sys
from pathlib import Path
from typing import Any

from jupyter_server.auth.authorizer import Authorizer
from jupyter_server.utils import url_path_join
from jupyterhub.singleuser.extension import JupyterHubIdentityProvider
from tornado import web
from traitlets import Float, Integer, Unicode, default
from voila.app import Voila
from voila.shutdown_kernel_handler import VoilaShutdownKernelHandler
from voila.tornado.treehandler import TornadoVoilaTreeHandler

from omsorgslyft.learn.catalog import Catalog
from omsorgslyft.learn.grading_client import GradingClient, ServiceClient
from omsorgslyft.learn.store import AnswerStore

TEMPLATES = Path(__file__).parent / "templates"

#: the learner a kernel is being started for (set in the prelaunch hook, read when the
#: kernel manager starts the kernel, within the same request's task)
_starting_for: contextvars.ContextVar[str] = contextvars.ContextVar("starting_for")
KERNEL_OWNERS: dict[str, str] = {}


def _kernel_id(handler: web.RequestHandler) -> str | None:
    kernel_id = handler.path_kwargs.get("kernel_id")
    if kernel_id is None and handler.path_args:
        kernel_id = handler.path_args[0]
    return kernel_id


class OwnKernelsAuthorizer(Authorizer):
    """A user may use only the kernels started for their own pages."""

    def is_authorized(
        self, handler: web.RequestHandler, user: Any, action: str, resource: str
    ) -> bool:
        if resource != "kernels":
            return user is not None
        kernel_id = _kernel_id(handler)
        return (
            kernel_id is not None
            and user is not None
            and KERNEL_OWNERS.get(kernel_id) == user.username
        )


class OwnKernelShutdownHandler(VoilaShutdownKernelHandler):  # type: ignore[misc]
    async def post(self, kernel_id: str) -> None:
        user = self.current_user
        if user is None or KERNEL_OWNERS.get(kernel_id) != user.username:
            raise web.HTTPError(403)
        await super().post(kernel_id)


def _track_owner(manager_class: type) -> type:
    """Wrap Voilà's kernel manager so every kernel is recorded with its learner."""

    class OwnerTrackingKernelManager(manager_class):  # type: ignore[misc]
        async def start_kernel(self, *args: Any, **kwargs: Any) -> str:
            kernel_id: str = await super().start_kernel(*args, **kwargs)
            learner = _starting_for.get(None)
            if learner:
                KERNEL_OWNERS[kernel_id] = learner
            return kernel_id

        async def shutdown_kernel(self, kernel_id: str, *args: Any, **kwargs: Any) -> None:
            await super().shutdown_kernel(kernel_id, *args, **kwargs)
            KERNEL_OWNERS.pop(kernel_id, None)

    return OwnerTrackingKernelManager


def _raise_open_file_limits() -> None:
    """One process holds every learner's kernel channels: lift the file and ZMQ socket caps."""
    import resource

    import zmq

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = 65536 if hard == resource.RLIM_INFINITY else hard
    if soft != resource.RLIM_INFINITY and soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
    zmq.Context.instance().set(zmq.MAX_SOCKETS, 65536)


class LearnApp(Voila):  # type: ignore[misc]
    name = "omsorgslyft-learn"
    description = "Omsorgslyft learn service (Voilà behind JupyterHub)"

    release_dir = Unicode(help="Folder of released module notebooks (grading/release).").tag(
        config=True
    )
    courses_dir = Unicode("", help="Folder of course definitions (courses/).").tag(config=True)
    store_url = Unicode(help="SQLAlchemy URL of the answer store.").tag(config=True)
    grading_url = Unicode(
        "http://127.0.0.1:8102/services/grading/", help="Base URL of the grading service API."
    ).tag(config=True)
    records_url = Unicode(
        "",
        help="Base URL of the records service API (Mina utbildningar shows the learner's own "
        "competence records from it). Empty: show the modules' own status only.",
    ).tag(config=True)
    internal_url = Unicode(
        "", help="How kernels on this machine reach this service (default: loopback and our port)."
    ).tag(config=True)
    kernel_idle_minutes = Float(
        10.0, help="Cull a module page's kernel after this many idle minutes."
    ).tag(config=True)
    kernel_cull_interval = Integer(60, help="Seconds between checks for idle kernels.").tag(
        config=True
    )
    submit_timeout = Integer(30, help="Seconds to wait for the grading service.").tag(config=True)

    @property
    def hub_home_url(self) -> str:
        return str(url_path_join(os.environ.get("JUPYTERHUB_BASE_URL", "/"), "hub/"))

    @default("internal_url")
    def _internal_url(self) -> str:
        return f"http://127.0.0.1:{self.port}{self.base_url}"

    def initialize(self, argv: list[str] | None = None) -> None:
        _raise_open_file_limits()
        self.config.VoilaConfiguration.template = "lab"
        self.config.VoilaConfiguration.show_tracebacks = False
        self.config.VoilaConfiguration.file_allowlist = []
        # only the widget manager: no nbgrader or notebook front-end extensions for learners
        self.config.VoilaConfiguration.extension_denylist = [
            "@jupyter/nbgrader",
            "@jupyter-notebook/lab-extension",
            "@voila-dashboards/jupyterlab-preview",
        ]
        self.config.HTMLExporter.language_code = "sv"
        self.config.VoilaExporter.language_code = "sv"
        super().initialize(argv)
        # instance traits (config set above only reaches objects created later)
        self.identity_provider_class = JupyterHubIdentityProvider
        self.authorizer_class = OwnKernelsAuthorizer
        self.token = None
        prefix = os.environ.get("JUPYTERHUB_SERVICE_PREFIX")
        if prefix:
            self.base_url = prefix
        url = os.environ.get("JUPYTERHUB_SERVICE_URL")
        if url:
            self.port = int(url.rsplit(":", 1)[1].split("/")[0])
            self.ip = "127.0.0.1"
        self.root_dir = str(Path(self.release_dir).resolve())
        self.notebook_path = ""
        self.voila_configuration.prelaunch_hook = self.prelaunch_hook
        self.voila_configuration.multi_kernel_manager_class = _track_owner(
            self.voila_configuration.multi_kernel_manager_class
        )
        idle = max(1, int(self.kernel_idle_minutes * 60))
        self.config.MappingKernelManager.cull_interval = self.kernel_cull_interval
        self.config.AsyncMappingKernelManager.cull_interval = self.kernel_cull_interval
        self.config.MappingKernelManager.cull_idle_timeout = idle
        self.config.AsyncMappingKernelManager.cull_idle_timeout = idle
        self.config.AsyncMappingKernelManager.cull_connected = False
        self.store = AnswerStore(self.store_url)
        self.catalog = Catalog(
            Path(self.release_dir), Path(self.courses_dir) if self.courses_dir else None
        )
        self.grading = GradingClient(
            self.grading_url, os.environ.get("JUPYTERHUB_API_TOKEN", ""), self.submit_timeout
        )
        self.records: ServiceClient | None = None
        if self.records_url:
            self.records = ServiceClient(
                self.records_url,
                os.environ.get("JUPYTERHUB_API_TOKEN", ""),
                timeout=5,
                name="Kompetensregistret",
            )
        # modules whose pass is due for renewal, per learner (from the records service)
        self.renewals: dict[str, set[str]] = {}

    def setup_template_dirs(self) -> None:
        super().setup_template_dirs()
        self.template_paths.insert(0, str(TEMPLATES))
        self.template_paths.insert(0, str(TEMPLATES / "omsorgslyft"))

    def prelaunch_hook(self, req_handler: Any, notebook: Any, cwd: str) -> None:
        """Bind the page's kernel to the learner: a capability token in the start cell."""
        user = req_handler.current_user
        if user is None:
            raise web.HTTPError(403)
        meta = notebook.metadata.get("omsorgslyft", {})
        module_id, version = meta.get("module"), meta.get("version")
        if not module_id or self.catalog.get(module_id) is None:
            raise web.HTTPError(404)
        token = self.store.open_session(user.username, module_id, int(version))
        start = notebook.cells[0]
        start.source += f"\nol.connect({self.internal_url!r}, {token!r}, {self.base_url!r})"
        _starting_for.set(user.username)

    def init_settings(self) -> dict[str, Any]:
        settings: dict[str, Any] = super().init_settings()
        settings["omsorgslyft"] = self
        # every kernel's channels share this context: its default cap of 1023 sockets
        # would stop the service at about 200 open module pages
        import zmq

        self.kernel_manager.context.set(zmq.MAX_SOCKETS, 65536)
        return settings

    def init_handlers(self) -> list[Any]:
        from omsorgslyft.learn import handlers as h

        base = self.base_url
        voila_handlers = []
        for spec in super().init_handlers():
            pattern, handler = spec[0], spec[1]
            if handler is TornadoVoilaTreeHandler or handler.__name__ == "VoilaContentsHandler":
                continue  # no directory listing or contents API for learners
            if handler is VoilaShutdownKernelHandler:
                spec = (pattern, OwnKernelShutdownHandler, *spec[2:])
            if pattern in ("/logout", "/oauth_callback"):
                spec = (url_path_join(base, pattern), *spec[1:])
            voila_handlers.append(spec)
        ours = [
            (base, h.HomeHandler),
            (url_path_join(base, r"modul/([a-z0-9-]+)"), h.ModuleRedirectHandler),
            (url_path_join(base, r"intyg/([a-z0-9-]+)\.pdf"), h.CertificateHandler),
            (url_path_join(base, r"api/mina"), h.MyTrainingHandler),
            (url_path_join(base, r"api/page/(load|save|submit)"), h.PageApiHandler),
        ]
        return ours + voila_handlers


def main(argv: list[str] | None = None) -> None:
    LearnApp.launch_instance(argv if argv is not None else sys.argv[1:])


if __name__ == "__main__":
    main()
