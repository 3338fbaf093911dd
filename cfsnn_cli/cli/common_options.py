"""Options several commands share, defined once so their names, help and checks agree."""

from pathlib import Path
from typing import Annotated

import typer

from cfsnn_cli.limits import MAX_TIMESTEPS

CheckpointOption = Annotated[
    Path,
    typer.Option(
        "--ckpt",
        help="A model.safetensors / best.safetensors, or a run folder (its model.safetensors).",
        show_default=False,
    ),
]
DataRootOption = Annotated[
    str | None,
    typer.Option(
        "--data-root",
        help="The folder that holds the dataset (default: $CFSNN_DATA_ROOT). A checkpoint's own data.root, "
        "cache_dir and download are never used.",
        show_default=False,
    ),
]
WorkersOption = Annotated[int, typer.Option("--workers", help="DataLoader worker processes (>= 0).")]
SplitOption = Annotated[str, typer.Option("--split", help="test or train (without augmentation).")]
BatchSizeOption = Annotated[
    int | None,
    typer.Option(
        "--batch-size", help="Samples per batch (>= 1; default: the recipe's data.eval_batch_size).", show_default=False
    ),
]
TimestepsOption = Annotated[
    int | None,
    typer.Option(
        "--timesteps",
        help=f"Run at another number of time steps T (1..{MAX_TIMESTEPS}; event data is re-binned).",
        show_default=False,
    ),
]
JsonOption = Annotated[
    Path | None, typer.Option("--json", help="Also write every number to this JSON file.", show_default=False)
]
SPLITS = ("test", "train")


def check_split_and_batch_size(split: str, batch_size: int | None, workers: int = 0) -> None:
    """One-line refusals (Typer's own come with a usage box)."""
    from cfsnn_cli.errors import CfsnnError

    if split not in SPLITS:
        raise CfsnnError("--split", f"must be one of {', '.join(SPLITS)} (got {split!r})")
    if batch_size is not None and batch_size < 1:
        raise CfsnnError("--batch-size", f"must be >= 1 (got {batch_size})")
    if workers < 0:
        raise CfsnnError("--workers", f"must be >= 0 (got {workers})")


def check_timesteps(timesteps: int | None) -> None:
    """T within the bounds recipes have, as one line."""
    from cfsnn_cli.errors import CfsnnError

    if timesteps is not None and not 1 <= timesteps <= MAX_TIMESTEPS:
        raise CfsnnError("--timesteps", f"must be between 1 and {MAX_TIMESTEPS} (got {timesteps})")
