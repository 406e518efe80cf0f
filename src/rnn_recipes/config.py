"""The run configuration's schema: the typed, frozen `Config` and its sections, and back to YAML.

The data sections, one per `data.kind`, are in config_data.py.

Everything a run needs is named here and validated once, at load time (see
config_load.py, which reads YAML into these models); code after the loader
trusts the typed config. YAML keys, Python field names and `--set a.b=c`
paths are the same words.

May import: config_data (the schema's other module), nothing else of the project.
"""

from __future__ import annotations

import re
import typing
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, Field, field_validator, model_validator

from rnn_recipes.config_data import DATA_MODELS, DataConfig, Section

DEVICE_NAME = r"(?i)/(cpu|gpu):\d+"  # a local device, as tf.distribute.MirroredStrategy takes it


# --- learning-rate schedules -------------------------------------------------
# Each one is a fraction of `train.learning_rate` over the run (schedules.py holds
# the formulas). Steps count the run's optimizer steps; `every` and `patience`
# count epochs (intervals with `train.eval_every`).


def _floor(default: float, which: str):
    return Field(default, ge=0.0, le=1.0, description=f"{which} learning rate, as a fraction of learning_rate")


def _cut_factor():
    return Field(0.5, gt=0.0, lt=1.0, description="what each cut multiplies the learning rate by")


class ConstantSchedule(Section):
    """`train.learning_rate` throughout: the default, and what every config trained before."""

    kind: Literal["constant"] = "constant"


class CosineSchedule(Section):
    """Linear warm-up from 0, then a cosine decay to `floor` x the learning rate at the run's last step."""

    kind: Literal["cosine"] = "cosine"
    warmup: float = Field(0.0, ge=0.0, lt=1.0, description="fraction of the run's steps spent warming up")
    floor: float = _floor(0.1, "the final")


class LinearSchedule(Section):
    """A straight line from the learning rate to `floor` x the learning rate at the run's last step."""

    kind: Literal["linear"] = "linear"
    floor: float = _floor(0.0, "the final")


class StepSchedule(Section):
    """The learning rate times `factor` after every `every` epochs."""

    kind: Literal["step"] = "step"
    every: int = Field(10, ge=1, le=1_000_000, description="epochs between two cuts")
    factor: float = _cut_factor()


class PlateauSchedule(Section):
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


class EncodingConfig(Section):
    """How token ids enter the network."""

    # integer: the id itself as one number per step, input (T, 1), as the seed;
    # onehot: a vocabulary-sized indicator vector per step;
    # embedding: a trained dense vector per id.
    kind: Literal["integer", "onehot", "embedding"] = "embedding"
    dim: int = Field(32, ge=1, le=65_536)  # embedding only
    mask_zero: bool = False  # embedding only: id 0 is padding and is skipped
    initializer: Literal["uniform", "normal", "glorot_uniform", "he_normal"] = "uniform"


class ModelConfig(Section):
    """The recurrent stack and its head."""

    kind: Literal["stack", "seq2seq"] = Field(
        "stack", description="stack: one recurrent stack and the task's head; seq2seq: an encoder and a decoder (pairs, addition)"
    )
    # peephole_lstm: an LSTM whose gates also read the cell state (Gers and Schmidhuber 2000; cells.py)
    cell: Literal["simple_rnn", "lstm", "gru", "peephole_lstm"] = "lstm"
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
    crf: bool = Field(False, description="tagged data: a linear-chain CRF output layer (forward-algorithm loss, Viterbi decoding)")
    char_dim: int = Field(16, ge=1, le=1_024, description="tagged data with data.chars: each character's embedding width")
    char_encoder: Literal["cnn", "bilstm"] = Field(
        "cnn", description="tagged data with data.chars: how a word's characters are read: a CNN max-pooled over "
                           "the word (Ma & Hovy, 2016), or a BiLSTM's last states (Lample et al., 2016)")
    char_filters: int = Field(32, ge=1, le=4_096, description="tagged data with data.chars: the char CNN's filters, "
                                                               "or each char LSTM direction's units")
    char_window: int = Field(3, ge=1, le=15, description="tagged data with data.chars: the characters each char CNN filter reads")
    attention: Literal["none", "dot", "general", "additive", "local"] = Field(
        "none", description="seq2seq: how the decoder looks at the encoder's outputs (Luong dot/general, Bahdanau additive, Luong local-p)"
    )
    attention_window: int = Field(4, ge=1, le=1_000, description="attention local: D, the half-width of the window around the predicted position")
    encoder_self_attention: bool = Field(False, description="seq2seq: multi-head self-attention over the encoder's outputs")
    attention_heads: int = Field(2, ge=1, le=64, description="encoder_self_attention: the number of heads")


class TrainConfig(Section):
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


class OutputConfig(Section):
    """Where and what a run writes."""

    dir: str = "runs"  # runs/<name>-<timestamp>/
    plots: bool = True
    sample_every: int | None = Field(
        None, ge=1, description="text runs: print and keep a short sample every this many epochs (or intervals)"
    )
    tensorboard: bool = Field(
        False, description="write TensorBoard event files under RUN/tensorboard (losses, learning rate, histograms, graph)"
    )


class Config(Section):
    """A complete run: what to learn from, how, and where to write it."""

    name: str = Field("run", pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    seed: int = Field(42, ge=0, lt=2**32)  # NumPy's seed range
    data: DataConfig
    encoding: EncodingConfig | None = None  # token datasets; None for sine, series and timing
    model: ModelConfig = ModelConfig()
    train: TrainConfig = TrainConfig()
    output: OutputConfig = OutputConfig()

    @model_validator(mode="after")
    def _encoding_fits_data(self) -> Config:
        if self.data.kind in ("sine", "series", "timing"):
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
        if self.data.kind == "tagged" and (self.encoding.kind != "embedding" or not self.encoding.mask_zero):
            raise ValueError("tagged data pads every sentence to the longest; use encoding.kind: embedding with "
                             "encoding.mask_zero: true, so padding stays out of the loss and the metrics")
        if self.model.crf and self.data.kind != "tagged":
            raise ValueError(f"model.crf is an output layer for tagged data; {self.data.kind} data has no tag sequences")
        seq2seq_data = self.data.kind in ("pairs", "addition")
        if seq2seq_data != (self.model.kind == "seq2seq"):
            raise ValueError(f"{self.data.kind} data needs model.kind: {'seq2seq' if seq2seq_data else 'stack'}; "
                             "model.kind seq2seq reads data.kind pairs or addition")
        if self.model.kind != "seq2seq":
            if self.model.attention != "none" or self.model.encoder_self_attention:
                raise ValueError("model.attention and model.encoder_self_attention are for model.kind: seq2seq")
        elif self.model.bidirectional and self.model.merge_mode != "concat":
            raise ValueError("a bidirectional seq2seq encoder hands both directions' states to the decoder; "
                             "use model.merge_mode: concat")
        elif self.encoding.kind != "embedding":
            raise ValueError("model.kind seq2seq reads tokens through an embedding; use encoding.kind: embedding")
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

    Recurrent layers: gates x (input x units + units x units + 2 units), plus
    3 units of peepholes, twice when bidirectional; plus the embedding and the head.
    """
    d, enc, m = cfg.data, cfg.encoding, cfg.model
    vocab = d.num_words if d.kind == "imdb" else (d.max_vocab or 0) if d.kind in ("text", "tagged") else 0
    if enc is None:
        width, params = 1, 0.0
    elif enc.kind == "embedding":
        width, params = enc.dim, float(vocab) * enc.dim
    else:
        width, params = (vocab if enc.kind == "onehot" else 1), 0.0
    gates = {"simple_rnn": 1, "gru": 3, "lstm": 4, "peephole_lstm": 4}[m.cell]
    peepholes = 3 if m.cell == "peephole_lstm" else 0  # one diagonal weight per unit for the i, f and o gates
    directions = 2 if m.bidirectional else 1
    for _ in range(m.layers):
        params += directions * (gates * (float(width) * m.units + float(m.units) * m.units + 2 * m.units) + peepholes * m.units)
        width = m.units * (directions if m.merge_mode == "concat" else 1)
    if m.dense_units:
        params += float(width) * m.dense_units + m.dense_units
        width = m.dense_units
    # next token over the vocabulary; a timing run's one class per interval; one value otherwise
    outputs = max(vocab, 1) if d.kind == "text" else d.max_gap - d.min_gap + 1 if d.kind == "timing" else 1
    return params + float(width) * outputs + outputs


def dump_config(cfg: Config) -> str:
    """The fully resolved config as YAML, loadable by `load_config`."""
    return yaml.safe_dump(cfg.to_dict(), sort_keys=False)
