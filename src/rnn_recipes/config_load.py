"""Loading a config: a YAML file plus `--set` overrides, validated into `Config` with one-line errors.

The file is read by safeyaml.py, whose line map lets an error name its
file:line. Validation errors name the key, say what was expected and
suggest the closest valid key. Dotted key paths (`model.units`) are parsed,
set and flattened here, and nowhere else.

May import: config, config_data, errors, safeyaml.
"""

from __future__ import annotations

import copy
import difflib
import re
import typing
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from rnn_recipes.config import TAGGED_SECTIONS, Config
from rnn_recipes.config_data import DATA_KINDS
from rnn_recipes.errors import ConfigError
from rnn_recipes.safeyaml import one_line, parse_yaml_value, read_yaml_file


MAX_QUOTE = 200  # characters of a user's input an error message quotes


def quote(value: Any) -> str:
    """repr(value), cut to MAX_QUOTE characters, so a message never repeats a huge input."""
    text = repr(value)
    return text if len(text) <= MAX_QUOTE else f"{text[:MAX_QUOTE]}... ({len(text):,} characters)"


def parse_value(raw: str, source: str = "--set") -> Any:
    """A --set value is read as a YAML scalar or flow collection: 3, 0.5, true, null, [a, b].

    It goes through the same hardened loader and limits as a config file
    (duplicate keys, aliases, depth, size); text that is not YAML at all stays
    the string it is.
    """
    if not raw.strip():
        return raw
    try:
        return parse_yaml_value(raw, source)
    except ConfigError as exc:
        if "YAML syntax error" in str(exc) and "tag '" not in str(exc):
            return raw
        raise


def set_path(data: dict, key: str, value: Any, label: str | None = None) -> None:
    """Set the dotted `key` (e.g. model.units) in a raw mapping, creating sections as needed.

    `label` names the override in errors (default `--set KEY`).
    """
    label = label or f"--set {key}"
    parts = key.split(".")
    node = data
    for i, part in enumerate(parts[:-1]):
        child = node.get(part)
        if child is None:
            child = node[part] = {}
        if not isinstance(child, dict):
            raise ConfigError(f"{label}: {'.'.join(parts[: i + 1])} is not a section")
        node = child
    node[parts[-1]] = value


KEY_PATH = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*")


def parse_override(item: str) -> tuple[str, Any]:
    """One `--set` item, `KEY.PATH=VALUE`, as (key path, value); the value is read by `parse_value`.

    Example:
        >>> parse_override("model.units=64")
        ('model.units', 64)
    """
    key, sep, raw = item.partition("=")
    if not sep or not KEY_PATH.fullmatch(key.strip()):
        raise ConfigError(f"--set {quote(item)}: expected KEY.PATH=VALUE, for example model.units=64")
    return key.strip(), parse_value(raw, f"--set {key.strip()}")


def apply_overrides(data: dict, overrides: list[str]) -> dict:
    """Apply `a.b=c` overrides to a raw config mapping (a new dict is returned)."""
    data = copy.deepcopy(data)
    for item in overrides:
        key, value = parse_override(item)
        set_path(data, key, value, label=f"--set {quote(item)}")
    return data


def flatten(d: Any, prefix: str = "") -> dict[str, Any]:
    """Nested mappings as dotted keys: {"a": {"b": 1}} -> {"a.b": 1}."""
    if not isinstance(d, dict):
        return {prefix: d}
    flat: dict[str, Any] = {}
    for k, v in d.items():
        flat.update(flatten(v, f"{prefix}.{k}" if prefix else k))
    return flat


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    """The pydantic models an annotation holds, however nested (X | None, list[X], dict[str, X])."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for arg in typing.get_args(annotation) for m in _models_in(arg)]


def _fields_at(loc: tuple, root: type[BaseModel]) -> list[str]:
    """Valid field names of the section that `loc` points into (for did-you-mean)."""
    model: Any = root
    for i, part in enumerate(loc):
        if part in TAGGED_SECTIONS.get(tuple(loc[:i]), {}):
            model = TAGGED_SECTIONS[tuple(loc[:i])][part]
            continue
        field = model.model_fields.get(part) if isinstance(part, str) else None
        if field is None:
            continue  # a list index or a mapping key inside a field: its models stay current
        nested = _models_in(field.annotation)
        if not nested:
            break
        model = nested[0]
    return list(model.model_fields)


def _format_error(
    err: dict, lines: dict[tuple, int], source: str, overridden: set[tuple] | dict[tuple, str], root: type[BaseModel]
) -> str:
    # pydantic inserts the union tag (a data kind, a schedule kind) in locations; users never write it
    raw = err["loc"]
    loc = tuple(p for i, p in enumerate(raw) if p not in TAGGED_SECTIONS.get(tuple(raw[:i]), {}))
    key_path = tuple(p for p in loc if isinstance(p, str))
    path = ".".join(str(p) for p in loc) or "<top>"
    line = next((lines[key_path[:i]] for i in range(len(key_path), -1, -1) if key_path[:i] in lines), None)
    if isinstance(overridden, dict) and key_path in overridden:
        where = overridden[key_path]  # the override's own location, e.g. a recipe's file:line
    elif key_path in overridden:
        where = f"--set {path}"
    elif set_above := next((key_path[:i] for i in range(len(key_path)) if key_path[:i] in overridden), None):
        where = f"--set {'.'.join(set_above)}"  # a whole section set on the command line
    else:
        where = f"{source}:{line}" if line else source
    if err["type"] == "extra_forbidden":
        valid = _fields_at(err["loc"][:-1], root)
        close = difflib.get_close_matches(str(loc[-1]), valid, n=1)
        hint = f" Did you mean '{close[0]}'?" if close else ""
        return f"{where}: unknown key '{path}'.{hint} Expected one of: {', '.join(valid)}."
    if err["type"] in ("union_tag_invalid", "union_tag_not_found"):
        kinds = TAGGED_SECTIONS.get(loc, {})
        tag = (*loc, "kind")
        if tag in overridden:
            where = f"--set {path}.kind"
        elif key_path not in overridden and tag in lines:
            where = f"{source}:{lines[tag]}"
        received = err.get("input", {}).get("kind") if isinstance(err.get("input"), dict) else err.get("input")
        return f"{where}: invalid '{path}.kind'. Expected one of: {', '.join(kinds)}. Received: {quote(received)}."
    msg = err["msg"].removeprefix("Value error, ")
    if err["type"] == "value_error":  # a cross-field check: its message names the keys
        return f"{where}: {path + ': ' if loc else ''}{msg}"
    if err["type"] == "literal_error":
        expected = err.get("ctx", {}).get("expected", "")
        return f"{where}: invalid '{path}'. Expected one of: {expected.replace(' or ', ', ')}. Received: {quote(err['input'])}."
    if err["type"] == "missing":
        return f"{where}: missing key '{path}'"
    received = f" Received: {quote(err['input'])}." if not isinstance(err.get("input"), dict) else ""
    return f"{where}: invalid '{path}': {msg}.{received}"


def validate(
    model: type[BaseModel],
    data: dict,
    lines: dict[tuple, int] | None = None,
    source: str = "<config>",
    overridden: set[tuple] | dict[tuple, str] = frozenset(),
) -> BaseModel:
    """Validate a raw mapping into `model` (any strict section), or raise a one-line ConfigError.

    Args:
        model: the pydantic model to validate against, e.g. `Config`.
        data: the raw mapping, as parsed from YAML.
        lines: key path -> line, from `parse_yaml`, to point errors at the file.
        source: the file name errors start with.
        overridden: key paths set on the command line (reported as `--set KEY`), or a
            mapping from key path to the location to report instead.
    """
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        errors = exc.errors()
        over = overridden if isinstance(overridden, dict) else set(overridden)
        first = _format_error(errors[0], lines or {}, source, over, model)
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        raise ConfigError(one_line(first + more)) from None


def build_config(
    data: dict,
    lines: dict[tuple, int] | None = None,
    source: str = "<config>",
    overridden: set[tuple] | dict[tuple, str] = frozenset(),
) -> Config:
    """Validate a raw mapping into a Config, or raise a one-line ConfigError."""
    if "data" in data and isinstance(data["data"], dict) and "kind" not in data["data"]:
        # the tag is required so a misspelt section never silently becomes another dataset
        raise ConfigError(f"{source}: missing key 'data.kind'. Expected one of: {', '.join(DATA_KINDS)}.")
    return validate(Config, data, lines, source, overridden)


def _resolve_paths(data: dict, base: Path) -> None:
    """Relative data.path values mean "beside the config file", wherever rnn runs from.

    The resolved config saved with a run holds the absolute path.
    """
    section = data.get("data")
    if not isinstance(section, dict):
        return
    for key in ("path", "train_path", "val_path", "test_path", "word_index_path"):
        if isinstance(section.get(key), str):
            p = Path(section[key]).expanduser()
            section[key] = str(p if p.is_absolute() else (base / p).resolve())


def read_config_data(path: str | Path) -> tuple[dict, dict[tuple, int]]:
    """Read a config file into its raw mapping and line map, before validation.

    The name defaults to the file's stem and relative data paths are resolved
    beside the file, so the mapping means the same wherever rnn runs from.
    """
    path = Path(path)
    data, lines = read_yaml_file(path, "config")
    _resolve_paths(data, Path(path).parent)
    return data, lines



def load_config(path: str | Path, overrides: list[str] | None = None) -> Config:
    """Read, validate and return the config at `path` with `--set` overrides applied.

    The run's name defaults to the file's stem.

    Example:
        >>> cfg = load_config("configs/sine_simplernn.yaml", ["train.epochs=3"])
        >>> cfg.train.epochs
        3
    """
    data, lines = read_config_data(path)
    overrides = overrides or []
    data = apply_overrides(data, overrides)
    _resolve_paths(data, Path.cwd())  # a relative --set data.path means the working directory's file
    overridden = {tuple(o.partition("=")[0].strip().split(".")) for o in overrides}
    return build_config(data, lines, str(path), overridden)


