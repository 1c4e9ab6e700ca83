"""A matrix ready to draw (`DrawMatrix`), its long-form table, and the size guards. No Streamlit.

Conventions (see docs/methods.md): a matrix is ``[query n, key n]``; rows are the query
(attending FROM, y axis), columns the key (attending TO, x axis). Every row keeps its sentence
position: after hiding [CLS]/[SEP] the rows are the kept tokens' positions, a merged word is its
first piece's position, a block is its first token's position. Labels are unique and
position-prefixed ("0 · the", "5 · the") so repeated tokens keep their own row and column.

No chart sends more than ``CELL_BUDGET`` cells: :func:`prepare` block-averages (``"auto"`` /
``"blocks"``) or cuts a token window (``"window"``) and says so in ``notes``; the heatmap itself
refuses (``CellBudgetError``) instead of downsampling behind the page's back.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, Sequence

import numpy as np
import pandas as pd

from core.errors import CellBudgetError
from core.models.tokens import visible

CELL_BUDGET = 100_000
"""Most cells (rows of chart data) any chart sends to the browser."""

LABEL_MAX_CHARS = 24


# --------------------------------------------------------------------------- labels


def _visible(text: str) -> str:
    """core.models.tokens.visible, but a space between two visible parts stays a space ("New York")."""
    if text and text.strip(" ") == text and "  " not in text:
        return " ".join(visible(part) for part in text.split(" "))
    return visible(text)


def _short(text: str, max_chars: int = LABEL_MAX_CHARS) -> str:
    text = _visible(str(text))
    return text if len(text) <= max_chars else text[: max_chars - 1] + "…"


def token_labels(tokens: Sequence[str], positions: Sequence[int] | None = None) -> list[str]:
    """Unique labels in sentence order: ``"{pos} · {token}"``.

    tokens: length n. positions: length n sentence positions (default ``0..n-1``). Invisible
    characters are made visible (core.models.tokens.visible) and long tokens are cut to 24
    characters.
    """
    pos = range(len(tokens)) if positions is None else positions
    if len(pos) != len(tokens):
        raise ValueError(f"{len(tokens)} tokens but {len(pos)} positions")
    return [f"{int(p)} · {_short(t)}" for p, t in zip(pos, tokens)]


# --------------------------------------------------------------------------- the long table


def long_table(values: np.ndarray, tokens: Sequence[str], *, positions: Sequence[int] | None = None,
               allowed: np.ndarray | None = None, labels: Sequence[str] | None = None,
               leading: Mapping[str, Sequence[Any]] | Sequence[str] = ()) -> pd.DataFrame:
    """Long form of ``values[..., n, n]``: one row per cell, leading axes outermost, then
    query-major (row i*n + j of each ``[n, n]`` block is query i, key j).

    Columns: one per leading axis, then query_pos, key_pos (int, sentence positions; default
    0..n-1), query, key (categorical text: ``labels``, default ``token_labels(tokens,
    positions)``; pass the tokens themselves for raw text), weight (float64), allowed (bool
    ``[n, n]`` shared by every leading index; default all True; False = key after query in a
    causal model). Text given for a leading axis is categorical too.
    leading: names of the leading axes (values 0..k-1), or name -> the value of each index
    (e.g. ``{"layer": [3]}`` for one layer cut out of a stack).
    """
    v = np.asarray(values)
    if v.ndim < 2 or v.shape[-1] != v.shape[-2]:
        raise ValueError(f"expected [..., n, n], got shape {v.shape}")
    n = v.shape[-1]
    if len(tokens) != n:
        raise ValueError(f"matrix is {n} x {n} but there are {len(tokens)} tokens")
    pos = np.arange(n) if positions is None else np.asarray(positions, dtype=np.int64).reshape(-1)
    lab = np.asarray(token_labels(tokens, pos) if labels is None else list(labels), dtype=object)
    if len(lab) != n or len(pos) != n:
        raise ValueError("labels and positions must have one entry per token")
    mask = np.ones((n, n), dtype=bool) if allowed is None else np.asarray(allowed, dtype=bool)
    if mask.shape != (n, n):
        raise ValueError(f"allowed has shape {mask.shape}, expected {(n, n)}")
    names = list(leading)
    if len(names) != v.ndim - 2:
        raise ValueError(f"values of shape {v.shape} need {v.ndim - 2} leading names, got {names}")
    shape = v.shape[:-2]
    reps = math.prod(shape)
    cells = n * n
    columns: dict[str, Any] = {}
    for axis, name in enumerate(names):
        index = np.asarray(leading[name]) if isinstance(leading, Mapping) else np.arange(shape[axis])
        if len(index) != shape[axis]:
            raise ValueError(f"{name!r} has {len(index)} values for an axis of {shape[axis]}")
        inner = math.prod(shape[axis + 1:]) * cells
        which = np.tile(np.repeat(np.arange(shape[axis]), inner), math.prod(shape[:axis]))
        columns[name] = _text(index, which) if index.dtype.kind in "OUS" else index[which]
    qi = np.repeat(np.arange(n), n)
    ki = np.tile(np.arange(n), n)
    columns.update({
        "query_pos": np.tile(pos[qi], reps),
        "key_pos": np.tile(pos[ki], reps),
        "query": _text(lab, np.tile(qi, reps)),
        "key": _text(lab, np.tile(ki, reps)),
        "weight": v.reshape(-1).astype(np.float64),
        "allowed": np.tile(mask.reshape(-1), reps),
    })
    return pd.DataFrame(columns)


def _text(values: np.ndarray, which: np.ndarray) -> pd.Categorical:
    """``values[which]`` as a categorical column: each distinct text is stored once (a 12-panel
    grid has 49,152 rows but 64 labels), which is also what Streamlit ships to the browser."""
    categories, codes = np.unique(np.asarray(values, dtype=object), return_inverse=True)
    return pd.Categorical.from_codes(codes.reshape(-1)[which], categories=categories)


# --------------------------------------------------------------------------- the matrix to draw


@dataclass(frozen=True, eq=False)
class DrawMatrix:
    """One ``[m, m]`` matrix ready to draw, and what was done to it.

    positions are sentence positions (a block's or word's first token), so a click's
    ``query_pos`` / ``key_pos`` and the table always refer to the sentence. ``block`` is tokens
    per block (1 = none); ``mode`` is "full", "blocks" or "window"; ``special`` is None for
    blocks. Inputs are normalised on construction (tuples, int64 positions, bool masks).
    """

    matrix: np.ndarray  # [m, m] values to draw
    tokens: tuple[str, ...]  # display text per row/column (a block's first token)
    positions: np.ndarray  # int [m]
    allowed: np.ndarray | None = None  # bool [m, m]; False = masked (causal model's future keys)
    special: np.ndarray | None = None  # bool [m]
    notes: tuple[str, ...] = ()
    labels: tuple[str, ...] | None = None  # unique axis labels; None -> token_labels(tokens, positions)
    block: int = 1
    mode: str = "full"

    def __post_init__(self) -> None:
        m = np.asarray(self.matrix)
        if m.ndim != 2 or m.shape[0] != m.shape[1]:
            raise ValueError(f"expected a square [n, n] matrix, got shape {m.shape}")
        n = m.shape[0]
        fix = {"matrix": m, "tokens": tuple(str(t) for t in self.tokens),
               "positions": np.asarray(self.positions, dtype=np.int64).reshape(-1), "notes": tuple(self.notes)}
        if len(fix["tokens"]) != n:
            raise ValueError(f"matrix is {n} x {n} but there are {len(fix['tokens'])} tokens")
        if len(fix["positions"]) != n:
            raise ValueError(f"{n} tokens but {len(fix['positions'])} positions")
        if len(np.unique(fix["positions"])) != n:
            raise ValueError("positions must be unique (repeated positions would merge rows)")
        if self.allowed is not None:
            fix["allowed"] = np.asarray(self.allowed, dtype=bool)
            if fix["allowed"].shape != (n, n):
                raise ValueError(f"allowed has shape {fix['allowed'].shape}, expected {(n, n)}")
        if self.special is not None:
            fix["special"] = np.asarray(self.special, dtype=bool).reshape(-1)
            if len(fix["special"]) != n:
                raise ValueError(f"{n} tokens but {len(fix['special'])} special flags")
        if self.labels is not None:
            fix["labels"] = tuple(str(label) for label in self.labels)
            if len(fix["labels"]) != n:
                raise ValueError("labels must have one entry per token")
            if len(set(fix["labels"])) != n:
                raise ValueError("labels must be unique (repeated labels would merge rows)")
        for name, value in fix.items():
            object.__setattr__(self, name, value)

    @classmethod
    def of(cls, matrix: np.ndarray, tokens: Sequence[str], *, positions: Sequence[int] | None = None,
           allowed: np.ndarray | None = None, special: np.ndarray | None = None,
           notes: Sequence[str] = ()) -> DrawMatrix:
        """A whole matrix as it is; positions default to 0..n-1."""
        pos = np.arange(np.shape(matrix)[0]) if positions is None else positions
        return cls(matrix, tuple(tokens), pos, allowed, special, tuple(notes))

    @property
    def n(self) -> int:
        """Rows (= columns) drawn."""
        return int(self.matrix.shape[0])

    @functools.cached_property
    def axis_labels(self) -> tuple[str, ...]:
        """The unique axis labels: ``labels`` or ``token_labels(tokens, positions)``."""
        return self.labels if self.labels is not None else tuple(token_labels(self.tokens, self.positions))

    def table(self) -> pd.DataFrame:
        """:func:`long_table` of exactly what is drawn (same positions, labels and values)."""
        return long_table(self.matrix, self.tokens, positions=self.positions, allowed=self.allowed,
                          labels=self.axis_labels)


# --------------------------------------------------------------------------- size guards


def block_size_for(n: int, max_cells: int = CELL_BUDGET) -> int:
    """Smallest tokens-per-block b such that ceil(n / b)**2 <= max_cells."""
    if max_cells < 1:
        raise ValueError("max_cells must be >= 1")
    b = 1
    while math.ceil(n / b) ** 2 > max_cells:
        b = max(b + 1, math.ceil(n / math.isqrt(max_cells)))
    return b


def block_reduce(arr: np.ndarray, b: int, mask: np.ndarray | None) -> tuple[np.ndarray, np.ndarray | None]:
    """Block-average the last two axes of ``arr[..., n, n]`` with b tokens per block.

    out[..., I, J] = mean over queries i in block I of sum over keys j in block J of arr[..., i, j]
    (masked cells count as 0), so rows that summed to 1 still do. A block is allowed if any of
    its cells is.
    """
    n = arr.shape[-1]
    starts = np.arange(0, n, b)
    sizes = np.diff(np.append(starts, n))
    a = np.asarray(arr)
    if a.dtype not in (np.float32, np.float64):
        a = a.astype(np.float64)
    if mask is not None:
        a = np.where(mask, a, a.dtype.type(0))  # float32 stays float32: no 2x copy of [L, H, n, n]
    s = np.add.reduceat(a, starts, axis=-1)
    s = np.add.reduceat(s, starts, axis=-2).astype(np.float64) / sizes[:, None]
    small_mask = None
    if mask is not None:
        mm = np.add.reduceat(np.add.reduceat(mask.astype(np.int32), starts, axis=-1), starts, axis=-2)
        small_mask = mm > 0
    return s, small_mask


def block_labels(tokens: Sequence[str], b: int,
                 positions: Sequence[int] | None = None) -> tuple[list[str], np.ndarray, list[str]]:
    """Labels "12–19 · word…" (sentence positions, inclusive), block-start positions, first tokens."""
    n = len(tokens)
    pos = np.arange(n) if positions is None else np.asarray(positions, dtype=np.int64).reshape(-1)
    starts = np.arange(0, n, b)
    labels: list[str] = []
    reps: list[str] = []
    for s in starts.tolist():
        e = min(n, s + b) - 1
        tok = _short(tokens[s], 14)
        reps.append(str(tokens[s]))
        labels.append(f"{pos[s]} · {tok}" if e == s else f"{pos[s]}–{pos[e]} · {tok}…")
    return labels, pos[starts], reps


def downsample(dm: DrawMatrix, max_cells: int = CELL_BUDGET) -> DrawMatrix:
    """Block-average ``dm`` to at most max_cells cells (unchanged when it fits).

    Labels read "12–19 · word…" (positions inclusive, first token of the block); positions are
    block starts. Each small row is the mean over a query block of the key-block sums, so rows
    still sum to 1. A note saying so is appended to ``notes``.
    """
    n = dm.n
    b = block_size_for(n, max_cells)
    if b == 1:
        return dm
    small, small_mask = block_reduce(dm.matrix, b, dm.allowed)
    labels, starts, reps = block_labels(dm.tokens, b, dm.positions)
    k = len(starts)
    note = (f"{n} tokens would be {n * n:,} cells, over the {max_cells:,}-cell limit: showing "
            f"{k} x {k} blocks of {b} tokens. Each cell is a query block's mean of the weight "
            "it gives the key block, so rows still sum to 1.")
    return DrawMatrix(small, tuple(reps), starts, small_mask, None, (*dm.notes, note), tuple(labels), b, "blocks")


def window(dm: DrawMatrix, start: int, size: int) -> DrawMatrix:
    """The square token window ``[start, start+size)`` of ``dm`` (clamped to fit).

    Positions stay the sentence's. Rows are NOT renormalised: weight given to keys outside the
    window is left out, and the appended note says how much.
    """
    n = dm.n
    size = max(1, min(int(size), n))
    start = max(0, min(int(start), n - size))
    sl = slice(start, start + size)
    sub = dm.matrix[sl, sl]
    pos = dm.positions[sl]
    notes = dm.notes
    if size < n:
        outside = float(np.clip(1.0 - np.asarray(sub, dtype=np.float64).sum(axis=1), 0.0, None).mean())
        notes = (*notes, f"Tokens {pos[0]}–{pos[-1]} ({size} of {n}). Rows are not renormalised: on average "
                         f"{outside:.1%} of each row's weight goes to keys outside this window.")
    return dataclasses.replace(
        dm, matrix=sub, tokens=dm.tokens[sl], positions=pos,
        allowed=None if dm.allowed is None else dm.allowed[sl, sl],
        special=None if dm.special is None else dm.special[sl], notes=notes,
        labels=None if dm.labels is None else dm.labels[sl], mode="window")


def prepare(dm: DrawMatrix, mode: Literal["auto", "full", "window", "blocks"] = "auto", *, start: int = 0,
            size: int = 64, max_cells: int = CELL_BUDGET) -> DrawMatrix:
    """Decide what one heatmap draws.

    mode "auto": all cells when they fit in max_cells, else block averages (with a note);
    "full": all cells, CellBudgetError if over budget; "window": rows/columns [start, start+size)
    (size is also capped to the budget); "blocks": block averages (no-op when it fits).
    """
    if mode == "window":
        return window(dm, start, min(int(size), math.isqrt(max_cells)))
    if mode == "full":
        if dm.n * dm.n > max_cells:
            raise CellBudgetError(dm.n * dm.n, max_cells)
        return dm
    if mode in ("auto", "blocks"):
        return downsample(dm, max_cells)
    raise ValueError(f"unknown mode {mode!r}; use 'auto', 'full', 'window' or 'blocks'")


def symmetric_domain(values: np.ndarray) -> tuple[float, float]:
    """(-m, m) with m the largest |value| (1 when all are 0 or not finite): a diverging colour
    scale centred on 0, for differences."""
    v = np.abs(np.asarray(values, dtype=np.float64))
    v = v[np.isfinite(v)]
    bound = float(v.max()) if v.size else 0.0
    bound = bound or 1.0
    return -bound, bound
