"""Model and tokens: the facts the tutorial prints, and how the text was split."""

from __future__ import annotations

import streamlit as st

from core.analysis import tables
from core.render import export
from ui import page
from ui.tables import closed_grid, readable

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
# info.device is e.g. "cpu", or "cpu (precomputed)" for a result read from the store: the metric
# shows the device, the caption says where the numbers came from.
device, _, origin = info.device.partition(" (")
cols[3].metric("Device", device, help="Where the model runs: cpu, cuda (a GPU) or mps (Apple).")
computed = ("computed earlier and shipped with the app (precomputed)" if "precomputed" in origin
            else f"computed on {device}")
st.caption(
    f"**{info.display_name}** · architecture `{info.model_type}` · "
    f"{'causal (each token sees only earlier tokens)' if info.causal else 'bidirectional encoder'} · "
    f"attention weights {computed}: {result.num_layers} layers × {result.num_heads} heads × "
    f"{result.n_tokens} × {result.n_tokens} tokens."
)

st.subheader("Tokenization")
# One row per token; "word" numbers the words of each sentence, and is empty for special tokens
# ([CLS], [SEP], <s>...) that belong to no word (the data's -1), here and in the CSV.
token_table = tables.token_table(result)
# (Text, not a nullable number: a table shows a missing number as "None".)
token_table["word"] = [str(w) if w >= 0 else "" for w in token_table["word"]]
closed_grid(f"Token table ({result.n_tokens} tokens: vocabulary id, word, sentence, special or not)", token_table,
            hide_index=True, width="stretch",
            column_config=readable(token_table.columns, id=st.column_config.NumberColumn("Vocabulary id", format="%d")))
if result.text_pair:
    st.caption("In the Sentence column, 0 is the first sentence and 1 the second "
               "(token type ids where the model has them, else derived from the separator).")

with st.expander("Raw tokens (as the tokenizer writes them)"):
    st.code(" ".join(result.tokens), language=None, wrap_lines=True)

st.caption("Downloads: the token table (CSV), and the whole attention tensor with its tokens (NPZ; "
           "`np.load(f)['attention']` is [layers, heads, query, key]).")
page.downloads(None, {"csv": (lambda: token_table.to_csv(index=False).encode(), "text/csv"),
                      "npz": (lambda: export.attention_to_npz(result), "application/octet-stream")},
               page.slug(sel) + "_tokens", key="tok_dl")
