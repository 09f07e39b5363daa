"""nbgrader configuration for trainers' JupyterLab servers (formgrader) in this folder."""

from pathlib import Path

from omsorgslyft.grading.course import nbgrader_config

c.merge(nbgrader_config(Path(__file__).resolve().parent))  # type: ignore[name-defined]  # noqa: F821
