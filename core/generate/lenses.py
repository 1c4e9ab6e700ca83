"""What a page draws for one step: the newest token's attention over everything before it.

All three are rows over the context the step saw (length query_position + 1) and sum to 1:
one head's row, the layer average (mean over heads), and attention rollout (Abnar & Zuidema,
ACL 2020; core.analysis.lenses) of the full causal matrix, whose last row is the newest
token's input attribution after the last layer.
"""

from __future__ import annotations

import numpy as np

from core.analysis.lenses import rollout
from core.generate.steps import Generation, Step


def _step(gen: Generation, step: int) -> Step:
    if not gen.steps:
        raise ValueError("no step taken yet")
    return gen.steps[int(step)]


def head_row(gen: Generation, step: int, layer: int, head: int) -> np.ndarray:
    """[keys]: head `head` of layer `layer`, the newest token's row at step `step`."""
    return np.asarray(_step(gen, step).attention[int(layer), int(head)], dtype=np.float32)


def layer_average_row(gen: Generation, step: int, layer: int) -> np.ndarray:
    """[keys]: the mean over the layer's heads."""
    return _step(gen, step).attention[int(layer)].mean(axis=0, dtype=np.float64).astype(np.float32)


def rollout_row(gen: Generation, step: int, layer: int | None = None) -> np.ndarray:
    """[keys]: the newest token's rollout after `layer` (default: the last layer)."""
    s = _step(gen, step)
    r = rollout(gen.attention_matrix(s.index), causal=True)
    return np.asarray(r[-1 if layer is None else int(layer), s.query_position], dtype=np.float32)


def context_labels(gen: Generation, step: int) -> tuple[str, ...]:
    """The labels of the keys of step `step` (the context it saw)."""
    return gen.labels[: _step(gen, step).query_position + 1]
