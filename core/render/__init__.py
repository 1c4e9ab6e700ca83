"""Drawing attention: the matrix ready to draw and its long table (`matrix`), Altair plumbing
(`vega`), heatmaps and grids (`heatmaps`), bar charts (`bars`), downloads (`export`) and the
embedded BertViz views (`bertviz`). No Streamlit. Import the module you need; this package
re-exports nothing."""
