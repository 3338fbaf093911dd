"""One trial's folder: pruned after an epoch it keeps a resumable state; run again it resumes and
finishes; finished, it is only read; its lock has one holder at a time."""

import json

import pytest

from cfsnn_cli.engine.report import Reporter
from cfsnn_cli.engine.training_ends import StopRequest
from cfsnn_cli.sweep.trial import lock_claimed, lock_is_free, run_trial
from tests.engine.helpers import tiny_recipe


def metrics(run_dir):
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


@pytest.mark.slow
def test_a_pruned_trial_resumes_where_it_stopped_and_a_finished_one_is_only_read(tmp_path):
    recipe = tiny_recipe("train.epochs=3")
    run_dir = tmp_path / "trials" / "a"
    asked = []

    def prune_after_first_epoch(epoch, _metrics):
        asked.append(epoch)
        return True

    stop = StopRequest()
    pruned = run_trial(recipe, run_dir, Reporter(), stop, prune_after_first_epoch)
    assert pruned.pruned and asked == [1] and stop.reason is None
    first = metrics(run_dir)
    assert [m["epoch"] for m in first] == [1]

    finished = run_trial(recipe, run_dir, Reporter(), StopRequest())
    assert finished.resumed and not finished.pruned
    after = metrics(run_dir)
    assert [m["epoch"] for m in after] == [1, 2, 3] and after[0] == first[0]
    assert finished.final_accuracy == after[-1]["test_accuracy"]

    model = (run_dir / "model.safetensors").stat().st_mtime_ns
    again = run_trial(recipe, run_dir, Reporter(), StopRequest())
    assert again.already_finished and again.final_accuracy == finished.final_accuracy
    assert (run_dir / "model.safetensors").stat().st_mtime_ns == model


def test_a_lock_has_one_holder_at_a_time_and_is_free_after(tmp_path):
    lock = tmp_path / "locks" / "b.lock"
    with lock_claimed(lock) as ours:
        # flock locks belong to an open file: a second open in this process plays another process
        assert ours and not lock_is_free(lock)
        with lock_claimed(lock) as again:
            assert not again
    assert lock_is_free(lock)


@pytest.mark.slow
def test_a_folder_left_by_a_trial_killed_before_its_first_epoch_starts_over(tmp_path):
    run_dir = tmp_path / "trials" / "c"
    run_dir.mkdir(parents=True)
    (run_dir / "recipe.toml").write_text("left behind")
    outcome = run_trial(tiny_recipe("train.epochs=1"), run_dir, Reporter(), StopRequest())
    assert not outcome.resumed and [m["epoch"] for m in metrics(run_dir)] == [1]
