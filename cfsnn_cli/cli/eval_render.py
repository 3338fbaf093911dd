"""`cfsnn eval`'s tables: the summary, per-class accuracy, and accuracy against the steps averaged."""

from rich.table import Table

from cfsnn_cli.cli.console import percent


def evaluation_tables(checkpoint, result, split: str) -> list[Table]:
    summary = Table(
        title=f"{checkpoint.recipe.name}: {split} split, {result.samples} samples, T = {len(result.latency)}"
    )
    for column in ("top-1 %", "top-5 %", "loss", "checkpoint epoch"):
        summary.add_column(column, justify="right")
    summary.add_row(percent(result.top1), percent(result.top5), f"{result.loss:.4f}", str(checkpoint.epoch))

    per_class = Table(title="per-class accuracy")
    per_class.add_column("class")
    per_class.add_column("acc %", justify="right")
    for name, accuracy in result.per_class.items():
        per_class.add_row(name, percent(accuracy))

    steps = latency_steps(len(result.latency))
    folded = len(steps) < len(result.latency)
    latency = Table(
        title="accuracy of the output averaged over steps 1..t",
        caption=f"t = 1..{FIRST_STEPS}, then a selection; --json has every t" if folded else None,
    )
    latency.add_column("t", justify="right")
    latency.add_column("acc %", justify="right")
    for step in steps:
        latency.add_row(str(step), percent(result.latency[step - 1]))
    return [summary, per_class, latency]


FIRST_STEPS = 8  # the early steps, where a latency curve changes fastest, are always shown
LATER_ROWS = 10  # about this many rows more for the rest, however long T is


def latency_steps(timesteps: int) -> list[int]:
    """The steps t the latency table shows: all of them up to 2·FIRST_STEPS, else 1..FIRST_STEPS,
    every k-th step after (k a round number: 1-2-5 steps, or powers of two when T is one) and T.
    At T = 4096 that is 1..8, 512, 1024, …, 4096 instead of 4096 rows."""
    if timesteps <= 2 * FIRST_STEPS:
        return list(range(1, timesteps + 1))
    if timesteps & (timesteps - 1) == 0:
        candidates = (2**e for e in range(timesteps.bit_length()))
    else:
        candidates = (m * 10**e for e in range(len(str(timesteps))) for m in (1, 2, 5))
    stride = next(k for k in candidates if timesteps / k <= LATER_ROWS)
    later = range((FIRST_STEPS // stride + 1) * stride, timesteps, stride)
    return [*range(1, FIRST_STEPS + 1), *later, timesteps]
