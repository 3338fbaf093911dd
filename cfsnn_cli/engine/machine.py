"""What a checkpoint decides, and what the machine that reads it decides.

A checkpoint is a file people download and share. Its recipe says what the model is: its layers,
neurons, T and the preprocessing of its data. It never says where this machine reads data, where
it caches frames, whether it downloads, how many loader processes it starts or which device it
computes on: `eval`, `profile-spikes` and `export` take those from the command line, the
environment or the defaults (`ThisMachine`), and the checkpoint's own values are ignored, said once
where they differ. docs/cli.md lists the fields.
"""

import os
import warnings
from dataclasses import dataclass

from cfsnn_cli.errors import CfsnnNotice
from cfsnn_cli.machine_fields import MACHINE_FIELDS
from cfsnn_cli.recipe import Recipe

DATA_ROOT_VARIABLE = "CFSNN_DATA_ROOT"  # where datasets live on this machine, when no data_root is given
DATA_ROOT = "data_root"  # how errors name this machine's data folder: no recipe field sets it here
# the machine fields a checkpoint may carry from the machine that wrote it and that are worth saying
# are set aside: where files are read, written or downloaded (workers and device just follow this one)
NOTED_FIELDS = ("data.root", "data.cache_dir", "data.download")


@dataclass(frozen=True)
class ThisMachine:
    """This machine's settings for running a checkpoint.

    Attributes:
        data_root: the folder that holds the dataset; "" where none is given.
        workers: DataLoader worker processes.

    The device is always "auto": CUDA when torch sees one (CUDA_VISIBLE_DEVICES chooses), else the CPU.
    """

    data_root: str = ""
    workers: int = 0

    @classmethod
    def from_options(cls, data_root: str | None = None, workers: int = 0) -> "ThisMachine":
        """The settings a command was given; without a data root, $CFSNN_DATA_ROOT's."""
        return cls(data_root if data_root is not None else os.environ.get(DATA_ROOT_VARIABLE, ""), workers)

    def values(self) -> dict[str, object]:
        """Each field of MACHINE_FIELDS as this machine sets it: nothing is downloaded, and frames
        are cached where the data kind caches by default ($XDG_CACHE_HOME/cfsnn/frames)."""
        values = {
            "data.root": self.data_root,
            "data.download": False,
            "data.cache_dir": "",
            "data.workers": self.workers,
            "train.device": "auto",
        }
        assert set(values) == set(MACHINE_FIELDS), "every machine field is set here"
        return values


def _stored(recipe: Recipe, name: str) -> tuple[bool, object]:
    """Whether `recipe` has the field `section.key` (a data kind may lack a machine field: digits
    reads no folder), and its value."""
    section, key = name.split(".")
    part = getattr(recipe, section)
    if key in type(part).model_fields:
        return True, getattr(part, key)
    extra = part.model_extra or {}
    return key in extra, extra.get(key)


def on_this_machine(recipe: Recipe, machine: ThisMachine) -> Recipe:
    """`recipe` with every field of MACHINE_FIELDS it has set as `machine` says. A path or a download
    the recipe stored and this machine does not take is named in one CfsnnNotice."""
    updates: dict[str, dict[str, object]] = {"data": {}, "train": {}}
    set_aside = []
    for name, wanted in machine.values().items():
        present, stored = _stored(recipe, name)
        if not present or stored == wanted:
            continue
        section, key = name.split(".")
        updates[section][key] = wanted
        if name in NOTED_FIELDS and stored:
            set_aside.append(f"{name} = {stored!r}")
    if set_aside:
        warnings.warn(
            f"the checkpoint's {', '.join(set_aside)} set aside: this machine's data folder, cache and downloads "
            "come from `data_root`, $CFSNN_DATA_ROOT and $XDG_CACHE_HOME (docs/cli.md)",
            CfsnnNotice,
            stacklevel=2,
        )
    return recipe.model_copy(
        update={section: getattr(recipe, section).model_copy(update=changed) for section, changed in updates.items()}
    )
