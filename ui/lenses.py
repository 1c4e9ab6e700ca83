"""Lenses on one head or one layer (raw, head average, rollout, flow, norm-based) and the body
that Single head and Layer average share: lens picker, token controls, focus, heatmap, table.
"""

from __future__ import annotations

import numpy as np
import streamlit as st

from core.analysis import compare, tokens
from core.attention.result import AttentionResult
from core.render.controls import TokenControls, apply_controls
from core.requests.analysis import NormBased
from core.tutorial import glossary
from ui import cache, page, state
from ui.flow_panel import flow_panel
from ui.glossary_links import markdown_link
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
# What each lens shows, in plain words (the formulas are in "How it is computed").
LENS_HELP = {
    "raw": "The weights of the selected head, as the model computed them: row i is how query i spreads its "
           "attention over the keys. Every row sums to 1.",
    "average": "The mean of all heads of the selected layer. Every row sums to 1.",
    "rollout": "Abnar & Zuidema 2020: attention followed back through the layers up to this one, counting the "
               "skip (residual) connection as half of each layer; the heads are averaged. Row i is how much "
               "each input token contributes to token i. Every row sums to 1.",
    "flow": "Abnar & Zuidema 2020: how much of the selected query at this layer can be traced back to each "
            "input token, treating attention as pipes with a capacity. Computed for one query at a time.",
    "norm": "Kobayashi et al. 2020: each weight times the size of what the key actually passes on, so tokens "
            "that get much attention but pass on little ([CLS], [SEP], punctuation) shrink. These are sizes, "
            "not shares: rows do not sum to 1.",
}
# The method notes' section for each lens (docs/methods.md#...).
LENS_METHOD = {"raw": "attention-weights", "average": "head-average", "rollout": "rollout", "flow": "attention-flow",
               "norm": "norm-based-attention"}
# What a row of each lens is, for a page's opening sentence.
ROW_SUMS = {
    "raw": "every row sums to 1",
    "average": "every row sums to 1",
    "rollout": "every row sums to 1",
    "flow": "flow is shown for one query (row) at a time",
    "norm": "values are sizes, not shares, so a row does not sum to 1",
}


def lens_options(per_head: bool) -> list[str]:
    return list(LENSES) if per_head else [k for k in LENSES if k != "raw"]


def chosen_lens(key: str, *, per_head: bool) -> str:
    """The lens this run will draw, before its picker exists (for a page's opening sentence): the
    picker's new value, else the kept one, else the link's, else the first."""
    options = lens_options(per_head)
    for value in (st.session_state.get(key), state.kept(key), st.query_params.get(key)):
        if value in options:
            return str(value)
    return options[0]


def lens_picker(key: str, *, per_head: bool) -> str:
    """The lens buttons; the value is kept across pages and reruns (a second click on the chosen
    button would clear a segmented control: the kept lens comes back)."""
    options = lens_options(per_head)
    lens = state.control(key, options[0], state.parse_choice(options), label="lens")
    st.segmented_control("Lens", options, key=key, format_func=LENSES.get,
                         help=" · ".join(f"{LENSES[k]}: {LENS_HELP[k]}" for k in options)
                         + " In plain words: " + ", ".join(markdown_link(t, glossary.term(t).name)
                                                           for t in ("attention", "rollout", "norm_based")) + ".")
    return str(st.session_state.get(key) or lens)


def where(lens: str, layer: int, head: int, *, per_head: bool) -> str:
    """What a lens's chart shows: rollout and the head average cover every head of a layer."""
    if lens == "rollout":
        return f"layers 0–{layer}, heads averaged"
    if lens == "average" or not per_head:
        return f"layer {layer}, all heads"
    return f"layer {layer}, head {head}"


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
        return (cache.rollout(result)[layer], "Rollout attribution",
                f"Rollout through layers 0–{layer}, all heads averaged.{caution}")
    if lens == "norm":
        nr = cache.get(NormBased(result))
        if per_head:
            return nr.per_head[layer, head], "Norm-based weight", f"Layer {layer}, head {head}: norm-based attention."
        return (nr.per_layer[layer], "Norm-based weight (layer)",
                f"Layer {layer}: norm-based attention of the whole layer.")
    raise ValueError(lens)


def shown_label(lens: str, value_label: str, controls: TokenControls) -> str:
    """The colour legend's label for what is drawn: hiding special tokens and renormalising turns
    norm-based values into each row's shares."""
    if lens == "norm" and controls.hide_special and controls.renormalise:
        return "Share of the row (norm-based)"
    return value_label


def norm_finding(result: AttentionResult, layer: int, head: int) -> None:
    """Kobayashi et al.'s finding on this text: weight share vs norm share of [CLS]/[SEP]/punctuation."""
    mask = result.special_mask | tokens.punctuation_mask(list(result.display_tokens))
    if not mask.any():
        return
    found = compare.norm_finding(cache.get(NormBased(result)), mask, layer, head)
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
    page.how_computed(LENS_METHOD[lens])
    if lens == "flow":
        page.describe(where=f"layer {sel.layer}" + (f", query {query}" if query >= 0 else ""),
                      lens=LENSES[lens].lower())
        page.guard(lambda: flow_panel(result, sel.layer, query), "attention flow")
        return
    shown = where(lens, sel.layer, sel.head, per_head=per_head)
    page.describe(where=shown, lens=LENSES[lens].lower())
    tag = f"L{sel.layer}H{sel.head}" if per_head and lens in ("raw", "norm") else f"L{sel.layer}"

    def draw() -> None:
        matrix, value_label, caption = lens_matrix(result, lens, sel.layer, sel.head, per_head=per_head)
        dm = apply_controls(matrix, result, controls, allowed=result.allowed_mask() if result.causal else None)
        st.caption(caption)
        heatmap_panel(dm, title=f"{LENSES[lens]} · {shown}", key=prefix,
                      value_label=shown_label(lens, value_label, controls),
                      focus=query if not controls.merge_words else -1,
                      stem=f"{page.slug(sel)}_{tag}_{lens}", result=result)
        if lens == "norm" and per_head:
            norm_finding(result, sel.layer, sel.head)
        strongest_table(dm, f"{prefix}_")

    page.guard(draw, "heatmap")
