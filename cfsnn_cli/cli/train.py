"""`cfsnn train`: a recipe in, a trained and evaluated run folder out."""

import time
from pathlib import Path
from typing import Annotated

import typer

from cfsnn_cli.errors import CfsnnError

RECIPE_HELP = "A recipe file, or the name of a shipped recipe (see `cfsnn recipes`). Default: quickstart."
SET_HELP = "Override a recipe field: section.field=value, the value a TOML literal (repeatable)."


def default_run_dir(name: str) -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    candidate = Path("runs") / f"{name}-{stamp}"
    suffix = 1
    while candidate.exists():
        suffix += 1
        candidate = Path("runs") / f"{name}-{stamp}-{suffix}"
    return candidate


def train(
    recipe: Annotated[str | None, typer.Argument(help=RECIPE_HELP, show_default=False)] = None,
    overrides: Annotated[list[str] | None, typer.Option("--set", help=SET_HELP, show_default=False)] = None,
    out: Annotated[
        Path | None,
        typer.Option("--out", help="Run folder to create (default: runs/NAME-TIMESTAMP).", show_default=False),
    ] = None,
    resume: Annotated[
        Path | None,
        typer.Option(
            "--resume",
            help="Continue the interrupted run in this folder (or from its state.safetensors), with its own recipe.",
            show_default=False,
        ),
    ] = None,
    data_root: Annotated[
        str | None,
        typer.Option(
            "--data-root", help="Use this dataset folder instead of the recipe's data.root.", show_default=False
        ),
    ] = None,
) -> None:
    """Train a model from a recipe; validate every epoch; save best and last checkpoints.
    Under torchrun (`torchrun --nproc_per_node N -m cfsnn_cli train ...`), on N processes."""
    from contextlib import nullcontext

    from rich.markup import escape

    from cfsnn_cli.cli.console import console, say
    from cfsnn_cli.cli.output_paths import check_output_folder
    from cfsnn_cli.cli.plots import training_plot
    from cfsnn_cli.cli.signals import stop_on_signals
    from cfsnn_cli.cli.train_render import TrainingDisplay, epochs_table
    from cfsnn_cli.engine.distributed import from_environment
    from cfsnn_cli.engine.report import Reporter
    from cfsnn_cli.engine.run_folder import CURVES_FILE, read_metrics, resumed_run_folder
    from cfsnn_cli.engine.train import train as run_training
    from cfsnn_cli.engine.training_ends import StopRequest
    from cfsnn_cli.engine.training_state import resume_recipe
    from cfsnn_cli.recipe import load_recipe, locate_error, overridden_fields, resolve_recipe_path

    if resume is not None:
        if recipe is not None or overrides or out is not None:
            raise CfsnnError(
                "--resume", "continues a run with its own recipe in its own folder: drop RECIPE, --set and --out"
            )
        run_dir = resumed_run_folder(resume)  # the folder, or its state.safetensors
        chosen = resume_recipe(run_dir)
    else:
        chosen = load_recipe(recipe or "quickstart", overrides or [])
        run_dir = check_output_folder("--out", out) if out is not None else default_run_dir(chosen.name)

    stop = StopRequest()
    # under torchrun process 0 alone speaks; the others train, and still stop on signals
    main = from_environment().main
    display = TrainingDisplay() if main else nullcontext(Reporter())
    with display as reporter, stop_on_signals(stop, reporter.console.print if main else lambda _: None):
        try:
            result = run_training(
                chosen, run_dir, resume=resume is not None, data_root=data_root, reporter=reporter, stop=stop
            )
        except CfsnnError as error:
            if resume is not None or error.source is not None or not error.field.startswith("model."):
                raise
            # the model refused the recipe as it was built: say where the field was written
            source = str(resolve_recipe_path(recipe or "quickstart"))
            raise locate_error(error, source, overridden_fields(overrides or [])) from None
    if not main:
        return

    run_dir = result.run_dir  # process 0's, if every process named one after the clock
    history = read_metrics(run_dir)
    training_plot(history, chosen.name, run_dir / CURVES_FILE)
    console.print(epochs_table(history))
    final = result.final
    say(
        console,
        f"final test accuracy {100 * final['test_accuracy']:.2f}% (epoch {final['epoch']}); "
        f"best {100 * result.best_accuracy:.2f}% at epoch {result.best_epoch}",
    )
    say(
        console,
        f"run folder: {escape(str(run_dir))}  "
        "(model.safetensors = last epoch, best.safetensors = best epoch, curves.png)",
    )
