"""What the "Does it matter?" pages share: the model's output facts (or a sentence, then stop),
the output the pages explain (the masked word, the next-token position or the text to compare
with: controls kept in the link, so every page reads the same output), the heads and words an
intervention changes."""

from __future__ import annotations

import dataclasses
from typing import Any

import streamlit as st

from core.explain.outputs import Target
from core.requests import explain
from ui import page, state
from ui.glossary_links import term_help


MAX_COMPARE_CHARS = 2_000


def facts_or_stop(sel: state.Selection) -> explain.OutputFacts:
    """What the model outputs; a model with no output head says so and the page stops."""
    facts = page.value_or_stop(explain.Facts(sel.model_id), "model's output")
    if facts.no_head_message:
        st.info(facts.no_head_message, icon=":material/block:")
        page.caveat()
        page.stop()
    return facts


def prediction(sel: state.Selection, facts: explain.OutputFacts) -> explain.Prediction:
    """The output every page of this part explains, with its picker drawn: a word to mask
    (masked LM), a position to predict after (causal LM) or a text to compare with (embedding)."""
    base = explain.Prediction(sel.model_id, sel.text, sel.text_pair, Target())
    problem = page.value_or_stop(base).problem
    s = problem.sentence
    if s.dropped_tokens:
        kept = s.content_words()
        after = f" after “{s.words[int(kept[-1])]}”" if len(kept) else ""
        st.info(f"These pages read the first {s.n_tokens} tokens of the text: it is cut{after}, "
                f"{s.dropped_tokens} tokens before its end, because each answer here takes many forward and "
                "backward passes. The attention pages read up to the model's own limit.",
                icon=":material/content_cut:")
    if facts.kind == "masked":
        options = [int(w) for w in s.content_words()]
        state.control("mask", problem.target_word, state.parse_choice(options), label="masked word")
        word = st.pills("Word to mask: click one", options, key="mask", format_func=lambda w: s.words[w],
                        help=term_help("model_output", "The model sees [MASK] in its place and ranks every word "
                                                          "of its vocabulary as the fill."))
        state.show_notes()
        word = problem.target_word if word is None else int(word)
        return base if word == problem.target_word else dataclasses.replace(base, target=Target(word=word))
    if facts.kind == "causal":
        options = list(range(s.n_tokens))
        state.control("pos", problem.focus, state.parse_choice(options), label="position")
        pos = st.pills("Predict the token after: click one", options, key="pos",
                       format_func=lambda i: f"{i} · {s.display_tokens[i]}",
                       help=term_help("model_output", "The model reads the tokens up to this one and ranks every "
                                                         "token as the next."))
        state.show_notes()
        pos = problem.focus if pos is None else int(pos)
        return base if pos == problem.focus else dataclasses.replace(base, target=Target(position=pos))
    state.control("compare", "", lambda raw: str(raw)[:MAX_COMPARE_CHARS], label="second text")
    other = st.text_input("Compare with a second text (optional; press Enter)", key="compare",
                          placeholder="e.g. A dog slept on the rug.",
                          help=term_help("model_output", "With a second text the output is the cosine similarity of "
                                                        "the two embeddings; without one, how far the embedding "
                                                        "moves from where it was."))
    state.show_notes()
    other = other.strip()
    return base if not other else dataclasses.replace(base, target=Target(compare_to=other))


def heads_to_switch_off(sel: state.Selection) -> list[str]:
    """The heads picked to switch off, as "layer.head" (the link's `off`; "all" = every head)."""
    options = [f"{layer}.{head}" for layer in range(sel.num_layers) for head in range(sel.num_heads)]
    state.control("off", [], state.parse_list(options, everything="all"), state.list_text, label="heads to switch off")
    return st.multiselect("Heads to switch off (layer.head)", options, key="off", placeholder="None",
                          help=term_help("ablation", "Each head's output is replaced before the layer mixes its "
                                                    "heads: by zeros, or by the head's average output over the "
                                                    "tutorial's sentences."))


def ablation_kind() -> str:
    kinds = {"zero": "Zero", "mean": "Mean over the tutorial's sentences"}
    state.control("ablation", "zero", state.parse_choice(list(kinds)), label="ablation")
    return st.radio("Switch off by setting the head's output to", list(kinds), key="ablation", format_func=kinds.get,
                    horizontal=True)


def words_to_change(problem: Any, key: str, label: str, help_text: str) -> list[int]:
    """Word indices (content words) picked under `key` (the link keeps them)."""
    s = problem.sentence
    options = [int(w) for w in s.content_words() if not (problem.kind == "masked" and w == problem.target_word)]
    state.control(key, [], state.parse_list(options), state.list_text, label=label)
    return [int(w) for w in st.multiselect(label, options, key=key, format_func=lambda w: s.words[w],
                                           placeholder="None", help=term_help("attribution", help_text))]


def heads_of(picked: list[str]) -> tuple[tuple[int, int], ...]:
    return tuple((int(layer), int(head)) for layer, head in (p.split(".") for p in picked))


def output_label(problem: Any) -> str:
    """The output in a few words, for titles."""
    s = problem.sentence
    if problem.kind == "masked":
        return f"the masked word ‘{s.words[problem.target_word]}’"
    if problem.kind == "causal":
        return f"the token after ‘{s.display_tokens[problem.focus]}’"
    return "the cosine to the second text" if problem.pair_embedding is not None else "the sentence embedding"
