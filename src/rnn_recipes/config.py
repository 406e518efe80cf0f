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
# each data section by its `kind` tag, in the order the union lists them
DATA_MODELS: dict[str, type[BaseModel]] = {
    m.model_fields["kind"].default: m for m in typing.get_args(typing.get_args(DataConfig)[0])
}
DATA_KINDS = tuple(DATA_MODELS)


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
