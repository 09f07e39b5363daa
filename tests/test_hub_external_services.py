"""``HubSettings.external_services``: services the hub routes to but does not start.

On Kubernetes (docs/kubernetes.md) learn, grading and records are Deployments of their own;
``apply`` then writes each as JupyterHub's *external* service: its URL and API token, no
command, and none of what only a started process needs (environment, user, working folder).
Checked against JupyterHub's own ``Service`` class.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from jupyterhub.services.service import Service
from traitlets.config import Config

from omsorgslyft.hub.settings import ExternalService, HubSettings, apply

BASE: dict[str, Any] = {
    "project_root": Path("/srv/omsorgslyft"),
    "data_dir": Path("/srv/omsorgslyft/var"),
}
TOKEN = "0123456789abcdef0123456789abcdef"


def services(**kwargs: Any) -> dict[str, dict[str, Any]]:
    c = Config()
    apply(c, HubSettings(**BASE, **kwargs))
    return {s["name"]: s for s in c.JupyterHub.services}


def as_jupyterhub_service(spec: dict[str, Any]) -> Service:
    """The way JupyterHub.init_services reads a service's config (unknown keys refused)."""
    service = Service(name=spec["name"])
    traits = service.traits(input=True)
    for key, value in spec.items():
        if key not in traits:
            raise AttributeError(f"No such service field: {key}")
        setattr(service, key, value)
    return service


def test_by_default_the_hub_starts_every_service() -> None:
    for spec in services().values():
        service = as_jupyterhub_service(spec)
        assert service.managed and service.kind == "managed"
        assert spec["url"].startswith("http://127.0.0.1:")


def test_external_services_have_a_url_and_token_and_no_command() -> None:
    external = tuple(
        ExternalService(name, f"http://{name}.omsorgslyft.svc:{port}", f"{TOKEN}-{name}")
        for name, port in (("learn", 8101), ("grading", 8102), ("records", 8103))
    )
    specs = services(external_services=external)
    for ext in external:
        spec = specs[ext.name]
        assert spec["url"] == ext.url and spec["api_token"] == ext.api_token
        assert not {"command", "environment", "cwd", "user"} & set(spec)
        service = as_jupyterhub_service(spec)
        assert not service.managed and service.kind == "external"
    # what the hub and the people's browsers need stays as on one machine
    managed = services()
    for name in ("learn", "grading", "records"):
        for key in ("oauth_no_confirm", "oauth_client_allowed_scopes", "display", "info"):
            assert specs[name].get(key) == managed[name].get(key), (name, key)
        assert specs[name]["timeout"] == managed[name]["timeout"] == 120


def test_one_service_external_the_others_started() -> None:
    specs = services(
        external_services=(ExternalService("learn", "http://learn-shard:8101", TOKEN),),
        store_url="postgresql+psycopg://olyft:pw@db/olyft",
    )
    assert not as_jupyterhub_service(specs["learn"]).managed
    assert as_jupyterhub_service(specs["grading"]).managed
    # the started ones still get their database password out of the command line
    records = specs["records"]
    assert records["environment"]["PGPASSWORD"] == "pw"
    assert not any("pw@" in arg for arg in records["command"])


def test_an_external_service_does_not_carry_the_database_password() -> None:
    specs = services(
        external_services=(ExternalService("records", "http://records:8103", TOKEN),),
        records_url="postgresql+psycopg://olyft:pw@db/olyft",
    )
    assert "pw" not in repr(specs["records"])


@pytest.mark.parametrize(
    ("external", "message"),
    [
        (ExternalService("lern", "http://lern:8101", TOKEN), "no such service: lern"),
        (ExternalService("learn", "http://learn:8101", ""), "API token"),
        (ExternalService("learn", "http://learn:8101", "short"), "API token"),
    ],
)
def test_external_services_need_known_names_and_tokens(
    external: ExternalService, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        services(external_services=(external,))
