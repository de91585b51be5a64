"""Datasets: adapters to one manifest, patient-grouped splits, and the uint8 image cache.

The adapter registry (`ADAPTERS`, `register_adapter`) is this package's one registry.
"""

from radbench.data.adapters import ADAPTERS, Adapter, get_adapter, register_adapter

__all__ = ["ADAPTERS", "Adapter", "get_adapter", "register_adapter"]
