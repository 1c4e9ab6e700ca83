"""Typed errors the app turns into short messages (never a traceback on screen)."""

from __future__ import annotations


class AttentionDashboardError(Exception):
    """Base class: `str(err)` is a sentence fit to show a user."""


class EmptyTextError(AttentionDashboardError, ValueError):
    def __init__(self) -> None:
        super().__init__("The text is empty. Type a sentence or pick one of the examples.")


class UnknownModelError(AttentionDashboardError, ValueError):
    def __init__(self, model_id: str, known: list[str]) -> None:
        self.model_id = model_id
        self.known = known
        shown = model_id if len(model_id) <= 80 else model_id[:77] + "..."
        super().__init__(
            f"'{shown}' is not a model this app knows or allows. "
            f"Known models: {', '.join(known)}. "
            "Whoever runs the app can allow more with ATTENTION_DASHBOARD_MODELS."
        )


class ModelUnavailableError(AttentionDashboardError, RuntimeError):
    def __init__(self, model_id: str, reason: str, available: list[str]) -> None:
        self.model_id = model_id
        self.reason = reason
        self.available = available
        super().__init__(
            f"Model '{model_id}' is not available here: {reason}. "
            f"Available now: {', '.join(available) or 'none'}."
        )


class NoAttentionError(AttentionDashboardError, RuntimeError):
    def __init__(self, model_id: str, detail: str) -> None:
        super().__init__(f"Model '{model_id}' did not return attention weights: {detail}")
