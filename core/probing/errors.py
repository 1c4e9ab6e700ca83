"""The probing package's typed errors (no parser, a parse that does not line up, a file that is
not a probing run); `str()` is a sentence fit to show a user."""

from __future__ import annotations

from core.errors import AttentionDashboardError


class ParserUnavailableError(AttentionDashboardError, RuntimeError):
    """spaCy or its English model is not installed (the message says what to install)."""


class AlignmentError(AttentionDashboardError, ValueError):
    """The parse and the model's tokens do not describe the same text."""


class ProbeRunError(AttentionDashboardError, ValueError):
    def __init__(self, detail: str) -> None:
        super().__init__(f"This file is not a probing run this app can open: {detail}.")
