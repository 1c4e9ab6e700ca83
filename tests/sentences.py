"""The tutorial notebook's six sentence types, which every test suite runs through: the app's own
examples (core/examples.py), in their sidebar order."""

from core.examples import EXAMPLES

TUTORIAL_SENTENCES = list(EXAMPLES.values())
