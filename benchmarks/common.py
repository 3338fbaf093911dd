"""Measuring helpers shared by the benchmark scripts (not a test: nothing here asserts)."""

import statistics
import time
from collections.abc import Callable

import torch


def saved_for_backward_bytes(step: Callable[[], torch.Tensor]) -> int:
    """Bytes of distinct storages autograd keeps between forward and backward for one call.

    This is the memory a layer costs in training beyond its output; it is exact and repeatable
    on any device, unlike a CPU allocator's peak.
    """
    storages: dict[int, int] = {}

    def pack(tensor):
        storage = tensor.untyped_storage()
        storages[storage.data_ptr()] = storage.nbytes()
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        output = step()
    del output
    return sum(storages.values())


def median_seconds(run: Callable[[], None], repeats: int, device: torch.device, warmup: int = 3) -> float:
    for _ in range(warmup):  # allocator, first-touch page faults, lazy init: not what is measured
        run()
    times = []
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        run()
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def cuda_peak_bytes(run: Callable[[], None], device: torch.device) -> int | None:
    if device.type != "cuda":
        return None
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats(device)
    base = torch.cuda.memory_allocated(device)
    run()
    torch.cuda.synchronize()
    return torch.cuda.max_memory_allocated(device) - base


def interleaved_medians(runs: dict[str, Callable[[], None]], repeats: int, warmup: int = 2) -> dict[str, float]:
    """Median seconds of each run, timed in rounds that call every run once, so that a noisy moment on a
    shared machine touches all of them alike rather than one."""
    for _ in range(warmup):
        for run in runs.values():
            run()
    times: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(repeats):
        for name, run in runs.items():
            start = time.perf_counter()
            run()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in times.items()}


def copy_bandwidth(size_bytes: int = 512 * 2**20, repeats: int = 7) -> float:
    """Bytes per second a large tensor copy moves (read + write counted), with torch's current threads;
    the buffers are touched before timing, so no page faults are measured."""
    source = torch.ones(size_bytes // 4)
    target = torch.empty_like(source).zero_()
    return 2 * size_bytes / median_seconds(lambda: target.copy_(source), repeats, torch.device("cpu"))
