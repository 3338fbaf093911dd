"""Peak training memory against T, with and without `train.recompute_blocks`, on the CPU.

    python benchmarks/memory_vs_timesteps.py                      # convnet and spikformer, T = 4, 8, 16, 32
    python benchmarks/memory_vs_timesteps.py --timesteps 4 8 --json memory.json

Each row is one training step (forward with the balanced loss's observations, backward) of a
model built from a shipped recipe, measured in a fresh subprocess after two warm steps: the peak
growth of the step (benchmarks/common.py's `peak_growth_bytes`), and its median time over three
more. The subprocess runs with MALLOC_MMAP_THRESHOLD_=65536, so that every tensor is its own
mapping and the resident high-water mark follows the tensors alive, not the holes of glibc's heap
(without it, both columns read 1.3-1.6x higher and the ratio between them about 0.8 whatever T).
The plain path is the reference: "÷ plain" is the recomputed row's memory over the plain row's at
the same T (below 1 = leaner), "time ×" its step time over the plain row's (the price).

Models (random weights and inputs, batch 8):
- convnet: recipes/digits-events.toml's convolutional net on 2×32×32 event frames (three blocks);
- resnet20: recipes/cifar10.toml with model.kind = "resnet20" at width 16, on 3×32×32 images (a stem
  and nine residual blocks);
- spikformer: recipes/spikformer-cifar10.toml at dim 128, 2 blocks, 4 heads, on 3×32×32 images.
"""

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import torch
from common import machine_description, peak_growth_bytes
from rich.console import Console
from rich.table import Table

from cfsnn_cli.engine.build import build_model, build_objective
from cfsnn_cli.engine.recompute import recompute_blocks
from cfsnn_cli.neurons import observe
from cfsnn_cli.recipe import load_recipe

BATCH = 8
MODELS = {
    "convnet": ("digits-events", [], (2, 32, 32)),
    "resnet20": ("cifar10", ['model.kind="resnet20"', "model.width=16"], (3, 32, 32)),
    "spikformer": ("spikformer-cifar10", ["model.dim=128", "model.depth=2", "model.heads=4"], (3, 32, 32)),
}
BALANCED = ["loss.balance=0.5"]  # every layer's membrane sums in the loss, as the method trains


def training_step(kind: str, timesteps: int, recompute: bool):
    name, overrides, shape = MODELS[kind]
    recipe = load_recipe(name, overrides + BALANCED + [f"data.timesteps={timesteps}"])
    torch.manual_seed(0)
    model = build_model(recipe, shape, 10).train()
    if recompute:
        recompute_blocks(model)
    objective = build_objective(recipe)
    x_seq = torch.rand(timesteps, BATCH, *shape) * 2
    labels = torch.arange(BATCH) % 10

    def step():
        with observe() as seen:
            logits = model(x_seq)
        objective(logits.float(), labels, seen).total.backward()
        model.zero_grad(set_to_none=True)

    return step


def probe(kind: str, timesteps: int, recompute: bool) -> dict:
    """Runs in the fresh subprocess."""
    step = training_step(kind, timesteps, recompute)
    step()
    step()  # warm: lazy imports, compiled kernels, the allocator's arenas
    growth = peak_growth_bytes(step)
    seconds = []
    for _ in range(3):
        start = time.perf_counter()
        step()
        seconds.append(time.perf_counter() - start)
    return {"growth_bytes": growth, "seconds": sorted(seconds)[1]}


def measured(kind: str, timesteps: int, recompute: bool, threads: int) -> dict:
    command = [sys.executable, __file__, "--probe", kind, str(timesteps), str(int(recompute))]
    command += ["--threads", str(threads)]
    # every allocation above 64 KiB its own mapping, returned when freed: glibc otherwise raises that
    # threshold as large blocks are freed and serves them from its heap, whose holes stay resident,
    # so the high-water mark would count fragmentation rather than the tensors alive at the peak
    environment = {**os.environ, "MALLOC_MMAP_THRESHOLD_": str(64 * 1024)}
    done = subprocess.run(
        command, capture_output=True, text=True, cwd=Path(__file__).parent, check=False, env=environment
    )
    if done.returncode != 0:
        raise SystemExit(f"probe {kind} T={timesteps} recompute={recompute} failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--timesteps", type=int, nargs="+", default=[4, 8, 16, 32])
    parser.add_argument("--models", nargs="+", default=sorted(MODELS), choices=sorted(MODELS))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", dest="json_path", default=None)
    parser.add_argument("--probe", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.probe:
        kind, timesteps, recompute = args.probe
        print(json.dumps(probe(kind, int(timesteps), bool(int(recompute)))))
        return

    console = Console(width=None if Console().is_terminal else 120)
    table = Table(title=f"peak training-step memory against T, float32, batch {BATCH}, {machine_description()}")
    for column in ("model", "T", "plain MiB", "recomputed MiB", "÷ plain", "plain ms", "time ×"):
        table.add_column(column, justify="left" if column == "model" else "right")
    rows = []
    with console.status("measuring") as status:
        for kind in args.models:
            for timesteps in args.timesteps:
                status.update(f"{kind}, T = {timesteps}")
                plain = measured(kind, timesteps, False, args.threads)
                recomputed = measured(kind, timesteps, True, args.threads)
                rows.append({"model": kind, "timesteps": timesteps, "plain": plain, "recomputed": recomputed})
                table.add_row(
                    kind,
                    str(timesteps),
                    f"{plain['growth_bytes'] / 2**20:.0f}",
                    f"{recomputed['growth_bytes'] / 2**20:.0f}",
                    f"{recomputed['growth_bytes'] / plain['growth_bytes']:.2f}",
                    f"{plain['seconds'] * 1e3:.0f}",
                    f"{recomputed['seconds'] / plain['seconds']:.2f}",
                    end_section=timesteps == args.timesteps[-1],
                )
    console.print(table)
    if args.json_path:
        Path(args.json_path).write_text(json.dumps({"machine": machine_description(), "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
