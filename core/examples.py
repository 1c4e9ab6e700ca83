"""The tutorial's six sentence types: the sidebar's examples and the default text.

They live in core (not in the UI) because scripts/make_seed.py precomputes their attention for
the bundled model (assets/seed, see core/attention/store.py).
"""

from __future__ import annotations

EXAMPLES: dict[str, str] = {
    "Simple sentence": "The cat sat on the mat.",
    "Adjectives": "The big red cat sat on the soft mat.",
    "Relative clause": "The cat that I love sat on the mat.",
    "Subordinate clause": "When the cat sat down, the mat moved.",
    "Coordination": "The cat and the dog played together.",
    "Reported speech": "She said that the cat was sleeping.",
}
DEFAULT_TEXT = EXAMPLES["Simple sentence"]
