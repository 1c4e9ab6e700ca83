"""Tables the pages show, built from a result and its lenses (no Streamlit).

Rows keep sentence positions; column names are the ones the downloads carry.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from core.attention.result import AttentionResult


def token_table(result: AttentionResult) -> pd.DataFrame:
    """One row per token: position, display token, raw piece, id, word (-1 for special tokens),
    segment (0 first text, 1 second), special."""
    return pd.DataFrame({
        "position": np.arange(result.n_tokens),
        "token": list(result.display_tokens),
        "raw": list(result.tokens),
        "id": list(result.token_ids),
        "word": [(-1 if w is None else int(w)) for w in result.word_ids],
        "segment": result.segment_ids.astype(int),
        "special": result.special_mask.astype(bool),
    })


def rollout_by_layer(rollout: np.ndarray, query: int, tokens: Sequence[str], decimals: int = 4) -> pd.DataFrame:
    """How query `query`'s rollout attribution to each input token evolves with depth.

    rollout: [layers, query, key] (core.analysis.lenses.rollout). One row per input token
    ("position · token"), one column per layer ("layer l").
    """
    roll = np.asarray(rollout)
    table = pd.DataFrame(np.round(roll[:, query, :].T, decimals),
                         columns=[f"layer {layer}" for layer in range(roll.shape[0])])
    table.insert(0, "input token", [f"{i} · {t}" for i, t in enumerate(tokens)])
    return table


def flow_table(flow: np.ndarray, rollout_row: np.ndarray, tokens: Sequence[str], decimals: int = 4) -> pd.DataFrame:
    """Attention flow and rollout of one query to each input token, side by side ([key] each)."""
    return pd.DataFrame({"position": np.arange(len(tokens)), "token": list(tokens),
                         "flow": np.round(np.asarray(flow), decimals),
                         "rollout": np.round(np.asarray(rollout_row), decimals)})


def head_overview(result: AttentionResult, statistics: pd.DataFrame) -> pd.DataFrame:
    """What each thumbnail of the layer x head overview shows, as a table: one row per head with
    its strongest connection to another token (from, to, weight; masked cells of causal models left
    out) and how evenly it spreads (`entropy_norm`, from `statistics`: one row per head, as
    core.analysis.statistics.head_statistics_for returns)."""
    from core.analysis.tokens import strongest_connections

    att = np.asarray(result.attention)
    allowed = result.allowed_mask() if result.causal else None
    tokens = list(result.display_tokens)
    rows = []
    for layer in range(att.shape[0]):
        for head in range(att.shape[1]):
            top = strongest_connections(att[layer, head], tokens, k=1, allowed=allowed)
            if len(top):
                row = top.iloc[0]
                rows.append((layer, head, f"{row['from_token']} ({int(row['from'])})",
                             f"{row['to_token']} ({int(row['to'])})", float(row["weight"])))
            else:
                rows.append((layer, head, "", "", float("nan")))
    out = pd.DataFrame(rows, columns=["layer", "head", "strongest_from", "strongest_to", "strongest_weight"])
    spread = statistics.set_index(["layer", "head"])["entropy_norm"]
    out["entropy_norm"] = [float(spread.get((r.layer, r.head), np.nan)) for r in out.itertuples()]
    return out
