"""The signal handlers: the first signal asks for a stop, a second Ctrl-C aborts — but never in the
middle of writing a checkpoint."""

import os
import signal

import pytest

from cfsnn_cli.cli.signals import stop_on_signals
from cfsnn_cli.engine.train import train
from cfsnn_cli.engine.training_ends import InterruptedBeforeTraining, StopRequest
from tests.engine.helpers import tiny_recipe


def test_first_signal_requests_a_stop_second_ctrl_c_aborts_except_while_saving():
    stop, said = StopRequest(), []
    with stop_on_signals(stop, said.append):
        os.kill(os.getpid(), signal.SIGTERM)
        assert stop.reason == "SIGTERM"
        with stop.shielded():
            os.kill(os.getpid(), signal.SIGINT)  # deferred: a checkpoint is being written
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGINT)
    assert len(said) == 2


def test_a_stop_during_setup_writes_nothing(tmp_path):
    stop = StopRequest()
    stop.request("SIGINT")
    with pytest.raises(InterruptedBeforeTraining):
        train(tiny_recipe(), tmp_path / "run", stop=stop)
    assert not (tmp_path / "run").exists()
