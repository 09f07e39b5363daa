"""The one header every page of the platform shows: the person's tools, who is logged in,
and the way out. The learn and records services both render it from the roles the hub
gives the person (:func:`omsorgslyft.hub.roles.tools`)."""

from __future__ import annotations

from collections.abc import Iterable
from html import escape

from omsorgslyft.hub.roles import tools

CSS = """
header.ol-top { background: #0b5c4d; color: #fff; }
header.ol-top a { color: #fff; }
header.ol-top .ol-bar { max-width: 72rem; margin: 0 auto; padding: .5rem 1rem; display: flex;
  flex-wrap: wrap; gap: .25rem 1rem; align-items: center; justify-content: space-between; }
header.ol-top .ol-brand { font-weight: 700; font-size: 1.1rem; }
header.ol-top .ol-who { overflow-wrap: anywhere; }
header.ol-top nav ul { list-style: none; margin: 0; padding: 0; display: flex; flex-wrap: wrap;
  gap: .25rem .5rem; }
header.ol-top nav { flex-basis: 100%; }
header.ol-top nav a { display: inline-block; min-height: 2.75rem; padding: .6rem .75rem;
  border-radius: .4rem; text-decoration: none; font-weight: 600; line-height: 1.5rem; }
header.ol-top nav a:hover { text-decoration: underline; }
header.ol-top nav a[aria-current="page"] { background: #fff; color: #0b5c4d; }
header.ol-top a:focus-visible { outline: 3px solid #ffbf47; outline-offset: 2px; }
"""


def header_html(
    role_names: Iterable[str], current: str, user: str, base_url: str, logout_url: str
) -> str:
    """The header for a person with ``role_names`` on the page of tool ``current``."""
    base = base_url.rstrip("/") + "/"
    links = []
    for tool in tools(role_names):
        mark = ' aria-current="page"' if tool.key == current else ""
        links.append(
            f'<li><a href="{escape(base + tool.path)}"{mark}>{escape(tool.label)}</a></li>'
        )
    return (
        '<header class="ol-top"><div class="ol-bar">'
        '<span class="ol-brand">Omsorgslyft</span>'
        f'<span class="ol-who">Inloggad som {escape(user)} · '
        f'<a href="{escape(logout_url)}">Logga ut</a></span>'
        f'<nav aria-label="Huvudmeny"><ul>{"".join(links)}</ul></nav>'
        "</div></header>"
    )
