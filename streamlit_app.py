"""Attention dashboard: the router. Page config, the shared sidebar, URL state, navigation.

Run with `streamlit run streamlit_app.py`. The pages come from the one table in
ui/page_table.py. Torch and the model load on a background job (ui.cache.warm_up), so this
page and its sidebar draw at once; a view drawn before (on-disk result store) draws without
waiting for them.
"""

from __future__ import annotations

import streamlit as st

from ui import page_table, presenter, sidebar, state

state.ensure_router()
# A local image: a ':material/...:' or emoji tab icon is fetched from a font/CDN host.
# The "About" item makes Streamlit show its menu (top right) in "minimal" toolbar mode, and that
# menu carries Streamlit's own theme switch: System / Light / Dark (.streamlit/config.toml).
st.set_page_config(page_title="Attention dashboard", page_icon=sidebar.tab_icon(), layout="wide",
                   initial_sidebar_state="expanded", menu_items={"About": sidebar.ABOUT})

state.begin_run()


def make_pages() -> tuple[dict[str, st.Page], st.Page]:
    """The table's pages (page_table name -> page), and the default page again at its file name
    (/single_head), like every other page. Made once per session: st.Page resolves its file."""
    made = {row.name: st.Page(row.path, title=row.title, icon=row.icon, url_path=row.address, default=row.default)
            for row in page_table.PAGES}
    return made, st.Page(page_table.DEFAULT.path, title=page_table.DEFAULT.title, icon=page_table.DEFAULT.icon,
                         url_path=page_table.DEFAULT.name, visibility="hidden")


pages, at_file_name = state.session_memo("_pages", make_pages)
sections: dict[str, list[st.Page]] = {section: [pages[row.name] for row in rows]
                                      for section, rows in page_table.sections().items()}
links = {section: list(listed) for section, listed in sections.items()}  # what the sidebar lists
sections[page_table.DEFAULT.section] = [*sections[page_table.DEFAULT.section], at_file_name]

# Streamlit's own menu would sit above everything else in the sidebar (eleven links and more
# push Text, Layer and Head below the fold at 1400x900): it is hidden, and the sidebar lists the
# same pages as links below the controls. Every page keeps its address.
page = st.navigation(sections, position="hidden")
selection = state.publish(sidebar.sidebar())
if page.url_path != "":
    # Streamlit writes the default page's link as href="" (this page's own address, to a new tab or
    # a copied link): away from "/", the list links the same page at its file name instead.
    links = {section: [at_file_name if p is pages[page_table.DEFAULT.name] else p for p in listed]
             for section, listed in links.items()}
sidebar.page_links(links, state.link_params())
presenter.apply(selection)  # presenter mode: its switch, style and bar
target = state.pending_page()  # a click asked for another page (state.select(..., page=...))
if target is not None and pages[target].title != page.title:
    st.switch_page(pages[target], query_params=dict(st.query_params))  # keep the link's view
try:
    page.run()
finally:
    state.show_notes()  # notes about link values the page itself read
    state.sync_url()
    # Load the model soon if this run drew from stored results, so what comes next is quick (it
    # waits cache.AFTER_DRAW_DELAY_S first: the browser is still fetching and drawing this page).
    sidebar.warm_up_current()
