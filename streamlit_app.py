"""Attention dashboard: the router. Page config, the shared sidebar, URL state, navigation.

Run with `streamlit run streamlit_app.py`. The pages come from the one table in
ui/page_table.py. Torch and the model load on a background thread (ui.cache.warm_up), so this
page and its sidebar draw at once; a view drawn before (on-disk result store) draws without
waiting for them.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from ui import page_table, presenter, sidebar, state

HERE = Path(__file__).parent

state.ensure_router()
# A local file: a ':material/...:' or emoji tab icon is fetched from a font/CDN host.
st.set_page_config(page_title="Attention dashboard", page_icon=str(HERE / "assets" / "icon.png"), layout="wide",
                   initial_sidebar_state="expanded")

state.begin_run()
st.session_state[state.SELECTION] = sidebar.sidebar()

pages: dict[str, st.Page] = {}  # page_table name -> its page
sections: dict[str, list[st.Page]] = {}
for section, rows in page_table.sections().items():
    for row in rows:
        pages[row.name] = st.Page(row.path, title=row.title, icon=row.icon, url_path=row.address,
                                  default=row.default)
        sections.setdefault(section, []).append(pages[row.name])
# The default page is also served at its file's name (/single_head), like every other page.
sections[page_table.DEFAULT.section].append(
    st.Page(page_table.DEFAULT.path, title=page_table.DEFAULT.title, url_path=page_table.DEFAULT.name,
            visibility="hidden"))

page = st.navigation(sections)
presenter.apply(st.session_state[state.SELECTION])  # presenter mode: its switch, style and bar
target = state.pending_page()  # a click asked for another page (state.select(..., page=...))
if target is not None and pages[target].title != page.title:
    st.switch_page(pages[target], query_params=dict(st.query_params))  # keep the link's view
try:
    page.run()
finally:
    state.show_notes()  # notes about link values the page itself read
    state.sync_url()
    # Load the model now if this run drew from stored results, so what comes next is quick.
    sidebar.warm_up_current()
