"""core.tutorial.handout and core.tutorial.slides without a model: the handout is one
self-contained HTML page with its title, an inline SVG chart, the questions, space for answers
and the answers last; hostile text stays text. Presenter charts render with no font under
18 px (checked in the SVG Vega itself draws)."""

from __future__ import annotations

import html
import re
from html.parser import HTMLParser

import numpy as np
import pytest

from core.render import export, grids, heatmaps, vega
from core.render.matrix import DrawMatrix
from core.tutorial import figures, handout, notices, questions, slides, steps
from core.tutorial.views import StepContext
from tests.core.test_render_export import make_result

HOSTILE = "</script><script>alert(1)</script> & <b>bold</b>"


@pytest.fixture(scope="module")
def ctx() -> StepContext:
    res = make_result(n=10, layers=3, heads=4)
    return StepContext(res, 1, 2, {"Simple sentence": res})


class _Collect(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.links: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        for name, value in attrs:
            if name in ("src", "href") and value:
                self.links.append(value)


def _section(step: str, ctx: StepContext) -> handout.HandoutSection:
    s = steps.by_id(step)
    fig = figures.figure(step, ctx)
    return handout.HandoutSection(s.title, s.notebook, s.intro, tuple(export.chart_to_svg(c) for c in fig.charts),
                                  questions.question_for(step, ctx), tuple(notices.notices_for(step, ctx)),
                                  fig.caption, tuple(fig.lines))


def _checked(page: str) -> None:
    assert "<script" not in page.lower()
    parser = _Collect()
    parser.feed(page)
    assert parser.tags[0] == "html"
    assert not [u for u in parser.links if u.startswith(("http:", "https:", "//"))]  # nothing from the network
    assert not re.search(r"url\(\s*['\"]?https?:", page)


def test_a_step_worksheet_asks_without_answering(ctx) -> None:
    view = handout.HandoutView(model="tiny/test-model", text=f"The cat {HOSTILE}", layer=1, head=2)
    section = _section("head", ctx)
    page = handout.build(view, [section])
    assert handout.title_of(view) == "tiny/test-model · layer 1, head 2"
    assert handout.title_of(view) in page
    _checked(page)
    assert "&lt;/script&gt;" in page  # the text is shown, not run
    assert "Predict before you look" in page and 'class="line"' in page  # the question, space to answer
    assert "<svg" not in page  # the chart would answer the question right under it
    assert "answer key" in page and "What do you notice?" in page
    assert "Answer:" not in page and html.escape(section.question.why) not in page
    assert not any(html.escape(n.text) in page for n in section.notices)
    assert html.escape(handout.CAVEAT) in page


def test_a_step_answer_key_has_the_answer_the_chart_and_what_to_notice(ctx) -> None:
    view = handout.HandoutView(model="tiny/test-model", text=f"The cat {HOSTILE}", layer=1, head=2)
    section = _section("head", ctx)
    page = handout.build(view, [section], part=handout.ANSWER_KEY)
    _checked(page)
    assert page.count("<svg") == 1 and "Answer key" in page
    assert f"Answer: {html.escape(section.question.answer_label)}." in page
    assert html.escape(section.question.why) in page
    assert all(html.escape(n.text) in page for n in section.notices)
    assert 'class="line"' not in page and "Name:" not in page


def test_the_whole_tutorial_as_a_worksheet_and_an_answer_key(ctx) -> None:
    view = handout.HandoutView(model="m", text="t", layer=1, head=2, text_pair="second")
    sections = [_section(s, ctx) for s in steps.IDS]
    sheet = handout.build(view, sections)
    key = handout.build(view, sections, part=handout.ANSWER_KEY)
    asked = sum(s.question is not None for s in sections)
    assert sheet.count("Predict before you look") == asked == key.count("Answer: ")
    assert "Answer: " not in sheet
    assert "Second text" in sheet and "Attention tutorial" in sheet and "Answer key: Attention tutorial" in key
    charted = sum(len(s.figures) for s in sections if s.question is None)
    assert sheet.count("<svg") == charted and key.count("<svg") == sum(len(s.figures) for s in sections)
    for s in sections:  # a step without a chart never asks about one
        block = sheet[sheet.index(f"<h2>{html.escape(s.title)}</h2>"):]
        block = block[:block.index("</div>", block.index("What do you notice?"))]
        if not s.figures:
            assert "chart" not in block.split("What do you notice?")[1], s.title
    with pytest.raises(ValueError):
        handout.build(view, sections, part="both")


def test_inline_svg_refuses_active_content() -> None:
    assert handout.inline_svg('<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg"></svg>').startswith("<svg")
    for bad in ['<svg><script>x</script></svg>', '<svg onload="x()"></svg>', "<html></html>",
                '<svg><foreignObject></foreignObject></svg>']:
        with pytest.raises(ValueError):
            handout.inline_svg(bad)


# --- presenter charts -------------------------------------------------------------------------------

def _svg_font_sizes(spec: dict) -> list[float]:
    import vl_convert as vlc

    svg = vlc.vegalite_to_svg(spec, allowed_base_urls=[])
    return [float(v) for v in re.findall(r'font-size="([\d.]+)(?:px)?"', svg)]


TOKENS = ["[CLS]", "the", "cat", "sat", "on", "the", "mat", ".", "[SEP]"]


@pytest.mark.parametrize("kind", ["heatmap", "grid", "categories", "overview", "bars"])
def test_presenter_charts_have_no_font_under_18_px(kind, ctx) -> None:
    rng = np.random.default_rng(0)
    att = rng.dirichlet(np.ones(9), size=(3, 4, 9)).astype(np.float32)
    n = len(TOKENS)
    if kind == "heatmap":
        chart = heatmaps.heatmap(DrawMatrix.of(att[0, 0], TOKENS), title="t", cell_size=slides.cell_px(n, annotate=True))
    elif kind == "grid":
        chart = grids.head_grid(att, TOKENS, head=1, cell_size=slides.cell_px(n, 500, annotate=True))
    elif kind == "categories":
        chart = figures.figure("patterns", ctx).charts[0]
    elif kind == "overview":
        chart = figures.figure("patterns", ctx).charts[1]
    else:
        chart = figures.figure("sentences", ctx).charts[0]
    spec = vega.chart_spec(chart)
    assert min(_svg_font_sizes(spec)) < slides.MIN_PX  # the builders' own sizes are for a laptop
    big = slides.enlarge_fonts(spec)
    assert min(slides.font_sizes(big)) >= slides.MIN_PX
    drawn = _svg_font_sizes(big)
    assert drawn and min(drawn) >= slides.MIN_PX, sorted(set(drawn))
    assert big.get("datasets") == spec.get("datasets")  # the data is untouched
    assert spec == vega.chart_spec(chart)  # the original spec is not changed


def test_cells_fill_the_screen_and_fit_their_numbers() -> None:
    assert slides.cell_px(5) == slides.MAX_CELL_PX and slides.cell_px(9) == slides.SCREEN_PLOT_PX // 9
    assert slides.cell_px(30) == slides.SCREEN_PLOT_PX // 30
    assert slides.cell_px(30, annotate=True) >= slides.MIN_ANNOTATED_CELL_PX
    assert slides.cell_px(10_000) == 3
