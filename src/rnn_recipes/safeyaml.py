"""A hardened YAML reader for configs and recipes: plain values only, with a key path -> line map.

It refuses duplicate keys, Python tags, alias bombs, deep nesting and
oversized files, and turns every YAML error into one line that starts with
file:line, so a config error points at the file.

May import: errors.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from rnn_recipes.errors import ConfigError

MAX_CONFIG_BYTES = 1_000_000  # a config is a dozen lines; anything this big is a mistake
MAX_YAML_NODES = 100_000  # after alias expansion: stops "billion laughs" documents
MAX_YAML_DEPTH = 50  # a config nests three levels; deep nesting would exhaust the parser's recursion
# str.splitlines() breaks on these; a message that holds one would no longer be one line
_LINE_BREAKS = re.compile("[\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029]")


def one_line(message: str) -> str:
    """`message` with any line break spelled as its escape, so it stays one line."""
    return _LINE_BREAKS.sub(lambda m: repr(m.group())[1:-1], message)


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
# YAML 1.1 reads 1e-3 and 1e6 (no dot) as strings; types are strict, so read them as the numbers they are
_UniqueKeyLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float", re.compile(r"^[-+]?[0-9][0-9_]*(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"), list("-+0123456789")
)


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
    data, node = _load(text, source)
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: expected a mapping of sections at the top level, got {type(data).__name__}")
    return data, _line_map(node)


def parse_yaml_value(text: str, source: str) -> Any:
    """One YAML value (a `--set` value: 3, 0.5, true, [a, b], {units: 3}) under every limit a file gets.

    Raises ConfigError for duplicate keys, tags, alias bombs, deep nesting,
    oversized text and syntax errors, naming `source`.
    """
    return _load(text, source, allow_empty=True)[0]


def _load(text: str, source: str, allow_empty: bool = False) -> tuple[Any, yaml.Node | None]:
    """Compose, check and construct one YAML document; every limit applies before values are built."""
    if len(text.encode("utf-8", "replace")) > MAX_CONFIG_BYTES:
        raise ConfigError(f"{source}: config is larger than {MAX_CONFIG_BYTES:,} bytes")
    try:
        loader = _UniqueKeyLoader(text)
        try:
            node = loader.get_single_node()
            if node is None and allow_empty:
                return None, None
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
        raise ConfigError(one_line(f"{where}: YAML syntax error: {problem}")) from None
    except yaml.YAMLError as exc:
        raise ConfigError(one_line(f"{source}: YAML error: {str(exc).splitlines()[0]}")) from None
    except ConfigError as exc:
        msg = str(exc)
        sep = "" if msg[:1].isdigit() else " "
        raise ConfigError(one_line(msg if msg.startswith(source) else f"{source}:{sep}{msg}")) from None
    except RecursionError:  # a construct deeper than the composer's limit could not be; a last guard
        raise ConfigError(f"{source}: nested too deeply") from None
    return data, node


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
    data.setdefault("name", name_from_stem(path.stem))
    return data, lines


def name_from_stem(stem: str) -> str:
    """A valid run name from a file name: other characters become '_' ("my config" -> "my_config")."""
    name = re.sub(r"[^A-Za-z0-9_.-]", "_", stem).lstrip("_.-")
    return name[:100] or "run"

