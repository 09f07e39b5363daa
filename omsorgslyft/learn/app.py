"""The learn service: Voilà's standalone app, behind the hub's OAuth, for every learner.

One process serves all learners. Voilà's standalone app only lets comm messages through
to kernels, so a learner cannot execute code. On top of Voilà this adds:

* identity from the hub (JupyterHub's own ``JupyterHubIdentityProvider``): the user of
  every request comes from the hub, never from the browser;
* an authorizer that lets a user reach only kernels started for them;
* a prelaunch hook that gives each page's kernel a capability token for its learner,
  module and version, so the kernel can load and save answers through this service;
* preheated pages (``omsorgslyft.learn.preheat``): kernels started and notebooks run
  before anyone opens a module, each bound to the learner it is handed to (the kernel
  asks for its learner's token with a request signed by its connection key);
* Mina utbildningar, the answer API for kernels, submission to grading, certificates;
* limits (``omsorgslyft.learn.kernels``): kernels get a minimal environment, talk over
  unix sockets in a private runtime dir, at most a few per learner; small request bodies
  and websocket messages; page tokens that expire; a Content-Security-Policy
  (``omsorgslyft.learn.security``).

Run by the hub as a managed service: ``python -m omsorgslyft.learn``.
"""

from __future__ import annotations

import ctypes
import os
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path
from typing import Any

import tornado.web
from jupyter_core.paths import jupyter_runtime_dir
from jupyter_server.auth.authorizer import Authorizer
from jupyter_server.utils import url_path_join
from jupyterhub.singleuser.extension import JupyterHubIdentityProvider
from tornado import web
from tornado.ioloop import IOLoop, PeriodicCallback
from traitlets import CaselessStrEnum, Float, Integer, Unicode, default
from voila.app import Voila
from voila.shutdown_kernel_handler import VoilaShutdownKernelHandler
from voila.tornado.handler import TornadoVoilaHandler
from voila.tornado.kernel_websocket_handler import VoilaKernelWebsocketHandler
from voila.tornado.treehandler import TornadoVoilaTreeHandler

from omsorgslyft import lifeline
from omsorgslyft.learn import handlers as h
from omsorgslyft.learn import page_api, static
from omsorgslyft.learn.catalog import Catalog
from omsorgslyft.learn.grading_client import GradingClient, ServiceClient
from omsorgslyft.learn.kernels import (
    STARTING,
    LearnerKernels,
    RuntimeDirError,
    Starting,
    check_runtime_dir,
    check_socket_room,
    learner_kernel_manager,
)
from omsorgslyft.learn.kernelspec import PageKernelSpecs
from omsorgslyft.learn.preheat import KernelPool, make_renderer
from omsorgslyft.learn.security import BASE_POLICY
from omsorgslyft.learn.store import AnswerStore

TEMPLATES = Path(__file__).parent / "templates"

#: how often every learner's spent and expired page sessions are removed (each
#: learner's own also go whenever they open a page)
PRUNE_SECONDS = 15 * 60


def _kernel_id(handler: web.RequestHandler) -> str | None:
    kernel_id = handler.path_kwargs.get("kernel_id")
    if kernel_id is None and handler.path_args:
        kernel_id = handler.path_args[0]
    return kernel_id


def _owner(handler: web.RequestHandler, kernel_id: str) -> str | None:
    manager = handler.settings.get("kernel_manager")
    return manager.owners.owner(kernel_id) if isinstance(manager, LearnerKernels) else None


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
            and _owner(handler, kernel_id) == user.username
        )


class OwnKernelShutdownHandler(VoilaShutdownKernelHandler):  # type: ignore[misc]
    async def post(self, kernel_id: str) -> None:
        user = self.current_user
        if user is None or _owner(self, kernel_id) != user.username:
            raise web.HTTPError(403)
        await super().post(kernel_id)


class _WebApp(tornado.web.Application):
    """Tornado's application, its HTTP server refusing bodies over ``max_body_size``
    (a setting) before they are read."""

    def listen(self, port: int, address: str | None = None, **kwargs: Any) -> Any:
        kwargs.setdefault("max_body_size", self.settings["max_body_size"])
        return super().listen(port, address or "", **kwargs)


def _not_dumpable() -> None:
    """Kernels run as this service's user: keep them from reading its memory and its
    environment (/proc/<pid>/environ holds the hub token) through /proc or ptrace."""
    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(4, 0, 0, 0, 0)  # PR_SET_DUMPABLE, 0
    except (OSError, AttributeError):
        pass


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
    open_page_idle_minutes = Float(
        30.0,
        help="Cull the kernel of a module page that is still open in a browser after this "
        "many idle minutes (the learner reloads the page to go on; every answer is saved). "
        "0: never cull a kernel whose page is open.",
    ).tag(config=True)
    max_kernels_per_learner = Integer(
        3,
        help="At most this many module page kernels per learner: opening one more page stops "
        "the learner's oldest first. 0: no limit.",
    ).tag(config=True)
    runtime_dir = Unicode(
        help="Folder for kernels' connection files and IPC sockets (default: Jupyter's "
        "runtime dir, JUPYTER_RUNTIME_DIR). Created with mode 0700 if missing; refused if "
        "group or others may use it."
    ).tag(config=True)
    max_body_size = Integer(
        1024 * 1024,
        help="Largest request body the service accepts, in bytes (larger ones are refused "
        "before they are read). The page API accepts at most 64 KiB.",
    ).tag(config=True)
    websocket_max_message_size = Integer(
        256 * 1024,
        help="Largest message a browser may send on a kernel's websocket, in bytes (a larger "
        "one closes the connection; the kernel is not affected).",
    ).tag(config=True)
    page_session_hours = Float(
        12.0,
        help="A module page's token (its kernel's access to the learner's answers) is valid "
        "this many hours after the page was opened; then the page must be reloaded. 0: until "
        "the page's kernel stops.",
    ).tag(config=True)
    cookie_samesite = CaselessStrEnum(
        ["Lax", "Strict"], "Lax", help="SameSite attribute of the service's cookies."
    ).tag(config=True)
    submit_timeout = Integer(30, help="Seconds to wait for the grading service.").tag(config=True)
    store_threads = Integer(
        4,
        help="Threads for the page API's database work (each page's token check, attempt and "
        "saved answer), so that the event loop relays every page's widget messages while one "
        "answer is committed. At least 1; each holds at most one database connection.",
    ).tag(config=True)
    pool_size = Integer(
        2,
        help="Preheated module pages kept waiting, in all (each a kernel that has run its "
        "module's notebook, about 55 MB): a learner who opens a module gets one at once, "
        "bound to them when it is handed out. Shared among the modules by recent demand; "
        "refilled one at a time. 0: start a kernel for every page. (Voilà's own "
        "--preheat_kernel/--pool_size are not used.)",
    ).tag(config=True)
    shards = Integer(
        1,
        help="Learn processes in all (omsorgslyft.learn.shards): each is a hub service of its "
        "own (learn, learn-1, ...) and serves the learners the stable mapping gives it; a "
        "page asked of the wrong one is sent to the learner's own. 1: one process serves all.",
    ).tag(config=True)
    shard = Integer(0, help="This process's shard, 0 .. shards - 1.").tag(config=True)
    pool_refill_delay = Float(
        3.0,
        help="Refill the pool, one kernel at a time, once no learner has asked for a page "
        "for this many seconds (preheating never competes with a learner's own kernel "
        "start; while learners keep opening pages, pages start their own kernels).",
    ).tag(config=True)

    @property
    def hub_home_url(self) -> str:
        return str(url_path_join(os.environ.get("JUPYTERHUB_BASE_URL", "/"), "hub/"))

    @default("internal_url")
    def _internal_url(self) -> str:
        return f"http://127.0.0.1:{self.port}{self.base_url}"

    @default("runtime_dir")
    def _runtime_dir(self) -> str:
        return str(jupyter_runtime_dir())

    def initialize(self, argv: list[str] | None = None) -> None:
        _not_dumpable()
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
        # every page's kernel is the lean page kernel (no debugger, no history)
        self.config.VoilaConfiguration.kernel_spec_manager_class = PageKernelSpecs
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
            # the hub routes to this port alone: another would serve nobody
            self.port_retries = 0
        if not 0 <= self.shard < max(self.shards, 1):
            raise ValueError(f"--LearnApp.shard={self.shard} is not one of 0 .. {self.shards - 1}")
        self.root_dir = str(Path(self.release_dir).resolve())
        self.notebook_path = ""
        self.voila_configuration.prelaunch_hook = self.prelaunch_hook
        # our pool (pool_size) preheats; Voilà's cannot bind a kernel to its learner
        self.voila_configuration.preheat_kernel = False
        self.pool: KernelPool | None = None
        self.voila_configuration.multi_kernel_manager_class = learner_kernel_manager(
            self.voila_configuration.multi_kernel_manager_class
        )
        idle = max(1, int(self.kernel_idle_minutes * 60))
        self.config.MappingKernelManager.cull_interval = self.kernel_cull_interval
        self.config.AsyncMappingKernelManager.cull_interval = self.kernel_cull_interval
        self.config.MappingKernelManager.cull_idle_timeout = idle
        self.config.AsyncMappingKernelManager.cull_idle_timeout = idle
        # LearnerKernels.cull_kernel_if_idle keeps open pages' kernels open_page_idle_minutes
        self.config.MappingKernelManager.cull_connected = True
        self.config.AsyncMappingKernelManager.cull_connected = True
        # kernels' channels are unix sockets next to their connection files
        self.config.KernelManager.transport = "ipc"
        try:
            self.connection_dir_root = str(check_runtime_dir(self.runtime_dir))
        except (RuntimeDirError, OSError) as exc:
            self.log.critical("Cannot use the runtime dir: %s", exc)
            self.exit(1)
        lifetime = self.page_session_hours
        self.store = AnswerStore(
            self.store_url,
            session_lifetime=timedelta(hours=lifetime) if lifetime > 0 else None,
        )
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
        self.store_pool = ThreadPoolExecutor(
            max_workers=max(1, self.store_threads), thread_name_prefix="store"
        )

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
        if not module_id or "variant" in meta or self.catalog.get(module_id) is None:
            raise web.HTTPError(404)  # only module pages: never a variant's nbgrader notebook
        token = self.store.open_session(user.username, module_id, int(version))
        start = notebook.cells[0]
        start.source += f"\nol.connect({self.internal_url!r}, {token!r}, {self.base_url!r})"
        # the template puts it on every inline script (ModulePageHandler's policy)
        meta["csp_nonce"] = getattr(req_handler, "csp_nonce", "")
        STARTING.set(Starting(user.username, token))

    def init_settings(self) -> dict[str, Any]:
        # Voilà's bundle from a versioned path, only the widget manager's lab extensions
        self.static_version = static.bundle_version(self.static_paths)
        self.voila_configuration.page_config_hook = static.page_config_hook(
            self.static_version, self.voila_configuration.page_config_hook
        )
        settings: dict[str, Any] = super().init_settings()
        settings["compress_response"] = True  # gzip for every text response
        # and permessage-deflate on kernel websockets (widget states: ~280 kB a page)
        settings["websocket_compression_options"] = static.WEBSOCKET_COMPRESSION
        service: h.LearnService = self
        settings["omsorgslyft"] = service
        # nothing to run, frame or load unless a handler says so (the pages do)
        settings["headers"] = {"Content-Security-Policy": BASE_POLICY}
        settings["websocket_max_message_size"] = self.websocket_max_message_size
        settings["xsrf_cookie_kwargs"] = {"samesite": self.cookie_samesite}
        hub_auth = self.identity_provider.hub_auth
        hub_auth.cookie_options = {**hub_auth.cookie_options, "samesite": self.cookie_samesite}
        manager = self.kernel_manager
        manager.max_per_learner = self.max_kernels_per_learner
        manager.open_page_idle_seconds = self.open_page_idle_minutes * 60
        manager.on_session_end = self.store.end_session
        # every kernel's channels share this context: its default cap of 1023 sockets
        # would stop the service at about 200 open module pages
        import zmq

        manager.context.set(zmq.MAX_SOCKETS, 65536)
        return settings

    def start(self) -> None:
        """Voilà's ``start``, with our HTTP server options and the page sessions' pruning."""
        self.connection_dir = tempfile.mkdtemp(prefix="voila_", dir=self.connection_dir_root)
        try:
            check_socket_room(self.connection_dir)
        except RuntimeDirError as exc:
            os.rmdir(self.connection_dir)
            self.log.critical("%s", exc)
            self.exit(1)
        self.log.info("Storing connection files and kernel sockets in %s.", self.connection_dir)
        settings = self.init_settings()
        self.app = _WebApp(**settings, max_body_size=self.max_body_size)
        self.app.settings.update(self.tornado_settings)
        self.app.add_handlers(".*$", self.init_handlers())
        self.store.prune()
        PeriodicCallback(self.store.prune, PRUNE_SECONDS * 1000).start()
        if self.pool_size > 0:
            self.pool = KernelPool(
                self.kernel_manager,
                self.catalog,
                self.store,
                lambda notebook: make_renderer(self, notebook),
                size=self.pool_size,
                refill_delay=self.pool_refill_delay,
                api_url=self.internal_url,
                base_url=self.base_url,
                kernel_env={
                    "VOILA_BASE_URL": self.base_url,
                    "VOILA_SERVER_URL": self.server_url,
                    "VOILA_APP_PORT": str(self.port),
                },
                log=self.log,
            )
            IOLoop.current().add_callback(self.pool.start)
        lifeline.watch_hub(self.log)
        self.listen()

    def init_handlers(self) -> list[Any]:
        base = self.base_url
        voila_handlers = []
        for spec in super().init_handlers():
            pattern, handler = spec[0], spec[1]
            if handler is TornadoVoilaTreeHandler or handler.__name__ == "VoilaContentsHandler":
                continue  # no directory listing or contents API for learners
            if handler is VoilaShutdownKernelHandler:
                spec = (pattern, OwnKernelShutdownHandler, *spec[2:])
            if handler is TornadoVoilaHandler:
                spec = (pattern, h.ModulePageHandler, *spec[2:])
            if handler is VoilaKernelWebsocketHandler:
                spec = (pattern, h.PageSocketHandler, *spec[2:])
            spec = static.cached(spec, self.static_version)  # long-lived caching
            if pattern in ("/logout", "/oauth_callback"):
                spec = (url_path_join(base, pattern), *spec[1:])
            voila_handlers.append(spec)
        ours = [
            (base, h.HomeHandler),
            (url_path_join(base, r"modul/([a-z0-9-]+)"), h.ModuleRedirectHandler),
            (url_path_join(base, r"intyg/([a-z0-9-]+)\.pdf"), h.CertificateHandler),
            (url_path_join(base, r"api/mina"), h.MyTrainingHandler),
            (url_path_join(base, r"api/page/(load|save|submit|attempt)"), page_api.PageApiHandler),
            (url_path_join(base, r"api/page/bind"), page_api.PageBindHandler),
        ]
        return ours + voila_handlers


def main(argv: list[str] | None = None) -> None:
    LearnApp.launch_instance(argv if argv is not None else sys.argv[1:])


if __name__ == "__main__":
    main()
