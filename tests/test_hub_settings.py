"""The hub configuration as a pure function, checked against the real trait classes."""

from __future__ import annotations

from pathlib import Path

import pytest
from jupyterhub.app import JupyterHub
from jupyterhub.authenticators.shared import SharedPasswordAuthenticator
from traitlets.config import Config

from omsorgslyft.hub.gate import RosterGate
from omsorgslyft.hub.roles import OWN_ROLES_SCOPE, Landing, roles_for
from omsorgslyft.hub.settings import (
    HR_SCOPE,
    OWN_RECORDS_SCOPE,
    STATS_SCOPE,
    SUBMIT_SCOPE,
    EntraSettings,
    ExternalService,
    HubSettings,
    LdapSettings,
    apply,
)
from omsorgslyft.hub.throttle import ThrottledSharedPasswordAuthenticator
from omsorgslyft.hub.users import SystemUsers


def configured(**kwargs: object) -> Config:
    c = Config()
    apply(
        c,
        HubSettings(
            project_root=Path("/srv/omsorgslyft"), data_dir=Path("/var/lib/omsorgslyft"), **kwargs
        ),
    )  # type: ignore[arg-type]
    return c


def roles(c: Config) -> dict[str, dict[str, object]]:
    return {r["name"]: r for r in c.JupyterHub.load_roles}


def test_demo_configuration() -> None:
    c = configured()
    assert (c.JupyterHub.ip, c.JupyterHub.port) == ("127.0.0.1", 8000)
    assert isinstance(c.JupyterHub.default_url, Landing)  # each person where their work is
    assert c.JupyterHub.db_url == "sqlite:////var/lib/omsorgslyft/hub/jupyterhub.sqlite"
    assert c.JupyterHub.cookie_secret_file == "/var/lib/omsorgslyft/hub/jupyterhub_cookie_secret"
    assert JupyterHub(config=c).authenticator_class is ThrottledSharedPasswordAuthenticator
    auth = SharedPasswordAuthenticator(config=c)  # validates both passwords' rules
    assert auth.user_password == "omsorg-demo-2026"
    # the shared password opens the roster's names and the demo's own; the gate refuses others
    assert auth.allow_all and not auth.allowed_users
    assert c.JupyterHub.load_groups["utbildare"]["users"] == ["tove"]
    # units and roles come from the roster (the records service syncs them), not config
    assert not any(g.startswith("enhet:") for g in c.JupyterHub.load_groups)
    gate = c.Authenticator.post_auth_hook
    assert isinstance(gate, RosterGate)
    assert gate.records_url == "sqlite:////var/lib/omsorgslyft/records/records.db"
    assert gate.closed
    assert {"anna", "bengt", "cecilia", "david", "tove", "hanna", "admin"} <= gate.open_to
    assert c.Authenticator.manage_roles  # the gate gives the roles at each login


def test_learners_cannot_run_servers_or_reach_hr() -> None:
    r = roles(configured())
    learner = set(r["user"]["scopes"])  # type: ignore[arg-type]
    assert "self" not in learner and not any(
        s.startswith(("servers", "access:servers")) for s in learner
    )
    assert "access:services!service=learn" in learner
    assert HR_SCOPE not in learner and SUBMIT_SCOPE not in learner
    assert "access:services!service=records" not in learner
    assert OWN_RECORDS_SCOPE not in learner
    hr = r["hr-personal"]
    # no assignments in load_roles (the hub refuses them with manage_roles): the gate gives
    # them, admins hold the HR role too
    assert not any(role.get("users") or role.get("groups") for role in r.values())
    assert {x["name"] for x in roles_for(True, [])} == {"user", "admin", "hr-personal"}
    assert "access:services!service=records" in hr["scopes"]  # type: ignore[operator]
    assert STATS_SCOPE in r["utbildare"]["scopes"] and HR_SCOPE not in r["utbildare"]["scopes"]  # type: ignore[operator]
    assert OWN_RECORDS_SCOPE in r["learn-service"]["scopes"]  # type: ignore[operator]
    assert HR_SCOPE not in r["learn-service"]["scopes"]  # type: ignore[operator]
    assert r["records-service"]["services"] == ["records"]
    assert "admin:users" not in r["records-service"]["scopes"]  # type: ignore[operator]
    assert "self" in r["utbildare"]["scopes"]  # type: ignore[operator]
    assert HR_SCOPE in r["hr-personal"]["scopes"]  # type: ignore[operator]
    assert (
        r["learn-service"]["services"] == ["learn"] and SUBMIT_SCOPE in r["learn-service"]["scopes"]
    )  # type: ignore[operator]


def test_services_and_trainer_servers() -> None:
    c = configured(learn_port=9101, grading_port=9102, store_url="postgresql+psycopg://db/learn")
    services = {s["name"]: s for s in c.JupyterHub.services}
    assert services["learn"]["url"] == "http://127.0.0.1:9101"
    assert "--LearnApp.store_url=postgresql+psycopg://db/learn" in services["learn"]["command"]
    assert (
        "--LearnApp.grading_url=http://127.0.0.1:9102/services/grading/"
        in services["learn"]["command"]
    )
    assert "--course-dir=/srv/omsorgslyft/grading" in services["grading"]["command"]
    assert (
        "--LearnApp.records_url=http://127.0.0.1:8103/services/records/"
        in services["learn"]["command"]
    )
    records = services["records"]
    assert records["url"] == "http://127.0.0.1:8103"
    assert "--answers-url=postgresql+psycopg://db/learn" in records["command"]
    assert "--db-url=sqlite:////var/lib/omsorgslyft/records/records.db" in records["command"]
    assert set(records["oauth_client_allowed_scopes"]) == {HR_SCOPE, STATS_SCOPE, OWN_ROLES_SCOPE}
    assert c.Spawner.notebook_dir == "/srv/omsorgslyft/grading"
    assert c.Spawner.default_url == "/lab"
    # grading gives way to the pages, as far as the deployer asks
    assert "--nice=10" in services["grading"]["command"]
    lower = configured(grading_nice=15).JupyterHub.services
    assert "--nice=15" in next(s for s in lower if s["name"] == "grading")["command"]


def test_without_system_users_everything_runs_as_the_hub() -> None:
    c = configured()
    assert all("user" not in s for s in c.JupyterHub.services)
    assert c.JupyterHub.spawner_class == "simple" and "--allow-root" in c.Spawner.args
    assert "command" not in c.ConfigurableHTTPProxy


def test_with_system_users_each_process_is_its_own_user() -> None:
    users = SystemUsers()
    c = configured(system_users=users, proxy_command=("/opt/chp",))
    services = {s["name"]: s for s in c.JupyterHub.services}
    assert {name: s["user"] for name, s in services.items()} == {
        "learn": users.learn,
        "grading": users.grading,
        "records": users.records,
    }
    assert services["learn"]["cwd"] == "/var/lib/omsorgslyft/learn"
    learn_env = services["learn"]["environment"]
    assert learn_env["JUPYTER_RUNTIME_DIR"].startswith("/run/omsorgslyft/") or learn_env[
        "JUPYTER_RUNTIME_DIR"
    ].startswith("/tmp/")
    assert not any("TOKEN" in name for s in services.values() for name in s["environment"])
    proxy = c.ConfigurableHTTPProxy.command
    assert proxy[0] == "setpriv" and f"--reuid={users.proxy}" in proxy and proxy[-1] == "/opt/chp"
    assert c.JupyterHub.spawner_class == "omsorgslyft.hub.spawner.TrainerSpawner"
    assert "--allow-root" not in c.Spawner.args
    assert "--KernelManager.transport=ipc" in c.Spawner.args
    assert c.TrainerSpawner.course_dir == "/srv/omsorgslyft/grading"
    assert c.TrainerSpawner.homes_dir == "/var/lib/omsorgslyft/trainers"


def test_trainers_system_names_are_short_and_distinct() -> None:
    users = SystemUsers()
    names = {users.trainer(n) for n in ("tove", "Tove", "tove.t@kommun.se", "x" * 200)}
    assert len(names) == 4
    assert all(len(n) <= 32 and n.startswith("olt-") for n in names)
    assert users.trainer("tove") == users.trainer("tove")


def test_database_passwords_stay_off_the_command_lines() -> None:
    url = "postgresql+psycopg://omsorgslyft:hemligt@db:5432/omsorgslyft"
    c = configured(store_url=url, submissions_url=url, gradebook_url=url, records_url=url)
    for service in c.JupyterHub.services:
        assert not any("hemligt" in arg for arg in service["command"]), service["name"]
        assert service["environment"]["PGPASSWORD"] == "hemligt"
    learn = next(s for s in c.JupyterHub.services if s["name"] == "learn")
    assert (
        "--LearnApp.store_url=postgresql+psycopg://omsorgslyft@db:5432/omsorgslyft"
        in learn["command"]
    )
    with pytest.raises(ValueError, match="different passwords"):
        configured(store_url=url, records_url=url.replace("hemligt", "annat"))


def test_the_hub_accepts_the_configuration() -> None:
    hub = JupyterHub(config=configured())
    assert callable(hub.default_url)
    assert set(hub.custom_scopes) == {SUBMIT_SCOPE, HR_SCOPE, STATS_SCOPE, OWN_RECORDS_SCOPE}
    assert [s["name"] for s in hub.services] == ["learn", "grading", "records"]


def test_entra_id_login() -> None:
    from oauthenticator.azuread import AzureAdOAuthenticator

    entra = EntraSettings(
        tenant_id="00000000-1111-2222-3333-444444444444",
        client_id="omsorgslyft",
        client_secret="hemlig",
        callback_url="https://utbildning.kommun.se/hub/oauth_callback",
        allowed_groups=("omsorg-personal",),
        admin_groups=("omsorg-admin",),
    )
    c = configured(login="entra", entra=entra)
    assert c.JupyterHub.authenticator_class == "azuread"
    auth = AzureAdOAuthenticator(config=c)
    assert auth.tenant_id == entra.tenant_id
    assert entra.tenant_id in auth.authorize_url and entra.tenant_id in auth.token_url
    assert auth.oauth_callback_url == entra.callback_url
    assert auth.allowed_groups == {"omsorg-personal"} and auth.manage_groups
    # JupyterHub refuses load_groups beside an authenticator that manages groups
    assert "load_groups" not in c.JupyterHub


def test_ldap_login() -> None:
    from ldapauthenticator import LDAPAuthenticator

    ldap = LdapSettings(
        server_address="ldap.kommun.se",
        bind_dn_template=("uid={username},ou=personal,dc=kommun,dc=se",),
        allowed_groups=("cn=omsorg,ou=grupper,dc=kommun,dc=se",),
    )
    c = configured(login="ldap", ldap=ldap)
    auth = LDAPAuthenticator(config=c)
    assert auth.server_address == "ldap.kommun.se"
    assert auth.bind_dn_template == ["uid={username},ou=personal,dc=kommun,dc=se"]
    assert auth.allowed_groups == ["cn=omsorg,ou=grupper,dc=kommun,dc=se"]


def test_missing_provider_settings_are_an_error() -> None:
    with pytest.raises(ValueError, match="entra"):
        configured(login="entra")
    with pytest.raises(ValueError, match="ldap"):
        configured(login="ldap")


def test_the_roster_gate_closes_leavers_and_gives_roles(tmp_path: Path) -> None:
    from datetime import date, timedelta

    from tornado import web

    from omsorgslyft.records.model import Employee
    from omsorgslyft.records.store import RecordsStore

    def names(model: dict[str, object]) -> set[str]:
        return {r["name"] for r in model["roles"]}  # type: ignore[attr-defined, index]

    url = f"sqlite:///{tmp_path / 'records.db'}"
    gate = RosterGate(url)
    assert names(gate(None, None, {"name": "anna"})) == {"user"}  # no roster yet
    assert not (tmp_path / "records.db").exists()  # the gate never creates the records db
    store = RecordsStore(url)
    today = date.today()

    def person(
        number: str, name: str, end: date | None = None, manages: tuple[str, ...] = ()
    ) -> Employee:
        return Employee(
            number,
            name,
            name,
            "E",
            f"{name}@x.se",
            "Enhet",
            "roll",
            date(2020, 1, 1),
            end,
            manages=manages,
        )

    anna, bengt = person("1", "anna"), person("2", "bengt", today - timedelta(days=1))
    gunilla = person("4", "gunilla", manages=("Hemtjänst Norr", "Särskilt boende Björkbacken"))
    store.apply_import(store.plan_import([anna, bengt, person("3", "cia"), gunilla]), "a.csv", "t")
    store.apply_import(store.plan_import([anna, bengt, gunilla]), "b.csv", "test")
    assert names(gate(None, None, {"name": "anna"})) == {"user"}
    assert names(gate(None, None, {"name": "tove"})) == {"user"}  # not in the roster
    # a manager: one role per unit, each the HR scope filtered to the unit's hub group
    model = gate(None, None, {"name": "gunilla"})
    assert names(model) == {
        "user",
        "enhetschef-hemtjanst-norr",
        "enhetschef-sarskilt-boende-bjorkbacken",
    }
    scopes = {s for r in model["roles"] for s in r.get("scopes", [])}
    assert "custom:omsorgslyft:hr!group=enhet:hemtjanst-norr" in scopes
    assert "custom:omsorgslyft:hr" not in scopes
    for leaver in ("bengt", "cia"):  # ended yesterday; dropped from the roster
        with pytest.raises(web.HTTPError) as exc:
            gate(None, None, {"name": leaver})
        assert exc.value.status_code == 403
    # an admin whose name an older roster held is not closed out, and holds HR
    model = gate(None, None, {"name": "bengt", "admin": True})
    assert names(model) == {"user", "admin", "hr-personal"}
    # the demo's shared password: only the roster's staff and the demo's own names
    closed = RosterGate(url, closed=True, open_to=["tove"])
    assert names(closed(None, None, {"name": "tove"})) == {"user"}
    assert names(closed(None, None, {"name": "gunilla"})) >= {"enhetschef-hemtjanst-norr"}
    with pytest.raises(web.HTTPError) as exc:
        closed(None, None, {"name": "okand.person@example.se"})
    assert exc.value.status_code == 403 and "personallistan" in str(exc.value.log_message)
    store.dispose()


# learn shards as external services (Kubernetes: each shard its own Deployment)

TOKEN = "0123456789abcdef0123456789abcdef"


def external(*names: str) -> tuple[ExternalService, ...]:
    return tuple(
        ExternalService(n, f"http://{n}.omsorgslyft.svc:8101", f"{TOKEN}-{n}") for n in names
    )


def test_learn_shards_combine_with_external_services() -> None:
    c = configured(
        learn_shards=3, external_services=external("learn", "learn-1", "learn-2", "grading")
    )
    services = {s["name"]: s for s in c.JupyterHub.services}
    for name in ("learn", "learn-1", "learn-2"):
        spec = services[name]
        assert spec["url"] == f"http://{name}.omsorgslyft.svc:8101"
        assert spec["api_token"] == f"{TOKEN}-{name}"
        assert "command" not in spec and "environment" not in spec
        assert spec["display"] is (name == "learn")  # the hub's home lists shard 0 only
    assert "command" in services["records"]  # not external: the hub starts it
    # every shard holds the learn service's role, and people may access each
    assert roles(c)["learn-service"]["services"] == ["learn", "learn-1", "learn-2"]


def test_the_learn_shards_are_all_external_or_none() -> None:
    with pytest.raises(ValueError, match="learn-1, learn-2 is not external"):
        configured(learn_shards=3, external_services=external("learn"))
    with pytest.raises(ValueError, match="learn is not external"):
        configured(learn_shards=2, external_services=external("learn-1"))
    # a shard the settings do not have is named with the shards they do have
    with pytest.raises(
        ValueError, match=r"no such service: learn-2 .*learn_shards=2: learn, learn-1"
    ):
        configured(learn_shards=2, external_services=external("learn", "learn-1", "learn-2"))
