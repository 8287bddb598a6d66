"""Detectors: one module per typology, and the one explicit registry of them.

The registry maps a detector name (used by rules/*.yaml) to its module. A duplicate name fails at import.
"""

from __future__ import annotations

from types import ModuleType


def _registry(*entries: tuple[str, ModuleType]) -> dict[str, ModuleType]:
    registry: dict[str, ModuleType] = {}
    for name, module in entries:
        if name in registry:
            raise ImportError(f"detector '{name}' is registered twice")
        registry[name] = module
    return registry


DETECTORS: dict[str, ModuleType] = _registry(
)
