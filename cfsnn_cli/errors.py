"""The one error family for user mistakes: the CLI prints it as one line and exits with code 2."""


class CfsnnError(ValueError):
    """A mistake in what the user gave (an option, a recipe field, a file).

    `field` names the offending option (``"tau"``, ``"neuron.levels"``) so that a caller higher up
    can prefix it with the recipe section or the file it came from.
    """

    def __init__(self, field: str, problem: str):
        self.field = field
        self.problem = problem
        super().__init__(f"{field}: {problem}")

    def within(self, section: str) -> "CfsnnError":
        """The same error with its field placed under `section` (``tau`` → ``neuron.tau``)."""
        return CfsnnError(f"{section}.{self.field}", self.problem)


def require(condition: bool, field: str, problem: str) -> None:
    if not condition:
        raise CfsnnError(field, problem)
