"""The registered metrics: one module per metric, each defining ``METRIC`` (a saekit.eval.registry.Metric).

saekit.eval.registry imports every module here on first use; a new metric is a new module."""
