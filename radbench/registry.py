"""A named registry (backbones in radbench.models, adapters in radbench.data): a dict that
refuses a second entry of one name and answers an unknown name with one line listing the known."""

from __future__ import annotations

from typing import Generic, TypeVar

from radbench.errors import ConfigError

Entry = TypeVar("Entry")


class Registry(dict, Generic[Entry]):
    """name -> entry, in the order of registration."""

    def __init__(self, kind: str):
        super().__init__()
        self.kind = kind

    def register(self, name: str, entry: Entry) -> Entry:
        """Add `entry` under `name` (which must be new); returns the entry."""
        if name in self:
            raise ValueError(f"{self.kind} {name!r} is registered already")
        self[name] = entry
        return entry

    def get_entry(self, name: str, where: str = "") -> Entry:
        """The entry of `name`; a ConfigError naming `where` and the registered names."""
        try:
            return self[name]
        except KeyError:
            prefix = f"{where}: " if where else ""
            raise ConfigError(f"{prefix}unknown {self.kind} {name!r}; expected one of "
                              f"{', '.join(self)}") from None
