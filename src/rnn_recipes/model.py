"""Build the Keras model a config describes: input encoding -> recurrent stack -> head (or an encoder-decoder).

The output layer, the loss and the metrics are those of the task the dataset
poses (`rnn_recipes.tasks`): e.g. binary is sigmoid + binary cross-entropy.
`train.precision` names the Keras dtype policy the layers are built under.
"""

from __future__ import annotations

from contextlib import contextmanager

from rnn_recipes import runtime, tasks
from rnn_recipes.backend import import_keras
from rnn_recipes.cells import PeepholeLSTM
from rnn_recipes.config import Config
from rnn_recipes.crf import CRF, crf_loss
from rnn_recipes.dataset import DataSpec
from rnn_recipes.runtime import Runtime

keras = import_keras()

CELLS = {
    "simple_rnn": keras.layers.SimpleRNN,
    "lstm": keras.layers.LSTM,
    "gru": keras.layers.GRU,
    "peephole_lstm": PeepholeLSTM,
}

EMBEDDING_INITIALIZERS = {
    # Keras' Embedding default; the seed's 21,153-parameter model uses it
    "uniform": "uniform",
    "normal": "random_normal",
    "glorot_uniform": "glorot_uniform",
    "he_normal": "he_normal",
}


def _encoder(cfg: Config, spec: DataSpec) -> tuple[keras.Input, keras.KerasTensor]:
    """The model's input and the (batch, time, features) tensor the RNN reads."""
    if not spec.vocab_size:  # no vocabulary: real values, `features` per step
        inputs = keras.Input((spec.seq_len, spec.features), name="values")
        return inputs, inputs
    enc = cfg.encoding
    if enc.kind == "integer":
        # the seed: each id is one number per step, input (T, 1)
        inputs = keras.Input((spec.seq_len,), dtype="float32", name="ids")
        return inputs, keras.layers.Reshape((-1, 1), name="ids_as_numbers")(inputs)
    if spec.chars:  # tagged words with their characters: one array, split here
        return _words_and_chars(cfg, spec)
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


def _words_and_chars(cfg: Config, spec: DataSpec) -> tuple[keras.Input, keras.KerasTensor]:
    """Each step's word embedding beside its word's character features, as the standard BiLSTM taggers read words.

    A step holds the word id and then `spec.chars` character ids. The characters
    are embedded, read by a convolution of `model.char_window` characters and
    max-pooled over the word (a char CNN per word), or by a BiLSTM whose last
    states stand for the word (`model.char_encoder: bilstm`), so a word never seen in
    training still shows its capital letter, its suffix or its digits. The
    word embedding's mask (id 0 is padding) goes on to the recurrent layers.
    """
    enc, m = cfg.encoding, cfg.model
    inputs = keras.Input((spec.seq_len, 1 + spec.chars), dtype="int32", name="ids")
    words = keras.layers.Embedding(
        spec.vocab_size, enc.dim, embeddings_initializer=EMBEDDING_INITIALIZERS[enc.initializer], mask_zero=True,
        name="embedding",
    )(inputs[..., 0])
    if m.char_encoder == "bilstm":  # every word's characters as one sequence: (batch * words, chars)
        flat = keras.ops.reshape(inputs[..., 1:], (-1, spec.chars))
        chars = keras.layers.Embedding(spec.char_vocab, m.char_dim, mask_zero=True, name="char_embedding")(flat)
        chars = keras.layers.Bidirectional(keras.layers.LSTM(m.char_filters), name="char_bilstm")(chars)
        chars = keras.ops.reshape(chars, (-1, spec.seq_len, 2 * m.char_filters))
        return inputs, keras.layers.Concatenate(name="word_and_chars")([words, chars])
    chars = keras.layers.Embedding(spec.char_vocab, m.char_dim, name="char_embedding")(inputs[..., 1:])
    chars = keras.layers.Conv2D(m.char_filters, (1, m.char_window), padding="same", activation="relu",
                                name="char_cnn")(chars)  # (batch, words, chars, filters): one word per row
    chars = keras.ops.max(chars, axis=2)  # the strongest response of each filter over the word
    return inputs, keras.layers.Concatenate(name="word_and_chars")([words, chars])


def _recurrent_layer(cfg: Config, rt: Runtime, index: int, return_sequences: bool) -> keras.layers.Layer:
    m = cfg.model
    regularizer = keras.regularizers.L1L2(m.l1, m.l2) if (m.l1 or m.l2) else None
    # Keras' auto unless the runtime keeps cuDNN out (XLA, or a mask cuDNN cannot read on a GPU)
    extra = {} if not runtime.has_cudnn_kernel(m.cell) or rt.use_cudnn == "auto" else {"use_cudnn": rt.use_cudnn}
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


def build_model(cfg: Config, spec: DataSpec, rt: Runtime | None = None) -> keras.Model:
    """Build (uncompiled) the model for `cfg` on data shaped as `spec`.

    Args:
        cfg: the validated run config.
        spec: the data's task and shapes.
        rt: the run's runtime record (whether cuDNN is kept out); default: resolved for this machine.

    Returns:
        A functional `keras.Model` named after the run.

    Example:
        >>> from rnn_recipes.config_load import load_config
        >>> cfg = load_config("configs/imdb_simplernn_embedding.yaml")
        >>> spec = DataSpec(task="binary", seq_len=100, vocab_size=10_000)
        >>> build_model(cfg, spec).count_params()  # embedding(2) + SimpleRNN(32)
        21153
    """
    rt = rt or runtime.for_this_machine(cfg)
    if rt.precision == "float32":  # the policy in force: float32, or diagnose's float64
        return _build(cfg, spec, rt)
    with dtype_policy(rt.precision):
        return _build(cfg, spec, rt)


def _build(cfg: Config, spec: DataSpec, rt: Runtime) -> keras.Model:
    if cfg.model.kind == "seq2seq":  # an encoder and a decoder: seq2seq_model.py
        from rnn_recipes import seq2seq_model

        return seq2seq_model.build(cfg.model, spec, cfg.encoding.dim, cfg.name.replace(".", "_"), rt.use_cudnn,
                                   float32_head=cfg.train.precision != "float32")
    task = tasks.of(spec)
    inputs, x = _encoder(cfg, spec)
    for i in range(cfg.model.layers):
        # every layer but the last hands its whole sequence to the next one
        last = i == cfg.model.layers - 1
        x = _recurrent_layer(cfg, rt, i, return_sequences=not last or task.per_step(spec))(x)
    if cfg.model.dense_units:
        x = keras.layers.Dense(cfg.model.dense_units, activation="relu", name="hidden")(x)
    # under mixed precision the head computes in float32: a sigmoid or softmax near 0 or 1,
    # and the loss taken from it, lose too much in 16 bits
    head = {} if cfg.train.precision == "float32" else {"dtype": "float32"}
    if cfg.model.crf:  # emission scores per tag, then the CRF's transitions over them
        x = keras.layers.Dense(task.units(spec), name="emissions", **head)(x)
        outputs = CRF(task.units(spec), name="crf", **head)(x)
    else:
        outputs = keras.layers.Dense(task.units(spec), activation=task.activation, name="output", **head)(x)
    # the model keeps the policy it was built under: compile wraps the optimizer in a
    # LossScaleOptimizer when that policy is mixed_float16
    return keras.Model(inputs, outputs, name=cfg.name.replace(".", "_"))


def make_optimizer(cfg: Config) -> keras.optimizers.Optimizer:
    t = cfg.train
    cls = {"adam": keras.optimizers.Adam, "rmsprop": keras.optimizers.RMSprop, "sgd": keras.optimizers.SGD}
    return cls[t.optimizer](learning_rate=t.learning_rate, clipnorm=t.clipnorm, clipvalue=t.clipvalue)


def compile_model(model: keras.Model, cfg: Config, spec: DataSpec, rt: Runtime | None = None) -> keras.Model:
    """Compile `model` for `cfg`'s task, XLA as the runtime record `rt` says (default: resolved for this machine)."""
    task = tasks.of(spec)
    jit = (rt or runtime.for_this_machine(cfg)).jit
    loss, metrics = task.loss, list(task.metrics)
    if cfg.model.crf:  # the CRF's own loss; its tags come from Viterbi decoding, scored by the task's baselines
        loss, metrics = crf_loss, []
    model.compile(optimizer=make_optimizer(cfg), loss=loss, metrics=metrics, jit_compile=jit)
    return model


def summary_text(model: keras.Model) -> str:
    """The layer table with parameter counts, as `model.summary()` prints it."""
    lines: list[str] = []
    model.summary(print_fn=lambda line, **_: lines.append(line), line_length=120)
    return "\n".join(lines)
