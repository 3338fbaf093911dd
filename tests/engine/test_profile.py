"""The spike profiler: numbers computed by hand on tiny networks, SynOps recounted independently
for every model in the zoo, and every neuron kind and model profiled without error."""

import math

import pytest
import torch
from torch import nn
from torch.nn import functional

from cfsnn_cli.engine.profile import ENERGY_PRESETS, profile_model
from cfsnn_cli.models import MODELS
from cfsnn_cli.models.blocks import TimeFolded
from cfsnn_cli.neurons import NEURONS, CFNeuron, LIFNeuron, build_neuron
from cfsnn_cli.surrogates import build_surrogate
from tests.models.test_models import INPUTS
from tests.peers import peer

T = 2


class HandSetNetwork(nn.Module):
    """conv (padded, strided, real input) → CF D=3 → conv (+bias) → LIF, a residual add of the two
    spike maps → max-pool → linear. Every weight is 1; the numbers are worked out in the test."""

    def __init__(self):
        super().__init__()
        self.stem = TimeFolded(nn.Conv2d(1, 1, 3, stride=2, padding=1, bias=False))
        self.first = CFNeuron(tau=math.inf, threshold=1.0, levels=3, bipolar=True)
        self.conv = TimeFolded(nn.Conv2d(1, 1, 3, padding=1))
        self.second = LIFNeuron(tau=2.0, threshold=1.0)
        self.pool = TimeFolded(nn.MaxPool2d(2), nn.Flatten())
        self.head = TimeFolded(nn.Linear(1, 3, bias=False))
        with torch.no_grad():
            for layer in (self.stem.layer, self.conv.layer, self.head.layer):
                layer.weight.fill_(1.0)
            self.conv.layer.bias.fill_(-10.5)

    def forward(self, x_seq):
        first = self.first(self.stem(x_seq))
        second = self.second(self.conv(first))
        return self.head(self.pool(first + second))


def test_rates_synops_macs_and_sparsity_computed_by_hand():
    x_seq = torch.full((T, 1, 1, 4, 4), 0.5)
    profile = profile_model(HandSetNetwork(), [(x_seq, torch.zeros(1))])
    first, second = profile.layers
    # stem: 3×3 windows at stride 2 over a 4×4 map padded by 1 hold 4, 6, 6 and 9 pixels of 0.5
    #   H_1 = [2, 3, 3, 4.5] → N = [2, 3, 3, 3] (D = 3), rest [0, 0, 0, 1.5]; H_2 = [2, 3, 3, 6] → the same N
    assert (first.name, first.neurons, first.levels) == ("first", 4, 3)
    assert first.rate_per_step == [11 / 4, 11 / 4] and first.rate == 22 / 8
    assert first.positive_rate == 22 / 8 and first.negative_rate == 0
    assert first.multi_level_share == 1.0 and first.saturated_share == 6 / 8
    assert first.silent_neurons == 0 and first.always_firing_neurons == 4
    assert first.mean_relu_h == pytest.approx((12.5 + 14) / 8) and first.mean_relu_neg_h == 0
    assert first.pn_imbalance == 1.0
    edges = first.histogram.edges_over_threshold
    assert first.histogram.counts[edges.index(2.0)] == 2 and first.histogram.counts[edges.index(3.0)] == 4
    # 4.5θ and 6θ lie beyond (D+1)θ = 4θ: in the first doubling bin, [4θ, 8θ), not out of sight
    assert first.histogram.counts[edges.index(4.0)] == 2 and first.histogram.above == first.histogram.below == 0
    assert edges[edges.index(4.0) + 1] == 8.0 and edges[-1] == 4 * 2**10
    # conv: every output window covers the whole 2×2 map: 11 − 10.5 = 0.5, then 0.5·β + 0.5 = 0.75 < θ
    assert second.rate == 0 and second.silent_neurons == 4 and second.always_firing_neurons == 0
    stem, conv, head = profile.synapses
    assert (stem.input, stem.macs, stem.synops) == ("real", 2 * 4 * 9, 0)  # 4 outputs × 9 inputs, T = 2
    # conv on spikes: each of the 4 inputs reaches all 4 outputs; Σ|N| = 11 per step
    assert (conv.input, conv.synops, conv.macs, conv.dense_macs, conv.bias_adds) == ("spikes", 2 * 11 * 4, 0, 72, 8)
    # residual add then max-pool: max(first + second) = 3, reaching 3 outputs
    assert (head.input, head.synops, head.dense_macs) == ("spikes", 2 * 3 * 3, 2 * 3)
    assert profile.synops == 88 + 18 and profile.macs == 72 and profile.dense_macs == 72 + 72 + 6
    assert profile.bias_adds == 8 and profile.neuron_updates == 16
    assert profile.activation_sparsity == 0.5 and profile.firing_rate == 22 / 16
    e_mac, e_ac = ENERGY_PRESETS["45nm"]
    assert profile.energy.total_pj == pytest.approx(e_mac * 72 + e_ac * 106)
    # which synapse feeds which spiking layer: the residual sum reaches the head through no neuron
    assert (first.fed_by, second.fed_by) == (["stem.layer"], ["conv.layer"])
    assert (stem.feeds, conv.feeds, head.feeds) == (["first"], ["second"], [])


def test_signed_spikes_count_by_magnitude_and_polarity():
    neuron = nn.Sequential(TimeFolded(nn.Identity()), CFNeuron(tau=math.inf, levels=2, bipolar=True))
    x_seq = torch.tensor([[[2.5, -1.5, 0.2]], [[-2.5, 0.4, 0.3]]])  # [T, B, neurons]
    # N_1 = [2, −1, 0], rests [0.5, −0.5, 0.2]; H_2 = [−2, −0.1, 0.5] → N_2 = [−2, 0, 0]
    [layer] = profile_model(neuron, [(x_seq, torch.zeros(1))]).layers
    assert layer.rate_per_step == [3 / 3, 2 / 3] and layer.positive_rate == 2 / 6 and layer.negative_rate == 3 / 6
    assert layer.multi_level_share == 2 / 3 and layer.saturated_share == 2 / 3 and layer.silent_neurons == 1


def test_samples_are_cut_and_counted_per_sample():
    model = nn.Sequential(TimeFolded(nn.Linear(4, 4)), CFNeuron())
    batches = [(torch.ones(T, 3, 4), torch.zeros(3)) for _ in range(3)]
    profile = profile_model(model, batches, samples=5)
    assert profile.samples == 5 and profile.synapses[0].dense_macs == T * 4 * 4


# -- the zoo, recounted independently -------------------------------------------------------------

NEURON_CONFIGS = {
    "cf-levels-1": lambda: CFNeuron(levels=1, surrogate=build_surrogate("sigmoid", learnable="timestep", timesteps=T)),
    "cf-levels-3": lambda: CFNeuron(levels=3, threshold=0.3),
    "lif": lambda: LIFNeuron(threshold=0.5),
}


def recount_synops(model: nn.Module, x_seq: torch.Tensor) -> dict[str, float]:
    """SynOps per layer from hooks that keep each conv/linear's input, recounted with conv/linear
    on all-ones weights. An average pool of spikes passes on the events under each window (summed
    here by hand); a layer fed anything else real-valued is left out (it is charged MACs)."""
    names = {module: name for name, module in model.named_modules()}
    inputs: dict[str, list[torch.Tensor]] = {}
    events_of_pooled: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}

    def events(x):
        if torch.equal(x, x.round()):
            return x.abs()
        pooled, counts = events_of_pooled.get(x.data_ptr(), (None, None))
        return counts.reshape(x.shape) if pooled is not None and pooled.numel() == x.numel() else None

    def pool_hook(module, args, output):
        counts = events(args[0])
        if counts is not None:
            if isinstance(module, nn.AdaptiveAvgPool2d):  # global: every pixel of a channel
                summed = counts.sum((-2, -1), keepdim=True)
            else:
                summed = functional.avg_pool2d(counts, module.kernel_size) * module.kernel_size**2
            events_of_pooled[output.data_ptr()] = (output, summed)

    def synapse_hook(module, args, output):
        inputs.setdefault(names[module], []).append(events(args[0]))

    layers = [m for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    hooks = [m.register_forward_hook(synapse_hook) for m in layers]
    hooks += [
        m.register_forward_hook(pool_hook)
        for m in model.modules()
        if isinstance(m, (nn.AvgPool2d, nn.AdaptiveAvgPool2d))
    ]
    with torch.no_grad():
        model.eval()(x_seq)
    for hook in hooks:
        hook.remove()
    counts = {}
    for module in layers:
        seen = inputs[names[module]]
        if any(x is None for x in seen):
            continue
        ones = torch.ones_like(module.weight)
        if isinstance(module, nn.Linear):
            total = sum(float(functional.linear(x, ones).sum()) for x in seen)
        else:
            total = sum(
                float(
                    functional.conv2d(
                        x, ones, None, module.stride, module.padding, module.dilation, module.groups
                    ).sum()
                )
                for x in seen
            )
        counts[names[module]] = total / x_seq.shape[1]
    return counts


@pytest.mark.parametrize("config", sorted(NEURON_CONFIGS))
@pytest.mark.parametrize(
    "kind", [pytest.param(k, marks=() if k in ("mlp", "convnet", "rsnn") else pytest.mark.slow) for k in MODELS.kinds()]
)
def test_synops_equal_an_independent_recount_for_every_model(kind, config):
    torch.manual_seed(0)
    model = MODELS.get(kind)(input_shape=INPUTS[kind], num_classes=5, neuron=NEURON_CONFIGS[config])
    x_seq = torch.rand(T, 2, *INPUTS[kind]) * 2
    profile = profile_model(model, [(x_seq, torch.zeros(2))])
    expected = recount_synops(model, x_seq)
    # the recount covers conv and linear layers; the transformers' spike × spike products have
    # their own brute-force count (tests/models/test_transformers.py)
    synapse_layers = {name for name, module in model.named_modules() if isinstance(module, (nn.Conv2d, nn.Linear))}
    measured = {s.name: s.synops for s in profile.synapses if s.input == "spikes" and s.name in synapse_layers}
    assert set(measured) == set(expected)
    for name, synops in expected.items():
        assert measured[name] == pytest.approx(synops, rel=1e-9), name
    assert profile.synops > 0 and profile.macs > 0  # spikes flowed, and the real-valued stem is MACs


def test_a_recurrent_layer_is_fed_by_its_own_synapse_and_its_membrane_recount_holds_the_feedback():
    from cfsnn_cli.neurons.observe import observe

    torch.manual_seed(0)
    model = MODELS.get("rsnn")(input_shape=(6,), num_classes=3, neuron=lambda: CFNeuron(levels=3), hidden=[8])
    with torch.no_grad():
        model[1].recurrent.weight.mul_(4)  # feedback large enough to move H by more than round-off
    x_seq = torch.rand(5, 4, 6) * 2
    profile = profile_model(model, [(x_seq, torch.zeros(4))])
    [layer] = profile.layers
    recurrent = next(s for s in profile.synapses if s.name == "1.recurrent")
    assert layer.fed_by == ["0.layer.1", "1.recurrent"] and recurrent.feeds == ["1.neuron"]
    assert recurrent.input == "spikes" and recurrent.synops > 0
    with torch.no_grad(), observe() as seen:
        model(x_seq)  # the kernel's own Σrelu(H), which saw the feedback
    [kernel] = seen.layers
    assert layer.mean_relu_h == pytest.approx(float(kernel.positive.sum()) / (5 * 4 * 8), rel=1e-6)
    assert layer.mean_relu_neg_h == pytest.approx(float(kernel.negative.sum()) / (5 * 4 * 8), rel=1e-6)


@pytest.mark.parametrize("kind", NEURONS.kinds())
def test_every_neuron_kind_profiles(kind):
    model = nn.Sequential(TimeFolded(nn.Linear(6, 8)), build_neuron(kind), TimeFolded(nn.Linear(8, 3)))
    profile = profile_model(model, [(torch.randn(T, 4, 6) * 2, torch.zeros(4))])
    [layer] = profile.layers
    assert 0 <= layer.rate <= layer.levels and len(layer.rate_per_step) == T
    assert sum(layer.histogram.counts) + layer.histogram.above + layer.histogram.below == T * 4 * 8


@pytest.mark.parametrize("config", ["cf-levels-1", "lif"])
def test_synops_agree_with_neurobench_where_its_rule_holds(config):
    """NeuroBench counts an input as spikes when every value is in {−1, 0, 1} and charges each
    non-zero its fan-out; for such inputs (|N| <= 1) and weights without zeros it must agree."""
    layers_module = peer("neurobench.metrics.utils.layers")
    torch.manual_seed(0)
    model = MODELS.get("convnet")(input_shape=(1, 8, 8), num_classes=5, neuron=NEURON_CONFIGS[config])
    x_seq = torch.rand(T, 3, 1, 8, 8) * 2
    names = {module: name for name, module in model.named_modules()}
    neurobench = {}

    counting = []  # NeuroBench runs the layer itself: its calls must not be counted again

    def count(module, args, output):
        if counting:
            return
        counting.append(module)
        operations, spiking = layers_module.single_layer_MACs(args[0], module)
        counting.pop()
        if spiking:
            neurobench[names[module]] = neurobench.get(names[module], 0) + operations / x_seq.shape[1]

    hooks = [m.register_forward_hook(count) for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    with torch.no_grad():
        model.eval()(x_seq)
    for hook in hooks:
        hook.remove()
    profile = profile_model(model, [(x_seq, torch.zeros(3))])
    ours = {s.name: s.synops for s in profile.synapses}
    assert neurobench, "no layer was fed spikes"
    for name, operations in neurobench.items():
        assert ours[name] == pytest.approx(operations), name


def test_average_pooled_spikes_keep_their_events_even_when_the_pool_gives_whole_numbers():
    """All-ones spikes pooled 2×2 average to 1: still four events behind each pooled element."""
    model = nn.Sequential(
        TimeFolded(nn.Identity()), CFNeuron(tau=math.inf), TimeFolded(nn.AvgPool2d(2), nn.Flatten(), nn.Linear(4, 3))
    )
    profile = profile_model(model, [(torch.full((1, 1, 1, 4, 4), 1.5), torch.zeros(1))])
    [linear] = profile.synapses
    assert (linear.input, linear.synops) == ("spikes", 16 * 3)  # 16 spikes, each reaching 3 outputs


def test_a_pool_whose_windows_differ_passes_real_values_on():
    model = nn.Sequential(
        TimeFolded(nn.Identity()),
        CFNeuron(tau=math.inf),
        TimeFolded(nn.AdaptiveAvgPool2d(3), nn.Flatten(), nn.Linear(9, 2)),
    )
    checkerboard = (torch.arange(4)[:, None] + torch.arange(4)[None, :]) % 2 * 1.5  # every window half full
    [linear] = profile_model(model, [(checkerboard.expand(1, 2, 1, 4, 4), torch.zeros(2))]).synapses
    assert (linear.input, linear.synops) == ("real", 0) and linear.macs == linear.dense_macs  # no invented events


def test_a_layer_never_reached_is_left_out_and_no_samples_is_refused():
    from cfsnn_cli.errors import CfsnnError

    class Skips(nn.Module):
        def __init__(self):
            super().__init__()
            self.used, self.unused = CFNeuron(), CFNeuron()

        def forward(self, x_seq):
            return self.used(x_seq)

    assert [layer.name for layer in profile_model(Skips(), [(torch.ones(T, 2, 3), None)]).layers] == ["used"]
    with pytest.raises(CfsnnError, match="no samples"):
        profile_model(Skips(), [])


def _zoo_profile(kind: str):
    from tests.models.test_models import OPTIONS

    torch.manual_seed(0)
    model = MODELS.get(kind)(input_shape=INPUTS[kind], num_classes=5, neuron=CFNeuron, **OPTIONS.get(kind, {}))
    return profile_model(model, [(torch.rand(T, 2, *INPUTS[kind]) * 2, torch.zeros(2))])


@pytest.mark.parametrize(
    "kind",
    [pytest.param(k, marks=() if k in ("mlp", "rsnn", "spikformer") else pytest.mark.slow) for k in MODELS.kinds()],
)
def test_every_zoo_models_profile_follows_the_documented_schema_and_says_what_feeds_what(kind):
    from jsonschema import Draft202012Validator

    from tests.profile_schema import documented_schema

    profile = _zoo_profile(kind)
    report = {"checkpoint": "x.safetensors", "recipe": kind, "epoch": 1, "split": "test", **profile.to_dict()}
    Draft202012Validator(documented_schema()).validate(report)
    synapses = {synapse.name for synapse in profile.synapses}
    for layer in profile.layers:  # every spiking layer is fed, by synapse layers the profile lists
        assert layer.fed_by and set(layer.fed_by) <= synapses, (layer.name, layer.fed_by)
    # only the readout feeds no neuron, and the SDT's mask, whose output goes into a linear layer
    feeding_none = [synapse.kind for synapse in profile.synapses if not synapse.feeds]
    assert feeding_none in (["Linear"], ["Linear", "SpikeMask"]), feeding_none


@pytest.mark.parametrize("kind", ["spikformer", pytest.param("sew_resnet34", marks=pytest.mark.slow)])
def test_the_tables_of_a_deep_zoo_model_keep_every_name_and_number_whole_in_80_columns(kind):
    import io
    from types import SimpleNamespace

    from rich.console import Console

    from cfsnn_cli.cli.profile_render import compact, neuron_text, profile_tables

    profile = _zoo_profile(kind)
    screen = Console(file=io.StringIO(), width=80, color_system=None, record=True)
    for table in profile_tables(SimpleNamespace(recipe=SimpleNamespace(name=kind), epoch=1), profile, "test", 80):
        screen.print(table)
    text = screen.export_text()
    assert "…" not in text and max(len(line) for line in text.splitlines()) <= 80, text
    labels = [f"{layer.name} · {neuron_text(layer.kind)}" for layer in profile.layers]
    labels += [f"{layer.name} · {layer.kind}" for layer in profile.synapses]
    for label in labels:  # paths fold at their dots and before their kind, never inside a part
        for part in label.replace(" · ", ".").split("."):
            assert part in text, (part, label)
    for number, synapse in enumerate(profile.synapses, start=1):
        row = next(line for line in text.splitlines() if line.lstrip().startswith(f"s{number} "))
        assert compact(synapse.synops) in row.split() and compact(synapse.dense_macs) in row.split(), row
