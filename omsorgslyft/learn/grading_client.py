"""HTTP client for the grading service (the same code whether it runs beside us or not)."""

from __future__ import annotations

import contextlib
import json
from typing import Any

from tornado.httpclient import AsyncHTTPClient, HTTPClientError, HTTPRequest


class GradingError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class ServiceClient:
    """JSON over HTTP to another hub service, with this service's own hub token."""

    def __init__(
        self, base_url: str, api_token: str, timeout: float = 30, name: str = "Rättningstjänsten"
    ) -> None:
        # many learners may submit at once: do not queue them behind tornado's default 10
        AsyncHTTPClient.configure(None, max_clients=500)
        self.base_url = base_url.rstrip("/") + "/"
        self.api_token = api_token
        self.timeout = timeout
        self.name = name

    async def _call(self, method: str, path: str, body: Any = None) -> Any:
        request = HTTPRequest(
            self.base_url + path,
            method=method,
            headers={
                "Authorization": f"token {self.api_token}",
                "Content-Type": "application/json",
            },
            body=json.dumps(body) if body is not None else None,
            request_timeout=self.timeout,
        )
        try:
            response = await AsyncHTTPClient().fetch(request)
        except HTTPClientError as exc:
            message = f"{self.name} svarade inte."
            if exc.response is not None and exc.response.body:
                with contextlib.suppress(ValueError):
                    message = json.loads(exc.response.body).get("error", message)
            raise GradingError(exc.code, message) from None
        except OSError:
            raise GradingError(
                503, f"{self.name} går inte att nå just nu. Försök igen om en stund."
            ) from None
        return json.loads(response.body)

    async def get(self, path: str) -> Any:
        return await self._call("GET", path)


class GradingClient(ServiceClient):
    async def submit(
        self,
        sid: str,
        learner: str,
        module: str,
        version: int,
        answers: dict[str, Any],
        variant: str = "",
    ) -> Any:
        return await self._call(
            "POST",
            "api/submissions",
            {
                "id": sid,
                "learner": learner,
                "module": module,
                "version": version,
                "answers": answers,
                "variant": variant,
            },
        )

    async def submission(self, sid: str) -> Any:
        return await self._call("GET", f"api/submissions/{sid}")

    async def submissions(self, learner: str) -> Any:
        return await self._call("GET", f"api/learners/{learner}/submissions")
