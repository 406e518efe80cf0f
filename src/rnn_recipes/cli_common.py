"""What every `rnn` command shares: the one place errors become what a user sees, and the config argument.

`cli.py` and `cli_recipes.py` hold the commands; each runs its work inside
`user_errors()`. Nothing here imports TensorFlow, so `rnn --help` answers at
once.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path

import typer

CONFIG_HELP = "A YAML config file, or the name of a bundled config (see `rnn configs`)."


def resolve_config(name: str) -> Path:
    """A config path, or the bundled config of that name (`hello_lstm`, `tiny/sine_simple_rnn`)."""
    from rnn_recipes.bundled import resolve_named

    return resolve_named(name, "configs")


DEBUG_ENV = "RNN_DEBUG"  # set to 1 to see the traceback of an unexpected error

_COMMAND = "rnn"  # the command running, named in an unexpected error
_DEBUG = False  # --debug: let an unexpected error's traceback through


def invoked(command: str, debug: bool) -> None:
    """Note the command running and whether --debug was given, for `user_errors`."""
    global _COMMAND, _DEBUG
    _COMMAND = command
    _DEBUG = debug


@contextmanager
def user_errors():
    """The one place where errors become what a user sees.

    A user error is one line, `error: ...`, and exit code 2. Anything else is a
    bug: one line naming the command and the exception type, a request for a
    report, and exit code 1; its traceback only with --debug or RNN_DEBUG=1.
    """
    from rnn_recipes.errors import Interrupted, UserError
    from rnn_recipes.safeyaml import one_line

    try:
        yield
    except UserError as exc:
        typer.echo(one_line(f"error: {_capped(str(exc))}"), err=True)
        raise typer.Exit(2) from None
    except Interrupted as exc:  # SIGINT/SIGTERM during training: the message holds the resume command
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(exc.exit_code) from None
    except KeyboardInterrupt:
        typer.echo("error: interrupted", err=True)
        raise typer.Exit(130) from None
    except (typer.Exit, typer.Abort, typer.BadParameter):
        raise
    except Exception as exc:  # noqa: BLE001 - the last line of defence: never a raw traceback
        if _DEBUG or os.environ.get(DEBUG_ENV, "") not in ("", "0"):
            raise
        detail = _capped(str(exc), 200)
        typer.echo(
            one_line(
                f"error: `{_COMMAND}` failed unexpectedly with {type(exc).__name__}"
                f"{': ' + detail if detail else ''}; this is a bug, please report it "
                f"(rerun with --debug or {DEBUG_ENV}=1 for the traceback)"
            ),
            err=True,
        )
        raise typer.Exit(1) from None


MAX_MESSAGE = 2_000  # a message quoting a huge input is cut, so the line stays readable


def _capped(text: str, limit: int = MAX_MESSAGE) -> str:
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text) - limit:,} more characters)"
