"""Lenses on one head or one layer (raw, head average, rollout, flow, norm-based) and the body
that Single head and Layer average share: lens picker, token controls, focus, heatmap, table.
"""

from __future__ import annotations

import numpy as np
import streamlit as st

from core.analysis import compare, tokens
from core.attention.result import AttentionResult
from ui import cache, page, state
from ui.flow_panel import flow_panel
from ui.heatmap_panel import heatmap_panel, query_picker
from ui.tables import strongest_table
from ui.token_controls import token_controls

LENSES = {
    "raw": "Raw attention",
    "average": "Head average",
    "rollout": "Attention rollout",
    "flow": "Attention flow",
    "norm": "Norm-based",
}
LENS_HELP = {
    "raw": "The softmax weights of the selected head: row i is how query i spreads its attention.",
    "average": "Mean over all heads of the selected layer.",
    "rollout": "Abnar & Zuidema 2020: residual-corrected head averages (0.5·A + 0.5·I) multiplied through "
               "the layers up to this one; row i is query i's attribution to the input tokens.",
    "flow": "Abnar & Zuidema 2020: the maximum flow from the selected query at this layer to each input "
            "token through the residual-corrected attention graph. Computed for one query at a time.",
    "norm": "Kobayashi et al. 2020: weight × ‖f(x_j)‖ — how much each key actually moves the output. "
            "Tokens with high weight but small transformed vectors ([CLS], [SEP], punctuation) shrink.",
}


def lens_picker(key: str, *, per_head: bool) -> str:
    """The lens buttons; the value is kept across pages and reruns (a second click on the chosen
    button would clear a segmented control: the kept lens comes back)."""
    options = list(LENSES) if per_head else [k for k in LENSES if k != "raw"]
    lens = state.control(key, options[0], state.parse_choice(options), label="lens")
    st.segmented_control("Lens", options, key=key, format_func=LENSES.get,
                         help=" · ".join(f"{LENSES[k]}: {LENS_HELP[k]}" for k in options))
    return str(st.session_state.get(key) or lens)


def lens_matrix(result: AttentionResult, lens: str, layer: int, head: int, *, per_head: bool
                ) -> tuple[np.ndarray, str, str]:
    """(matrix [n, n], value label, one-line caption) for a lens other than flow."""
    if lens == "raw":
        return result.head(layer, head), "Attention weight", f"Layer {layer}, head {head}: raw attention."
    if lens == "average":
        return result.layer_mean(layer), "Mean weight", f"Layer {layer}: mean over its {result.num_heads} heads."
    if lens == "rollout":
        caution = (" Causal model: early rows see few tokens, so their attribution is concentrated by "
                   "construction." if result.causal else "")
        return cache.rollout(result)[layer], "Rollout attribution", f"Rollout through layers 0–{layer}.{caution}"
    if lens == "norm":
        nr = cache.norm_based(result)
        if per_head:
            return nr.per_head[layer, head], "‖α·f(x)‖", f"Layer {layer}, head {head}: norm-based attention."
        return nr.per_layer[layer], "‖Σ_h α·f(x)‖", f"Layer {layer}: norm-based attention of the whole layer."
    raise ValueError(lens)


def norm_finding(result: AttentionResult, layer: int, head: int) -> None:
    """Kobayashi et al.'s finding on this text: weight share vs norm share of [CLS]/[SEP]/punctuation."""
    mask = result.special_mask | tokens.punctuation_mask(list(result.display_tokens))
    if not mask.any():
        return
    found = compare.norm_finding(cache.norm_based(result), mask, layer, head)
    st.caption(f"[CLS]/[SEP]/punctuation receive {found.weight_share:.0%} of this head's weight but "
               f"{found.norm_share:.0%} of its norm-based attention; across all heads their norm share is "
               f"lower than their weight share in {found.heads_lower:.0%} of heads (Kobayashi et al. 2020).")


def lens_page(sel: state.Selection, result: AttentionResult, *, per_head: bool) -> None:
    """The body shared by Single head and Layer average: lens, token controls, focus, heatmap."""
    lens_key, prefix = ("lens", "sh") if per_head else ("llens", "la")
    left, right = st.columns([3, 1])
    with left:
        lens = lens_picker(lens_key, per_head=per_head)
    with right:
        controls = token_controls(f"{prefix}_")
    query = query_picker(result)
    st.caption(LENS_HELP[lens])
    if lens == "flow":
        page.guard(lambda: flow_panel(result, sel.layer, query), "attention flow")
        return
    where = f"layer {sel.layer}, head {sel.head}" if per_head else f"layer {sel.layer}"
    tag = f"L{sel.layer}H{sel.head}" if per_head else f"L{sel.layer}"

    def draw() -> None:
        matrix, value_label, caption = lens_matrix(result, lens, sel.layer, sel.head, per_head=per_head)
        dm = tokens.apply_controls(matrix, result, controls, allowed=result.allowed_mask() if result.causal else None)
        st.caption(caption)
        heatmap_panel(dm, title=f"{LENSES[lens]} · {where}", key=prefix, value_label=value_label,
                      focus=query if not controls.merge_words else -1,
                      stem=f"{page.slug(sel)}_{tag}_{lens}", result=result)
        if lens == "norm" and per_head:
            norm_finding(result, sel.layer, sel.head)
        strongest_table(dm, f"{prefix}_")

    page.guard(draw, "heatmap")
