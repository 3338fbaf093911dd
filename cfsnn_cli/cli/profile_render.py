"""The tables of `cfsnn profile-spikes`: what each spiking layer does, what each synapse layer costs,
and the network's totals per sample. Laid out for 80 columns: compact numbers (5.05k, 65.5k, 1.2M),
headers that wrap and numbers that never do."""

import math

from rich import box
from rich.table import Table

from cfsnn_cli.cli.render import percent

UNITS = ("", "k", "M", "G", "T", "P")
ENERGY_UNITS = ("pJ", "nJ", "µJ", "mJ", "J", "kJ")
ALPHAS_LISTED = 4  # up to this many per-step α are listed; more become a mean and a range


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


def count(value: int) -> str:
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
    """α, or α_1..α_T when it is learnt per step; a long list shrinks to its mean and range."""
    if len(alpha) <= ALPHAS_LISTED:
        return " ".join(_digits(a) for a in alpha)
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


def _columns(table: Table, names: list[str]) -> None:
    """Headers are broken by hand (`"always\\nfiring"`): rich, short of room, narrows the widest
    column first and cuts what no longer fits, so every column's natural width is kept near that
    of its numbers. A layer's name never wraps (a module path is looked up as a unit)."""
    table.add_column(names[0], no_wrap=True)
    for name in names[1:]:
        table.add_column(name, justify="right")


def firing_table(profile, split: str) -> Table:
    table = _table(f"spiking layers: firing ({profile.samples} {split} samples, T = {profile.timesteps})")
    _columns(table, ["layer", "neurons", "rate %", "+ %", "− %", "|N|≥2\n%", "silent", "always\nfiring"])
    for layer in profile.layers:
        table.add_row(
            layer.name,
            count(layer.neurons),
            percent(layer.rate),
            percent(layer.positive_rate),
            percent(layer.negative_rate),
            percent(layer.multi_level_share),
            count(layer.silent_neurons),
            count(layer.always_firing_neurons),
        )
    return table


def membrane_table(profile) -> Table:
    table = _table("spiking layers: membrane and parameters", caption="* learned")
    _columns(table, ["layer", "neuron", "|N|=D\n%", "PN\nimbalance", "θ", "τ", "α"])
    for layer in profile.layers:
        learned = set(layer.learned)
        table.add_row(
            layer.name,
            f"{neuron_text(layer.kind)} {levels_text(layer.levels, layer.bipolar)}",
            percent(layer.saturated_share),
            f"{layer.pn_imbalance:+.3f}",
            _digits(layer.threshold) + ("*" if "threshold" in learned else ""),
            _digits(layer.tau) + ("*" if "tau" in learned else ""),
            alpha_text(layer.alpha) + ("*" if "alpha" in learned else ""),
        )
    return table


def synapse_table(profile) -> Table:
    table = _table("synapse layers, per sample")
    _columns(table, ["layer", "kind", "input", "SynOps", "MACs", "dense\nMACs", "bias\nadds"])
    for synapse in profile.synapses:
        table.add_row(
            synapse.name,
            synapse.kind,
            synapse.input,
            compact(synapse.synops),
            compact(synapse.macs),
            compact(synapse.dense_macs),
            compact(synapse.bias_adds),
        )
    return table


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


def profile_tables(checkpoint, profile, split: str) -> list[Table]:
    return [
        firing_table(profile, split),
        membrane_table(profile),
        synapse_table(profile),
        totals_table(checkpoint, profile),
    ]
