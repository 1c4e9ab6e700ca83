"""Probing heads against syntax (Clark et al. 2019, section 4.2): the parser and its words
(`parser`), aligning the parser's words to a model's tokens by character offsets (`align`),
per-head accuracy against the dependency parse beside fixed-offset baselines, streamed over
sentences (`syntax`), and a whole run over a list of texts (`run`). No Streamlit. Formulas:
docs/methods.md#syntax-probing. Import the module you need; this package re-exports nothing."""
