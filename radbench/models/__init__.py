"""Backbones, the classification head, freeze settings and pretraining sources.

The backbone registry (`BACKBONES`, `register_backbone`) is this package's one registry.
"""

from radbench.models.backbones import BACKBONES, Backbone, WeightFile, get_backbone, \
    register_backbone

__all__ = ["BACKBONES", "Backbone", "WeightFile", "get_backbone", "register_backbone"]
