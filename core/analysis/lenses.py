"""Lenses on attention: head average, residual correction, rollout, attention flow, and the
receptive field causal rows are normalised by (numpy; networkx for flow; no Streamlit, no torch).

Conventions (see docs/methods.md, section Conventions): `att: np.ndarray  # [layers, heads,
query, key]`; row i (query, attending FROM) sums to 1 over the keys j (attending TO) it may
see. Nothing loops in Python over the n^2 cells, except attention flow, whose max-flow solver is
inherently per edge and therefore bounded by `FLOW_MAX_TOKENS` (docs/methods.md, sections
Head average, Rollout, Attention flow).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from core.errors import FlowTooLargeError

FLOW_MAX_TOKENS = 40  # one query row at 6 layers: ~0.6 s at n=40 on 2 CPU cores; grows ~n^3


# --- shapes ---------------------------------------------------------------------------------

def as_4d(att: np.ndarray) -> np.ndarray:
    """[layers, heads, n, n] view of att; a single head [n, n] or a layer [H, n, n] is lifted."""
    a = np.asarray(att)
    if a.ndim == 2:
        a = a[None, None]
    elif a.ndim == 3:
        a = a[None]
    if a.ndim != 4 or a.shape[-1] != a.shape[-2]:
        raise ValueError(f"expected attention of shape [layers, heads, n, n], got {np.shape(att)}")
    return a


def allowed_keys(n: int, causal: bool) -> np.ndarray:
    """bool [n, n]: keys each query may see (lower triangle incl. diagonal when causal)."""
    if causal:
        return np.tril(np.ones((n, n), dtype=bool))
    return np.ones((n, n), dtype=bool)


def receptive_field(n: int, causal: bool) -> np.ndarray:
    """int [n]: m_i, the number of keys row i may see (n for encoders, i+1 for causal models).

    The receptive field Abnar & Zuidema (ACL 2020) say causal rows must be normalised by.
    """
    return np.arange(1, n + 1) if causal else np.full(n, n)


def head_average(att: np.ndarray) -> np.ndarray:
    """Mean over heads (Abnar & Zuidema, ACL 2020, use it as the layer's attention).

    att: [layers, heads, query, key] -> [layers, query, key]
    """
    a = as_4d(att)
    return (a.sum(axis=1) / np.float32(a.shape[1])).astype(np.float32)  # float32: 4x cheaper than float64


def residual_corrected(att: np.ndarray) -> np.ndarray:
    """Ahat = 0.5 * Abar + 0.5 * I per layer (Abnar & Zuidema, ACL 2020, residual connection).

    att: [layers, heads, query, key] -> float64 [layers, query, key]; rows still sum to 1.
    """
    avg = head_average(att).astype(np.float64)
    n = avg.shape[-1]
    return 0.5 * avg + 0.5 * np.eye(n)[None]


# --- attention rollout and flow -------------------------------------------------------------

def rollout(att: np.ndarray, causal: bool = False) -> np.ndarray:
    """Attention rollout per layer (Abnar & Zuidema, "Quantifying Attention Flow", ACL 2020).

    att: [layers, heads, query, key] -> R: [layers, query, key], with R[0] = Ahat[0] and
    R[l] = Ahat[l] @ R[l-1] (the higher layer multiplies from the left), so row i of R[l] is
    the input attribution of query i after layer l; rows sum to 1. With `causal`, entries
    above the diagonal (keys not allowed) are forced to exact zeros. The paper warns that
    causal rows need normalising by their receptive field: see `relative_to_uniform`.
    """
    ahat = head_average(att)
    n = ahat.shape[-1]
    ahat *= np.float32(0.5)
    ahat[:, np.arange(n), np.arange(n)] += np.float32(0.5)
    if causal:
        ahat = np.tril(ahat)
    out = np.empty_like(ahat)  # float32 products: rows stay stochastic to ~1e-6, half the cost of float64
    out[0] = ahat[0]
    for layer in range(1, ahat.shape[0]):
        np.matmul(ahat[layer], out[layer - 1], out=out[layer])
    return out


def rollout_last(att: np.ndarray, causal: bool = False) -> np.ndarray:
    """Rollout after the last layer (Abnar & Zuidema, ACL 2020). att [L, H, n, n] -> [n, n]."""
    return rollout(att, causal=causal)[-1]


def relative_to_uniform(matrix: np.ndarray, causal: bool) -> np.ndarray:
    """Each row divided by its uniform value 1/m_i (Abnar & Zuidema 2020: normalise causal rows
    by their receptive field). 1.0 means "as much as uniform attention would give".

    matrix: [..., query, key] -> same shape, float32.
    """
    m = np.asarray(matrix, dtype=np.float64)
    n = m.shape[-1]
    return (m * receptive_field(n, causal)[:, None]).astype(np.float32)


def _flow_graph(ahat: np.ndarray, top: int, sources: Sequence[int] | None):  # -> nx.DiGraph
    """Layered graph: node l*n + i; edge (l, i) -> (l-1, j) with capacity Ahat[l-1][i, j].

    Only levels 0..top are built; at the top level only `sources` get edges (None = all).
    """
    import networkx as nx

    n = ahat.shape[-1]
    graph = nx.DiGraph()
    graph.add_nodes_from(range((top + 1) * n))
    for level in range(1, top + 1):
        cap = ahat[level - 1]
        rows = np.arange(n) if (level < top or sources is None) else np.asarray(sources, dtype=int)
        sub = cap[rows]
        qi, kj = np.nonzero(sub > 0)
        u = (level * n + rows[qi]).tolist()
        v = ((level - 1) * n + kj).tolist()
        c = sub[qi, kj].tolist()
        graph.add_edges_from((a, b, {"capacity": w}) for a, b, w in zip(u, v, c))
    return graph


def _check_flow_size(n: int, max_tokens: int | None) -> None:
    if max_tokens is not None and n > max_tokens:
        raise FlowTooLargeError(n, max_tokens)


def _flow_rows(att: np.ndarray, queries: Sequence[int], layer: int | None, causal: bool,
               progress: Callable[[float], None] | None, max_tokens: int | None) -> np.ndarray:
    from networkx.algorithms.flow import build_residual_network, shortest_augmenting_path
    from networkx.algorithms.flow import maximum_flow_value

    ahat = residual_corrected(att)
    if causal:
        ahat = np.tril(ahat)
    n_layers, n = ahat.shape[0], ahat.shape[-1]
    _check_flow_size(n, max_tokens)
    top = n_layers if layer is None else int(layer) + 1
    if not 1 <= top <= n_layers:
        raise ValueError(f"layer must be in 0..{n_layers - 1}, got {layer}")
    for q in queries:
        if not 0 <= q < n:
            raise ValueError(f"query must be in 0..{n - 1}, got {q}")
    graph = _flow_graph(ahat, top, queries)
    residual = build_residual_network(graph, "capacity")  # reused by every solve (it resets flows)
    out = np.zeros((len(queries), n), dtype=np.float64)
    total, done = len(queries) * n, 0
    for r, q in enumerate(queries):
        src = top * n + q
        for j in range(n):
            if not (causal and j > q):  # causal: no path to a later token
                # shortest augmenting path with a reused residual network: measured fastest of
                # networkx's solvers here (n=40, L=6: 0.57 s vs preflow_push 1.0 s)
                out[r, j] = maximum_flow_value(graph, src, j, capacity="capacity",
                                               flow_func=shortest_augmenting_path, residual=residual)
            done += 1
            if progress is not None:
                progress(done / total)
    sums = out.sum(axis=1, keepdims=True)
    out = np.divide(out, sums, out=np.zeros_like(out), where=sums > 0)
    return out.astype(np.float32)


def attention_flow(att: np.ndarray, query: int, layer: int | None = None, *, causal: bool = False,
                   progress: Callable[[float], None] | None = None,
                   max_tokens: int | None = FLOW_MAX_TOKENS) -> np.ndarray:
    """Attention flow for one query (Abnar & Zuidema, "Quantifying Attention Flow", ACL 2020).

    att: [layers, heads, query, key] -> [key]: max-flow from node (layer+1, query) to every
    input node (0, j) in the layered graph of residual-corrected head averages, divided by
    the row sum. `layer` None = the top layer. `progress(fraction)` is called after each of the
    n max-flow solves. Raises FlowTooLargeError above `max_tokens` (None = no bound).
    """
    return _flow_rows(att, [int(query)], layer, causal, progress, max_tokens)[0]


def attention_flow_matrix(att: np.ndarray, layer: int | None = None, *, causal: bool = False,
                          progress: Callable[[float], None] | None = None,
                          max_tokens: int | None = FLOW_MAX_TOKENS) -> np.ndarray:
    """Attention flow for every query (Abnar & Zuidema, ACL 2020); n^2 max-flows: small n only.

    att: [layers, heads, query, key] -> [query, key], rows sum to 1.
    """
    n = as_4d(att).shape[-1]
    return _flow_rows(att, list(range(n)), layer, causal, progress, max_tokens)
