"""A printable handout of a tutorial step: one self-contained HTML file (no network, no script).

Title (model, text, layer, head), the step's plain sentences, its chart as inline SVG
(core.render.export.chart_to_svg), the predict-then-reveal question with the options to tick,
lines to write on, "what do you notice?" with space, and the answers on a last page of their
own (a teacher can hand out the first pages and keep the last). Print CSS: A4 or Letter,
margins, nothing split across pages that should stay together.
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


def build(view: HandoutView, sections: list[HandoutSection], *, answer_lines: int = 3,
          notice_lines: int = 4, made: date | None = None) -> str:
    """The handout as one HTML document (UTF-8 text). Every text is escaped; SVGs go through
    `inline_svg`."""
    text = view.text if len(view.text) <= MAX_TEXT_CHARS else view.text[:MAX_TEXT_CHARS] + " …"
    title = title_of(view)
    heading = sections[0].title if len(sections) == 1 else "Attention tutorial"
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
        '<p class="name">Name: ______________________________ &nbsp; Date: ______________</p>',
    ]
    answers: list[str] = []
    number = 0
    for section in sections:
        parts.append(f"<h2>{_e(section.title)}</h2>")
        parts.append(f'<p class="meta">Notebook: {_e(section.notebook)}</p>')
        parts.extend(f"<p>{_e(s)}</p>" for s in section.intro)
        if section.question is not None:
            number += 1
            parts.append(_question_block(section.question, number, answer_lines))
            q = section.question
            answers.append(f"<li><strong>Question {number}:</strong> {_e(q.answer_label)}. {_e(q.why)}</li>")
        for i, svg in enumerate(section.figures):
            caption = f"<figcaption>{_e(section.caption)}</figcaption>" if section.caption and not i else ""
            parts.append(f"<figure>{inline_svg(svg)}{caption}</figure>")
        parts.extend(f"<p>{_e(line)}</p>" for line in section.extra)
        parts.append(f'<div class="notice"><h3>What do you notice?</h3><p>Write two things you see in the chart '
                     f"for this sentence.</p>{_lines(notice_lines)}</div>")
        answers.extend(f"<li>{_e(n.text)}</li>" for n in section.notices)
    parts.append(f'<p class="caveat">{_e(CAVEAT)}</p>')
    if answers:
        parts.append('<section class="answers"><h2>Answers (computed from this text)</h2><ul>'
                     + "".join(answers) + "</ul></section>")
    stamp = (made or date.today()).isoformat()
    parts.append(f'<p class="caveat">Made with the attention dashboard on {_e(stamp)}.</p></body></html>')
    return "\n".join(parts)
