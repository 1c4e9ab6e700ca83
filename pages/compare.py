"""Compare: A and B, each a model, a text, a layer and a head (or the layer's average), side by
side at word level on one colour scale, the difference under them; then which head of B is most
like each head of A, and for a fine-tuned model against its base, which heads changed most.

A is the sidebar's selection (model, text, layer, head); B is chosen here. Every choice is in the
link. Words: both sides are mapped onto the words of their text by character offsets (a word's
key pieces summed, its query pieces averaged: Clark et al. 2019), so different tokenizers and
minimal pairs ("...because she was lying." / "...because he was lying.") compare cell by cell.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from core.analysis.statistics import jensen_shannon
from core.compare import align, charts, match
from core.compare.align import MINIMAL_PAIRS
from core.examples import EXAMPLES
from core.models.config import grid_shape
from core.models.registry import registry, related_model
from core.render import heatmaps, matrix
from core.requests import compare as requests
from ui import cache, page, presenter, state
from ui.heatmap_panel import chart_scroll_box, draw_view, table_view
from ui.glossary_links import term_help

AVERAGE = -1  # B's "head" value for the layer's head average
AUTO = -2  # B's layer or head until chosen: A's (the next layer where B is A's own model and text)
SIDE_PX = 250  # plot side of each of A and B (two columns at 1400 px, with axes and legend, fit)
SPECIALS = {"hidden": "Hidden", "own": "Their own rows"}
WORD_MODES = {"text": "From the text", "tokenizer": "A's tokenizer's words"}
MATCH_OVER = {"text": "This text", "six": "The tutorial's six sentences"}

sel = page.header(
    "Compare",
    "A is the sidebar's model, text, layer and head; choose B below (another model, text, layer or head). Both are "
    "drawn at word level on one colour scale, so different tokenizers and minimal pairs (she / he) meet word by "
    "word; B − A is under them (red: B looks less, blue: B looks more).",
)
result_a = page.result_or_stop(sel)
chart_scroll_box()

statuses = {mid: avail for mid, _, avail, _ in cache.model_statuses()}
ready = [mid for mid in registry() if statuses.get(mid) == "ready" or cache.model_is_loaded(mid)]
if sel.model_id not in ready:
    ready.insert(0, sel.model_id)


def _default_b_model() -> str:
    """A first visit shows something worth seeing: A's base or fine-tuned relative, else another
    ready model, else A's model itself (then B is the next layer)."""
    related = related_model(sel.model_id)
    if related in ready and related != sel.model_id:
        return related
    others = [m for m in ready if m != sel.model_id]
    return others[0] if others else sel.model_id


# --- B's choices (each in the link) ----------------------------------------------------------------
with st.container(border=True):
    st.markdown(f"**A** · {sel.model_id} · layer {sel.layer} · head {sel.head} (from the sidebar)")
    a1, a2, a3 = st.columns([2, 2, 3])
    avg_a = state.control("cavg", False, state.parse_bool, state.bool_text, label="A: layer average")
    a1.toggle("A: average of the layer's heads", key="cavg")
    specials = state.control("cspec", "hidden", state.parse_choice(list(SPECIALS)), label="special tokens")
    a2.selectbox("Special tokens ([CLS], [SEP], <s>, </s>)", list(SPECIALS), key="cspec", format_func=SPECIALS.get,
                 help=term_help("special_tokens", "Hidden: their rows and columns are left out and each word's row "
                                "is renormalised over the words. Their own rows: the special tokens between the same "
                                "two words share one row."))
    word_mode = state.control("cwords", "text", state.parse_choice(list(WORD_MODES)), label="words")
    a3.selectbox("Words", list(WORD_MODES), key="cwords", format_func=WORD_MODES.get,
                 help=term_help("word_merge", "From the text: runs of letters, each punctuation mark, each character "
                                "of Chinese or Japanese. Tokens that span two of them join them, for both models."))

    st.markdown("**B**")
    b1, b2, b3, b4 = st.columns([3, 1.4, 1.4, 3.2])
    model_b = state.control("cmodel", _default_b_model(), state.parse_choice(ready), label="model B")
    b1.selectbox("Model B", ready, key="cmodel", help="Models ready on this machine (download others from the "
                                                      "sidebar's model picker).")
    layers_b, heads_b = grid_shape(model_b) or (sel.num_layers, sel.num_heads)
    # B follows A's layer and head until chosen here (a fixed default of its own made a she/he pair
    # compare two different heads without saying so); the next layer only where B is A's own model
    # and text, which would otherwise be A itself.
    typed_b = state.control("ctext", "", state.parse_text, state.text_for_link, label="text B")
    text_b = (typed_b or "").strip() or sel.text
    same_source = model_b == sel.model_id and text_b == sel.text
    auto_layer = (min(sel.layer + 1, layers_b - 1) if sel.layer + 1 < layers_b else max(sel.layer - 1, 0)) \
        if same_source else min(sel.layer, layers_b - 1)
    auto_head = AVERAGE if avg_a else min(sel.head, heads_b - 1)
    layer_b = state.control("cl", AUTO, state.parse_int(AUTO, layers_b - 1), label="layer B")
    b2.selectbox("Layer B", [AUTO, *range(layers_b)], key="cl", help=term_help(
        "layer", "Auto: A's layer, or the next one where B has A's model and text."),
        format_func=lambda v: f"{auto_layer} (auto)" if v == AUTO else str(v))
    head_b = state.control("ch", AUTO, state.parse_int(AUTO, heads_b - 1), label="head B")
    b3.selectbox("Head B", [AUTO, AVERAGE, *range(heads_b)], key="ch", help=term_help("head", "Auto: A's head."),
                 format_func=lambda h: (f"{'average' if auto_head == AVERAGE else auto_head} (auto)" if h == AUTO
                                        else "average" if h == AVERAGE else str(h)))
    layer_b = auto_layer if layer_b == AUTO else layer_b
    head_b = auto_head if head_b == AUTO else head_b
    b4.text_input("Text B (empty = A's text)", key="ctext",
                  placeholder=f"e.g. {MINIMAL_PAIRS[0][1]}",
                  help=f"A minimal pair compares word by word: try A = “{MINIMAL_PAIRS[0][0]}” and "
                       f"B = “{MINIMAL_PAIRS[0][1]}”.")
pair_b = sel.text_pair if text_b == sel.text else None
head_a = None if avg_a else sel.head
head_b_or_avg = None if head_b == AVERAGE else int(head_b)


def _name(model_id: str, layer: int, head: int | None) -> str:
    return f"{model_id} · layer {layer} · " + ("average of heads" if head is None else f"head {head}")


def _draw(panel: requests.WordPanel | requests.DifferencePanel, *, title: str, key: str, subtitle: str,
          scheme: str = "blues", domain: list[float] | None = None, value_label: str = "Weight",
          about: dict[str, str] | None = None) -> None:
    """One word-level heatmap, built once per panel and choices (requests.WordChart)."""
    prepared = requests.word_panel_prepared(cache.get(panel))
    request = requests.WordChart(panel, title, subtitle, SIDE_PX, scheme, value_label,
                                 tuple(domain) if domain else None)
    if presenter.is_on():
        presenter.chart(cache.chart(request), key=f"{key}_chart", width="content")
    else:  # the shared template of its layout, filled: no chart built on a head change
        draw_view(heatmaps.heatmap_view(prepared, **request.heatmap_args(prepared)), key=f"{key}_chart")
    from core.render import export

    page.downloads(lambda: cache.chart(request), {"csv": (lambda: export.matrix_to_csv(prepared), "text/csv")},
                   f"{page.slug(sel)}_{key}", key=key, about=about or {"view": title, "text": subtitle})
    table_view(prepared, key, value_label)


def _scale_top(*values: np.ndarray) -> float:
    """The shared colour scale's top: the larger maximum, rounded up to 0.05 (so a head change on
    one side rarely redraws the other)."""
    top = max(float(np.max(v, initial=0.0)) for v in values)
    return min(1.0, float(np.ceil(top * 20 - 1e-9) / 20)) or 1.0


def sides() -> None:
    result_b = cache.result(model_b, text_b, pair_b)
    if result_b.truncated_tokens:
        st.warning(f"B's text was truncated: {result_b.truncated_tokens:,} tokens at the end were dropped.",
                   icon=":material/content_cut:")
    _, _, alignment = cache.get(requests.WordMaps(result_a, result_b, word_mode))
    head_a_request = requests.WordHead(result_a, result_b, "a", sel.layer, head_a, word_mode, specials)
    head_b_request = requests.WordHead(result_a, result_b, "b", int(layer_b), head_b_or_avg, word_mode, specials)
    wa, wb = cache.get(head_a_request), cache.get(head_b_request)
    top = _scale_top(wa.values, wb.values)
    differing = alignment.differing if alignment.kind == align.MINIMAL_PAIR else ()
    shown = "hidden; each row renormalised over the words" if specials == "hidden" else "their own rows"
    st.caption(f":material/info: Word level: a word's key pieces are summed and its query pieces averaged "
               f"(Clark et al. 2019). Special tokens: {shown}. One colour scale, 0 to {top:.2f}, for A and B."
               + (f" {charts.DIFF_MARK} marks the words that differ." if differing else ""))
    if model_b == sel.model_id and text_b == sel.text and int(layer_b) == sel.layer and head_b_or_avg == head_a:
        st.info("B is the same as A (same model, text, layer and head), so B − A is zero everywhere. Give B another "
                "text (a minimal pair: she / he), another model, or another layer or head.",
                icon=":material/compare_arrows:")
    col_a, col_b = st.columns(2)
    with col_a:
        _draw(requests.WordPanel(head_a_request), key="cmp_a",
              title="A · " + _name(sel.model_id, sel.layer, head_a), subtitle=_short(sel.text), domain=[0.0, top],
              about={"view": "A · " + _name(sel.model_id, sel.layer, head_a), "text": sel.text})
    with col_b:
        _draw(requests.WordPanel(head_b_request), key="cmp_b",
              title="B · " + _name(model_b, int(layer_b), head_b_or_avg), subtitle=_short(text_b),
              domain=[0.0, top], about={"view": "B · " + _name(model_b, int(layer_b), head_b_or_avg), "text": text_b})
    why_not = alignment.reason if not alignment.lines_up else align.rows_line_up(wa, wb)
    if why_not:
        st.info(why_not + " A and B are shown side by side without a difference.", icon=":material/compare_arrows:")
        return
    difference = requests.WordDifference(head_a_request, head_b_request)
    diff = cache.get(difference)
    st.subheader("Difference (B − A)")
    if alignment.kind == align.MINIMAL_PAIR:
        st.caption(f":material/difference: {alignment.reason}")
    _draw(requests.DifferencePanel(difference), key="cmp_d",
          title="B − A", subtitle=f"{_name(sel.model_id, sel.layer, head_a)} against "
                                  f"{_name(model_b, int(layer_b), head_b_or_avg)}", scheme="redblue",
          value_label="Difference", domain=list(matrix.symmetric_domain(diff.values)),
          about={"view": f"B − A: {_name(model_b, int(layer_b), head_b_or_avg)} minus "
                         f"{_name(sel.model_id, sel.layer, head_a)}", "text A": sel.text, "text B": text_b})
    usable = (wa.values.sum(-1) > 0) & (wb.values.sum(-1) > 0)
    js = jensen_shannon(wa.values, wb.values)[usable]
    if js.size:
        st.caption(f"Mean Jensen–Shannon divergence between A's and B's word rows: {float(js.mean()):.3f} nats "
                   "(0 = identical, ln 2 ≈ 0.693 = no overlap).")


def _short(text: str, n: int = 70) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


page.guard(sides, "comparison")


# --- which head is which -----------------------------------------------------------------------------
def _open_pair(a_layer: int, a_head: int, b_layer: int, b_head: int) -> None:
    """Open a matched pair: A's head becomes the selection, B's the page's B (from a callback)."""
    state.set_control("cavg", False)
    state.set_control("cl", int(b_layer))
    state.set_control("ch", int(b_head))
    state.select(layer=int(a_layer), head=int(a_head))


def _on_grid(key: str, matching: object) -> None:
    event = st.session_state.get(key)
    try:
        point = event["selection"]["head"][0]  # type: ignore[index]
    except (KeyError, TypeError, IndexError):
        return
    lb, hb, _ = matching.best_of(int(point["layer"]), int(point["head"]))  # type: ignore[attr-defined]
    _open_pair(int(point["layer"]), int(point["head"]), lb, hb)


def _on_layers(key: str, matching: object) -> None:
    event = st.session_state.get(key)
    try:
        point = event["selection"]["layers"][0]  # type: ignore[index]
    except (KeyError, TypeError, IndexError):
        return
    la, lb = int(point["layer_a"]), int(point["layer_b"])
    block = matching.divergence[la, :, lb, :]  # type: ignore[attr-defined]
    ha, hb = np.unravel_index(int(np.nanargmin(np.where(np.isnan(block), np.inf, block))), block.shape)
    _open_pair(la, int(ha), lb, int(hb))


def _on_ranking(key: str, table: pd.DataFrame) -> None:
    event = st.session_state.get(key)
    try:
        row = table.iloc[int(event["selection"]["rows"][0])]  # type: ignore[index]
    except (KeyError, TypeError, IndexError):
        return
    _open_pair(int(row["layer"]), int(row["head"]), int(row["layer"]), int(row["head"]))


def matching_section() -> None:
    st.subheader("Which head is which")
    st.caption("For every head of A, the most similar head of B: the Jensen–Shannon divergence between their "
               "word-level rows, averaged over every word of every text (Clark et al. 2019, §6). Head numbers are "
               "an arbitrary order inside a layer, so the same number in two models is not the same head.")
    over = state.control("cmatch", "text", state.parse_choice(list(MATCH_OVER)), label="match over")
    st.radio("Over", list(MATCH_OVER), key="cmatch", format_func=MATCH_OVER.get, horizontal=True)
    if model_b == sel.model_id and (over == "six" or text_b == sel.text):
        st.info("B is A's own model on the same text, so every head of A is closest to itself (divergence 0). "
                "Choose another model or text for B to see which of its heads does A's work.",
                icon=":material/info:")
        return
    if over == "six":
        texts = list(dict.fromkeys(EXAMPLES.values()))
        pairs = [(cache.result(sel.model_id, t), cache.result(model_b, t)) for t in texts]
    else:
        pairs = [(result_a, cache.result(model_b, text_b, pair_b))]
    matching_request = requests.HeadMatching(tuple(pairs), word_mode, specials)
    matching, used, skipped = cache.get(matching_request)
    if matching is None:
        st.info("The words of A's and B's texts do not line up (or the text is longer than "
                f"{match.MATCH_MAX_WORDS} words), so their heads cannot be matched here. Use the same text, a "
                "minimal pair, or the tutorial's six sentences.", icon=":material/info:")
        return
    if skipped:
        st.caption(f":material/info: {skipped} of {used + skipped} texts were left out: their words do not line up "
                   f"or they are longer than {match.MATCH_MAX_WORDS} words.")
    grid_key, layers_key = "cmp_match", "cmp_layers"
    c1, c2 = st.columns([3, 2])
    with c1:
        title = f"A's heads and their closest head in B ({used} text{'s' if used != 1 else ''})"
        chart = cache.chart(requests.MatchGridChart(matching_request, title))
        presenter.chart(chart, key=grid_key, on_select=lambda: _on_grid(grid_key, matching),
                        selection_mode="head", width="content")
    with c2:
        chart = cache.chart(requests.LayerMapChart(matching_request))
        presenter.chart(chart, key=layers_key, on_select=lambda: _on_layers(layers_key, matching),
                        selection_mode="layers", width="content")
    lb, hb, div = matching.best_of(sel.layer, sel.head)
    st.caption(f"A's layer {sel.layer}, head {sel.head} is closest to B's layer {lb}, head {hb} "
               f"(divergence {div:.3f} nats).")
    if matching.grid_a == matching.grid_b and model_b != sel.model_id:
        st.markdown("**Which heads changed most?**")
        relation = registry().get(model_b)
        base = relation.base_model if relation is not None else None
        st.caption("Each head of B against the same head of A, largest divergence first"
                   + (f" ({model_b} is fine-tuned from {base})." if base == sel.model_id else ".")
                   + " A head that only moved has a close match elsewhere (last columns). Click a row to open it.")
        table = match.changed_heads(matching).head(12)
        rank_key = "cmp_rank"
        st.dataframe(table.round(4), key=rank_key, on_select=lambda: _on_ranking(rank_key, table),
                     selection_mode="single-row", hide_index=True, width="stretch")


page.guard(matching_section, "head matching")
page.how_computed("words-across-tokenizers", "head-matching", "jensen-shannon-divergence")
page.caveat()
