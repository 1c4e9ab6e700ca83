"""Typed errors the app turns into short messages (never a traceback on screen): the base class,
and the errors of models (downloads included), attention, analysis and render. The packages above
them keep theirs in one module each: core.corpus.errors, core.probing.errors."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path


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


# --- downloads (core.models.download) ---------------------------------------------------------

class DownloadError(AttentionDashboardError, RuntimeError):
    """A download that did not finish; nothing of it was kept. `str()` is one sentence."""


class DownloadCancelled(DownloadError):
    def __init__(self, model_id: str) -> None:
        super().__init__(f"The download of {model_id} was cancelled; nothing was kept.")


class DiskFullError(DownloadError):
    def __init__(self, model_id: str, needed: int, free: int, folder: Path | str) -> None:
        self.needed, self.free = needed, free
        super().__init__(
            f"Not enough disk space for {model_id}: it needs {megabytes(needed)} and {folder} has "
            f"{megabytes(free)} free. "
            "Free some space (or point HF_HOME at a larger disk) and try again; nothing was kept.")


class ConnectionBrokenError(DownloadError):
    def __init__(self, model_id: str, done: int, total: int, detail: str) -> None:
        super().__init__(
            f"The connection broke while downloading {model_id} ({megabytes(done)} of {megabytes(total)}: "
            f"{detail}). "
            "Nothing was kept; try again when the network is back.")


def megabytes(n: int) -> str:
    """A byte count as the download messages write it: "255 MB", "12 kB"."""
    return f"{n / 1e6:,.0f} MB" if n >= 1e6 else f"{n / 1e3:,.0f} kB"


# --- analysis ----------------------------------------------------------------------------------

class FlowTooLargeError(AttentionDashboardError, ValueError):
    """Attention flow was asked for more tokens than the bound allows."""

    def __init__(self, n_tokens: int, limit: int) -> None:
        self.n_tokens = n_tokens
        self.limit = limit
        super().__init__(
            f"Attention flow solves one max-flow problem per token and gets slow quickly: "
            f"this text has {n_tokens} tokens, the limit is {limit}. Shorten the text "
            f"(or lower the token limit), or use attention rollout, which has no limit."
        )


class NormsUnsupportedError(AttentionDashboardError, ValueError):
    """The model's architecture has no norm-based adapter."""

    def __init__(self, model_id: str, model_type: str, supported: Sequence[str]) -> None:
        self.model_id = model_id
        self.model_type = model_type
        super().__init__(
            f"Norm-based attention is not available for '{model_id}' (architecture "
            f"'{model_type}'): it needs the value and output-projection weights of each layer, "
            f"and this app knows where they are only for {', '.join(supported)}."
        )


# --- render ------------------------------------------------------------------------------------

class CellBudgetError(AttentionDashboardError, ValueError):
    """A chart would send more cells than the budget allows."""

    def __init__(self, cells: int, budget: int) -> None:
        self.cells = cells
        self.budget = budget
        super().__init__(
            f"This view would draw {cells:,} cells; the limit is {budget:,} so the browser stays "
            "responsive. Pick a token window or the block-averaged view."
        )


class ExportTooLargeError(AttentionDashboardError, ValueError):
    def __init__(self, rows: int, limit: int) -> None:
        self.rows = rows
        self.limit = limit
        super().__init__(
            f"That CSV would have {rows:,} rows (limit {limit:,}). Pick one layer or one head, "
            "or download the NPZ file, which holds the whole tensor."
        )


class ExternalDataError(AttentionDashboardError, ValueError):
    def __init__(self, where: str) -> None:
        super().__init__(f"This chart loads data from a URL ({where}); exports only render inline data.")
