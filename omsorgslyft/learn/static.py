"""Static assets of a module page: sent compressed, and cached for a year when versioned.

A module page loads Voilà's front end (``voila/static/``: ``voila.js`` and its webpack
chunks), the widget manager's lab extensions (``voila/labextensions/``) and the lab
template's style sheets (``voila/templates/lab/static/``). Every response of the service is
gzip-compressed (tornado's ``compress_response``, set in ``LearnApp.init_settings``); here:

* Voilà's bundle is served under a versioned path, ``voila/static/v<digest>/…``, where the
  digest is of every file in the static folders (``bundle_version``): the page's
  ``fullStaticUrl`` points there, so ``voila.js`` loads its chunks from there too, and an
  upgrade of Voilà changes every URL. Its chunk names (``7155.voila.js``) are webpack ids,
  not content hashes, so only the versioned path may be cached for good;
* lab extension files whose names carry a content hash (``remoteEntry.<hash>.js``,
  ``84.<hash>.js``), and template files asked for with their own ``?v=<hash>``, are cached
  for a year as immutable;
* anything else is ``no-cache`` (the browser revalidates: 304 when unchanged);
* a page loads only the lab extensions the widget manager needs (``NEEDED_EXTENSIONS``),
  whatever else is installed in the environment (``page_config_hook``).

These are the same for everyone and hold nothing personal (``public``); the pages, the
JSON API and certificates stay ``no-store`` (``omsorgslyft.learn.security``).
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from jupyter_server.base.handlers import FileFindHandler
from jupyter_server.utils import url_path_join
from tornado import web
from voila.static_file_handler import MultiStaticFileHandler, TemplateStaticFileHandler

IMMUTABLE = "public, max-age=31536000, immutable"
REVALIDATE = "no-cache"

#: permessage-deflate for kernel websockets: a page's widget states are ~280 kB of JSON;
#: memory level 5 keeps each open page's compressor at ~144 KiB (tornado's default: 256)
WEBSOCKET_COMPRESSION = {"compression_level": 6, "mem_level": 5}

#: the lab extensions a module page needs: ipywidgets' manager and Voilà's for it
NEEDED_EXTENSIONS = frozenset(
    {"@jupyter-widgets/jupyterlab-manager", "@voila-dashboards/widgets-manager8"}
)

#: a file name with a webpack content hash, as JupyterLab's builder names chunks
_HASHED = re.compile(r"(^|/)[\w.-]*\.[0-9a-f]{16,}\.(js|css)$")
_VERSIONED = re.compile(r"v([0-9a-f]{16})/(.*)$", re.S)

PageConfigHook = Callable[..., dict[str, Any]]


def bundle_version(roots: Iterable[str]) -> str:
    """A digest of every file (name and content) under ``roots``: changes with any of them."""
    digest = hashlib.sha256()
    for root in roots:
        base = Path(root)
        if not base.is_dir():
            continue
        for folder, dirs, files in os.walk(base):
            dirs.sort()
            for name in sorted(files):
                path = Path(folder) / name
                digest.update(str(path.relative_to(base)).encode() + b"\0")
                with path.open("rb") as f:
                    digest.update(hashlib.file_digest(f, "sha256").digest())
    return digest.hexdigest()[:16]


def page_config_hook(version: str, previous: PageConfigHook | None = None) -> PageConfigHook:
    """Voilà's ``page_config_hook``: the bundle from its versioned path, only the needed
    lab extensions (after ``previous``, if there is one)."""

    def hook(page_config: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        if previous is not None:
            page_config = previous(page_config, **kwargs)
        url = page_config["fullStaticUrl"]
        if not url.endswith(f"/v{version}"):
            page_config["fullStaticUrl"] = url_path_join(url, f"v{version}")
        page_config["federated_extensions"] = [
            ext
            for ext in page_config.get("federated_extensions", [])
            if ext.get("name") in NEEDED_EXTENSIONS
        ]
        return page_config

    return hook


def _cache(handler: web.RequestHandler, forever: bool) -> None:
    handler.set_header("Cache-Control", IMMUTABLE if forever else REVALIDATE)
    if not forever:
        handler.clear_header("Expires")  # tornado's, for any ?v=


class BundleHandler(MultiStaticFileHandler):  # type: ignore[misc]
    """``voila/static/``: under ``v<version>/`` immutable, elsewhere revalidated."""

    def initialize(
        self, paths: list[str], default_filename: str | None = None, version: str = ""
    ) -> None:
        super().initialize(paths, default_filename=default_filename)
        self.version = version
        self.versioned = False

    def parse_url_path(self, url_path: str) -> str:
        match = _VERSIONED.match(url_path)
        if match:
            # an old version (a page from before an upgrade) gets today's file, uncached
            self.versioned = match.group(1) == self.version
            url_path = match.group(2)
        return str(super().parse_url_path(url_path))

    def set_extra_headers(self, path: str) -> None:
        _cache(self, self.versioned)


class TemplateAssetHandler(TemplateStaticFileHandler):  # type: ignore[misc]
    """``voila/templates/<name>/static/``: immutable when asked for with its own ``?v=``."""

    def set_extra_headers(self, path: str) -> None:
        wanted = self.get_query_argument("v", "")
        _cache(self, bool(wanted) and wanted == self._get_cached_version(self.absolute_path))


class LabextensionHandler(FileFindHandler):
    """``voila/labextensions/``: files named with a content hash are immutable."""

    def set_headers(self) -> None:
        super().set_headers()
        _cache(self, bool(_HASHED.search(self.path or "")))


def cached(spec: tuple[Any, ...], version: str) -> tuple[Any, ...]:
    """A route of Voilà's with our caching handler for the same files (others unchanged)."""
    pattern, handler, *rest = spec
    if handler is MultiStaticFileHandler:
        kwargs = {**(rest[0] if rest else {}), "version": version}
        return (pattern, BundleHandler, kwargs, *rest[1:])
    if handler is TemplateStaticFileHandler:
        return (pattern, TemplateAssetHandler, *rest)
    if handler is FileFindHandler and str(pattern).endswith("/voila/labextensions/(.*)"):
        return (pattern, LabextensionHandler, *rest)
    return spec
