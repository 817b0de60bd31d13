"""Exceptions that carry a message meant for the user.

The CLI prints ``str(error)`` of these as one line and exits non-zero, so messages must name
the culprit (a path, a band, a setting) and say what would fix it.
"""

from __future__ import annotations


class PostureWatchError(Exception):
    """Base of every error posturewatch raises on purpose."""

    exit_code = 2


class InputError(PostureWatchError):
    """The user's input (a file, an argument, a config) cannot be used as given."""


class NoOverlapError(InputError):
    """Two inputs (or an input and an AOI) do not share any ground."""


class ConfigError(InputError):
    """A YAML config is missing, malformed or fails validation."""
