"""`cfsnn compare --plot`: each configuration's test accuracy per epoch, the mean over its finished
seeds as a line and their range (min..max) as a band around it."""

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
    """One line per configuration that has a finished run; the legend names its differing fields."""
    figure, axis = pyplot_module().subplots(figsize=(8, 5))
    drawn = 0
    for configuration in comparison.configurations:
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
        drawn += 1
    if not drawn:
        axis.text(0.5, 0.5, "no finished run yet", ha="center", va="center", transform=axis.transAxes)
    axis.set(xlabel="epoch", ylabel="test accuracy % (mean over seeds, band: min..max)", title=title)
    axis.grid(alpha=0.3)
    axis.xaxis.set_major_locator(whole_numbers())
    if drawn:
        # below the axes: a grid of many configurations would hide its own curves
        axis.legend(loc="upper center", bbox_to_anchor=(0.5, -0.12), ncol=1 if drawn <= 6 else 2, fontsize="small")
    return figure


def comparison_plot(comparison, title: str, path: Path) -> None:
    """Draw `comparison_figure` to `path` (.png, .pdf or .svg)."""
    plot_format("--plot", path)
    save_figure(comparison_figure(comparison, title), path)
