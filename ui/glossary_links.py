"""Plain words behind every (?): help texts that end with a link to the glossary page.

`term_help("entropy")` is a widget's `help=` text: the term's plain definition
(core.tutorial.glossary) and a link to its anchor on the glossary page (pages/glossary.py),
which keeps the current view's model and text in its link. `markdown_link` is the same link
for a line of text. `escape` makes text from the user's sentence safe to put in st.markdown.
"""

from __future__ import annotations

import re
import urllib.parse

import streamlit as st

from core.tutorial import glossary
from ui import page_table

PAGE = "glossary"  # the glossary's name in ui/page_table.py
KEEP = ("model", "text", "pair", "layer", "head")  # link parameters the glossary's own examples read
_MARKDOWN = re.compile(r"([\\`*_{}\[\]<>()#+!|$~])")


def escape(text: str) -> str:
    """Text shown literally by st.markdown: Markdown and LaTeX ($) characters backslash-escaped."""
    return _MARKDOWN.sub(r"\\\1", str(text))


def href(term_id: str) -> str:
    """The glossary's address for a term, relative to the app (e.g. "glossary?text=...#entropy")."""
    term = glossary.term(term_id)
    try:
        params = {k: st.query_params[k] for k in KEEP if k in st.query_params}
    except Exception:  # noqa: BLE001 - no script run (a test): no parameters to keep
        params = {}
    query = ("?" + urllib.parse.urlencode(params, quote_via=urllib.parse.quote)) if params else ""
    return f"{page_table.by_name(PAGE).address}{query}#{term.anchor}"


def markdown_link(term_id: str, label: str | None = None) -> str:
    """[label](glossary#anchor) for st.markdown / st.caption."""
    return f"[{escape(label or glossary.term(term_id).name)}]({href(term_id)})"


def term_help(term_id: str, lead: str | None = None) -> str:
    """A widget's help text: `lead` (default: the term's plain definition), then a link to the
    glossary entry. KeyError for a term the glossary does not have."""
    term = glossary.term(term_id)
    return f"{lead or term.plain} {markdown_link(term_id, f'{term.name} in the glossary')}"
