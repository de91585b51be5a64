"""Backbones, the classification head, freeze settings and pretraining sources."""
