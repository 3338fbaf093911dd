"""PNG plots where a picture says more than a table, written atomically."""

import io
from pathlib import Path

from cfsnn_cli.atomic import atomic_write_bytes


def _figure():
    import matplotlib

    matplotlib.use("Agg")  # files only, never a window
    from matplotlib import pyplot

    return pyplot


def _whole_numbers():
    from matplotlib.ticker import MaxNLocator

    return MaxNLocator(integer=True)  # epochs and time steps have no halves


def _save(figure, path: Path) -> None:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=120, bbox_inches="tight")
    atomic_write_bytes(path, buffer.getvalue())


def evaluation_plot(result, title: str, path: Path) -> None:
    """The latency curve and the per-class accuracies."""
    pyplot = _figure()
    figure, (curve, bars) = pyplot.subplots(1, 2, figsize=(11, 4))
    steps = range(1, len(result.latency) + 1)
    curve.plot(list(steps), [100 * a for a in result.latency], marker="o")
    curve.set(xlabel="time steps t", ylabel="accuracy % (output averaged over 1..t)", title="latency")
    curve.grid(alpha=0.3)
    curve.xaxis.set_major_locator(_whole_numbers())
    names = list(result.per_class)
    bars.bar(range(len(names)), [100 * result.per_class[n] for n in names])
    bars.set(xlabel="class", ylabel="accuracy %", title="per class")
    if len(names) <= 20:
        bars.set_xticks(range(len(names)), names, rotation=45 if len(names) > 10 else 0)
    figure.suptitle(title)
    _save(figure, path)
    pyplot.close(figure)


def training_plot(history: list[dict], title: str, path: Path) -> None:
    """Loss and accuracy per epoch, train against test."""
    pyplot = _figure()
    figure, (losses, accuracies) = pyplot.subplots(1, 2, figsize=(11, 4))
    epochs = [m["epoch"] for m in history]
    losses.plot(epochs, [m["train_loss"] for m in history], label="train")
    losses.plot(epochs, [m["test_loss"] for m in history], label="test")
    losses.set(xlabel="epoch", ylabel="loss", title="loss")
    accuracies.plot(epochs, [100 * m["train_accuracy"] for m in history], label="train")
    accuracies.plot(epochs, [100 * m["test_accuracy"] for m in history], label="test")
    accuracies.set(xlabel="epoch", ylabel="accuracy %", title="accuracy")
    for axis in (losses, accuracies):
        axis.grid(alpha=0.3)
        axis.xaxis.set_major_locator(_whole_numbers())
        axis.legend()
    figure.suptitle(title)
    _save(figure, path)
    pyplot.close(figure)
