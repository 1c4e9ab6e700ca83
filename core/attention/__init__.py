"""Attention: the frozen result (`result`), one verified forward pass (`extract`), the shared engine
with its bounded caches (`engine`) and the on-disk result store (`store`). Import the module you
need; this package re-exports nothing."""
