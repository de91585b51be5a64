"""Datasets: adapters to one manifest, patient-grouped splits, and the uint8 image cache."""
