"""Kubernetes through Zero to JupyterHub (docs/kubernetes.md): the chart's values, the
services' manifests and the images' build files, read as files (no cluster, no helm, no
docker here).

The values file is validated with the chart's own values schema; its ``hub.extraConfig`` is
run the way the chart's ``jupyterhub_config.py`` runs it (``exec`` with the chart's ``c``);
the manifests and Dockerfiles are checked for what matters: PostgreSQL from Secrets for
every store, no secret in any file, the course volume only where it is needed, each
service its own Deployment and Service, least privilege and a NetworkPolicy per service.
"""

from __future__ import annotations

import copy
import functools
import os
import re
import shlex
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from jupyterhub.services.service import Service
from traitlets.config import Config

import omsorgslyft.hub.settings as hub_settings
from omsorgslyft.hub.gate import RosterGate
from omsorgslyft.hub.settings import HubSettings

ROOT = Path(__file__).resolve().parent.parent
#: the chart's own values schema (jupyterhub/values.schema.yaml of the chart's sources)
SCHEMA = Path(
    os.environ.get(
        "OMSORGSLYFT_Z2JH_SCHEMA", ROOT / "tests" / "fixtures" / "z2jh-values.schema.yaml"
    )
)
VALUES = ROOT / "deploy" / "z2jh" / "values.yaml"
MANIFESTS = ROOT / "deploy" / "k8s"
IMAGES = ROOT / "deploy" / "images"
DOCS = ROOT / "docs" / "kubernetes.md"

SERVICES = {
    # hub service: (module, port of its Kubernetes Service = the one-machine port); the
    # learn shards learn, learn-1 (OMSORGSLYFT_LEARN_SHARDS = 2 in the values)
    "learn": ("omsorgslyft.learn.app", 8101),
    "learn-1": ("omsorgslyft.learn.app", 8111),
    "grading": ("omsorgslyft.grading.service", 8102),
    "records": ("omsorgslyft.records.service", 8103),
}
LEARN = ("learn", "learn-1")
#: the other workloads: no hub service, no hub token
WORKERS = {"grading-worker": "Deployment", "rabbitmq": "StatefulSet"}
COURSE_PVC = "omsorgslyft-course"
RELEASE_PVC = "omsorgslyft-release"
HUB_PEER = {"app.kubernetes.io/name": "jupyterhub", "app.kubernetes.io/component": "hub"}
PROXY_PEER = {"app.kubernetes.io/name": "jupyterhub", "app.kubernetes.io/component": "proxy"}


def is_store_url(name: str) -> bool:
    """OMSORGSLYFT_HUB_DB_URL, OMSORGSLYFT_STORE_URL, ...: a database (not the public URL)."""
    return name.startswith("OMSORGSLYFT_") and name.endswith("_URL") and "PUBLIC" not in name


def is_secret(name: str) -> bool:
    return is_store_url(name) or bool(re.search(r"PASSWORD|SECRET|TOKEN", name))


def values() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(VALUES.read_text(encoding="utf-8"))
    return loaded


@functools.cache
def _parsed(path: Path, mtime: float) -> tuple[dict[str, Any], ...]:
    return tuple(d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d)


def manifests() -> list[dict[str, Any]]:
    """Every document of deploy/k8s/*.yaml (a fresh copy each call: tests change theirs)."""
    docs: list[dict[str, Any]] = []
    for path in sorted(MANIFESTS.glob("*.yaml")):
        docs += copy.deepcopy(_parsed(path, path.stat().st_mtime))
    return docs


def of_kind(kind: str) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for d in manifests() if d["kind"] == kind}


def workloads() -> dict[str, dict[str, Any]]:
    """Every Deployment and StatefulSet by name."""
    return of_kind("Deployment") | of_kind("StatefulSet")


def pod_spec(name: str) -> dict[str, Any]:
    spec: dict[str, Any] = workloads()[name]["spec"]["template"]["spec"]
    return spec


def token_variable(service: str) -> str:
    """The hub pod's variable with a service's API token: OMSORGSLYFT_LEARN_1_API_TOKEN."""
    return f"OMSORGSLYFT_{service.upper().replace('-', '_')}_API_TOKEN"


def env_entries() -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(where, name, entry) for every environment variable in the manifests and the values."""
    for name in workloads():
        spec = pod_spec(name)
        for container in spec.get("initContainers", []) + spec["containers"]:
            for entry in container.get("env", []):
                yield f"{name}/{container['name']}", entry["name"], entry
    v = values()
    for where, env in (("hub", v["hub"]["extraEnv"]), ("singleuser", v["singleuser"]["extraEnv"])):
        for key, entry in env.items():
            yield where, key, entry if isinstance(entry, dict) else {"value": entry}


def secret_refs() -> set[tuple[str, str]]:
    refs = set()
    for _where, _name, entry in env_entries():
        ref = entry.get("valueFrom", {}).get("secretKeyRef")
        if ref:
            refs.add((ref["name"], ref["key"]))
    return refs


# the chart's values schema


def test_values_validate_against_the_charts_schema() -> None:
    schema = yaml.safe_load(SCHEMA.read_text(encoding="utf-8"))
    jsonschema.Draft7Validator.check_schema(schema)
    errors = sorted(
        jsonschema.Draft7Validator(schema).iter_errors(values()), key=lambda e: list(e.path)
    )
    assert not errors, "\n".join(f"{list(e.path)}: {e.message}" for e in errors)


def test_the_schema_check_would_catch_a_mistake() -> None:
    """The schema closes its objects (additionalProperties: false): a misspelt key fails."""
    schema = yaml.safe_load(SCHEMA.read_text(encoding="utf-8"))
    wrong = values()
    wrong["hub"]["extraConfigs"] = wrong["hub"].pop("extraConfig")
    wrong["singleuser"]["storage"]["type"] = "shared"
    messages = [e.message for e in jsonschema.Draft7Validator(schema).iter_errors(wrong)]
    assert any("extraConfigs" in m for m in messages)
    assert any("shared" in m for m in messages)


# hub.extraConfig: omsorgslyft.hub.settings.apply with Kubernetes settings


def chart_config() -> Config:
    """What the chart's jupyterhub_config.py has set when it runs hub.extraConfig."""
    c = Config()
    c.JupyterHub.spawner_class = "kubespawner.KubeSpawner"
    c.JupyterHub.cleanup_servers = False
    c.JupyterHub.tornado_settings = {"slow_spawn_timeout": 0}
    c.JupyterHub.hub_bind_url = "http://:8081"
    c.JupyterHub.hub_connect_url = "http://hub:8081"
    c.ConfigurableHTTPProxy.should_start = False
    c.JupyterHub.services = [
        {"name": "jupyterhub-idle-culler", "command": ["python3", "-m", "jupyterhub_idle_culler"]}
    ]
    c.JupyterHub.load_roles = [
        {"name": "jupyterhub-idle-culler", "services": ["jupyterhub-idle-culler"], "scopes": []}
    ]
    c.Spawner.cmd = "jupyterhub-singleuser"
    c.JupyterHub.cookie_secret = b"\x00" * 32
    return c


def pod_environment() -> dict[str, str]:
    """The hub pod's environment: the chart's POD_NAMESPACE and exactly hub.extraEnv, each
    Secret or ConfigMap value replaced by a stand-in (a PostgreSQL URL for the databases)."""
    env = {"POD_NAMESPACE": "omsorgslyft"}
    for key, entry in values()["hub"]["extraEnv"].items():
        if not isinstance(entry, dict):
            env[key] = entry
            continue
        ref = entry["valueFrom"].get("secretKeyRef") or entry["valueFrom"]["configMapKeyRef"]
        if ref["key"].endswith("-url") and ref["name"] == "omsorgslyft-db":
            env[key] = f"postgresql+psycopg://olyft_hub:pw-{ref['key']}@db.example:5432/olyft"
        elif ref["key"] == "public-url":
            env[key] = "https://utbildning.kommun.example/"
        else:
            env[key] = f"stand-in-for-{ref['name']}-{ref['key']}-0123456789"
    return env


def run_extra_config(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str]
) -> tuple[Config, list[HubSettings]]:
    for key in list(os.environ):
        if key.startswith("OMSORGSLYFT_"):
            monkeypatch.delenv(key)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    applied: list[HubSettings] = []
    real = hub_settings.apply

    def recording(c: Config, s: HubSettings) -> None:
        applied.append(s)
        real(c, s)

    monkeypatch.setattr(hub_settings, "apply", recording)
    c = chart_config()
    source = values()["hub"]["extraConfig"]["omsorgslyft"]
    exec(compile(source, "hub.extraConfig.omsorgslyft", "exec"), {"c": c})
    return c, applied


def test_extra_config_applies_the_settings_for_kubernetes(monkeypatch: pytest.MonkeyPatch) -> None:
    env = pod_environment()
    c, applied = run_extra_config(monkeypatch, env)
    (s,) = applied  # apply() itself, once
    assert s.login == "entra" and s.entra is not None
    assert s.entra.client_secret == env["OMSORGSLYFT_ENTRA_CLIENT_SECRET"]
    assert s.entra.callback_url == "https://utbildning.kommun.example/hub/oauth_callback"
    assert s.system_users is None  # no local system users on Kubernetes
    assert s.hub_db_url.startswith("postgresql") and s.records_url.startswith("postgresql")
    assert c.JupyterHub.db_url == env["OMSORGSLYFT_HUB_DB_URL"]
    gate = c.Authenticator.post_auth_hook
    assert isinstance(gate, RosterGate) and gate.records_url == env["OMSORGSLYFT_RECORDS_URL"]
    assert {e.name: e.url for e in s.external_services} == {
        name: f"http://{name}.omsorgslyft.svc:{port}" for name, (_m, port) in SERVICES.items()
    }

    services = {svc["name"]: svc for svc in c.JupyterHub.services}
    assert "jupyterhub-idle-culler" in services  # the chart's own service is kept
    for name in SERVICES:
        spec = services[name]
        assert "command" not in spec and "environment" not in spec and "user" not in spec
        assert spec["api_token"] == env[token_variable(name)]
        # JupyterHub's own Service class takes every field and calls it external
        svc = Service(name=name)
        traits = svc.traits(input=True)
        for key, value in spec.items():
            assert key in traits, key
            setattr(svc, key, value)
        assert not svc.managed and svc.kind == "external"
    roles = {r["name"] for r in c.JupyterHub.load_roles}
    assert {
        "jupyterhub-idle-culler",
        "learn-service",
        "grading-service",
        "records-service",
    } <= roles

    # what the chart set for Kubernetes survives apply()
    assert c.JupyterHub.spawner_class == "kubespawner.KubeSpawner"
    assert c.JupyterHub.cleanup_servers is False
    assert c.JupyterHub.hub_bind_url == "http://:8081"  # wins over apply's hub_ip
    assert c.Spawner.cmd == "jupyterhub-singleuser"
    assert c.JupyterHub.tornado_settings["slow_spawn_timeout"] == 0
    assert c.JupyterHub.tornado_settings["cookie_options"] == {"samesite": "Lax"}
    assert c.JupyterHub.pid_file == ""
    assert c.KubeSpawner.working_dir == "/srv/omsorgslyft/grading"
    assert c.JupyterHub.template_paths == ["/srv/omsorgslyft/hub_config/templates"]


def test_extra_config_demo_login_takes_its_passwords_from_the_secret(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    env = pod_environment() | {"OMSORGSLYFT_LOGIN": "demo"}
    del env["OMSORGSLYFT_DEMO_PASSWORD"]
    with pytest.raises(KeyError, match="OMSORGSLYFT_DEMO_PASSWORD"):
        run_extra_config(monkeypatch, env)
    env = pod_environment() | {"OMSORGSLYFT_LOGIN": "demo"}
    c, (s,) = run_extra_config(monkeypatch, env)
    assert s.demo_password == env["OMSORGSLYFT_DEMO_PASSWORD"]
    assert c.SharedPasswordAuthenticator.user_password == env["OMSORGSLYFT_DEMO_PASSWORD"]


# PostgreSQL from Secrets; no secret in any file


def test_every_store_url_is_from_a_secret_and_postgresql_in_the_docs() -> None:
    urls = [(where, name, entry) for where, name, entry in env_entries() if is_store_url(name)]
    assert len(urls) >= 13  # hub 2, learn 1 a shard, grading 2, workers 2, records 4, trainers 1
    for where, name, entry in urls:
        ref = entry.get("valueFrom", {}).get("secretKeyRef")
        assert ref and ref["name"] == "omsorgslyft-db", f"{where}: {name} is not from the Secret"
    # every store argument of a service or worker is such a variable
    for name in [*SERVICES, "grading-worker"]:
        (main,) = [k for k in pod_spec(name)["containers"] if k["name"] == name]
        names = {e["name"] for e in main["env"]}
        for arg in main["args"]:
            if re.search(r"(store|db|submissions|gradebook|answers)[-_]url=", arg):
                (var,) = re.findall(r"=\$\((\w+)\)$", arg)
                assert var in names and var.endswith("_URL"), arg
    # the operators' docs create each of those keys, each a PostgreSQL URL
    created = docs_secrets()
    for secret, key in secret_refs():
        assert key in created.get(secret, {}), f"docs/kubernetes.md does not create {secret}/{key}"
        if secret == "omsorgslyft-db":
            assert created[secret][key].startswith("postgresql+psycopg://"), key


def docs_secrets() -> dict[str, dict[str, str]]:
    """``kubectl create secret generic NAME --from-literal=KEY=VALUE ...`` in the docs, with
    the docs' ``export VAR='...'`` put in for ``$VAR``."""
    text = DOCS.read_text(encoding="utf-8").replace("\\\n", " ")
    exports = dict(re.findall(r"export (\w+)='([^']*)'", text))
    out: dict[str, dict[str, str]] = {}
    for line in text.splitlines():
        if "create secret generic" not in line:
            continue
        words = shlex.split(line)
        name = words[words.index("generic") + 1]
        for word in words:
            for flag in ("--from-literal=", "--from-file="):
                if word.startswith(flag):
                    key, _, value = word[len(flag) :].partition("=")
                    value = re.sub(r"^\$(\w+)$", lambda m: exports.get(m[1], m[0]), value)
                    out.setdefault(name, {})[key] = value
    return out


def test_no_secret_literal_in_any_deploy_file() -> None:
    for where, name, entry in env_entries():
        if is_secret(name):
            assert "valueFrom" in entry, f"{where}: {name} is a literal"
    v = values()
    assert v["hub"]["db"].get("url") is None and v["hub"]["db"].get("password") is None
    assert "cookieSecret" not in v["hub"] and "services" not in v["hub"]
    assert "secretToken" not in v["proxy"]
    assert not any(d["kind"] == "Secret" for d in manifests())  # referenced, never defined
    for path in sorted((ROOT / "deploy").rglob("*")):
        if not path.is_file():
            continue
        text = path.read_text(encoding="utf-8")
        # no credentials in a URL, no private key, no long random-looking string
        assert not re.search(r"://[^/\s:@'\"]+:[^/\s@'\"]+@", text), path
        assert "PRIVATE KEY" not in text, path
        assert not re.search(r"\b[A-Za-z0-9+/]{40,}={0,2}", text), path


# volumes: the course only where it is needed


def claims(name: str) -> dict[str, str]:
    """Mount path -> PVC for a service's main container."""
    spec = pod_spec(name)
    volumes = {
        v["name"]: v["persistentVolumeClaim"]["claimName"]
        for v in spec["volumes"]
        if "persistentVolumeClaim" in v
    }
    (main,) = [k for k in spec["containers"] if k["name"] == name]
    return {
        m["mountPath"]: volumes[m["name"]] for m in main["volumeMounts"] if m["name"] in volumes
    }


def test_course_volume_only_where_it_is_needed() -> None:
    assert set(of_kind("PersistentVolumeClaim")) == {COURSE_PVC, RELEASE_PVC}
    # every learn shard: the released notebooks, read-only, and nothing of the course
    for name in LEARN:
        assert claims(name) == {"/srv/omsorgslyft/grading/release": RELEASE_PVC}
        spec = pod_spec(name)
        assert all(
            v.get("persistentVolumeClaim", {}).get("claimName") != COURSE_PVC
            for v in spec["volumes"]
        )
        (mount,) = [m for m in spec["containers"][0]["volumeMounts"] if m["name"] == "release"]
        assert mount["readOnly"] is True
        assert not any(
            m["mountPath"] in ("/srv/omsorgslyft/grading", "/srv/omsorgslyft/modules")
            for m in spec["containers"][0]["volumeMounts"]
        )
    # grading and records: the course (grading/ and modules/); records reads the modules only
    for name in ("grading", "records"):
        mounted = claims(name)
        assert mounted["/srv/omsorgslyft/grading"] == COURSE_PVC
        assert mounted["/srv/omsorgslyft/modules"] == COURSE_PVC
    (modules,) = [
        m
        for m in pod_spec("records")["containers"][0]["volumeMounts"]
        if m.get("subPath") == "modules"
    ]
    assert modules["readOnly"] is True
    # trainers' pods: the course volume as their storage (no home volumes of their own)
    storage = values()["singleuser"]["storage"]
    assert storage["type"] == "static" and storage["static"]["pvcName"] == COURSE_PVC
    assert storage["homeMountPath"] == "/srv/omsorgslyft/grading"
    # the hub mounts no course volume and keeps no database volume
    hub = values()["hub"]
    assert hub["db"]["type"] == "postgres" and "extraVolumes" not in hub


# each service: its own Deployment and Service, least privilege


def test_each_service_is_its_own_deployment_and_service() -> None:
    deployments, services = of_kind("Deployment"), of_kind("Service")
    assert set(deployments) == set(SERVICES) | {"grading-worker"}
    assert set(services) == set(SERVICES) | {"rabbitmq"}
    assert set(of_kind("StatefulSet")) == {"rabbitmq"}
    for name, (module, port) in SERVICES.items():
        deployment = deployments[name]
        assert deployment["spec"]["replicas"] == 1
        assert deployment["spec"]["strategy"]["type"] == "Recreate"
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        assert deployment["spec"]["selector"]["matchLabels"].items() <= labels.items()
        # the chart's hub NetworkPolicy admits pods with this label to the hub's API
        assert labels["hub.jupyter.org/network-access-hub"] == "true"
        containers = {k["name"]: k for k in pod_spec(name)["containers"]}
        assert containers[name]["args"][:3] == ["python3", "-m", module]
        env = {e["name"]: e for e in containers[name]["env"]}
        assert env["JUPYTERHUB_SERVICE_PREFIX"]["value"] == f"/services/{name}/"
        assert env["JUPYTERHUB_API_URL"]["value"] == "http://hub:8081/hub/api"
        token = env["JUPYTERHUB_API_TOKEN"]["valueFrom"]["secretKeyRef"]
        assert token == {"name": "omsorgslyft-service-tokens", "key": name}
        # and the hub registers the service with the same token
        hub_token = values()["hub"]["extraEnv"][token_variable(name)]
        assert hub_token["valueFrom"]["secretKeyRef"] == token
        # the hub's external service URL: this Service's port, whose target a container opens
        service = services[name]
        assert service["spec"]["selector"].items() <= labels.items()
        (sport,) = service["spec"]["ports"]
        assert sport["port"] == port
        opened = {p["name"] for k in containers.values() for p in k.get("ports", [])}
        assert sport["targetPort"] in opened


def test_services_run_with_least_privilege() -> None:
    uids = {}
    for name in [*SERVICES, *WORKERS]:
        spec = pod_spec(name)
        assert spec["automountServiceAccountToken"] is False
        assert not spec.get("hostNetwork") and not spec.get("hostPID")
        assert not any("hostPath" in v for v in spec["volumes"])
        pod = spec["securityContext"]
        assert pod["runAsNonRoot"] is True and pod["runAsUser"] > 0
        # ours from 10100 on; the broker runs as its image's rabbitmq user
        assert pod["runAsUser"] >= 10000 or name == "rabbitmq"
        assert pod["seccompProfile"] == {"type": "RuntimeDefault"}
        uids[name] = pod["runAsUser"]
        for container in spec.get("initContainers", []) + spec["containers"]:
            sc = container["securityContext"]
            assert sc["allowPrivilegeEscalation"] is False
            assert sc["readOnlyRootFilesystem"] is True
            assert sc["capabilities"] == {"drop": ["ALL"]}
            assert not sc.get("privileged") and "runAsUser" not in sc
            assert container["resources"]["limits"]["memory"]
            assert container["resources"]["requests"]["cpu"]
    # a uid of its own for each service (the learn shards are one service) and the workers
    by_kind: dict[str, set[int]] = {}
    for name, uid in uids.items():
        by_kind.setdefault("learn" if name in LEARN else name, set()).add(uid)
    assert all(len(kind) == 1 for kind in by_kind.values()), by_kind
    assert len(set.union(*by_kind.values())) == len(by_kind) == 5, by_kind
    # the course group: grading and records share the volume with trainers' pods
    assert {pod_spec(n)["securityContext"].get("fsGroup") for n in ("grading", "records")} == {
        values()["singleuser"]["fsGid"]
    }
    for name in LEARN:
        assert "fsGroup" not in pod_spec(name)["securityContext"]


def test_only_the_hub_and_the_proxy_reach_the_services() -> None:
    policies = of_kind("NetworkPolicy")
    allowed = {
        "learn": [HUB_PEER, PROXY_PEER],
        "learn-1": [HUB_PEER, PROXY_PEER],
        "grading": [HUB_PEER, PROXY_PEER, {"app.kubernetes.io/name": "learn"}],
        "records": [HUB_PEER, PROXY_PEER, {"app.kubernetes.io/name": "learn"}],
    }
    for name, peers in allowed.items():
        labels = of_kind("Deployment")[name]["spec"]["template"]["metadata"]["labels"]
        (policy,) = [
            p
            for p in policies.values()
            if p["spec"]["podSelector"]["matchLabels"].items() <= labels.items()
        ]
        assert set(policy["spec"]["policyTypes"]) == {"Ingress", "Egress"}
        opened = {
            p["containerPort"] for k in pod_spec(name)["containers"] for p in k.get("ports", [])
        }
        for rule in policy["spec"]["ingress"]:
            assert rule.get("from"), "an ingress rule without 'from' admits everyone"
            for peer in rule["from"]:
                assert set(peer) == {"podSelector"}  # this namespace only, no ipBlock
                selected = peer["podSelector"]["matchLabels"]
                assert any(p.items() <= selected.items() for p in peers), (name, selected)
            assert {p["port"] for p in rule["ports"]} <= opened
        egress_ports = {p["port"] for rule in policy["spec"]["egress"] for p in rule["ports"]}
        assert {8081, 5432, 53} <= egress_ports
        assert 443 not in egress_ports and 80 not in egress_ports  # no way out to the web


# the images' build files


def dockerfile(name: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of deploy/images/<name>/Dockerfile, continuations joined."""
    text = (IMAGES / name / "Dockerfile").read_text(encoding="utf-8")
    out = []
    for line in re.sub(r"\\\n", " ", text).splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


@pytest.mark.parametrize("name", ["hub", "services", "trainer"])
def test_dockerfiles_parse_sensibly(name: str) -> None:
    steps = dockerfile(name)
    known = {"ARG", "FROM", "RUN", "COPY", "ENV", "USER", "WORKDIR", "ENTRYPOINT", "CMD", "EXPOSE"}
    assert {word for word, _ in steps} <= known
    froms = [i for i, (word, _) in enumerate(steps) if word == "FROM"]
    assert froms and all(word == "ARG" for word, _ in steps[: froms[0]])
    declared = {rest.split("=")[0] for word, rest in steps[: froms[0]]}
    for i in froms:
        image = steps[i][1].split()[0]
        for var in re.findall(r"\$\{(\w+)\}", image):
            assert var in declared, f"FROM uses ${{{var}}} before an ARG declares it"
    users = [rest for word, rest in steps if word == "USER"]
    assert users and users[-1].split(":")[0] not in {"root", "0"}, "the image must not run as root"
    for word, rest in steps:
        if word in ("ENV", "ARG"):
            assert not re.search(r"(PASSWORD|SECRET|TOKEN)\w*=", rest), rest
        if word == "COPY":
            sources = [s for s in rest.split()[:-1] if not s.startswith("--")]
            for source in sources:
                assert (ROOT / source).exists(), f"COPY {source}: no such file in the project"
                # answer keys never go into an image
                assert not source.startswith(("modules", "grading")), source
    ignore = [
        line.strip()
        for line in (IMAGES / name / "Dockerfile.dockerignore").read_text("utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert ignore[0] == "*"  # everything out, then only what is named
    assert not any(w.startswith(("!modules", "!grading", "!var", "!.venv")) for w in ignore)


def test_each_image_is_the_one_its_pods_use() -> None:
    hub = dockerfile("hub")
    assert [rest for word, rest in hub if word == "FROM"] == [
        "quay.io/jupyterhub/k8s-hub:${HUB_IMAGE_TAG}"
    ]
    assert any(
        word == "RUN" and "pip install" in rest and "omsorgslyft" in rest for word, rest in hub
    )
    assert any(w == "COPY" and r.startswith("hub_config/templates ") for w, r in hub)
    services = dockerfile("services")
    assert any(w == "RUN" and "tini" in r for w, r in services)
    # every service listens on its pod's port itself (--ip): no forwarder container
    for name in [*SERVICES, *WORKERS]:
        assert all("socat" not in k.get("args", []) for k in pod_spec(name)["containers"])
    trainer = dockerfile("trainer")
    assert any(w == "COPY" and "/etc/jupyter/nbgrader_config.py" in r for w, r in trainer)
    v = values()
    images = {
        k["image"].rsplit(":", 1)[0]
        for n in [*SERVICES, "grading-worker"]
        for k in pod_spec(n)["containers"]
    }
    assert images == {"registry.kommun.example/omsorgslyft-services"}
    assert v["hub"]["image"]["name"].endswith("/omsorgslyft-hub")
    assert v["singleuser"]["image"]["name"].endswith("/omsorgslyft-trainer")


# the operators' docs


def test_docs_install_the_schemas_chart_version_step_by_step() -> None:
    text = DOCS.read_text(encoding="utf-8")
    (version,) = set(re.findall(r"--version (\S+)", VALUES.read_text(encoding="utf-8")))
    assert f"--version {version}" in text and "-f deploy/z2jh/values.yaml" in text
    assert "helm upgrade --install" in text
    assert re.search(r"kubectl (-n \S+ )?apply -f deploy/k8s/", text)
    assert "helm template" in text and "rendered-manifest review" in text.lower()
    assert "kubernetes.md" in (ROOT / "docs" / "operators.md").read_text(encoding="utf-8")
