"""Translation: an encoder-decoder model (MarianMT opus-mt-en-de, T5) reads the app's text as its
source and writes a target (its own translation, or one typed here). Three kinds of attention:
the encoder's over the source, the decoder's over the target so far, and cross-attention (each
target token over the source); a word alignment read from cross-attention; BertViz's
encoder-decoder view."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from core.render.bertviz import BertvizOptions
from core.requests.generate import (
    SEQ2SEQ_KINDS,
    AlignmentChart,
    AlignmentOf,
    Seq2SeqBertviz,
    Seq2SeqHeatmap,
    Seq2SeqOf,
)
from ui import cache, generate_panel, page, presenter, state
from ui.bertviz_component import active_theme, bertviz_view, follow_theme, plain_view_toggle
from ui.glossary_links import escape, term_help
from ui.heatmap_panel import chart_scroll_box

MAX_TARGET_CHARS = 2_000

sel = page.header(
    "Translation",
    "An encoder-decoder model reads your text (the source) with its encoder, and writes the target with its decoder, "
    "which looks at the source through cross-attention. Type a target, or leave it blank for the model's own "
    "translation.",
)
page.result_or_stop(sel)  # the source is the app's text: the usual messages for an empty or long one

statuses = {s[0]: s for s in cache.seq2seq_statuses()}
ids = list(statuses)
model_id = state.control("s2s", ids[0], state.parse_choice(ids), label="translation model")
c1, c2 = st.columns([2, 3])
c1.selectbox("Encoder-decoder model", ids, key="s2s",
             format_func=lambda mid: f"{generate_panel.BADGE.get(statuses[mid][2], '?')} {statuses[mid][1]}",
             help=term_help("encoder_decoder", "✓ ready on this machine · ↓ downloadable from the Hugging Face "
                                                "Hub · ✗ unavailable."))
state.control("target", "", lambda raw: str(raw)[:MAX_TARGET_CHARS], label="target")
target = c2.text_input("Target (optional; press Enter)", key="target",
                       placeholder="Blank: the model's own translation (greedy)")
state.show_notes()


def translation_views() -> None:
    """The source and target, one head of the three attentions, the word alignment, BertViz."""
    request = Seq2SeqOf(model_id, sel.text, target)
    r = page.value_or_stop(request, "translation")
    chart_scroll_box()
    st.markdown(f"**Source** ({len(r.source.labels)} tokens): {escape(r.source.text)}")
    how = "the model’s translation" if r.target_generated else "typed"
    st.markdown(f"**Target** ({len(r.target.labels)} tokens, {how}): {escape(r.target.text)}")
    if r.info.model_type == "t5" and r.source.text != sel.text:
        st.caption("T5 is told its task by a prefix of its input: the source starts with "
                   "“translate English to German:”.")

    # --- one head of one of the three attentions ------------------------------------------------------
    info = r.info
    layers = min(info.encoder_layers, info.decoder_layers)
    c1, c2, c3 = st.columns([3, 1, 1])
    chosen = state.control("s2s_view", "cross", state.parse_choice(list(SEQ2SEQ_KINDS)), label="attention")
    with c1:
        which = st.segmented_control("Attention", list(SEQ2SEQ_KINDS), key="s2s_view", format_func=SEQ2SEQ_KINDS.get,
                                     help=term_help("cross_attention", "Encoder: source over source (both ways). "
                                                    "Decoder: target over the target before it (causal). "
                                                    "Cross: each target token over the source.")) or chosen
    layer = state.control("s2s_layer", layers - 1, state.parse_int(0, layers - 1), label="layer")
    c2.selectbox("Layer", list(range(layers)), key="s2s_layer")
    head = state.control("s2s_head", 0, state.parse_int(0, info.num_heads - 1), label="head")
    c3.selectbox("Head", list(range(info.num_heads)), key="s2s_head")
    page.describe(where=f"{SEQ2SEQ_KINDS[which].lower()}, layer {layer}, head {head}")
    heatmap = Seq2SeqHeatmap(request, which, int(layer), int(head),
                             f"{SEQ2SEQ_KINDS[which]}: layer {layer}, head {head}")
    page.guard(lambda: presenter.chart(cache.chart(heatmap), key="s2s_heatmap"), "attention heatmap")
    st.caption("Row j of the decoder is the state that has read target tokens 0..j and predicts token j + 1 "
               "(teacher forcing: the whole target in one pass).")

    # --- word alignment from cross-attention ----------------------------------------------------------
    st.subheader("Word alignment from cross-attention")
    a1, a2 = st.columns(2)
    state.control("al_layers", list(range(info.decoder_layers)), state.parse_list(list(range(info.decoder_layers))),
                  state.list_text, label="alignment layers")
    picked_layers = a1.multiselect("Decoder layers (averaged)", list(range(info.decoder_layers)), key="al_layers")
    state.control("al_heads", [], state.parse_list(list(range(info.num_heads))), state.list_text,
                  label="alignment heads")
    picked_heads = a2.multiselect("Heads (none picked: all)", list(range(info.num_heads)), key="al_heads",
                                  placeholder="All heads")
    if not picked_layers:
        st.info("Pick at least one decoder layer to read an alignment from.", icon=":material/rule:")
    else:
        alignment = AlignmentOf(request, tuple(sorted(picked_layers)), tuple(sorted(picked_heads)) or None)
        where = f"layers {', '.join(map(str, sorted(picked_layers)))}, " + (
            f"heads {', '.join(map(str, sorted(picked_heads)))}" if picked_heads else "all heads")
        page.guard(lambda: presenter.chart(cache.chart(AlignmentChart(alignment, f"Word alignment ({where})")),
                                           key="s2s_alignment"), "alignment chart")
        found = cache.get(alignment)
        pairs = pd.DataFrame(found.pairs(), columns=["target word", "source word", "cross-attention share"])
        with st.expander("The alignment as a table", icon=":material/table_view:"):
            st.dataframe(pairs, hide_index=True)
        page.downloads(None, {"csv": (lambda: pairs.to_csv(index=False).encode(), "text/csv")},
                       f"{page.slug(sel)}_alignment", key="s2s_dl")
        st.caption("Each target word is joined to the source word that gets most of its cross-attention, averaged over "
                   "the layers and heads picked (each word's row: the position that reads it). Attention is a hint, "
                   "not a gold alignment.")

    # --- BertViz -------------------------------------------------------------------------------------
    st.subheader("BertViz: encoder, decoder and cross-attention")
    KINDS = {"head": "Head view", "model": "Model view"}
    b1, b2 = st.columns([3, 2])
    kind_default = state.control("s2s_bv", "head", state.parse_choice(list(KINDS)), label="BertViz view")
    kind = b1.segmented_control("View", list(KINDS), key="s2s_bv", format_func=KINDS.get) or kind_default
    with b2:
        plain = plain_view_toggle("s2s_plain")
    theme = active_theme()


    def draw_bertviz() -> None:
        view = cache.get(Seq2SeqBertviz(request, kind, BertvizOptions(display_mode=theme)))
        st.caption("BertViz's *Attention* menu switches between Encoder, Decoder and Cross.")
        bertviz_view(view, key=f"s2s_bv_{kind}", plain=plain, layer=int(layer) if int(layer) in view.layers else None)


    page.guard(draw_bertviz, "BertViz view")
    follow_theme(theme, key="s2s_theme")
    page.how_computed("encoder-decoder-attention", "word-alignment")


# No st.stop() on the way: a stopped run leaves the link as it was.
_, name, avail, reason = statuses[model_id]
if avail == "unavailable":
    st.info(f"{name} is unavailable here: {reason}.", icon=":material/block:")
    st.markdown("**Encoder-decoder models for this page**")
    generate_panel.models_box(list(statuses.values()), use=lambda mid: state.set_control("s2s", mid),
                              key="s2s_models")
else:
    if avail == "downloadable" and not cache.model_is_loaded(model_id):
        st.caption("First use downloads this model from the Hugging Face Hub.")
    translation_views()
page.caveat()
