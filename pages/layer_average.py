"""Layer average: the mean over a layer's heads, and the layer-level lenses."""

from __future__ import annotations

from ui import lenses, page

sel = page.header(
    "Layer average",
    "The average of all heads in the selected layer: a summary of where the layer as a whole looks. "
    "Averaging hides specialised heads, so compare with the single-head and atlas pages.",
)
result = page.result_or_stop(sel)
lenses.lens_page(sel, result, per_head=False)
page.caveat()
