"""Training sums kept on the device: the same numbers as summing on the host, a non-finite loss
named by its own step however late it is read, and reads per epoch rather than per batch."""

import math
import sys
from unittest import mock

import pytest
import torch

from cfsnn_cli.engine import tally
from cfsnn_cli.engine.tally import StepTally
from cfsnn_cli.engine.train import train
from cfsnn_cli.engine.training_state import TrainingPosition
from tests.engine.helpers import tiny_recipe

CPU = torch.device("cpu")


def test_sums_equal_the_host_sums_they_replace_and_continue_a_resumed_epoch():
    losses = torch.rand(50, dtype=torch.float32) * 3
    carried = TrainingPosition(epoch=0, next_step=7, global_step=7, loss_sum=12.375, correct=100, samples=224)
    counter = StepTally(carried, CPU)
    expected_loss, expected_correct = carried.loss_sum, carried.correct
    for step, loss in enumerate(losses, start=8):
        hits = torch.tensor(step % 5)
        counter.add(step, loss, None, hits, 32)
        expected_loss += loss.item() * 32  # what the loop summed when it read every loss
        expected_correct += step % 5
    reading = counter.check_in()
    assert reading.loss_sum == expected_loss  # float64 on both sides, the same additions in order
    assert (reading.correct, reading.samples, reading.balance_sum) == (expected_correct, 224 + 50 * 32, 0.0)
    assert reading.diverged is None


def test_the_first_non_finite_loss_is_named_by_its_step_when_read_later():
    counter = StepTally(TrainingPosition(epoch=0, next_step=0, global_step=0), CPU)
    for step, loss in enumerate([1.0, 2.0, math.inf, 3.0, math.nan], start=1):
        counter.add(step, torch.tensor(loss), torch.tensor(0.5), torch.tensor(1), 4)
    assert counter.check_in().diverged == (3, math.inf)


def test_a_reading_covers_the_steps_since_the_previous_one():
    counter = StepTally(TrainingPosition(epoch=0, next_step=0, global_step=0), CPU)
    counter.add(1, torch.tensor(4.0), None, torch.tensor(2), 4)
    first = counter.check_in()
    counter.add(2, torch.tensor(1.0), None, torch.tensor(1), 4)
    counter.add(3, torch.tensor(2.0), None, torch.tensor(3), 2)
    second = counter.check_in()
    assert (first.loss, first.accuracy) == (4.0, 0.5)
    assert second.loss == pytest.approx((1.0 * 4 + 2.0 * 2) / 6) and second.accuracy == pytest.approx(4 / 6)
    assert second.loss_sum == 4.0 * 4 + 1.0 * 4 + 2.0 * 2 and second.samples == 10


def test_the_engine_reads_the_device_per_epoch_not_per_batch(tmp_path, monkeypatch):
    """Every read the engine's own modules make (.item(), .tolist(), int(), float(), bool()),
    counted for a run of 6 and one of 12 steps per epoch: the number must not grow with the steps.
    (On the CPU a read costs nothing; on a GPU each one waits for all queued work.) The profile of
    the trained model that ends a run (engine/final_profile.py over profile.py, synops.py and
    connectivity.py) is left out: it runs once per run, not per epoch, and reads per test batch as
    `cfsnn profile-spikes` does."""
    engine = "/cfsnn_cli/engine/"
    final_profile = ("final_profile.py", "profile.py", "synops.py", "connectivity.py")
    reads = []

    def counting(name):
        real = getattr(torch.Tensor, name)

        def read(self, *args, **kwargs):
            caller = sys._getframe(1).f_code.co_filename
            if engine in caller and not caller.endswith(final_profile):
                reads.append(name)
            return real(self, *args, **kwargs)

        return read

    def count_run(batch_size: int) -> int:
        reads.clear()
        with mock.patch.multiple(
            torch.Tensor, **{name: counting(name) for name in ("item", "tolist", "__int__", "__float__", "__bool__")}
        ):
            train(tiny_recipe("train.epochs=1", f"data.batch_size={batch_size}"), tmp_path / str(batch_size))
        return len(reads)

    # check-ins only where they must be (first and last step of the epoch), whatever the speed
    monkeypatch.setattr(tally, "CHECK_IN_SECONDS", 1e9)
    per_epoch = count_run(256)
    assert count_run(128) == per_epoch < 6
