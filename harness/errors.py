"""Errors that end a command with a one-line message and exit status 2."""

from __future__ import annotations


class FwlabError(RuntimeError):
    """A usage or infrastructure error: printed as one line, exit status 2."""


class UsageError(FwlabError):
    """Bad input: unknown axis value, unknown lab, malformed file, name taken..."""
