"""`cfsnn eval`: rebuild a model from its checkpoint's recipe and evaluate it."""

import json
from pathlib import Path
from typing import Annotated

import typer

from cfsnn_cli.errors import CfsnnError
from cfsnn_cli.limits import MAX_TIMESTEPS

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
        typer.Option(
            "--timesteps",
            min=1,
            max=MAX_TIMESTEPS,
            help="Evaluate at another number of time steps T (event data: the recording is re-binned into T frames).",
            show_default=False,
        ),
    ] = None,
    batch_size: Annotated[
        int | None,
        typer.Option(
            "--batch-size",
            min=1,
            help="Samples per batch (default: the recipe's data.eval_batch_size).",
            show_default=False,
        ),
    ] = None,
    json_path: Annotated[
        Path | None, typer.Option("--json", help="Also write the results to this JSON file.", show_default=False)
    ] = None,
    plot: Annotated[
        Path | None,
        typer.Option(
            "--plot",
            help="Also draw the latency curve and per-class accuracy to this file (.png, .pdf or .svg).",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Top-1/top-5, loss, per-class accuracy and accuracy against time steps."""
    from cfsnn_cli.atomic import atomic_write_text
    from cfsnn_cli.cli.output_paths import check_outputs
    from cfsnn_cli.cli.plots import evaluation_plot, plot_format
    from cfsnn_cli.cli.render import EvaluationProgress, console, evaluation_tables
    from cfsnn_cli.engine.checkpoint import resolve_checkpoint
    from cfsnn_cli.engine.evaluate import evaluate_checkpoint

    if split not in SPLITS:
        raise CfsnnError("--split", f"must be one of {', '.join(SPLITS)} (got {split!r})")
    check_outputs({"--json": json_path, "--plot": plot}, reads=[resolve_checkpoint(ckpt)])
    if plot is not None:
        plot_format("--plot", plot)

    with EvaluationProgress(f"eval {split}") as progress:
        checkpoint, result = evaluate_checkpoint(
            ckpt, data_root=data_root, split=split, timesteps=timesteps, batch_size=batch_size, reporter=progress
        )
    # the files first: they must not depend on stdout's reader staying to the end
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
    for table in evaluation_tables(checkpoint, result, split):
        console.print(table)
