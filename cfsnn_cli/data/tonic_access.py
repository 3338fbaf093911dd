"""tonic's dataset classes, opened without ever reaching the network, in a stable order."""

from pathlib import Path

import torch

from cfsnn_cli.errors import CfsnnError

TEST_FRACTION = 0.1  # of each class, for datasets without an official split


def open_tonic(tonic_name: str, root: str, download: bool, **kwargs):
    """tonic's dataset class, constructed without its download step unless asked for."""
    import tonic

    cls = getattr(tonic.datasets, tonic_name)
    if download:
        return cls(str(Path(root).expanduser()), **kwargs)

    def refuse(self):
        raise CfsnnError("download", f"{tonic_name} would download; set data.download = true to allow it")

    # Same class name, so tonic looks in the same <root>/<ClassName>/ folder.
    offline = type(cls.__name__, (cls,), {"_check_exists": lambda self: True, "download": refuse})
    return offline(str(Path(root).expanduser()), **kwargs)


def sort_by_path(dataset, *parallel: str) -> None:
    """tonic walks folders in file-system order; sort data, targets (and any parallel list)."""
    order = sorted(range(len(dataset.data)), key=lambda i: dataset.data[i])
    for name in ("data", "targets", *parallel):
        values = getattr(dataset, name)
        setattr(dataset, name, [values[i] for i in order])


def split_per_class(labels: list[int], split: str, seed: int) -> list[int]:
    """A fixed 9:1 split of every class: indices of the training or the test part, sorted."""
    generator = torch.Generator().manual_seed(seed)
    chosen = []
    for label in sorted(set(labels)):
        members = [i for i, value in enumerate(labels) if value == label]
        order = torch.randperm(len(members), generator=generator).tolist()
        test_count = max(1, round(len(members) * TEST_FRACTION)) if len(members) > 1 else 0
        part = order[:test_count] if split == "test" else order[test_count:]
        chosen += [members[i] for i in part]
    return sorted(chosen)
