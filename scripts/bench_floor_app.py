"""The floor for scripts/bench_startup.py: the least a Streamlit page with a sidebar and one
heatmap costs to appear in a browser on this machine (no model, no torch)."""

import altair as alt
import numpy as np
import pandas as pd
import streamlit as st

st.set_page_config(page_title="floor", layout="wide")
st.sidebar.text_area("Text", "The cat sat on the mat.")
st.title("One heatmap")
n = 9
rng = np.random.default_rng(0)
frame = pd.DataFrame([(i, j, float(rng.random())) for i in range(n) for j in range(n)], columns=["query", "key", "weight"])
st.altair_chart(alt.Chart(frame).mark_rect().encode(x="key:O", y="query:O", color="weight:Q"))
