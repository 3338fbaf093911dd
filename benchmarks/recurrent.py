"""Forward+backward of one recurrent spiking layer: cfsnn's step-by-step path against the plain
autograd loop, SpikingJelly's LinearRecurrentContainer and cfsnn's feed-forward kernels (the
price of the recurrence): one script, one process, one table.

    python benchmarks/recurrent.py                 # CPU, float32, 2 threads, both shapes
    python benchmarks/recurrent.py --repeats 15 --json recurrent.json

Every row maps x [T, B, D] to spikes [T, B, D] with D recurrent neurons fed x_t + W·N_{t−1}
(W a D × D weight, N_0 = 0), LIF τ = 2, soft reset, threshold 1, sigmoid surrogate α = 4, and
receives a dense N(0, 1) gradient; the gradient reaches x and W.

Rows:
- cfsnn stepwise: `RecurrentSpiking(D, LIFNeuron(...))`, the layer the `rsnn` model stacks (the
  count one autograd Function per step with the surrogate's closed-form backward, the charge and
  reset plain tensor operations); also with the CF neuron (levels 1, bipolar, α per step).
- plain autograd loop: the same equations through cfsnn_cli/neurons/reference.py, whose count is a
  straight-through sum of Heaviside crossings and smooth surrogate counts (what a user writes).
- SpikingJelly: `LinearRecurrentContainer(LIFNode(step_mode="s"), D, D, bias=False)` in multi-step
  mode, as its users run it. Its Linear acts on the concatenation [x_t, N_{t−1}] (a D × 2D weight),
  so it does one D × D product per step more than the others: that is its design, kept.
- cfsnn feed-forward, torch / numba: the same neuron without the recurrence through the
  whole-sequence kernels, the floor under what a recurrent layer can cost.

Columns: ms, the median of interleaved rounds (common.interleaved_timing); × loop, the plain
loop's time for the same neuron ÷ this row's; × SJ, SpikingJelly's ÷ this row's (above 1 = faster).
"""

import argparse
import json
from collections.abc import Callable
from pathlib import Path

import torch
from common import interleaved_timing, machine_description
from rich.console import Console
from rich.table import Table

from cfsnn_cli.models.blocks import RecurrentSpiking
from cfsnn_cli.neurons import CFNeuron, LIFNeuron
from cfsnn_cli.neurons.reference import reference_sequence
from cfsnn_cli.surrogates import build_surrogate

SHAPES = [(64, 64, 128), (16, 64, 512)]  # (T, B, D): pixel-by-pixel digits; a wide layer at DVS-like T
SJ = "SpikingJelly LinearRecurrentContainer"
CF = "cf D=1 ±, α per step"
LOOPS = {"lif": "plain autograd loop, lif", "cf": f"plain autograd loop, {CF}"}

Call = Callable[[torch.Tensor], torch.Tensor]


def lif(backend: str = "auto") -> LIFNeuron:
    return LIFNeuron(tau=2.0, surrogate=build_surrogate("sigmoid", alpha=4.0), backend=backend)


def cf(timesteps: int) -> CFNeuron:
    surrogate = build_surrogate("sigmoid", alpha=4.0, learnable="timestep", timesteps=timesteps)
    return CFNeuron(levels=1, bipolar=True, surrogate=surrogate)


def plain_loop(layer: RecurrentSpiking) -> Call:
    neuron = layer.neuron

    def call(x):
        alpha = neuron.surrogate.alpha_for(x.shape[0], x, needs_grad=True)
        beta, threshold = neuron.decay_value().to(x), neuron.threshold_value().to(x)
        return reference_sequence(x, beta, threshold, alpha, neuron.rule, feedback=layer.recurrent)[0]

    return call


def spikingjelly_recurrent(width: int) -> Call | None:
    try:
        from spikingjelly.activation_based import functional, layer, neuron, surrogate
    except ImportError:
        return None
    node = neuron.LIFNode(tau=2.0, decay_input=False, v_reset=None, surrogate_function=surrogate.Sigmoid(alpha=4.0))
    container = layer.LinearRecurrentContainer(node, width, width, bias=False, step_mode="m")

    def call(x):
        functional.reset_net(container)  # its state is module state: without this the runs would chain
        return container(x)

    return call


def rows(timesteps: int, width: int) -> dict[str, Call]:
    """Every row's forward that is available here, in table order."""
    found = {
        "cfsnn stepwise, lif": RecurrentSpiking(width, lif()),
        LOOPS["lif"]: plain_loop(RecurrentSpiking(width, lif())),
        f"cfsnn stepwise, {CF}": RecurrentSpiking(width, cf(timesteps)),
        LOOPS["cf"]: plain_loop(RecurrentSpiking(width, cf(timesteps))),
        SJ: spikingjelly_recurrent(width),
        "cfsnn feed-forward lif, torch kernel": lif("torch"),
        "cfsnn feed-forward lif, numba kernel": lif("numba"),
    }
    return {name: call for name, call in found.items() if call is not None}


def forward_backward(call: Call, x: torch.Tensor, grad: torch.Tensor) -> Callable[[], None]:
    def run():
        x.grad = None
        call(x).backward(grad)

    return run


def measure(shape: tuple[int, int, int], repeats: int) -> dict[str, float]:
    torch.manual_seed(0)
    x = (torch.randn(shape) * 1.5).requires_grad_()
    grad = torch.randn(shape)
    runs = {name: forward_backward(call, x, grad) for name, call in rows(shape[0], shape[2]).items()}
    timing = interleaved_timing(runs, repeats)
    return {name: seconds * 1e3 for name, seconds in timing.medians.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    console = Console()
    console.print(machine_description())
    results = {}
    for shape in SHAPES:
        milliseconds = measure(shape, args.repeats)
        results["x".join(map(str, shape))] = milliseconds
        table = Table(title=f"recurrent layer, T×B×D = {' × '.join(map(str, shape))}, forward+backward")
        for column in ("row", "ms", "× loop", "× SJ"):
            table.add_column(column, justify="left" if column == "row" else "right")
        for name, ms in milliseconds.items():
            versus_sj = f"{milliseconds[SJ] / ms:.2f}" if SJ in milliseconds else "-"
            loop = milliseconds[LOOPS["cf" if CF in name else "lif"]]
            table.add_row(name, f"{ms:.1f}", f"{loop / ms:.2f}", versus_sj)
        console.print(table)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
