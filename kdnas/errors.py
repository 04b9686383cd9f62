"""Errors a user can cause, and errors that fail one trial.

`UserError` ends a command with one line and exit status 2 (the CLI catches it);
`TrialFailure` fails the trial it happened in, with its reason, and the search goes on.
"""

from __future__ import annotations


class UserError(Exception):
    """A problem the user can fix: config, data, checkpoint or arguments.

    The message is one line that names the problem (and the file/field where known).
    """


class ConfigError(UserError):
    """A study or search-space file is invalid."""


class DataError(UserError):
    """A data set cannot be found, read or verified."""


class CheckpointError(UserError):
    """A checkpoint is missing, unsafe to load, or of another architecture."""


class TrialFailure(Exception):
    """One trial could not be evaluated; the reason is recorded and the search continues."""
