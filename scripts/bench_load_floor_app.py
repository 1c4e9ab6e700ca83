"""The floor for scripts/bench_load.py --app floor: the least a Streamlit page costs to answer the
load client's actions (a sidebar with Text, Layer and Head, one Altair heatmap of the text's words),
with no model, no torch and no analysis. What this page cannot serve on a machine, no attention
dashboard on Streamlit can."""

import zlib

import altair as alt
import numpy as np
import pandas as pd
import streamlit as st

st.set_page_config(page_title="load floor", layout="wide")
# The load client opens the page with ?text=&layer=&head=, as it opens the app's Single head.
for key, default in (("text", "The cat sat on the mat."), ("layer", "0"), ("head", "0")):
    if key not in st.session_state:
        value = st.query_params.get(key, default)
        st.session_state[key] = value if key == "text" else int(value)
text = st.sidebar.text_area("Text", key="text")
layer = st.sidebar.selectbox("Layer", list(range(6)), key="layer")
head = st.sidebar.selectbox("Head", list(range(12)), key="head")
st.title("One heatmap")
words = text.split()[:64] or ["(empty)"]
# Distinct, deterministic numbers per (text, layer, head), so each answer is checkable.
rng = np.random.default_rng(zlib.crc32(f"{text}|{layer}|{head}".encode()))
weights = rng.random((len(words), len(words)))
weights /= weights.sum(axis=1, keepdims=True)
labels = [f"{i}:{w}" for i, w in enumerate(words)]
frame = pd.DataFrame({"query": np.repeat(labels, len(labels)), "key": np.tile(labels, len(labels)),
                      "weight": weights.ravel()})
chart = alt.Chart(frame, description=f"Heatmap: attention of layer {layer}, head {head}.").mark_rect().encode(
    x=alt.X("key:O", sort=labels), y=alt.Y("query:O", sort=labels), color="weight:Q")
st.altair_chart(chart)
