"""Build the Keras model a config describes: input encoding -> recurrent stack -> head.

The output layer and the loss follow the task the dataset poses:
binary (sigmoid + binary cross-entropy), next_token (softmax + sparse
categorical cross-entropy) and regression (linear + mean squared error).
`train.precision` names the Keras dtype policy the layers are built under.
"""

from __future__ import annotations

from contextlib import contextmanager

from rnn_recipes.backend import import_keras
from rnn_recipes.config import Config
from rnn_recipes.data import DataSpec

keras = import_keras()

CELLS = {
    "simple_rnn": keras.layers.SimpleRNN,
    "lstm": keras.layers.LSTM,
    "gru": keras.layers.GRU,
}

EMBEDDING_INITIALIZERS = {
    # Keras' Embedding default; the seed's 21,153-parameter model uses it
    "uniform": "uniform",
    "normal": "random_normal",
    "glorot_uniform": "glorot_uniform",
    "he_normal": "he_normal",
}


def loss_and_metrics(task: str) -> tuple[str, list[str]]:
    """The loss and metrics a task is trained and reported with."""
    return {
        "binary": ("binary_crossentropy", ["accuracy"]),
        "next_token": ("sparse_categorical_crossentropy", ["accuracy"]),
        "regression": ("mse", ["mae"]),
    }[task]


def _encoder(cfg: Config, spec: DataSpec) -> tuple[keras.Input, keras.KerasTensor]:
    """The model's input and the (batch, time, features) tensor the RNN reads."""
    if spec.task == "regression":
        inputs = keras.Input((spec.seq_len, 1), name="values")
        return inputs, inputs
    enc = cfg.encoding
    if enc.kind == "integer":
        # the seed: each id is one number per step, input (T, 1)
        inputs = keras.Input((spec.seq_len,), dtype="float32", name="ids")
        return inputs, keras.layers.Reshape((-1, 1), name="ids_as_numbers")(inputs)
    inputs = keras.Input((spec.seq_len,), dtype="int32", name="ids")
    if enc.kind == "onehot":
        onehot = keras.layers.CategoryEncoding(spec.vocab_size, output_mode="one_hot", name="onehot")
        return inputs, onehot(inputs)
    embedding = keras.layers.Embedding(
        spec.vocab_size,
        enc.dim,
        embeddings_initializer=EMBEDDING_INITIALIZERS[enc.initializer],
        mask_zero=enc.mask_zero,
        name="embedding",
    )
    return inputs, embedding(inputs)


def use_jit(cfg: Config) -> bool | str:
    """Whether the train step is XLA-compiled (`train.jit_compile`).

    On TensorFlow, auto means on where docs/benchmarks.md measured it faster:
    on a CPU, with one batch shape, one direction, one device. Bucketed batches come in
    many widths, each compiled anew; TensorFlow runs a bidirectional layer's
    two loops side by side on two cores, XLA one after the other; on a GPU
    the cuDNN kernels (which XLA cannot use) are the fast path; and XLA's
    CPU code for bfloat16 measured 1.4x to 3.3x slower than TensorFlow's own
    (docs/precision.md). Other backends keep Keras' own "auto".
    """
    if cfg.train.jit_compile != "auto" or keras.config.backend() != "tensorflow":
        return cfg.train.jit_compile
    from rnn_recipes.pipeline import use_bucketing

    single = cfg.train.distribute == "none"  # XLA under tf.distribute is not what was measured
    bf16 = cfg.train.precision == "mixed_bfloat16"
    return single and not use_bucketing(cfg) and not cfg.model.bidirectional and not bf16 and not has_gpu()


def has_gpu() -> bool:
    import tensorflow as tf

    return bool(tf.config.list_physical_devices("GPU"))


def _mask_not_at_the_end(cfg: Config) -> bool:
    """Masked reviews padded before their tokens: a mask cuDNN cannot read (it takes one length per row)."""
    return cfg.encoding is not None and cfg.encoding.mask_zero and cfg.data.padding == "pre"


def cudnn_blocker(cfg: Config) -> str | None:
    """Why this config's LSTM/GRU layers cannot take the cuDNN kernel on a GPU, or None if they can.

    Keras picks cuDNN itself (tanh, sigmoid gates, no recurrent dropout); the
    project adds one check Keras leaves to run time: cuDNN reads a mask only as
    a length per row, so masked rows must be padded at the end. With
    `mask_zero`, pre and post padding compute the same, so this is a free fix.
    """
    m = cfg.model
    if m.cell == "simple_rnn":
        return "SimpleRNN has no cuDNN kernel"
    if m.activation != "tanh" or m.recurrent_dropout:
        return "cuDNN needs activation: tanh and recurrent_dropout: 0"
    if _mask_not_at_the_end(cfg):
        return ("masked reviews padded 'pre' cannot take the cuDNN kernel; data.padding: post computes the "
                "same with mask_zero, and can")
    return None


def _use_cudnn(cfg: Config) -> dict:
    """The `use_cudnn` argument for a recurrent layer: Keras' auto unless cuDNN must be kept out."""
    if cfg.model.cell == "simple_rnn":
        return {}
    if use_jit(cfg) is True:
        return {"use_cudnn": False}  # a layer that may take cuDNN tells Keras it cannot be XLA-compiled
    if _mask_not_at_the_end(cfg) and has_gpu():
        # Keras would try cuDNN and fail its right-padding check at run time
        return {"use_cudnn": False}
    return {}


def _recurrent_layer(cfg: Config, index: int, return_sequences: bool) -> keras.layers.Layer:
    m = cfg.model
    regularizer = keras.regularizers.L1L2(m.l1, m.l2) if (m.l1 or m.l2) else None
    extra = _use_cudnn(cfg)
    layer = CELLS[m.cell](
        m.units,
        activation=m.activation,
        dropout=m.dropout,
        recurrent_dropout=m.recurrent_dropout,
        kernel_initializer=m.kernel_initializer,
        recurrent_initializer=m.recurrent_initializer,
        kernel_regularizer=regularizer,
        recurrent_regularizer=regularizer,
        return_sequences=return_sequences,
        name=f"{m.cell}_{index}",
        **extra,
    )
    if m.bidirectional:
        return keras.layers.Bidirectional(layer, merge_mode=m.merge_mode, name=f"bidirectional_{index}")
    return layer


@contextmanager
def dtype_policy(policy: str, floatx: str | None = None):
    """Create layers under the Keras dtype policy `policy` (and `floatx`), then restore the previous ones.

    A layer takes its dtype from the global policy when it is created, so
    setting the policy only around building leaves every other model in the
    process (tests, recipes, later runs) on its own.

    Example:
        >>> with dtype_policy("mixed_bfloat16"):
        ...     layer = keras.layers.LSTM(8)
        >>> layer.compute_dtype, layer.variable_dtype, keras.config.dtype_policy().name
        ('bfloat16', 'float32', 'float32')
    """
    saved_floatx, saved_policy = keras.config.floatx(), keras.config.dtype_policy()
    if floatx is not None:
        keras.config.set_floatx(floatx)
    keras.config.set_dtype_policy(policy)
    try:
        yield
    finally:
        keras.config.set_floatx(saved_floatx)
        keras.config.set_dtype_policy(saved_policy)


def build_model(cfg: Config, spec: DataSpec) -> keras.Model:
    """Build (uncompiled) the model for `cfg` on data shaped as `spec`.

    Args:
        cfg: the validated run config.
        spec: the data's task and shapes.

    Returns:
        A functional `keras.Model` named after the run.

    Example:
        >>> from rnn_recipes.config import load_config
        >>> cfg = load_config("configs/imdb_simplernn_embedding.yaml")
        >>> spec = DataSpec(task="binary", seq_len=100, vocab_size=10_000)
        >>> build_model(cfg, spec).count_params()  # embedding(2) + SimpleRNN(32)
        21153
    """
    if cfg.train.precision == "float32":  # the policy in force: float32, or diagnose's float64
        return _build(cfg, spec)
    with dtype_policy(cfg.train.precision):
        return _build(cfg, spec)


def _build(cfg: Config, spec: DataSpec) -> keras.Model:
    inputs, x = _encoder(cfg, spec)
    for i in range(cfg.model.layers):
        # every layer but the last hands its whole sequence to the next one
        last = i == cfg.model.layers - 1
        x = _recurrent_layer(cfg, i, return_sequences=not last or spec.sequence_output)(x)
    if cfg.model.dense_units:
        x = keras.layers.Dense(cfg.model.dense_units, activation="relu", name="hidden")(x)
    # under mixed precision the head computes in float32: a sigmoid or softmax near 0 or 1,
    # and the loss taken from it, lose too much in 16 bits
    head = {} if cfg.train.precision == "float32" else {"dtype": "float32"}
    if spec.task == "binary":
        outputs = keras.layers.Dense(1, activation="sigmoid", name="output", **head)(x)
    elif spec.task == "next_token":
        outputs = keras.layers.Dense(spec.num_classes, activation="softmax", name="output", **head)(x)
    else:
        outputs = keras.layers.Dense(1, name="output", **head)(x)
    # the model keeps the policy it was built under: compile wraps the optimizer in a
    # LossScaleOptimizer when that policy is mixed_float16
    return keras.Model(inputs, outputs, name=cfg.name.replace(".", "_"))


def make_optimizer(cfg: Config) -> keras.optimizers.Optimizer:
    t = cfg.train
    cls = {"adam": keras.optimizers.Adam, "rmsprop": keras.optimizers.RMSprop, "sgd": keras.optimizers.SGD}
    return cls[t.optimizer](learning_rate=t.learning_rate, clipnorm=t.clipnorm, clipvalue=t.clipvalue)


def compile_model(model: keras.Model, cfg: Config, spec: DataSpec) -> keras.Model:
    loss, metrics = loss_and_metrics(spec.task)
    model.compile(optimizer=make_optimizer(cfg), loss=loss, metrics=metrics, jit_compile=use_jit(cfg))
    return model


def summary_text(model: keras.Model) -> str:
    """The layer table with parameter counts, as `model.summary()` prints it."""
    lines: list[str] = []
    model.summary(print_fn=lambda line, **_: lines.append(line), line_length=120)
    return "\n".join(lines)
