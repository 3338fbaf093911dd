"""A sweep's trials in Optuna's storage: a configuration another process holds is left to it, one
an error stopped is run again by the next sweep process, and a lost process's trial is told FAIL."""

import pytest

from cfsnn_cli.engine.report import Reporter
from cfsnn_cli.engine.training_ends import StopRequest
from cfsnn_cli.sweep.plan import make_plan, run_name
from cfsnn_cli.sweep.run import SweepEvents, start_sweep
from cfsnn_cli.sweep.study import BUSY_ATTR, ERROR_ATTR, RUN_ATTR
from cfsnn_cli.sweep.trial import lock_claimed

pytestmark = pytest.mark.slow  # each test trains a few one-epoch quickstarts

TINY = ["model.hidden=[16]", "train.epochs=1", "data.batch_size=128"]


def sweep_of(out, *grid):
    plan = make_plan("quickstart", TINY, list(grid), 1, None, None)
    return start_sweep(plan, out, None)[0]


def states(sweep):
    return [
        (t.user_attrs.get(RUN_ATTR), t.state.name, t.user_attrs) for t in sweep.study.study.get_trials()
    ]  # Optuna's study


def test_a_configuration_held_by_another_process_is_left_to_it_then_finished(tmp_path):
    sweep = sweep_of(tmp_path / "s", "neuron.kind=cf,lif")
    held = run_name({"neuron.kind": '"lif"', "seed": "0"})
    with lock_claimed(sweep.folder.lock_path(held)):
        progress = sweep.run(Reporter(), SweepEvents(), StopRequest())
    assert (progress.finished, progress.total) == (1, 2)
    busy = [attrs for name, state, attrs in states(sweep) if state == "PRUNED"]
    assert busy and all(attrs.get(BUSY_ATTR) == held for attrs in busy)
    assert not sweep.folder.run_dir(held).exists()

    again = sweep_of(tmp_path / "s", "neuron.kind=cf,lif")  # the same command, later
    progress = again.run(Reporter(), SweepEvents(), StopRequest())
    assert (progress.finished, progress.total) == (2, 2)
    assert sweep.folder.run_dir(held).is_dir()


def test_a_configuration_an_error_stopped_runs_again_and_a_lost_trial_is_told_fail(tmp_path):
    sweep = sweep_of(tmp_path / "s", "neuron.kind=cf,lif")
    broken = run_name({"neuron.kind": '"cf"', "seed": "0"})
    sweep.folder.run_dir(broken).parent.mkdir(parents=True)
    sweep.folder.run_dir(broken).write_text("a file where the run folder goes")
    with pytest.raises(OSError):
        while True:
            sweep.run(Reporter(), SweepEvents(), StopRequest())
    failed = [attrs for name, state, attrs in states(sweep) if name == broken and state == "FAIL"]
    assert failed and ERROR_ATTR in failed[0]

    lost = sweep.study.ask()  # a trial whose process died while it held its run name
    lost.set_user_attr(RUN_ATTR, run_name({"neuron.kind": '"lif"', "seed": "0"}))
    sweep.folder.run_dir(broken).unlink()
    again = sweep_of(tmp_path / "s", "neuron.kind=cf,lif")
    progress = again.run(Reporter(), SweepEvents(), StopRequest())
    assert (progress.finished, progress.total) == (2, 2)
    assert all(state != "RUNNING" for _, state, _ in states(again))
