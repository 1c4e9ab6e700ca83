"""Comparing attention across models, texts and heads at the level of words: `words` (a result
mapped onto the words of its text, and word-level matrices), `align` (do two word sequences line
up?) and `match` (which head of B is most like each head of A). No Streamlit."""
