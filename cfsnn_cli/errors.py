"""The one error family for user mistakes: the CLI prints it as one line and exits with code 2."""

EXIT_USER_ERROR = 2  # the exit code of a mistake in what was given


class CfsnnError(ValueError):
    """A mistake in what the user gave (an option, a recipe field, a file).

    `field` names the offending option (``"tau"``, ``"neuron.levels"``) so that a caller higher up
    can place it under its recipe section; `source` is the file it came from, when there is one.
    """

    def __init__(self, field: str, problem: str | None = None, source: str | None = None):
        if problem is None:
            # Rebuilt from one message, as torch's DataLoader does with an error raised in a worker
            # process: "Caught CfsnnError in DataLoader worker …\n<traceback>\nCfsnnError: FIELD: PROBLEM".
            last_line = field.strip().splitlines()[-1].split("CfsnnError: ", 1)[-1]
            field, _, problem = last_line.partition(": ")
        self.field = field
        self.problem = problem
        self.source = source
        where = f"{source}: " if source else ""
        super().__init__(f"{where}{field}: {problem}")

    def within(self, section: str) -> "CfsnnError":
        """The same error with its field placed under `section` (``tau`` → ``neuron.tau``)."""
        return CfsnnError(f"{section}.{self.field}", self.problem, self.source)

    def from_source(self, source: str) -> "CfsnnError":
        return CfsnnError(self.field, self.problem, source)


def require(condition: bool, field: str, problem: str) -> None:
    if not condition:
        raise CfsnnError(field, problem)


class CfsnnNotice(UserWarning):
    """Something the user should know that is not a mistake (a file read unverified, a setting of a
    checkpoint's that this machine does not take): the library warns with it, and the CLI prints
    each different notice once, as one `cfsnn: note:` line on stderr."""
