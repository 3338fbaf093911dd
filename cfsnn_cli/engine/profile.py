"""Spike profiling: what every spiking layer does and what the network costs, reduced batch by batch.

Per spiking layer: firing rates (signed and multi-level spikes counted by |N|), polarity, silent and
always-firing neurons, the membrane's positive-negative balance and histogram, and the learned
surrogate sharpness α_t, decay β and threshold θ. Per network: synaptic operations counted with each
input element's exact fan-out, dense MACs, bias additions, neuron updates, activation sparsity and
an energy estimate. docs/profiling.md defines every number; every count is per sample.
"""

import math
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from cfsnn_cli.engine.connectivity import feeding
from cfsnn_cli.engine.load import model_device
from cfsnn_cli.engine.machine import ThisMachine
from cfsnn_cli.engine.model_file import ModelCheckpoint
from cfsnn_cli.engine.report import Reporter
from cfsnn_cli.engine.synops import (
    AVERAGE_POOLS,
    SPIKE_PRODUCTS,
    SYNAPSES,
    PooledEvents,
    SpikeProductTally,
    SynapseLayerProfile,
    SynapseTally,
    record_pool,
)
from cfsnn_cli.errors import CfsnnError
from cfsnn_cli.neurons import SpikingNeuron
from cfsnn_cli.neurons.layers import named_neuron_layers

# (E_MAC, E_AC) in pJ per operation: Horowitz (ISSCC 2014), 45 nm, 32-bit float, as SNN papers use;
# fp16 and int8 as SpikingJelly's operation counter presets them
ENERGY_PRESETS = {"45nm": (4.6, 0.9), "fp16": (1.5, 0.4), "int8": (0.23, 0.03)}
HISTOGRAM_BINS_PER_THRESHOLD = 4  # within ±(D+1)θ, where the neuron fires
HISTOGRAM_DOUBLINGS = 10  # beyond it, bins that double in width, out to ±(D+1)·2^10 θ
LEARNABLES = (("raw_decay", "tau"), ("raw_threshold", "threshold"))  # raw parameter → what is learnt
RASTER_NEURONS = 256  # neurons of each layer kept for the one-sample raster plot


@dataclass
class MembraneHistogram:
    """Counts of H/θ between `edges_over_threshold`: bins of 1/4 from −(D+1) to D+1, where the
    neuron fires, then bins that double in width out to ±(D+1)·2^10 (a membrane far from its
    thresholds is common: the tails are most of the data on some layers); `below` and `above`
    fall outside."""

    edges_over_threshold: list[float]
    counts: list[int]
    below: int
    above: int


def histogram_edges(levels: int) -> list[float]:
    """The edges of a layer's membrane histogram, in units of θ (see MembraneHistogram)."""
    reach = levels + 1
    inner = [k / HISTOGRAM_BINS_PER_THRESHOLD - reach for k in range(2 * HISTOGRAM_BINS_PER_THRESHOLD * reach + 1)]
    outer = [reach * 2.0**j for j in range(1, HISTOGRAM_DOUBLINGS + 1)]
    return [-edge for edge in reversed(outer)] + inner + outer


@dataclass
class NeuronLayerProfile:
    """One spiking layer over the profiled samples (docs/profiling.md defines each field)."""

    name: str
    kind: str
    fed_by: list[str]
    neurons: int
    levels: int
    bipolar: bool
    threshold: float
    beta: float
    tau: float
    alpha: list[float]
    learned: list[str]
    rate: float
    rate_per_step: list[float]
    positive_rate: float
    negative_rate: float
    multi_level_share: float
    saturated_share: float
    silent_neurons: int
    always_firing_neurons: int
    mean_relu_h: float
    mean_relu_neg_h: float
    pn_imbalance: float
    histogram: MembraneHistogram
    raster: list[list[int]] = field(default_factory=list, repr=False)  # [T][≤ RASTER_NEURONS] of sample 0


@dataclass
class Energy:
    """E = E_MAC·MACs + E_AC·SynOps per sample, in pJ."""

    preset: str
    e_mac_pj: float
    e_ac_pj: float
    mac_pj: float
    ac_pj: float
    total_pj: float


@dataclass
class SpikeProfile:
    """The whole profile; `to_dict` is the JSON that `cfsnn profile-spikes --json` writes."""

    samples: int
    timesteps: int
    layers: list[NeuronLayerProfile]
    synapses: list[SynapseLayerProfile]
    synops: float
    macs: float
    dense_macs: float
    bias_adds: float
    neuron_updates: float
    firing_rate: float
    activation_sparsity: float
    energy: Energy

    def to_dict(self) -> dict:
        """Every number (the raster, a plotting aid, left out), NaN and ∞ written as null."""
        data = asdict(self)
        for layer in data["layers"]:
            del layer["raster"]
        return _finite_or_none(data)


def _finite_or_none(value):
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: _finite_or_none(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_finite_or_none(item) for item in value]
    return value


def energy_of(macs: float, synops: float, preset: str = "45nm", e_mac: float | None = None, e_ac: float | None = None):
    """The energy estimate; `e_mac`/`e_ac` (pJ) replace the preset's where given."""
    preset_mac, preset_ac = ENERGY_PRESETS[preset]
    e_mac = preset_mac if e_mac is None else e_mac
    e_ac = preset_ac if e_ac is None else e_ac
    name = preset if (e_mac, e_ac) == ENERGY_PRESETS[preset] else "custom"
    return Energy(name, e_mac, e_ac, e_mac * macs, e_ac * synops, e_mac * macs + e_ac * synops)


class _NeuronTally:
    """Sums for one spiking layer, updated batch by batch (memory independent of the sample count)."""

    def __init__(self, name: str, neuron: SpikingNeuron):
        self.name, self.neuron = name, neuron
        self.samples = 0
        self.events_per_step = self.positive_per_step = self.negative_per_step = None
        self.nonzero = self.multi_level = self.saturated = 0
        self.fired_ever = self.fired_always = None
        self.relu_h = self.relu_neg_h = 0.0
        self.raster: list[list[int]] = []
        self.edges = histogram_edges(neuron.rule.levels)
        # one count below the first edge, one per bin, one above the last
        self.histogram = torch.zeros(len(self.edges) + 1, dtype=torch.float64)
        self.fed_by: list[str] = []

    def add(self, x_seq: torch.Tensor, spikes: torch.Tensor, feedback: nn.Module | None = None) -> None:
        """One batch: the layer's input x_seq [T, B, ...] and spikes, and a recurrent layer's feedback."""
        neuron, levels = self.neuron, self.neuron.rule.levels
        x_seq, spikes = x_seq.detach().float(), spikes.detach().float()
        steps, batch = spikes.shape[:2]
        threshold = float(neuron.threshold_value().detach())
        edges = torch.tensor(self.edges, dtype=torch.float64, device=x_seq.device)
        v = neuron.initial_state(x_seq[0])
        magnitudes = spikes.abs()
        for t in range(steps):  # the membrane H_t is not kept by the kernel: recompute it from X
            x_t = x_seq[t]
            if feedback is not None:  # `forward`, not a call: the synapse hooks counted it in the pass
                x_t = x_t + feedback.forward(spikes[t - 1] if t else torch.zeros_like(x_t))
            h = neuron.charge(x_t, v)
            _, v = neuron.fire_and_reset(h)
            self.relu_h += float(h.clamp_min(0).sum(dtype=torch.float64))
            self.relu_neg_h += float(h.neg().clamp_min(0).sum(dtype=torch.float64))
            ratio = (h / threshold).flatten().double()
            where = torch.bucketize(ratio, edges, right=True)  # 0: below the first edge
            self.histogram += torch.bincount(where, minlength=len(self.histogram)).double().cpu()
        per_step = magnitudes.flatten(1).sum(1, dtype=torch.float64)
        positive = spikes.clamp_min(0).flatten(1).sum(1, dtype=torch.float64)
        negative = spikes.neg().clamp_min(0).flatten(1).sum(1, dtype=torch.float64)
        if self.events_per_step is None:
            self.events_per_step, self.positive_per_step, self.negative_per_step = per_step, positive, negative
            self.fired_ever = torch.zeros(spikes.shape[2:], dtype=torch.bool, device=spikes.device)
            self.fired_always = torch.ones(spikes.shape[2:], dtype=torch.bool, device=spikes.device)
            self.raster = spikes[:, 0].flatten(1)[:, :RASTER_NEURONS].int().tolist()
        else:
            self.events_per_step += per_step
            self.positive_per_step += positive
            self.negative_per_step += negative
        fired = spikes != 0
        self.nonzero += int(fired.sum())
        self.multi_level += int((magnitudes >= 2).sum())
        self.saturated += int((magnitudes == levels).sum())
        self.fired_ever |= fired.any(1).any(0)
        self.fired_always &= fired.all(1).all(0)
        self.samples += batch

    def result(self) -> NeuronLayerProfile:
        neuron, rule = self.neuron, self.neuron.rule
        neurons = int(self.fired_ever.numel())
        steps = len(self.events_per_step)
        outputs = self.samples * neurons * steps
        per_step = (self.events_per_step / (self.samples * neurons)).tolist()
        beta = float(neuron.decay_value().detach())
        alpha = neuron.surrogate.alpha_values().detach().double().tolist()
        learned = [label for attribute, label in LEARNABLES if hasattr(neuron, attribute)]
        learned += ["alpha"] if neuron.surrogate.learnable != "none" else []
        balance = self.relu_h + self.relu_neg_h
        below, *counts, above = (int(c) for c in self.histogram.tolist())
        return NeuronLayerProfile(
            name=self.name,
            kind=type(neuron).__name__,
            fed_by=self.fed_by,
            neurons=neurons,
            levels=rule.levels,
            bipolar=rule.bipolar,
            threshold=float(neuron.threshold_value().detach()),
            beta=beta,
            tau=1 / (1 - beta) if beta < 1 else math.inf,
            alpha=alpha,
            learned=learned,
            rate=float(self.events_per_step.sum()) / outputs,
            rate_per_step=per_step,
            positive_rate=float(self.positive_per_step.sum()) / outputs,
            negative_rate=float(self.negative_per_step.sum()) / outputs,
            multi_level_share=self.multi_level / self.nonzero if self.nonzero else 0.0,
            saturated_share=self.saturated / self.nonzero if self.nonzero else 0.0,
            silent_neurons=int((~self.fired_ever).sum()),
            always_firing_neurons=int(self.fired_always.sum()),
            mean_relu_h=self.relu_h / outputs,
            mean_relu_neg_h=self.relu_neg_h / outputs,
            pn_imbalance=(self.relu_h - self.relu_neg_h) / balance if balance else 0.0,
            histogram=MembraneHistogram(self.edges, counts, below, above),
            raster=self.raster,
        )


def _record_feeding(model, x_seq, neurons: dict, synapses: dict, products: dict) -> None:
    """Give each neuron tally the synapse layers that feed it (engine/connectivity.py)."""
    fed = feeding(
        model,
        x_seq,
        {module: tally.name for module, tally in neurons.items()},
        {module: tally.name for module, tally in [*synapses.items(), *products.items()]},
    )
    for tally in neurons.values():
        tally.fed_by = fed[tally.name]


def profile_model(
    model: nn.Module,
    batches: Iterable[tuple[torch.Tensor, Any]],
    samples: int | None = None,
    energy: str = "45nm",
    e_mac: float | None = None,
    e_ac: float | None = None,
    reporter: Reporter | None = None,
) -> SpikeProfile:
    """Profile `model` over `batches` of (x_seq [T, B, ...], labels), in eval mode, without gradients.

    Args:
        model: any cfsnn model; its spiking layers are the `SpikingNeuron` modules, its synapses the
            Linear and Conv1d/2d/3d modules, all named by their module path.
        batches: an iterable of (x_seq, labels), e.g. a DataLoader; x_seq is moved to the model's device.
        samples: stop after this many samples (the last batch is cut); None profiles every batch.
        energy: the preset for E_MAC and E_AC ("45nm", "fp16" or "int8").
        e_mac: E_MAC in pJ, replacing the preset's.
        e_ac: E_AC in pJ, replacing the preset's.
        reporter: told about progress after every batch.
    """
    reporter = reporter or Reporter()
    names = {module: name for name, module in model.named_modules()}
    neurons = {m: _NeuronTally(name, m) for name, m in named_neuron_layers(model)}
    synapses = {m: SynapseTally(names[m], m) for m in model.modules() if isinstance(m, SYNAPSES)}
    products = {m: SpikeProductTally(names[m], m) for m in model.modules() if isinstance(m, SPIKE_PRODUCTS)}
    pooled = PooledEvents()

    def counting_hooks() -> list:
        hooks = [
            m.register_forward_hook(lambda m, i, k, o: neurons[m].add(i[0], o, k.get("feedback")), with_kwargs=True)
            for m in neurons
        ]
        hooks += [m.register_forward_hook(lambda m, i, o: synapses[m].add(i[0], o, pooled)) for m in synapses]
        hooks += [m.register_forward_hook(lambda m, i, o: products[m].add(i)) for m in products]
        return hooks + [
            m.register_forward_hook(lambda m, i, o: record_pool(pooled, m, i[0], o))
            for m in model.modules()
            if isinstance(m, AVERAGE_POOLS)
        ]

    hooks: list = []
    device = model_device(model)
    total = len(batches) if hasattr(batches, "__len__") else 0
    batch_size = getattr(batches, "batch_size", None) or getattr(
        getattr(batches, "batch_sampler", None), "batch_size", 0
    )
    if samples is not None and total and batch_size:  # the batches that `samples` will actually use
        total = min(total, math.ceil(samples / batch_size))
    seen, steps = 0, 0
    model.eval()
    try:
        with torch.no_grad():
            for index, (x_seq, _) in enumerate(batches):
                if samples is not None:
                    x_seq = x_seq[:, : samples - seen]
                if index == 0:  # one sample's pass for the graph, before anything is counted
                    _record_feeding(model, x_seq[:, :1].to(device), neurons, synapses, products)
                    hooks = counting_hooks()
                model(x_seq.to(device))
                pooled.clear()
                seen += x_seq.shape[1]
                steps = x_seq.shape[0]
                reporter.evaluation_progress(index + 1, total)
                if samples is not None and seen >= samples:
                    break
    finally:
        for hook in hooks:
            hook.remove()
    if seen == 0:
        raise CfsnnError("data", "the split holds no samples to profile")
    # a spiking layer the forward pass never reached (a branch not taken) has nothing to report
    layers = [tally.result() for tally in neurons.values() if tally.samples]
    connections = [tally.result(seen) for tally in [*synapses.values(), *products.values()]]
    for connection in connections:
        connection.feeds = [layer.name for layer in layers if connection.name in layer.fed_by]
    synops = sum(s.synops for s in connections)
    macs = sum(s.macs for s in connections)
    outputs = sum(layer.neurons * steps for layer in layers)
    events = sum(t.nonzero for t in neurons.values() if t.samples)
    return SpikeProfile(
        samples=seen,
        timesteps=steps,
        layers=layers,
        synapses=connections,
        synops=synops,
        macs=macs,
        dense_macs=sum(s.dense_macs for s in connections),
        bias_adds=sum(s.bias_adds for s in connections),
        neuron_updates=float(outputs),
        firing_rate=sum(layer.rate * layer.neurons * steps for layer in layers) / outputs if outputs else 0.0,
        activation_sparsity=1 - events / (outputs * seen) if outputs else 1.0,
        energy=energy_of(macs, synops, energy, e_mac, e_ac),
    )


def profile_checkpoint(
    path: str | Path,
    *,
    machine: ThisMachine | None = None,
    split: str = "test",
    samples: int | None = None,
    timesteps: int | None = None,
    batch_size: int | None = None,
    energy: str | None = None,
    e_mac: float | None = None,
    e_ac: float | None = None,
    reporter: Reporter | None = None,
) -> tuple[ModelCheckpoint, SpikeProfile]:
    """Load a checkpoint (as `eval` does) and profile it on a split of its dataset.

    Args:
        path: a `.safetensors` checkpoint, or a run folder (its model.safetensors).
        machine: this machine's settings (`ThisMachine`), as for `evaluate_checkpoint`.
        split: "test" or "train" (without augmentation).
        samples: profile the first N samples of the split; None profiles all of it.
        timesteps: profile at this T instead of the recipe's; None keeps it.
        batch_size: samples per batch; None keeps the recipe's `data.eval_batch_size`.
        energy: the preset for E_MAC and E_AC ("45nm", "fp16" or "int8"); None: "int8" for a
            model trained with `[quantize]` (an integer bundle included), else "45nm".
        e_mac: E_MAC in pJ, replacing the preset's.
        e_ac: E_AC in pJ, replacing the preset's.
        reporter: told about progress.

    Returns:
        The checkpoint and its `SpikeProfile`. An integer bundle is profiled through the
        fake-quantised model rebuilt from it, whose spikes are the integer program's.
    """
    from cfsnn_cli.engine.load import open_checkpoint

    opened = open_checkpoint(path, machine)
    if energy is None:
        energy = "int8" if opened.checkpoint.recipe.quantize.enabled else "45nm"
    with opened.batches(split, timesteps, batch_size) as (_, _, loader):
        profile = profile_model(opened.model, loader, samples, energy, e_mac, e_ac, reporter)
    return opened.checkpoint, profile
