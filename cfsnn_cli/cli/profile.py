"""`cfsnn profile-spikes`: firing statistics per spiking layer, operation counts and an energy
estimate per sample, for a checkpoint on a split of its dataset (docs/profiling.md)."""

import json
import tempfile
from pathlib import Path
from typing import Annotated

import typer

from cfsnn_cli.cli.common_options import (
    BatchSizeOption,
    CheckpointOption,
    DataRootOption,
    JsonOption,
    SplitOption,
    TimestepsOption,
    WorkersOption,
    check_split_and_batch_size,
    check_timesteps,
)
from cfsnn_cli.errors import CfsnnError

ENERGY_NAMES = ("45nm", "fp16", "int8")  # engine.profile.ENERGY_PRESETS, named here so --help needs no torch


def check_plot_folder(folder: Path) -> None:
    """Refuse, before any work, a --plot folder that cannot receive the PNGs: a file in its place, a
    missing parent, or no permission to write. Writing is tried, not inferred from the mode bits,
    which say nothing for root or on a read-only file system."""
    if folder.exists() and not folder.is_dir():
        raise CfsnnError("--plot", f"{folder} is a file; give a folder for the PNGs")
    where = folder if folder.is_dir() else folder.parent
    if not where.is_dir():
        raise CfsnnError("--plot", f"folder {where} does not exist")
    try:
        if folder.is_dir():
            with tempfile.TemporaryFile(dir=folder):
                pass
        else:
            Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=where)).rmdir()
    except OSError as error:
        raise CfsnnError("--plot", f"cannot write in {where}: {error.strerror}") from None


def profile_spikes(
    ckpt: CheckpointOption,
    data_root: DataRootOption = None,
    split: SplitOption = "test",
    samples: Annotated[
        int | None,
        typer.Option(
            "--samples", help="Profile the first N samples (>= 1; default: the whole split).", show_default=False
        ),
    ] = None,
    timesteps: TimestepsOption = None,
    batch_size: BatchSizeOption = None,
    workers: WorkersOption = 0,
    json_path: JsonOption = None,
    plot: Annotated[
        Path | None,
        typer.Option(
            "--plot",
            help="Also draw rates, rate_heatmap, membrane, alpha and raster PNGs into this folder (made if missing).",
            show_default=False,
        ),
    ] = None,
    energy: Annotated[
        str | None,
        typer.Option(
            "--energy",
            help=f"E_MAC and E_AC preset: {', '.join(ENERGY_NAMES)} (default: int8 for a model trained with "
            "[quantize], else 45nm).",
            show_default=False,
        ),
    ] = None,
    e_mac: Annotated[
        float | None,
        typer.Option("--e-mac", help="Energy of one MAC in pJ (> 0), replacing the preset's.", show_default=False),
    ] = None,
    e_ac: Annotated[
        float | None,
        typer.Option(
            "--e-ac", help="Energy of one accumulate in pJ (> 0), replacing the preset's.", show_default=False
        ),
    ] = None,
) -> None:
    """Firing rates, membrane and learned parameters per spiking layer; SynOps, MACs and energy."""
    from cfsnn_cli.atomic import atomic_write_text
    from cfsnn_cli.cli.console import EvaluationProgress, console
    from cfsnn_cli.cli.output_paths import JSON_FILE, PLOT_FILE, Output, check_output_folder, check_outputs
    from cfsnn_cli.cli.profile_plots import FIGURES, profile_plots
    from cfsnn_cli.cli.profile_render import profile_tables
    from cfsnn_cli.engine.machine import ThisMachine
    from cfsnn_cli.engine.run_folder import resolve_checkpoint

    # bounds checked here rather than by Typer, whose refusals come with a usage box: one line each
    check_split_and_batch_size(split, batch_size, workers)
    if samples is not None and samples < 1:
        raise CfsnnError("--samples", f"must be >= 1 (got {samples})")
    check_timesteps(timesteps)
    if energy is not None and energy not in ENERGY_NAMES:
        raise CfsnnError("--energy", f"must be one of {', '.join(ENERGY_NAMES)} (got {energy!r})")
    for option, value in (("--e-mac", e_mac), ("--e-ac", e_ac)):
        if value is not None and not 0 < value < float("inf"):
            raise CfsnnError(option, f"must be a number of pJ > 0 (got {value})")
    outputs = {"--json": Output(json_path, JSON_FILE)}
    if plot is not None:
        plot = check_output_folder("--plot", plot)
        check_plot_folder(plot)
        if plot.is_dir():  # a PNG about to be replaced must not be a folder, the checkpoint or --json
            outputs |= {f"--plot ({name})": Output(plot / name, PLOT_FILE) for name in FIGURES}
    json_path = check_outputs(outputs, reads=[resolve_checkpoint(ckpt)])["--json"]
    from cfsnn_cli.engine.load import report_header
    from cfsnn_cli.engine.profile import profile_checkpoint  # torch: only once the input is checked

    with EvaluationProgress(f"profile {split}") as progress:
        checkpoint, profile = profile_checkpoint(
            ckpt,
            machine=ThisMachine.from_options(data_root, workers),
            split=split,
            samples=samples,
            timesteps=timesteps,
            batch_size=batch_size,
            energy=energy,
            e_mac=e_mac,
            e_ac=e_ac,
            reporter=progress,
        )
    # the files first: they must not depend on stdout's reader staying to the end
    if json_path is not None:
        report = {**report_header(checkpoint, split), **profile.to_dict()}
        atomic_write_text(json_path, json.dumps(report, indent=2) + "\n")
    if plot is not None:
        plot.mkdir(exist_ok=True)
        profile_plots(profile, f"{checkpoint.recipe.name} ({split}, {profile.samples} samples)", plot)
    for table in profile_tables(checkpoint, profile, split, console.width):
        console.print(table)
