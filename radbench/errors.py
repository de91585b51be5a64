"""Failure kinds of radbench.

Two families, and the difference is part of the API:

* ``ConfigError`` and ``DataError`` stop a run *before any training starts* (exit code 2,
  one line naming the file/row/key and what was expected, nothing half-written).
* Anything a cell raises while it trains is recorded in the cell's directory (failure.json:
  radbench.store.CellFailure, its kind from radbench.execute.policy.classify_exception) and the
  grid goes on.
"""

from __future__ import annotations


class RadbenchError(Exception):
    """Base class of every error radbench reports as a one-line message."""

    exit_code = 2


class ConfigError(RadbenchError):
    """A task or grid configuration (or a command-line option) is invalid."""


class DataError(RadbenchError):
    """A dataset is missing, unreadable or does not fit the task."""
