"""Every manifest in deploy/k8s/ against Kubernetes' own OpenAPI schemas (the
kubernetes-validate package bundles them, so no cluster is needed): each object's kind
and apiVersion exist, its fields are the API's (strict: a misspelt field is an error, as
``kubectl apply --validate=strict`` would say), and its values have the API's types.

Checked against the oldest Kubernetes the docs ask for (1.32, the chart's ``kubeVersion``;
docs/kubernetes.md) and the newest the package knows.
"""

from __future__ import annotations

import copy
from typing import Any

import kubernetes_validate
import pytest
from test_z2jh import manifests

#: the Kubernetes versions the manifests must be valid for
VERSIONS = ("1.32.0", "1.37.0")


def _name(doc: dict[str, Any]) -> str:
    return f"{doc['kind']}/{doc['metadata']['name']}"


@pytest.mark.parametrize("version", VERSIONS)
def test_every_manifest_is_valid_kubernetes(version: str) -> None:
    docs = list(manifests())
    assert len(docs) >= 15, "the services, the shards, the workers, the broker, the policies"
    problems = []
    for doc in docs:
        try:
            kubernetes_validate.validate(doc, version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            problems.append(f"{_name(doc)}: {exc.message} at {list(exc.path)}")
    assert problems == []


def test_the_check_finds_a_misspelt_field_and_a_wrong_type() -> None:
    worker = next(d for d in manifests() if _name(d) == "Deployment/grading-worker")
    misspelt = copy.deepcopy(worker)
    container = misspelt["spec"]["template"]["spec"]["containers"][0]
    container["securityContxt"] = container.pop("securityContext")
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(misspelt, VERSIONS[-1], strict=True)
    wrong = copy.deepcopy(worker)
    wrong["spec"]["replicas"] = "two"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(wrong, VERSIONS[-1], strict=True)
