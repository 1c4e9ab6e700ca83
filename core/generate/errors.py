"""Typed errors of generation and encoder-decoder attention: `str(err)` is a sentence for a user."""

from __future__ import annotations

from core.errors import AttentionDashboardError


class CannotGenerateError(AttentionDashboardError, ValueError):
    """The model has no next-token head (an encoder such as BERT, or a model loaded without it)."""

    def __init__(self, model_id: str, kind: str) -> None:
        self.model_id = model_id
        self.kind = kind
        what = {"masked": "a masked language model: it fills in blanks but does not continue a text",
                "embedding": "a sentence-embedding model: it has no word predictions",
                }.get(kind, "loaded without a next-token head")
        super().__init__(
            f"'{model_id}' cannot generate text: it is {what}. "
            "Choose a causal language model such as GPT-2 or DistilGPT-2."
        )


class PromptTooLongError(AttentionDashboardError, ValueError):
    """The prompt (plus at least one new token) does not fit the model's positions."""

    def __init__(self, n_tokens: int, limit: int) -> None:
        self.n_tokens = n_tokens
        self.limit = limit
        super().__init__(
            f"The prompt has {n_tokens} tokens; a text being generated here may have at most {limit} "
            f"tokens (the model's limit, or the app's), and each generated token takes one more. "
            f"Shorten the prompt to under {limit} tokens."
        )


class TooManyStepsError(AttentionDashboardError, ValueError):
    """More steps were asked for than one generation may take."""

    def __init__(self, asked: int, cap: int) -> None:
        self.asked = asked
        self.cap = cap
        super().__init__(
            f"{asked} steps were asked for; one generation takes at most {cap} tokens here, "
            "so that no request can keep the server busy without end."
        )


class NotEncoderDecoderError(AttentionDashboardError, ValueError):
    """A model that is not an encoder-decoder was given to the encoder-decoder views."""

    def __init__(self, model_id: str) -> None:
        self.model_id = model_id
        super().__init__(
            f"'{model_id}' is not an encoder-decoder model: the source / target views need a "
            "translation or text-to-text model such as MarianMT (opus-mt-en-de) or T5."
        )


class TargetTooLongError(AttentionDashboardError, ValueError):
    """A source or target text is longer than the encoder-decoder model reads."""

    def __init__(self, side: str, n_tokens: int, limit: int) -> None:
        self.side = side
        self.n_tokens = n_tokens
        self.limit = limit
        super().__init__(
            f"The {side} text has {n_tokens} tokens; this model reads at most {limit}. Shorten it."
        )
