"""`cfsnn compare`: runs and sweeps side by side, one row per configuration, mean ± std over seeds."""

import json
from pathlib import Path
from typing import Annotated

import typer

from cfsnn_cli.cli.common_options import JsonOption


def compare(
    paths: Annotated[
        list[Path],
        typer.Argument(
            metavar="RUN_OR_SWEEP",
            help="Run folders (cfsnn train --out) and sweep folders (cfsnn sweep --out), in any mix.",
            show_default=False,
        ),
    ],
    json_path: JsonOption = None,
    plot: Annotated[
        Path | None,
        typer.Option(
            "--plot",
            help="Also draw each configuration's test accuracy per epoch, and accuracy against SynOps, "
            "to this file (.png, .pdf or .svg).",
            show_default=False,
        ),
    ] = None,
) -> None:
    """The recipe fields that differ, final and best test accuracy, epochs, time, firing rate, and
    SynOps and energy per sample with the accuracy-against-SynOps Pareto front."""
    from cfsnn_cli.atomic import atomic_write_text
    from cfsnn_cli.cli.compare_plot import comparison_plot
    from cfsnn_cli.cli.compare_render import comparison_title, print_comparison
    from cfsnn_cli.cli.console import console
    from cfsnn_cli.cli.output_paths import JSON_FILE, PLOT_FILE, Output, check_outputs
    from cfsnn_cli.engine.compare import find_runs, read_runs

    found = find_runs(paths)
    written = check_outputs(
        {"--json": Output(json_path, JSON_FILE), "--plot": Output(plot, PLOT_FILE)}, reads=found.files()
    )
    json_path, plot = written["--json"], written["--plot"]

    comparison = read_runs(found)
    # the files first: they must not depend on stdout's reader staying to the end
    if json_path is not None:
        atomic_write_text(json_path, json.dumps(comparison.to_dict(), indent=2) + "\n")
    if plot is not None:
        comparison_plot(comparison, comparison_title(comparison), plot)
    print_comparison(comparison, console)
