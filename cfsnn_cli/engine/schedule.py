"""Learning-rate schedules as pure functions of the global step: resuming needs no scheduler state."""

import math

from cfsnn_cli.recipe_sections import ScheduleSection


def learning_rate(schedule: ScheduleSection, base_lr: float, step: int, steps_per_epoch: int, epochs: int) -> float:
    """The rate for optimiser step `step` (0-based): linear warm-up, then cosine, step or constant.

    Args:
        schedule: the recipe's `[schedule]` section.
        base_lr: the rate after warm-up (`optim.lr`).
        step: the global optimiser step, counted from 0 over the whole run.
        steps_per_epoch: batches per epoch (epochs in the schedule are converted with it).
        epochs: the run's length (`train.epochs`); cosine reaches `min_lr` at its end.
    """
    warmup = schedule.warmup_epochs * steps_per_epoch
    if step < warmup:
        return base_lr * (step + 1) / warmup
    if schedule.kind == "constant":
        return base_lr
    if schedule.kind == "step":
        return base_lr * schedule.gamma ** ((step // steps_per_epoch) // schedule.step_size)
    total = epochs * steps_per_epoch - warmup
    progress = (step - warmup) / max(total, 1)
    return schedule.min_lr + (base_lr - schedule.min_lr) * 0.5 * (1 + math.cos(math.pi * progress))
