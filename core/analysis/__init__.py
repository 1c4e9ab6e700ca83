"""Analysis of attention weights, numpy in and numpy / pandas out: the lenses (`lenses`), per-head
statistics (`statistics`), pattern classes and the tutorial's categories (`patterns`), token sets
and token controls (`tokens`), norm-based attention (`norms`). Formulas: docs/methods.md. Import
the module you need; this package re-exports nothing."""
