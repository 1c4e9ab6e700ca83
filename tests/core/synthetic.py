"""Shared by the analysis and render tests: synthetic attention (uniform, identity,
previous-token and random softmax heads; rows sum to 1 over the keys they may see), token
lists, and reading a chart's Vega-Lite spec."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

SENTENCE = ["[CLS]", "the", "cat", "sat", "on", "the", "mat", ".", "[SEP]"]


def tokens(n: int) -> list[str]:
    """n tokens with repeats ("the" every few positions)."""
    base = ["the", "cat", "sat", "on", "the", "mat", ",", "and", "the", "dog", "ran", "."]
    return [base[i % len(base)] for i in range(n)]


def walk(obj: Any, key: str) -> Iterator[Any]:
    """Every value stored under `key` anywhere in a spec."""
    if isinstance(obj, dict):
        for k, v in obj.items():
            if k == key:
                yield v
            yield from walk(v, key)
    elif isinstance(obj, list):
        for v in obj:
            yield from walk(v, key)


def main_rows(spec: dict) -> list[dict]:
    """The largest inline dataset of a spec: a heatmap's cells."""
    return max(spec.get("datasets", {}).values(), key=len)


def uniform(n: int, layers: int = 2, heads: int = 3, causal: bool = False) -> np.ndarray:
    """[layers, heads, n, n] uniform attention over the allowed keys."""
    allowed = np.tril(np.ones((n, n))) if causal else np.ones((n, n))
    head = allowed / allowed.sum(axis=1, keepdims=True)
    return np.broadcast_to(head, (layers, heads, n, n)).astype(np.float32)


def identity(n: int, layers: int = 2, heads: int = 3) -> np.ndarray:
    return np.broadcast_to(np.eye(n), (layers, heads, n, n)).astype(np.float32)


def previous_token_head(n: int) -> np.ndarray:
    """[n, n]: row 0 on itself, row i on i-1."""
    head = np.zeros((n, n), dtype=np.float32)
    head[0, 0] = 1.0
    head[np.arange(1, n), np.arange(n - 1)] = 1.0
    return head


def random_attention(n: int, layers: int = 3, heads: int = 4, seed: int = 0, causal: bool = False) -> np.ndarray:
    """[layers, heads, n, n] random softmax heads (causal: future keys get exactly 0)."""
    rng = np.random.default_rng(seed)
    logits = rng.standard_normal((layers, heads, n, n)) * 2
    if causal:
        logits = np.where(np.tril(np.ones((n, n), dtype=bool)), logits, -np.inf)
    e = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return (e / e.sum(axis=-1, keepdims=True)).astype(np.float32)


def softmax(shape: tuple[int, ...], seed: int = 0) -> np.ndarray:
    """Random float32 attention of any shape [..., n, n] (the chart tests' fixed inputs)."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=shape) * 2.0
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return (e / e.sum(axis=-1, keepdims=True)).astype(np.float32)


def causal(shape: tuple[int, ...], seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(softmax(shape) with future keys zeroed and rows renormalised, its bool [n, n] mask)."""
    a = softmax(shape, seed).astype(np.float64)
    n = shape[-1]
    mask = np.tril(np.ones((n, n), dtype=bool))
    a = np.where(mask, a, 0.0)
    return (a / a.sum(axis=-1, keepdims=True)).astype(np.float32), mask
