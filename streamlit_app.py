"""Attention dashboard: the router. Page config, the shared sidebar, URL state, navigation.

Run with `streamlit run streamlit_app.py`. Torch and the model load on a background thread
(ui.cache.warm_up), so this page and its sidebar draw at once; a view drawn before (on-disk
result store) draws without waiting for them.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from ui import state

HERE = Path(__file__).parent
PAGES = HERE / "pages"

state.ensure_router()
# A local file: a ':material/...:' or emoji tab icon is fetched from a font/CDN host.
st.set_page_config(page_title="Attention dashboard", page_icon=str(HERE / "assets" / "icon.png"), layout="wide",
                   initial_sidebar_state="expanded")

state.begin_run()
st.session_state["_selection"] = state.sidebar()

sections = {
    "Start": [
        st.Page(PAGES / "single_head.py", title="Single head", icon=":material/grid_on:", default=True,
                url_path="start"),
        st.Page(PAGES / "model_tokens.py", title="Model and tokens", icon=":material/token:"),
    ],
    "One head or layer": [
        st.Page(PAGES / "layer_average.py", title="Layer average", icon=":material/layers:"),
        st.Page(PAGES / "compare.py", title="Compare", icon=":material/compare:"),
    ],
    "Whole model": [
        st.Page(PAGES / "across_layers.py", title="Across layers", icon=":material/view_comfy:"),
        st.Page(PAGES / "head_atlas.py", title="Head atlas", icon=":material/analytics:"),
        st.Page(PAGES / "rollout_flow.py", title="Rollout and flow", icon=":material/account_tree:"),
    ],
    "Patterns": [
        st.Page(PAGES / "pattern_breakdown.py", title="Pattern breakdown", icon=":material/category:"),
        st.Page(PAGES / "pattern_classes.py", title="Pattern classes", icon=":material/label:"),
    ],
    "Interactive": [
        st.Page(PAGES / "bertviz_views.py", title="BertViz", icon=":material/hub:"),
    ],
    "About": [
        st.Page(PAGES / "about.py", title="Read this first", icon=":material/school:"),
        # /single_head is the file's name, like every other page's address: serve it too.
        st.Page(PAGES / "single_head.py", title="Single head", url_path="single_head", visibility="hidden"),
    ],
}

page = st.navigation(sections)
try:
    page.run()
finally:
    state.show_notes()  # notes about link values the page itself read
    state.sync_url()
    # Load the model now if this run drew from stored results, so what comes next is quick.
    state.warm_up_current()
