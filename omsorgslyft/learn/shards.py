"""Learn in shards: which learn process serves which learner.

The proxy (configurable-http-proxy) routes one target per prefix, so each shard is a hub
service of its own: ``learn`` (``/services/learn/``, shard 0, the address everyone is sent
to) and ``learn-1``, ``learn-2``, ... Every shard can serve every learner, since answers
live in the shared answer store and a page is rebuilt from it; a learner is sent to one
shard so that their kernels (and the per-learner kernel limit) stay in one process.

The mapping is stable: SHA-256 of the user name, modulo the number of shards (the same in
every process and after every restart, unlike Python's ``hash``). Changing the number of
shards moves some learners to another shard; they resume there from the store.
"""

from __future__ import annotations

import hashlib

SERVICE = "learn"


def shard_of(learner: str, shards: int) -> int:
    """The shard (0 .. shards - 1) that serves ``learner``."""
    if shards <= 1:
        return 0
    digest = hashlib.sha256(learner.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % shards


def service_name(shard: int) -> str:
    """The hub service of ``shard``: ``learn``, ``learn-1``, ``learn-2``, ..."""
    return SERVICE if shard == 0 else f"{SERVICE}-{shard}"


def service_names(shards: int) -> list[str]:
    return [service_name(k) for k in range(max(shards, 1))]


def prefix(hub_base: str, shard: int) -> str:
    """The URL prefix of ``shard`` under the hub's base URL (``/services/learn-1/``)."""
    base = hub_base if hub_base.endswith("/") else hub_base + "/"
    return f"{base}services/{service_name(shard)}/"
