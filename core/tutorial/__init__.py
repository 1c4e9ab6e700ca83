"""The guided tutorial (pages/tutorial.py) without Streamlit: its steps in the notebook's order
(`steps`), the arrays each step shows (`views`), what to notice in them (`notices`), the
predict-then-reveal questions (`questions`), plain-language definitions (`glossary`), the
printable handout (`handout`) and presenter-sized charts (`slides`). Every number a step states
is computed from the same arrays the step draws. Import the module you need; this package
re-exports nothing."""
