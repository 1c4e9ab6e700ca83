"""Read this first: what attention shows and what it does not; the models; the definitions."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from ui import cache, page

page.header(
    "Read this first",
    "A one-minute guide to reading attention honestly, the models this app can use right now, and the "
    "definitions behind every number.",
)

with st.container(border=True):
    st.markdown(
        "**Caveats**\n"
        "- Attention weights show where a head looks, not why the model decides: they are not explanations "
        "by themselves (Jain & Wallace 2019; see Wiegreffe & Pinter 2019 for the counterpoint).\n"
        "- Beyond about 64 tokens (the head dimension) many different weight patterns give the same output "
        "(Brunner et al. 2020).\n"
        "- Upper-layer raw attention is often near uniform; rollout and flow trace it back to the input "
        "(Abnar & Zuidema 2020).\n"
        "- Heavy attention to [CLS], [SEP] or punctuation often means 'no-op': the norm-based lens shows these "
        "tokens move the output little (Kobayashi et al. 2020).\n"
        "- Layers and heads are 0-indexed here; papers often write 1-indexed (Clark's head 8-11 is layer 7, "
        "head 10 here). Head numbers are arbitrary inside a layer."
    )

st.subheader("Models")
statuses = pd.DataFrame(cache.model_statuses(), columns=["id", "name", "availability", "why"])
st.table(statuses.rename(columns={"id": "Model id", "name": "Name", "availability": "Availability", "why": "Why"}),
         hide_index=True)
model_id, reason = cache.default_model()
st.caption(f"Default here: **{model_id}**. {reason}")
st.caption("Offline: set `ATTENTION_DASHBOARD_OFFLINE=1` (or `HF_HUB_OFFLINE=1`). Allow more Hub ids or local "
           "folders with `ATTENTION_DASHBOARD_MODELS=\"id1,/path/to/folder\"`. Remote code is never run.")
st.caption(":material/contrast: Light or dark: the **⋮** menu at the top right (*System* follows your computer).")

st.subheader("Definitions")
st.markdown(
    "- **Attention**: how much a query token (a row, attending from) looks at each key token (a column, "
    "attending to); each row shares out 1.\n"
    "- **Head average**: all heads of a layer together, averaged.\n"
    "- **Rollout** (Abnar & Zuidema 2020): attention followed back through the layers to the input words, "
    "counting the skip connection as half of each layer.\n"
    "- **Flow** (same paper): how much of a token can be traced back to each input word, treating attention as "
    "pipes with a capacity.\n"
    "- **Norm-based** (Kobayashi et al. 2020): each weight times the size of what the key passes on.\n"
    "- **Entropy** (Clark et al. 2019): how spread out a row is; 1 = evenly over every key, 0 = one key.\n"
    "- **Mean distance**: how far a head looks, against spreading evenly.\n"
    "- **Pattern classes** (Kovaleva et al. 2019): vertical, diagonal, both, block, heterogeneous.\n"
    "- **Word level** (Clark et al. 2019): a word's pieces taken together (attention to a word adds up its "
    "pieces; attention from a word averages them)."
)
page.how_computed(
    "conventions",
    intro="- **Attention** A[l,h][i,j]: query i (row) to key j (column) in layer l, head h; rows sum to 1.\n"
          "- **Head average**: mean over a layer's heads.\n"
          "- **Rollout**: Â = 0.5·Ā + 0.5·I per layer, R[l] = Â[l]·R[l−1].\n"
          "- **Flow**: max-flow through the layered graph with capacities Â, row-normalised.\n"
          "- **Norm-based**: A[i,j]·‖f(x_j)‖ with f(x) = (x W_V + b_V) W_O per head.\n"
          "- **Entropy**: −Σ A ln A per row, normalised by ln(keys visible).\n"
          "- **Mean distance**: Σ A_ij |i−j| per row, against the uniform baseline (n²−1)/(3n).\n"
          "- **Word level**: sum over a word's pieces for attention to it, mean for attention from it.\n\n"
          "Every number in the app, with its paper and where our convention differs, is in the method notes "
          "(`docs/methods.md` in the app's repository).",
)
