"""Keep the hub in step with the roster: units and roles as groups, leavers logged out.

A reconcile loop in the style of jupyterhub-idle-culler: the pure part computes what the
groups should be; a thin async part talks to the hub's REST API with the records service's
token. Only groups named ``enhet:…`` and ``befattning:…`` are managed; any other group
(``utbildare``, ``hr``) is left alone. Users appear in the hub at their first login, so they
join their groups at the next pass after it.
"""

from __future__ import annotations

import json
import logging
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from typing import Any

from tornado.httpclient import AsyncHTTPClient, HTTPClientError, HTTPRequest

from omsorgslyft.records.model import Employee

log = logging.getLogger("omsorgslyft.records.hubsync")

UNIT, ROLE = "enhet:", "befattning:"


def slug(text: str) -> str:
    """``Särskilt boende Björkbacken`` -> ``sarskilt-boende-bjorkbacken``."""
    plain = unicodedata.normalize("NFKD", text.casefold())
    out, dash = [], False
    for ch in plain:
        if unicodedata.combining(ch):
            continue
        if ch.isascii() and ch.isalnum():
            out.append(ch)
            dash = False
        elif not dash and out:
            out.append("-")
            dash = True
    return "".join(out).strip("-")[:100] or "okand"


def unit_group(unit: str) -> str:
    return UNIT + slug(unit)


def role_group(role: str) -> str:
    return ROLE + slug(role)


@dataclass(frozen=True)
class SyncPlan:
    create: tuple[str, ...]
    add: dict[str, tuple[str, ...]]  # group -> users to add
    remove: dict[str, tuple[str, ...]]  # group -> users to remove
    log_out: tuple[str, ...]  # leavers who still exist in the hub

    @property
    def empty(self) -> bool:
        return not (self.create or self.add or self.remove or self.log_out)


def plan_sync(
    employees: Iterable[Employee],
    hub_users: set[str],
    hub_groups: dict[str, set[str]],
    today: date,
) -> SyncPlan:
    """What to change so the hub's managed groups match the roster (pure)."""
    want: dict[str, set[str]] = {g: set() for g in hub_groups if g.startswith((UNIT, ROLE))}
    leavers: set[str] = set()
    for e in employees:
        if not e.employed_on(today):
            leavers.add(e.username)
            continue
        for group in (unit_group(e.unit), role_group(e.role)):
            members = want.setdefault(group, set())
            if e.username in hub_users:
                members.add(e.username)
    create = tuple(sorted(g for g in want if g not in hub_groups))
    add = {g: tuple(sorted(m - hub_groups.get(g, set()))) for g, m in want.items()}
    remove = {g: tuple(sorted(hub_groups.get(g, set()) - m)) for g, m in want.items()}
    return SyncPlan(
        create,
        {g: u for g, u in add.items() if u},
        {g: u for g, u in remove.items() if u},
        tuple(sorted(leavers & hub_users)),
    )


class HubClient:
    """The few hub REST calls the sync needs."""

    def __init__(self, api_url: str, token: str) -> None:
        self.api_url = api_url.rstrip("/")
        self.token = token
        self.http = AsyncHTTPClient()

    async def call(self, method: str, path: str, body: Any = None) -> Any:
        request = HTTPRequest(
            f"{self.api_url}/{path.lstrip('/')}",
            method=method,
            headers={"Authorization": f"token {self.token}"},
            body=json.dumps(body) if body is not None else (b"" if method == "POST" else None),
            allow_nonstandard_methods=True,
            request_timeout=30,
        )
        response = await self.http.fetch(request)
        return json.loads(response.body) if response.body else None

    async def users(self) -> set[str]:
        names: set[str] = set()
        offset = 0
        while True:
            page = await self.call("GET", f"users?offset={offset}&limit=500")
            names.update(u["name"] for u in page)
            if len(page) < 500:
                return names
            offset += 500

    async def groups(self) -> dict[str, set[str]]:
        out: dict[str, set[str]] = {}
        offset = 0
        while True:
            page = await self.call("GET", f"groups?offset={offset}&limit=500")
            out.update({g["name"]: set(g["users"]) for g in page})
            if len(page) < 500:
                return out
            offset += 500


async def sync_hub(client: HubClient, employees: list[Employee], today: date) -> SyncPlan:
    """One reconcile pass; returns what it changed."""
    plan = plan_sync(employees, await client.users(), await client.groups(), today)
    for group in plan.create:
        await client.call("POST", f"groups/{group}", {})
    for group, users in plan.add.items():
        await client.call("POST", f"groups/{group}/users", {"users": list(users)})
    for group, users in plan.remove.items():
        await client.call("DELETE", f"groups/{group}/users", {"users": list(users)})
    for name in plan.log_out:
        try:
            # the person's records stay in the records database; the hub forgets the
            # login, and the roster gate refuses the next one
            await client.call("DELETE", f"users/{name}")
        except HTTPClientError as exc:
            log.warning("could not log out %s: %s", name, exc)
    if not plan.empty:
        log.info(
            "hub sync: %d groups created, %d memberships added, %d removed, %d logged out",
            len(plan.create),
            sum(map(len, plan.add.values())),
            sum(map(len, plan.remove.values())),
            len(plan.log_out),
        )
    return plan
