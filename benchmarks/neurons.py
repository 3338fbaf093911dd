"""Forward+backward time and memory of the neuron kernel against the plain autograd reference and
SpikingJelly's LIFNode, side by side in one process.

    python benchmarks/neurons.py                 # CPU, float32, the shapes of issue 2
    python benchmarks/neurons.py --device cuda --json results.json

Memory is what autograd keeps for backward (exact, any device); on CUDA the allocator's peak is
printed too. Ratios are reference ÷ cfsnn (above 1 = cfsnn faster or leaner).
"""

import argparse
import json
import math

import torch
from common import cuda_peak_bytes, median_seconds, saved_for_backward_bytes
from rich.console import Console
from rich.table import Table

from cfsnn_cli.neurons import CFNeuron, LIFNeuron
from cfsnn_cli.neurons.reference import reference_sequence
from cfsnn_cli.surrogates import build_surrogate

SHAPES = [(4, 32, 64, 32, 32), (8, 16, 128, 16, 16)]


def mib(size_bytes: float) -> str:
    return f"{size_bytes / 2**20:.0f}"


def neurons_under_test(timesteps: int):
    return {
        "cf D=1 ±, α per step": CFNeuron(
            levels=1, bipolar=True, surrogate=build_surrogate("sigmoid", learnable="timestep", timesteps=timesteps)
        ),
        "cf D=3 ±, α per step": CFNeuron(
            levels=3, bipolar=True, surrogate=build_surrogate("sigmoid", learnable="timestep", timesteps=timesteps)
        ),
        "lif soft": LIFNeuron(tau=2.0, surrogate=build_surrogate("sigmoid", alpha=4.0)),
    }


def spikingjelly_lif(device):
    """SpikingJelly's LIFNode with cfsnn's LIF settings, or None where it is not installed."""
    try:
        from spikingjelly.activation_based import functional, neuron, surrogate
    except ImportError:
        return None
    node = neuron.LIFNode(
        tau=2.0, decay_input=False, v_reset=None, surrogate_function=surrogate.Sigmoid(alpha=4.0), step_mode="m"
    ).to(device)

    def call(x):
        functional.reset_net(node)  # its membrane is module state: without this the runs would chain
        return node(x)

    return call


def forward_backward(call, x):
    def run():
        x.grad = None
        call(x).sum().backward()

    return run


def measure(call, x, repeats, device):
    seconds = median_seconds(forward_backward(call, x), repeats, device)
    saved = saved_for_backward_bytes(lambda: call(x))
    peak = cuda_peak_bytes(forward_backward(call, x), device)
    return {"seconds": seconds, "saved_bytes": saved, "cuda_peak_bytes": peak}


def reference_call(neuron):
    def call(x):
        alpha = neuron.surrogate.alpha_for(x.shape[0], x, needs_grad=True)
        cast = {"device": x.device, "dtype": x.dtype}
        spikes, _, _ = reference_sequence(
            x, neuron.decay_value().to(**cast), neuron.threshold_value().to(**cast), alpha, neuron.rule
        )
        return spikes

    return call


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--json", dest="json_path", default=None)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    console = Console(width=None if Console().is_terminal else 160)
    rows = []
    for shape in SHAPES:
        x = (torch.randn(shape, device=device) * 1.5).requires_grad_()
        contenders = {
            name: (n.to(device), reference_call(n.to(device))) for name, n in neurons_under_test(shape[0]).items()
        }
        sj = spikingjelly_lif(device)
        for name, (neuron, reference) in contenders.items():
            ours = measure(neuron, x, args.repeats, device)
            ref = measure(reference, x, args.repeats, device)
            peer = measure(sj, x, args.repeats, device) if (sj is not None and name.startswith("lif")) else None
            rows.append({"shape": list(shape), "neuron": name, "cfsnn": ours, "reference": ref, "spikingjelly": peer})

    table = Table(title=f"neuron forward+backward, float32, {device} ({torch.get_num_threads()} threads)")
    for column in (
        "shape",
        "neuron",
        "cfsnn ms",
        "ref ms",
        "ref/cfsnn time",
        "cfsnn saved MiB",
        "ref saved MiB",
        "ref/cfsnn memory",
        "SJ ms",
        "SJ/cfsnn time",
        "SJ/cfsnn memory",
    ):
        table.add_column(column, justify="right" if column not in ("neuron",) else "left")
    for row in rows:
        ours, ref, peer = row["cfsnn"], row["reference"], row["spikingjelly"]
        table.add_row(
            "×".join(map(str, row["shape"])),
            row["neuron"],
            f"{ours['seconds'] * 1e3:.0f}",
            f"{ref['seconds'] * 1e3:.0f}",
            f"{ref['seconds'] / ours['seconds']:.2f}",
            mib(ours["saved_bytes"]),
            mib(ref["saved_bytes"]),
            f"{ref['saved_bytes'] / ours['saved_bytes']:.2f}",
            f"{peer['seconds'] * 1e3:.0f}" if peer else "-",
            f"{peer['seconds'] / ours['seconds']:.2f}" if peer else "-",
            f"{peer['saved_bytes'] / ours['saved_bytes']:.2f}" if peer else "-",
        )
    console.print(table)
    if device.type == "cuda":
        for row in rows:
            console.print(
                f"{row['neuron']} {row['shape']}: CUDA peak cfsnn {mib(row['cfsnn']['cuda_peak_bytes'])} MiB, "
                f"reference {mib(row['reference']['cuda_peak_bytes'])} MiB"
            )
    if args.json_path:
        with open(args.json_path, "w") as handle:
            json.dump(
                {"device": str(device), "threads": torch.get_num_threads(), "torch": torch.__version__, "rows": rows},
                handle,
                indent=2,
            )
    assert not any(math.isnan(r["cfsnn"]["seconds"]) for r in rows)


if __name__ == "__main__":
    main()
