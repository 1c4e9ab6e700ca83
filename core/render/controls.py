"""A page's token controls applied to one attention matrix: `TokenControls` (what the controls
ask for) and `apply_controls`, which returns the `DrawMatrix` to draw. The operations
themselves are core.analysis.tokens; docs/methods.md, section Token controls.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from core.analysis.tokens import hide_special, keep_cumulative, keep_top_k, merge_words, word_keys
from core.render.matrix import DrawMatrix

if TYPE_CHECKING:  # pragma: no cover - typing only
    from core.attention.result import AttentionResult


@dataclass(frozen=True)
class TokenControls:
    """What a page's token controls ask for (docs/methods.md, section Token controls)."""

    hide_special: bool = False
    renormalise: bool = True  # with hide_special: rescale the kept keys so rows sum to 1 again
    merge_words: bool = False
    prune: str = "none"  # one of core.analysis.tokens.PRUNE_MODES
    k: int = 3  # prune "top_k": keep each row's k largest weights
    share: float = 0.7  # prune "cumulative": keep each row's largest weights up to this share


def apply_controls(matrix: np.ndarray, result: AttentionResult, controls: TokenControls, *,
                   allowed: np.ndarray | None = None) -> DrawMatrix:
    """One ``[n, n]`` matrix of ``result`` with the token controls applied, ready to draw.

    In this order: merge subwords into words (Clark et al. 2019: columns sum, rows mean; a
    causal mask cannot be folded into words and is dropped, with a note), hide special tokens
    (optionally renormalising the kept keys), prune each row (top k, or a cumulative share).
    Positions stay sentence positions: a merged word is its first piece's position and hidden
    tokens leave gaps, so labels, clicks and tables keep the sentence's numbering. Each step
    that changed something adds a note.
    """
    tokens = list(result.display_tokens)
    special = np.asarray(result.special_mask, dtype=bool).copy()
    positions = np.arange(len(tokens))
    notes: list[str] = []
    m = np.asarray(matrix, dtype=np.float32)
    if controls.merge_words:
        m, tokens, groups = merge_words(m, word_keys(result.word_ids, result.segment_ids), tokens)
        special = np.array([len(g) == 1 and bool(result.special_mask[g[0]]) for g in groups], dtype=bool)
        positions = np.array([g[0] for g in groups], dtype=np.int64)
        if allowed is not None:
            allowed = None
            notes.append("Words merged: masked (future) keys are folded into their words.")
        notes.append("Merged subwords into words (columns: sum over pieces; rows: mean over pieces).")
    if controls.hide_special and special.any() and (~special).sum() >= 1:
        m, kept = hide_special(m, special, controls.renormalise)
        tokens = [tokens[i] for i in kept]
        positions = positions[kept]
        if allowed is not None:
            allowed = np.asarray(allowed, dtype=bool)[np.ix_(kept, kept)]
        special = special[kept]
        kept_note = "renormalised so rows sum to 1." if controls.renormalise else "NOT renormalised (rows sum to < 1)."
        notes.append(f"Special tokens hidden; remaining keys {kept_note}")
    if controls.prune == "top_k":
        m = keep_top_k(m, controls.k)
        notes.append(f"Only each row's top {controls.k} connections are kept (others shown as 0).")
    elif controls.prune == "cumulative":
        m = keep_cumulative(m, controls.share)
        notes.append(f"Each row keeps its largest connections until they cover {controls.share:.0%} of its mass.")
    return DrawMatrix.of(m, tokens, positions=positions, allowed=allowed, special=special, notes=notes)
