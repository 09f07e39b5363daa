"""Omsorgslyft: staff training and competence platform for Swedish municipal care."""

__version__ = "0.1.0"
