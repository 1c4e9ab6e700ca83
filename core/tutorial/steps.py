"""The tutorial's steps, in the order of the notebook the app grew from (its sections 1 to 9).

Each step has a short title, two to four plain sentences that say what the student looks at
(no formulas: those live in the glossary's "how it is computed" and docs/methods.md), the
glossary terms it uses, and doors to the app's pages (page_table names) where the student can
go further. What to notice and the questions are computed per sentence: core.tutorial.notices
and core.tutorial.questions.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Door:
    """A link from a step to a page of the app (ui/page_table.py name, e.g. "rollout_flow")."""

    page: str
    label: str
    optional: bool = False  # a page that may not exist in this build: the door is then left out


@dataclass(frozen=True)
class Step:
    id: str  # the link's value: ?step=head
    title: str
    notebook: str  # the notebook section it follows
    intro: tuple[str, ...]  # two to four plain sentences
    terms: tuple[str, ...] = ()  # core.tutorial.glossary ids
    doors: tuple[Door, ...] = ()


STEPS: tuple[Step, ...] = (
    Step("model", "The model", "1. Model setup", (
        "A transformer reads a sentence in layers. In every layer several attention heads each decide, for every "
        "token, how much to look at every other token.",
        "The model and sentence you chose in the sidebar are the ones used on every step.",
    ), terms=("layer", "head", "attention"), doors=(Door("model_tokens", "All the model's facts"),)),
    Step("tokens", "Tokens", "2. Text processing", (
        "The model never sees words, only tokens: pieces of words from its vocabulary, plus special tokens the "
        "tokenizer adds, such as [CLS] at the start and [SEP] at the end.",
        "Every table of attention has one row and one column per token.",
    ), terms=("token", "special_tokens", "word_merge"), doors=(Door("model_tokens", "The token table"),)),
    Step("head", "One head", "3. Basic visualization: one head", (
        "This is one head's attention as a heatmap. Each row is a token looking (the query); each column is a "
        "token being looked at (the key).",
        "A row's cells add up to 1: darker means a bigger share of that token's attention.",
    ), terms=("query", "key", "attention", "head"), doors=(Door("single_head", "Single head, with lenses and "
                                                                                "token controls"),)),
    Step("layer", "The layer average", "3. Basic visualization: layer averages", (
        "Averaging all the heads of a layer gives one picture of where the layer as a whole looks.",
        "The small panels repeat the notebook's view of the first, middle and last layers. An average is a summary: "
        "a head that does something special can disappear in it.",
    ), terms=("layer", "head_average", "sink"), doors=(Door("layer_average", "Layer average"),)),
    Step("bertviz", "BertViz", "4. Interactive visualization with BertViz", (
        "BertViz draws the same weights as lines: each token on the left is joined to the tokens it looks at on "
        "the right, and a stronger weight is a darker line.",
        "Its model view shows every layer and head at once as small pictures; click one to select it everywhere.",
    ), terms=("attention", "head"), doors=(Door("bertviz_views", "Open BertViz (head view and model view)"),)),
    Step("sentences", "Six kinds of sentence", "5. Analyzing different text types", (
        "The notebook runs the same head over six sentence types: simple, with adjectives, a relative clause, a "
        "subordinate clause, coordination and reported speech.",
        "For each sentence the table lists the head's five strongest connections from one token to another.",
    ), terms=("head", "special_tokens"), doors=(Door("pattern_breakdown", "Pattern breakdown: the six sentences "
                                                                           "side by side"),)),
    Step("across", "One head number in every layer", "5. Comparing layers", (
        "Here is the head with the same number in every layer, on one colour scale.",
        "Head numbers are arbitrary: heads are only numbered by their place in their layer, so ‘head 5’ of layer "
        "0 and ‘head 5’ of layer 1 are unrelated heads. Compare layers by what heads do, not by their numbers.",
    ), terms=("head", "layer", "entropy"), doors=(Door("across_layers", "Across layers: every layer × head"),
                                                   Door("head_atlas", "Head atlas: every head by a statistic"))),
    Step("patterns", "Kinds of pattern", "6. Attention pattern analysis", (
        "The notebook sorts strong connections into four bins: positional (neighbours), special tokens, "
        "syntactic (from ‘the’, ‘a’ or ‘an’) and semantic (everything else).",
        "These bins are a rough rule: ‘semantic’ is only what is left over. A second view labels whole heads "
        "by their shape (Kovaleva et al. 2019).",
    ), terms=("pattern_categories", "pattern_classes", "template_score"),
        doors=(Door("pattern_breakdown", "Pattern breakdown"), Door("pattern_classes", "Pattern classes"))),
    Step("yours", "Try your own sentence", "8. Explore your own examples", (
        "Type any sentence below (or in the sidebar): every step of the tutorial now uses it.",
        "Predict first, then look: a guess you can check teaches more than a chart you only read.",
    ), terms=("token", "head"), doors=(Door("single_head", "Single head"),)),
    Step("matters", "Does it matter?", "9. Possible extensions: attention and the output", (
        "Attention shows where a head looks, not what the model's output depends on. Here the model's own output "
        "is the judge: blank out one word at a time and measure how much the output moves.",
        "Rollout gives the word the output's attention reaches most; blank-out gives the word the output "
        "needs most. Guess whether they are the same word.",
    ), terms=("attention", "rollout"), doors=(
        Door("attribution", "Attribution: every method side by side"),
        Door("interventions", "Interventions: switch heads off, mask words"),
        Door("head_importance", "Head importance: which heads matter"),
        Door("model_output", "The model's output"),
    )),
    Step("generating", "Causal masking while generating", "9. Possible extensions: generation", (
        "A causal model such as GPT-2 writes text one token at a time, and each token may look only at the tokens "
        "before it: the upper triangle of its heatmap is masked.",
        "With a causal model the app takes one step from your sentence: the chart is the newest token's attention "
        "over everything so far, for the sidebar's head. With an encoder, which cannot generate, the chart is the "
        "mask a causal model would put on your sentence.",
    ), terms=("causal", "attention"), doors=(
        Door("generate", "Generate: continue the text one token at a time", optional=True),
    )),
    Step("extensions", "Going further", "9. Possible extensions", (
        "Raw attention in a high layer mixes tokens that earlier layers already mixed. Rollout and flow follow it "
        "back through the layers to the input words.",
        "The app also compares two models on the same sentence, tests heads against a parser (probing), and runs "
        "statistics over many sentences.",
    ), terms=("rollout", "flow", "norm_based", "probing"), doors=(
        Door("rollout_flow", "Rollout and flow"),
        Door("compare", "Compare models and heads"),
        Door("probing", "Syntax probing"),
        Door("corpus", "A corpus of sentences", optional=True),
        Door("head_atlas", "Head atlas"),
    )),
)

IDS: tuple[str, ...] = tuple(step.id for step in STEPS)


def by_id(step_id: str) -> Step:
    for step in STEPS:
        if step.id == step_id:
            return step
    raise KeyError(step_id)


def number(step_id: str) -> int:
    """1-based position of the step."""
    return IDS.index(step_id) + 1


def neighbours(step_id: str) -> tuple[str | None, str | None]:
    """(previous step id, next step id); None at either end."""
    i = IDS.index(step_id)
    return (IDS[i - 1] if i > 0 else None, IDS[i + 1] if i + 1 < len(IDS) else None)
