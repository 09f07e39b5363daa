"""Hub settings and the pure function that turns them into JupyterHub configuration.

``apply(c, settings)`` only writes into the traitlets ``Config`` it is given: no I/O, no
environment, no processes. ``hub_config/jupyterhub_config.py`` calls it on one machine; on
Kubernetes the same call goes in ``hub.extraConfig``.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from traitlets.config import Config

from omsorgslyft.hub.gate import RosterGate
from omsorgslyft.hub.roles import (
    HR,
    HR_SCOPE,
    OWN_RECORDS_SCOPE,
    OWN_ROLES_SCOPE,
    STATS_SCOPE,
    SUBMIT_SCOPE,
    TRAINERS,
    Landing,
    static_roles,
)
from omsorgslyft.hub.users import SystemUsers
from omsorgslyft.learn.shards import service_name, service_names
from omsorgslyft.paths import Layout

Login = Literal["demo", "entra", "ldap"]


@dataclass(frozen=True)
class DemoUser:
    name: str
    groups: tuple[str, ...] = ()


# units and roles (groups "enhet:…", "befattning:…") come from the roster, not from here
DEMO_USERS = (
    DemoUser("anna"),
    DemoUser("bengt"),
    DemoUser("cecilia"),
    DemoUser("david"),
    DemoUser("tove", (TRAINERS,)),
    DemoUser("hanna", (HR,)),
)


@dataclass(frozen=True)
class EntraSettings:
    """Microsoft Entra ID (Azure AD) through oauthenticator."""

    tenant_id: str
    client_id: str
    client_secret: str
    callback_url: str
    allowed_groups: tuple[str, ...] = ()
    admin_groups: tuple[str, ...] = ()


@dataclass(frozen=True)
class LdapSettings:
    server_address: str
    bind_dn_template: tuple[str, ...]
    use_ssl: bool = True
    allowed_groups: tuple[str, ...] = ()


@dataclass(frozen=True)
class ExternalService:
    """A service the hub does not start (on Kubernetes its own Deployment, docs/kubernetes.md):
    the hub and the proxy reach it at ``url``, and it authenticates to the hub with
    ``api_token`` (from a Kubernetes Secret, at least 8 characters)."""

    name: str  # "learn", "grading" or "records"
    url: str
    api_token: str


@dataclass(frozen=True)
class HubSettings:
    project_root: Path
    data_dir: Path
    ip: str = "127.0.0.1"
    port: int = 8000
    hub_port: int = 8081
    learn_port: int = 8101
    #: learn processes (omsorgslyft.learn.shards): the hub services learn, learn-1, ...,
    #: each serving the learners a stable mapping gives it, all on one answer store (use
    #: PostgreSQL for more than one); shard k > 0 listens on ``learn_shard_ports[k - 1]``,
    #: by default ``learn_port + 10 * k``
    learn_shards: int = 1
    learn_shard_ports: tuple[int, ...] = ()
    grading_port: int = 8102
    login: Login = "demo"
    demo_password: str = "omsorg-demo-2026"
    demo_admin_password: str = "omsorg-demo-admin-2026-endast-lokalt"
    demo_users: tuple[DemoUser, ...] = DEMO_USERS
    admin_users: tuple[str, ...] = ("admin",)
    hub_db_url: str = ""
    records_port: int = 8103
    store_url: str = ""  # the learn service's answer store
    submissions_url: str = ""  # the grading service's submission log
    gradebook_url: str = ""  # nbgrader's gradebook
    records_url: str = ""  # roster, module versions, import log
    retention_months: int = 24
    python: str = field(default_factory=lambda: sys.executable)
    proxy_command: tuple[str, ...] = ()
    entra: EntraSettings | None = None
    ldap: LdapSettings | None = None
    kernel_idle_minutes: float = 10.0
    kernel_cull_interval: int = 60
    #: set by ``omsorgslyft.hub.isolation.prepare`` as root: each service, the proxy and
    #: each trainer's server runs as its own system user (None: all as the hub's user)
    system_users: SystemUsers | None = None
    #: login throttling for password logins (demo, LDAP; Entra ID throttles at the IdP):
    #: failed logins per username and per client address within the moving window before
    #: logins are refused (HTTP 429, a Swedish message on the login page); 0 turns one off
    #: grading: autograde worker processes, and kernels each keeps started for the next
    #: submissions (single-use; about 60 MB each)
    grading_workers: int = 2
    grading_prestart: int = 5
    #: grading's CPU priority as nice(1)'s (0-19), for the service, its workers and their
    #: kernels: on a full machine the pages' saves go first and a result waits a little
    #: (omsorgslyft.priority); 0: the same priority as the pages
    grading_nice: int = 10
    #: grading on a shared queue (docs/operators.md, "Grading workers on other hosts"):
    #: the broker's URL (``amqp://user:password@host:5672/vhost``); the grading service then
    #: only accepts and queues, and grading workers (``python -m omsorgslyft.grading.worker``)
    #: on any host grade; needs ``submissions_url`` (and ``gradebook_url``) on PostgreSQL.
    #: Empty (the default): the service grades in its own ``grading_workers`` processes
    grading_queue: str = ""
    #: the queue's name at the broker (the workers' ``--queue-name``): one per platform
    #: when several share a broker
    grading_queue_name: str = "omsorgslyft-grading"
    login_max_user_failures: int = 5
    login_max_address_failures: int = 20
    login_throttle_minutes: int = 15
    #: seconds the hub waits for each service to answer after starting it
    service_start_timeout: int = 120
    #: the address people reach the platform at (links in e-mails, the QR code on a
    #: certificate); empty: ``http://<ip>:<port>``
    public_url: str = ""
    #: reminders by e-mail (docs/paminnelser.md), sent by the records service once a day
    #: from ``reminder_hour`` (local time) when ``reminders`` is on, through the SMTP relay
    #: ``smtp_host``:``smtp_port`` (STARTTLS with the relay's certificate verified, unless
    #: ``smtp_starttls`` is off), as ``smtp_sender`` (``"Omsorgslyft <noreply@…>"``); with
    #: ``smtp_username`` the password comes from ``smtp_password_file`` (readable by the
    #: records service only) or OMSORGSLYFT_SMTP_PASSWORD in its environment, never from here
    reminders: bool = False
    smtp_host: str = ""
    smtp_port: int = 587
    smtp_starttls: bool = True
    smtp_username: str = ""
    smtp_password_file: str = ""
    smtp_sender: str = ""
    #: days before "Klar senast", and before "Giltig till", that an employee is reminded
    #: (0: no such reminder); overdue and expired reminders go out at most once a week
    reminder_due_days: int = 14
    reminder_expiry_days: int = 30
    reminder_hour: int = 7
    #: the managers' weekly digest: ISO weekday, 1 Monday … 7 Sunday (0: no digest)
    reminder_digest_weekday: int = 1
    #: services the hub does not start but only routes to (Kubernetes: each its own
    #: Deployment with its own command line, docs/kubernetes.md); the others the hub starts
    external_services: tuple[ExternalService, ...] = ()

    @property
    def layout(self) -> Layout:
        return Layout(self.data_dir, self.project_root)

    @property
    def public_base(self) -> str:
        return (self.public_url or f"http://{self.ip}:{self.port}").rstrip("/")

    @property
    def grading_dir(self) -> Path:
        return self.project_root / "grading"

    @property
    def bin_dir(self) -> Path:
        return Path(self.python).parent


def _sqlite(path: Path) -> str:
    return f"sqlite:///{path}"


def records_url(s: HubSettings) -> str:
    return s.records_url or _sqlite(s.layout.records_db)


def _login(c: Config, s: HubSettings) -> None:
    throttle = "omsorgslyft.hub.throttle"  # the throttled authenticators (LoginThrottle)
    if s.login == "demo":
        c.JupyterHub.authenticator_class = f"{throttle}.ThrottledSharedPasswordAuthenticator"
        c.SharedPasswordAuthenticator.user_password = s.demo_password
        c.SharedPasswordAuthenticator.admin_password = s.demo_admin_password
        # one shared password: every name in the roster, and the demo's own names (the
        # roster gate refuses any other)
        c.Authenticator.allow_all = True
    elif s.login == "entra":
        if s.entra is None:
            raise ValueError("login = entra needs EntraSettings")
        c.JupyterHub.authenticator_class = "azuread"
        c.AzureAdOAuthenticator.tenant_id = s.entra.tenant_id
        c.AzureAdOAuthenticator.client_id = s.entra.client_id
        c.AzureAdOAuthenticator.client_secret = s.entra.client_secret
        c.AzureAdOAuthenticator.oauth_callback_url = s.entra.callback_url
        c.AzureAdOAuthenticator.scope = ["openid", "email", "profile"]
        c.AzureAdOAuthenticator.username_claim = "preferred_username"
        c.AzureAdOAuthenticator.manage_groups = True
        c.AzureAdOAuthenticator.auth_state_groups_key = "user.groups"
        if s.entra.allowed_groups:
            c.AzureAdOAuthenticator.allowed_groups = set(s.entra.allowed_groups)
        else:
            c.AzureAdOAuthenticator.allow_all = True
        if s.entra.admin_groups:
            c.AzureAdOAuthenticator.admin_groups = set(s.entra.admin_groups)
        c.Authenticator.enable_auth_state = True
    elif s.login == "ldap":
        if s.ldap is None:
            raise ValueError("login = ldap needs LdapSettings")
        c.JupyterHub.authenticator_class = f"{throttle}.ThrottledLDAPAuthenticator"
        c.LDAPAuthenticator.server_address = s.ldap.server_address
        c.LDAPAuthenticator.bind_dn_template = list(s.ldap.bind_dn_template)
        c.LDAPAuthenticator.tls_strategy = "on_connect" if s.ldap.use_ssl else "before_bind"
        if s.ldap.allowed_groups:
            c.LDAPAuthenticator.allowed_groups = list(s.ldap.allowed_groups)
        else:
            c.Authenticator.allow_all = True
    else:  # pragma: no cover - Literal type
        raise ValueError(s.login)
    c.Authenticator.admin_users = set(s.admin_users)
    # password logins (demo, LDAP) are throttled per user and per client address; Entra ID
    # posts no password to the hub (the IdP throttles guessing there)
    c.LoginThrottle.max_user_failures = s.login_max_user_failures
    c.LoginThrottle.max_address_failures = s.login_max_address_failures
    c.LoginThrottle.window_minutes = s.login_throttle_minutes
    # people who have left (per the roster) cannot log in; their records are kept
    c.Authenticator.post_auth_hook = RosterGate(
        records_url(s),
        closed=s.login == "demo",
        open_to=[*(u.name for u in s.demo_users), *s.admin_users],
    )


def _roles(c: Config, s: HubSettings) -> None:
    c.JupyterHub.custom_scopes = {
        SUBMIT_SCOPE: {
            "description": "Lämna in kunskapskontroller för deltagares räkning (learn-tjänsten)."
        },
        HR_SCOPE: {
            "description": "Se och exportera kompetensregistret (HR; enhetschefer med "
            "filtret !group=enhet:… för sina enheter)."
        },
        STATS_SCOPE: {"description": "Se frågestatistik för moduler (utbildare)."},
        OWN_RECORDS_SCOPE: {
            "description": "Läsa en medarbetares egna kompetensposter (learn-tjänsten)."
        },
    }
    c.JupyterHub.load_roles = [
        # people's roles: given at each login by the roster gate (manage_roles), which
        # also makes one "enhetschef-<unit>" role per unit a manager has in the roster
        *static_roles(learn_services=service_names(s.learn_shards)),
        {
            "name": "learn-service",
            "services": service_names(s.learn_shards),
            "scopes": [
                SUBMIT_SCOPE,
                OWN_RECORDS_SCOPE,
                "access:services!service=grading",
                "access:services!service=records",
                "read:users:groups",
            ],
        },
        {"name": "grading-service", "services": ["grading"], "scopes": ["read:users:name"]},
        {
            # units and roles from the roster become groups; leavers are logged out
            "name": "records-service",
            "services": ["records"],
            "scopes": ["admin:groups", "list:users", "read:users:name", "delete:users"],
        },
    ]
    c.Authenticator.manage_roles = True
    groups: dict[str, dict[str, Any]] = {}
    if s.login == "demo":
        for user in s.demo_users:
            for group in user.groups:
                groups.setdefault(group, {"users": []})["users"].append(user.name)
    groups.setdefault(TRAINERS, {"users": []})
    groups.setdefault(HR, {"users": []})
    if s.login != "entra":
        # with Entra ID the authenticator manages groups (manage_groups), and JupyterHub
        # refuses load_groups beside it: name the Entra groups "utbildare" and "hr"
        c.JupyterHub.load_groups = groups


def _services(c: Config, s: HubSettings) -> None:
    root = s.project_root
    store_url = s.store_url or _sqlite(s.layout.learn_db)
    shards = max(s.learn_shards, 1)
    services = [
        {
            "name": service_name(k),
            "url": f"http://127.0.0.1:{learn_port(s, k)}",
            "command": [
                s.python,
                "-m",
                "omsorgslyft.learn.app",
                f"--LearnApp.release_dir={s.grading_dir / 'release'}",
                f"--LearnApp.courses_dir={root / 'courses'}",
                f"--LearnApp.store_url={store_url}",
                f"--LearnApp.grading_url=http://127.0.0.1:{s.grading_port}/services/grading/",
                f"--LearnApp.records_url=http://127.0.0.1:{s.records_port}/services/records/",
                f"--LearnApp.kernel_idle_minutes={s.kernel_idle_minutes}",
                f"--LearnApp.kernel_cull_interval={s.kernel_cull_interval}",
                f"--LearnApp.shards={shards}",
                f"--LearnApp.shard={k}",
                "--no-browser",
            ],
            "oauth_no_confirm": True,
            # the person's own role names: the header shows the tools they may use
            "oauth_client_allowed_scopes": [OWN_ROLES_SCOPE],
            # the hub's home lists shard 0 only: it sends each learner to their own
            "display": k == 0,
            "info": {"sv": "Mina utbildningar"},
            # kernels' connection files and IPC sockets: the learn user's alone
            "environment": _environment(s, s.layout.learn_dir, s.layout.runtime_dir),
            **_run_as(s, "learn", s.layout.learn_dir),
        }
        for k in range(shards)
    ]
    services += [
        {
            "name": "grading",
            "url": f"http://127.0.0.1:{s.grading_port}",
            "command": [
                s.python,
                "-m",
                "omsorgslyft.grading.service",
                f"--course-dir={s.grading_dir}",
                f"--modules-dir={root / 'modules'}",
                *([f"--db-url={s.submissions_url}"] if s.submissions_url else []),
                *([f"--gradebook-url={s.gradebook_url}"] if s.gradebook_url else []),
                f"--workers={s.grading_workers}",
                f"--prestart={s.grading_prestart}",
                f"--nice={s.grading_nice}",
                *([f"--queue-name={s.grading_queue_name}"] if s.grading_queue else []),
            ],
            "display": False,
            "oauth_client_allowed_scopes": [],
            # the broker's URL (with its password) in the environment, not the command line
            "environment": _environment(s, s.layout.grading_state_dir)
            | ({"OMSORGSLYFT_GRADING_QUEUE": s.grading_queue} if s.grading_queue else {}),
            **_run_as(s, "grading", s.layout.grading_state_dir),
        },
        {
            "name": "records",
            "url": f"http://127.0.0.1:{s.records_port}",
            "command": [
                s.python,
                "-m",
                "omsorgslyft.records.service",
                f"--root={root}",
                f"--db-url={records_url(s)}",
                f"--submissions-url={s.submissions_url or _sqlite(s.grading_dir / 'submissions.db')}",
                f"--gradebook-url={s.gradebook_url or _sqlite(s.grading_dir / 'gradebook.db')}",
                f"--answers-url={store_url}",
                f"--retention-months={s.retention_months}",
                f"--public-url={s.public_base}",
                # e-mail reminders; the relay's password is never on this command line
                "--reminders" if s.reminders else "--no-reminders",
                f"--reminder-hour={s.reminder_hour}",
                f"--smtp-host={s.smtp_host}",
                f"--smtp-port={s.smtp_port}",
                "--smtp-starttls" if s.smtp_starttls else "--no-smtp-starttls",
                f"--smtp-username={s.smtp_username}",
                f"--smtp-password-file={s.smtp_password_file}",
                f"--smtp-sender={s.smtp_sender}",
                f"--reminder-due-days={s.reminder_due_days}",
                f"--reminder-expiry-days={s.reminder_expiry_days}",
                f"--reminder-digest-weekday={s.reminder_digest_weekday}",
                # never imported from a roster file, never logged out by the hub sync
                f"--reserved-users={','.join(sorted(s.admin_users))}",
            ],
            "oauth_no_confirm": True,
            # the records pages ask the hub for exactly these; a user's token gets the ones
            # the user holds
            "oauth_client_allowed_scopes": [HR_SCOPE, STATS_SCOPE, OWN_ROLES_SCOPE],
            "display": True,
            "info": {"sv": "Kompetensregister"},
            "environment": _environment(s, s.layout.records_dir),
            **_run_as(s, "records", s.layout.records_dir),
        },
    ]
    for service in services:
        # grading starts its workers and their kernels before it listens: on a busy
        # machine that takes longer than the hub's default 30 s
        service["timeout"] = s.service_start_timeout
    external = {e.name: e for e in s.external_services}
    unknown = set(external) - {service["name"] for service in services}
    learn = set(service_names(shards))
    if unknown:
        raise ValueError(
            f"no such service: {', '.join(sorted(unknown))} (the learn services of "
            f"learn_shards={shards}: {', '.join(service_names(shards))})"
        )
    if learn & set(external) and not learn <= set(external):
        # one learn service in processes of both kinds: the hub would start a shard where
        # there is no course (a Kubernetes hub pod) and route the others elsewhere
        raise ValueError(
            "the learn shards are all external or all started by the hub: "
            f"{', '.join(sorted(learn - set(external)))} is not external"
        )
    out: list[dict[str, Any]] = []
    for service in services:
        ext = external.get(str(service["name"]))
        if ext is None:
            out.append(_passwords_to_environment(service))
            continue
        if len(ext.api_token) < 8:
            raise ValueError(f"the external {ext.name} service needs an API token (8+ characters)")
        # no "command": JupyterHub starts no process and only routes to the URL (an
        # external service); how it runs (command, user, environment) is its Deployment's
        managed = ("command", "environment", "cwd", "user")
        kept = {key: value for key, value in service.items() if key not in managed}
        out.append(kept | {"url": ext.url, "api_token": ext.api_token})
    c.JupyterHub.services = out


def learn_port(s: HubSettings, shard: int) -> int:
    """The port the learn service's ``shard`` listens on."""
    if shard == 0:
        return s.learn_port
    if shard <= len(s.learn_shard_ports):
        return s.learn_shard_ports[shard - 1]
    return s.learn_port + 10 * shard


def _passwords_to_environment(service: dict[str, Any]) -> dict[str, Any]:
    """Database passwords out of a service's command line (``/proc/<pid>/cmdline`` is
    readable by every local user) into its environment as ``PGPASSWORD``, which libpq
    reads and only the service's own user (and root) can see."""
    from sqlalchemy.engine import make_url

    passwords, command = set(), []
    for arg in service["command"]:
        flag, sep, value = arg.partition("=")
        if sep and "://" in value:
            url = make_url(value)
            if url.password:
                passwords.add(url.password)
                arg = f"{flag}={url._replace(password=None).render_as_string(hide_password=False)}"
        command.append(arg)
    if len(passwords) > 1:
        raise ValueError(
            f"the {service['name']} service's databases have different passwords: give the "
            "service one database role, or leave the passwords out and use a pgpass file"
        )
    if passwords:
        service["environment"]["PGPASSWORD"] = passwords.pop()
    return service | {"command": command}


def _environment(s: HubSettings, private: Path, runtime: Path | None = None) -> dict[str, str]:
    """A service's environment: our Python first, Jupyter's and IPython's state in the
    service's own folder (a system user's home is /nonexistent)."""
    return {
        "PATH": f"{s.bin_dir}:/usr/bin:/bin",
        "JUPYTER_RUNTIME_DIR": str(runtime or private / "runtime"),
        "JUPYTER_CONFIG_DIR": str(private / "config"),
        "JUPYTER_DATA_DIR": str(private / "jupyter"),
        "IPYTHONDIR": str(private / "ipython"),
    }


def _run_as(s: HubSettings, role: str, cwd: Path) -> dict[str, str]:
    """The managed service's ``user`` (the hub must be root) and working directory."""
    out = {"cwd": str(cwd)}
    if s.system_users is not None:
        out["user"] = getattr(s.system_users, role)
    return out


def _as_user(s: HubSettings, role: str) -> list[str]:
    """A command prefix that runs a program the hub starts (the proxy) as its user."""
    if s.system_users is None:
        return []
    name = getattr(s.system_users, role)
    return ["setpriv", f"--reuid={name}", f"--regid={name}", "--init-groups", "--"]


def _trainer_servers(c: Config, s: HubSettings) -> None:
    c.Spawner.cmd = [str(s.bin_dir / "jupyterhub-singleuser")]
    # kernels talk over unix sockets next to their connection files, in the owner's
    # private runtime dir: no other local user can reach them
    c.Spawner.args = ["--KernelManager.transport=ipc"]
    c.Spawner.notebook_dir = str(s.grading_dir)
    c.Spawner.default_url = "/lab"
    c.Spawner.environment = {"PATH": f"{s.bin_dir}:/usr/bin:/bin"}
    c.Spawner.http_timeout = 60
    if s.system_users is not None:
        # each trainer as their own system user, in the course group only
        c.JupyterHub.spawner_class = "omsorgslyft.hub.spawner.TrainerSpawner"
        c.TrainerSpawner.course_dir = str(s.grading_dir)
        c.TrainerSpawner.homes_dir = str(s.layout.trainers_dir)
        c.TrainerSpawner.runtime_root = str(s.layout.run_dir)
        c.TrainerSpawner.course_group = s.system_users.course_group
        c.TrainerSpawner.user_prefix = s.system_users.trainer_prefix
    else:
        c.JupyterHub.spawner_class = "simple"
        c.Spawner.args = [*c.Spawner.args, "--allow-root"]
        # the server's working directory is the course: nbgrader reads ./nbgrader_config.py
        c.SimpleLocalProcessSpawner.home_dir_template = str(s.grading_dir)


def apply(c: Config, s: HubSettings) -> None:
    """Write the whole hub configuration for ``s`` into ``c``."""
    c.JupyterHub.ip = s.ip
    c.JupyterHub.port = s.port
    c.JupyterHub.hub_ip = "127.0.0.1"
    c.JupyterHub.hub_port = s.hub_port
    hub_dir = s.layout.hub_dir  # the hub's alone (0700 when isolated)
    c.JupyterHub.db_url = s.hub_db_url or _sqlite(s.layout.hub_db)
    c.JupyterHub.cookie_secret_file = str(hub_dir / "jupyterhub_cookie_secret")
    c.JupyterHub.pid_file = str(hub_dir / "jupyterhub.pid")
    # each person lands where their work is (omsorgslyft.hub.roles.landing)
    c.JupyterHub.default_url = Landing("/")
    c.JupyterHub.template_paths = [str(s.project_root / "hub_config" / "templates")]
    c.JupyterHub.template_vars = {"product": "Omsorgslyft"}
    # the hub's login cookie, and its xsrf cookie (which defaults to these options), are
    # not sent along with requests other sites start
    c.JupyterHub.tornado_settings = {"cookie_options": {"samesite": "Lax"}}
    c.JupyterHub.cleanup_servers = True
    c.JupyterHub.cleanup_proxy = True
    if s.proxy_command:
        c.ConfigurableHTTPProxy.command = [*_as_user(s, "proxy"), *s.proxy_command]
    c.ConfigurableHTTPProxy.pid_file = str(hub_dir / "jupyterhub-proxy.pid")
    _login(c, s)
    _roles(c, s)
    _services(c, s)
    _trainer_servers(c, s)
