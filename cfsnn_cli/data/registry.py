from cfsnn_cli.registry import Registry

DATASETS: Registry = Registry("dataset")
"""Dataset builder functions by recipe `kind`: (split, **options) → `DatasetSplit`."""

INPUT_SHAPES: Registry = Registry("dataset")
"""By the same `kind`: (**options) → one step's input shape without batch and time, known from the
recipe alone (what `cfsnn recipes check` builds a model for, without reading any data)."""
