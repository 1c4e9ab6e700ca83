"""Models: the registry (`registry`), availability decided up front (`availability`), loading with
eager attention (`loading`), a model's grid from its config file alone (`config`) and readable token
labels (`tokens`). Import the module you need; this package re-exports nothing."""
