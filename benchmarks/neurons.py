"""Forward+backward of cfsnn's neurons against the plain autograd reference, SpikingJelly's LIFNode
and snnTorch's Leaky: one script, one process, one table.

    python benchmarks/neurons.py                              # CPU, float32, 2 threads, both shapes
    python benchmarks/neurons.py --repeats 15 --json neurons.json
    python benchmarks/neurons.py --device cuda                # no numba rows; memory from CUDA's allocator

Installing the peers (both are optional: a row whose package is missing is left out):

    pip install -e ".[bench]"                     # snnTorch, and ninja for kernel_candidates.py
    pip install --no-deps spikingjelly==2.0.0     # its package pins torchaudio, which would replace torch

Rows: cfsnn's CF neuron (levels D = 1 and 3, bipolar, sigmoid surrogate with one learnable α per
step) and LIF (τ = 2, soft reset, sigmoid α = 4), each on backend="torch" (a loop of tensor
operations) and backend="numba" (the fused CPU kernel); the same neurons through the plain autograd
reference (cfsnn_cli/neurons/reference.py); SpikingJelly's multi-step LIFNode (τ = 2,
decay_input=False, v_reset=None, Sigmoid(α = 4)); snnTorch's Leaky (β = 0.5, threshold 1,
reset_mechanism="subtract", sigmoid surrogate of slope 4 like the others) run over T in a Python
loop as its users do. The input is N(0, 1.5²) so that D = 3 fires more than once; backward receives
a dense N(0, 1) gradient.

Columns:
- ms: median of interleaved rounds (every row once per round, so a busy moment on a shared
  machine touches all rows alike) of forward+backward with fresh outputs, as in training; the
  median is over the rounds in which other processes were quiet (common.interleaved_timing).
- × SJ: SpikingJelly's time ÷ this row's (above 1 = faster than SpikingJelly).
- × bound: this row's time ÷ the bandwidth bound, 24 bytes per element (x read, H and spikes
  written in forward; H and the gradient read, dX written in backward) ÷ the copy bandwidth
  measured in this process by copying a tensor of the input's size (so from the same level of the
  memory hierarchy: with a large L3 the rows' tensors stay in it, and a copy from DRAM would set a
  "bound" that the fused kernels beat).
- peak MiB: memory growth of one warm forward+backward, each row in a fresh subprocess: VmHWM after
  the call − VmRSS before it (the high-water mark reset through /proc/self/clear_refs and freed
  heap returned by malloc_trim first). On CUDA: the allocator's peak − what was allocated before.
- mem ÷ SJ: this row's peak growth ÷ SpikingJelly's (below 1 = leaner).

Threads: torch.set_num_threads(--threads, default 2); cfsnn's numba kernel follows torch's count.
"""

import argparse
import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import torch
from common import QUIET_CORES, copy_bandwidth, interleaved_timing, machine_description, peak_growth_bytes
from rich.console import Console
from rich.table import Table

from cfsnn_cli.neurons import CFNeuron, LIFNeuron
from cfsnn_cli.neurons.reference import reference_sequence
from cfsnn_cli.surrogates import build_surrogate

SHAPES = [(4, 32, 64, 32, 32), (8, 16, 128, 16, 16)]
BYTES_PER_ELEMENT = 24  # fp32 x, H, spikes in forward; H, grad, dX in backward (the fused kernel's minimum)
SJ = "SpikingJelly LIFNode"

Call = Callable[[torch.Tensor], torch.Tensor]


# -- the rows ---------------------------------------------------------------------------------------
def cfsnn_neuron(kind: str, timesteps: int, backend: str) -> torch.nn.Module:
    if kind == "lif":
        return LIFNeuron(tau=2.0, surrogate=build_surrogate("sigmoid", alpha=4.0), backend=backend)
    levels = int(kind[-1])
    surrogate = build_surrogate("sigmoid", alpha=4.0, learnable="timestep", timesteps=timesteps)
    return CFNeuron(levels=levels, bipolar=True, surrogate=surrogate, backend=backend)


def reference_call(neuron: torch.nn.Module) -> Call:
    def call(x):
        alpha = neuron.surrogate.alpha_for(x.shape[0], x, needs_grad=True)
        cast = {"device": x.device, "dtype": x.dtype}
        beta, threshold = neuron.decay_value().to(**cast), neuron.threshold_value().to(**cast)
        return reference_sequence(x, beta, threshold, alpha, neuron.rule)[0]

    return call


def spikingjelly_lif(device) -> Call | None:
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


def snntorch_leaky(device) -> Call | None:
    try:
        import snntorch
        from snntorch import surrogate
    except ImportError:
        return None
    leaky = snntorch.Leaky(
        beta=0.5, threshold=1.0, reset_mechanism="subtract", spike_grad=surrogate.sigmoid(slope=4)
    ).to(device)

    def call(x):
        membrane = leaky.init_leaky()
        spikes = []
        for x_t in x:
            spike, membrane = leaky(x_t, membrane)
            spikes.append(spike)
        return torch.stack(spikes)

    return call


NEURONS = {"cf D=1 ±, α per step": "cf1", "cf D=3 ±, α per step": "cf3", "lif soft": "lif"}


def row_names(device: torch.device) -> list[tuple[str, str]]:
    """(neuron, kernel) of every row, in table order."""
    backends = ["torch", "numba"] if device.type == "cpu" else ["torch"]  # numba runs on the CPU only
    rows = [(neuron, backend) for neuron in NEURONS for backend in backends]
    rows += [(neuron, "reference") for neuron in NEURONS]
    return [*rows, (SJ, "multi-step, torch"), ("snnTorch Leaky", "Python loop over T")]


def build_call(neuron: str, kernel: str, timesteps: int, device: torch.device) -> Call | None:
    """The forward of one row, or None where its package is not installed."""
    if neuron == SJ:
        return spikingjelly_lif(device)
    if neuron == "snnTorch Leaky":
        return snntorch_leaky(device)
    if kernel == "reference":
        return reference_call(cfsnn_neuron(NEURONS[neuron], timesteps, "torch").to(device))
    return cfsnn_neuron(NEURONS[neuron], timesteps, kernel).to(device)


def forward_backward(call: Call, x: torch.Tensor, grad: torch.Tensor) -> Callable[[], None]:
    def run():
        x.grad = None
        call(x).backward(grad)

    return run


def inputs(shape, device):
    generator = torch.Generator().manual_seed(0)
    x = (torch.randn(shape, generator=generator) * 1.5).to(device).requires_grad_()
    return x, torch.randn(shape, generator=generator).to(device)


# -- peak memory growth, in a fresh process per row --------------------------------------------------
def probe_growth(neuron: str, kernel: str, shape, device: torch.device) -> int:
    """Bytes one warm forward+backward adds at its peak (runs inside the fresh subprocess)."""
    x, grad = inputs(shape, device)
    run = forward_backward(build_call(neuron, kernel, shape[0], device), x, grad)
    run()
    run()  # warm: compiled kernels, lazy imports, first-touch of the allocator's arenas
    x.grad = None  # else the measured call frees the last dX first and its growth looks smaller by that much
    return peak_growth_bytes(run, device)


def peak_growth(neuron: str, kernel: str, shape, device: torch.device, threads: int) -> int | None:
    command = [sys.executable, __file__, "--probe", neuron, kernel, "--shape", *map(str, shape)]
    command += ["--device", str(device), "--threads", str(threads)]
    done = subprocess.run(command, capture_output=True, text=True, cwd=Path(__file__).parent)
    if done.returncode != 0:
        print(f"memory probe for {neuron} / {kernel} failed:\n{done.stderr[-2000:]}", file=sys.stderr)
        return None
    return json.loads(done.stdout.strip().splitlines()[-1])["growth_bytes"]


# -- the table ----------------------------------------------------------------------------------------
def measure(shapes, device, repeats, threads, memory, console) -> tuple[list[dict], list[str]]:
    """The table's rows, and for each shape how its medians were taken."""
    rows, timings = [], []
    for shape in shapes:
        x, grad = inputs(shape, device)
        calls = {name: build_call(*name, shape[0], device) for name in row_names(device)}
        runs = {name: forward_backward(call, x, grad) for name, call in calls.items() if call is not None}
        with console.status(f"timing {'×'.join(map(str, shape))}"):
            bandwidth = copy_bandwidth(4 * x.numel(), device)  # at the size the rows stream
            timing = interleaved_timing(runs, repeats, device=device)
        timings.append(f"{'×'.join(map(str, shape))}: {timing.describe()}, copy {bandwidth / 1e9:.1f} GB/s")
        del x, grad, calls, runs
        bound = BYTES_PER_ELEMENT * torch.Size(shape).numel() / bandwidth
        for (neuron, kernel), seconds in timing.medians.items():
            with console.status(f"peak memory of {neuron} / {kernel}"):
                growth = peak_growth(neuron, kernel, shape, device, threads) if memory else None
            rows.append(
                {
                    "shape": list(shape),
                    "neuron": neuron,
                    "kernel": kernel,
                    "seconds": seconds,
                    "copy_bandwidth_bytes_per_second": bandwidth,
                    "bandwidth_bound_seconds": bound,
                    "peak_growth_bytes": growth,
                    "timing": timing.describe(),
                }
            )
    return rows, timings


def render(rows: list[dict], title: str) -> Table:
    table = Table(title=title)
    for column in ("shape", "neuron", "kernel", "ms", "× SJ", "× bound", "peak MiB", "mem ÷ SJ"):
        table.add_column(column, justify="left" if column in ("neuron", "kernel") else "right")
    for row in rows:
        same_shape = [r for r in rows if r["shape"] == row["shape"]]
        sj = next((r for r in same_shape if r["neuron"] == SJ), None)
        growth, sj_growth = row["peak_growth_bytes"], sj and sj["peak_growth_bytes"]
        table.add_row(
            "×".join(map(str, row["shape"])),
            row["neuron"],
            row["kernel"],
            f"{row['seconds'] * 1e3:.1f}",
            f"{sj['seconds'] / row['seconds']:.2f}" if sj else "-",
            f"{row['seconds'] / row['bandwidth_bound_seconds']:.1f}",
            f"{growth / 2**20:.0f}" if growth is not None else "-",
            f"{growth / sj_growth:.2f}" if growth is not None and sj_growth else "-",
            end_section=row is same_shape[-1],
        )
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--repeats", type=int, default=7, help="interleaved rounds; the median is reported")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads (numba follows)")
    parser.add_argument("--shape", type=int, nargs=5, action="append", help="[T, B, C, H, W] (default: both)")
    parser.add_argument("--no-memory", dest="memory", action="store_false", help="skip the peak-memory subprocesses")
    parser.add_argument("--json", dest="json_path", default=None)
    parser.add_argument("--probe", nargs=2, metavar=("NEURON", "KERNEL"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    shapes = [tuple(s) for s in args.shape] if args.shape else SHAPES
    if args.probe:  # the fresh subprocess of peak_growth
        print(json.dumps({"growth_bytes": probe_growth(*args.probe, shapes[0], device)}))
        return

    console = Console(width=None if Console().is_terminal else 150)
    rows, timings = measure(shapes, device, args.repeats, args.threads, args.memory, console)
    machine = machine_description(device)
    console.print(render(rows, f"neuron forward+backward, float32, {machine}"))
    console.print("; ".join(timings) + f" (quiet: other processes used under {QUIET_CORES} cores)")
    if args.json_path:
        with open(args.json_path, "w") as handle:
            json.dump({"machine": machine, "threads": args.threads, "rows": rows}, handle, indent=2)


if __name__ == "__main__":
    main()
