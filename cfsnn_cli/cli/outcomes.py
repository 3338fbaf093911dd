"""Exit codes and one-line messages for how a command can end other than by success."""

import errno
import os
import re
import signal
from pathlib import Path

from cfsnn_cli.engine.distributed import PeerFailed, from_environment
from cfsnn_cli.engine.training_ends import (
    InterruptedBeforeTraining,
    RunFolderWriteFailed,
    TrainingDiverged,
    TrainingInterrupted,
)
from cfsnn_cli.errors import EXIT_USER_ERROR

EXIT_FAILED = 1

# Errors of the file system the user pointed cfsnn at (a folder that cannot be made, a full or
# read-only disk), not of cfsnn: they are reported like any other mistake in what was given.
PATH_ERRNOS = {
    errno.ENOENT,
    errno.ENOTDIR,
    errno.EISDIR,
    errno.EEXIST,
    errno.EACCES,
    errno.EPERM,
    errno.EROFS,
    errno.ENOSPC,
    errno.EDQUOT,
    errno.ENAMETOOLONG,
    errno.ELOOP,
}


def exit_code_and_message(error: Exception) -> tuple[int, str | None]:
    """The exit code and the line to print (None: nothing, as for what process 0 of a torchrun run
    already says for all of them)."""
    code, message = _exit_code_and_message(error)
    agreed = (TrainingInterrupted, InterruptedBeforeTraining, TrainingDiverged, PeerFailed)
    return code, None if isinstance(error, agreed) and not from_environment().main else message


def _exit_code_and_message(error: Exception) -> tuple[int, str]:
    if isinstance(error, PeerFailed):
        return EXIT_FAILED, f"cfsnn: {error}"
    if isinstance(error, (TrainingInterrupted, InterruptedBeforeTraining)):
        number = signal.SIGTERM if error.reason == "SIGTERM" else signal.SIGINT
        resume = f"; {resume_command(error.run_dir)}" if isinstance(error, TrainingInterrupted) else ""
        return 128 + number, f"cfsnn: {error}{resume}"
    if isinstance(error, RunFolderWriteFailed):
        how = (
            f"once it is fixed (space freed, say), {resume_command(error.run_dir)}"
            if error.resumable
            else "start again once it is fixed"
        )
        return EXIT_USER_ERROR, f"cfsnn: error: {error}; {how}"
    if isinstance(error, TrainingDiverged):
        return EXIT_FAILED, f"cfsnn: training stopped: {error}"
    if isinstance(error, OSError) and (problem := path_problem(error)) is not None:
        return EXIT_USER_ERROR, f"cfsnn: error: {problem}"
    return (
        EXIT_FAILED,
        f"cfsnn: internal error: {type(error).__name__}: {error} (run with CFSNN_DEBUG=1 for the traceback)",
    )


def resume_command(run_dir: Path) -> str:
    """How to continue the run in `run_dir`, as the user started it."""
    if from_environment().launched:
        return f"continue with the same torchrun command ending in: train --resume {run_dir}"
    return f"continue with: cfsnn train --resume {run_dir}"


def path_problem(error: OSError) -> str | None:
    """`PATH: what the system said` for a file-system error, or None for any other OSError."""
    if error.errno in PATH_ERRNOS and error.strerror:
        if error.filename is None:
            return error.strerror  # a write that ran out of space names no file
        where = _name(error.filename)
        if error.filename2 is not None:
            where = f"{where} -> {_name(error.filename2)}"
        return f"{where}: {error.strerror}{_file_in_the_way(where) if error.errno == errno.ENOTDIR else ''}"
    # torch's DataLoader re-raises a worker's error as the same type built from one message, the
    # worker's traceback, whose last line is the original "FileNotFoundError: [Errno 2] ...: 'PATH'".
    message = str(error)
    if error.errno is None and "DataLoader worker" in message:
        last_line = message.strip().splitlines()[-1]
        original = re.fullmatch(rf"{type(error).__name__}: \[Errno (\d+)\] (.+?)(?:: '(.+)')?", last_line)
        if original and int(original[1]) in PATH_ERRNOS:
            return f"{original[3]}: {original[2]}" if original[3] else original[2]
    return None


def _name(filename) -> str:
    return os.fsdecode(filename) if isinstance(filename, bytes) else str(filename)


def _file_in_the_way(path: str) -> str:
    """Which part of `path` is a file where a folder was needed: often the real mistake."""
    for parent in Path(path).parents:
        if parent.is_file():
            return f" ({parent} is a file)"
    return ""
