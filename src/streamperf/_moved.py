"""Old import paths of the adapter API, kept working for one release with a warning:
users' adapters import them (docs/platforms.md lists the new ones)."""

from __future__ import annotations

import importlib
import warnings
from collections.abc import Callable, Mapping
from typing import Any


def warn_moved(old: str, new: str) -> None:
    warnings.warn(f"{old} moved to {new}; the old path goes in the next release",
                  DeprecationWarning, stacklevel=3)


def forward(module: str, homes: Mapping[str, str]) -> Callable[[str], Any]:
    """A module's __getattr__ handing out each moved name (name -> its new module) from
    its new home, with a DeprecationWarning naming both paths."""

    def __getattr__(name: str) -> Any:
        home = homes.get(name)
        if home is None:
            raise AttributeError(f"module {module!r} has no attribute {name!r}")
        warn_moved(f"{module}.{name}", f"{home}.{name}")
        return getattr(importlib.import_module(home), name)

    return __getattr__
