"""The tutorial notebook's six sentence types, which every test suite runs through."""

TUTORIAL_SENTENCES = [
    "The cat sat on the mat.",
    "The big red cat sat on the soft mat.",
    "The cat that I love sat on the mat.",
    "When the cat sat down, the mat moved.",
    "The cat and the dog played together.",
    "She said that the cat was sleeping.",
]
