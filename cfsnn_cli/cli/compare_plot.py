"""`cfsnn compare --plot`: each configuration's test accuracy per epoch, the mean over its finished
seeds as a line and their range (min..max) as a band around it; and where the runs recorded their
cost, a second panel of final accuracy against SynOps per sample, each configuration a point with
its spread over seeds as error bars, the Pareto front joined and marked."""

import textwrap
from pathlib import Path

from cfsnn_cli.cli.compare_render import field_value
from cfsnn_cli.cli.plots import plot_format, pyplot_module, save_figure, whole_numbers


def configuration_label(fields: dict, seeds: int) -> str:
    """The differing fields the configuration has (a LIF run has no `neuron.levels`), folded into
    lines of about 70 characters so that a wide grid's legend keeps the curves readable."""
    described = ", ".join(f"{field}={field_value(value)}" for field, value in fields.items() if value is not None)
    return textwrap.fill(f"{described or 'all runs'} (n={seeds})", width=70)


def comparison_figure(comparison, title: str):
    """One line per configuration that has a finished run; the legend names its differing fields.
    With costs recorded, the accuracy-against-SynOps panel beside it, in the same colours."""
    front = comparison.front()
    with_costs = any(on_front is not None for on_front in front)
    figure, axes = pyplot_module().subplots(1, 2 if with_costs else 1, figsize=(15 if with_costs else 8, 5.5))
    axis = axes[0] if with_costs else axes
    colours = _accuracy_curves(axis, comparison, title)
    if with_costs:
        _accuracy_against_synops(axes[1], comparison, front, colours)
    return figure


def _accuracy_against_synops(axis, comparison, front: list[bool | None], colours: dict[int, str]) -> None:
    points = []
    for index, (configuration, on_front) in enumerate(zip(comparison.configurations, front, strict=True)):
        if on_front is None:
            continue
        accuracy, synops = configuration.summary("final_accuracy"), configuration.summary("synops")
        axis.errorbar(
            synops.mean,
            100 * accuracy.mean,
            xerr=synops.std or 0,
            yerr=100 * (accuracy.std or 0),
            fmt="*" if on_front else "o",
            markersize=12 if on_front else 6,
            color=colours.get(index),
            capsize=3,
        )
        if on_front:
            points.append((synops.mean, 100 * accuracy.mean))
    points.sort()
    axis.step([x for x, _ in points], [y for _, y in points], where="post", color="black", alpha=0.5, linewidth=1)
    axis.set(
        xscale="log",
        xlabel="SynOps per test sample (mean over seeds, bars: std)",
        ylabel="final test accuracy % (mean, bars: std)",
        title="accuracy against SynOps; ★ and the line: the Pareto front",
    )
    axis.grid(alpha=0.3, which="both")


def _accuracy_curves(axis, comparison, title: str) -> dict[int, str]:
    """Draw the curves; return each drawn configuration's colour by its index."""
    colours: dict[int, str] = {}
    drawn = 0
    for index, configuration in enumerate(comparison.configurations):
        curve = configuration.curve()
        if not curve.epochs:
            continue
        label = configuration_label(configuration.fields, len(configuration.finished))
        # matplotlib's ten colours come round again: the second round is dashed
        style = "-" if drawn < 10 else "--"
        mean = [100 * a for a in curve.mean]
        (line,) = axis.plot(curve.epochs, mean, linestyle=style, marker="o", markersize=4, label=label)
        low, high = [100 * a for a in curve.low], [100 * a for a in curve.high]
        axis.fill_between(curve.epochs, low, high, color=line.get_color(), alpha=0.2, linewidth=0)
        colours[index] = line.get_color()
        drawn += 1
    if not drawn:
        axis.text(0.5, 0.5, "no finished run yet", ha="center", va="center", transform=axis.transAxes)
    axis.set(xlabel="epoch", ylabel="test accuracy % (mean over seeds, band: min..max)", title=title)
    axis.grid(alpha=0.3)
    axis.xaxis.set_major_locator(whole_numbers())
    if drawn:
        # below the axes: a grid of many configurations would hide its own curves
        axis.legend(loc="upper center", bbox_to_anchor=(0.5, -0.12), ncol=1 if drawn <= 6 else 2, fontsize="small")
    return colours


def comparison_plot(comparison, title: str, path: Path) -> None:
    """Draw `comparison_figure` to `path` (.png, .pdf or .svg)."""
    plot_format("--plot", path)
    save_figure(comparison_figure(comparison, title), path)
