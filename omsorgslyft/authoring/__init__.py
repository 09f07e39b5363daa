"""Authoring: trainer-written Markdown -> validated :class:`~omsorgslyft.model.Module`."""

from omsorgslyft.authoring.diagnostics import Diagnostic, ModuleError
from omsorgslyft.authoring.parser import load_module, parse_module

__all__ = ["Diagnostic", "ModuleError", "load_module", "parse_module"]
