"""An English-only model says where it cannot read the text: [UNK] pieces and lone letters of another
script are counted, and the page names the multilingual models that would read it."""

from __future__ import annotations

import pytest

from core.attention.extract import extract
from tests.app.apptest_util import make_app
from ui import reading


@pytest.mark.parametrize(("text", "unreadable"), [
    ("我们今天在公园里散步，然后吃了晚饭。", True),  # Chinese: mostly [UNK]
    ("ذهب الولد إلى المدرسة صباحا", True),  # Arabic: letter by letter
    ("I love pizza 🍕🍕🍕", True),  # emoji: [UNK]
    ("The young lawyer questioned the nervous witness.", False),
])
def test_unread_pieces(bundled_model, text, unreadable):
    found = reading.unread_pieces(extract(bundled_model, text))
    assert found.pieces > 0
    assert (found.share >= reading.NOTICE_SHARE) == unreadable, found


def test_multilingual_models_are_named_for_an_english_model():
    assert "Multilingual BERT (cased)" in reading.readers("all-MiniLM-L6-v2")
    assert reading.readers("bert-base-multilingual-cased") == []


def test_the_page_says_so_where_it_happens():
    at = make_app("pages/single_head.py", text="我们今天在公园里散步，然后吃了晚饭。")
    warnings = [w.value for w in at.warning]
    assert any("reads English only" in w and "[UNK]" in w and "Multilingual BERT" in w for w in warnings), warnings
    at = make_app("pages/single_head.py", text="The cat sat on the mat.")
    assert not any("reads English only" in w.value for w in at.warning)

