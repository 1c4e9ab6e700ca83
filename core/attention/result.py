"""The result of one extraction: tokens and verified attention, frozen and shared by sessions.

Convention (Hugging Face's): attention[l, h, i, j] is how much query i (attending FROM)
looks at key j (attending TO); each row sums to 1 over the keys it may see.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.models.loading import ModelInfo

ROW_SUM_TOLERANCE = 1e-4
DEFAULT_MAX_TOKENS = 512


def normalise_pair(text_pair: str | None) -> str | None:
    """The second text, or None when there is none: the one place that decides that an empty
    or blank second text means "no sentence pair"."""
    return text_pair if isinstance(text_pair, str) and text_pair.strip() else None


@dataclass(frozen=True, eq=False)
class AttentionResult:
    """Everything downstream is a function of this. Arrays are read-only (shared by sessions)."""

    model_id: str
    text: str
    text_pair: str | None
    max_tokens: int
    tokens: tuple[str, ...]  # raw tokenizer pieces, e.g. "##ing", "Ġthe"
    display_tokens: tuple[str, ...]  # readable labels (see core.models.tokens)
    token_ids: tuple[int, ...]
    attention: np.ndarray  # float32 [layers, heads, query n, key n]
    special_mask: np.ndarray  # bool [n]: [CLS], [SEP], <s>, </s>, ...
    word_ids: tuple[int | None, ...]  # word index per token (None for special tokens)
    segment_ids: np.ndarray  # int8 [n]: 0 for the first text, 1 for the second
    causal: bool
    truncated_tokens: int  # tokens dropped to fit max_tokens
    info: ModelInfo
    # Character span (start, end) of each token in its own text (the second text's tokens index
    # the second text), None for special tokens; () when unknown (results built by hand).
    offsets: tuple[tuple[int, int] | None, ...] = ()

    @property
    def n_tokens(self) -> int:
        return len(self.tokens)

    @property
    def num_layers(self) -> int:
        return int(self.attention.shape[0])

    @property
    def num_heads(self) -> int:
        return int(self.attention.shape[1])

    @property
    def nbytes(self) -> int:
        return int(self.attention.nbytes + self.special_mask.nbytes + self.segment_ids.nbytes) + 64 * self.n_tokens

    def segment_text(self, segment: int) -> str:
        """The text a token of `segment` indexes with its offsets (0: text, 1: second text)."""
        return self.text_pair if segment == 1 and self.text_pair is not None else self.text

    def head(self, layer: int, head: int) -> np.ndarray:
        """[n, n] weights of one head."""
        return self.attention[layer, head]

    def layer_mean(self, layer: int) -> np.ndarray:
        """[n, n] mean over the layer's heads."""
        return self.attention[layer].mean(axis=0)

    def allowed_mask(self) -> np.ndarray:
        """bool [n, n]: keys each query may see (lower triangle for causal models)."""
        n = self.n_tokens
        if self.causal:
            return np.tril(np.ones((n, n), dtype=bool))
        return np.ones((n, n), dtype=bool)

