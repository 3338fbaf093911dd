"""Measuring helpers shared by the benchmark scripts (not a test: nothing here asserts)."""

import ctypes
import gc
import math
import os
import platform
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

CPU = torch.device("cpu")


def seconds(run: Callable[[], None], device: torch.device = CPU) -> float:
    """Wall time of one call, waiting for a GPU to finish before and after."""
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    run()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start


QUIET_CORES = 0.2
"""A round of timing is quiet when the other processes used fewer than this many cores during it."""


def others_cpu_seconds() -> float:
    """CPU seconds every other process (and the hypervisor, as steal) has used since boot; 0 without /proc."""
    try:
        fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except (OSError, ValueError):
        return 0.0
    busy = sum(fields[i] for i in (0, 1, 2, 5, 6, 7) if i < len(fields))  # user nice system irq softirq steal
    ours = os.times()
    return busy / os.sysconf("SC_CLK_TCK") - (ours.user + ours.system)


@dataclass
class Timing:
    medians: dict
    fastest: dict
    rounds: int
    quiet_rounds: int

    def describe(self) -> str:
        if self.quiet_rounds >= 3:
            return f"medians of {self.quiet_rounds} quiet rounds of {self.rounds}"
        return f"medians of all {self.rounds} rounds, only {self.quiet_rounds} of them quiet"


def interleaved_timing(runs: dict, repeats: int, warmup: int = 2, device: torch.device = CPU) -> Timing:
    """Seconds per call of each run, timed in rounds that call every run once, so that a noisy moment on a
    shared machine touches all of them alike rather than one; rounds continue until `repeats` of them
    were quiet (other processes used under QUIET_CORES cores), at most 3 × `repeats`, and the medians are
    taken over the quiet rounds when there are at least three. The warm-up rounds (allocator,
    first-touch page faults, compilation, lazy initialisation) are not what is measured."""
    for _ in range(warmup):
        for run in runs.values():
            run()
    times = {name: [] for name in runs}
    quiet = []
    while sum(quiet) < repeats and len(quiet) < 3 * repeats:
        others, start = others_cpu_seconds(), time.perf_counter()
        for name, run in runs.items():
            times[name].append(seconds(run, device))
        quiet.append((others_cpu_seconds() - others) / (time.perf_counter() - start) < QUIET_CORES)
    chosen = [i for i, q in enumerate(quiet) if q] if sum(quiet) >= 3 else range(len(quiet))
    return Timing(
        medians={name: statistics.median(values[i] for i in chosen) for name, values in times.items()},
        fastest={name: min(values) for name, values in times.items()},
        rounds=len(quiet),
        quiet_rounds=sum(quiet),
    )


def median_seconds(run: Callable[[], None], repeats: int, device: torch.device = CPU, warmup: int = 3) -> float:
    return interleaved_timing({"run": run}, repeats, warmup, device).medians["run"]


def copy_bandwidth(size_bytes: int, device: torch.device = CPU, repeats: int = 7) -> float:
    """The best bytes per second a copy of a `size_bytes` tensor moved (read + write counted) with torch's
    current threads: a bound takes the machine at its best. The buffers are touched before timing, so no
    page faults are measured, and each timed round copies for at least 50 ms, long enough for
    `interleaved_timing` to see whether other processes ran. Measure at the size a benchmark streams: on a
    CPU whose last-level cache holds its tensors (300 MiB of L3 on the machine of RESULTS.md) a copy runs
    several times faster than one from DRAM."""
    source = torch.ones(size_bytes // 4, device=device)
    target = torch.empty_like(source).zero_()
    copies = max(1, math.ceil(0.05 / seconds(lambda: target.copy_(source), device)))

    def run():
        for _ in range(copies):
            target.copy_(source)

    return 2 * size_bytes * copies / interleaved_timing({"copy": run}, repeats, 1, device).fastest["copy"]


def machine_description(device: torch.device = CPU) -> str:
    """The processor (or GPU), its cores, torch's version and threads: what a table's numbers depend on."""
    if device.type == "cuda":
        return f"{torch.cuda.get_device_name(device)}, torch {torch.__version__}"
    cpuinfo = Path("/proc/cpuinfo").read_text().splitlines() if Path("/proc/cpuinfo").exists() else []
    model = next(
        (line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name")),
        platform.processor() or platform.machine(),
    )
    return f"{model}, {os.cpu_count()} cores, torch {torch.__version__}, {torch.get_num_threads()} threads"


def _proc_status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"/proc/self/status has no {field}")


def peak_growth_bytes(run: Callable[[], None], device: torch.device = CPU) -> int:
    """Bytes one call of `run` (already warm) adds at its peak: the allocator's peak on CUDA; on the
    CPU, VmHWM after the call − VmRSS before it, the high-water mark reset through
    /proc/self/clear_refs and freed heap returned by malloc_trim first (so reusing it counts).
    Meant for a fresh subprocess per measurement, where nothing else has grown the heap."""
    gc.collect()
    if device.type == "cuda":
        torch.cuda.synchronize()
        before = torch.cuda.memory_allocated(device)
        torch.cuda.reset_peak_memory_stats(device)
        run()
        torch.cuda.synchronize()
        return torch.cuda.max_memory_allocated(device) - before
    ctypes.CDLL("libc.so.6").malloc_trim(0)
    before = _proc_status_kib("VmRSS")
    Path("/proc/self/clear_refs").write_text("5")  # VmHWM := VmRSS now
    run()
    return (_proc_status_kib("VmHWM") - before) * 1024
