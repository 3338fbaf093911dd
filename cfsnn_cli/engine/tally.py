"""The training loop's sums, kept on the device and read by the host only at check-ins.

Reading a number off an accelerator (`.item()`, `int(tensor)`) makes the host wait until the device
has finished everything queued, so a loop that reads its loss every step can never queue the next
step while this one runs. The loop adds each step's loss, balance and hits to tensors here instead,
and reads them all at once at a check-in: on the first step of an epoch, on its last step (the
epoch's metrics), before a checkpoint is written, and otherwise about every CHECK_IN_SECONDS.

Half a second: often enough for a progress display (people read no faster) and to stop soon after
a loss turns NaN; rarely enough that a step of a millisecond syncs once in hundreds. The first
non-finite loss is recorded on the device with its step, so the check, however late, names the
exact step where training diverged.

Under torchrun every process keeps its own sums and they are gathered at each check-in, which
every process makes at the same steps (the interval is process 0's), so that they agree on the
sums, on a divergence and on a stop request there. The carried sums of a resumed epoch are the
whole run's, so process 0 alone carries them.
"""

import time
from dataclasses import dataclass, replace

import torch

from cfsnn_cli.engine.distributed import SINGLE, World
from cfsnn_cli.engine.training_state import TrainingPosition

CHECK_IN_SECONDS = 0.5


@dataclass(frozen=True)
class Reading:
    """What a check-in read: the epoch's sums so far and the steps since the previous check-in.

    Attributes:
        loss_sum: Σ loss·batch over the epoch's samples so far (resumed epochs included).
        balance_sum: the same for the PN balance term (0 when the objective has none).
        correct: samples of the epoch so far whose time-averaged output was right.
        samples: samples of the epoch so far.
        loss: the mean loss of the samples since the previous check-in.
        accuracy: their accuracy.
        samples_per_second: their number over the time they took.
        diverged: (step, loss) of the epoch's first non-finite loss, None if every loss was finite.
        stop: whether any process was asked to stop.
    """

    loss_sum: float
    balance_sum: float
    correct: int
    samples: int
    loss: float
    accuracy: float
    samples_per_second: float
    diverged: tuple[int, float] | None
    stop: bool = False

    def into(self, position: TrainingPosition) -> TrainingPosition:
        """`position` with the epoch's sums as read."""
        return replace(
            position,
            loss_sum=self.loss_sum,
            balance_sum=self.balance_sum,
            correct=self.correct,
            samples=self.samples,
        )


class StepTally:
    """One epoch's sums on `device`, continued from `position`'s (a resumed epoch) where `carries`."""

    def __init__(self, position: TrainingPosition, device: torch.device, carries: bool = True):
        if not carries:
            position = TrainingPosition(epoch=position.epoch, next_step=position.next_step, global_step=0)
        # float64 as the sums always were (Python floats): a resumed epoch adds the same numbers in
        # the same order as an uninterrupted one; hit counts stay exact up to 2**53
        self.sums = torch.tensor(
            [position.loss_sum, position.balance_sum, float(position.correct)], dtype=torch.float64, device=device
        )
        self.window = torch.zeros(2, dtype=torch.float64, device=device)  # loss·batch and hits since the check-in
        self.bad_step = torch.zeros((), dtype=torch.float64, device=device)  # 0: every loss finite so far
        self.bad_loss = torch.zeros((), dtype=torch.float64, device=device)
        self.samples = position.samples  # batch sizes are known to the host: no device value needed
        self.window_samples = 0
        self.steps_since = 0
        self.interval = 1  # steps between check-ins: the first step of an epoch is one
        self.window_started = time.perf_counter()
        self.last: Reading | None = None

    def add(self, step: int, loss: torch.Tensor, balance: torch.Tensor | None, hits: torch.Tensor, batch: int) -> None:
        """Add one step (1-based within the epoch): its mean loss and balance, hits and batch size."""
        loss = loss.detach().double()
        weighted = loss * batch
        balance_part = balance.detach().double() * batch if balance is not None else torch.zeros_like(weighted)
        hits = hits.double()
        self.sums += torch.stack([weighted, balance_part, hits])
        self.window += torch.stack([weighted, hits])
        first_bad = ~torch.isfinite(loss) & (self.bad_step == 0)
        self.bad_step = torch.where(first_bad, float(step), self.bad_step)
        self.bad_loss = torch.where(first_bad, loss, self.bad_loss)
        self.samples += batch
        self.window_samples += batch
        self.steps_since += 1

    def due(self) -> bool:
        """Whether the steps since the last check-in took about CHECK_IN_SECONDS."""
        return self.steps_since >= self.interval

    def check_in(self, world: World = SINGLE, stop: bool = False) -> Reading:
        """Read the sums (one wait for the device), gathered over `world`'s processes with each
        one's `stop` request, and start a new window."""
        device = self.sums.device
        host = torch.tensor(
            [self.samples, self.window_samples, float(stop), time.perf_counter() - self.window_started],
            dtype=torch.float64,
            device=device,
        )
        rows = world.gather(torch.cat([self.sums, self.window, self.bad_step.view(1), self.bad_loss.view(1), host]))
        columns = list(zip(*rows.tolist(), strict=True))
        loss_sum, balance_sum, correct, window_loss, window_hits, _, _, samples, window_samples, _, _ = map(
            sum, columns
        )
        elapsed = columns[-1][0]  # process 0's clock, so that every process picks the same interval
        bad = min(((step, loss) for step, loss in zip(columns[5], columns[6], strict=True) if step), default=None)
        fresh = window_samples > 0
        self.last = Reading(
            loss_sum=loss_sum,
            balance_sum=balance_sum,
            correct=int(correct),
            samples=int(samples),
            loss=window_loss / window_samples if fresh else self.last.loss,
            accuracy=window_hits / window_samples if fresh else self.last.accuracy,
            samples_per_second=window_samples / elapsed if fresh and elapsed > 0 else 0.0,
            diverged=(int(bad[0]), bad[1]) if bad is not None else None,
            stop=any(columns[9]),
        )
        if fresh:
            # as many steps as took CHECK_IN_SECONDS this time: the wait above makes `elapsed` the
            # device's time for them, not just the time the host took to queue them
            self.interval = max(1, round(self.steps_since * CHECK_IN_SECONDS / max(elapsed, 1e-9)))
        self.window.zero_()
        self.window_samples = 0
        self.steps_since = 0
        self.window_started = time.perf_counter()
        return self.last
