from cfsnn_cli.registry import Registry

DATASETS: Registry = Registry("dataset")
"""Dataset builder functions by recipe `kind`: (split, **options) → `DatasetSplit`."""
