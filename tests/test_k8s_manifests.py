"""The Kubernetes manifests as a whole (docs/kubernetes.md): every file in deploy/k8s/
parsed, every workload (the services, the learn shards, the grading workers, the broker)
checked for least privilege and its volumes, the shards and workers against what the code
and the hub's settings make of them (names, prefixes, ports, command lines), every Secret
against the docs, and the NetworkPolicies through a small evaluator of who may reach whom.

No cluster, helm or kubeconform here: structure, Kubernetes' own schemas
(tests/test_k8s_schemas.py) and the chart's values schema (tests/test_z2jh.py) are what is
checked.
"""

from __future__ import annotations

import contextlib
import io
import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from jupyterhub.services.service import Service
from test_z2jh import (
    COURSE_PVC,
    HUB_PEER,
    MANIFESTS,
    PROXY_PEER,
    RELEASE_PVC,
    docs_secrets,
    env_entries,
    of_kind,
    pod_environment,
    pod_spec,
    run_extra_config,
    secret_refs,
    values,
    workloads,
)

import omsorgslyft.grading.service as grading_service
import omsorgslyft.grading.worker as grading_worker
import omsorgslyft.records.service as records_service
from omsorgslyft.grading.course import nbgrader_config
from omsorgslyft.grading.taskqueue import QUEUE
from omsorgslyft.hub.settings import learn_port
from omsorgslyft.learn import shards

KINDS = {"ConfigMap", "PersistentVolumeClaim", "Deployment", "StatefulSet", "Service"}
KINDS |= {"NetworkPolicy"}
TRAINER_PEER = {
    "app.kubernetes.io/name": "jupyterhub",
    "app.kubernetes.io/component": "singleuser-server",
}


def containers(name: str) -> list[dict[str, Any]]:
    spec = pod_spec(name)
    found: list[dict[str, Any]] = spec.get("initContainers", []) + spec["containers"]
    return found


def pod_labels(name: str) -> dict[str, str]:
    labels: dict[str, str] = workloads()[name]["spec"]["template"]["metadata"]["labels"]
    return labels


def env_of(container: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {e["name"]: e for e in container.get("env", [])}


def flags(args: list[str]) -> list[str]:
    return [a.split("=", 1)[0] for a in args if a.startswith("--")]


def learn_workloads() -> list[str]:
    return sorted(n for n in workloads() if pod_labels(n)["app.kubernetes.io/name"] == "learn")


# every file


def test_every_manifest_parses_and_is_omsorgslyfts() -> None:
    seen: set[tuple[str, str]] = set()
    for path in sorted(MANIFESTS.glob("*.yaml")):
        docs = [d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d]
        assert docs, path
        for doc in docs:
            assert doc["kind"] in KINDS and doc["apiVersion"], (path, doc.get("kind"))
            meta = doc["metadata"]
            assert "namespace" not in meta, "applied with -n: no namespace in a file"
            assert meta["labels"]["app.kubernetes.io/part-of"] == "omsorgslyft", meta["name"]
            assert (doc["kind"], meta["name"]) not in seen, meta["name"]
            seen.add((doc["kind"], meta["name"]))


def test_every_workload_runs_unprivileged_with_resources() -> None:
    assert {"grading-worker", "rabbitmq", "learn", "learn-1"} <= set(workloads())
    for name in workloads():
        spec = pod_spec(name)
        assert spec["automountServiceAccountToken"] is False, name
        assert not {"hostNetwork", "hostPID", "hostIPC"} & set(spec), name
        assert not any("hostPath" in v for v in spec.get("volumes", [])), name
        pod = spec["securityContext"]
        assert pod["runAsNonRoot"] is True and pod["runAsUser"] > 0, name
        assert pod["seccompProfile"] == {"type": "RuntimeDefault"}, name
        for container in containers(name):
            where = f"{name}/{container['name']}"
            sc = container["securityContext"]
            assert sc["allowPrivilegeEscalation"] is False, where
            assert sc["readOnlyRootFilesystem"] is True, where
            assert sc["capabilities"] == {"drop": ["ALL"]}, where
            assert not sc.get("privileged") and sc.get("runAsUser", 1) != 0, where
            resources = container["resources"]
            assert resources["requests"]["cpu"] and resources["requests"]["memory"], where
            assert resources["limits"]["memory"], where


# volumes


def pvc_mounts(name: str) -> list[tuple[str, dict[str, Any], dict[str, Any]]]:
    """(claim, volume, mount) for every PVC mount of a workload's containers."""
    spec = pod_spec(name)
    volumes = {v["name"]: v for v in spec.get("volumes", []) if "persistentVolumeClaim" in v}
    return [
        (volumes[m["name"]]["persistentVolumeClaim"]["claimName"], volumes[m["name"]], m)
        for k in containers(name)
        for m in k.get("volumeMounts", [])
        if m["name"] in volumes
    ]


def test_the_course_volume_only_where_it_is_needed_read_only_where_possible() -> None:
    # the answer keys are on the course volume: grading (checks hand-ins, writes
    # submitted/), records (erasure) and the workers (read-only) only
    writers = {"grading", "records"}
    for name in workloads():
        course = [(v, m) for claim, v, m in pvc_mounts(name) if claim == COURSE_PVC]
        if name in writers:
            assert course, name
        elif name == "grading-worker":
            assert {m["subPath"] for _v, m in course} == {"grading/source", "modules"}
            for volume, mount in course:
                assert volume["persistentVolumeClaim"]["readOnly"] is True
                assert mount["readOnly"] is True
        else:
            assert not course, f"{name} must not mount the course volume"
    # the released notebooks: written by grading (the build), read by learn and the workers
    for name in workloads():
        for claim, volume, mount in pvc_mounts(name):
            if claim == RELEASE_PVC and name != "grading":
                assert volume["persistentVolumeClaim"]["readOnly"] is True, name
                assert mount["readOnly"] is True, name
    # what a worker writes is its own: every writable mount of it is an emptyDir
    spec = pod_spec("grading-worker")
    kinds = {v["name"]: v for v in spec["volumes"]}
    for mount in spec["containers"][0]["volumeMounts"]:
        if not mount.get("readOnly"):
            assert "emptyDir" in kinds[mount["name"]], mount
    # the broker's data on its own claim, nothing of the course
    (template,) = workloads()["rabbitmq"]["spec"]["volumeClaimTemplates"]
    assert template["spec"]["accessModes"] == ["ReadWriteOnce"]
    assert not pvc_mounts("rabbitmq")


def test_each_selector_picks_one_workloads_pods() -> None:
    """Two Deployments whose selectors overlap would fight over pods (the learn shards all
    carry app.kubernetes.io/name: learn, told apart by app.kubernetes.io/instance)."""
    names = list(workloads())
    for name in names:
        selector = workloads()[name]["spec"]["selector"]["matchLabels"]
        assert selector.items() <= pod_labels(name).items(), name
        for other in names:
            if other != name:
                assert not selector.items() <= pod_labels(other).items(), (name, other)
    for service_name, service in of_kind("Service").items():
        selector = service["spec"]["selector"]
        picked = [n for n in names if selector.items() <= pod_labels(n).items()]
        assert picked == [service_name], (service_name, picked)


# the learn shards and the hub's settings


def test_the_learn_shards_are_the_hubs_services(monkeypatch: pytest.MonkeyPatch) -> None:
    count = int(values()["hub"]["extraEnv"]["OMSORGSLYFT_LEARN_SHARDS"])
    assert count >= 2
    c, (settings,) = run_extra_config(monkeypatch, pod_environment())
    assert settings.learn_shards == count
    names = shards.service_names(count)
    assert learn_workloads() == sorted(names)
    hub_services = {s["name"]: s for s in c.JupyterHub.services}
    first = containers("learn")[0]
    for k, name in enumerate(names):
        (container,) = pod_spec(name)["containers"]
        args = container["args"]
        assert f"--LearnApp.shards={count}" in args and f"--LearnApp.shard={k}" in args
        # the same program as shard 0, apart from its shard
        assert container["image"] == first["image"]
        assert [a for a in args if not a.startswith("--LearnApp.shard=")] == [
            a for a in first["args"] if not a.startswith("--LearnApp.shard=")
        ]
        env = env_of(container)
        prefix = shards.prefix("/", k)
        assert env["JUPYTERHUB_SERVICE_NAME"]["value"] == name
        assert env["JUPYTERHUB_SERVICE_PREFIX"]["value"] == prefix
        jupyterhub_service = Service(name=name)  # JupyterHub's own names for its OAuth client
        assert env["JUPYTERHUB_CLIENT_ID"]["value"] == jupyterhub_service.oauth_client_id
        assert env["JUPYTERHUB_OAUTH_CALLBACK_URL"]["value"] == prefix + "oauth_callback"
        scopes = json.loads(env["JUPYTERHUB_OAUTH_ACCESS_SCOPES"]["value"])
        assert f"access:services!service={name}" in scopes
        token = env["JUPYTERHUB_API_TOKEN"]["valueFrom"]["secretKeyRef"]
        assert token == {"name": "omsorgslyft-service-tokens", "key": name}
        # the hub routes the shard's prefix to its Service, at the one-machine port
        (port,) = of_kind("Service")[name]["spec"]["ports"]
        assert port["port"] == learn_port(settings, k)
        spec = hub_services[name]
        assert spec["url"] == f"http://{name}.omsorgslyft.svc:{port['port']}"
        assert "command" not in spec and spec["display"] is (k == 0)
    # the learn service's role and people's access name every shard
    (role,) = [r for r in c.JupyterHub.load_roles if r["name"] == "learn-service"]
    assert role["services"] == names


def test_the_learn_command_line_names_real_traits() -> None:
    from omsorgslyft.learn.app import LearnApp

    traits = set(LearnApp.class_trait_names(config=True))
    for name in learn_workloads():
        for flag in flags(containers(name)[0]["args"]):
            if flag.startswith("--LearnApp."):
                assert flag.removeprefix("--LearnApp.") in traits, flag


# the grading workers, the grading service and the broker


def worker_help() -> str:
    out = io.StringIO()
    with contextlib.redirect_stdout(out), pytest.raises(SystemExit):
        grading_worker.main(["--help"])
    return out.getvalue()


@pytest.mark.parametrize(
    ("workload", "module", "help_text"),
    [
        ("grading-worker", "omsorgslyft.grading.worker", worker_help),
        ("grading", "omsorgslyft.grading.service", grading_service.arguments().format_help),
        ("records", "omsorgslyft.records.service", records_service.arguments().format_help),
    ],
)
def test_command_lines_use_the_programs_options(workload: str, module: str, help_text: Any) -> None:
    (container,) = pod_spec(workload)["containers"]
    args = container["args"]
    assert args[:3] == ["python3", "-m", module]
    known = set(re.findall(r"--[a-z][a-z-]*", help_text()))
    for flag in flags(args):
        assert flag in known, f"{workload}: {flag} is not an option of {module}"
    # the broker's URL holds its password: never on a command line
    assert "--queue" not in flags(args)


def test_the_workers_and_the_service_share_the_queue() -> None:
    worker = pod_spec("grading-worker")["containers"][0]
    service = next(k for k in pod_spec("grading")["containers"] if k["name"] == "grading")
    for container in (worker, service):
        ref = env_of(container)["OMSORGSLYFT_GRADING_QUEUE"]["valueFrom"]["secretKeyRef"]
        assert ref == {"name": "omsorgslyft-broker", "key": "url"}
        assert "--queue-name" not in flags(container["args"])  # both the default
    assert (
        grading_service.arguments().parse_args(["--course-dir=g", "--modules-dir=m"]).queue_name
        == QUEUE
    )
    # the stores the worker's command line names come from its environment (Secrets)
    env = env_of(worker)
    for arg in worker["args"]:
        if arg.startswith(("--db-url=", "--gradebook-url=")):
            (var,) = re.findall(r"=\$\((\w+)\)$", arg)
            assert env[var]["valueFrom"]["secretKeyRef"]["name"] == "omsorgslyft-db"


def test_the_worker_reads_the_broker_from_the_variable_the_manifest_sets(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    args = ["--course-dir", str(tmp_path), "--modules-dir", str(tmp_path)]
    args += ["--db-url", "sqlite:///nowhere.db"]
    monkeypatch.delenv("OMSORGSLYFT_GRADING_QUEUE", raising=False)
    err = io.StringIO()
    with contextlib.redirect_stderr(err), pytest.raises(SystemExit):
        grading_worker.main(args)
    assert "OMSORGSLYFT_GRADING_QUEUE" in err.getvalue()  # no broker: refused
    # with the variable it gets past the broker, to the next check (PostgreSQL needed)
    monkeypatch.setenv("OMSORGSLYFT_GRADING_QUEUE", "amqp://127.0.0.1:1/omsorgslyft")
    with pytest.raises(SystemExit, match="PostgreSQL"):
        grading_worker.main(args)


def test_a_worker_holds_no_hub_access_and_outlasts_a_grading() -> None:
    deployment = workloads()["grading-worker"]
    spec = pod_spec("grading-worker")
    (container,) = spec["containers"]
    assert not container.get("ports")
    assert not any(e["name"].startswith("JUPYTERHUB_") for e in container["env"])
    assert "hub.jupyter.org/network-access-hub" not in pod_labels("grading-worker")
    assert deployment["spec"]["replicas"] >= 1
    # SIGTERM lets the grading in progress finish: longer than a cell may run
    timeout = nbgrader_config(Path("/course")).Execute.timeout
    assert spec["terminationGracePeriodSeconds"] > timeout
    # its own uid, in the course group without taking the volume over (no fsGroup)
    pod = spec["securityContext"]
    assert pod["supplementalGroups"] == [values()["singleuser"]["fsGid"]]
    assert "fsGroup" not in pod
    assert pod["runAsUser"] != pod_spec("grading")["securityContext"]["runAsUser"]


def test_the_broker_is_the_one_the_docs_secret_names() -> None:
    created = docs_secrets()["omsorgslyft-broker"]
    url = re.fullmatch(r"amqp://([^:]+):\$(\w+)@([^:/]+):(\d+)/(\w+)", created["url"])
    assert url, created["url"]
    user, password_var, host, port, vhost = url.groups()
    assert created["username"] == user and created["password"] == f"${password_var}"
    (container,) = pod_spec("rabbitmq")["containers"]
    env = env_of(container)
    assert env["RABBITMQ_DEFAULT_VHOST"]["value"] == vhost
    for var, key in (("RABBITMQ_DEFAULT_USER", "username"), ("RABBITMQ_DEFAULT_PASS", "password")):
        assert env[var]["valueFrom"]["secretKeyRef"] == {"name": "omsorgslyft-broker", "key": key}
    service = of_kind("Service")[host]
    assert [p["port"] for p in service["spec"]["ports"]] == [int(port)]
    assert workloads()["rabbitmq"]["spec"]["replicas"] == 1


# Secrets


def test_every_secret_reference_is_in_the_docs_and_every_key_is_used() -> None:
    refs = secret_refs()
    assert {("omsorgslyft-broker", "url"), ("omsorgslyft-service-tokens", "learn-1")} <= refs
    created = docs_secrets()
    for secret, key in refs:
        assert key in created.get(secret, {}), f"docs/kubernetes.md does not create {secret}/{key}"
    made = {(secret, key) for secret, keys in created.items() for key in keys}
    assert made == refs, f"created but unused: {sorted(made - refs)}"
    # every secretKeyRef was seen (init containers and StatefulSets included)
    for where, _name, entry in env_entries():
        ref = entry.get("valueFrom", {}).get("secretKeyRef")
        if ref:
            assert (ref["name"], ref["key"]) in refs, where


# NetworkPolicies: who may reach whom

#: ports of pods in the namespace that matter (PostgreSQL and DNS are outside the namespace:
#: their rules allow any address by design, see networkpolicy.yaml)
POD_PORTS = (8080, 8081, 8888, 5672, 4369, 25672, 15672)
OUTSIDE_PORTS = (5432, 53, 587, 443, 80, 5672, 8081)
OURS = ("learn", "learn-1", "grading", "records", "grading-worker", "rabbitmq")
SERVICES = ("learn", "learn-1", "grading", "records")
LEARN = ("learn", "learn-1")


def peers() -> dict[str, dict[str, str] | None]:
    """Pod labels of everyone; None for an address outside the namespace."""
    out: dict[str, dict[str, str] | None] = {n: pod_labels(n) for n in workloads()}
    out |= {"hub": HUB_PEER, "proxy": PROXY_PEER, "trainer": TRAINER_PEER, "outside": None}
    return out


def selects(selector: dict[str, Any], labels: dict[str, str] | None) -> bool:
    assert set(selector) <= {"matchLabels"}, "the evaluator knows matchLabels only"
    return labels is not None and selector.get("matchLabels", {}).items() <= labels.items()


def rule_admits(rule: dict[str, Any], side: str, labels: dict[str, str] | None, port: int) -> bool:
    if "ports" in rule:
        for p in rule["ports"]:
            assert isinstance(p["port"], int) and set(p) <= {"port", "protocol"}
        if port not in {p["port"] for p in rule["ports"]}:
            return False
    if side not in rule:
        return True  # no "to"/"from": any address
    for peer in rule[side]:
        assert set(peer) == {"podSelector"}, "the evaluator knows podSelectors only"
    return any(selects(peer["podSelector"], labels) for peer in rule[side])


def allowed(
    policies: list[dict[str, Any]],
    src: dict[str, str] | None,
    dst: dict[str, str] | None,
    port: int,
) -> bool:
    """Kubernetes' semantics: a direction is open unless a policy selects the pod for it;
    then one of those policies' rules must admit the other end and the port."""

    def direction(pod: dict[str, str] | None, kind: str, side: str, other: Any) -> bool:
        chosen = [
            p["spec"]
            for p in policies
            if selects(p["spec"]["podSelector"], pod) and kind in p["spec"]["policyTypes"]
        ]
        if pod is None or not chosen:
            return True
        rules = [r for spec in chosen for r in spec.get(kind.lower(), [])]
        return any(rule_admits(r, side, other, port) for r in rules)

    return direction(src, "Egress", "to", dst) and direction(dst, "Ingress", "from", src)


def reachable(policies: list[dict[str, Any]]) -> set[tuple[str, str, int]]:
    everyone = peers()
    out = set()
    for src in (*OURS, "hub", "proxy", "trainer"):
        for dst, labels in everyone.items():
            if dst == src or (src not in OURS and dst not in OURS):
                continue  # between the chart's own pods: the chart's policies
            for port in OUTSIDE_PORTS if dst == "outside" else POD_PORTS:
                if allowed(policies, everyone[src], labels, port):
                    out.add((src, dst, port))
    return out


def expected() -> set[tuple[str, str, int]]:
    out = set()
    for service in SERVICES:
        out |= {("hub", service, 8080), ("proxy", service, 8080)}  # checks; people's requests
        out |= {(service, "hub", 8081)}  # the hub's API (tokens, OAuth)
        out |= {(service, "outside", 5432), (service, "outside", 53)}  # PostgreSQL, DNS
    for learn in LEARN:
        out |= {(learn, "grading", 8080), (learn, "records", 8080)}  # hand-ins, own records
    out |= {("records", "outside", 587)}  # the SMTP relay
    out |= {("grading", "rabbitmq", 5672)}  # queues each hand-in
    # the workers: PostgreSQL and the broker, nothing else (the hand-ins run there)
    out |= {("grading-worker", "rabbitmq", 5672)}
    out |= {("grading-worker", "outside", 5432), ("grading-worker", "outside", 53)}
    out |= {("rabbitmq", "outside", 53)}
    return out


def test_network_policies_allow_what_each_needs_and_nothing_else() -> None:
    policies = list(of_kind("NetworkPolicy").values())
    for policy in policies:
        assert set(policy["spec"]["policyTypes"]) == {"Ingress", "Egress"}
    # every one of our pods is selected by a policy (none is open by omission)
    for name in OURS:
        assert any(selects(p["spec"]["podSelector"], pod_labels(name)) for p in policies), name
    actual, wanted = reachable(policies), expected()
    assert actual == wanted, (
        f"allowed but not needed: {sorted(actual - wanted)}; "
        f"needed but not allowed: {sorted(wanted - actual)}"
    )


def test_the_policy_check_would_catch_an_opening() -> None:
    """A worker's egress rule widened to the hub, or the broker's ingress to everyone."""
    policies = of_kind("NetworkPolicy")
    worker = policies["omsorgslyft-grading-worker"]
    worker["spec"]["egress"].append(
        {"to": [{"podSelector": {"matchLabels": HUB_PEER}}], "ports": [{"port": 8081}]}
    )
    assert ("grading-worker", "hub", 8081) in reachable(list(policies.values()))
    policies = of_kind("NetworkPolicy")
    del policies["omsorgslyft-rabbitmq"]["spec"]["ingress"][0]["from"]
    assert ("trainer", "rabbitmq", 5672) in reachable(list(policies.values()))
