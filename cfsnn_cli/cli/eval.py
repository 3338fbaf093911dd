"""`cfsnn eval`: rebuild a model from its checkpoint's recipe and evaluate it."""

import json
from pathlib import Path
from typing import Annotated

import typer

from cfsnn_cli.cli.common_options import (
    BatchSizeOption,
    CheckpointOption,
    DataRootOption,
    SplitOption,
    TimestepsOption,
    WorkersOption,
    check_split_and_batch_size,
    check_timesteps,
)


def evaluate(
    ckpt: CheckpointOption,
    data_root: DataRootOption = None,
    split: SplitOption = "test",
    timesteps: TimestepsOption = None,
    batch_size: BatchSizeOption = None,
    workers: WorkersOption = 0,
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
    from cfsnn_cli.cli.console import EvaluationProgress, console
    from cfsnn_cli.cli.eval_render import evaluation_tables
    from cfsnn_cli.cli.output_paths import JSON_FILE, PLOT_FILE, Output, check_outputs
    from cfsnn_cli.cli.plots import evaluation_plot
    from cfsnn_cli.engine.machine import ThisMachine
    from cfsnn_cli.engine.run_folder import resolve_checkpoint

    check_split_and_batch_size(split, batch_size, workers)
    check_timesteps(timesteps)
    written = check_outputs(
        {"--json": Output(json_path, JSON_FILE), "--plot": Output(plot, PLOT_FILE)}, reads=[resolve_checkpoint(ckpt)]
    )
    json_path, plot = written["--json"], written["--plot"]
    from cfsnn_cli.engine.evaluate import evaluate_checkpoint  # torch: only once the input is checked
    from cfsnn_cli.engine.load import report_header

    with EvaluationProgress(f"eval {split}") as progress:
        checkpoint, result = evaluate_checkpoint(
            ckpt,
            machine=ThisMachine.from_options(data_root, workers),
            split=split,
            timesteps=timesteps,
            batch_size=batch_size,
            reporter=progress,
        )
    # the files first: they must not depend on stdout's reader staying to the end
    if json_path is not None:
        report = {**report_header(checkpoint, split), "timesteps": len(result.latency), **result.to_dict()}
        atomic_write_text(json_path, json.dumps(report, indent=2) + "\n")
    if plot is not None:
        evaluation_plot(result, f"{checkpoint.recipe.name} ({split})", plot)
    for table in evaluation_tables(checkpoint, result, split):
        console.print(table)
    if checkpoint.integer_program is not None:
        console.print("an integer bundle: run by the integer simulator (NumPy, integers only)", highlight=False)
