"""The learn service as the store, reached from the page's kernel with its capability token."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any


class RemoteError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class RemoteStore:
    def __init__(self, api_url: str, token: str, timeout: float = 60) -> None:
        self.api_url = api_url.rstrip("/") + "/api/page/"
        self.token = token
        self.timeout = timeout
        self.last_load: dict[str, Any] = {}

    def _post(self, action: str, body: dict[str, Any]) -> dict[str, Any]:
        request = urllib.request.Request(
            self.api_url + action,
            data=json.dumps(body).encode(),
            headers={"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
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

    def load(self) -> dict[str, dict[str, Any]]:
        self.last_load = self._post("load", {})
        state: dict[str, dict[str, Any]] = self.last_load["state"]
        return state

    def save(self, kind: str, key: str, value: Any) -> None:
        self._post("save", {"kind": kind, "key": key, "value": value})

    def submit(self) -> dict[str, Any]:
        return self._post("submit", {})
