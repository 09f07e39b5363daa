"""Keep the hub in step with the roster: units and roles as groups, leavers logged out.

A reconcile loop in the style of jupyterhub-idle-culler: the pure part computes what the
groups should be; a thin async part talks to the hub's REST API with the records service's
token. Only groups named ``enhet:…`` and ``befattning:…`` are managed; any other group
(``utbildare``, ``hr``) is left alone. Users appear in the hub at their first login, so they
join their groups at the next pass after it.

A reserved account (a hub admin, a member of ``utbildare`` or ``hr``, or a name in
``reserved.ALWAYS_RESERVED``) is never logged out, even if the roster says it has left:
the import refuses such rows, and this is the second line.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from typing import Any

from tornado.httpclient import AsyncHTTPClient, HTTPClientError, HTTPRequest

from omsorgslyft.hub.roles import slug, unit_group
from omsorgslyft.records.model import Employee
from omsorgslyft.records.reserved import (
    ALWAYS_RESERVED,
    RESERVED_GROUPS,
    fold,
    folded,
    reserved_accounts,
)

log = logging.getLogger("omsorgslyft.records.hubsync")

UNIT, ROLE = "enhet:", "befattning:"
PAGINATION = "application/jupyterhub-pagination+json"


def role_group(role: str) -> str:
    return ROLE + slug(role)


@dataclass(frozen=True)
class SyncPlan:
    create: tuple[str, ...]
    add: dict[str, tuple[str, ...]]  # group -> users to add
    remove: dict[str, tuple[str, ...]]  # group -> users to remove
    log_out: tuple[str, ...]  # leavers who still exist in the hub
    spared: tuple[str, ...] = ()  # leavers kept because their accounts are reserved

    @property
    def empty(self) -> bool:
        return not (self.create or self.add or self.remove or self.log_out)


def plan_sync(
    employees: Iterable[Employee],
    hub_users: set[str],
    hub_groups: dict[str, set[str]],
    today: date,
    reserved: Iterable[str] = ALWAYS_RESERVED,
) -> SyncPlan:
    """What to change so the hub's managed groups match the roster (pure).

    Leavers are logged out, except reserved accounts: ``reserved`` (the hub's admins and
    the always-reserved names) and the members of the ``utbildare`` and ``hr`` groups.
    """
    keep = folded([*reserved, *(u for g in RESERVED_GROUPS for u in hub_groups.get(g, ()))])
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
    gone = leavers & hub_users
    spared = {u for u in gone if fold(u) in keep}
    return SyncPlan(
        create,
        {g: u for g, u in add.items() if u},
        {g: u for g, u in remove.items() if u},
        tuple(sorted(gone - spared)),
        tuple(sorted(spared)),
    )


class HubClient:
    """The few hub REST calls the sync needs."""

    def __init__(self, api_url: str, token: str) -> None:
        self.api_url = api_url.rstrip("/")
        self.token = token
        self.http = AsyncHTTPClient()

    async def call(
        self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None
    ) -> Any:
        request = HTTPRequest(
            f"{self.api_url}/{path.lstrip('/')}",
            method=method,
            headers={"Authorization": f"token {self.token}", **(headers or {})},
            body=json.dumps(body) if body is not None else (b"" if method == "POST" else None),
            allow_nonstandard_methods=True,
            request_timeout=30,
        )
        response = await self.http.fetch(request)
        return json.loads(response.body) if response.body else None

    async def _all(self, path: str) -> list[dict[str, Any]]:
        """Every item of a paginated list (the hub caps a page at ``api_page_max_limit``,
        200 by default, whatever limit is asked for; follow ``_pagination.next``)."""
        items: list[dict[str, Any]] = []
        offset = 0
        while True:
            page = await self.call(
                "GET",
                f"{path}?offset={offset}&limit=200",
                headers={"Accept": PAGINATION},
            )
            if isinstance(page, list):  # a hub without pagination: one answer is all
                return items + page
            items.extend(page["items"])
            following = page["_pagination"]["next"]
            if not following:
                return items
            offset = int(following["offset"])

    async def user_models(self) -> list[dict[str, Any]]:
        """Every hub user's model: with ``read:users:name``, its name and admin flag."""
        return await self._all("users")

    async def users(self) -> set[str]:
        return {u["name"] for u in await self.user_models()}

    async def groups(self) -> dict[str, set[str]]:
        return {g["name"]: set(g["users"]) for g in await self._all("groups")}

    async def reserved(self, always: Iterable[str] = ALWAYS_RESERVED) -> frozenset[str]:
        """The hub's admins, the trainers and HR, and ``always`` (raises if the hub does
        not answer: then nothing may be imported)."""
        return reserved_accounts(await self.user_models(), await self.groups(), always)


async def sync_hub(
    client: HubClient,
    employees: list[Employee],
    today: date,
    always: Iterable[str] = ALWAYS_RESERVED,
) -> SyncPlan:
    """One reconcile pass; returns what it changed. ``always``: names that are reserved
    even if the hub does not say they are admins, trainers or HR."""
    models = await client.user_models()
    groups = await client.groups()
    plan = plan_sync(
        employees,
        {u["name"] for u in models},
        groups,
        today,
        reserved_accounts(models, groups, always),
    )
    for name in plan.spared:
        log.warning("%s has left per the roster but is an admin, trainer or HR: kept", name)
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
