"""The run configuration's schema: the typed, frozen `Config` and its sections, and back to YAML.

Everything a run needs is named here and validated once, at load time (see
config_load.py, which reads YAML into these models); code after the loader
trusts the typed config. YAML keys, Python field names and `--set a.b=c`
paths are the same words.

May import: nothing of the project.
"""

from __future__ import annotations

import re
import typing
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

DEVICE_NAME = r"(?i)/(cpu|gpu):\d+"  # a local device, as tf.distribute.MirroredStrategy takes it


class _Section(BaseModel):
    # inf and nan are never meaningful settings (a learning rate of .inf passes `gt=0`);
    # strict: a wrong type is refused, never coerced (`units: true` is not 1, `shuffle: 'off'` not False)
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False, strict=True)


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
    # Keras' imdb_word_index.json, so `rnn predict` reads English; default: Keras' verified cache
    word_index_path: str | None = None


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
    horizon: int = Field(1, ge=1, le=100_000)  # values predicted after each window
    stride: int = Field(1, ge=1)  # rows between the starts of consecutive windows
    # direct: one Dense(horizon) head; recursive: a one-step model fed its own predictions
    strategy: Literal["direct", "recursive"] = "direct"
    season: int = Field(1, ge=1)  # the seasonal naive baseline's period in rows (1: persistence)

    @model_validator(mode="after")
    def _enough_points(self) -> SineData:
        if self.total_size < self.time_steps + self.horizon:
            raise ValueError(f"total_size ({self.total_size}) must exceed time_steps ({self.time_steps}) "
                             f"by at least horizon ({self.horizon})")
        if self.test_size - self.time_steps - self.horizon + 1 < self.test_windows:
            raise ValueError(
                f"test_size ({self.test_size}) gives only {self.test_size - self.time_steps - self.horizon + 1} "
                f"windows, fewer than test_windows ({self.test_windows})"
            )
        return self


class SeriesData(_Section):
    """A time series from a CSV file: windows of `time_steps` rows predict the next `horizon` target values."""

    kind: Literal["series"] = "series"
    path: str | None = None  # a local CSV file with a header row
    url: str | None = None  # downloaded once, cached, checked against sha256
    sha256: str | None = Field(None, pattern=r"^[0-9a-f]{64}$")
    time_column: str | None = None  # parsed (numbers or ISO dates), checked for order and gaps
    features: list[str] | None = Field(None, min_length=1)  # input columns; default: the targets
    targets: list[str] | None = Field(None, min_length=1)  # predicted columns; default: the one numeric column
    time_steps: int = Field(24, ge=1, le=100_000)
    horizon: int = Field(1, ge=1, le=100_000)  # values predicted after each window
    stride: int = Field(1, ge=1)  # rows between the starts of consecutive windows
    # direct: one Dense(horizon) head; recursive: a one-step model fed its own predictions
    strategy: Literal["direct", "recursive"] = "direct"
    season: int = Field(1, ge=1)  # the seasonal naive baseline's period in rows (1: persistence)
    # chronological parts, from the end: train, then validation, then test; never shuffled across
    val_split: float = Field(0.15, ge=0.0, lt=1.0)
    test_split: float = Field(0.15, gt=0.0, lt=1.0)
    # standard: each column minus its mean, over its std, both from the training part only
    normalize: Literal["standard", "none"] = "standard"
    # missing cells (empty, NA, NaN): none refuses them with the row and column
    fill: Literal["none", "ffill", "interpolate"] = "none"

    @model_validator(mode="after")
    def _one_source(self) -> SeriesData:
        given = [k for k in ("path", "url") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(f"give one of path, url; received {', '.join(given) or 'neither'}")
        if self.url is not None and self.sha256 is None:
            raise ValueError("a url needs its sha256, so a changed or partial download is caught")
        if self.val_split + self.test_split >= 1.0:
            raise ValueError("val_split + test_split must leave some rows to train on")
        if self.strategy == "recursive" and self.features is not None and self.features != self.targets:
            raise ValueError("strategy recursive feeds each prediction back as the next input, so features must "
                             "be the targets (leave features out); use strategy direct for other inputs")
        return self




class LabelledTextData(_Section):
    """The user's labelled texts (CSV, TSV, JSONL or class folders) for classification."""

    kind: Literal["labelled_text"] = "labelled_text"
    path: str | None = Field(None, description="one file or folder, split by a seeded stratified split")
    train_path: str | None = Field(None, description="or separate files: the training split (classes are its labels)")
    val_path: str | None = Field(None, description="the validation split, with train_path")
    test_path: str | None = Field(None, description="the test split, with train_path")
    text_column: str = Field("text", min_length=1, description="CSV/TSV column or JSON key holding the text")
    label_column: str = Field("label", min_length=1, description="CSV/TSV column or JSON key holding the label")
    val_fraction: float = Field(0.1, ge=0.0, lt=1.0, description="with path: the share of each class held out to validate")
    test_fraction: float = Field(0.1, ge=0.0, lt=1.0, description="with path: the share of each class held out to test")
    level: Literal["char", "word"] = Field("word", description="what a token is")
    lowercase: bool = Field(True, description="lowercase before cutting (word level also strips punctuation)")
    max_vocab: int = Field(20_000, ge=3, le=10_000_000, description="ids kept, padding and [UNK] included; built on the training split only")
    seq_length: int = Field(100, ge=1, le=1_000_000, description="tokens per text: longer texts keep their first seq_length, shorter are padded after")
    # the vectorizer inside the saved model pads and cuts at the end (Keras' TextVectorization);
    # keeping a text's last tokens would need a custom layer, which a plain Keras process cannot load
    truncating: Literal["post"] = Field("post", description="which end of a long text is cut: post (the end)")
    padding: Literal["post"] = Field("post", description="where padding goes: post (after the text; mask_zero skips it)")
    class_weights: Literal["balanced", "none"] = Field("none", description="balanced: weigh each class's loss by n / (classes * count)")

    @model_validator(mode="after")
    def _one_source(self) -> LabelledTextData:
        if (self.path is None) == (self.train_path is None):
            raise ValueError("give data.path (one file, split by val_fraction/test_fraction) or data.train_path (with optional val_path, test_path), not both")
        if self.path is None:
            if self.test_path is None:
                raise ValueError("data.train_path needs a data.test_path to report test metrics on")
        elif self.val_path is not None or self.test_path is not None:
            raise ValueError("data.val_path and data.test_path go with data.train_path, not data.path")
        if self.val_fraction + self.test_fraction >= 1.0:
            raise ValueError("val_fraction + test_fraction must leave some texts to train on")
        return self


DataConfig = Annotated[ImdbData | TextData | SineData | SeriesData | LabelledTextData, Field(discriminator="kind")]
# each data section by its `kind` tag, in the order the union lists them
DATA_MODELS: dict[str, type[BaseModel]] = {
    m.model_fields["kind"].default: m for m in typing.get_args(typing.get_args(DataConfig)[0])
}
DATA_KINDS = tuple(DATA_MODELS)


# --- learning-rate schedules -------------------------------------------------
# Each one is a fraction of `train.learning_rate` over the run (schedules.py holds
# the formulas). Steps count the run's optimizer steps; `every` and `patience`
# count epochs (intervals with `train.eval_every`).


def _floor(default: float, which: str):
    return Field(default, ge=0.0, le=1.0, description=f"{which} learning rate, as a fraction of learning_rate")


def _cut_factor():
    return Field(0.5, gt=0.0, lt=1.0, description="what each cut multiplies the learning rate by")


class ConstantSchedule(_Section):
    """`train.learning_rate` throughout: the default, and what every config trained before."""

    kind: Literal["constant"] = "constant"


class CosineSchedule(_Section):
    """Linear warm-up from 0, then a cosine decay to `floor` x the learning rate at the run's last step."""

    kind: Literal["cosine"] = "cosine"
    warmup: float = Field(0.0, ge=0.0, lt=1.0, description="fraction of the run's steps spent warming up")
    floor: float = _floor(0.1, "the final")


class LinearSchedule(_Section):
    """A straight line from the learning rate to `floor` x the learning rate at the run's last step."""

    kind: Literal["linear"] = "linear"
    floor: float = _floor(0.0, "the final")


class StepSchedule(_Section):
    """The learning rate times `factor` after every `every` epochs."""

    kind: Literal["step"] = "step"
    every: int = Field(10, ge=1, le=1_000_000, description="epochs between two cuts")
    factor: float = _cut_factor()


class PlateauSchedule(_Section):
    """Keras' ReduceLROnPlateau: times `factor` when the validation loss (else the loss) stalls."""

    kind: Literal["plateau"] = "plateau"
    factor: float = _cut_factor()
    patience: int = Field(2, ge=1, description="epochs without improvement before a cut")
    floor: float = _floor(0.01, "the lowest")


LRSchedule = Annotated[
    ConstantSchedule | CosineSchedule | LinearSchedule | StepSchedule | PlateauSchedule, Field(discriminator="kind")
]
SCHEDULE_MODELS: dict[str, type[BaseModel]] = {
    m.model_fields["kind"].default: m for m in typing.get_args(typing.get_args(LRSchedule)[0])
}
# the discriminated unions, by the key path of their section: errors name the section's keys, never the tag
TAGGED_SECTIONS: dict[tuple[str, ...], dict[str, type[BaseModel]]] = {
    ("data",): DATA_MODELS,
    ("train", "lr_schedule"): SCHEDULE_MODELS,
}

DURATION = re.compile(r"\s*(\d+(?:\.\d*)?|\.\d+)\s*(s|m|h)\s*")
DURATION_UNITS = {"s": 1, "m": 60, "h": 3600}


def parse_duration(value: Any) -> Any:
    """Seconds from a number or a string such as `90s`, `10m`, `1.5h`; None stays None.

    Example:
        >>> parse_duration("10m")
        600.0
    """
    if value is None:
        return None
    if isinstance(value, bool):
        raise ValueError(f"expected seconds, or a duration such as 90s, 10m, 1h; received {value!r}")
    if isinstance(value, str):
        match = DURATION.fullmatch(value)
        if not match:
            raise ValueError(f"expected seconds, or a duration such as 90s, 10m, 1h; received {value!r}")
        value = float(match[1]) * DURATION_UNITS[match[2]]
    if not isinstance(value, (int, float)) or not (0 < value < float("inf")):
        raise ValueError(f"expected a positive number of seconds, or a duration such as 90s, 10m, 1h; received {value!r}")
    return float(value)


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
    # a name (`cosine`) or a section (`{kind: cosine, warmup: 0.05, floor: 0.1}`)
    lr_schedule: LRSchedule = Field(ConstantSchedule(), description="how the learning rate moves over the run")
    time_budget: float | None = Field(
        None, description="stop after the last epoch that fits this many seconds (or 90s, 10m, 1h)"
    )
    eval_every: int | None = Field(
        None, ge=1, description="evaluate, log and checkpoint every this many steps instead of once per pass"
    )
    # opt-in: it measured +5.7% on a tiny LSTM(32) epoch (docs/recipes.md), over the 5% it may cost
    grad_guard: bool = Field(
        False, description="log the gradient norm and the fraction of clipped steps, and say when they show trouble"
    )

    @field_validator("lr_schedule", mode="before")
    @classmethod
    def _schedule_by_name(cls, value: Any) -> Any:
        return {"kind": value} if isinstance(value, str) else value

    @field_validator("time_budget", mode="before")
    @classmethod
    def _duration(cls, value: Any) -> Any:
        return parse_duration(value)

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
    sample_every: int | None = Field(
        None, ge=1, description="text runs: print and keep a short sample every this many epochs (or intervals)"
    )


class Config(_Section):
    """A complete run: what to learn from, how, and where to write it."""

    name: str = Field("run", pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    seed: int = Field(42, ge=0, lt=2**32)  # NumPy's seed range
    data: DataConfig
    encoding: EncodingConfig | None = None  # token datasets; None for sine and series
    model: ModelConfig = ModelConfig()
    train: TrainConfig = TrainConfig()
    output: OutputConfig = OutputConfig()

    @model_validator(mode="after")
    def _encoding_fits_data(self) -> Config:
        if self.data.kind in ("sine", "series"):
            if self.encoding is not None:
                raise ValueError(f"{self.data.kind} feeds raw values; remove the encoding section")
        elif self.encoding is None:
            object.__setattr__(self, "encoding", EncodingConfig())
        elif self.encoding.kind != "embedding" and self.encoding.mask_zero:
            raise ValueError("encoding.mask_zero needs kind: embedding; use data.padding: pre instead")
        elif self.encoding.kind != "embedding" and self.encoding.dim != EncodingConfig.model_fields["dim"].default:
            raise ValueError(f"encoding.dim is for kind: embedding; {self.encoding.kind} encodings have no dim, remove it")
        params = estimated_parameters(self)
        if params > MAX_PARAMETERS:
            raise ValueError(
                f"this model has about {params:,.0f} parameters, {params * 4 / 1e9:,.1f} GB of float32 weights "
                f"(about {params * 4 * 3 / 1e9:,.1f} GB with the optimizer's state) before any data; the limit is "
                f"{MAX_PARAMETERS:,} parameters; lower model.units, model.layers, encoding.dim or the vocabulary"
            )
        if self.train.bucketing is True and self.train.distribute != "none":
            raise ValueError("train.bucketing is for single-device training; distributed runs feed fixed-width "
                             "global batches, so use auto or false with train.distribute")
        if self.train.bucketing is True and self.data.kind != "imdb":
            raise ValueError("train.bucketing groups padded IMDB reviews by length; use auto or false for "
                             f"{self.data.kind} data, whose windows all have the same length")
        if self.output.sample_every is not None and self.data.kind != "text":
            raise ValueError(f"output.sample_every samples text; {self.data.kind} data has none to write")
        if self.train.distribute != "none" and (self.train.eval_every or self.train.time_budget):
            raise ValueError("train.eval_every and train.time_budget are for single-process training; "
                             "remove them with train.distribute")
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


MAX_PARAMETERS = 500_000_000  # 2 GB of float32 weights, 6 GB with Adam's two slots: past any model a CPU or one GPU trains


def estimated_parameters(cfg: Config) -> float:
    """The parameter count a config implies, from the config alone (a text vocabulary counts as max_vocab, else 0).

    Recurrent layers: gates x (input x units + units x units + 2 units), twice
    when bidirectional; plus the embedding and the head.
    """
    d, enc, m = cfg.data, cfg.encoding, cfg.model
    vocab = d.num_words if d.kind == "imdb" else (d.max_vocab or 0) if d.kind == "text" else 0
    if enc is None:
        width, params = 1, 0.0
    elif enc.kind == "embedding":
        width, params = enc.dim, float(vocab) * enc.dim
    else:
        width, params = (vocab if enc.kind == "onehot" else 1), 0.0
    gates = {"simple_rnn": 1, "gru": 3, "lstm": 4}[m.cell]
    directions = 2 if m.bidirectional else 1
    for _ in range(m.layers):
        params += directions * gates * (float(width) * m.units + float(m.units) * m.units + 2 * m.units)
        width = m.units * (directions if m.merge_mode == "concat" else 1)
    if m.dense_units:
        params += float(width) * m.dense_units + m.dense_units
        width = m.dense_units
    outputs = max(vocab, 1) if d.kind == "text" else 1  # next token over the vocabulary; one value otherwise
    return params + float(width) * outputs + outputs


def dump_config(cfg: Config) -> str:
    """The fully resolved config as YAML, loadable by `load_config`."""
    return yaml.safe_dump(cfg.to_dict(), sort_keys=False)
