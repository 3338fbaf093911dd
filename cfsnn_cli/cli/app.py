"""The `cfsnn` Typer app. Commands are thin (checks → one engine call → rendering); user mistakes
from anywhere are caught here, once, and printed as one line with exit code 2."""

import os
import sys
import warnings
from typing import Annotated

import typer
from typer.core import TyperGroup

from cfsnn_cli.cli import compare, export, profile, recipes, sweep, train
from cfsnn_cli.cli import eval as eval_command
from cfsnn_cli.cli.typed_flags import as_typed
from cfsnn_cli.errors import EXIT_USER_ERROR, CfsnnError, CfsnnNotice

try:  # Typer 0.2x carries its own copy of click; its usage errors are of that copy's classes
    from typer._click.exceptions import NoArgsIsHelpError, UsageError
except ImportError:
    from click.exceptions import NoArgsIsHelpError, UsageError


def debugging() -> bool:
    return os.environ.get("CFSNN_DEBUG", "") not in ("", "0")


def _param_name(param) -> str:
    """`--ckpt` for an option, `NAME` for an argument."""
    opts = getattr(param, "opts", None) or []
    return opts[0] if opts and opts[0].startswith("-") else (param.name or "").upper()


def usage_line(error: UsageError) -> str:
    """A usage error (a missing option, an unknown one, a value of the wrong type) as the one line
    every other mistake is: the option first where there is one, and where to read the options."""
    message = error.format_message().rstrip(".")
    param = getattr(error, "param", None)
    option = getattr(error, "option_name", None) or (_param_name(param) if param is not None else None)
    if option and message.startswith("Missing"):
        message = f"{option}: is required"
    elif option:
        for said in (f"No such option: {option}", f"Invalid value for '{option}': ", f"Invalid value for {option}: "):
            message = message.replace(said, "no such option" if said.startswith("No") else "")
        message = f"{option}: {message[0].lower()}{message[1:]}"
    where = error.ctx.command_path if error.ctx is not None else "cfsnn"
    return f"cfsnn: error: {message} (see: {where} --help)"


def notices_as_lines(show):
    """A `warnings.showwarning` that prints the library's notices as one `cfsnn: note:` line each
    and hands other warnings to `show`."""

    def show_warning(message, category, *where, **more) -> None:
        if issubclass(category, CfsnnNotice):
            typer.echo(f"cfsnn: note: {message}", err=True)
        else:
            show(message, category, *where, **more)

    return show_warning


class CfsnnGroup(TyperGroup):
    """Turns the engine's exceptions into one line on stderr and an exit code, and its notices
    into `cfsnn: note:` lines."""

    def invoke(self, ctx: typer.Context):
        with warnings.catch_warnings():
            warnings.simplefilter("default", CfsnnNotice)  # each different notice once
            warnings.showwarning = notices_as_lines(warnings.showwarning)
            return self._invoke(ctx)

    def _invoke(self, ctx: typer.Context):
        try:
            return super().invoke(ctx)
        except CfsnnError as error:
            if debugging():
                raise
            typer.echo(f"cfsnn: error: {as_typed(error)}", err=True)
            ctx.exit(EXIT_USER_ERROR)
        except NoArgsIsHelpError:  # `cfsnn` alone shows the help
            raise
        except UsageError as error:
            if debugging():
                raise
            typer.echo(usage_line(error), err=True)
            ctx.exit(EXIT_USER_ERROR)
        except (typer.Exit, typer.Abort, typer.TyperException):  # the CLI's own flow: --help, --version
            raise
        except Exception as error:
            if debugging():
                raise
            # knows the engine's exceptions, and so imports torch: only for a command that failed
            from cfsnn_cli.cli.outcomes import exit_code_and_message

            code, message = exit_code_and_message(error)
            if message is not None:
                typer.echo(message, err=True)
            ctx.exit(code)


app = typer.Typer(
    name="cfsnn",
    cls=CfsnnGroup,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def show_version(wanted: bool) -> None:
    if wanted:
        from importlib.metadata import version

        typer.echo(f"cfsnn {version('cfsnn')}")
        raise typer.Exit()


@app.callback()
def options(
    version: Annotated[
        bool,
        typer.Option("--version", help="Print the version and exit.", callback=show_version, is_eager=True),
    ] = False,
) -> None:
    """Train and evaluate spiking neural networks with circulate-firing neurons."""


app.command("train")(train.train)
app.command("eval")(eval_command.evaluate)
app.command("profile-spikes")(profile.profile_spikes)
app.command("export")(export.export)
app.command("sweep")(sweep.sweep)
app.command("compare")(compare.compare)
app.add_typer(recipes.app, name="recipes")


def main() -> None:
    from cfsnn_cli.cli.stdout import guard_stdout

    guard_stdout()  # a closed pipe on stdout (`cfsnn train | head`) must not stop the work
    sys.exit(app())
