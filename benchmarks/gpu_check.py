"""The one prepared GPU check: install what travels, run the `gpu` tests, time the neuron kernels
and two training steps, and write one JSON and one markdown table into the folder it is given.

    python benchmarks/gpu_check.py OUT                 # on the GPU machine, from the repository root

Made for a machine lent for minutes (budget: 8 minutes on one GPU): every part has its own time
limit and a part that fails is reported, not fatal. What it does, in order:

1. installs the wheels in benchmarks/gpu_wheels/ (pydantic and its three, SpikingJelly, loguru:
   what the GPU image lacks; `python benchmarks/gpu_check.py --fetch-wheels` gathers them here,
   for the device's Python 3.12) without the network;
2. runs the `gpu` tests and the kernel tests with the compiled Triton kernel on CUDA
   (tests/neurons: the example tests' triton cases against the plain reference in float64);
3. times forward+backward of one neuron layer over [T, 64, 65536] at T = 4 and 32, float32 and
   bfloat16 inputs: cfsnn's CF (D = 1, bipolar, one learnable α per step) and LIF on
   backend="triton" and "torch", and SpikingJelly's multi-step LIFNode with each implementation it
   has on CUDA (torch, its CUDA kernel, its Triton kernel; chosen by SJ_LIF_CUDA_IMPLEMENTATION,
   which SpikingJelly reads once per process, so each runs in its own subprocess). "× bound" is
   the time over the copy-bandwidth bound (24 bytes per element, as in benchmarks/neurons.py);
4. times a training step (SGD, cross-entropy on the time-averaged logits) of resnet19 and
   spikformer (4 blocks, dim 384) on random CIFAR-shaped data, T = 4, batch 64, backend triton
   and torch, eager and (with time left) with torch.compile, with the peak CUDA memory of a step.
"""

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parent.parent
WHEELS = REPOSITORY / "benchmarks" / "gpu_wheels"
TRAVELLING = ["pydantic", "pydantic-core", "annotated-types", "typing-inspection", "spikingjelly==2.0.0", "loguru"]
NEURON_SHAPE = (64, 65536)  # SpikingJelly's published kernel comparison: N = 64, C = 65536
STEPS = (4, 32)
BUDGET_SECONDS = 8 * 60
SJ_IMPLEMENTATIONS = ("torch", "cuda", "triton")


def fetch_wheels() -> None:
    """Run here, with the package index: the wheels the GPU image lacks, for its Python 3.12."""
    command = [sys.executable, "-m", "pip", "download", "--only-binary=:all:", "--no-deps", "--python-version", "3.12"]
    command += ["--platform", "manylinux_2_17_x86_64", "--implementation", "cp", "-d", str(WHEELS), *TRAVELLING]
    subprocess.run(command, check=True)


def install_wheels() -> str:
    wheels = sorted(WHEELS.glob("*.whl"))
    if not wheels:
        return "no wheels to install (benchmarks/gpu_wheels/ is empty)"
    command = [sys.executable, "-m", "pip", "install", "--no-index", "--no-deps", "--quiet", *map(str, wheels)]
    done = subprocess.run(command, capture_output=True, text=True)
    return (
        "installed " + ", ".join(w.name.split("-")[0] for w in wheels) if done.returncode == 0 else done.stderr[-800:]
    )


def run_gpu_tests(limit: float) -> dict:
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-x", "tests/neurons"]
    command += ["-k", "gpu or cuda or triton", "-o", "addopts="]
    environment = {**os.environ, "PYTHONPATH": str(REPOSITORY)}
    environment.pop("TRITON_INTERPRET", None)
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=limit, env=environment, cwd=REPOSITORY)
    except subprocess.TimeoutExpired as expired:
        return {"passed": False, "summary": f"stopped after {limit:.0f} s", "tail": str(expired.stdout)[-1500:]}
    lines = done.stdout.strip().splitlines()
    return {"passed": done.returncode == 0, "summary": lines[-1] if lines else "", "tail": done.stdout[-1500:]}


# -- neuron kernels -------------------------------------------------------------------------------
def _median_ms(run, repeats: int = 10) -> float:
    import torch

    for _ in range(3):
        run()
    times = []
    for _ in range(repeats):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        run()
        end.record()
        torch.cuda.synchronize()
        times.append(start.elapsed_time(end))
    return sorted(times)[len(times) // 2]


def _forward_backward(layer, x, grad):
    def run():
        x.grad = None
        layer(x).backward(grad)

    return run


def _copy_ms(elements: int) -> float:
    import torch

    source = torch.empty(elements, device="cuda")
    target = torch.empty_like(source)
    return _median_ms(lambda: target.copy_(source))


def cfsnn_neuron_rows() -> list[dict]:
    import torch

    from cfsnn_cli.neurons import CFNeuron, LIFNeuron
    from cfsnn_cli.surrogates import build_surrogate

    rows = []
    for timesteps in STEPS:
        shape = (timesteps, *NEURON_SHAPE)
        elements = timesteps * NEURON_SHAPE[0] * NEURON_SHAPE[1]
        bound_ms = _copy_ms(elements) * 24 / 8  # a copy moves 8 bytes per element; the neuron 24
        for dtype in (torch.float32, torch.bfloat16):
            x = (torch.randn(shape, device="cuda") * 1.5).to(dtype).requires_grad_()
            grad = torch.randn(shape, device="cuda").to(dtype)
            for neuron in ("cf", "lif"):
                for backend in ("triton", "torch"):
                    if neuron == "cf":
                        surrogate = build_surrogate("sigmoid", learnable="timestep", timesteps=timesteps)
                        layer = CFNeuron(levels=1, bipolar=True, surrogate=surrogate, backend=backend)
                    else:
                        layer = LIFNeuron(tau=2.0, backend=backend)
                    layer = layer.cuda()
                    torch.cuda.reset_peak_memory_stats()
                    milliseconds = _median_ms(_forward_backward(layer, x, grad))
                    rows.append(
                        {
                            "who": f"cfsnn {neuron}",
                            "kernel": backend,
                            "T": timesteps,
                            "dtype": str(dtype).removeprefix("torch."),
                            "ms": milliseconds,
                            "x_bound": milliseconds / bound_ms,
                            "peak_mib": torch.cuda.max_memory_allocated() / 2**20,
                        }
                    )
            del x, grad
            torch.cuda.empty_cache()
    return rows


def spikingjelly_rows(implementation: str) -> list[dict]:
    """In its own process: SJ_LIF_CUDA_IMPLEMENTATION is read once, at import."""
    import torch
    from spikingjelly.activation_based import functional, neuron, surrogate

    rows = []
    for timesteps in STEPS:
        shape = (timesteps, *NEURON_SHAPE)
        elements = timesteps * NEURON_SHAPE[0] * NEURON_SHAPE[1]
        bound_ms = _copy_ms(elements) * 24 / 8
        for dtype in (torch.float32, torch.bfloat16):
            layer = neuron.LIFNode(
                tau=2.0, decay_input=False, v_reset=None, surrogate_function=surrogate.Sigmoid(alpha=4.0), step_mode="m"
            ).cuda()
            x = (torch.randn(shape, device="cuda") * 1.5).to(dtype).requires_grad_()
            grad = torch.randn(shape, device="cuda").to(dtype)

            def run(layer=layer, x=x, grad=grad):
                functional.reset_net(layer)
                x.grad = None
                layer(x).backward(grad)

            torch.cuda.reset_peak_memory_stats()
            milliseconds = _median_ms(run)
            used = functional.neuron_implementation("lif", torch.device("cuda"))["implementation"]
            rows.append(
                {
                    "who": "SpikingJelly LIFNode",
                    "kernel": f"{implementation} ({used})",
                    "T": timesteps,
                    "dtype": str(dtype).removeprefix("torch."),
                    "ms": milliseconds,
                    "x_bound": milliseconds / bound_ms,
                    "peak_mib": torch.cuda.max_memory_allocated() / 2**20,
                }
            )
    return rows


def spikingjelly_in_subprocesses(limit: float) -> tuple[list[dict], list[str]]:
    rows, problems = [], []
    for implementation in SJ_IMPLEMENTATIONS:
        environment = {**os.environ, "SJ_LIF_CUDA_IMPLEMENTATION": implementation, "PYTHONPATH": str(REPOSITORY)}
        command = [sys.executable, __file__, "--spikingjelly", implementation]
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=limit, env=environment)
        except subprocess.TimeoutExpired:
            problems.append(f"SpikingJelly {implementation}: over {limit:.0f} s")
            continue
        if done.returncode != 0:
            problems.append(f"SpikingJelly {implementation}: {done.stderr.strip().splitlines()[-1:]}")
            continue
        rows += json.loads(done.stdout.strip().splitlines()[-1])
    return rows, problems


# -- training steps -------------------------------------------------------------------------------
TRAINING_MODELS = {
    "resnet19": ("cifar10", ['model.kind="resnet19"']),
    "spikformer-4-384": ("spikformer-cifar10", ["model.dim=384", "model.depth=4"]),
}


def training_rows(deadline: float) -> tuple[list[dict], list[str]]:
    import torch
    from torch import nn

    from cfsnn_cli.engine.build import build_model
    from cfsnn_cli.recipe import load_recipe

    rows, skipped = [], []
    x_seq = torch.rand(4, 64, 3, 32, 32, device="cuda")
    labels = torch.randint(0, 10, (64,), device="cuda")
    for name, (recipe_name, overrides) in TRAINING_MODELS.items():
        for compiled in (False, True):
            for backend in ("triton", "torch"):
                if compiled and time.monotonic() > deadline - 150:
                    skipped.append(f"{name} {backend} compiled: no time left")
                    continue
                recipe = load_recipe(recipe_name, [*overrides, "data.timesteps=4", f'neuron.backend="{backend}"'])
                torch.manual_seed(0)
                model = build_model(recipe, (3, 32, 32), 10).cuda().train()
                step_model = torch.compile(model) if compiled else model
                optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)

                def step(step_model=step_model, optimizer=optimizer):
                    optimizer.zero_grad(set_to_none=True)
                    loss = nn.functional.cross_entropy(step_model(x_seq).mean(0), labels)
                    loss.backward()
                    optimizer.step()

                try:
                    step()  # compiles, when compiled
                    torch.cuda.synchronize()
                    torch.cuda.reset_peak_memory_stats()
                    milliseconds = _median_ms(step, repeats=5)
                except Exception as error:  # a row that fails is reported, the rest still runs
                    skipped.append(f"{name} {backend} compiled={compiled}: {type(error).__name__}: {error}"[:300])
                    continue
                rows.append(
                    {
                        "model": name,
                        "backend": backend,
                        "compiled": compiled,
                        "ms": milliseconds,
                        "samples_per_s": 64 / (milliseconds / 1e3),
                        "peak_mib": torch.cuda.max_memory_allocated() / 2**20,
                    }
                )
                del model, step_model, optimizer
                torch.cuda.empty_cache()
    return rows, skipped


# -- the report -----------------------------------------------------------------------------------
def markdown(report: dict) -> str:
    lines = [f"# GPU check: {report['gpu']}, torch {report['torch']}, triton {report['triton']}", ""]
    lines += [f"- wheels: {report['wheels']}", f"- gpu tests: {report['tests']['summary']}", ""]
    lines += ["| neuron | kernel | T | input | ms | × bound | peak MiB |", "|---|---|---|---|---|---|---|"]
    for row in report["neurons"]:
        lines.append(
            f"| {row['who']} | {row['kernel']} | {row['T']} | {row['dtype']} | {row['ms']:.2f} | "
            f"{row['x_bound']:.1f} | {row['peak_mib']:.0f} |"
        )
    lines += ["", "| model (T = 4, batch 64) | backend | compiled | ms/step | samples/s | peak MiB |"]
    lines += ["|---|---|---|---|---|---|"]
    for row in report["training"]:
        lines.append(
            f"| {row['model']} | {row['backend']} | {row['compiled']} | {row['ms']:.1f} | "
            f"{row['samples_per_s']:.0f} | {row['peak_mib']:.0f} |"
        )
    if report["problems"]:
        lines += ["", "Not measured:", *(f"- {problem}" for problem in report["problems"])]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", nargs="?", type=Path)
    parser.add_argument("--fetch-wheels", action="store_true", help="gather the wheels here, with the index")
    parser.add_argument("--spikingjelly", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.fetch_wheels:
        fetch_wheels()
        return
    if args.spikingjelly:
        print(json.dumps(spikingjelly_rows(args.spikingjelly)))
        return
    if args.out is None:
        parser.error("give the folder to write gpu_check.json and gpu_check.md into")
    started = time.monotonic()
    deadline = started + BUDGET_SECONDS
    args.out.mkdir(parents=True, exist_ok=True)
    wheels = install_wheels()
    sys.path.insert(0, str(REPOSITORY))
    os.environ.pop("TRITON_INTERPRET", None)
    import torch
    import triton

    report = {
        "gpu": torch.cuda.get_device_name(),
        "torch": torch.__version__,
        "triton": triton.__version__,
        "python": platform.python_version(),
        "wheels": wheels,
        "problems": [],
    }
    report["tests"] = run_gpu_tests(limit=150)
    print("gpu tests:", report["tests"]["summary"], flush=True)
    report["neurons"] = cfsnn_neuron_rows()
    sj_rows, sj_problems = spikingjelly_in_subprocesses(limit=40)
    report["neurons"] += sj_rows
    report["problems"] += sj_problems
    print(f"neurons done at {time.monotonic() - started:.0f} s", flush=True)
    report["training"], skipped = training_rows(deadline)
    report["problems"] += skipped
    report["seconds"] = time.monotonic() - started
    (args.out / "gpu_check.json").write_text(json.dumps(report, indent=2))
    (args.out / "gpu_check.md").write_text(markdown(report))
    print(markdown(report))


if __name__ == "__main__":
    main()
