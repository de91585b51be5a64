"""Reading task and grid YAML files, with one-line errors naming the file and the key."""

from __future__ import annotations

import importlib.resources
import os
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from radbench.config.schema import ConfigFile, GridConfig, TaskConfig
from radbench.errors import ConfigError

Model = TypeVar("Model", bound=BaseModel)


def config_root() -> Path:
    """The folder of shipped configs: $RADBENCH_CONFIGS, else the package's own `configs/`
    (package data, so an installed wheel finds them; `configs/` at the top of a checkout is a
    link to it)."""
    env = os.environ.get("RADBENCH_CONFIGS")
    if env:
        return Path(env)
    return Path(str(importlib.resources.files("radbench") / "configs"))


def shipped_names(kind: str) -> list[str]:
    """Names of the shipped configs of one kind ('tasks' or 'grids')."""
    return sorted(p.stem for p in (config_root() / kind).glob("*.yaml"))


def resolve_config_path(name_or_path: str, kind: str) -> Path:
    """A shipped config name (e.g. 'breast') or the path of a YAML file."""
    candidate = Path(name_or_path)
    singular = {"corpora": "corpus"}.get(kind, kind[:-1])
    if candidate.suffix in (".yaml", ".yml") or os.sep in name_or_path:
        if candidate.is_dir():
            raise ConfigError(f"{name_or_path}: a folder, not a {singular} YAML file")
        if not candidate.is_file():
            raise ConfigError(f"{name_or_path}: no such {singular} file")
        return candidate
    shipped = config_root() / kind / f"{name_or_path}.yaml"
    if not shipped.is_file():
        raise ConfigError(
            f"unknown {singular} {name_or_path!r}; shipped: {', '.join(shipped_names(kind))} "
            f"(or give the path of a YAML file)"
        )
    return shipped


class _UniqueKeyLoader(yaml.SafeLoader):
    """yaml.SafeLoader that refuses a key given twice in one mapping (PyYAML keeps the last
    silently: a grid's second `settings:` would replace the first)."""


def _unique_mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode, deep: bool = False):
    """A mapping whose own keys are distinct; YAML merge keys (`<<: *defaults`) are kept, and
    a key of the mapping itself overrides the merged one, as YAML says."""
    seen: set = set()
    for key_node, _ in node.value:
        if key_node.tag == "tag:yaml.org,2002:merge":
            continue
        key = loader.construct_object(key_node, deep=deep)
        if isinstance(key, (str, int, float, bool)) and key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"key {key!r} appears twice in one mapping", key_node.start_mark)
        seen.add(key) if isinstance(key, (str, int, float, bool)) else None
    return loader.construct_mapping(node, deep=deep)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _unique_mapping)


def read_yaml(path: Path) -> dict[str, Any]:
    """Parse a YAML mapping; syntax errors (and a key given twice) name the file and line."""
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read ({exc.strerror})") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text (byte {exc.start}); expected a YAML file") \
            from None
    try:
        data = yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 - a SafeLoader
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"{path}:{where}: invalid YAML ({problem})") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of keys at the top, got {type(data).__name__}")
    return data


def _allowed_keys(model: type[BaseModel], loc: tuple) -> list[str] | None:
    """The field names allowed at `loc` (the parent of an unknown key), when it is a model."""
    current: Any = model
    for part in loc:
        if isinstance(part, int):
            continue
        if not (isinstance(current, type) and issubclass(current, BaseModel)):
            return None
        field = current.model_fields.get(part)
        if field is None:
            return None
        annotation = field.annotation
        args = getattr(annotation, "__args__", ())
        current = next(
            (a for a in (annotation, *args) if isinstance(a, type) and issubclass(a, BaseModel)),
            annotation,
        )
    if isinstance(current, type) and issubclass(current, BaseModel):
        return list(current.model_fields)
    return None


def format_validation_error(path: Path | str, model: type[BaseModel], exc: ValidationError) -> str:
    """One line: file, key, what was wrong and what is allowed."""
    error = exc.errors()[0]
    loc = tuple(error["loc"])
    key = ".".join(str(p) for p in loc) or "(top level)"
    more = f" (and {exc.error_count() - 1} more problem(s))" if exc.error_count() > 1 else ""
    if error["type"] == "extra_forbidden":
        allowed = _allowed_keys(model, loc[:-1])
        hint = f"; allowed keys: {', '.join(allowed)}" if allowed else ""
        return f"{path}: unknown key '{key}'{hint}{more}"
    if error["type"] == "missing":
        return f"{path}: missing required key '{key}'{more}"
    message = error["msg"].removeprefix("Value error, ")
    got = error.get("input")
    shown = "" if isinstance(got, (dict, list, bool)) or got is None else f" (got {got!r})"
    return f"{path}: key '{key}': {message}{shown}{more}"


def validate(model: type[Model], data: dict[str, Any], path: Path | str) -> Model:
    """Validate a mapping against a model, raising a one-line ConfigError; a config model
    remembers `path` for the errors of later checks."""
    try:
        validated = model.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(path, model, exc)) from None
    if isinstance(validated, ConfigFile):
        validated._file = str(path)
    return validated


def load_task(name_or_path: str) -> tuple[TaskConfig, Path]:
    """Load and validate a task config; returns it with the file it came from."""
    path = resolve_config_path(name_or_path, "tasks")
    return validate(TaskConfig, read_yaml(path), path), path


def load_grid(name_or_path: str) -> tuple[GridConfig, Path]:
    """Load and validate a grid config; returns it with the file it came from."""
    path = resolve_config_path(name_or_path, "grids")
    return validate(GridConfig, read_yaml(path), path), path


def load_corpus(name_or_path: str):
    """Load and validate a pretraining corpus config (configs/corpora/ or a YAML path)."""
    from radbench.config.corpus import CorpusConfig

    path = resolve_config_path(name_or_path, "corpora")
    return validate(CorpusConfig, read_yaml(path), path), path
