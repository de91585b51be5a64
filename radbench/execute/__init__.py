"""Executors: run prepared cell directories, one process per cell."""
