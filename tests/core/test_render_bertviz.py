"""core.render.bertviz and bertviz_page: local JS only, escaped, rounded, embedded once, size-bounded."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from html.parser import HTMLParser

import numpy as np
import pytest

from core.render import bertviz as be
from core.render import bertviz_page as page
from core.render import bertviz_seq2seq as bs
from core.render.bertviz import BertvizOptions, build_view, decode_payload

HOSTILE = (
    "</script><script>window.__pwned=1</script>",
    "<img src=x onerror=\"window.__pwned=2\">",
    "]]>",
    "line\u2028sep\u2029para",
    "</SCRIPT ><svg onload=window.__pwned=3>",
    "<!--<script>",
    "&lt;/script&gt; &amp;",
    "\\u003c/script\\u003e",
    "\"'`${x}",
    "</scr\u0131pt>",
)
HOSTILE_NAMES = ("</script><b id=pwn>A", "<img src=x onerror=window.__pwned=4>")


def _attention(layers: int, heads: int, n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    a = rng.dirichlet(np.ones(n), size=(layers, heads, n)).astype(np.float32)
    return a


class _Scripts(HTMLParser):
    """Collects script blocks as a browser's tokenizer sees them, and <option> texts."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.scripts: list[str] = []
        self.script_attrs: list[dict] = []
        self.options: list[str] = []
        self.tags: list[str] = []
        self._in: str | None = None

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self._in = tag
        if tag == "script":
            self.script_attrs.append(dict(attrs))
            self.scripts.append("")
        if tag == "option":
            self.options.append("")

    def handle_endtag(self, tag):
        self._in = None

    def handle_data(self, data):
        if self._in == "script":
            self.scripts[-1] += data
        elif self._in == "option":
            self.options[-1] += data


def _parse(html: str) -> _Scripts:
    p = _Scripts()
    p.feed(html)
    p.close()
    return p


@pytest.fixture(scope="module")
def minilm(bundled_model):
    """The real all-MiniLM-L6-v2 (6 x 12), from tests/conftest.py (skips if not installed)."""
    return bundled_model


def _text_of(n_words: int) -> str:
    words = "the quick brown fox jumps over the lazy dog while a bird sings in the old oak tree".split()
    return " ".join(words[i % len(words)] for i in range(n_words))


# ------------------------------------------------------------------------------------- local JS


@pytest.mark.parametrize("kind", ["head", "model"])
def test_no_cdn_or_remote_script_remains(kind):
    view = build_view(kind, _attention(2, 3, 6), [f"t{i}" for i in range(6)], sentence_b_start=3)
    p = _parse(view.html)
    assert all("src" not in attrs for attrs in p.script_attrs), "every script must be inline"
    assert not re.search(r"<script[^>]*\bsrc\s*=", view.html, re.IGNORECASE)
    assert "cdnjs" not in view.html and "require.config" not in view.html
    assert not re.search(r"paths\s*:\s*\{[^}]*https?://", view.html)
    assert "PYTHON_PARAMS" not in view.html
    bertviz_js = p.scripts[-1]
    assert "https://" not in bertviz_js.split("*/", 1)[1]  # only the file header comment mentions a URL
    assert "window.__bertvizVendor" in p.scripts[0] and "define('d3'" in p.scripts[0]


@pytest.mark.parametrize("kind", ["head", "model"])
def test_linked_html_is_the_page_with_its_libraries_linked_from_the_component_folder(kind):
    """The component's frame gets the same page with `<script src="vendor.js">` (served from
    frontend/build, the component's folder) in place of the inlined bundle; nothing else differs."""
    view = build_view(kind, _attention(2, 3, 6), [f"t{i}" for i in range(6)], sentence_b_start=3)
    linked = view.linked_html
    assert (page.FRONTEND_BUILD / page.VENDOR_SRC).is_file()
    assert page.vendor_js() not in linked and "__bertvizVendor" not in linked
    srcs = [a["src"] for a in _parse(linked).script_attrs if "src" in a]
    assert srcs == ["vendor.js"]  # relative: never another host
    head, tail = linked.split('<script src="vendor.js"></script>\n')
    assert view.html == head + "<script>\n" + page.vendor_js() + "\n</script>\n" + tail
    assert decode_payload(linked) == decode_payload(view.html)
    with pytest.raises(ValueError):
        page.link_vendor(linked)  # no inlined block left: refused, never a page without its libraries


def test_vendor_bundle_is_the_pinned_libraries():
    js = page.vendor_js()
    assert "d3 5.7.0" in js and "jquery 3.7.1" in js and "requirejs 2.3.6" in js
    assert "</script" not in js.lower() and "<!--" not in js
    lock = json.loads((page.REPO_ROOT / "frontend" / "package-lock.json").read_text())
    pins = {k.split("node_modules/")[-1]: v["version"] for k, v in lock["packages"].items() if k}
    assert pins["d3"] == "5.7.0" and pins["requirejs"] == "2.3.6" and pins["jquery"] == "3.7.1"
    assert pins["streamlit-component-lib"] == "2.0.0"
    pkg = json.loads((page.REPO_ROOT / "frontend" / "package.json").read_text())
    for deps in (pkg["dependencies"], pkg["devDependencies"]):
        assert all(re.fullmatch(r"\d+\.\d+\.\d+", v) for v in deps.values()), "exact pins only"


# ------------------------------------------------------------------------------------- safety


@pytest.mark.parametrize("kind", ["head", "model"])
@pytest.mark.parametrize("pair", [False, True])
def test_hostile_labels_cannot_end_the_script(kind, pair):
    n = len(HOSTILE)
    opts = BertvizOptions(labels=HOSTILE, sentence_names=HOSTILE_NAMES)
    view = build_view(kind, _attention(2, 2, n), ["x"] * n, sentence_b_start=4 if pair else None, options=opts)
    html = view.html
    p = _parse(html)
    # Exactly our script blocks: vendor, decoder, (model view: fit-to-width,) bertviz.
    # `</script` occurs only as their ends.
    blocks = 4 if kind == "model" else 3
    assert p.tags.count("script") == blocks
    assert len(re.findall(r"</script", html, re.IGNORECASE)) == blocks
    # No markup was smuggled in: the only elements are ours and bertviz's.
    assert set(p.tags) <= {"html", "head", "meta", "title", "style", "body", "script", "div", "span", "select",
                           "option"}
    payload_js = p.scripts[-1]
    for ch in ("<", ">", "\u2028", "\u2029"):
        assert ch not in payload_js.split("window.__bertvizDecode(", 1)[1].split("); // params", 1)[0]
    # The labels survive the escaping unchanged.
    params = decode_payload(html)["params"]
    assert params["attention"][0]["left_text"] == list(HOSTILE)
    if pair:
        a, b = HOSTILE_NAMES
        assert p.options == ["All", f"{a} -> {a}", f"{b} -> {b}", f"{a} -> {b}", f"{b} -> {a}"]
        assert [e["name"] for e in params["attention"]] == p.options
        assert "<b id=pwn>" not in html and "<img src=x onerror=window.__pwned=4>" not in html


def test_hostile_text_through_the_real_tokenizer(minilm):
    from core.attention.extract import extract

    text = "</script><script>window.__pwned=1</script> <img src=x onerror=alert(1)> ]]> a\u2028b"
    result = extract(minilm, text, "second <!-- sentence -->", max_tokens=64)
    for build, blocks in ((be.build_head_view, 3), (be.build_model_view, 4)):
        view = build(result, options=BertvizOptions(max_lines=10**9))
        assert len(re.findall(r"</script", view.html, re.IGNORECASE)) == blocks
        assert _parse(view.html).tags.count("script") == blocks
        assert decode_payload(view.html)["params"]["attention"][0]["left_text"] == list(result.display_tokens)


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_payload_decodes_in_javascript_to_the_same_labels_and_weights():
    n = len(HOSTILE)
    att = _attention(2, 3, n, seed=3)
    view = build_view("model", att, list(HOSTILE), sentence_b_start=4,
                      options=BertvizOptions(sentence_names=HOSTILE_NAMES))
    p = _parse(view.html)
    decoder = p.scripts[1]
    expr = p.scripts[-1].split("const params = ", 1)[1].split("; // params:", 1)[0]
    js = ("var window = {};\n" + decoder + "\nconst params = " + expr + ";\n"
          "process.stdout.write(JSON.stringify({labels: params.attention[0].left_text,"
          " attn: params.attention[0].attn, ab: params.attention[3].attn, names: params.attention.map(e => e.name)}));")
    out = subprocess.run(["node", "-e", js], capture_output=True, text=True, timeout=30, check=True)
    got = json.loads(out.stdout)
    assert got["labels"] == list(HOSTILE)
    np.testing.assert_allclose(np.array(got["attn"]), np.round(att.astype(np.float64), 3), atol=1e-12)
    np.testing.assert_allclose(np.array(got["ab"]), np.round(att.astype(np.float64), 3)[:, :, :4, 4:], atol=1e-12)
    assert got["names"][3] == f"{HOSTILE_NAMES[0]} -> {HOSTILE_NAMES[1]}"
    # the whole bertviz script is valid JavaScript
    subprocess.run(["node", "--check", "-"], input=p.scripts[-1], capture_output=True, text=True, timeout=30,
                   check=True)


# ------------------------------------------------------------------------------------- bounded


def test_weights_rounded_to_three_decimals_and_embedded_once():
    att = _attention(3, 4, 10, seed=1)
    view = build_view("model", att, [f"w{i}" for i in range(10)], sentence_b_start=5)
    payload = decode_payload(view.html)
    assert payload["scale"] == 1000
    entries = payload["params"]["attention"]
    ints = np.array(entries[0]["attn"])
    assert ints.dtype.kind == "i"
    np.testing.assert_array_equal(ints, np.rint(np.round(att.astype(np.float64), 3) * 1000).astype(int))
    assert np.abs(ints / 1000 - att).max() <= 0.0005 + 1e-9
    # once: one weight matrix; the four sentence-pair filters are slices of it, not copies
    assert view.html.count('"attn":') == 1
    assert [e.get("slice") for e in entries[1:]] == [[0, 5, 0, 5], [5, 10, 5, 10], [0, 5, 5, 10], [5, 10, 0, 5]]
    assert view.html.count("__bertvizDecode") == 2  # its definition and the one call
    assert "HACK: {" not in view.html  # bertviz's second copy (inside its comment) is gone
    # deterministic: the same input gives the same page (reruns keep the live view)
    again = build_view("model", att, [f"w{i}" for i in range(10)], sentence_b_start=5)
    assert again.html == view.html and again.view_id == view.view_id


def test_stock_bertviz_embeds_twice_unrounded():
    att = _attention(1, 2, 4)
    raw = be.stock_html("model", att, ["a", "b", "c", "d"])
    assert raw.count('"attn":') == 2 and "cdnjs.cloudflare.com" in raw
    local = be.localize_stock_html(raw)
    assert "cdnjs" not in local and local.count('"attn":') == 2


def test_model_view_at_64_tokens_fits_two_megabytes(minilm):
    from core.attention.extract import extract

    result = extract(minilm, _text_of(200), max_tokens=64)
    assert result.n_tokens == 64 and result.attention.shape[:2] == (6, 12)
    # the byte budget holds the whole view (the default line budget narrows it: see below)
    view = be.build_model_view(result, options=BertvizOptions(max_lines=300_000))
    assert view.notes == () and view.layers == tuple(range(6)) and view.heads == tuple(range(12))
    assert view.nbytes <= 2_000_000, view.nbytes
    assert view.nbytes <= be.estimate_model_view_bytes(64, 6, 12)
    assert view.lines == 6 * 12 * 64 * 64
    stock = be.stock_html("model", result.attention, result.display_tokens)
    assert len(stock.encode()) > 5 * view.nbytes  # stock: about 13 MB


def test_estimate_is_an_upper_bound_even_for_flat_attention():
    for n in (8, 32, 64):
        flat = np.full((6, 12, n, n), 1.0 / n, dtype=np.float32)
        rand = _attention(6, 12, n, seed=n)
        for att in (flat, rand):
            view = build_view("model", att, [f"tok{i}" for i in range(n)],
                              options=BertvizOptions(budget_bytes=10**9, max_lines=10**9))
            assert view.nbytes <= be.estimate_model_view_bytes(n, 6, 12), (n, view.nbytes)


def test_past_the_budget_a_subset_is_built_and_explained():
    n = 128
    att = _attention(6, 12, n, seed=5)
    tokens = [f"t{i}" for i in range(n)]
    view = build_view("model", att, tokens)
    assert view.lines <= be.DEFAULT_MAX_LINES and view.nbytes <= be.DEFAULT_BUDGET_BYTES
    # the model view keeps every layer x head and narrows to the first tokens
    m = be.MODEL_VIEW_MIN_WINDOW
    assert view.layers == tuple(range(6)) and view.heads == tuple(range(12)) and view.token_range == (0, m)
    assert view.notes and f"Showing tokens 0-{m - 1} of {n}" in view.notes[0] and "freeze" in view.notes[0]
    decoded = decode_payload(view.html)["params"]
    assert decoded["include_layers"] == list(view.layers) and decoded["include_heads"] == list(view.heads)
    np.testing.assert_array_equal(np.array(decoded["attention"][0]["attn"]),
                                  np.rint(np.round(att[list(view.layers)][:, :, :m, :m].astype(np.float64), 3) * 1000))

    # a tighter budget then cuts layers, then heads; the head view cuts heads, then tokens
    tight = build_view("model", att, tokens, options=BertvizOptions(max_lines=3 * m * m))
    assert tight.layers == (0,) and len(tight.heads) == 3 and tight.heads[0] == 0 and tight.heads[-1] == 11
    assert tight.token_range == (0, m) and "layers 0 of 6, heads 0, 6, 11 of 12, tokens 0-15 of 128" in tight.notes[0]
    wide = build_view("model", att, tokens, options=BertvizOptions(max_lines=72 * 40 * 40))
    assert wide.layers == tuple(range(6)) and wide.token_range == (0, 40)
    tiny = build_view("head", att, tokens, options=BertvizOptions(max_lines=40 * 40))
    assert len(tiny.heads) == 1 and tiny.token_range == (0, 40) and len(tiny.tokens) == 40
    assert "tokens 0-39 of 128" in tiny.notes[-1]

    # asked explicitly, built as asked, with a note
    full = build_view("model", att[:, :, :40, :40], tokens[:40],
                      options=BertvizOptions(max_lines=1000, auto_fit=False))
    assert full.layers == tuple(range(6)) and "automatic subsetting is off" in full.notes[0]


def test_explicit_subset_and_window_map_to_model_indices(minilm):
    from core.attention.extract import extract

    result = extract(minilm, _text_of(12), "and a second sentence here", max_tokens=64)
    b = int(np.argmax(result.segment_ids == 1))
    view = be.build_model_view(result, layers=[5, 1], heads=[3, 7, 11], window=(2, b + 3))
    assert view.layers == (1, 5) and view.heads == (3, 7, 11) and view.token_range == (2, b + 3)
    assert view.sentence_b_start == b - 2
    params = decode_payload(view.html)["params"]
    attn = np.array(params["attention"][0]["attn"]) / 1000
    expected = np.round(result.attention[[1, 5]][:, [3, 7, 11]][:, :, 2:b + 3, 2:b + 3].astype(np.float64), 3)
    np.testing.assert_allclose(attn, expected, atol=1e-12)
    assert any("layers you chose" in n for n in view.notes) and any("token window" in n for n in view.notes)
    head = be.build_head_view(result, window=(b, result.n_tokens))  # only sentence B: no pair filter
    assert head.sentence_b_start is None and any("only one of the two sentences" in n for n in head.notes)
    with pytest.raises(ValueError):
        be.build_model_view(result, layers=[6])


def test_heights_are_positive_and_grow_with_tokens():
    small = build_view("head", _attention(1, 2, 4), list("abcd"))
    big = build_view("head", _attention(1, 2, 40), [str(i) for i in range(40)])
    assert 0 < small.height < big.height
    m = build_view("model", _attention(6, 12, 20), [str(i) for i in range(20)],
                   options=BertvizOptions(max_lines=10**9))
    assert m.height > 6 * 20 * 7


def test_the_hostile_labels_do_break_stock_bertviz():
    """The same labels end stock BertViz's script block early: the check above is not vacuous."""
    raw = be.stock_html("head", _attention(1, 1, len(HOSTILE)), list(HOSTILE))
    real_blocks = 2  # the CDN require.js tag and the view's script
    assert len(re.findall(r"</script", raw, re.IGNORECASE)) > real_blocks
    assert _parse(raw).tags.count("script") > real_blocks


@pytest.mark.parametrize("kind", ["head", "model"])
def test_the_select_boxes_have_accessible_names(kind):
    """BertViz writes "Layer: <select>" without a <label>; the boxes get aria-labels (axe select-name)."""
    view = build_view(kind, _attention(2, 2, 6), ["x"] * 6, sentence_b_start=3)
    assert '<select id="filter" aria-label="Attention">' in view.html
    if kind == "head":
        assert '<select id="layer" aria-label="Layer">' in view.html
    assert re.findall(r"<select id=\"[a-z]+\"(?! aria-label)", view.html) == []


# ----------------------------------------------------------------- encoder-decoder (source / target)


def _enc_dec(layers: int, heads: int, s: int, t: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    enc = rng.dirichlet(np.ones(s), size=(layers, heads, s)).astype(np.float32)
    dec = np.tril(rng.random((layers, heads, t, t))).astype(np.float32)
    dec /= dec.sum(-1, keepdims=True)
    cross = rng.dirichlet(np.ones(s), size=(layers, heads, t)).astype(np.float32)
    return enc, dec, cross


@pytest.mark.parametrize("kind", ["head", "model"])
def test_encoder_decoder_view_embeds_the_three_attentions_once_and_safely(kind):
    src = list(HOSTILE[:6])
    tgt = list(HOSTILE[4:]) + ["</s>"]
    enc, dec, cross = _enc_dec(2, 2, len(src), len(tgt))
    view = bs.build_encoder_decoder_view(kind, enc, dec, cross, src, tgt)
    html = view.html
    p = _parse(html)
    blocks = 4 if kind == "model" else 3
    assert p.tags.count("script") == blocks and len(re.findall(r"</script", html, re.IGNORECASE)) == blocks
    assert "cdnjs" not in html and not re.search(r"<script[^>]*\bsrc=", html)
    assert p.options == ["Encoder", "Decoder", "Cross"]
    params = bs.decode_enc_dec_payload(html)["params"]
    names = [e["name"] for e in params["attention"]]
    assert names == ["Encoder", "Decoder", "Cross"]
    got = {e["name"]: e for e in params["attention"]}
    for name, mat, left, right in (("Encoder", enc, src, src), ("Decoder", dec, tgt, tgt), ("Cross", cross, tgt, src)):
        assert got[name]["left_text"] == left and got[name]["right_text"] == right
        np.testing.assert_allclose(np.array(got[name]["attn"]) / be.SCALE, mat, atol=5e-4)
    assert html.count(str(got["Cross"]["attn"][0][0][0])[1:-1].replace(" ", "")) == 1  # embedded once
    assert view.sentence_b_start == len(src) and view.tokens == tuple(src + tgt) and not view.notes


def test_encoder_decoder_view_narrows_past_the_budget_and_says_so():
    enc, dec, cross = _enc_dec(6, 8, 40, 50, seed=2)
    view = bs.build_encoder_decoder_view("model", enc, dec, cross, [f"s{i}" for i in range(40)],
                                         [f"t{i}" for i in range(50)])
    assert view.notes and view.nbytes <= be.DEFAULT_BUDGET_BYTES
    assert len(view.layers) < 6 or len(view.heads) < 8 or len(view.tokens) < 90
    chosen = bs.build_encoder_decoder_view("head", enc, dec, cross, [f"s{i}" for i in range(40)],
                                           [f"t{i}" for i in range(50)], BertvizOptions(layers=(5,), heads=(1, 3)))
    assert chosen.layers == (5,) and chosen.heads == (1, 3)
    params = bs.decode_enc_dec_payload(chosen.html)["params"]
    assert params["include_layers"] == [5]
    np.testing.assert_allclose(np.array(params["attention"][2]["attn"]) / be.SCALE, cross[[5]][:, [1, 3]], atol=5e-4)
    with pytest.raises(ValueError):
        bs.build_encoder_decoder_view("head", enc, dec, cross[:, :, :, :3], ["s"] * 40, ["t"] * 50)


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_encoder_decoder_payload_decodes_in_javascript():
    enc, dec, cross = _enc_dec(2, 3, 4, 5, seed=5)
    view = bs.build_encoder_decoder_view("head", enc, dec, cross, list("abcd"), list("vwxyz"))
    script = _parse(view.html).scripts[-1]
    expr = script.split("const params = ", 1)[1].split("; // params:", 1)[0]
    js = ("var window = {};\n" + page.ENC_DEC_DECODER_JS + "\nconst params = " + expr + ";\n"
          "process.stdout.write(JSON.stringify(params.attention.map(e => e.attn)));")
    out = subprocess.run(["node", "-e", js], capture_output=True, text=True, timeout=30, check=True)
    got = json.loads(out.stdout)
    for mat, want in zip(got, (enc, dec, cross)):
        np.testing.assert_allclose(np.array(mat), np.round(want.astype(np.float64), 3), atol=1e-12)
    subprocess.run(["node", "--check", "-"], input=script, capture_output=True, text=True, timeout=30, check=True)


def test_seq2seq_view_of_a_tiny_marian_result():
    from core.generate.seq2seq import run_seq2seq
    from tests.tiny_models import seq2seq_once

    result = run_seq2seq(seq2seq_once()["marian"], "The cat sat on the mat.", "Die Katze sitzt auf der Matte.")
    view = bs.build_seq2seq_view(result, "head", layers=[1])
    params = bs.decode_enc_dec_payload(view.html)["params"]
    assert params["attention"][2]["left_text"] == list(result.target.labels)
    assert params["attention"][2]["right_text"] == list(result.source.labels)
    assert view.layers == (1,)
