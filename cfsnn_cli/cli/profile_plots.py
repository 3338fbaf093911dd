"""The pictures of `cfsnn profile-spikes --plot DIR`: one figure function per PNG (tests look at
them), each of a fixed pixel size, so that a folder of profiles compares side by side."""

import io
import math
from pathlib import Path

from cfsnn_cli.atomic import atomic_write_bytes
from cfsnn_cli.cli.plots import pyplot_module, whole_numbers

DPI = 100
# file → figure size in inches; at DPI that is the PNG's size in pixels (never cropped: no "tight" box)
SIZES = {
    "rates.png": (10, 5),
    "rate_heatmap.png": (10, 6),
    "membrane.png": (12, 8),
    "alpha.png": (10, 5),
    "raster.png": (12, 8),
}
POSITIVE, NEGATIVE = "tab:red", "tab:blue"


def pixel_size(name: str) -> tuple[int, int]:
    """(width, height) of the PNG `name` in pixels."""
    width, height = SIZES[name]
    return round(width * DPI), round(height * DPI)


def _figure(name: str, rows: int = 1, columns: int = 1, **options):
    return pyplot_module().subplots(
        rows, columns, figsize=SIZES[name], dpi=DPI, layout="constrained", squeeze=False, **options
    )


def _layer_panels(profile, name: str):
    """A figure with one small panel per spiking layer, and (axis, layer) pairs; spare panels are blank."""
    rows, columns = _grid(len(profile.layers))
    figure, axes = _figure(name, rows, columns)
    panels = [axis for row in axes for axis in row]
    for spare in panels[len(profile.layers) :]:
        spare.set_axis_off()
    return figure, list(zip(panels, profile.layers, strict=False))


def _grid(layers: int) -> tuple[int, int]:
    """Rows and columns for one small panel per layer, as square as the figure allows."""
    columns = min(layers, math.ceil(math.sqrt(layers * 1.5)))
    return math.ceil(layers / columns), columns


def _layer_ticks(axis, names: list[str], which: str = "x") -> None:
    # many layers: names rotate rather than overlap
    rotation = 45 if which == "x" and len(names) > 4 else 0
    positions = range(len(names))
    if which == "x":
        axis.set_xticks(positions, names, rotation=rotation, ha="right" if rotation else "center")
    else:
        axis.set_yticks(positions, names)


def rates_figure(profile, title: str):
    """Per layer: the rate of positive spikes up, of negative spikes down (in % of neuron-steps)."""
    figure, axes = _figure("rates.png")
    axis = axes[0][0]
    names = [layer.name for layer in profile.layers]
    positions = range(len(names))
    axis.bar(positions, [100 * layer.positive_rate for layer in profile.layers], color=POSITIVE, label="+ spikes")
    axis.bar(positions, [-100 * layer.negative_rate for layer in profile.layers], color=NEGATIVE, label="− spikes")
    axis.axhline(0, color="black", linewidth=0.8)
    axis.set(xlabel="spiking layer", ylabel="rate % (mean |N| per neuron per step)", title=title)
    # the axis reads as a magnitude both ways: −20 below the line means a 20 % rate of − spikes
    axis.yaxis.set_major_formatter(lambda value, _: f"{abs(value):g}")
    _layer_ticks(axis, names)
    axis.grid(axis="y", alpha=0.3)
    axis.legend()
    return figure


def rate_heatmap_figure(profile, title: str):
    """Layer × time step: the rate at each step, in %."""
    figure, axes = _figure("rate_heatmap.png")
    axis = axes[0][0]
    rates = [[100 * rate for rate in layer.rate_per_step] for layer in profile.layers]
    steps = profile.timesteps
    image = axis.imshow(
        rates,
        aspect="auto",
        cmap="viridis",
        vmin=0,
        interpolation="nearest",
        extent=(0.5, steps + 0.5, len(rates) - 0.5, -0.5),  # cells centred on t = 1..T and layer 0..L−1
    )
    axis.set(xlabel="time step t", ylabel="spiking layer", title=title)
    axis.xaxis.set_major_locator(whole_numbers())
    _layer_ticks(axis, [layer.name for layer in profile.layers], which="y")
    figure.colorbar(image, ax=axis, label="rate % (mean |N| per neuron)")
    return figure


def membrane_figure(profile, title: str):
    """Per layer: the histogram of the membrane H/θ over every neuron and step, with the thresholds."""
    figure, panels = _layer_panels(profile, "membrane.png")
    for axis, layer in panels:
        histogram = layer.histogram
        total = sum(histogram.counts) + histogram.below + histogram.above
        shares = [100 * c / total if total else 0.0 for c in histogram.counts]
        axis.stairs(shares, histogram.edges_over_threshold, fill=True, color="tab:gray")
        # the thresholds the neuron fires at: ±kθ for k = 1..D (+kθ only for a neuron that never fires −)
        for k in range(1, layer.levels + 1):
            axis.axvline(k, color=POSITIVE, linestyle="--", linewidth=0.8)
            if layer.bipolar:
                axis.axvline(-k, color=NEGATIVE, linestyle="--", linewidth=0.8)
        outside = histogram.below + histogram.above
        note = f"; {100 * outside / total:.1f} % beyond ±{layer.levels + 1}θ" if total and outside else ""
        axis.set_title(f"layer {layer.name}{note}", fontsize=9)
        axis.set_xlabel("H / θ")
        axis.set_ylabel("% of H values")
    figure.suptitle(title)
    return figure


def alpha_figure(profile, title: str):
    """Per layer: the surrogate's α against the time step (a learnt-once α is a flat line over 1..T)."""
    figure, axes = _figure("alpha.png")
    axis = axes[0][0]
    for layer in profile.layers:
        alpha = layer.alpha if len(layer.alpha) > 1 else layer.alpha * profile.timesteps
        axis.plot(range(1, len(alpha) + 1), alpha, marker="o", markersize=4, label=layer.name)
    axis.set(xlabel="time step t", ylabel="α_t (surrogate sharpness)", title=title)
    axis.xaxis.set_major_locator(whole_numbers())
    axis.grid(alpha=0.3)
    if len(profile.layers) <= 12:
        axis.legend(fontsize=8)
    return figure


def _spike_colours(levels: int):
    """Colours for N = −D..D: white for 0, + red and − blue, paler for small |N| but never faint."""
    from matplotlib.colors import ListedColormap, to_rgb

    def shade(base: str, k: int):
        strength = 1.0 if levels == 1 else 0.45 + 0.55 * (k - 1) / (levels - 1)
        return tuple(1 - strength * (1 - channel) for channel in to_rgb(base))

    negative = [shade("blue", k) for k in range(levels, 0, -1)]
    positive = [shade("red", k) for k in range(1, levels + 1)]
    return ListedColormap([*negative, (1.0, 1.0, 1.0), *positive])


def raster_figure(profile, title: str):
    """Per layer: the spikes of the first sample, time step × neuron (the first RASTER_NEURONS)."""
    figure, panels = _layer_panels(profile, "raster.png")
    for axis, layer in panels:
        raster = [list(neuron) for neuron in zip(*layer.raster, strict=True)] or [[0]]  # neuron × step
        levels = layer.levels
        axis.imshow(
            raster,
            aspect="auto",
            interpolation="nearest",
            cmap=_spike_colours(levels),
            vmin=-levels - 0.5,
            vmax=levels + 0.5,  # one colour per whole N
            extent=(0.5, len(raster[0]) + 0.5, len(raster) - 0.5, -0.5),
        )
        axis.xaxis.set_major_locator(whole_numbers())
        shown = len(raster) if layer.raster else 0
        axis.set_title(f"layer {layer.name}: {shown} of {layer.neurons:,} neurons", fontsize=9)
        axis.set_xlabel("time step t")
        axis.set_ylabel("neuron")
    figure.suptitle(f"{title}: first sample; + spikes red, − spikes blue, darker for larger |N|")
    return figure


FIGURES = {
    "rates.png": rates_figure,
    "rate_heatmap.png": rate_heatmap_figure,
    "membrane.png": membrane_figure,
    "alpha.png": alpha_figure,
    "raster.png": raster_figure,
}


def profile_plots(profile, title: str, folder: Path) -> list[Path]:
    """Draw every figure of FIGURES into `folder` (which exists), each PNG written atomically."""
    written = []
    for name, draw in FIGURES.items():
        figure = draw(profile, title)
        try:
            buffer = io.BytesIO()
            figure.savefig(buffer, format="png", dpi=DPI)
        finally:
            pyplot_module().close(figure)
        atomic_write_bytes(folder / name, buffer.getvalue())
        written.append(folder / name)
    return written
