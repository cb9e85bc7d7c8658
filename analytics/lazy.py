"""Package names that load on first use (PEP 562), so importing a light submodule of a package
does not import its heavy ones (scikit-learn costs a page about a second of its first open)."""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from importlib import import_module
from typing import Any


def home_of(homes: Mapping[str, tuple[str, ...]]) -> dict[str, str]:
    """{name: submodule} from {submodule: names}."""
    return {name: module for module, names in homes.items() for name in names}


def loader(package: str, homes: Mapping[str, str]) -> Callable[[str], Any]:
    """The package's module ``__getattr__``: ``name`` from its submodule, looked up once."""

    def __getattr__(name: str) -> Any:
        module = homes.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(import_module(f"{package}.{module}"), name)
        vars(sys.modules[package])[name] = value
        return value

    return __getattr__
