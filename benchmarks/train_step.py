"""Training-step throughput of the same conv net built from cfsnn's layers and from SpikingJelly's,
side by side in one process.

    python benchmarks/train_step.py                           # T = 4, batch 32, 2×32×32 inputs, 2 threads
    python benchmarks/train_step.py --repeats 15 --json train_step.json

The net is cfsnn's `convnet` model (cfsnn_cli.models): conv3×3 → BN → neuron → avgpool 2 for 32
and 64 channels, then Linear 4096 → 128 → neuron → Linear 10, with cfsnn's CF neuron (levels 1,
bipolar, sigmoid surrogate with one learnable α per step, the recipes' default neuron) or LIF.
SpikingJelly's twin has the same layers from spikingjelly.activation_based.layer in multi-step mode
and its LIFNode (τ = 2, decay_input=False, soft reset, Sigmoid(α = 4)). A step is forward,
cross-entropy of the time-averaged logits, backward and an SGD step (momentum 0.9) on a fixed batch
of random inputs; samples per second = batch ÷ the median step time over interleaved rounds.

Rows: cfsnn fp32 with its default backend ("auto": the fused numba kernel on the CPU) and with
backend="torch"; cfsnn under bf16 autocast with channels_last weights (what `train.precision =
"bf16"` and `train.channels_last` do); cfsnn with LIF, the same neuron model as SpikingJelly's;
SpikingJelly fp32. SpikingJelly is installed with `pip install --no-deps spikingjelly==2.0.0` (its
package pins torchaudio).
"""

import argparse
import json
from collections.abc import Callable
from contextlib import nullcontext

import torch
from common import interleaved_timing, machine_description
from rich.console import Console
from rich.table import Table
from torch import nn

from cfsnn_cli.models import MODELS
from cfsnn_cli.neurons import CFNeuron, LIFNeuron
from cfsnn_cli.surrogates import build_surrogate

INPUT_SHAPE = (2, 32, 32)  # two polarity channels, as event frames
CLASSES = 10
SJ = "SpikingJelly, LIFNode"


def cfsnn_net(neuron: str, timesteps: int, backend: str) -> nn.Module:
    def cf():
        surrogate = build_surrogate("sigmoid", alpha=4.0, learnable="timestep", timesteps=timesteps)
        return CFNeuron(levels=1, bipolar=True, surrogate=surrogate, backend=backend)

    def lif():
        return LIFNeuron(tau=2.0, surrogate=build_surrogate("sigmoid", alpha=4.0), backend=backend)

    return MODELS.get("convnet")(INPUT_SHAPE, CLASSES, cf if neuron == "cf" else lif)


def spikingjelly_net() -> tuple[nn.Module, Callable[[], None]] | None:
    """The same layers from SpikingJelly, and the reset its module state needs before every step."""
    try:
        from spikingjelly.activation_based import functional, layer, neuron, surrogate
    except ImportError:
        return None

    def lif():
        return neuron.LIFNode(tau=2.0, decay_input=False, v_reset=None, surrogate_function=surrogate.Sigmoid(alpha=4.0))

    net = nn.Sequential(
        layer.Conv2d(INPUT_SHAPE[0], 32, 3, padding=1, bias=False),
        layer.BatchNorm2d(32),
        lif(),
        layer.AvgPool2d(2),
        layer.Conv2d(32, 64, 3, padding=1, bias=False),
        layer.BatchNorm2d(64),
        lif(),
        layer.AvgPool2d(2),
        layer.Flatten(),
        layer.Linear(64 * (INPUT_SHAPE[1] // 4) * (INPUT_SHAPE[2] // 4), 128),
        lif(),
        layer.Linear(128, CLASSES),
    )
    functional.set_step_mode(net, "m")
    return net, lambda: functional.reset_net(net)


def training_step(net, x_seq, labels, device, bf16=False, before=None) -> Callable[[], None]:
    optimizer = torch.optim.SGD(net.parameters(), lr=0.05, momentum=0.9)
    precision = torch.autocast(device.type, dtype=torch.bfloat16) if bf16 else nullcontext()

    def step():
        if before is not None:
            before()
        optimizer.zero_grad(set_to_none=True)
        with precision:
            logits = net(x_seq)
            loss = nn.functional.cross_entropy(logits.mean(0).float(), labels)
        loss.backward()
        optimizer.step()

    return step


def contenders(timesteps: int, device: torch.device, x_seq, labels) -> dict[str, Callable[[], None]]:
    steps = {}
    for name, neuron, backend, bf16 in (
        ("cfsnn, CF D=1 ±, fp32", "cf", "auto", False),
        ("cfsnn, CF D=1 ±, fp32, backend=torch", "cf", "torch", False),
        ("cfsnn, CF D=1 ±, bf16 autocast + channels_last", "cf", "auto", True),
        ("cfsnn, LIF, fp32", "lif", "auto", False),
    ):
        net = cfsnn_net(neuron, timesteps, backend).to(device)
        if bf16:
            net = net.to(memory_format=torch.channels_last)
        steps[name] = training_step(net, x_seq, labels, device, bf16=bf16)
    peer = spikingjelly_net()
    if peer is not None:
        net, reset = peer
        steps[SJ] = training_step(net.to(device), x_seq, labels, device, before=reset)
    return steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--timesteps", type=int, default=4)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=9, help="interleaved rounds; the median is reported")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads (numba follows)")
    parser.add_argument("--json", dest="json_path", default=None)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    device = torch.device(args.device)
    x_seq = torch.rand(args.timesteps, args.batch, *INPUT_SHAPE, device=device).lt(0.2).float()  # sparse frames
    labels = torch.randint(CLASSES, (args.batch,), device=device)

    console = Console(width=None if Console().is_terminal else 150)
    with console.status("timing training steps"):
        timing = interleaved_timing(contenders(args.timesteps, device, x_seq, labels), args.repeats, device=device)
    medians = timing.medians
    machine = machine_description(device)
    table = Table(title=f"convnet training step, T = {args.timesteps}, batch {args.batch}, {machine}")
    for column in ("net", "ms / step", "samples / s", "× SJ"):
        table.add_column(column, justify="left" if column == "net" else "right")
    sj = medians.get(SJ)
    for name, seconds in medians.items():
        table.add_row(name, f"{seconds * 1e3:.1f}", f"{args.batch / seconds:.0f}", f"{sj / seconds:.2f}" if sj else "-")
    console.print(table)
    console.print(
        f"{timing.describe()}. × SJ: SpikingJelly's step time ÷ this row's (above 1 = more samples per second)."
    )
    if args.json_path:
        rows = [{"net": name, "seconds": s, "samples_per_second": args.batch / s} for name, s in medians.items()]
        with open(args.json_path, "w") as handle:
            json.dump(
                {
                    "machine": machine,
                    "timesteps": args.timesteps,
                    "batch": args.batch,
                    "timing": timing.describe(),
                    "rows": rows,
                },
                handle,
                indent=2,
            )


if __name__ == "__main__":
    main()
