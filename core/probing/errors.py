"""The probing package's typed errors; `str()` is a sentence fit to show a user."""

from __future__ import annotations

from core.errors import AttentionDashboardError


class ParserUnavailableError(AttentionDashboardError, RuntimeError):
    """spaCy or its English model is not installed (the message says what to install)."""


class AlignmentError(AttentionDashboardError, ValueError):
    """The parse and the model's tokens do not describe the same text."""
