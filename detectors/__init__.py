"""Detectors: one module per typology, and the one explicit registry of them.

The registry maps a detector name (used by rules/*.yaml) to its module. A duplicate name fails at import.
"""

from __future__ import annotations

from importlib import import_module
from types import ModuleType


def _registry(*entries: tuple[str, ModuleType]) -> dict[str, ModuleType]:
    registry: dict[str, ModuleType] = {}
    for name, module in entries:
        if name in registry:
            raise ImportError(f"detector '{name}' is registered twice")
        registry[name] = module
    return registry


DETECTORS: dict[str, ModuleType] = _registry(
    ("fan_in", import_module("detectors.fan_in")),
    ("pass_through", import_module("detectors.pass_through")),
    ("round_amounts", import_module("detectors.round_amounts")),
    ("memo_keywords", import_module("detectors.memo_keywords")),
    ("elderly_payers", import_module("detectors.elderly_payers")),
    ("dormant_burst", import_module("detectors.dormant_burst")),
    ("night_activity", import_module("detectors.night_activity")),
    ("insider_commission", import_module("detectors.insider_commission")),
    ("cash_out", import_module("detectors.cash_out")),
    ("cross_region", import_module("detectors.cross_region")),
    ("unrelated_business", import_module("detectors.unrelated_business")),
    ("near_threshold", import_module("detectors.near_threshold")),
    ("anomaly", import_module("detectors.anomaly")),
    ("interest_payout", import_module("detectors.interest_payout")),
    ("hub_degree", import_module("detectors.hub_degree")),
    ("cycle", import_module("detectors.cycle")),
    ("scatter_gather", import_module("detectors.scatter_gather")),
    ("gather_scatter", import_module("detectors.gather_scatter")),
    ("bipartite", import_module("detectors.bipartite")),
    ("controlled_accounts", import_module("detectors.controlled_accounts")),
    ("graph_fan", import_module("detectors.graph_fan")),
    ("graph_cycle", import_module("detectors.graph_cycle")),
    ("graph_scatter_gather", import_module("detectors.graph_scatter_gather")),
    ("graph_gather_scatter", import_module("detectors.graph_gather_scatter")),
    ("graph_bipartite", import_module("detectors.graph_bipartite")),
)
