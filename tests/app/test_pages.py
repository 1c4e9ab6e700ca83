"""Every page through the same checks with AppTest (no server, no JavaScript).

One parametrised test holds every page to the contract: it renders with no exception element
for the tutorial's six sentences, a sentence pair and hostile input; empty text shows a
message; text past 512 tokens shows a truncation notice. Adding a page = adding its path here.
"""

from __future__ import annotations

import pytest

from tests.app.apptest_util import PAGES, errors_of, exceptions_of, make_app, texts_of
from tests.sentences import TUTORIAL_SENTENCES as SIX

BAD = {
    "emoji": "I love 🐱 and 🇫🇷 flags 👩‍👩‍👧!",
    "rtl": "مرحبا بالعالم — שלום עולם",
    "zero_width": "zero\u200bwidth\u200d joiner\u2060 and\u0007bell",
    "script": "</script><script>alert(1)</script>",
    "long": " ".join(["word"] * 5000),
}


@pytest.mark.parametrize("page", PAGES)
def test_page_renders_six_sentences_and_a_pair(page: str) -> None:
    at = make_app(page)
    for text in SIX:
        at.text_area(key="text").set_value(text).run()
        assert not exceptions_of(at), (page, text, exceptions_of(at))
        assert not errors_of(at), (page, text, errors_of(at))
    at.text_area(key="pair").set_value("It was very happy there.").run()
    assert not exceptions_of(at), (page, exceptions_of(at))
    assert not errors_of(at), (page, errors_of(at))


@pytest.mark.parametrize("page", PAGES)
@pytest.mark.parametrize("case", sorted(BAD))
def test_page_survives_hostile_input(page: str, case: str) -> None:
    at = make_app(page, text=BAD[case])
    assert not exceptions_of(at), (page, case, exceptions_of(at))
    if case == "long" and page != "pages/about.py":
        assert any("truncated" in w.value for w in at.warning), (page, [w.value for w in at.warning])


@pytest.mark.parametrize("page", PAGES)
@pytest.mark.parametrize("text", ["", "   \n\t "])
def test_empty_text_shows_a_message(page: str, text: str) -> None:
    at = make_app(page, text=text)
    assert not exceptions_of(at)
    if page != "pages/about.py":
        assert any("empty" in i.value.lower() for i in at.info), (page, texts_of(at))
