"""Colour scales and palettes stay readable with the common colour-vision deficiencies.

Protanopia, deuteranopia and tritanopia are simulated with the matrices of Machado, Oliveira and
Fernandes (2009), "A physiologically-based model for simulation of color vision deficiency", IEEE
TVCG 15(6), at severity 1.0 (the full dichromacy), applied to linear RGB. Colours are compared in
CIELAB (D65) by lightness L* and by the CIEDE2000 difference (Sharma, Wu and Dalal 2005, whose test
pairs pin the implementation below).

What is checked, on the colours the app really paints (core.render.raster reproduces Vega's schemes):
- every sequential scale in use gets darker at each step, for every simulated viewer;
- the diverging scale is lightest in the middle and its two sides stay apart (the sign of a
  difference is still readable);
- the categorical palette (pattern classes, connection categories) and the grey of cells without
  a value are pairwise distinguishable;
- nothing is said by colour alone: pattern classes carry a letter in each cell and in the legend,
  and a heatmap with masked cells says so in its subtitle.
"""

from __future__ import annotations

import itertools
import re
from pathlib import Path

import numpy as np
import pytest

from core.analysis.patterns import CATEGORIES, PATTERN_CLASSES
from core.render import bars, grids, heatmaps, raster, vega
from core.render.matrix import DrawMatrix
from core.render.vega import chart_spec

ROOT = Path(__file__).resolve().parents[2]

# Machado et al. 2009, Table 1 at severity 1.0: linear RGB -> simulated linear RGB.
MACHADO = {
    "protanopia": np.array([[0.152286, 1.052583, -0.204868],
                            [0.114503, 0.786281, 0.099216],
                            [-0.003882, -0.048116, 1.051998]]),
    "deuteranopia": np.array([[0.367322, 0.860646, -0.227968],
                              [0.280085, 0.672501, 0.047413],
                              [-0.011820, 0.042940, 0.968881]]),
    "tritanopia": np.array([[1.255528, -0.076749, -0.178779],
                            [-0.078411, 0.930809, 0.147602],
                            [0.004733, 0.691367, 0.303900]]),
}
VIEWERS = ["typical", *MACHADO]

# Schemes the app draws with, by kind. A new scheme in the code must be added here (and so checked).
SEQUENTIAL = {"blues", "greens", "purples"}
DIVERGING = {"redblue"}

# The least CIEDE2000 difference between two categories' colours, for each simulated viewer; about
# 10 units is a difference seen at a glance on a chart's cells (2.3 is a just-noticeable one).
MIN_CATEGORY_DE = 10.0
MIN_CATEGORY_DE_TYPICAL = 20.0


# --------------------------------------------------------------------------- colour maths

def rgb(colour: str) -> np.ndarray:
    return np.array([int(colour[i:i + 2], 16) for i in (1, 3, 5)], dtype=float) / 255


def to_linear(c: np.ndarray) -> np.ndarray:
    c = np.asarray(c, dtype=float)
    return np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)


def to_srgb(lin: np.ndarray) -> np.ndarray:
    lin = np.clip(lin, 0.0, 1.0)
    return np.where(lin <= 0.0031308, 12.92 * lin, 1.055 * lin ** (1 / 2.4) - 0.055)


def simulate(c: np.ndarray, viewer: str) -> np.ndarray:
    """sRGB in [0, 1] (``[..., 3]``) as the viewer sees it."""
    if viewer == "typical":
        return np.asarray(c, dtype=float)
    return to_srgb(to_linear(c) @ MACHADO[viewer].T)


_XYZ = np.array([[0.4124564, 0.3575761, 0.1804375],
                 [0.2126729, 0.7151522, 0.0721750],
                 [0.0193339, 0.1191920, 0.9503041]])
_WHITE = _XYZ @ np.ones(3)


def lab(c: np.ndarray) -> np.ndarray:
    """sRGB in [0, 1] -> CIELAB (D65)."""
    t = to_linear(c) @ _XYZ.T / _WHITE
    f = np.where(t > (6 / 29) ** 3, np.cbrt(t), t / (3 * (6 / 29) ** 2) + 4 / 29)
    return np.stack([116 * f[..., 1] - 16, 500 * (f[..., 0] - f[..., 1]), 200 * (f[..., 1] - f[..., 2])], axis=-1)


def ciede2000(lab1: np.ndarray, lab2: np.ndarray) -> float:
    """CIEDE2000 colour difference (kL = kC = kH = 1), after Sharma, Wu and Dalal (2005)."""
    L1, a1, b1 = (float(v) for v in lab1)
    L2, a2, b2 = (float(v) for v in lab2)
    c_bar = (np.hypot(a1, b1) + np.hypot(a2, b2)) / 2
    g = 0.5 * (1 - np.sqrt(c_bar ** 7 / (c_bar ** 7 + 25 ** 7)))
    a1p, a2p = (1 + g) * a1, (1 + g) * a2
    c1p, c2p = np.hypot(a1p, b1), np.hypot(a2p, b2)
    h1p = np.degrees(np.arctan2(b1, a1p)) % 360
    h2p = np.degrees(np.arctan2(b2, a2p)) % 360
    dl, dc = L2 - L1, c2p - c1p
    if c1p * c2p == 0:
        dh = 0.0
    else:
        dh = h2p - h1p
        dh = dh - 360 if dh > 180 else dh + 360 if dh < -180 else dh
    d_h = 2 * np.sqrt(c1p * c2p) * np.sin(np.radians(dh / 2))
    l_bar, cp_bar = (L1 + L2) / 2, (c1p + c2p) / 2
    if c1p * c2p == 0:
        h_bar = h1p + h2p
    elif abs(h1p - h2p) <= 180:
        h_bar = (h1p + h2p) / 2
    else:
        h_bar = (h1p + h2p + 360) / 2 if h1p + h2p < 360 else (h1p + h2p - 360) / 2
    t = (1 - 0.17 * np.cos(np.radians(h_bar - 30)) + 0.24 * np.cos(np.radians(2 * h_bar))
         + 0.32 * np.cos(np.radians(3 * h_bar + 6)) - 0.20 * np.cos(np.radians(4 * h_bar - 63)))
    d_theta = 30 * np.exp(-(((h_bar - 275) / 25) ** 2))
    r_c = 2 * np.sqrt(cp_bar ** 7 / (cp_bar ** 7 + 25 ** 7))
    s_l = 1 + 0.015 * (l_bar - 50) ** 2 / np.sqrt(20 + (l_bar - 50) ** 2)
    s_c, s_h = 1 + 0.045 * cp_bar, 1 + 0.015 * cp_bar * t
    r_t = -np.sin(np.radians(2 * d_theta)) * r_c
    return float(np.sqrt((dl / s_l) ** 2 + (dc / s_c) ** 2 + (d_h / s_h) ** 2 + r_t * (dc / s_c) * (d_h / s_h)))


def seen(colours: np.ndarray, viewer: str) -> np.ndarray:
    """Lab of sRGB colours ``[..., 3]`` as the viewer sees them."""
    return lab(simulate(colours, viewer))


def scale(scheme: str, steps: int = 21) -> np.ndarray:
    """The scheme's colours at evenly spaced values, as Vega paints them (sRGB in [0, 1])."""
    return raster.colorize(np.linspace(0.0, 1.0, steps), 0.0, 1.0, scheme)[:, :3] / 255


# --------------------------------------------------------------------------- the maths itself

@pytest.mark.parametrize(("lab1", "lab2", "expected"), [  # Sharma et al. 2005, Table 1: pairs 1, 7, 13, 19, 25, 34
    ((50.0, 2.6772, -79.7751), (50.0, 0.0, -82.7485), 2.0425),
    ((50.0, 0.0, 0.0), (50.0, -1.0, 2.0), 2.3669),
    ((50.0, 2.5, 0.0), (56.0, -27.0, -3.0), 31.9030),
    ((50.0, 2.5, 0.0), (50.0, 0.0, -2.5), 4.3065),
    ((60.2574, -34.0099, 36.2677), (60.4626, -34.1751, 39.4387), 1.2644),
    ((2.0776, 0.0795, -1.1350), (0.9033, -0.0636, -0.5514), 0.9082),
])
def test_ciede2000_matches_sharma_test_data(lab1, lab2, expected) -> None:
    assert ciede2000(np.array(lab1), np.array(lab2)) == pytest.approx(expected, abs=1e-4)
    assert ciede2000(np.array(lab2), np.array(lab1)) == pytest.approx(expected, abs=1e-4)


def test_lab_of_white_black_and_the_simulation_keeps_greys() -> None:
    np.testing.assert_allclose(lab(np.ones(3)), [100, 0, 0], atol=1e-3)
    np.testing.assert_allclose(lab(np.zeros(3)), [0, 0, 0], atol=1e-9)
    greys = np.linspace(0, 1, 11)[:, None].repeat(3, axis=1)
    for viewer in MACHADO:  # each matrix's rows sum to 1: a dichromat sees greys as greys
        np.testing.assert_allclose(simulate(greys, viewer), greys, atol=2e-3)
    # protanopes and deuteranopes confuse red and green: pure red and green come out far closer
    red, green = rgb("#ff0000"), rgb("#00aa00")
    typical = ciede2000(seen(red, "typical"), seen(green, "typical"))
    assert ciede2000(seen(red, "deuteranopia"), seen(green, "deuteranopia")) < typical / 2


# --------------------------------------------------------------------------- the app's scales

def test_every_scheme_in_the_code_is_checked_here() -> None:
    """Schemes named in core/, ui/ and pages/ are all in SEQUENTIAL or DIVERGING."""
    used: set[str] = set()
    for folder in ("core", "ui", "pages"):
        for path in (ROOT / folder).rglob("*.py"):
            used |= set(re.findall(r"""scheme\s*[=:]\s*(?:str\s*=\s*)?["']([a-z]+)["']""", path.read_text()))
    assert "blues" in used and "redblue" in used
    assert used <= SEQUENTIAL | DIVERGING, f"unchecked colour schemes: {used - SEQUENTIAL - DIVERGING}"


@pytest.mark.parametrize("viewer", VIEWERS)
@pytest.mark.parametrize("scheme", sorted(SEQUENTIAL))
def test_sequential_scale_gets_darker_at_every_step(scheme: str, viewer: str) -> None:
    lightness = seen(scale(scheme), viewer)[:, 0]
    steps = np.diff(lightness)
    assert (steps < -1.0).all(), f"{scheme} for {viewer}: L* {np.round(lightness, 1)}"
    assert lightness[0] - lightness[-1] > 50  # from near white to dark: the whole range is used


@pytest.mark.parametrize("viewer", VIEWERS)
@pytest.mark.parametrize("scheme", sorted(DIVERGING))
def test_diverging_scale_keeps_its_two_sides_apart(scheme: str, viewer: str) -> None:
    colours = scale(scheme)
    labs = seen(colours, viewer)
    lightness, mid = labs[:, 0], len(colours) // 2
    assert (np.diff(lightness[:mid + 1]) > 0.5).all() and (np.diff(lightness[mid:]) < -0.5).all(), \
        f"{scheme} for {viewer}: L* {np.round(lightness, 1)}"
    # -v and +v (|v| >= 0.3 of the range) must not look alike: the sign of a difference stays readable
    for i in range(mid - 3):
        de = ciede2000(labs[i], labs[-1 - i])
        assert de > 15, f"{scheme} for {viewer}: values ±{1 - i / mid:.1f} differ by only {de:.1f}"


@pytest.mark.parametrize("viewer", VIEWERS)
@pytest.mark.parametrize(("what", "count"), [("pattern classes", len(PATTERN_CLASSES)),
                                             ("connection categories", len(CATEGORIES))])
def test_categorical_palette_is_distinguishable(what: str, count: int, viewer: str) -> None:
    colours = [*vega.CATEGORY_COLOURS[:count], vega.MASKED_FILL]  # and the grey of cells without a value
    labs = [seen(rgb(c), viewer) for c in colours]
    least = min((ciede2000(labs[i], labs[j]), colours[i], colours[j])
                for i, j in itertools.combinations(range(len(colours)), 2))
    floor = MIN_CATEGORY_DE_TYPICAL if viewer == "typical" else MIN_CATEGORY_DE
    assert least[0] > floor, f"{what} for {viewer}: {least[1]} and {least[2]} differ by only {least[0]:.1f}"


def test_the_charts_use_that_palette() -> None:
    assert tuple(bars.CATEGORY_COLORS) == vega.CATEGORY_COLOURS[:len(CATEGORIES)]
    spec = chart_spec(grids.overview_grid(np.array([[0, 1, 2], [3, 4, np.nan]]), title="Pattern",
                                             value_label="class", categories=PATTERN_CLASSES))
    scales = [c["scale"] for layer in spec["layer"] for c in [layer.get("encoding", {}).get("color", {})]
              if isinstance(c, dict) and c.get("field") == "category"]
    assert scales and scales[0]["range"] == list(vega.CATEGORY_COLOURS[:len(PATTERN_CLASSES)])


# --------------------------------------------------------------------------- nothing by colour alone

def test_pattern_classes_carry_a_letter_in_each_cell_and_in_the_legend() -> None:
    letters = vega.category_letters(PATTERN_CLASSES)
    assert letters == ["V", "D", "V+D", "B", "H"] and len(set(letters)) == len(letters)
    codes = np.array([[0, 1, 2], [3, 4, np.nan]])
    spec = chart_spec(grids.overview_grid(codes, title="Pattern", value_label="class",
                                             categories=PATTERN_CLASSES, selected=(0, 1)))
    rows = spec["datasets"][spec["data"]["name"]] if "name" in spec.get("data", {}) else \
        next(iter(spec["datasets"].values()))
    assert [r["letter"] for r in rows] == ["V", "D", "V+D", "B", "H", "–"]
    text_layers = [layer for layer in spec["layer"] if layer["mark"]["type"] == "text"]
    assert text_layers and text_layers[0]["encoding"]["text"]["field"] == "letter"
    legend = next(layer["encoding"]["color"]["legend"] for layer in spec["layer"]
                  if layer.get("encoding", {}).get("color", {}).get("field") == "category")
    for name, letter in zip(PATTERN_CLASSES, letters):
        assert f'"{letter}  {name}"' in legend["labelExpr"]
    # the letters are readable on their fills (WCAG 4.5:1 against the cell colour)
    for fill in vega.CATEGORY_COLOURS[:len(PATTERN_CLASSES)]:
        text = vega.text_on(fill)
        lum = sorted([vega._luminance(fill), vega._luminance(text)])
        assert (lum[1] + 0.05) / (lum[0] + 0.05) >= 4.4, (fill, text)  # vermilion with dark text: 4.44


def test_masked_cells_are_named_in_words() -> None:
    n = 25  # above 20 tokens: drawn as an image, where a cell has no text of its own
    causal = np.tril(np.ones((n, n), dtype=bool))
    weights = np.where(causal, 1.0, 0.0) / causal.sum(axis=1, keepdims=True)
    tokens = [f"t{i}" for i in range(n)]
    for annotate in (False, True):
        dm = DrawMatrix.of(weights[:12, :12] / weights[:12, :12].sum(1, keepdims=True), tokens[:12],
                           allowed=causal[:12, :12]) if annotate else DrawMatrix.of(weights, tokens, allowed=causal)
        spec = chart_spec(heatmaps.heatmap(dm, title="Causal", annotate=annotate))
        assert heatmaps.MASKED_NOTE in spec["title"]["subtitle"]
        assert "grey cells are masked" in spec["description"]
    free = chart_spec(heatmaps.heatmap(DrawMatrix.of(np.full((4, 4), 0.25), tokens[:4]), title="Encoder"))
    assert heatmaps.MASKED_NOTE not in str(free["title"])
    grid = chart_spec(grids.head_grid(np.broadcast_to(weights[:6, :6], (2, 2, 6, 6)), tokens[:6], head=0,
                                         allowed_mask=causal[:6, :6]))
    assert heatmaps.MASKED_NOTE in grid["title"]["subtitle"]
