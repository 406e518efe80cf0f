"""The run configuration: YAML -> validated, typed `Config`, and back.

Everything a run needs is named here, validated once at load time, and
trusted afterwards. YAML keys, Python field names and `--set a.b=c` paths are
the same words. Of the project, this module imports only `errors`.
"""

from __future__ import annotations

import difflib
import re
import typing
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from rnn_recipes.errors import ConfigError

MAX_CONFIG_BYTES = 1_000_000  # a config is a dozen lines; anything this big is a mistake
MAX_YAML_NODES = 100_000  # after alias expansion: stops "billion laughs" documents
MAX_YAML_DEPTH = 50  # a config nests three levels; deep nesting would exhaust the parser's recursion
# str.splitlines() breaks on these; a message that holds one would no longer be one line
_LINE_BREAKS = re.compile("[\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029]")
DEVICE_NAME = r"(?i)/(cpu|gpu):\d+"  # a local device, as tf.distribute.MirroredStrategy takes it


def _one_line(message: str) -> str:
    return _LINE_BREAKS.sub(lambda m: repr(m.group())[1:-1], message)


class _Section(BaseModel):
    # inf and nan are never meaningful settings (a learning rate of .inf passes `gt=0`)
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


# --- data -------------------------------------------------------------------


class ImdbData(_Section):
    """Keras' preprocessed IMDB reviews: word ids, binary sentiment."""

    kind: Literal["imdb"] = "imdb"
    path: str | None = None  # a local imdb.npz; None downloads via keras.datasets
    num_words: int = Field(10_000, ge=3, le=10_000_000)  # ids 0-2 are reserved (pad, start, oov)
    maxlen: int = Field(100, ge=1, le=1_000_000)
    # 'pre' keeps the review next to the answer; the seed's 'post' makes the RNN
    # read up to maxlen zeros after the review before it answers.
    padding: Literal["pre", "post"] = "pre"
    truncating: Literal["pre", "post"] = "pre"
    val_split: float = Field(0.2, ge=0.0, lt=1.0)  # taken from the training set
    limit: int | None = Field(None, ge=2)  # use only this many train and test reviews


class TextData(_Section):
    """A text corpus for next-token prediction."""

    kind: Literal["text"] = "text"
    text: str | None = None  # inline corpus
    path: str | None = None  # a local text file
    url: str | None = None  # downloaded once, cached, checked against sha256
    sha256: str | None = Field(None, pattern=r"^[0-9a-f]{64}$")
    level: Literal["char", "word"] = "char"
    max_vocab: int | None = Field(None, ge=2, le=10_000_000)  # word level: keep the most frequent
    lowercase: bool = False
    seq_length: int = Field(40, ge=1, le=1_000_000)
    step: int = Field(1, ge=1)  # stride between windows
    # many_to_one: a window predicts the token after it (the seed);
    # many_to_many: every position predicts its next token (char-rnn).
    objective: Literal["many_to_one", "many_to_many"] = "many_to_one"
    val_split: float = Field(0.1, ge=0.0, lt=1.0)  # from the end of the corpus
    test_split: float = Field(0.0, ge=0.0, lt=1.0)

    @model_validator(mode="after")
    def _one_source(self) -> TextData:
        given = [k for k in ("text", "path", "url") if getattr(self, k) is not None]
        if len(given) > 1:
            raise ValueError(f"give one of text, path, url; received {', '.join(given)}")
        if self.url is not None and self.sha256 is None:
            raise ValueError("a url needs its sha256, so a changed or partial download is caught")
        if self.val_split + self.test_split >= 1.0:
            raise ValueError("val_split + test_split must leave some text to train on")
        return self


class SineData(_Section):
    """A sine series; windows of `time_steps` values predict the next one."""

    kind: Literal["sine"] = "sine"
    total_size: int = Field(250, ge=3, le=100_000_000)  # sin(arange(total_size)) to train on
    test_size: int = Field(400, ge=3, le=100_000_000)  # sin(arange(test_size)) to test on ...
    test_windows: int = Field(75, ge=1)  # ... its last windows only, as the seed
    time_steps: int = Field(25, ge=1, le=1_000_000)
    frequency: float = Field(1.0, gt=0.0)  # radians per step
    noise: float = Field(0.0, ge=0.0)  # std of Gaussian noise added to train values
    val_split: float = Field(0.0, ge=0.0, lt=1.0)

    @model_validator(mode="after")
    def _enough_points(self) -> SineData:
        if self.total_size <= self.time_steps:
            raise ValueError(f"total_size ({self.total_size}) must exceed time_steps ({self.time_steps})")
        if self.test_size - self.time_steps < self.test_windows:
            raise ValueError(
                f"test_size ({self.test_size}) gives only {self.test_size - self.time_steps} "
                f"windows, fewer than test_windows ({self.test_windows})"
            )
        return self


DataConfig = Annotated[ImdbData | TextData | SineData, Field(discriminator="kind")]


# --- encoding, model, train, output ------------------------------------------


class EncodingConfig(_Section):
    """How token ids enter the network."""

    # integer: the id itself as one number per step, input (T, 1), as the seed;
    # onehot: a vocabulary-sized indicator vector per step;
    # embedding: a trained dense vector per id.
    kind: Literal["integer", "onehot", "embedding"] = "embedding"
    dim: int = Field(32, ge=1, le=65_536)  # embedding only
    mask_zero: bool = False  # embedding only: id 0 is padding and is skipped
    initializer: Literal["uniform", "normal", "glorot_uniform", "he_normal"] = "uniform"


class ModelConfig(_Section):
    """The recurrent stack and its head."""

    cell: Literal["simple_rnn", "lstm", "gru"] = "lstm"
    units: int = Field(64, ge=1, le=65_536)
    layers: int = Field(1, ge=1, le=16)
    bidirectional: bool = False
    merge_mode: Literal["concat", "sum", "mul", "ave"] = "concat"
    activation: Literal["tanh", "relu", "sigmoid", "linear"] = "tanh"
    dropout: float = Field(0.0, ge=0.0, lt=1.0)
    recurrent_dropout: float = Field(0.0, ge=0.0, lt=1.0)
    kernel_initializer: Literal["glorot_uniform", "glorot_normal", "he_normal", "orthogonal"] = (
        "glorot_uniform"
    )
    recurrent_initializer: Literal["orthogonal", "glorot_uniform", "identity"] = "orthogonal"
    l1: float = Field(0.0, ge=0.0)
    l2: float = Field(0.0, ge=0.0)
    dense_units: int | None = Field(None, ge=1, le=65_536)  # an optional hidden Dense layer in the head


class TrainConfig(_Section):
    """The optimisation loop."""

    optimizer: Literal["adam", "rmsprop", "sgd"] = "adam"
    learning_rate: float = Field(1e-3, gt=0.0)
    clipnorm: float | None = Field(None, gt=0.0)
    clipvalue: float | None = Field(None, gt=0.0)
    # 128 when unnamed: on a CPU it trains ~2x the examples per second of 32
    # (docs/benchmarks.md); a config that names a size (the seed's 32) gets exactly it
    batch_size: int = Field(128, ge=1, le=1_000_000)
    epochs: int = Field(5, ge=1, le=1_000_000)
    patience: int | None = Field(None, ge=1)  # early stopping on validation loss
    shuffle: bool = True
    # group padded IMDB reviews of similar length and cut each batch to its bucket's
    # width; auto: when the model masks padding (encoding.mask_zero), where it is exact
    bucketing: Literal["auto"] | bool = "auto"
    # XLA-compile the train step; auto: where it measured faster (see runtime.decide_jit)
    jit_compile: Literal["auto"] | bool = "auto"
    # the Keras dtype policy the model is built under: mixed_* compute in 16 bits and keep
    # float32 variables and a float32 output layer (see docs/precision.md; float32 on a CPU)
    precision: Literal["float32", "mixed_float16", "mixed_bfloat16"] = "float32"
    # none: one device; mirrored: every local GPU (or `devices`); multi_worker:
    # MultiWorkerMirroredStrategy over the machines TF_CONFIG names. batch_size
    # stays the global batch: each step splits it over the replicas.
    distribute: Literal["none", "mirrored", "multi_worker"] = "none"
    # mirrored only: e.g. [/gpu:0, /gpu:1]; CPU names past /cpu:0 are created as
    # logical CPU devices, so [/cpu:0, /cpu:1] mirrors on a machine without GPUs
    devices: list[str] | None = Field(None, min_length=1)

    @field_validator("devices")
    @classmethod
    def _device_names(cls, devices: list[str] | None) -> list[str] | None:
        if devices is None:
            return None
        for name in devices:
            if not re.fullmatch(DEVICE_NAME, name):
                raise ValueError(f"expected device names such as /gpu:0 or /cpu:1; received {name!r}")
        canonical = [name.lower() for name in devices]
        if len(set(canonical)) != len(canonical):
            raise ValueError(f"a device may be named once; received {devices}")
        return canonical

    @model_validator(mode="after")
    def _devices_need_mirrored(self) -> TrainConfig:
        if self.devices is not None and self.distribute != "mirrored":
            raise ValueError(
                f"train.devices needs train.distribute: mirrored (received {self.distribute}); "
                "multi_worker uses every local GPU of each worker"
            )
        return self


class OutputConfig(_Section):
    """Where and what a run writes."""

    dir: str = "runs"  # runs/<name>-<timestamp>/
    plots: bool = True


class Config(_Section):
    """A complete run: what to learn from, how, and where to write it."""

    name: str = Field("run", pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    seed: int = Field(42, ge=0, lt=2**32)  # NumPy's seed range
    data: DataConfig
    encoding: EncodingConfig | None = None  # token datasets; None for sine
    model: ModelConfig = ModelConfig()
    train: TrainConfig = TrainConfig()
    output: OutputConfig = OutputConfig()

    @model_validator(mode="after")
    def _encoding_fits_data(self) -> Config:
        if self.data.kind == "sine":
            if self.encoding is not None:
                raise ValueError("sine feeds raw values; remove the encoding section")
        elif self.encoding is None:
            object.__setattr__(self, "encoding", EncodingConfig())
        elif self.encoding.kind != "embedding" and self.encoding.mask_zero:
            raise ValueError("encoding.mask_zero needs kind: embedding; use data.padding: pre instead")
        if self.train.bucketing is True and self.train.distribute != "none":
            raise ValueError("train.bucketing is for single-device training; distributed runs feed fixed-width "
                             "global batches, so use auto or false with train.distribute")
        if self.train.bucketing is True and self.data.kind != "imdb":
            raise ValueError("train.bucketing groups padded IMDB reviews by length; use auto or false for "
                             f"{self.data.kind} data, whose windows all have the same length")
        if self.data.kind == "text":
            if self.encoding.mask_zero:
                raise ValueError("encoding.mask_zero is for padded IMDB ids; in text, id 0 is a real token")
            if self.data.objective == "many_to_many" and self.model.bidirectional:
                raise ValueError(
                    "model.bidirectional with data.objective many_to_many would see the very tokens it "
                    "predicts; use many_to_one or a unidirectional model"
                )
        return self

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


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


def _parse_value(raw: str) -> Any:
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


def apply_overrides(data: dict, overrides: list[str]) -> dict:
    """Apply `a.b=c` overrides to a raw config mapping (a new dict is returned)."""
    import copy

    data = copy.deepcopy(data)
    for item in overrides:
        key, sep, raw = item.partition("=")
        if not sep or not KEY_PATH.fullmatch(key.strip()):
            raise ConfigError(f"--set {item!r}: expected KEY.PATH=VALUE, for example model.units=64")
        set_path(data, key.strip(), _parse_value(raw), label=f"--set {item!r}")
    return data


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    """The pydantic models an annotation holds, however nested (X | None, list[X], dict[str, X])."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for arg in typing.get_args(annotation) for m in _models_in(arg)]


def _fields_at(loc: tuple, root: type[BaseModel]) -> list[str]:
    """Valid field names of the section that `loc` points into (for did-you-mean)."""
    model: Any = root
    for part in loc:
        if isinstance(part, str) and part in {"imdb", "text", "sine"}:
            model = {"imdb": ImdbData, "text": TextData, "sine": SineData}[part]
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
    # pydantic inserts the union tag ('imdb', 'text', 'sine') in locations; users never write it
    loc = tuple(p for p in err["loc"] if p not in {"imdb", "text", "sine"} or err["loc"][0] != "data")
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
        return f"{where}: invalid '{path}.kind'. Expected one of: imdb, text, sine. Received: {err.get('input', {}).get('kind') if isinstance(err.get('input'), dict) else err.get('input')!r}."
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
        raise ConfigError(f"{source}: missing key 'data.kind'. Expected one of: imdb, text, sine.")
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


def dump_config(cfg: Config) -> str:
    """The fully resolved config as YAML, loadable by `load_config`."""
    return yaml.safe_dump(cfg.to_dict(), sort_keys=False)


# --- bundled files ---------------------------------------------------------------


def bundled_dir(kind: str) -> Path:
    """`configs` or `recipes` inside an installed wheel, else in the source checkout."""
    here = Path(__file__).resolve().parent
    for candidate in (here / kind, here.parents[1] / kind):
        if candidate.is_dir():
            return candidate
    return here / kind


def resolve_named(name: str, kind: str = "configs", beside: Path | None = None) -> Path:
    """A path (relative to `beside` when given) if it exists, else the bundled file of that name.

    Example:
        >>> resolve_named("tiny/sine_simple_rnn").name   # configs/tiny/sine_simple_rnn.yaml
        'sine_simple_rnn.yaml'
    """
    path = Path(name).expanduser()
    if beside is not None and not path.is_absolute():
        path = beside / path
    if path.exists() or path.suffix in (".yaml", ".yml"):
        return path
    bundled = bundled_dir(kind) / f"{name}.yaml"
    return bundled if bundled.is_file() else path


def list_bundled(kind: str = "configs") -> list[tuple[str, str]]:
    """(name, first comment line) of every bundled config or recipe."""
    root = bundled_dir(kind)
    found = []
    for path in sorted(root.rglob("*.yaml")):
        first = path.read_text(encoding="utf-8").splitlines()[:1]
        about = first[0].lstrip("# ").strip() if first and first[0].startswith("#") else ""
        found.append((str(path.relative_to(root).with_suffix("")), about))
    return found
