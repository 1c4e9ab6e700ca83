"""Glossary: every term of the app in plain words, with one small example each, then the same
words on the sidebar's sentence. Each term has an anchor (/glossary#entropy); every (?) that
uses ui.glossary_links.term_help links here."""

from __future__ import annotations

import streamlit as st

from core.tutorial import glossary, notices, views
from ui import page
from ui.glossary_links import escape

sel = page.header(
    "Glossary",
    "Plain words for the terms this app uses, each with one small example computed by the app's own code. "
    "The formulas are behind “How it is computed” and in the method notes (docs/methods.md).",
)

st.markdown(" · ".join(f"[{escape(t.name)}](#{t.anchor})" for t in glossary.TERMS))

for term in glossary.TERMS:
    st.subheader(term.name, anchor=term.anchor)
    st.markdown(escape(term.plain))
    st.markdown(f"**Example.** {escape(term.example())}")
    if term.how:
        with st.expander("How it is computed", icon=":material/functions:"):
            st.markdown(escape(term.how))
            if term.methods:
                st.caption(f"Method notes: docs/methods.md, section #{term.methods}.")

st.subheader("In your sentence", anchor="your-sentence")
result = page.result_or_stop(sel)
ctx = views.StepContext(result, sel.layer, sel.head)
for notice in notices.model_notices(ctx) + notices.token_notices(ctx):
    st.markdown(f"- {escape(notice.text)}")
page.caveat()
