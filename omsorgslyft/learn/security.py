"""Response headers of the learn service: Content-Security-Policy and caching.

Every response gets a policy that allows nothing (``BASE_POLICY``) unless its handler
says otherwise:

* Mina utbildningar: its one ``<style>`` block, by hash (``HOME_POLICY``);
* a module page (Voilà's page): scripts from the service itself and inline scripts with
  the request's nonce (the template puts it on each), Voilà's heartbeat script by hash,
  styles from the service and inline (JupyterLab's widgets set styles), images and fonts
  from the service or ``data:`` (module images are data URIs), connections (the kernel's
  websocket) to the service itself (``page_policy``).

No page may be framed (``frame-ancestors 'none'``). Personal responses (the pages, the
JSON API, certificates, the page API) are ``Cache-Control: no-store``.
"""

from __future__ import annotations

import base64
import hashlib

from omsorgslyft.learn.pages import PAGE_CSS

NO_STORE = "no-store"

#: the script Voilà's render handler sends when a page takes long to execute
#: (voila.handler.VoilaHandler.get_generator, ``time_out``)
VOILA_HEARTBEAT = "window.voila_heartbeat()"

BASE = {
    "default-src": "'none'",
    "base-uri": "'none'",
    "form-action": "'self'",
    "frame-ancestors": "'none'",
}


def sha256_source(text: str) -> str:
    """A CSP hash source for an inline script or style whose content is ``text``."""
    digest = base64.b64encode(hashlib.sha256(text.encode()).digest()).decode()
    return f"'sha256-{digest}'"


def policy(**directives: str) -> str:
    """``BASE`` with ``directives`` added (``script_src`` is ``script-src``)."""
    merged = BASE | {k.replace("_", "-"): v for k, v in directives.items()}
    return "; ".join(f"{name} {value}" for name, value in merged.items())


BASE_POLICY = policy()
HOME_POLICY = policy(style_src=sha256_source(PAGE_CSS), img_src="'self' data:")


def page_policy(nonce: str) -> str:
    return policy(
        script_src=f"'self' 'nonce-{nonce}' {sha256_source(VOILA_HEARTBEAT)}",
        style_src="'self' 'unsafe-inline'",
        img_src="'self' data:",
        font_src="'self' data:",
        connect_src="'self'",
    )
