"""Layer average: the mean over a layer's heads, and the layer-level lenses."""

from __future__ import annotations

from ui import lenses, page

lens = lenses.chosen_lens("llens", per_head=False)
sel = page.header(
    "Layer average",
    "The selected layer as a whole: every head of it together, so specialised heads are averaged away "
    "(compare with the single-head and atlas pages). "
    f"Under the {lenses.LENSES[lens]} lens {lenses.ROW_SUMS[lens]}.",
)
result = page.result_or_stop(sel)
lenses.lens_page(sel, result, per_head=False)
page.caveat()
