"""Plots where a picture says more than a table, written atomically. One function builds each
figure (tests look at it), another writes it in the format its file name asks for."""

import io
from pathlib import Path

from cfsnn_cli.atomic import atomic_write_bytes
from cfsnn_cli.errors import CfsnnError

PLOT_FORMATS = ("png", "pdf", "svg")


def plot_format(option: str, path: Path) -> str:
    """The matplotlib format for `path` from its suffix; anything but .png, .pdf or .svg is refused
    as a mistake in `option` (e.g. ``"--plot"``), before any work is done."""
    suffix = Path(path).suffix.lower().lstrip(".")
    if suffix not in PLOT_FORMATS:
        given = f"'.{suffix}'" if suffix else "no suffix"
        raise CfsnnError(option, f"{path} has {given}; end the name in {', '.join('.' + f for f in PLOT_FORMATS)}")
    return suffix


def pyplot_module():
    import matplotlib

    matplotlib.use("Agg")  # files only, never a window
    from matplotlib import pyplot

    return pyplot


def whole_numbers():
    from matplotlib.ticker import MaxNLocator

    # Epochs and time steps have no halves. min_n_ticks=1: with the default of 2, a 1-epoch plot
    # falls back to fractional ticks (0.96, 0.98, 1.0) to find two of them.
    return MaxNLocator(integer=True, min_n_ticks=1)


def save_figure(figure, path: Path, option: str = "--plot") -> None:
    """Write `figure` in the format of `path`'s suffix and close it."""
    try:
        file_format = plot_format(option, path)
        buffer = io.BytesIO()
        figure.savefig(buffer, format=file_format, dpi=120, bbox_inches="tight")
        atomic_write_bytes(path, buffer.getvalue())
    finally:
        pyplot_module().close(figure)


def evaluation_figure(result, title: str):
    """The latency curve and the per-class accuracies."""
    figure, (curve, bars) = pyplot_module().subplots(1, 2, figsize=(11, 4))
    steps = list(range(1, len(result.latency) + 1))
    # clip_on=False: a point at 100 % keeps its whole marker on the top edge
    curve.plot(steps, [100 * a for a in result.latency], marker="o", clip_on=False)
    curve.set(xlabel="time steps t", ylabel="accuracy % (output averaged over 1..t)", title="latency")
    # The whole 0–100 % range, so that the last few points of a flat curve do not look like a collapse.
    curve.set_ylim(0, 100)
    curve.grid(alpha=0.3)
    curve.xaxis.set_major_locator(whole_numbers())
    names = list(result.per_class)
    bars.bar(range(len(names)), [100 * result.per_class[n] for n in names])
    bars.set(xlabel="class", ylabel="accuracy %", title="per class")
    bars.set_ylim(0, 100)
    if len(names) <= 20:
        bars.set_xticks(range(len(names)), names, rotation=45 if len(names) > 10 else 0)
    figure.suptitle(title)
    return figure


def evaluation_plot(result, title: str, path: Path) -> None:
    """Draw `evaluation_figure` to `path` (.png, .pdf or .svg; see `plot_format`)."""
    plot_format("--plot", path)  # refuse a bad name before drawing anything
    save_figure(evaluation_figure(result, title), path)


def training_figure(history: list[dict], title: str):
    """Loss and accuracy per epoch, train against test; every epoch is a marker, so that a run of
    one epoch still shows its points."""
    figure, (losses, accuracies) = pyplot_module().subplots(1, 2, figsize=(11, 4))
    epochs = [m["epoch"] for m in history]
    points = {"marker": "o", "markersize": 4}
    losses.plot(epochs, [m["train_loss"] for m in history], label="train", **points)
    losses.plot(epochs, [m["test_loss"] for m in history], label="test", **points)
    losses.set(xlabel="epoch", ylabel="loss", title="loss")
    accuracies.plot(epochs, [100 * m["train_accuracy"] for m in history], label="train", **points)
    accuracies.plot(epochs, [100 * m["test_accuracy"] for m in history], label="test", **points)
    accuracies.set(xlabel="epoch", ylabel="accuracy %", title="accuracy")
    for axis in (losses, accuracies):
        axis.grid(alpha=0.3)
        axis.xaxis.set_major_locator(whole_numbers())
        axis.legend()
    figure.suptitle(title)
    return figure


def training_plot(history: list[dict], title: str, path: Path) -> None:
    """Draw `training_figure` to `path` (curves.png in a run folder)."""
    save_figure(training_figure(history, title), path)
