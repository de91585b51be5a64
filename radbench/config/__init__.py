"""Task and grid configuration: validated models and YAML loading."""

from radbench.config.load import load_grid, load_task, resolve_config_path
from radbench.config.schema import GridConfig, TaskConfig

__all__ = ["GridConfig", "TaskConfig", "load_grid", "load_task", "resolve_config_path"]
