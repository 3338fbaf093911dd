"""Synaptic operations: what each conv or linear layer fed by spikes costs, counted per input
element by its exact fan-out (docs/profiling.md, "Synapse layers"). Average pooling of spikes is
folded into the next layer, as event-driven hardware does, so the events behind it are kept."""

import math
from dataclasses import dataclass, field

import torch
from torch import nn
from torch.nn import functional

from cfsnn_cli.models.transformer import HadamardTokenSum, SpikeAttention, SpikeMask

SYNAPSES = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)
AVERAGE_POOLS = (
    nn.AvgPool1d,
    nn.AvgPool2d,
    nn.AvgPool3d,
    nn.AdaptiveAvgPool1d,
    nn.AdaptiveAvgPool2d,
    nn.AdaptiveAvgPool3d,
)
# modules that multiply two activation tensors: the spiking transformers' attention products
SPIKE_PRODUCTS = (SpikeAttention, HadamardTokenSum, SpikeMask)
CONVOLUTIONS = {nn.Conv1d: functional.conv1d, nn.Conv2d: functional.conv2d, nn.Conv3d: functional.conv3d}


@dataclass
class SynapseLayerProfile:
    """One conv or linear layer, per sample: `input` is "spikes" (integer-valued, or average-pooled
    spikes), "real", "mixed" (both, in different calls) or "none" (never called); `feeds`, the
    spiking layers its output reaches first (engine/connectivity.py)."""

    name: str
    kind: str
    input: str
    synops: float
    macs: float
    dense_macs: float
    bias_adds: float
    feeds: list[str] = field(default_factory=list)


class PooledEvents:
    """Average pooling of a spike map is linear: on event-driven hardware it is folded into the next
    layer's weights, and each spike under a pooling window is delivered to every output that the
    pooled element reaches. So for the output of an average pool fed by spikes, this keeps the
    number of events behind each pooled element (the pool of |N| times the window's size); a
    synapse fed by that output (through views such as Flatten) is charged those events."""

    def __init__(self):
        self.by_address: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}

    def record(self, pooled: torch.Tensor, events: torch.Tensor) -> None:
        # the pooled tensor is held, so its memory cannot be reused by another tensor in this pass
        self.by_address[pooled.data_ptr()] = (pooled, events)

    def events_behind(self, x: torch.Tensor) -> torch.Tensor | None:
        """The event counts behind `x` if it is (a view of) a recorded pooled spike map."""
        entry = self.by_address.get(x.data_ptr())
        if entry is None or entry[0].numel() != x.numel():
            return None
        return entry[1].reshape(x.shape)

    def clear(self) -> None:
        self.by_address.clear()


def window_size(module: nn.Module, x: torch.Tensor, pooled: torch.Tensor) -> int | None:
    """How many inputs every window of an average pool averages, or None where windows differ (an
    adaptive pool whose sizes do not divide, padding left out of the count, ceil mode, a divisor
    override): the layer after such a pool is then charged MACs, as for any real-valued input."""
    spatial = x.dim() - 2
    if hasattr(module, "kernel_size"):
        padded = any(p != 0 for p in _per_dim(module.padding, spatial))
        if (padded and not module.count_include_pad) or module.ceil_mode or getattr(module, "divisor_override", None):
            return None
        return math.prod(_per_dim(module.kernel_size, spatial))
    sizes_in, sizes_out = x.shape[2:], pooled.shape[2:]
    if any(size % out for size, out in zip(sizes_in, sizes_out, strict=True)):
        return None
    return math.prod(size // out for size, out in zip(sizes_in, sizes_out, strict=True))


def _per_dim(value, dims: int) -> tuple[int, ...]:
    return tuple(value) if isinstance(value, tuple | list) else (value,) * dims


def events_under_pool(module: nn.Module, x: torch.Tensor, pooled: torch.Tensor) -> torch.Tensor:
    """Σ|N| under each pooling window: the same pool of |x| times the window's size (padding counts
    as zeros, so the average's divisor is always the window's size where `window_size` allows it)."""
    window = window_size(module, x, pooled)
    return module.forward(x.detach().abs().float()) * window  # forward(): not through this hook again


def synaptic_operations(module: nn.Module, x: torch.Tensor) -> float:
    """Σ over input elements of |x| × the number of outputs that element reaches (its exact fan-out,
    padding and stride included): the same layer run on |x| with every weight 1 and no bias, summed.
    `x` may also be event counts (PooledEvents), which are charged the same way."""
    magnitudes = x.detach().abs().float()
    if isinstance(module, nn.Linear):
        return float(magnitudes.sum(dtype=torch.float64)) * module.out_features
    # by kind, not exact type: a quantised conv (quant/synapse.py) counts as the conv it is
    convolve = next(function for kind, function in CONVOLUTIONS.items() if isinstance(module, kind))
    ones = torch.ones_like(module.weight, dtype=torch.float32)
    reached = convolve(magnitudes, ones, None, module.stride, module.padding, module.dilation, module.groups)
    return float(reached.sum(dtype=torch.float64))


class SynapseTally:
    def __init__(self, name: str, module: nn.Module):
        self.name, self.module = name, module
        self.inputs: set[str] = set()
        self.synops = self.macs = self.dense_macs = self.bias_adds = 0.0

    def add(self, x: torch.Tensor, y: torch.Tensor, pooled: PooledEvents) -> None:
        fan_in = self.module.weight[0].numel()  # inputs summed into one output
        dense = float(y.numel()) * fan_in
        self.dense_macs += dense
        if getattr(self.module, "bias", None) is not None:
            self.bias_adds += float(y.numel())
        events = pooled.events_behind(x)  # first: a pooled map of uniform windows is whole numbers too
        if events is None and is_integer_valued(x):
            events = x
        if events is not None:  # spikes (and event counts): each unit of |x| is one accumulate
            self.inputs.add("spikes")
            self.synops += synaptic_operations(self.module, events)
        else:
            self.inputs.add("real")
            self.macs += dense

    def result(self, samples: int) -> SynapseLayerProfile:
        kind = type(self.module).__name__
        source = self.inputs.pop() if len(self.inputs) == 1 else ("mixed" if self.inputs else "none")
        return SynapseLayerProfile(
            self.name,
            kind,
            source,
            self.synops / samples,
            self.macs / samples,
            self.dense_macs / samples,
            self.bias_adds / samples,
        )


def is_integer_valued(x: torch.Tensor) -> bool:
    return bool(torch.equal(x, x.round()))


def record_pool(pooled: PooledEvents, module: nn.Module, x: torch.Tensor, y: torch.Tensor) -> None:
    events = pooled.events_behind(x)
    if events is None and is_integer_valued(x):
        events = x
    if events is not None and window_size(module, x, y) is not None:
        pooled.record(y, events_under_pool(module, events, y))


# -- products of two spike tensors (the spiking transformers' attention) ------------------------------


def _summed_product(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a.abs() @ b.abs()).sum(dtype=torch.float64))


def spike_product_operations(module: nn.Module, inputs: tuple[torch.Tensor, ...]) -> tuple[float, float]:
    """(SynOps, dense MACs) of one call of a product of integer-valued tensors, by the synapse rule:
    each unit of |a| meeting each unit of |b| is one accumulate, so a product is charged the same
    product run on the magnitudes, summed; the dense count is its multiply-accumulates. Counted in
    the order the module computes (`SpikeAttention.keys_first`); an intermediate such as Kᵀ V is
    integer-valued too, and is charged as event counts, as a synapse layer charges its input."""
    if isinstance(module, SpikeAttention):
        q, k, v = (module.heads_of(x.detach()) for x in inputs)
        kt = k.transpose(-2, -1)
        if module.keys_first(q):  # Q (Kᵀ V): [d × N]·[N × d], then [N × d]·[d × d]
            first, second = (kt, v), (q, kt @ v)
        else:  # (Q Kᵀ) V: [N × d]·[d × N], then [N × N]·[N × d]
            first, second = (q, kt), (q @ kt, v)
        dense = sum(math.prod(a.shape) * b.shape[-1] for a, b in (first, second))
        return _summed_product(*first) + _summed_product(*second), float(dense)
    a, b = (x.detach().float() for x in inputs)  # K ⊙ V summed over tokens, or Q masked
    synops = float((a.abs() * b.abs()).sum(dtype=torch.float64))
    return synops, float(torch.broadcast_shapes(a.shape, b.shape).numel())


class SpikeProductTally:
    """A product of two activation tensors (`SPIKE_PRODUCTS`) over the profiled samples, reported as a
    synapse row without bias: SynOps where both factors are integer-valued, else its dense MACs."""

    def __init__(self, name: str, module: nn.Module):
        self.name, self.module = name, module
        self.inputs: set[str] = set()
        self.synops = self.macs = self.dense_macs = 0.0

    def add(self, inputs: tuple[torch.Tensor, ...]) -> None:
        synops, dense = spike_product_operations(self.module, inputs)
        self.dense_macs += dense
        if all(is_integer_valued(x) for x in inputs):
            self.inputs.add("spikes")
            self.synops += synops
        else:
            self.inputs.add("real")
            self.macs += dense

    def result(self, samples: int) -> SynapseLayerProfile:
        source = self.inputs.pop() if len(self.inputs) == 1 else ("mixed" if self.inputs else "none")
        kind = type(self.module).__name__
        return SynapseLayerProfile(
            self.name, kind, source, self.synops / samples, self.macs / samples, self.dense_macs / samples, 0.0
        )
