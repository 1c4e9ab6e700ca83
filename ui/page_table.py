"""The one table of pages: the router builds the navigation from it, and every test suite
(core, AppTest, browser) reads it. Adding a page means adding one row here.

Plain data, no Streamlit import: tests and scripts read it without a server.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class PageRow:
    """One page. `file` is relative to the repository root; `address` is the URL path
    (the default page is also served at "/" and at its file name)."""

    title: str
    file: str
    icon: str  # a ":material/...:" icon (drawn from Streamlit's bundled font, no network)
    section: str
    address: str
    charts: bool = True  # draws at least one Vega-Lite chart on a first visit with the default text
    default: bool = False

    @property
    def path(self) -> Path:
        return ROOT / self.file

    @property
    def name(self) -> str:
        """The file's stem, e.g. "single_head"."""
        return self.file.rsplit("/", 1)[-1].removesuffix(".py")


PAGES: tuple[PageRow, ...] = (
    PageRow("Tutorial", "pages/tutorial.py", ":material/route:", "Start", "tutorial", charts=False),
    PageRow("Single head", "pages/single_head.py", ":material/grid_on:", "Start", "start", default=True),
    PageRow("Model and tokens", "pages/model_tokens.py", ":material/token:", "Start", "model_tokens", charts=False),
    PageRow("Layer average", "pages/layer_average.py", ":material/layers:", "One head or layer", "layer_average"),
    PageRow("Compare", "pages/compare.py", ":material/compare:", "One head or layer", "compare"),
    PageRow("Across layers", "pages/across_layers.py", ":material/view_comfy:", "Whole model", "across_layers"),
    PageRow("Head atlas", "pages/head_atlas.py", ":material/analytics:", "Whole model", "head_atlas"),
    PageRow("Rollout and flow", "pages/rollout_flow.py", ":material/account_tree:", "Whole model", "rollout_flow"),
    PageRow("Pattern breakdown", "pages/pattern_breakdown.py", ":material/category:", "Patterns",
            "pattern_breakdown"),
    PageRow("Pattern classes", "pages/pattern_classes.py", ":material/label:", "Patterns", "pattern_classes"),
    PageRow("Corpus atlas", "pages/corpus.py", ":material/dataset:", "Corpus", "corpus"),
    PageRow("Syntax probing", "pages/probing.py", ":material/device_hub:", "Corpus", "probing"),
    PageRow("Model output", "pages/model_output.py", ":material/output:", "Does it matter?", "model_output"),
    PageRow("Interventions", "pages/interventions.py", ":material/tune:", "Does it matter?", "interventions"),
    PageRow("Head importance", "pages/head_importance.py", ":material/leaderboard:", "Does it matter?",
            "head_importance"),
    PageRow("Attribution", "pages/attribution.py", ":material/insights:", "Does it matter?", "attribution"),
    PageRow("Generate", "pages/generate.py", ":material/auto_awesome:", "Generation", "generate", charts=False),
    PageRow("Translation", "pages/translation.py", ":material/translate:", "Generation", "translation",
            charts=False),
    PageRow("BertViz", "pages/bertviz_views.py", ":material/hub:", "Interactive", "bertviz_views", charts=False),
    PageRow("Read this first", "pages/about.py", ":material/school:", "About", "about", charts=False),
    PageRow("Glossary", "pages/glossary.py", ":material/menu_book:", "About", "glossary", charts=False),
)

DEFAULT: PageRow = next(p for p in PAGES if p.default)


_BY_NAME: dict[str, PageRow] = {row.name: row for row in PAGES}


def by_name(name: str) -> PageRow:
    """The row whose file stem is `name` (e.g. "head_atlas"). KeyError for no such page."""
    return _BY_NAME[name]


def sections() -> dict[str, list[PageRow]]:
    """Rows grouped by section, in table order."""
    out: dict[str, list[PageRow]] = {}
    for row in PAGES:
        out.setdefault(row.section, []).append(row)
    return out
