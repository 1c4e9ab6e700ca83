"""Model and tokens: the facts the tutorial prints, and how the text was split."""

from __future__ import annotations

import streamlit as st

from core.analysis import tables
from core.render import export
from ui import page

sel = page.header(
    "Model and tokens",
    "What the model is and how it split your text. Every other page indexes attention by these "
    "token positions: rows are queries (attending from), columns are keys (attending to).",
)
result = page.result_or_stop(sel)
info = result.info

cols = st.columns(4)
cols[0].metric("Layers", info.num_layers)
cols[1].metric("Heads per layer", info.num_heads)
cols[2].metric("Hidden size", info.hidden_size)
cols[3].metric("Vocabulary", f"{info.vocab_size:,}")
cols = st.columns(4)
cols[0].metric("Max positions", info.max_positions)
cols[1].metric("Parameters", f"{info.num_parameters / 1e6:.1f} M")
cols[2].metric("Tokens in this text", result.n_tokens)
cols[3].metric("Device", info.device)
st.caption(
    f"**{info.display_name}** · architecture `{info.model_type}` · "
    f"{'causal (each token sees only earlier tokens)' if info.causal else 'bidirectional encoder'} · "
    f"attention tensor shape [layers, heads, query, key] = {list(result.attention.shape)}"
)

st.subheader("Tokenization")
token_table = tables.token_table(result)
st.dataframe(token_table, hide_index=True, width="stretch",
             column_config={"id": st.column_config.NumberColumn(format="%d")})
if result.text_pair:
    st.caption("Segment 0 is the first sentence, segment 1 the second "
               "(token type ids where the model has them, else derived from the separator).")

with st.expander("Raw tokens (as the tokenizer writes them)"):
    st.code(" ".join(result.tokens), language=None, wrap_lines=True)

st.caption("Downloads: the token table (CSV), and the whole attention tensor with its tokens (NPZ; "
           "`np.load(f)['attention']` is [layers, heads, query, key]).")
page.downloads(None, {"csv": (lambda: token_table.to_csv(index=False).encode(), "text/csv"),
                      "npz": (lambda: export.attention_to_npz(result), "application/octet-stream")},
               page.slug(sel) + "_tokens", key="tok_dl")
