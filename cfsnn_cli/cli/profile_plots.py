"""The pictures of `cfsnn profile-spikes --plot DIR`: one figure function per PNG (tests look at
them), each of a fixed pixel size, so that a folder of profiles compares side by side."""

import io
import math
from pathlib import Path

from cfsnn_cli.atomic import atomic_write_bytes
from cfsnn_cli.cli.plots import pyplot_module, whole_numbers
from cfsnn_cli.cli.profile_render import layer_label

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
PANEL_SHARE = 0.7  # of a grid cell's height, what its axes get (the rest: title, ticks, labels)
PIXELS_PER_NEURON = 2  # a raster row at least this tall: neurons never share a pixel
TITLE_SUFFIX = 16  # room kept in a panel title for what follows the layer's name


def pixel_size(name: str) -> tuple[int, int]:
    """(width, height) of the PNG `name` in pixels."""
    width, height = SIZES[name]
    return round(width * DPI), round(height * DPI)


def _figure(name: str, rows: int = 1, columns: int = 1, **options):
    return pyplot_module().subplots(
        rows, columns, figsize=SIZES[name], dpi=DPI, layout="constrained", squeeze=False, **options
    )


def _short(name: str, room: int) -> str:
    """A module path shortened from the left to `room` characters: its end names the layer."""
    return name if len(name) <= room else "…" + name[-(room - 1) :]


def _labels(profile, room: int = 32) -> list[str]:
    """`n3 …attention.q_neuron · CF`: each spiking layer's number (as in the tables), path and kind."""
    return [
        f"n{index} {_short(layer_label(layer.name, layer.kind), room)}"
        for index, layer in enumerate(profile.layers, start=1)
    ]


def _font_size(count: int) -> float:
    """Tick labels shrink as the layers grow in number, so that they never overlap."""
    return max(5.0, min(9.0, 220 / max(count, 1)))


def _layer_panels(profile, name: str):
    """A figure with one small panel per spiking layer, and (axis, label, layer) triples; spare
    panels are blank. Only the outer panels carry axis labels: inner ones would overlap."""
    rows, columns = _grid(len(profile.layers))
    figure, axes = _figure(name, rows, columns)
    panels = [axis for row in axes for axis in row]
    for spare in panels[len(profile.layers) :]:
        spare.set_axis_off()
    # a panel's title gets the characters its width holds at the title's size (a character is about
    # 0.6 of the font's size, which is in points of 1/72 inch); the raster adds "(256 of 1,024)"
    points_per_panel = SIZES[name][0] * 72 / columns
    room = max(10, int(points_per_panel / (0.6 * _title_size(rows * columns))) - TITLE_SUFFIX)
    labels = _labels(profile, room)
    return figure, list(zip(panels, labels, profile.layers, strict=False)), rows, columns


def _title_size(panels: int) -> float:
    return 9.0 if panels <= 9 else 7.0


def _grid(layers: int) -> tuple[int, int]:
    """Rows and columns for one small panel per layer, as square as the figure allows."""
    columns = min(layers, math.ceil(math.sqrt(layers * 1.5)))
    return math.ceil(layers / columns), columns


def _outer_labels(axis, index: int, rows: int, columns: int, total: int, xlabel: str, ylabel: str) -> None:
    """Axis labels on the left column and on the lowest panel of each column only."""
    if index % columns == 0:
        axis.set_ylabel(ylabel, fontsize=8)
    if index + columns >= total:
        axis.set_xlabel(xlabel, fontsize=8)
    axis.tick_params(labelsize=7)


def _layer_ticks(axis, labels: list[str], which: str = "x") -> None:
    positions = range(len(labels))
    size = _font_size(len(labels))
    if which == "x":
        # many layers: names stand upright rather than overlap
        rotation = 90 if len(labels) > 4 else 0
        axis.set_xticks(positions, labels, rotation=rotation, fontsize=size, ha="center")
    else:
        axis.set_yticks(positions, labels, fontsize=size)


def rates_figure(profile, title: str):
    """Per layer: the rate of positive spikes up, of negative spikes down (in % of neuron-steps)."""
    figure, axes = _figure("rates.png")
    axis = axes[0][0]
    positions = range(len(profile.layers))
    up = [100 * layer.positive_rate for layer in profile.layers]
    down = [100 * layer.negative_rate for layer in profile.layers]
    axis.bar(positions, up, color=POSITIVE, label="+ spikes")
    axis.bar(positions, [-rate for rate in down], color=NEGATIVE, label="− spikes")
    axis.axhline(0, color="black", linewidth=0.8)
    # headroom above the bars for the legend, which must not cover one
    axis.set_ylim(-1.1 * max([*down, 1e-9]), 1.4 * max([*up, 1e-9]))
    axis.set(ylabel="rate %: mean |N| per neuron and step", title=title)
    # the axis reads as a magnitude both ways: −20 below the line means a 20 % rate of − spikes
    axis.yaxis.set_major_formatter(lambda value, _: f"{abs(value):g}")
    _layer_ticks(axis, _labels(profile, room=24))
    axis.grid(axis="y", alpha=0.3)
    axis.legend(loc="upper right", ncols=2)
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
    _layer_ticks(axis, _labels(profile), which="y")
    figure.colorbar(image, ax=axis, label="rate % (mean |N| per neuron)")
    return figure


def membrane_figure(profile, title: str):
    """Per layer: the histogram of the membrane H/θ over every neuron and step, with the thresholds.
    The axis is linear within ±(D+1)θ, where the neuron fires, and logarithmic beyond it, scaled so
    that every bin (1/4 θ inside, doubling outside) is drawn equally wide: a bar's height is its
    share, and the tails, often most of the values, show; what lies beyond the last bin is said."""
    figure, panels, rows, columns = _layer_panels(profile, "membrane.png")
    for index, (axis, label, layer) in enumerate(panels):
        histogram = layer.histogram
        total = sum(histogram.counts) + histogram.below + histogram.above
        shares = [100 * c / total if total else 0.0 for c in histogram.counts]
        edges = histogram.edges_over_threshold
        reach = layer.levels + 1
        inner_bins = sum(1 for edge in edges if abs(edge) < reach) + 1
        # an inner bin as wide on the axis as a doubling one: log10(2) each
        axis.set_xscale("symlog", linthresh=reach, linscale=inner_bins * math.log10(2) / 2)
        axis.stairs(shares, edges, fill=True, color="tab:gray")
        # the thresholds the neuron fires at: ±kθ for k = 1..D (+kθ only for a neuron that never fires −)
        for k in range(1, layer.levels + 1):
            axis.axvline(k, color=POSITIVE, linestyle="--", linewidth=0.8)
            if layer.bipolar:
                axis.axvline(-k, color=NEGATIVE, linestyle="--", linewidth=0.8)
        # as far out as the farthest bin that holds any value, both ways alike
        used = [abs(edges[i + side]) for i, c in enumerate(histogram.counts) if c for side in (0, 1)]
        far = max([reach, *used])
        axis.set_xlim(-far, far)
        ticks = sorted({0.0, reach, -reach, far, -far})  # where the scale changes, and its ends
        axis.set_xticks(ticks, [f"{tick:g}" for tick in ticks])
        beyond = histogram.below + histogram.above
        if total and beyond:
            note = f"{100 * beyond / total:.1f} % beyond"
            axis.text(0.98, 0.95, note, transform=axis.transAxes, ha="right", va="top", fontsize=7)
        axis.set_title(label, fontsize=_title_size(rows * columns))
        _outer_labels(axis, index, rows, columns, len(panels), "H / θ", "% of H values per bin")
    figure.suptitle(f"{title}: membrane H/θ (bins of θ/4 within ±(D+1)θ, doubling beyond)")
    return figure


def alpha_figure(profile, title: str):
    """Per layer: the surrogate's α against the time step (a learnt-once α is a flat line over 1..T).
    One colour per layer from a sequential map (layer order reads as depth), the legend beside the
    plot, never over the lines."""
    figure, axes = _figure("alpha.png")
    axis = axes[0][0]
    colours = pyplot_module().get_cmap("viridis")
    count = len(profile.layers)
    for index, (label, layer) in enumerate(zip(_labels(profile), profile.layers, strict=True)):
        alpha = layer.alpha if len(layer.alpha) > 1 else layer.alpha * profile.timesteps
        colour = colours(index / max(count - 1, 1))
        axis.plot(range(1, len(alpha) + 1), alpha, marker="o", markersize=3, color=colour, label=label)
    axis.set(xlabel="time step t", ylabel="α_t (surrogate sharpness)", title=title)
    axis.xaxis.set_major_locator(whole_numbers())
    axis.grid(alpha=0.3)
    columns = 1 if count <= 18 else 2
    axis.legend(fontsize=_font_size(count / columns), loc="upper left", bbox_to_anchor=(1.01, 1), ncols=columns)
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
    """Per layer: the spikes of the first sample, time step × neuron. A panel shows no more neurons
    than it has pixel rows for two each, so no two neurons share a pixel and no colour is a blend of
    two spike values (a red and a blue neuron drawn into one pixel read as a purple |N| that does
    not exist)."""
    figure, panels, rows, columns = _layer_panels(profile, "raster.png")
    panel_pixels = SIZES["raster.png"][1] * DPI / rows * PANEL_SHARE
    fits = max(8, int(panel_pixels / PIXELS_PER_NEURON))
    for index, (axis, label, layer) in enumerate(panels):
        raster = [list(neuron)[:] for neuron in zip(*layer.raster, strict=True)][:fits] or [[0]]  # neuron × step
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
        axis.set_title(f"{label} ({shown} of {layer.neurons:,})", fontsize=_title_size(rows * columns))
        _outer_labels(axis, index, rows, columns, len(panels), "time step t", "neuron")
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
