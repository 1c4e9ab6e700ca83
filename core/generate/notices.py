"""What to notice about causal masking while generating, computed from one step.

For the tutorial's step on causal masking seen while generating (and the Generate page's
caption). Each notice is one plain sentence and the number it states, computed from the step
the page shows; nothing is a fixed claim that could be false for the current text.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.generate.steps import Generation


@dataclass(frozen=True)
class GenerationNotice:
    key: str
    text: str
    value: float | int | None = None


def causal_notices(gen: Generation, step: int, layer: int, head: int) -> list[GenerationNotice]:
    """Sentences about step `step` of `gen`, for head (`layer`, `head`)."""
    s = gen.steps[int(step)]
    q = s.query_position
    labels = gen.labels
    row = np.asarray(s.attention[int(layer), int(head)], dtype=np.float64)
    out = [
        GenerationNotice(
            "keys_seen",
            f"The newest token '{labels[q]}' (position {q}) attends to {q + 1} tokens: itself and the "
            f"{q} before it. Nothing after it exists yet, so while generating there is nothing to mask.",
            q + 1,
        ),
        GenerationNotice(
            "same_row",
            "Its row is the same as row " + str(q) + " of the heatmap of the whole text: a causal "
            "model never lets a token see later ones, so appending tokens never changes earlier rows. "
            "That is why each step needs only the new token's forward pass (the KV cache).",
            q,
        ),
    ]
    if q > 0:
        first = float(row[0])
        out.append(GenerationNotice(
            "first_token",
            f"Head {layer}-{head} gives {first:.0%} of this token's attention to the first token "
            f"'{labels[0]}' (uniform attention would give {1 / (q + 1):.0%}).",
            first,
        ))
        prev = float(row[q - 1])
        out.append(GenerationNotice(
            "previous_token",
            f"It gives {prev:.0%} to the token just before it, '{labels[q - 1]}'.", prev,
        ))
    out.append(GenerationNotice(
        "choice",
        f"From this position's output the model chose the next token, '{s.chosen_label}' "
        f"({s.chosen_prob:.0%} in the distribution it was drawn from; {gen.settings.describe()}).",
        s.chosen_prob,
    ))
    return out
