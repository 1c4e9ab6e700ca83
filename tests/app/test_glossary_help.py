"""Every (?) that explains an idea links to the glossary.

The check reads the source of the pages and the UI modules: each `help=` either comes from
ui.glossary_links (term_help / markdown_link: plain words, then a link to the term's entry) or is
one of the operational helps below, which say how a control behaves, not what an idea means.
A new help that explains an idea without the link fails here."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

OPERATIONAL = {  # (file, widget label): why it has no glossary entry
    ("pages/compare.py", "Model B"): "which models are ready",
    ("pages/compare.py", "Text B (empty = A's text)"): "an example to type",
    ("pages/corpus.py", "Open in Single head"): "what the button opens",
    ("pages/corpus.py", "Batch size"): "how the run is batched",
    ("pages/corpus.py", "Cancel"): "what a cancel keeps",
    ("pages/generate.py", "Use this text on every page"): "what the button does",
    ("pages/model_tokens.py", "Device"): "where the model runs",
    ("pages/probing.py", "One sentence per line"): "input limits",
    ("pages/probing.py", "Stop"): "what a stop keeps",
    ("pages/tutorial.py", "Step"): "the step is in the link",
    ("pages/tutorial.py", "Worksheet: this step"): "what the file is",
    ("pages/tutorial.py", "Worksheet: every step"): "what the file is",
    ("pages/tutorial.py", "Answer key: every step"): "what the file is",
    ("ui/bertviz_component.py", "label"): "why a BertViz option is off",
    ("ui/heatmap_panel.py", "Show cell numbers"): "when numbers are drawn",
    ("ui/presenter.py", "Sentence"): "how to apply the text",
    ("ui/presenter.py", "Present this (large type)"): "what presenter mode does",
    ("ui/presenter.py", "Presenter mode"): "what presenter mode does",
    ("ui/sidebar.py", "Model"): "what the ready/downloadable marks mean",
    ("ui/token_controls.py", "Share of each row's mass to keep"): "a pruning setting",
}


def _helps() -> list[tuple[str, str, str, int]]:
    found = []
    files = sorted(ROOT.glob("pages/*.py")) + sorted(ROOT.glob("ui/*.py")) + [ROOT / "streamlit_app.py"]
    for path in files:
        rel = path.relative_to(ROOT).as_posix()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Call):
                continue
            for kw in node.keywords:
                if kw.arg == "help":
                    label = node.args[0] if node.args else None
                    name = label.value if isinstance(label, ast.Constant) else (ast.unparse(label) if label else "?")
                    found.append((rel, str(name), ast.unparse(kw.value), node.lineno))
    return found


def test_every_help_that_explains_an_idea_links_to_the_glossary() -> None:
    helps = _helps()
    assert len(helps) > 30  # the scan sees the app's helps
    linked = [h for h in helps if "term_help(" in h[2] or "markdown_link(" in h[2]]
    assert len(linked) >= 20, len(linked)
    unlinked = {(f, label): line for f, label, value, line in helps if (f, label) not in OPERATIONAL
                and not ("term_help(" in value or "markdown_link(" in value)}
    assert not unlinked, f"help texts without a glossary link (use ui.glossary_links.term_help): {unlinked}"


def test_the_operational_list_has_no_stale_entries() -> None:
    seen = {(f, label) for f, label, _, _ in _helps()}
    assert set(OPERATIONAL) <= seen, set(OPERATIONAL) - seen
