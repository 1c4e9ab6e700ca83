"""The next-token distribution and the draw (pure numpy; formulas in docs/methods.md, Generation).

p = softmax(logits / T); top-k keeps the k most probable (ties broken by the lower token id),
top-p keeps the smallest set of most probable tokens whose probability reaches p (at least one);
the kept probabilities are renormalised. Greedy is the argmax of the logits (lowest id on a tie),
which is what `model.generate(do_sample=False)` picks.

Step i of a sampled generation draws with its own generator, seeded by (seed, i): the choice at
step i depends only on the settings and the context, so replaying, rewinding and stepping on
give the same tokens.
"""

from __future__ import annotations

import numpy as np

from core.generate.settings import Settings


def softmax(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """float64 probabilities of float logits [V] at a temperature."""
    z = np.asarray(logits, dtype=np.float64) / float(temperature)
    z = z - z.max()
    e = np.exp(z)
    return e / e.sum()


def _order(probs: np.ndarray) -> np.ndarray:
    """Token ids by descending probability, the lower id first on ties (a stable sort of the
    negated values keeps ids in order among equals)."""
    return np.argsort(-probs, kind="stable")


def _top(probs: np.ndarray, n: int) -> np.ndarray:
    """The n most probable ids in `_order`'s order, without sorting the whole vocabulary
    (a partition, then a sort of n; ties at the cut go to the lower ids)."""
    n = min(int(n), probs.size)
    if n >= probs.size:
        return _order(probs)
    cut = probs[np.argpartition(-probs, n - 1)[:n]].min()
    above = np.flatnonzero(probs > cut)
    pick = np.concatenate([above, np.flatnonzero(probs == cut)[: n - above.size]])
    return pick[_order(probs[pick])]


def distribution(logits: np.ndarray, settings: Settings) -> np.ndarray:
    """What the choice is drawn from: [V] float64, zeros outside the kept set, sums to 1.

    Greedy: one-hot on the argmax."""
    logits = np.asarray(logits)
    if settings.strategy == "greedy":
        out = np.zeros(logits.size, dtype=np.float64)
        out[int(np.argmax(logits))] = 1.0
        return out
    probs = softmax(logits, settings.temperature)
    if settings.strategy == "top_k":
        keep = _top(probs, settings.k)
    else:
        order = _order(probs)
        cum = np.cumsum(probs[order])
        # the first index where the running sum reaches p (a hair under, for float round-off)
        stop = int(np.searchsorted(cum, settings.p - 1e-12, side="left")) + 1
        keep = order[: max(1, min(stop, probs.size))]
    out = np.zeros_like(probs)
    out[keep] = probs[keep]
    return out / out.sum()


def step_generator(seed: int, step: int) -> np.random.Generator:
    """The generator of step `step` (0-based) of a generation with `seed`."""
    return np.random.default_rng(np.random.SeedSequence([int(seed), int(step)]))


def choose(logits: np.ndarray, settings: Settings, step: int) -> tuple[int, np.ndarray]:
    """(chosen id, the distribution it came from). Sampling: inverse CDF of one uniform draw."""
    dist = distribution(logits, settings)
    if settings.strategy == "greedy":
        return int(np.argmax(dist)), dist
    kept = np.flatnonzero(dist)
    order = kept[_order(dist[kept])]  # most probable first, as the candidates are shown
    cum = np.cumsum(dist[order])
    u = step_generator(settings.seed, step).random()
    i = int(np.searchsorted(cum, u * cum[-1], side="right"))
    return int(order[min(i, order.size - 1)]), dist


def top_candidates(logits: np.ndarray, dist: np.ndarray, temperature: float, n: int) -> list[tuple[int, float, float]]:
    """(token id, probability after temperature, probability in the kept distribution) of the
    n most probable tokens at that temperature, most probable first."""
    probs = softmax(logits, temperature)
    order = _top(probs, n)
    return [(int(i), float(probs[i]), float(dist[i])) for i in order]
