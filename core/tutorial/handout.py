"""A printable handout of the tutorial: one self-contained HTML file (no network, no script), in
two parts printed separately.

The worksheet: title (model, text, layer, head), each step's plain sentences, its
predict-then-reveal question with the options to tick and lines to write on, and "what do you
notice?" with space. A step with a question keeps its chart (and any list that gives the answer
away) off the worksheet: a printed chart would answer the question right under it. A step
without a question shows its chart (as inline SVG, core.render.export.chart_to_svg) or, for the
model's facts and its tokens, those lines.

The answer key: every step's question with its answer and why, its charts, and what to notice,
computed from the same text. A teacher hands out the worksheet and keeps the key. Print CSS:
A4 or Letter, margins, nothing split across pages that should stay together.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from datetime import date

from core.tutorial.notices import Notice
from core.tutorial.questions import Question

CAVEAT = ("Attention weights show where a head looks, not why the model decides (Jain & Wallace 2019; "
          "Wiegreffe & Pinter 2019).")
MAX_OPTIONS = 24  # more options than this are listed as "write the token"
MAX_TEXT_CHARS = 600  # a longer text is cut in the title block (the whole text is in the app's link)


@dataclass(frozen=True)
class HandoutView:
    """What the view shows: model, text, layer, head."""

    model: str
    text: str
    layer: int
    head: int
    text_pair: str | None = None


@dataclass(frozen=True)
class HandoutSection:
    """One step on the handout."""

    title: str
    notebook: str  # the notebook section it follows
    intro: tuple[str, ...]
    figures: tuple[str, ...] = ()  # the step's charts as SVG (core.render.export.chart_to_svg)
    question: Question | None = None
    notices: tuple[Notice, ...] = ()
    caption: str = ""  # what the chart shows, one line
    extra: tuple[str, ...] = field(default_factory=tuple)  # more lines under the chart (e.g. a top-5 list)


def title_of(view: HandoutView) -> str:
    """The handout's title line: model, layer and head."""
    return f"{view.model} · layer {view.layer}, head {view.head}"


_XML_DECL = re.compile(r"^\s*<\?xml[^>]*>\s*", re.IGNORECASE)
_UNSAFE = re.compile(r"<\s*(script|foreignObject|iframe|object|embed)\b|\son\w+\s*=|javascript:", re.IGNORECASE)


def inline_svg(svg: str) -> str:
    """An SVG document ready to sit inside HTML: XML declaration dropped; refused (ValueError)
    if it carries anything active (script, event handler, foreign content)."""
    body = _XML_DECL.sub("", svg)
    if not body.lstrip().lower().startswith("<svg"):
        raise ValueError("not an SVG document")
    if _UNSAFE.search(body):
        raise ValueError("the SVG carries active content")
    return body


CSS = """
@page { size: auto; margin: 14mm; }
* { box-sizing: border-box; }
body { font: 12pt/1.45 Georgia, 'Times New Roman', serif; color: #000; background: #fff; margin: 0 auto;
       max-width: 190mm; padding: 8mm 0; }
h1 { font: bold 18pt/1.2 Helvetica, Arial, sans-serif; margin: 0 0 2mm; }
h2 { font: bold 14pt/1.25 Helvetica, Arial, sans-serif; margin: 8mm 0 2mm; border-bottom: 1px solid #000; }
h3 { font: bold 12pt/1.25 Helvetica, Arial, sans-serif; margin: 5mm 0 1mm; }
.meta { font: 11pt/1.4 Helvetica, Arial, sans-serif; margin: 0 0 4mm; }
.meta dt { font-weight: bold; float: left; clear: left; width: 28mm; }
.meta dd { margin: 0 0 0 30mm; }
.name { font: 11pt Helvetica, Arial, sans-serif; margin: 0 0 4mm; }
figure { margin: 3mm 0; break-inside: avoid; page-break-inside: avoid; }
figure svg { max-width: 100%; height: auto; display: block; }
figcaption { font: 10pt Helvetica, Arial, sans-serif; color: #222; }
.question, .notice { break-inside: avoid; page-break-inside: avoid; border: 1px solid #000; padding: 3mm 4mm;
                     margin: 3mm 0; }
.options { columns: 3; column-gap: 6mm; margin: 2mm 0; padding: 0; list-style: none; }
.options li::before { content: "\\2610\\00a0"; }
.line { border-bottom: 1px solid #555; height: 9mm; }
.caveat { font: italic 10pt Helvetica, Arial, sans-serif; margin-top: 6mm; }
.answers { break-before: page; page-break-before: always; }
.answers li { margin-bottom: 2mm; }
@media screen { body { padding: 12mm; } }
"""


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _lines(count: int) -> str:
    return "".join('<div class="line"></div>' for _ in range(count))


def _question_block(question: Question, number: int, lines: int) -> str:
    if len(question.options) <= MAX_OPTIONS:
        options = '<ul class="options">' + "".join(f"<li>{_e(o)}</li>" for o in question.options) + "</ul>"
    else:
        options = f"<p>({len(question.options)} possible answers: write yours below.)</p>"
    return (f'<div class="question"><h3>Question {number}. Predict before you look</h3><p>{_e(question.prompt)}</p>'
            f"{options}<p>My answer and why:</p>{_lines(lines)}</div>")


WORKSHEET, ANSWER_KEY = "worksheet", "answers"
PARTS = (WORKSHEET, ANSWER_KEY)


def _figures(section: HandoutSection) -> list[str]:
    out = []
    for i, svg in enumerate(section.figures):
        caption = f"<figcaption>{_e(section.caption)}</figcaption>" if section.caption and not i else ""
        out.append(f"<figure>{inline_svg(svg)}{caption}</figure>")
    out.extend(f"<p>{_e(line)}</p>" for line in section.extra)
    return out


def _worksheet_section(section: HandoutSection, number: int, answer_lines: int, notice_lines: int) -> list[str]:
    parts: list[str] = []
    if section.question is not None:
        parts.append(_question_block(section.question, number, answer_lines))
        parts.append('<p class="meta">This step\'s chart is on the answer key: answer first, then look.</p>')
        ask = "Once you see the chart: write two things it shows for this sentence."
    else:
        parts.extend(_figures(section))
        ask = ("Write two things you see in the chart for this sentence." if section.figures else
               "Write two things you notice in the lines above for this sentence.")
    parts.append(f'<div class="notice"><h3>What do you notice?</h3><p>{_e(ask)}</p>{_lines(notice_lines)}</div>')
    return parts


def _answer_section(section: HandoutSection, number: int) -> list[str]:
    parts: list[str] = []
    q = section.question
    if q is not None:
        parts.append(f'<div class="question"><h3>Question {number}</h3><p>{_e(q.prompt)}</p>'
                     f"<p><strong>Answer: {_e(q.answer_label)}.</strong> {_e(q.why)}</p></div>")
    parts.extend(_figures(section))
    if section.notices:
        parts.append('<div class="notice"><h3>What to notice (computed from this text)</h3><ul>'
                     + "".join(f"<li>{_e(n.text)}</li>" for n in section.notices) + "</ul></div>")
    return parts


def build(view: HandoutView, sections: list[HandoutSection], *, part: str = WORKSHEET, answer_lines: int = 3,
          notice_lines: int = 4, made: date | None = None) -> str:
    """The worksheet (`part=WORKSHEET`: questions, no answers) or the answer key (`part=ANSWER_KEY`)
    as one HTML document (UTF-8 text). Every text is escaped; SVGs go through `inline_svg`."""
    if part not in PARTS:
        raise ValueError(f"part must be one of {PARTS}, not {part!r}")
    text = view.text if len(view.text) <= MAX_TEXT_CHARS else view.text[:MAX_TEXT_CHARS] + " …"
    title = title_of(view)
    heading = sections[0].title if len(sections) == 1 else "Attention tutorial"
    if part == ANSWER_KEY:
        heading = f"Answer key: {heading}"
    meta = [("Model", view.model), ("Layer, head", f"layer {view.layer}, head {view.head} (counted from 0)"),
            ("Text", f"“{text}”")]
    if view.text_pair:
        meta.append(("Second text", f"“{view.text_pair[:MAX_TEXT_CHARS]}”"))
    parts = [
        "<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{_e(heading)} · {_e(title)}</title>",
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<style>{CSS}</style></head><body>",
        f"<h1>{_e(heading)}</h1>",
        f'<p class="meta"><strong>{_e(title)}</strong></p>',
        '<dl class="meta">' + "".join(f"<dt>{_e(k)}</dt><dd>{_e(v)}</dd>" for k, v in meta) + "</dl>",
    ]
    if part == WORKSHEET:
        parts.append('<p class="name">Name: ______________________________ &nbsp; Date: ______________</p>')
    else:
        parts.append('<p class="meta">For the teacher: the answers are computed from this text, layer and head. '
                     "Hand out the worksheet made from the same view.</p>")
    number = 0
    for section in sections:
        parts.append(f"<h2>{_e(section.title)}</h2>")
        parts.append(f'<p class="meta">Notebook: {_e(section.notebook)}</p>')
        parts.extend(f"<p>{_e(s)}</p>" for s in section.intro)
        number += section.question is not None
        parts.extend(_worksheet_section(section, number, answer_lines, notice_lines) if part == WORKSHEET
                     else _answer_section(section, number))
    parts.append(f'<p class="caveat">{_e(CAVEAT)}</p>')
    stamp = (made or date.today()).isoformat()
    parts.append(f'<p class="caveat">Made with the attention dashboard on {_e(stamp)}.</p></body></html>')
    return "\n".join(parts)
