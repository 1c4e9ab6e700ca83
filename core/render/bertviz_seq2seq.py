"""BertViz's encoder-decoder view (its "Attention:" menu: Encoder, Decoder, Cross) as
self-contained, safe, size-bounded HTML, for MarianMT and T5 (core.generate.seq2seq).

The same localising, escaping, rounding and budget as the one-stack views of core.render.bertviz,
whose building blocks it uses: each of the three matrices is embedded once in thousandths and
scaled back by ENC_DEC_DECODER_JS (core.render.bertviz_page). Nothing here imports Streamlit.
"""

from __future__ import annotations

import hashlib
import html as html_lib
import json
import re
from typing import Any, Sequence

import numpy as np

from core.render.bertviz import (
    _CDN_SCRIPT_RE,
    _FILTER_SELECT_RE,
    _PARAMS_PREFIX,
    _REQUIRE_CONFIG_RE,
    SCALE,
    BertvizOptions,
    EmbeddedView,
    ViewKind,
    _height,
    _milli,
    _opts,
    _split_params,
    estimate_lines,
    fit_subset,
)
from core.render.bertviz_page import ENC_DEC_DECODER_JS, page_document, script_json

_ENC_DEC_NAMES = ("Encoder", "Decoder", "Cross")
_DECODE_EACH = "window.__bertvizDecodeEach("


def build_encoder_decoder_view(kind: ViewKind, encoder_attention: np.ndarray, decoder_attention: np.ndarray,
                               cross_attention: np.ndarray, source_tokens: Sequence[str],
                               target_tokens: Sequence[str], options: BertvizOptions | None = None) -> EmbeddedView:
    """BertViz's encoder-decoder view (its "Attention:" menu: Encoder, Decoder, Cross).

    encoder [L, H, S, S], decoder [L, H, T, T], cross [L, H, T, S] (target rows over source
    keys); S source and T target labels. Same localising, escaping and bounds as `build_view`:
    each of the three matrices is embedded once in thousandths. The budget is checked as if
    the view showed S + T tokens (more than the three matrices hold); past it, layers, then heads,
    then the first tokens of each side (in proportion) are left out, and `notes` say so.
    `token_range` and `tokens` describe the source and target side by side (the source first);
    `sentence_b_start` is where the target starts.
    """
    if kind not in ("head", "model"):
        raise ValueError(f"kind must be 'head' or 'model', not {kind!r}")
    o = options or BertvizOptions()
    enc, dec, cross = (np.asarray(a) for a in (encoder_attention, decoder_attention, cross_attention))
    src, tgt = [str(t) for t in source_tokens], [str(t) for t in target_tokens]
    s, t = len(src), len(tgt)
    if enc.ndim != 4 or enc.shape[2:] != (s, s):
        raise ValueError(f"encoder attention must be [layers, heads, {s}, {s}], got {enc.shape}")
    if dec.ndim != 4 or dec.shape[2:] != (t, t):
        raise ValueError(f"decoder attention must be [layers, heads, {t}, {t}], got {dec.shape}")
    if cross.shape != dec.shape[:2] + (t, s):
        raise ValueError(f"cross-attention must be [layers, heads, {t}, {s}], got {cross.shape}")
    notes: list[str] = []
    n_layers = min(enc.shape[0], dec.shape[0])
    if enc.shape[0] != dec.shape[0]:
        notes.append(f"The encoder has {enc.shape[0]} layers and the decoder {dec.shape[0]}: "
                     f"showing the first {n_layers} of each.")
    n_heads = min(enc.shape[1], dec.shape[1])
    sub = fit_subset(kind, s + t, n_layers, n_heads, _with_window(o, None))
    notes.extend(sub.notes)
    keep = sub.window[1] - sub.window[0]
    s_keep, t_keep = s, t
    if keep < s + t:  # the budget cut tokens: the first of each side, in proportion
        s_keep = max(1, min(s, round(s * keep / (s + t))))
        t_keep = max(1, min(t, keep - s_keep))
        notes.append(f"Showing the first {s_keep} of {s} source tokens and the first {t_keep} of {t} target tokens.")
    ls, hs = list(sub.layers), list(sub.heads)

    def pick(a: np.ndarray, rows: int, cols: int) -> np.ndarray:
        return np.round(a[ls][:, hs][:, :, :rows, :cols].astype(np.float64), 3)

    mats = (pick(enc, s_keep, s_keep), pick(dec, t_keep, t_keep), pick(cross, t_keep, s_keep))
    src, tgt = src[:s_keep], tgt[:t_keep]
    raw = _bertviz_raw_enc_dec(kind, mats, src, tgt, o.display_mode)
    html_doc = _postprocess_enc_dec(kind, raw, mats, src, tgt, ls, hs, o)
    lines = estimate_lines(kind, max(s_keep, t_keep), len(ls), len(hs))
    return EmbeddedView(
        kind=kind, html=html_doc, nbytes=len(html_doc.encode("utf-8")), layers=tuple(ls), heads=tuple(hs),
        token_range=(0, s_keep + t_keep), tokens=tuple(src + tgt), sentence_b_start=s_keep, lines=lines,
        height=_height(kind, max(s_keep, t_keep), len(ls), n_heads, True), notes=tuple(notes),
    )


def _with_window(o: BertvizOptions, window: tuple[int, int] | None) -> BertvizOptions:
    from dataclasses import replace

    return replace(o, window=window)


def _bertviz_raw_enc_dec(kind: ViewKind, mats: tuple[np.ndarray, ...], src: list[str], tgt: list[str],
                         display_mode: str) -> str:
    import torch
    from bertviz import head_view, model_view

    enc, dec, cross = (tuple(torch.from_numpy(np.array(m[i][None], copy=True)) for i in range(m.shape[0]))
                       for m in mats)
    common = dict(encoder_attention=enc, decoder_attention=dec, cross_attention=cross, encoder_tokens=list(src),
                  decoder_tokens=list(tgt), prettify_tokens=False, html_action="return")
    if kind == "model":
        return model_view(display_mode=display_mode, **common).data
    return head_view(**common).data


def _postprocess_enc_dec(kind: ViewKind, raw: str, mats: tuple[np.ndarray, ...], src: list[str], tgt: list[str],
                         layers: list[int], heads: list[int], o: BertvizOptions) -> str:
    m = re.search(r'<script type="text/javascript">\n(.*)\n</script>\s*$', raw, re.DOTALL)
    if not m:  # pragma: no cover - a different bertviz template
        raise RuntimeError("unexpected bertviz HTML layout")
    vis_html = _CDN_SCRIPT_RE.sub("", raw[:m.start()])
    js, n_cfg = _REQUIRE_CONFIG_RE.subn("/* d3 and jquery: defined by the local vendor bundle (no CDN) */",
                                        m.group(1), count=1)
    if n_cfg != 1:  # pragma: no cover
        raise RuntimeError("unexpected bertviz script: no require.config block")
    before, params, after = _split_params(js)
    sides = ((src, src), (tgt, tgt), (tgt, src))  # (rows, columns): cross is target rows over source keys
    params["attention"] = [{"name": name, "attn": _milli(mat), "left_text": left, "right_text": right}
                           for name, mat, (left, right) in zip(_ENC_DEC_NAMES, mats, sides)]
    params["include_layers"] = layers
    if kind == "model":
        params["include_heads"] = heads
    elif params.get("layer") is None:
        params["layer"] = layers[0]
    old_id = str(params["root_div_id"])
    params["root_div_id"] = "bertviz-"
    digest = hashlib.sha1(("encdec" + kind + script_json(params)).encode("utf-8")).hexdigest()[:32]
    params["root_div_id"] = new_id = "bertviz-" + digest
    vis_html = vis_html.replace(f'id="{old_id}"', f'id="{new_id}"')
    payload = {"v": 1, "scale": SCALE, "params": params}
    js = ENC_DEC_DECODER_JS + before + _PARAMS_PREFIX + _DECODE_EACH + script_json(payload) + ")" + after
    options_html = "\n".join(f'<option value="{i}">{html_lib.escape(nm)}</option>'
                             for i, nm in enumerate(_ENC_DEC_NAMES))
    vis_html = _FILTER_SELECT_RE.sub(lambda _m: f'<select id="filter">{options_html}</select>', vis_html, count=1)
    vis_html = vis_html.replace('<select id="layer">', '<select id="layer" aria-label="Layer">', 1)
    vis_html = vis_html.replace('<select id="filter">', '<select id="filter" aria-label="Attention">', 1)
    return page_document(kind, o.display_mode, vis_html, js)


def build_seq2seq_view(result: Any, kind: ViewKind = "head", layers: Sequence[int] | None = None,
                       heads: Sequence[int] | None = None, *, options: BertvizOptions | None = None) -> EmbeddedView:
    """The encoder-decoder view of a core.generate.seq2seq.Seq2SeqResult (its source and target
    labels, its three attentions)."""
    return build_encoder_decoder_view(kind, result.encoder_attention, result.decoder_attention,
                                      result.cross_attention, result.source.labels, result.target.labels,
                                      _opts(options, layers, heads, None))


def decode_enc_dec_payload(html_doc: str) -> dict[str, Any]:
    """The embedded payload of an encoder-decoder view, parsed (for tests and debugging)."""
    key = _PARAMS_PREFIX + _DECODE_EACH
    i = html_doc.index(key) + len(key)
    obj, _ = json.JSONDecoder().raw_decode(html_doc, i)
    return obj
