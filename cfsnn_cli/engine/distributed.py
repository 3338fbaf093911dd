"""Many processes on one run, as torchrun starts them (`torchrun --nproc_per_node N -m cfsnn_cli
train RECIPE`): one process per GPU (or several on CPUs), DistributedDataParallel averaging the
gradients, process 0 the only one that writes or reports.

torchrun sets RANK, WORLD_SIZE and LOCAL_RANK (and MASTER_ADDR, MASTER_PORT) in every process it
starts; finding the first three is how cfsnn knows it runs under torchrun, and then it joins the
process group even for one process, so that a one-GPU torchrun runs the same code as eight.

How the work is shared, and why:
- `data.batch_size` is the global batch: each process takes its contiguous share of every batch
  of the one-process order (engine/batches.py), and its loss is weighed by its share before DDP
  averages the gradients. A recipe's batch size and learning rate therefore mean the same on 1 or
  N processes, the task loss's gradient is the whole batch's, and resume stays exact because the
  order depends on (seed, epoch) alone. Per share, so only close to one process's: the
  positive-negative balance term (a ratio of the share's sums), dropout masks, and BatchNorm on
  CPUs (on GPUs it becomes SyncBatchNorm, statistics of the whole batch; PyTorch has none for CPUs).
- Evaluation deals whole batches of `data.eval_batch_size` round the processes (a size for one
  device's memory; it changes no number) and adds up their counts.
- Processes compare notes at the training loop's check-ins (engine/tally.py): sums, the first
  non-finite loss and stop requests are gathered there, so every process stops at the same step.
- An error in one process while preparing is raised in all (`together`); an error later makes that
  process exit, and torchrun then stops the others (SIGTERM, SIGKILL after 30 s): nothing waits
  forever, and the run folder keeps its last checkpoint for --resume.
"""

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import torch
import torch.distributed as dist
from torch import nn

from cfsnn_cli.errors import CfsnnError
from cfsnn_cli.models.blocks import SyncTokenBatchNorm, TokenBatchNorm

TORCHRUN_VARIABLES = ("RANK", "WORLD_SIZE", "LOCAL_RANK")


class PeerFailed(Exception):
    """Another process of the torchrun group failed while preparing; its own message says why."""

    def __init__(self) -> None:
        super().__init__("another process of this torchrun run failed while preparing (its message says why)")


@dataclass
class World:
    """The processes of one run and this one's place among them (a single process by default).

    Attributes:
        rank: this process's number, 0 to size - 1; process 0 writes and reports.
        size: how many processes share the run.
        local_rank: its number on this machine, which picks its GPU.
        launched: started by torchrun (then collectives run, even for size 1).
        device: where collectives put their tensors (NCCL takes CUDA tensors only).
    """

    rank: int = 0
    size: int = 1
    local_rank: int = 0
    launched: bool = False
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))

    @property
    def main(self) -> bool:
        """Whether this is process 0, the one that writes the run folder and reports."""
        return self.rank == 0

    def gather(self, values: torch.Tensor) -> torch.Tensor:
        """`values` of every process, stacked in rank order: [size, *values.shape]."""
        if not self.launched:
            return values.unsqueeze(0)
        values = values.to(self.device).contiguous()
        rows = [torch.empty_like(values) for _ in range(self.size)]
        dist.all_gather(rows, values)
        return torch.stack(rows)

    def sum(self, values: torch.Tensor) -> torch.Tensor:
        """`values` added up over every process."""
        if not self.launched:
            return values
        total = values.to(self.device).clone()
        dist.all_reduce(total)
        return total.to(values.device)

    def any(self, flag: bool) -> bool:
        """Whether `flag` is true in any process."""
        if not self.launched:
            return flag
        return bool(self.sum(torch.tensor([float(flag)], device=self.device)).item())

    def share_text(self, text: str) -> str:
        """Process 0's `text` in every process (a run folder named after the clock, say)."""
        if not self.launched:
            return text
        data = torch.tensor(list(text.encode()), dtype=torch.uint8, device=self.device)
        length = torch.tensor([len(data)], device=self.device)
        dist.broadcast(length, 0)
        buffer = data if self.main else torch.empty(int(length.item()), dtype=torch.uint8, device=self.device)
        dist.broadcast(buffer, 0)
        return bytes(buffer.cpu().tolist()).decode()

    @contextmanager
    def together(self) -> Iterator[None]:
        """A block every process runs, after which they agree whether it worked: an error raises
        in the process where it happened and `PeerFailed` in the others, instead of leaving them
        waiting at their next collective for a process that is gone."""
        try:
            yield
        except BaseException:
            self.any(True)
            raise
        if self.any(False):
            raise PeerFailed()


SINGLE = World()


def from_environment() -> World:
    """The world torchrun describes in this process's environment; SINGLE without torchrun."""
    values = [os.environ.get(name) for name in TORCHRUN_VARIABLES]
    if not all(values):
        return SINGLE
    try:
        rank, size, local_rank = (int(value) for value in values)
    except ValueError:
        raise CfsnnError("RANK", f"torchrun's RANK, WORLD_SIZE and LOCAL_RANK are not integers: {values}") from None
    return World(rank=rank, size=size, local_rank=local_rank, launched=True)


@contextmanager
def joined(world: World, device: torch.device) -> Iterator[World]:
    """`world` with its process group started (NCCL for CUDA devices, gloo for CPUs) for the
    block, and ended after it unless it was started by the caller. After an error the group is
    left for the process exit to end: NCCL can hang destroying a group whose peers are gone."""
    if not world.launched:
        yield world
        return
    world.device = device
    started_here = not dist.is_initialized()
    if started_here:
        if device.type == "cuda":
            torch.cuda.set_device(device)
            dist.init_process_group("nccl", device_id=device)
        else:
            dist.init_process_group("gloo")
    yield world
    if started_here:
        dist.destroy_process_group()


def parallel(model: nn.Module, world: World, device: torch.device) -> nn.Module:
    """What a process's training steps call: `model` itself for one process, else wrapped in
    DistributedDataParallel, with its BatchNorm layers made SyncBatchNorm on GPUs (in place: the
    same parameters and buffers, so the state dict `model` saves is unchanged).

    `static_graph`: every step runs the same layers, so DDP may learn once which parameters take
    part; a parameter that never gets a gradient (a recipe's learnable option a neuron kind does
    not use) is then allowed, without `find_unused_parameters`' search of the graph every step."""
    if not world.launched:
        return model
    if device.type == "cuda":
        sync_batch_norms(model)
    return nn.parallel.DistributedDataParallel(
        model, device_ids=[device] if device.type == "cuda" else None, static_graph=True
    )


def sync_batch_norms(module: nn.Module) -> nn.Module:
    """`module` with every batch norm made a SyncBatchNorm, in place (the same parameters and
    buffers): torch's `convert_sync_batchnorm`, except that a TokenBatchNorm becomes a
    SyncTokenBatchNorm, keeping its features on the last dimension."""
    for name, child in list(module.named_children()):
        if isinstance(child, TokenBatchNorm):
            setattr(module, name, SyncTokenBatchNorm.from_token_norm(child))
        elif isinstance(child, nn.modules.batchnorm._BatchNorm):
            setattr(module, name, nn.SyncBatchNorm.convert_sync_batchnorm(child))
        else:
            sync_batch_norms(child)
    return module


def rng_states(world: World, device: torch.device) -> dict[str, torch.Tensor]:
    """The random-number states of processes 1..N-1, for process 0 to save beside its own (dropout
    draws differ per process; --resume gives each its own back). Every process must call it."""
    if not world.launched:
        return {}
    cpu = world.gather(torch.get_rng_state().to(world.device)).cpu()
    states = {f"rng.rank{rank}.torch": cpu[rank] for rank in range(1, world.size)}
    if device.type == "cuda":
        cuda = world.gather(torch.cuda.get_rng_state(device).to(world.device)).cpu()
        states |= {f"rng.rank{rank}.cuda": cuda[rank] for rank in range(1, world.size)}
    return states


def restore_rng_state(tensors: dict[str, torch.Tensor], world: World, device: torch.device, fresh_seed: int) -> None:
    """Give process `world.rank` > 0 its saved random-number state, or `fresh_seed` if the run was
    saved by fewer processes (then the resumed dropout draws differ from an uninterrupted run's)."""
    if world.rank == 0:
        return  # process 0's state is the one-process state, restored with the weights
    prefix = f"rng.rank{world.rank}."
    if prefix + "torch" not in tensors:
        torch.manual_seed(fresh_seed)
        return
    torch.set_rng_state(tensors[prefix + "torch"])
    if device.type == "cuda" and prefix + "cuda" in tensors:
        torch.cuda.set_rng_state(tensors[prefix + "cuda"], device)
