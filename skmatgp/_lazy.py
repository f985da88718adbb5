"""Public names that load their module on first use (PEP 562), so that importing a package
stays cheap: torch_geometric, gpytorch and the pretrained potentials load when a model does."""

from __future__ import annotations

import importlib


def lazy_exports(package: str, sources: dict[str, str]):
    """``__getattr__`` and ``__dir__`` for ``package`` whose public names live in the modules
    ``sources`` gives (name -> relative module)."""
    namespace = importlib.import_module(package).__dict__

    def __getattr__(name: str):
        if name in sources:
            value = getattr(importlib.import_module(sources[name], package), name)
            namespace[name] = value  # later look-ups skip this function
            return value
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    def __dir__() -> list[str]:
        return sorted(set(namespace) | set(sources))

    return __getattr__, __dir__
