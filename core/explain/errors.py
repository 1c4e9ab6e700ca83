"""Errors of core.explain: `str(err)` is a sentence fit to show a user (never a traceback)."""

from __future__ import annotations

from core.errors import AttentionDashboardError


class ExplainError(AttentionDashboardError, ValueError):
    """Base class of this package's errors."""


class NoOutputHeadError(ExplainError):
    """The model has no output this question needs (no LM head, or another kind of head)."""

    def __init__(self, model_id: str, kind: str, wanted: str) -> None:
        self.model_id = model_id
        self.kind = kind
        self.wanted = wanted
        has = {
            "masked": "a masked-word head (it fills in [MASK])",
            "causal": "a next-token head (it predicts the following token)",
            "embedding": "no prediction head: its output is a sentence embedding",
            "none": "no output head this app can read (its checkpoint holds only the encoder)",
        }.get(kind, f"an output of kind '{kind}'")
        super().__init__(f"Model '{model_id}' has {has}, so it cannot show {wanted}. "
                         "Attention views still work; pick another model for this one.")


class OutOfRangeError(ExplainError):
    """A word, token position, layer or head index outside the text or the model."""

    def __init__(self, what: str, value: object, count: int) -> None:
        self.what = what
        self.value = value
        self.count = count
        super().__init__(f"There is no {what} {value}: this one has {count} "
                         f"(counted from 0, so 0 to {count - 1}).")


class SpecialTokenError(ExplainError):
    def __init__(self, label: str) -> None:
        super().__init__(f"'{label}' is a special token the tokenizer adds, not a word of the text: "
                         "pick a word of the sentence.")


class NothingLeftError(ExplainError):
    """Every word masked or dropped, or every head switched off."""

    def __init__(self, what: str) -> None:
        messages = {
            "words": "Every word would be masked or dropped, which leaves the model nothing to read. "
                     "Keep at least one word of the text.",
            "heads": "Switching off every head of every layer leaves no attention at all, so there is "
                     "nothing to compare. Keep at least one head.",
            "target": "The text has no word the model could be asked about. Type a longer sentence.",
        }
        super().__init__(messages[what])


class TargetWordError(ExplainError):
    def __init__(self, label: str) -> None:
        super().__init__(f"'{label}' is the word whose prediction is being read, so it cannot be dropped "
                         "as well: pick other words to mask or drop, or predict another word.")


class UnsupportedArchitectureError(ExplainError):
    def __init__(self, model_id: str, model_type: str, supported: tuple[str, ...]) -> None:
        super().__init__(f"Interventions on heads are not available for '{model_id}' (architecture "
                         f"'{model_type}'): this app knows where each head's output is only for "
                         f"{', '.join(supported)}.")
