"""Ctrl-C and SIGTERM end training cleanly: the first asks the engine to stop after the current
step (it then saves a resumable checkpoint); a second Ctrl-C aborts at once."""

import signal
from contextlib import contextmanager

from cfsnn_cli.engine.training_ends import StopRequest


@contextmanager
def stop_on_signals(stop: StopRequest, announce):
    def handle(number, _frame):
        name = signal.Signals(number).name
        if stop.reason is not None and number == signal.SIGINT:
            if stop.saving:
                announce("finishing the checkpoint being written first")
                return
            raise KeyboardInterrupt
        stop.request(name)
        announce(f"{name} received: saving a resumable checkpoint after this step (Ctrl-C again to abort)")

    previous = {number: signal.signal(number, handle) for number in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
