"""The learn service's static routes (``omsorgslyft.learn.static``), without a server."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jupyter_server.base.handlers import FileFindHandler
from voila.static_file_handler import MultiStaticFileHandler, TemplateStaticFileHandler

from omsorgslyft.learn import static


def test_the_bundle_version_changes_with_any_file(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "voila.js").write_text("one")
    (tmp_path / "b.js").write_text("two")
    first = static.bundle_version([str(tmp_path), str(tmp_path / "missing")])
    assert len(first) == 16 and first == static.bundle_version([str(tmp_path)])
    (tmp_path / "a" / "voila.js").write_text("One")
    changed = static.bundle_version([str(tmp_path)])
    assert changed != first
    (tmp_path / "c.js").write_text("")
    assert static.bundle_version([str(tmp_path)]) != changed


def test_the_page_config_points_at_the_versioned_bundle_and_needed_extensions() -> None:
    calls: list[dict[str, Any]] = []

    def previous(config: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        calls.append(kwargs)
        return {**config, "seen": True}

    hook = static.page_config_hook("0123456789abcdef", previous)
    config = {
        "fullStaticUrl": "/services/learn/voila/static",
        "federated_extensions": [
            {"name": "@jupyter-widgets/jupyterlab-manager"},
            {"name": "@voila-dashboards/widgets-manager8"},
            {"name": "jupyterlab_pygments"},
            {"name": "@jupyter/nbgrader"},
        ],
    }
    out = hook(config, base_url="/services/learn/", notebook_path="kasam/kasam.ipynb")
    assert out["seen"] and calls == [
        {"base_url": "/services/learn/", "notebook_path": "kasam/kasam.ipynb"}
    ]
    assert out["fullStaticUrl"] == "/services/learn/voila/static/v0123456789abcdef"
    assert [e["name"] for e in out["federated_extensions"]] == [
        "@jupyter-widgets/jupyterlab-manager",
        "@voila-dashboards/widgets-manager8",
    ]
    # applied twice (a preheated page, a re-render): still one version in the path
    again = static.page_config_hook("0123456789abcdef")(out)
    assert again["fullStaticUrl"] == "/services/learn/voila/static/v0123456789abcdef"


def test_voilas_static_routes_get_our_caching_handlers() -> None:
    bundle = static.cached(
        ("/x/voila/static/(.*)", MultiStaticFileHandler, {"paths": ["/p"]}), "abc"
    )
    assert bundle == (
        "/x/voila/static/(.*)",
        static.BundleHandler,
        {"paths": ["/p"], "version": "abc"},
    )
    template = static.cached(("/x/voila/templates/(.*)", TemplateStaticFileHandler), "abc")
    assert template == ("/x/voila/templates/(.*)", static.TemplateAssetHandler)
    labext = ("/x/voila/labextensions/(.*)", FileFindHandler, {"path": ["/l"]})
    assert static.cached(labext, "abc")[1] is static.LabextensionHandler
    themes = ("/x/voila/api/themes/(.*)", FileFindHandler, {"path": ["/t"]})
    assert static.cached(themes, "abc") == themes
    other = ("/x/api/kernels/(.*)", object)
    assert static.cached(other, "abc") == other


def test_only_content_hashed_lab_extension_files_are_immutable() -> None:
    hashed = static._HASHED
    assert hashed.search("@jupyter-widgets/jupyterlab-manager/static/84.09c61a35dce1705f.js")
    assert hashed.search("x/static/remoteEntry.be18471aaf567c023b03.js")
    assert not hashed.search("@jupyter-widgets/jupyterlab-manager/static/style.js")
    assert not hashed.search("@jupyter-widgets/jupyterlab-manager/package.json")
    assert not hashed.search("x/static/remoteEntry.js")
