"""Evaluation: top-1/top-5, loss, per-class accuracy, the latency curve SNN papers report and the
firing rates."""

from contextlib import AbstractContextManager
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import nn
from torch.utils.data import DataLoader

from cfsnn_cli.engine.build import autocast, build_objective
from cfsnn_cli.engine.distributed import SINGLE, World
from cfsnn_cli.engine.load import open_checkpoint
from cfsnn_cli.engine.machine import ThisMachine
from cfsnn_cli.engine.model_file import ModelCheckpoint
from cfsnn_cli.engine.report import Reporter
from cfsnn_cli.neurons import observe
from cfsnn_cli.neurons.layers import named_neuron_layers
from cfsnn_cli.quant.simulated_model import SimulatedModel


@dataclass
class Evaluation:
    """The result of evaluating one split; accuracies are fractions in [0, 1].

    Attributes:
        samples: how many samples were evaluated.
        loss: the mean task loss per sample.
        top1: accuracy of the prediction from the output averaged over all T steps.
        top5: the fraction whose label is among the five highest averaged outputs (K ≤ 5: all).
        per_class: top-1 accuracy per class name (NaN for a class with no sample).
        latency: accuracy of the output averaged over steps 1..t, for t = 1..T.
        firing_rate: Σ|N| of all spiking layers ÷ their neurons × T, over every sample: the
            network firing rate `profile-spikes` reports (NaN without spiking layers).
        layer_firing_rates: each spiking layer's Σ|N| ÷ (neurons × T), by its module path, in the
            model's module order (NaN for a layer the forward pass never reached).
    """

    samples: int
    loss: float
    top1: float
    top5: float
    per_class: dict[str, float]
    latency: list[float]  # accuracy of the output averaged over steps 1..t, for t = 1..T
    firing_rate: float
    layer_firing_rates: dict[str, float]

    def to_dict(self) -> dict:
        """The fields as a plain dict (for JSON)."""
        return asdict(self)


def evaluate(
    model: nn.Module,
    loader: DataLoader,
    task_loss: nn.Module,
    device: torch.device,
    autocast: AbstractContextManager,
    class_names: list[str],
    reporter: Reporter | None = None,
    world: World = SINGLE,
) -> Evaluation:
    """Run `model` over every batch of `loader` without gradients, in eval mode, observing its
    spiking layers (`cfsnn_cli.neurons.observe`) for their firing rates.

    Args:
        model: maps x_seq [T, B, ...] to per-step logits [T, B, K].
        loader: batches of (x_seq, labels) as `build_loader` makes them.
        task_loss: the task loss to report (the objective's, without the balanced term).
        device: where the model is.
        autocast: the autocast context to run the model in (`build.autocast`).
        class_names: the K class names, in label order.
        reporter: told about progress after every batch; None reports nothing.
        world: under torchrun, the processes whose batches (`build_loader` deals them) are
            counted together: every process gets the result for the whole split.
    """
    reporter = reporter or Reporter()
    classes = len(class_names)
    # Counted on the device and read once at the end: reading a count per batch would make the
    # host wait for every batch to finish before queueing the next (see engine/tally.py).
    loss_sum = torch.zeros((), dtype=torch.float64, device=device)
    hits = torch.zeros(2, dtype=torch.long, device=device)  # top-1, top-5
    class_correct = torch.zeros(classes, dtype=torch.long, device=device)
    class_total = torch.zeros(classes, dtype=torch.long, device=device)
    latency_correct = None
    samples = 0
    # named in module order, which every process knows even if it was dealt no batch (and which is
    # the call order of every shipped model, and profile-spikes' order)
    spiking = {module: name for name, module in named_neuron_layers(model)}
    layer_index = {module: i for i, module in enumerate(spiking)}
    spike_events = torch.zeros(len(spiking), dtype=torch.float64, device=device)  # Σ|N| per layer
    neuron_steps = [0] * len(spiking)  # neurons × T per layer: shapes, known on the host
    model.eval()
    with torch.no_grad():
        for index, (x_seq, labels) in enumerate(loader):
            x_seq, labels = x_seq.to(device, non_blocking=True), labels.to(device, non_blocking=True)
            with autocast, observe(membrane=False) as seen:
                logits_seq = model(x_seq)
            for layer in seen.layers:
                i = layer_index[layer.layer]
                spike_events[i] += layer.spike_events
                neuron_steps[i] += layer.neurons * x_seq.shape[0]
            logits_seq = logits_seq.float()
            batch = labels.numel()
            loss_sum += task_loss(logits_seq, labels).double() * batch
            mean = logits_seq.mean(0)
            top1 = mean.argmax(1) == labels
            top5 = (mean.topk(min(5, classes), dim=1).indices == labels[:, None]).any(1)
            hits += torch.stack([top1.sum(), top5.sum()])
            # index_add_, not bincount or a boolean mask: both need the result's size, a sync on CUDA
            class_total.index_add_(0, labels, torch.ones_like(labels))
            class_correct.index_add_(0, labels, top1.long())
            # argmax of the running sum over steps 1..t is the prediction of the mean up to t
            step_hits = (logits_seq.cumsum(0).argmax(2) == labels[None]).sum(1)
            latency_correct = step_hits if latency_correct is None else latency_correct + step_hits
            samples += batch
            reporter.evaluation_progress(index + 1, len(loader))
    steps = len(latency_correct) if latency_correct is not None else 0
    if world.launched:  # a process dealt no batch knows no T
        steps = int(world.gather(torch.tensor([float(steps)], device=device)).max().item())
    if latency_correct is None:
        latency_correct = torch.zeros(steps, dtype=torch.long, device=device)
    # every count in one float64 vector (exact up to 2**53): one read, one sum over the processes
    counts = torch.cat(
        [
            loss_sum.view(1),
            torch.tensor([float(samples)], dtype=torch.float64, device=device),
            hits.double(),
            class_correct.double(),
            class_total.double(),
            spike_events,
            torch.tensor(neuron_steps, dtype=torch.float64, device=device),
            latency_correct.double(),
        ]
    )
    loss_total, samples, top1, top5, *rest = world.sum(counts).tolist()
    correct, total, rest = rest[:classes], rest[classes : 2 * classes], rest[2 * classes :]
    events, outputs, latency = rest[: len(spiking)], rest[len(spiking) : 2 * len(spiking)], rest[2 * len(spiking) :]
    per_class = {name: _ratio(correct[i], total[i]) for i, name in enumerate(class_names)}
    return Evaluation(
        samples=int(samples),
        loss=loss_total / max(samples, 1),
        top1=top1 / max(samples, 1),
        top5=top5 / max(samples, 1),
        per_class=per_class,
        latency=[c / max(samples, 1) for c in latency],
        firing_rate=_ratio(sum(events), sum(outputs)),
        layer_firing_rates={name: _ratio(e, n) for name, e, n in zip(spiking.values(), events, outputs, strict=True)},
    )


def _ratio(part: float, whole: float) -> float:
    return part / whole if whole else float("nan")


def evaluate_checkpoint(
    path: str | Path,
    *,
    machine: ThisMachine | None = None,
    split: str = "test",
    timesteps: int | None = None,
    batch_size: int | None = None,
    reporter: Reporter | None = None,
) -> tuple[ModelCheckpoint, Evaluation]:
    """Rebuild the model from the recipe inside a checkpoint, load its weights, evaluate a split.

    Args:
        path: a `.safetensors` checkpoint, or a run folder (its model.safetensors); an integer
            bundle is run by the integer simulator (`quant/simulated_model.py`).
        machine: where the data lives and how many loader workers run (engine/machine.py); the
            checkpoint's own paths are never used. None: `ThisMachine.from_options()`.
        split: "test" or "train" (evaluated without augmentation).
        timesteps: evaluate at this T instead of the recipe's `data.timesteps`; None keeps it.
        batch_size: samples per batch instead of the recipe's `data.eval_batch_size`; None keeps it.
        reporter: told about progress; None reports nothing.

    Returns:
        The checkpoint (`ModelCheckpoint`) and its `Evaluation`.

    Raises:
        CfsnnError: the checkpoint is unreadable or not cfsnn's, the data is missing, its
            number of classes differs from the checkpoint's, or a batch does not fit in memory.
    """
    opened = open_checkpoint(path, machine)
    torch.manual_seed(opened.recipe.seed)
    objective = build_objective(opened.recipe).to(opened.device)
    model = opened.model
    if opened.checkpoint.integer_program is not None:  # an integer bundle runs in the integer simulator
        model = SimulatedModel(opened.checkpoint.integer_program, opened.model)
    with opened.batches(split, timesteps, batch_size) as (recipe, _, loader):
        result = evaluate(
            model,
            loader,
            objective.task,
            opened.device,
            autocast(recipe, opened.device),
            opened.checkpoint.class_names,
            reporter,
        )
    return opened.checkpoint, result
