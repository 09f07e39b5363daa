"""A module page's kernel websocket, spoken to as the page's front end does.

For tests and benchmarks that drive pages without a browser: the page's config (its
kernel's id), Jupyter messages for the websocket, and the widget manager's request for
every widget's state.
"""

from __future__ import annotations

import json
import re
import uuid
from typing import Any

_CONFIG = re.compile(r'id="jupyter-config-data" type="application/json">(.*?)</script>', re.S)


def page_config(html: str) -> dict[str, Any] | None:
    """The page's ``jupyter-config-data`` (``kernelId`` among it), or None if it has none."""
    found = _CONFIG.search(html)
    return dict(json.loads(found.group(1))) if found else None


def kernel_message(
    msg_type: str,
    content: dict[str, Any],
    metadata: dict[str, Any] | None = None,
    *,
    username: str = "",
    session: str = "",
) -> tuple[str, str]:
    """A message for the kernel's websocket (shell channel): its ``msg_id`` and its JSON."""
    header = {
        "msg_id": uuid.uuid4().hex,
        "msg_type": msg_type,
        "username": username,
        "session": session,
        "version": "5.3",
        "date": "",
    }
    text = json.dumps(
        {
            "header": header,
            "parent_header": {},
            "metadata": metadata or {},
            "content": content,
            "channel": "shell",
            "buffers": [],
        }
    )
    return header["msg_id"], text


def state_request(username: str = "", session: str = "") -> list[str]:
    """What the page's widget manager sends for every widget's state (ipywidgets' control
    protocol): open the control comm, ask it for the states."""
    control = uuid.uuid4().hex
    opening = kernel_message(
        "comm_open",
        {"comm_id": control, "target_name": "jupyter.widget.control", "data": {}},
        {"version": "1.0.0"},
        username=username,
        session=session,
    )[1]
    asking = kernel_message(
        "comm_msg",
        {"comm_id": control, "data": {"method": "request_states"}},
        username=username,
        session=session,
    )[1]
    return [opening, asking]


def states_in(reply: dict[str, Any]) -> dict[str, Any] | None:
    """Every widget's state, if ``reply`` is the answer to :func:`state_request`."""
    data = reply.get("content", {}).get("data") or {}
    if reply.get("msg_type") == "comm_msg" and data.get("method") == "update_states":
        return dict(data["states"])
    return None
