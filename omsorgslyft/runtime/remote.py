"""The learn service as the store, reached from the page's kernel with its capability token.

A page's kernel gets its token in one of two ways. A kernel started for the page has it in
its start cell (the learn service's prelaunch hook). A preheated kernel, started and run
before anyone opened the page, asks for it (:func:`request_binding`): the learn service
holds the request until it hands the kernel to a learner, then answers with that learner's
token and saved state, once. The request is signed with the kernel's own connection key
(:func:`bind_signature`), which only the kernel and the service that started it know.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import urllib.error
import urllib.request
from typing import Any

#: what a bind signature covers, before the kernel id and the time
BIND_CONTEXT = b"omsorgslyft-bind-v1"


class RemoteError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _post(
    url: str, body: dict[str, Any], headers: dict[str, str], timeout: float | None
) -> dict[str, Any]:
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        headers={**headers, "Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            data: dict[str, Any] = json.loads(response.read())
            data["_status"] = response.status
            return data
    except urllib.error.HTTPError as exc:
        try:
            message = json.loads(exc.read()).get("error", "")
        except ValueError:
            message = ""
        raise RemoteError(exc.code, message or "Något gick fel.") from None
    except OSError:
        raise RemoteError(0, "Ingen kontakt med servern. Försök igen om en stund.") from None


class RemoteStore:
    """``loaded``: the state the service already sent (a preheated page's binding), used
    for the first :meth:`load` instead of asking again."""

    def __init__(
        self,
        api_url: str,
        token: str,
        timeout: float = 60,
        loaded: dict[str, Any] | None = None,
    ) -> None:
        self.api_url = api_url.rstrip("/") + "/api/page/"
        self.token = token
        self.timeout = timeout
        self.last_load: dict[str, Any] = {}
        self._loaded = loaded

    def _post(self, action: str, body: dict[str, Any]) -> dict[str, Any]:
        return _post(
            self.api_url + action, body, {"Authorization": f"Bearer {self.token}"}, self.timeout
        )

    def load(self) -> dict[str, dict[str, Any]]:
        if self._loaded is not None:
            self.last_load, self._loaded = self._loaded, None
        else:
            self.last_load = self._post("load", {})
        state: dict[str, dict[str, Any]] = self.last_load["state"]
        return state

    def save(self, kind: str, key: str, value: Any) -> None:
        self._post("save", {"kind": kind, "key": key, "value": value})

    def submit(self) -> dict[str, Any]:
        return self._post("submit", {})

    def new_attempt(self) -> dict[str, Any]:
        """Start the next attempt after a failed one: ``{"attempt", "state"}``."""
        return self._post("attempt", {})


def bind_signature(key: bytes, kernel_id: str, when: int) -> str:
    """HMAC-SHA256 with the kernel's connection key over the kernel id and the time."""
    message = b"\n".join((BIND_CONTEXT, kernel_id.encode(), str(int(when)).encode()))
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def request_binding(
    api_url: str, kernel_id: str, key: bytes, timeout: float | None = None
) -> dict[str, Any]:
    """Ask the learn service whose page this preheated kernel is: blocks until the service
    hands the kernel to a learner; returns ``{"token", "state", "result"}``."""
    when = int(time.time())
    body = {"kernel": kernel_id, "time": when, "signature": bind_signature(key, kernel_id, when)}
    return _post(api_url.rstrip("/") + "/api/page/bind", body, {}, timeout)
