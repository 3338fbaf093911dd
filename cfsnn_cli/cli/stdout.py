"""stdout that outlives its reader: `cfsnn train | head -1` still finishes the run and writes its files.

Python ignores SIGPIPE, so once the reader of a pipe has gone every write to stdout raises
BrokenPipeError wherever it happens to be — in rich (which then exits with 1), in click, in the
progress bar's refresh thread, or in the flush at interpreter exit ("Exception ignored ...").
The work a command does must never depend on someone still reading what it prints, so the first
BrokenPipeError points file descriptor 1 at /dev/null and every later write quietly succeeds.
"""

import os
import sys


class SurvivesClosedPipe:
    """Wraps a text stream (sys.stdout); everything but writing and flushing is the stream's own."""

    def __init__(self, stream):
        self._stream = stream
        self.reader_gone = False

    def write(self, text: str) -> int:
        try:
            return self._stream.write(text)
        except BrokenPipeError:
            self._discard_from_now_on()
            return len(text)

    def writelines(self, lines) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        try:
            self._stream.flush()
        except BrokenPipeError:
            self._discard_from_now_on()
            self._stream.flush()  # what was still buffered now goes to /dev/null, so the exit flush is quiet

    def _discard_from_now_on(self) -> None:
        self.reader_gone = True
        devnull = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(devnull, self._stream.fileno())
        finally:
            os.close(devnull)

    def __getattr__(self, name):
        return getattr(self._stream, name)


def guard_stdout() -> None:
    """Install the wrapper on sys.stdout (once); the `cfsnn` program calls this before anything prints."""
    if sys.stdout is not None and not isinstance(sys.stdout, SurvivesClosedPipe):
        sys.stdout = SurvivesClosedPipe(sys.stdout)
