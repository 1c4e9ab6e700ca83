"""The lenses as token importances for one output: which input tokens does the output read?

The output's row weights r [n]: one-hot at the focus position (a masked or next-token
prediction reads one position), uniform 1/n for a mean-pooled embedding (it reads every
position equally). For each layer l, importance of input token j:
- raw: r @ Abar[l] (head average of layer l);
- rollout: r @ R[l] (core.analysis.lenses.rollout);
- flow: the max flow into input node (0, j) from a source feeding node (l+1, i) with capacity
  r_i (one-hot r: exactly core.analysis.lenses.attention_flow), divided by the sum over j;
- norm: r @ rownorm(N[l]), Kobayashi et al.'s per-layer norm-based attention (core.analysis.norms).
The flow with a weighted source is written here (core.analysis.lenses has only single queries).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.analysis.lenses import head_average, residual_corrected, rollout
from core.analysis.norms import SUPPORTED_MODEL_TYPES as NORM_TYPES
from core.analysis.norms import head_transformed_values, layer_weights, norms_from_values, row_shares
from core.attention.extract import cpu_threads_for
from core.explain.hooks import model_inputs, private_forward
from core.explain.outputs import Problem
from core.models.loading import LoadedModel

LENSES = ("raw", "rollout", "flow", "norm")
FLOW_MAX_TOKENS = 64  # one max-flow per token and layer; the Single head page's bound is tighter


@dataclass(frozen=True, eq=False)
class LensImportance:
    """Token importances of each lens for one output. Read-only float32 arrays; missing lens: None."""

    row_weights: np.ndarray  # [n]: r, the output's weight on each query row
    raw: np.ndarray  # [layers, n]
    rollout: np.ndarray  # [layers, n]
    flow: np.ndarray | None  # [layers, n]; None above FLOW_MAX_TOKENS
    norm: np.ndarray | None  # [layers, n]; None for architectures without a norm adapter

    def get(self, lens: str) -> np.ndarray | None:
        return getattr(self, lens)


def row_weights(problem: Problem) -> np.ndarray:
    n = len(problem.input_ids)
    if problem.focus < 0:
        return np.full(n, 1.0 / n)
    r = np.zeros(n)
    r[problem.focus] = 1.0
    return r


FLOW_SCALE = 2**24  # scipy's max-flow takes integer capacities: weights in units of 2^-24
COPIES_PER_CALL = 120  # copies x 2^24 stays below 2^31: scipy's flows are 32-bit integers


def flow_by_layer(attention: np.ndarray, r: np.ndarray, causal: bool) -> np.ndarray:
    """[layers, n]: flow from the weighted source at each layer's top to every input token.

    One max-flow problem per (layer, input token), solved together in calls of scipy's compiled
    max-flow (Dinic): the problems are disjoint copies of the layered graph joined by a global
    source and a global sink, so the union's maximum flow is the sum of theirs, and each copy's
    share is the flow on its edge into the global sink (up to COPIES_PER_CALL copies a call
    instead of one call per problem: the per-call overhead dominated). Capacities are rounded
    to 2^-24 (agrees with networkx's float solver to about 1e-6); networkx where scipy is missing.
    """
    try:
        from scipy.sparse import csr_array
        from scipy.sparse.csgraph import maximum_flow
    except ImportError:  # scipy comes with the bundled model's package; networkx is the fallback
        return _flow_networkx(attention, r, causal)
    ahat = residual_corrected(attention)
    if causal:
        ahat = np.tril(ahat)
    n_layers, n = ahat.shape[0], ahat.shape[-1]
    sources = np.flatnonzero(r > 0)
    sinks = np.arange(sources.max() + 1 if causal else n)
    source_caps = np.maximum(np.rint(r[sources] * FLOW_SCALE), 1).astype(np.int64)
    blocks = []  # per layer: one copy's edges (local node level * n + i)
    for top in range(1, n_layers + 1):
        u, v, c = [], [], []
        for level in range(1, top + 1):
            a, b = np.nonzero(ahat[level - 1] > 0)
            u.append(level * n + a)
            v.append((level - 1) * n + b)
            c.append(ahat[level - 1][a, b])
        caps = np.maximum(np.rint(np.concatenate(c) * FLOW_SCALE), 1).astype(np.int64)
        blocks.append((np.concatenate(u), np.concatenate(v), caps, (top + 1) * n))
    copies = [(top, int(j)) for top in range(1, n_layers + 1) for j in sinks]
    out = np.zeros((n_layers, n))
    for start in range(0, len(copies), COPIES_PER_CALL):
        rows, cols, caps, exits = [], [], [], []
        offset = 2  # node 0: the global source, node 1: the global sink
        for top, j in copies[start:start + COPIES_PER_CALL]:
            u, v, c, size = blocks[top - 1]
            rows += [u + offset, np.zeros(len(sources), np.int64), [offset + j]]
            cols += [v + offset, offset + top * n + sources, [1]]
            caps += [c, source_caps, [2 * FLOW_SCALE]]
            exits.append(offset + j)
            offset += size
        graph = csr_array((np.concatenate(caps).astype(np.int32), (np.concatenate(rows), np.concatenate(cols))),
                          shape=(offset, offset))
        graph.sort_indices()
        flow = maximum_flow(graph, 0, 1, method="dinic").flow.tocsr()
        values = np.asarray(flow[np.asarray(exits), [1] * len(exits)]).ravel()
        for (top, j), value in zip(copies[start:start + COPIES_PER_CALL], values):
            out[top - 1, j] = value
    sums = out.sum(axis=1, keepdims=True)
    return np.divide(out, sums, out=np.zeros_like(out), where=sums > 0)


def _flow_networkx(attention: np.ndarray, r: np.ndarray, causal: bool) -> np.ndarray:
    import networkx as nx
    from networkx.algorithms.flow import build_residual_network, maximum_flow_value, shortest_augmenting_path

    ahat = residual_corrected(attention)
    if causal:
        ahat = np.tril(ahat)
    n_layers, n = ahat.shape[0], ahat.shape[-1]
    out = np.zeros((n_layers, n))
    sources = np.flatnonzero(r > 0)
    reach = np.zeros(n, dtype=bool)
    reach[: (sources.max() + 1 if causal else n)] = True
    for top in range(1, n_layers + 1):
        graph = nx.DiGraph()
        src = "source"
        for i in sources:
            graph.add_edge(src, top * n + int(i), capacity=float(r[i]))
        for level in range(1, top + 1):
            qi, kj = np.nonzero(ahat[level - 1] > 0)
            graph.add_edges_from((level * n + a, (level - 1) * n + b, {"capacity": float(ahat[level - 1][a, b])})
                                 for a, b in zip(qi.tolist(), kj.tolist()))
        residual = build_residual_network(graph, "capacity")
        for j in np.flatnonzero(reach):
            if j in graph:
                out[top - 1, j] = maximum_flow_value(graph, src, int(j), capacity="capacity",
                                                     flow_func=shortest_augmenting_path, residual=residual)
    sums = out.sum(axis=1, keepdims=True)
    return np.divide(out, sums, out=np.zeros_like(out), where=sums > 0)


def norm_by_layer(loaded: LoadedModel, problem: Problem, r: np.ndarray) -> np.ndarray | None:
    """[layers, n]: r @ row-normalised per-layer norm-based attention of the input as run
    (from problem.hidden_states when resolve kept them, else one more forward pass)."""
    import torch

    if loaded.info.model_type not in NORM_TYPES:
        return None
    hidden = problem.hidden_states
    if hidden is None:
        s = problem.sentence
        ids = torch.tensor(problem.input_ids)[None]
        types = None if s.token_type_ids is None else torch.tensor(s.token_type_ids)[None]
        with private_forward(loaded, work_tokens=len(problem.input_ids)):
            out = loaded.model(**model_inputs(loaded, ids, types), output_hidden_states=True, return_dict=True)
            hidden = torch.stack([h[0] for h in out.hidden_states]).float()
    hidden = torch.tensor(hidden) if isinstance(hidden, np.ndarray) else hidden
    rows = []
    # reads the shared weights only (no forward pass): no lock needed
    with torch.inference_mode(), cpu_threads_for(len(problem.input_ids)):
        for layer in range(problem.attention.shape[0]):
            weights = layer_weights(loaded.model, loaded.info.model_type, layer)
            f = head_transformed_values(hidden[layer], weights, loaded.info.num_heads)
            _, per_layer, _ = norms_from_values(torch.tensor(problem.attention[layer]), f)
            rows.append(r @ row_shares(per_layer).astype(np.float64))
    return np.stack(rows)


def lens_importance(loaded: LoadedModel, problem: Problem, *, with_flow: bool = True,
                    with_norm: bool = True) -> LensImportance:
    """Every lens's token importances [layers, n] for `problem`'s output."""
    r = row_weights(problem)
    att = problem.attention
    causal = loaded.info.causal
    raw = np.einsum("i,lij->lj", r, head_average(att).astype(np.float64))
    roll = np.einsum("i,lij->lj", r, rollout(att, causal=causal).astype(np.float64))
    flow = flow_by_layer(att, r, causal) if with_flow and att.shape[-1] <= FLOW_MAX_TOKENS else None
    norm = norm_by_layer(loaded, problem, r) if with_norm else None
    arrays = [None if a is None else np.asarray(a, dtype=np.float32) for a in (r, raw, roll, flow, norm)]
    for a in arrays:
        if a is not None:
            a.setflags(write=False)
    return LensImportance(row_weights=arrays[0], raw=arrays[1], rollout=arrays[2], flow=arrays[3], norm=arrays[4])
