"""Panels that several pages share: token table, token controls, lenses, the heatmap panel.

No math here: every number comes from core.analysis / core.norms; this module only decides
what to draw and wires clicks back into the shared state.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
import pandas as pd
import streamlit as st

from core import analysis, charts
from core.attention import AttentionResult
from ui import cache, state

# --- tables ---------------------------------------------------------------------------------

def token_table(result: AttentionResult) -> pd.DataFrame:
    return pd.DataFrame({
        "position": np.arange(result.n_tokens),
        "token": list(result.display_tokens),
        "raw": list(result.tokens),
        "id": list(result.token_ids),
        "word": [(-1 if w is None else int(w)) for w in result.word_ids],
        "segment": result.segment_ids.astype(int),
        "special": result.special_mask.astype(bool),
    })


# --- token controls -------------------------------------------------------------------------

@dataclass(frozen=True)
class TokenControls:
    hide_special: bool = False
    renormalise: bool = True
    merge_words: bool = False
    prune: str = "none"  # "none" | "top_k" | "cumulative"
    k: int = 3
    share: float = 0.7


PRUNE_LABELS = {"none": "Keep all", "top_k": "Top k per row", "cumulative": "Cumulative share per row"}


def token_controls(prefix: str) -> TokenControls:
    """Hide specials, merge subwords, prune rows; all bound to the URL."""
    hs = state.url_value(f"{prefix}hide", False, state.parse_bool, lambda v: "1" if v else "0")
    state.url_value(f"{prefix}renorm", True, state.parse_bool, lambda v: "1" if v else "0")
    state.url_value(f"{prefix}words", False, state.parse_bool, lambda v: "1" if v else "0")
    state.url_value(f"{prefix}prune", "none", state.parse_choice(list(PRUNE_LABELS)))
    state.url_value(f"{prefix}k", 3, state.parse_int(1, 50))
    state.url_value(f"{prefix}share", 0.7, state.parse_float(0.05, 1.0))
    with st.popover("Token controls", icon=":material/tune:"):
        st.toggle("Hide special tokens ([CLS], [SEP], <s>…)", key=f"{prefix}hide")
        st.toggle("Renormalise the remaining keys", key=f"{prefix}renorm", disabled=not hs,
                  help="Dropping special-token columns leaves rows that no longer sum to 1. On: rows are "
                       "rescaled to 1 again. Off: the weights are shown as they were (exBERT's choice).")
        st.toggle("Merge subwords into words", key=f"{prefix}words",
                  help="Clark et al. 2019, §4.1: attention TO a word is the SUM over its pieces, attention "
                       "FROM a word the MEAN over its pieces, so rows still sum to 1.")
        st.radio("Connections per row", list(PRUNE_LABELS), format_func=PRUNE_LABELS.get, key=f"{prefix}prune",
                 horizontal=True)
        prune = st.session_state[f"{prefix}prune"]
        if prune == "top_k":
            st.number_input("k", 1, 50, key=f"{prefix}k")
        elif prune == "cumulative":
            st.slider("Share of each row's mass to keep", 0.05, 1.0, step=0.05, key=f"{prefix}share",
                      help="exBERT keeps each row's largest edges until they cover this share (0.7).")
    ss = st.session_state
    return TokenControls(bool(ss[f"{prefix}hide"]), bool(ss[f"{prefix}renorm"]), bool(ss[f"{prefix}words"]),
                         str(ss[f"{prefix}prune"]), int(ss[f"{prefix}k"]), float(ss[f"{prefix}share"]))


@dataclass(frozen=True)
class Shown:
    """A matrix ready to draw, with its labels and what was done to it."""

    matrix: np.ndarray  # [rows, cols]
    labels: list[str]
    allowed: np.ndarray | None  # bool [rows, cols] or None
    notes: list[str]
    special: np.ndarray  # bool [rows]
    positions: np.ndarray | None = None  # original token position of each row (None = 0..n-1)


def apply_controls(matrix: np.ndarray, result: AttentionResult, controls: TokenControls,
                   *, allowed: np.ndarray | None = None) -> Shown:
    labels = list(result.display_tokens)
    special = result.special_mask.copy()
    positions: np.ndarray | None = None
    notes: list[str] = []
    m = np.asarray(matrix, dtype=np.float32)
    if controls.merge_words:
        m, labels, groups = analysis.merge_words(m, analysis.word_keys(result.word_ids, result.segment_ids), labels)
        special = np.array([len(g) == 1 and bool(result.special_mask[g[0]]) for g in groups], dtype=bool)
        if allowed is not None:
            allowed = None
            notes.append("Words merged: masked (future) keys are folded into their words.")
        notes.append("Merged subwords into words (columns: sum over pieces; rows: mean over pieces).")
    if controls.hide_special and special.any() and (~special).sum() >= 1:
        m, kept = analysis.hide_special(m, special, controls.renormalise)
        labels = [labels[i] for i in kept]
        if not controls.merge_words:  # keep sentence positions in labels and clicks
            positions = np.asarray(kept)
        if allowed is not None:
            allowed = allowed[np.ix_(kept, kept)]
        special = special[kept]
        notes.append("Special tokens hidden; remaining keys " +
                     ("renormalised so rows sum to 1." if controls.renormalise else "NOT renormalised (rows sum to < 1)."))
    if controls.prune == "top_k":
        m = analysis.keep_top_k(m, controls.k)
        notes.append(f"Only each row's top {controls.k} connections are kept (others shown as 0).")
    elif controls.prune == "cumulative":
        m = analysis.keep_cumulative(m, controls.share)
        notes.append(f"Each row keeps its largest connections until they cover {controls.share:.0%} of its mass.")
    return Shown(m, labels, allowed, notes, special, positions)


# --- the heatmap panel ----------------------------------------------------------------------

def _focus_query(chart_key: str) -> None:
    event = st.session_state.get(chart_key)
    try:
        points = event["selection"]["cell"]  # type: ignore[index]
    except (KeyError, TypeError):
        return
    if points:
        q = points[0].get("query_pos")
        if q is not None:
            st.session_state["q"] = int(q)


def query_picker(result: AttentionResult, labels: list[str] | None = None) -> int:
    n = result.n_tokens
    state.url_value("q", -1, state.parse_int(-1, max(n - 1, 0)), label="focused query")
    if st.session_state["q"] >= n:
        st.session_state["q"] = -1
    st.selectbox("Focus a query (row)", [-1] + list(range(n)), key="q", width=320,
                 format_func=lambda i: "none" if i == -1 else f"{i} · {result.display_tokens[i]}",
                 help="Or click a cell in the heatmap.")
    return int(st.session_state["q"])


def heatmap_panel(shown: Shown, *, title: str, key: str, value_label: str = "Attention weight",
                  focus: int = -1, stem: str = "attention", result: AttentionResult | None = None,
                  max_cells: int = charts.CELL_BUDGET, scheme: str = "blues", symmetric: bool = False,
                  memo_key: tuple[AttentionResult, object] | None = None) -> None:
    """Draw one matrix as a heatmap (aggregated or windowed past the cell budget), with downloads."""
    from ui import page

    for note in shown.notes:
        st.caption(f":material/info: {note}")
    n = shown.matrix.shape[0]
    mode, start, size = "auto", 0, 64
    if n * n > max_cells:
        state.url_value(f"{key}_mode", "auto", state.parse_choice(["auto", "window"]), label="large-input mode")
        mode = st.radio(f"{n} tokens is more than one chart can show cell by cell",
                        ["auto", "window"], key=f"{key}_mode", horizontal=True,
                        format_func={"auto": "Whole text, block-averaged", "window": "A window of tokens"}.get)
        if mode == "window":
            state.url_value(f"{key}_start", 0, state.parse_int(0, max(n - 1, 0)), label="window start")
            start = st.slider("Window start (token position)", 0, max(n - size, 0), key=f"{key}_start")
    prepared = charts.prepare_matrix(shown.matrix, shown.labels, mode=mode, allowed_mask=shown.allowed,
                                     start=start, size=size, positions=shown.positions, max_cells=max_cells)
    if prepared.note:
        st.info(prepared.note, icon=":material/compress:")
    selected = focus if focus >= 0 and (shown.positions is None or focus in set(shown.positions.tolist())) else None

    domain = charts.symmetric_domain(prepared.matrix) if symmetric else None  # differences: centred on 0

    def make() -> object:
        return charts.heatmap(**prepared.heatmap_kwargs(), title=title, value_label=value_label,
                              selected_query=selected, scheme=scheme, color_domain=domain)

    chart_key = f"{key}_chart"
    if memo_key is not None:  # a chart that does not depend on the shared selection: build once
        owner, params = memo_key
        built = cache.memo(owner, "heatmap_chart", (params, title, mode, start, max_cells, scheme), make)
        chart = copy.copy(built)
    else:
        chart = make()
    st.altair_chart(charts.unvalidated(chart), key=chart_key, on_select=lambda: _focus_query(chart_key), selection_mode="cell",
                    width="content")
    files = {"csv": (lambda: charts.attention_frame(shown.matrix, shown.labels, shown.allowed)
                     .to_csv(index=False).encode(), "text/csv")}
    if result is not None:  # the whole [layers, heads, n, n] tensor with tokens, for notebooks
        from core import export

        files["npz"] = (lambda: export.attention_to_npz(result), "application/octet-stream")
    page.downloads(make, files, stem, key=key)


def strongest_table(matrix: np.ndarray, labels: list[str], key: str) -> None:
    """The strongest connections as a table, in an expander that computes and draws it only when
    open (a data grid is the heaviest thing a page's first paint could draw). Open or closed is
    part of the link."""
    box_key = f"{key}strong"
    if box_key not in st.session_state and st.query_params.get(f"{key}topk") is not None \
            and st.query_params.get(box_key) is None:
        st.session_state[box_key] = True  # an older link with a top k: open, so its k is kept
    state.url_value(box_key, False, state.parse_bool, lambda v: "1" if v else None, label="strongest connections")
    with st.expander("Strongest connections (table)", key=box_key, on_change="rerun",
                     icon=":material/format_list_numbered:") as box:
        if not box.open:
            return
        topk, kept = f"{key}topk", f"_{key}topk_kept"
        if topk not in st.session_state and kept in st.session_state:
            st.session_state[topk] = st.session_state[kept]  # reopened: the k chosen before
        state.url_value(topk, 5, state.parse_int(1, 100), label="top k")
        k = st.number_input("Strongest connections to list (self excluded)", 1, 100, key=topk)
        st.session_state[kept] = int(k)  # a widget's state is dropped while the expander is closed
        df = analysis.strongest_connections(matrix, labels, int(k), exclude_self=True)
        st.dataframe(df, hide_index=True, width="stretch")


def caveat() -> None:
    st.caption(":material/school: Attention weights show where a head looks, not why the model decides "
               "(Jain & Wallace 2019; Wiegreffe & Pinter 2019). See *Read this first*.")


def statistics(result: AttentionResult) -> pd.DataFrame:
    """All head statistics for a result, cached in the engine."""
    return cache.memo(result, "head_statistics", None, lambda: analysis.head_statistics_for(result))


# --- lenses ---------------------------------------------------------------------------------

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
    options = list(LENSES) if per_head else [k for k in LENSES if k != "raw"]
    state.url_value(key, options[0], state.parse_choice(options), label="lens")
    st.segmented_control("Lens", options, key=key, format_func=LENSES.get,
                         help=" · ".join(f"{LENSES[k]}: {LENS_HELP[k]}" for k in options))
    if st.session_state.get(key) is None:  # segmented control can be cleared by a second click
        st.session_state[key] = options[0]
        return options[0]
    return str(st.session_state[key])


def rollout_stack(result: AttentionResult) -> np.ndarray:
    return cache.memo(result, "rollout", None, lambda: analysis.rollout(result.attention, causal=result.causal))


def norm_stack(result: AttentionResult):  # -> core.norms.NormResult
    from core import norms

    def compute():
        loaded = cache.ensure_model(result.model_id)
        return norms.norm_based(loaded, result.text, result.text_pair, result.max_tokens)
    return cache.memo(result, "norm_based", None, compute)


def lens_matrix(result: AttentionResult, lens: str, layer: int, head: int, *, per_head: bool
                ) -> tuple[np.ndarray, str, str]:
    """(matrix [n, n], value label, one-line caption) for a lens other than flow."""
    if lens == "raw":
        return result.head(layer, head), "Attention weight", f"Layer {layer}, head {head}: raw attention."
    if lens == "average":
        return result.layer_mean(layer), "Mean weight", f"Layer {layer}: mean over its {result.num_heads} heads."
    if lens == "rollout":
        return (rollout_stack(result)[layer], "Rollout attribution",
                f"Rollout through layers 0–{layer}. " + ("Causal model: early rows see few tokens, so their "
                                                        "attribution is concentrated by construction." if result.causal else ""))
    if lens == "norm":
        with st.spinner("Computing ‖f(x)‖ for every head (one extra forward pass)…"):
            nr = norm_stack(result)
        if per_head:
            return nr.per_head[layer, head], "‖α·f(x)‖", f"Layer {layer}, head {head}: norm-based attention."
        return nr.per_layer[layer], "‖Σ_h α·f(x)‖", f"Layer {layer}: norm-based attention of the whole layer."
    raise ValueError(lens)


def flow_panel(result: AttentionResult, layer: int, query: int, key: str) -> None:
    """Attention flow for one query row, next to rollout for the same row."""
    n = result.n_tokens
    if n > analysis.FLOW_MAX_TOKENS:
        st.warning(f"Attention flow solves a max-flow problem per input token; it is offered up to "
                   f"{analysis.FLOW_MAX_TOKENS} tokens (this text has {n}). Shorten the text, or use rollout, "
                   "which the paper found correlates well with flow.", icon=":material/speed:")
        return
    if query < 0:
        st.info("Pick a query (row) above, or click a cell in another lens: flow is computed for one query.",
                icon=":material/touch_app:")
        return

    def compute() -> np.ndarray:
        bar = st.progress(0.0, text="Solving max-flow for each input token…")
        out = analysis.attention_flow(result.attention, query, layer, causal=result.causal,
                                      progress=lambda f: bar.progress(min(max(f, 0.0), 1.0)))
        bar.empty()
        return out
    flow = cache.memo(result, "flow", (layer, query), compute)
    roll = rollout_stack(result)[layer, query]
    bars = charts.bar_chart_for_tokens(flow, list(result.display_tokens),
                                       f"Flow from '{result.display_tokens[query]}' at layer {layer}")
    st.altair_chart(charts.unvalidated(bars), width="stretch")
    st.dataframe(pd.DataFrame({"position": np.arange(n), "token": list(result.display_tokens),
                               "flow": np.round(flow, 4), "rollout": np.round(roll, 4)}),
                 hide_index=True, width="stretch")


def select_from_chart(chart_key: str, param: str = "head") -> None:
    """on_select callback: a clicked (layer, head) becomes the selection on every page."""
    event = st.session_state.get(chart_key)
    try:
        points = event["selection"][param]  # type: ignore[index]
    except (KeyError, TypeError):
        return
    if points and "layer" in points[0] and "head" in points[0]:
        state.select_head(int(points[0]["layer"]), int(points[0]["head"]))


def norm_finding(result: AttentionResult, layer: int, head: int) -> None:
    """Kobayashi et al.'s finding on this text: weight share vs norm share of [CLS]/[SEP]/punctuation."""
    from core import norms

    nr = norm_stack(result)
    punct = analysis.punctuation_mask(list(result.display_tokens))
    mask = result.special_mask | punct
    if not mask.any():
        return
    table = norms.weight_vs_norm_share(nr, mask)
    row = table[(table["layer"] == layer) & (table["head"] == head)].iloc[0]
    lower = float((table["norm_share"] < table["weight_share"]).mean())
    st.caption(f"[CLS]/[SEP]/punctuation receive {row['weight_share']:.0%} of this head's weight but "
               f"{row['norm_share']:.0%} of its norm-based attention; across all heads their norm share is "
               f"lower than their weight share in {lower:.0%} of heads (Kobayashi et al. 2020).")


def lens_page(sel: state.Selection, result: AttentionResult, *, per_head: bool) -> None:
    """The body shared by Single head and Layer average: lens, token controls, focus, heatmap."""
    from ui import page

    lens_key, prefix = ("lens", "sh") if per_head else ("llens", "la")
    left, right = st.columns([3, 1])
    with left:
        lens = lens_picker(lens_key, per_head=per_head)
    with right:
        controls = token_controls(f"{prefix}_")
    query = query_picker(result)
    st.caption(LENS_HELP[lens])
    if lens == "flow":
        page.guard(lambda: flow_panel(result, sel.layer, query, f"{prefix}_flow"), "attention flow")
        return
    where = f"layer {sel.layer}, head {sel.head}" if per_head else f"layer {sel.layer}"
    tag = f"L{sel.layer}H{sel.head}" if per_head else f"L{sel.layer}"

    def draw() -> None:
        matrix, value_label, caption = lens_matrix(result, lens, sel.layer, sel.head, per_head=per_head)
        shown = apply_controls(matrix, result, controls, allowed=result.allowed_mask() if result.causal else None)
        st.caption(caption)
        heatmap_panel(shown, title=f"{LENSES[lens]} · {where}", key=prefix, value_label=value_label,
                      focus=query if not controls.merge_words else -1,
                      stem=f"{page.slug(sel)}_{tag}_{lens}", result=result)
        if lens == "norm" and per_head:
            norm_finding(result, sel.layer, sel.head)
        strongest_table(shown.matrix, shown.labels, f"{prefix}_")

    page.guard(draw, "heatmap")
