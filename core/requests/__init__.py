"""The catalogue of what the app computes, as typed requests for `AttentionEngine.get`.

Each request is a frozen dataclass: its fields say which value (they make its key), its
`compute(engine)` says how. The engine answers every request the same way: memory, then the
request's disk store when its kind has one, then `compute`. This package sits above analysis,
render, compare, corpus and probing (it calls them); the engine below it knows none of them.

- `analysis`: from one result: head statistics, rollout, flow, pattern classes, template
  scores, categories, the overview table, norm-based attention.
- `charts`: charts built once and shared: overview grids (of a result's statistic, its pattern
  classes, a corpus run's statistic), thumbnails, a fixed head's heatmap, BertViz views.
- `compare`: word maps, word-level heads and panels of two results, head matching, its charts.
- `runs`: corpus runs and probing runs (with their stores on disk), and what is derived from them.

A new kind of value is a new request class in one of these modules (or a new module):

    @dataclass(frozen=True)
    class HeadAblation(Request):
        result: AttentionResult
        layer: int
        head: int
        loading: Loading | None = field(default=None, compare=False)

        def compute(self, engine):
            loaded = engine.loaded(self.result.model_id, self.loading)
            return ablate(loaded, self.result, self.layer, self.head)

and the UI asks for `engine.get(HeadAblation(result, 3, 7))`.
"""
