"""Reading a config: hardened YAML, `--set` overrides, and validation into `Config` with one-line errors.

The YAML reader refuses duplicate keys, Python tags, alias bombs, deep nesting
and oversized files, and keeps a line map so that an error names its
file:line. Validation errors name the key, say what was expected and
suggest the closest valid key. Dotted key paths (`model.units`) are parsed,
set and flattened here, and nowhere else.

May import: config, errors.
"""

from __future__ import annotations

import copy
import difflib
import re
import typing
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from rnn_recipes.config import DATA_KINDS, DATA_MODELS, Config
from rnn_recipes.errors import ConfigError

MAX_CONFIG_BYTES = 1_000_000  # a config is a dozen lines; anything this big is a mistake
MAX_YAML_NODES = 100_000  # after alias expansion: stops "billion laughs" documents
MAX_YAML_DEPTH = 50  # a config nests three levels; deep nesting would exhaust the parser's recursion
# str.splitlines() breaks on these; a message that holds one would no longer be one line
_LINE_BREAKS = re.compile("[\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029]")


def _one_line(message: str) -> str:
    return _LINE_BREAKS.sub(lambda m: repr(m.group())[1:-1], message)


# --- loading -----------------------------------------------------------------


class _UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate keys (PyYAML silently keeps the last) and deep nesting."""

    _depth = 0

    def compose_node(self, parent, index):
        self._depth += 1
        try:
            if self._depth > MAX_YAML_DEPTH:
                mark = self.peek_event().start_mark
                raise ConfigError(f"{mark.line + 1}: nested deeper than {MAX_YAML_DEPTH} levels; a config nests three")
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def _construct_mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode) -> dict:
    seen: dict[Any, yaml.Node] = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node)
        if not isinstance(key_node, yaml.ScalarNode):
            raise ConfigError(f"{key_node.start_mark.line + 1}: a key must be a plain name, not a {type(key).__name__}")
        if key in seen:
            raise ConfigError(
                f"{key_node.start_mark.line + 1}: duplicate key {key!r} "
                f"(first at line {seen[key].start_mark.line + 1}); a key may appear once"
            )
        seen[key] = key_node
    return loader.construct_mapping(node)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def _count_nodes(node: yaml.Node, memo: dict[int, int]) -> int:
    """Nodes after alias expansion, memoised so a bomb is counted, not expanded."""
    if id(node) in memo:
        return memo[id(node)]
    memo[id(node)] = 1  # guards against recursive aliases
    if isinstance(node, yaml.MappingNode):
        n = 1 + sum(_count_nodes(k, memo) + _count_nodes(v, memo) for k, v in node.value)
    elif isinstance(node, yaml.SequenceNode):
        n = 1 + sum(_count_nodes(v, memo) for v in node.value)
    else:
        n = 1
    memo[id(node)] = n
    return n


def _line_map(node: yaml.Node, path: tuple = (), lines: dict | None = None) -> dict[tuple, int]:
    """Map every key path in the document to its 1-based line, for error messages."""
    lines = {} if lines is None else lines
    lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key_path = path + (getattr(key_node, "value", None),)
            lines[key_path] = key_node.start_mark.line + 1
            _line_map(value_node, key_path, lines)
    return lines


def parse_yaml(text: str, source: str = "<config>") -> tuple[dict, dict[tuple, int]]:
    """Parse a YAML config safely; return the mapping and a key-path -> line map.

    Raises ConfigError for syntax errors (with file:line:column), Python tags,
    duplicate keys, alias bombs, oversized or empty documents and non-mappings.
    """
    if len(text.encode("utf-8", "replace")) > MAX_CONFIG_BYTES:
        raise ConfigError(f"{source}: config is larger than {MAX_CONFIG_BYTES:,} bytes")
    try:
        loader = _UniqueKeyLoader(text)
        try:
            node = loader.get_single_node()
            if node is None:
                raise ConfigError(f"{source}: config is empty; expected a mapping such as 'data: {{kind: sine}}'")
            if _count_nodes(node, {}) > MAX_YAML_NODES:
                raise ConfigError(f"{source}: config expands to more than {MAX_YAML_NODES:,} nodes (alias bomb?)")
            data = loader.construct_document(node)
        finally:
            loader.dispose()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{source}:{mark.line + 1}:{mark.column + 1}" if mark else source
        problem = exc.problem or exc.context or "invalid YAML"
        tag = re.search(r"tag '([^']+)'", problem)
        if tag:  # e.g. !!python/object: a config names values, never code
            problem = f"tag '{tag.group(1)}' is not allowed; a config holds plain values only"
        raise ConfigError(_one_line(f"{where}: YAML syntax error: {problem}")) from None
    except yaml.YAMLError as exc:
        raise ConfigError(_one_line(f"{source}: YAML error: {str(exc).splitlines()[0]}")) from None
    except ConfigError as exc:
        msg = str(exc)
        sep = "" if msg[:1].isdigit() else " "
        raise ConfigError(_one_line(msg if msg.startswith(source) else f"{source}:{sep}{msg}")) from None
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: expected a mapping of sections at the top level, got {type(data).__name__}")
    return data, _line_map(node)


def parse_value(raw: str) -> Any:
    """A --set value is read as a YAML scalar or flow collection: 3, 0.5, true, null, [a, b]."""
    try:
        return yaml.safe_load(raw) if raw.strip() else raw
    except yaml.YAMLError:
        return raw


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
        raise ConfigError(f"--set {item!r}: expected KEY.PATH=VALUE, for example model.units=64")
    return key.strip(), parse_value(raw)


def apply_overrides(data: dict, overrides: list[str]) -> dict:
    """Apply `a.b=c` overrides to a raw config mapping (a new dict is returned)."""
    data = copy.deepcopy(data)
    for item in overrides:
        key, value = parse_override(item)
        set_path(data, key, value, label=f"--set {item!r}")
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
    for part in loc:
        if isinstance(part, str) and part in DATA_MODELS:
            model = DATA_MODELS[part]
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
    # pydantic inserts the union tag (a data kind) in locations; users never write it
    loc = tuple(p for p in err["loc"] if p not in DATA_KINDS or err["loc"][0] != "data")
    key_path = tuple(p for p in loc if isinstance(p, str))
    path = ".".join(str(p) for p in loc) or "<top>"
    line = next((lines[key_path[:i]] for i in range(len(key_path), -1, -1) if key_path[:i] in lines), None)
    if isinstance(overridden, dict) and key_path in overridden:
        where = overridden[key_path]  # the override's own location, e.g. a recipe's file:line
    elif key_path in overridden:
        where = f"--set {path}"
    else:
        where = f"{source}:{line}" if line else source
    if err["type"] == "extra_forbidden":
        valid = _fields_at(err["loc"][:-1], root)
        close = difflib.get_close_matches(str(loc[-1]), valid, n=1)
        hint = f" Did you mean '{close[0]}'?" if close else ""
        return f"{where}: unknown key '{path}'.{hint} Expected one of: {', '.join(valid)}."
    if err["type"] in ("union_tag_invalid", "union_tag_not_found"):
        where = f"{source}:{lines.get(('data', 'kind'), line)}"
        return f"{where}: invalid '{path}.kind'. Expected one of: {', '.join(DATA_KINDS)}. Received: {err.get('input', {}).get('kind') if isinstance(err.get('input'), dict) else err.get('input')!r}."
    msg = err["msg"].removeprefix("Value error, ")
    if err["type"] == "value_error":  # a cross-field check: its message names the keys
        return f"{where}: {path + ': ' if loc else ''}{msg}"
    if err["type"] == "literal_error":
        expected = err.get("ctx", {}).get("expected", "")
        return f"{where}: invalid '{path}'. Expected one of: {expected.replace(' or ', ', ')}. Received: {err['input']!r}."
    if err["type"] == "missing":
        return f"{where}: missing key '{path}'"
    received = f" Received: {err['input']!r}." if not isinstance(err.get("input"), dict) else ""
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
        raise ConfigError(_one_line(first + more)) from None


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
    if isinstance(section, dict) and isinstance(section.get("path"), str):
        p = Path(section["path"]).expanduser()
        section["path"] = str(p if p.is_absolute() else (base / p).resolve())


def read_config_data(path: str | Path) -> tuple[dict, dict[tuple, int]]:
    """Read a config file into its raw mapping and line map, before validation.

    The name defaults to the file's stem and relative data paths are resolved
    beside the file, so the mapping means the same wherever rnn runs from.
    """
    path = Path(path)
    data, lines = read_yaml_file(path, "config")
    _resolve_paths(data, Path(path).parent)
    return data, lines


def read_yaml_file(path: str | Path, what: str) -> tuple[dict, dict[tuple, int]]:
    """Read a YAML document (a config or a recipe) safely; its name defaults to the file's stem.

    Args:
        path: the file.
        what: "config" or "recipe", for the messages.
    """
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"{what} file not found: {path}")
    if not path.is_file():
        raise ConfigError(f"{what} {path} is not a regular file; expected a YAML file")
    if path.stat().st_size > MAX_CONFIG_BYTES:  # before reading it: a huge file is refused at once
        raise ConfigError(f"{path}: {what} is larger than {MAX_CONFIG_BYTES:,} bytes")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read {what} {path}: {exc}") from None
    data, lines = parse_yaml(text, str(path))
    data.setdefault("name", path.stem)
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
    overridden = {tuple(o.partition("=")[0].strip().split(".")) for o in overrides}
    return build_config(data, lines, str(path), overridden)

