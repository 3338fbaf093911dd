"""Exit codes and one-line messages for how a command can end other than by success."""

import signal

from cfsnn_cli.engine.train import InterruptedBeforeTraining, TrainingDiverged, TrainingInterrupted

EXIT_FAILED = 1


def exit_code_and_message(error: Exception) -> tuple[int, str]:
    if isinstance(error, (TrainingInterrupted, InterruptedBeforeTraining)):
        number = signal.SIGTERM if error.reason == "SIGTERM" else signal.SIGINT
        resume = (
            f"; continue with: cfsnn train --resume {error.run_dir}" if isinstance(error, TrainingInterrupted) else ""
        )
        return 128 + number, f"cfsnn: {error}{resume}"
    if isinstance(error, TrainingDiverged):
        return EXIT_FAILED, f"cfsnn: training stopped: {error}"
    return (
        EXIT_FAILED,
        f"cfsnn: internal error: {type(error).__name__}: {error} (run with CFSNN_DEBUG=1 for the traceback)",
    )
