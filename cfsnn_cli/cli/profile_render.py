"""The tables of `cfsnn profile-spikes`: what each spiking layer does, what each synapse layer costs,
and the network's totals per sample. Laid out for 80 columns: compact numbers (5.05k, 65.5k, 1.2M),
headers that wrap and numbers that never do."""

import math

from rich import box
from rich.console import Console
from rich.table import Table

from cfsnn_cli.cli.console import percent

UNITS = ("", "k", "M", "G", "T", "P")
ENERGY_UNITS = ("pJ", "nJ", "µJ", "mJ", "J", "kJ")


def _scaled(value: float, units: tuple[str, ...], separator: str = "") -> str:
    """Three significant digits and a unit from `units` (each 1000 times the one before)."""
    index = 0
    # rounding decides the unit: 999.7 is "1k", not "1e+03"
    while abs(float(f"{value:.3g}")) >= 1000 and index < len(units) - 1:
        value /= 1000
        index += 1
    return f"{value:.3g}{separator}{units[index]}"


def compact(value: float | None) -> str:
    """65536 → 65.5k, 5053.6 → 5.05k, 40 → 40, 1.2e6 → 1.2M."""
    if value is None or math.isnan(value):
        return "-"
    if math.isinf(value):
        return "∞" if value > 0 else "-∞"
    return _scaled(value, UNITS)


def neuron_count(value: int) -> str:
    """A whole number of neurons: exact while it is short, compact beyond."""
    return f"{value:,}" if value < 100_000 else compact(value)


def energy_text(picojoules: float) -> str:
    return _scaled(picojoules, ENERGY_UNITS, " ")


def _number(value: float | None, spec: str = ".3g") -> str:
    if value is None or math.isnan(value):
        return "-"
    if math.isinf(value):
        return "∞"
    return format(value, spec)


def _digits(value: float) -> str:
    """Three significant digits, trailing zeros kept so that a row of values lines up (4.10, 4.09)."""
    return _number(value, "#.3g").rstrip(".")


def alpha_text(alpha: list[float]) -> str:
    """α, or the mean and range of α_1..α_T when it is learnt per step (each in `alpha_table`)."""
    if len(alpha) == 1:
        return _digits(alpha[0])
    return f"{_digits(sum(alpha) / len(alpha))} ({_digits(min(alpha))}–{_digits(max(alpha))})"


def neuron_text(kind: str) -> str:
    """CFNeuron → CF: every spiking layer is a neuron, the table says so once."""
    return kind.removesuffix("Neuron") or kind


def levels_text(levels: int, bipolar: bool) -> str:
    """The largest |N| a neuron emits, ± when it fires both ways."""
    return f"±{levels}" if bipolar else f"+{levels}"


def _table(title: str, caption: str | None = None) -> Table:
    # the style of `epochs_table` (no outer edge, one space of padding) without the margin on the
    # left: a deep network's layer names (features.1.7.first_neuron) need every column of the 80
    return Table(
        title=title, caption=caption, show_edge=False, box=box.SIMPLE_HEAVY, padding=(0, 0, 0, 1), pad_edge=False
    )


def layer_label(name: str, kind: str) -> str:
    """`blocks.0.attention.q_neuron · CF`: a layer by its module path and its kind."""
    return f"{name} · {neuron_text(kind)}"


MIN_PATH_WIDTH = 12  # a module path column narrower than this helps no one
UNBOUNDED = 10_000  # a console width no table reaches: what a table measures at its natural width


def _wrapped_path(text: str, width: int) -> str:
    """`text` (a module path, then ` · kind`) broken into lines of at most `width` after its dots
    and before its kind, so that it folds where a reader splits it (`blocks.0.` / `attention.` /
    `q_neuron · CF`), and only where it must."""
    path, dot, kind = text.partition(" · ")
    tokens = [token + "." for token in path.split(".")]
    tokens[-1] = tokens[-1][:-1]
    if dot:
        tokens.append(dot + kind)
    lines = [""]
    for token in tokens:
        while len(token) > width:  # a part longer than the column: cut it, no way round
            if lines[-1]:
                lines.append("")
            lines[-1], token = token[:width], token[width:]
            lines.append("")
        if lines[-1] and len(lines[-1]) + len(token) > width:
            lines.append("")
        lines[-1] += token
    return "\n".join(line.strip() for line in lines if line.strip())


def _filled(
    title: str, caption: str | None, headers: list[str], rows: list[list[str]], width: int, path=None, texts=()
) -> Table:
    """A table for a terminal `width` wide. Every column but the `path` column and `texts` (lists
    of layers or values, which wrap between their words) is as wide as its widest number or header
    word and never wraps, so no number is ever cut; the `path` column gives up what the table has
    too much, its module paths folding at their dots."""

    def build(room: int | None) -> Table:
        table = _table(title, caption)
        for index, header in enumerate(headers):
            words = [len(word) for word in header.split()] + [len(word) for row in rows for word in row[index].split()]
            if index == path:
                table.add_column(header, no_wrap=True)
            elif index in texts:
                table.add_column(header, min_width=max(words))
            else:
                table.add_column(header, justify="right", no_wrap=True, min_width=max(words))
        for row in rows:
            table.add_row(*[_wrapped_path(cell, room) if i == path and room else cell for i, cell in enumerate(row)])
        return table

    natural = build(None)
    excess = Console(width=UNBOUNDED).measure(natural).maximum - width
    if path is None or excess <= 0:
        return natural
    longest = max(len(row[path]) for row in rows)
    return build(max(MIN_PATH_WIDTH, longest - excess))


def _numbered(items: list, prefix: str) -> dict[str, str]:
    """Short handles for layers (n1, n2, … or s1, s2, …), by name, so that tables can say which feeds which."""
    return {item.name: f"{prefix}{index}" for index, item in enumerate(items, start=1)}


def firing_table(profile, split: str, width: int) -> Table:
    spiking, synapse = _numbered(profile.layers, "n"), _numbered(profile.synapses, "s")
    rows = [
        [
            spiking[layer.name],
            layer_label(layer.name, layer.kind),
            " ".join(synapse[name] for name in layer.fed_by if name in synapse) or "-",
            neuron_count(layer.neurons),
            percent(layer.rate),
            percent(layer.positive_rate),
            percent(layer.negative_rate),
            percent(layer.multi_level_share),
            neuron_count(layer.silent_neurons),
            neuron_count(layer.always_firing_neurons),
        ]
        for layer in profile.layers
    ]
    title = f"spiking layers: firing ({profile.samples} {split} samples, T = {profile.timesteps})"
    headers = [
        "#",
        "spiking layer",
        "fed\nby",
        "neurons",
        "rate %",
        "+ %",
        "− %",
        "|N|≥2\n%",
        "silent",
        "always\nfiring",
    ]
    caption = "fed by: the synapse layers s# whose outputs reach the layer first"
    return _filled(title, caption, headers, rows, width, path=1, texts=(2,))


def membrane_table(profile, width: int) -> Table:
    spiking = _numbered(profile.layers, "n")
    per_step = any(len(layer.alpha) > 1 for layer in profile.layers)
    rows = []
    for layer in profile.layers:
        learned = set(layer.learned)
        rows.append(
            [
                spiking[layer.name],
                f"{neuron_text(layer.kind)} {levels_text(layer.levels, layer.bipolar)}",
                percent(layer.saturated_share),
                f"{layer.pn_imbalance:+.3f}",
                _digits(layer.threshold) + ("*" if "threshold" in learned else ""),
                _digits(layer.tau) + ("*" if "tau" in learned else ""),
                alpha_text(layer.alpha) + ("*" if "alpha" in learned else ""),
            ]
        )
    caption = "* learned" + ("; α learnt per step: their mean (range); each in the next table" if per_step else "")
    headers = ["#", "neuron", "|N|=D\n%", "PN\nimbalance", "θ", "τ", "α"]
    return _filled("spiking layers: membrane and parameters", caption, headers, rows, width)


def alpha_table(profile, width: int) -> Table | None:
    """Each step's α of the layers that learn it per step, on one line per layer (wrapping between
    values on a narrow terminal); None when no layer does."""
    spiking = _numbered(profile.layers, "n")
    rows = [
        [spiking[layer.name], " ".join(_digits(alpha) for alpha in layer.alpha)]
        for layer in profile.layers
        if len(layer.alpha) > 1
    ]
    if not rows:
        return None
    return _filled("surrogate α per time step, t = 1..T", None, ["#", "α_1 .. α_T"], rows, width, texts=(1,))


def synapse_table(profile, width: int) -> Table:
    spiking, synapse = _numbered(profile.layers, "n"), _numbered(profile.synapses, "s")
    rows = [
        [
            synapse[layer.name],
            f"{layer.name} · {layer.kind}",
            " ".join(spiking[name] for name in layer.feeds if name in spiking) or "-",
            layer.input,
            compact(layer.synops),
            compact(layer.macs),
            compact(layer.dense_macs),
            compact(layer.bias_adds),
        ]
        for layer in profile.synapses
    ]
    headers = ["#", "synapse layer", "feeds", "input", "SynOps", "MACs", "dense\nMACs", "bias\nadds"]
    return _filled("synapse layers, per sample", None, headers, rows, width, path=1, texts=(2,))


def totals_table(checkpoint, profile) -> Table:
    energy = profile.energy
    table = _table(f"{checkpoint.recipe.name} (epoch {checkpoint.epoch}), per sample")
    table.show_header = False
    table.add_column("quantity", overflow="fold")
    table.add_column("value", overflow="fold")
    rows = [
        ("SynOps", compact(profile.synops)),
        ("MACs (real inputs)", compact(profile.macs)),
        ("dense MACs", compact(profile.dense_macs)),
        ("bias additions", compact(profile.bias_adds)),
        ("neuron updates", compact(profile.neuron_updates)),
        ("firing rate", f"{percent(profile.firing_rate)} %"),
        ("activation sparsity", f"{percent(profile.activation_sparsity)} %"),
        (
            f"energy ({energy.preset})",
            f"{energy_text(energy.total_pj)} = {energy.e_mac_pj:g} pJ × {compact(profile.macs)} MACs "
            f"+ {energy.e_ac_pj:g} pJ × {compact(profile.synops)} SynOps",
        ),
    ]
    for row in rows:
        table.add_row(*row)
    return table


def profile_tables(checkpoint, profile, split: str, width: int = 80) -> list[Table]:
    """Every table of a profile, laid out for a terminal `width` columns wide."""
    tables = [
        firing_table(profile, split, width),
        membrane_table(profile, width),
        alpha_table(profile, width),
        synapse_table(profile, width),
        totals_table(checkpoint, profile),
    ]
    return [table for table in tables if table is not None]
