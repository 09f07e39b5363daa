"""Server-rendered pages of the learn service (Swedish, accessible, phone-first)."""

from __future__ import annotations

from collections.abc import Iterable
from html import escape
from typing import Any

from jupyter_server.utils import url_path_join

from omsorgslyft.hub.header import CSS as HEADER_CSS
from omsorgslyft.hub.header import header_html

STATUS_TEXT = {
    "ej påbörjad": ("Ej påbörjad", "ol-todo", "Börja"),
    "pågår": ("Pågår", "ol-doing", "Fortsätt"),
    "godkänd": ("Godkänd", "ol-done", "Visa igen"),
    "förfaller inom 60 dagar": ("Förfaller snart", "ol-soon", "Förnya"),
    "förfallen": ("Förfallen", "ol-late", "Förnya"),
    "försenad": ("Försenad", "ol-late", "Börja"),
}
PASSED = frozenset({"godkänd", "förfaller inom 60 dagar", "förfallen"})

CSS = """
:root { --green: #0b5c4d; --ink: #1b1b1b; --muted: #3d4a45; }
* { box-sizing: border-box; }
body { margin: 0; font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; font-size: 1.05rem;
       line-height: 1.55; color: var(--ink); background: #f6f7f4; }
main { max-width: 52rem; margin: 0 auto; padding: 1rem; }
h1 { font-size: 1.6rem; margin: .5rem 0 1rem; }
ul.ol-modules { list-style: none; padding: 0; margin: 0; display: grid; gap: 1rem; }
ul.ol-modules li { background: #fff; border: 1px solid #c8d3cf; border-radius: .5rem; padding: 1rem; }
ul.ol-modules h2 { font-size: 1.2rem; margin: 0 0 .25rem; }
.ol-meta { color: var(--muted); margin: .25rem 0; }
.ol-badge { display: inline-block; padding: .1rem .6rem; border-radius: 1rem; font-weight: 600; font-size: .9rem; }
.ol-todo { background: #eef0ef; color: #2f3633; }
.ol-doing { background: #fff1cc; color: #5a4300; }
.ol-done { background: #dff3e6; color: #14502d; }
.ol-soon { background: #fde7c8; color: #6b3b00; }
.ol-late { background: #b3261e; color: #fff; }
.ol-actions { display: flex; gap: .75rem; flex-wrap: wrap; margin-top: .75rem; }
a.ol-button { display: inline-block; min-height: 2.75rem; padding: .6rem 1.1rem; border-radius: .4rem;
              background: var(--green); color: #fff; font-weight: 600; text-decoration: none; }
a.ol-button.ol-secondary { background: #fff; color: var(--green); border: 2px solid var(--green); }
a:focus-visible { outline: 3px solid #d48a00; outline-offset: 2px; }
.ol-skip { position: absolute; left: -999px; }
.ol-skip:focus { left: 1rem; top: 1rem; background: #fff; color: var(--ink); padding: .5rem; }
"""


# the page's one style element (its hash is in the page's Content-Security-Policy)
PAGE_CSS = CSS + HEADER_CSS


def layout(title: str, body: str, user: str, hub_url: str, role_names: Iterable[str] = ()) -> str:
    """A page of the learn service: the platform's shared header (the person's tools) and
    ``body``; ``hub_url`` is the hub's prefix (``/hub/``)."""
    base = hub_url.rstrip("/").removesuffix("hub") or "/"
    header = header_html(role_names, "learn", user, base, url_path_join(hub_url, "logout"))
    return f"""<!DOCTYPE html>
<html lang="sv">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{escape(title)} – Omsorgslyft</title>
<style>{PAGE_CSS}</style>
</head>
<body>
<a class="ol-skip" href="#innehall">Hoppa till innehållet</a>
{header}
<main id="innehall" tabindex="-1">
{body}
</main>
</body>
</html>"""


def home_page(
    user: str,
    rows: list[dict[str, Any]],
    base_url: str,
    hub_url: str,
    role_names: Iterable[str] = (),
) -> str:
    items = []
    for row in rows:
        label, cls, action = STATUS_TEXT[row["status"]]
        extra = ""
        if row.get("required") is False:
            label += " · frivillig"
        elif row.get("due") and row["status"] not in PASSED:
            extra = f'<p class="ol-meta">Klar senast {escape(row["due"])}</p>'
        buttons = [
            f'<a class="ol-button" href="{escape(url_path_join(base_url, "modul", row["id"]))}">'
            f'{action}<span class="ol-skip"> {escape(row["title"])}</span></a>'
        ]
        if row["status"] in PASSED and row.get("passed_on"):
            extra = (
                f'<p class="ol-meta">Godkänd {escape(row["passed_on"])} · '
                f"gäller till {escape(row['valid_until'])}</p>"
            )
            if row.get("certificate"):
                buttons.append(
                    f'<a class="ol-button ol-secondary" href="{escape(url_path_join(base_url, "intyg", row["id"] + ".pdf"))}">'
                    f'Ladda ned intyg<span class="ol-skip"> för {escape(row["title"])}</span> (PDF)</a>'
                )
        summary = f"<p>{escape(row['summary'])}</p>" if row["summary"] else ""
        items.append(
            f"<li><h2>{escape(row['title'])}</h2>"
            f'<p class="ol-meta"><span class="ol-badge {cls}">{label}</span> · cirka {row["minutes"]} minuter</p>'
            f'{summary}{extra}<div class="ol-actions">{"".join(buttons)}</div></li>'
        )
    needed = [r for r in rows if r.get("required", True)]
    done = sum(1 for r in needed if r["status"] in ("godkänd", "förfaller inom 60 dagar"))
    body = (
        "<h1>Mina utbildningar</h1>"
        f"<p>Du har giltig utbildning i {done} av {len(needed)} utbildningar som krävs för dig. "
        "Du kan göra en paus när du vill: dina svar sparas hela tiden.</p>"
        f'<ul class="ol-modules">{"".join(items)}</ul>'
    )
    return layout("Mina utbildningar", body, user, hub_url, role_names)
