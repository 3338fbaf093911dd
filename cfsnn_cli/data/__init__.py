"""Datasets by recipe `kind`: each returns a DatasetSplit; batches become [T, B, ...] in collate."""

# Importing a module registers its kinds.
from cfsnn_cli.data import digits, digits_events, events, images, sequential_digits, shd  # noqa: F401 (importing a module registers its datasets)
from cfsnn_cli.data.base import DatasetSplit, TimeFirstCollate
from cfsnn_cli.data.registry import DATASETS

__all__ = ["DATASETS", "DatasetSplit", "TimeFirstCollate"]
