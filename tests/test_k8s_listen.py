"""``--ip`` of the grading and records services (docs/kubernetes.md): loopback by default,
``0.0.0.0`` in a Kubernetes pod. Only loopback is listened on here: the non-loopback case
checks the address handed to ``listen``."""

from __future__ import annotations

import argparse
import socket
from collections.abc import Callable
from types import ModuleType
from typing import Any

import pytest
from tornado.httpserver import HTTPServer
from tornado.web import Application

import omsorgslyft.grading.service as grading
import omsorgslyft.records.service as records

REQUIRED = {
    grading: ["--course-dir=grading", "--modules-dir=modules"],
    records: ["--root=."],
}


def parse(module: ModuleType, *extra: str) -> argparse.Namespace:
    parser: Callable[[], argparse.ArgumentParser] = module.arguments
    return parser().parse_args([*REQUIRED[module], *extra])


def free_loopback_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture(autouse=True)
def _no_hub_service_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("JUPYTERHUB_SERVICE_URL", raising=False)


@pytest.mark.parametrize("module", [grading, records], ids=["grading", "records"])
def test_the_default_is_loopback_and_it_listens_there(module: ModuleType) -> None:
    port = free_loopback_port()
    args = parse(module, f"--port={port}")
    assert args.ip == "127.0.0.1"
    server = HTTPServer(Application())
    try:
        assert module.listen(server, args) == port
        bound = {s.getsockname()[:2] for s in server._sockets.values()}
        assert bound == {("127.0.0.1", port)}
        with socket.create_connection(("127.0.0.1", port), timeout=5):
            pass
    finally:
        server.stop()


@pytest.mark.parametrize("module", [grading, records], ids=["grading", "records"])
def test_ip_is_the_address_listened_on(module: ModuleType, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[Any, ...]] = []
    monkeypatch.setattr(HTTPServer, "listen", lambda self, *a, **k: calls.append(a))
    assert module.listen(HTTPServer(Application()), parse(module, "--ip=0.0.0.0")) == (
        8102 if module is grading else 8103
    )
    assert calls == [(8102 if module is grading else 8103, "0.0.0.0")]


@pytest.mark.parametrize("module", [grading, records], ids=["grading", "records"])
def test_the_hubs_service_url_gives_the_port_not_the_address(
    module: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A service the hub starts listens at the port of its URL, on --ip (loopback)."""
    monkeypatch.setenv("JUPYTERHUB_SERVICE_URL", "http://127.0.0.1:18555/")
    calls: list[tuple[Any, ...]] = []
    monkeypatch.setattr(HTTPServer, "listen", lambda self, *a, **k: calls.append(a))
    assert module.listen(HTTPServer(Application()), parse(module, "--port=1")) == 18555
    assert calls == [(18555, "127.0.0.1")]


@pytest.mark.parametrize("module", [grading, records], ids=["grading", "records"])
def test_ip_is_documented(module: ModuleType) -> None:
    help_text = module.arguments().format_help()
    assert "--ip" in help_text and "loopback" in help_text
