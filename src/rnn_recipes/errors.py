"""The errors a user can cause, and the one base the CLI turns into `error: ...` and exit 2.

Every module raises a subclass of `UserError` for input it refuses; the
message is one line meant for the user, saying what was wrong and what was
expected. This module imports nothing from the project, so any module may
import it.
"""

from __future__ import annotations


class UserError(Exception):
    """Input the tool refuses; the message is one line meant for the user."""


class ConfigError(UserError):
    """A config that cannot be used."""


class DataError(UserError):
    """A dataset that cannot be loaded."""


class RunError(UserError):
    """A run directory that cannot be used."""


class GenerateError(UserError):
    """Generation cannot start."""


class DistributeError(UserError):
    """A distributed run that cannot start as configured."""


class Interrupted(BaseException):
    """SIGINT or SIGTERM during training; the message says how to resume.

    A BaseException, like KeyboardInterrupt, so no `except Exception` inside a
    library swallows it.
    """

    def __init__(self, signum: int, message: str):
        super().__init__(message)
        self.exit_code = 128 + signum  # the shell's convention: 130 for SIGINT, 143 for SIGTERM
