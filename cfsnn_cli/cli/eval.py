"""`cfsnn eval`: rebuild a model from its checkpoint's recipe and evaluate it."""

import json
from pathlib import Path
from typing import Annotated

import typer

from cfsnn_cli.errors import CfsnnError

SPLITS = ("test", "train")


def evaluate(
    ckpt: Annotated[
        Path,
        typer.Option(
            "--ckpt",
            help="A model.safetensors / best.safetensors, or a run folder (its model.safetensors).",
            show_default=False,
        ),
    ],
    data_root: Annotated[
        str | None,
        typer.Option(
            "--data-root", help="Use this dataset folder instead of the recipe's data.root.", show_default=False
        ),
    ] = None,
    split: Annotated[str, typer.Option("--split", help="test or train.")] = "test",
    timesteps: Annotated[
        int | None,
        typer.Option("--timesteps", min=1, help="Evaluate at another number of time steps T.", show_default=False),
    ] = None,
    json_path: Annotated[
        Path | None, typer.Option("--json", help="Also write the results to this JSON file.", show_default=False)
    ] = None,
    plot: Annotated[
        Path | None,
        typer.Option(
            "--plot", help="Also draw the latency curve and per-class accuracy to this PNG.", show_default=False
        ),
    ] = None,
) -> None:
    """Top-1/top-5, loss, per-class accuracy and accuracy against time steps."""
    from cfsnn_cli.atomic import atomic_write_text
    from cfsnn_cli.cli.plots import evaluation_plot
    from cfsnn_cli.cli.render import console, evaluation_tables
    from cfsnn_cli.engine.evaluate import evaluate_checkpoint

    if split not in SPLITS:
        raise CfsnnError("--split", f"must be one of {', '.join(SPLITS)} (got {split!r})")
    for option, path in (("--json", json_path), ("--plot", plot)):
        if path is not None and path.is_dir():
            raise CfsnnError(option, f"{path} is a folder; give a file name")
        if path is not None and not path.parent.is_dir():
            raise CfsnnError(option, f"folder {path.parent} does not exist")

    checkpoint, result = evaluate_checkpoint(ckpt, data_root=data_root, split=split, timesteps=timesteps)
    for table in evaluation_tables(checkpoint, result, split):
        console.print(table)
    if json_path is not None:
        report = {
            "checkpoint": str(checkpoint.path),
            "recipe": checkpoint.recipe.name,
            "epoch": checkpoint.epoch,
            "split": split,
            "timesteps": len(result.latency),
            **result.to_dict(),
        }
        atomic_write_text(json_path, json.dumps(report, indent=2) + "\n")
    if plot is not None:
        evaluation_plot(result, f"{checkpoint.recipe.name} ({split})", plot)
