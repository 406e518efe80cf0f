"""The encoder-decoder model (`model.kind: seq2seq`), and the encoder and one-step decoder cut from a trained one.

Training model: source ids -> embedding -> recurrent encoder (`model.layers`
deep, bidirectional allowed) -> optional multi-head self-attention over its
outputs; decoder input ids -> embedding -> recurrent decoder (`model.layers`
deep), each layer starting from the final state of the encoder layer at its
depth (both directions' states joined when bidirectional) -> attention over
the encoder outputs (`rnn_recipes.attention`) -> softmax over the target
vocabulary at every step. Id 0 pads both sides and is masked, so padded
steps neither change a state nor count in the loss.

The graph is written once (`_encode`, `_decode`) over a dict of layers by
name. `build` calls it on fresh layers; `step_models` finds the trained
layers in a loaded model by name and calls it again on new inputs: an
encoder that returns the outputs (and their attention keys) to cache, and a
decoder that takes one token and the states and returns the next
distribution, the attention weights and the new states. Both share the
trained weights; nothing but `model.keras` is needed.
"""

from __future__ import annotations

from dataclasses import dataclass

from rnn_recipes import attention
from rnn_recipes.backend import import_keras

keras = import_keras()

CELLS = {"simple_rnn": keras.layers.SimpleRNN, "lstm": keras.layers.LSTM, "gru": keras.layers.GRU}


def make_layers(m, source_vocab: int, target_vocab: int, embedding_dim: int, use_cudnn="auto",
                float32_head: bool = False) -> dict:
    """The training model's layers by name, for model config `m` (`rnn_recipes.config.ModelConfig`).

    `float32_head`: under a mixed precision policy the softmax (and the loss taken from it) stays in float32.
    """
    layers = keras.layers
    regularizer = keras.regularizers.L1L2(m.l1, m.l2) if (m.l1 or m.l2) else None
    extra = {} if m.cell == "simple_rnn" or use_cudnn == "auto" else {"use_cudnn": use_cudnn}
    width = m.units * (2 if m.bidirectional else 1)  # the decoder holds both directions' states

    def rnn(units: int, name: str):
        return CELLS[m.cell](
            units, activation=m.activation, dropout=m.dropout, recurrent_dropout=m.recurrent_dropout,
            kernel_initializer=m.kernel_initializer, recurrent_initializer=m.recurrent_initializer,
            kernel_regularizer=regularizer, recurrent_regularizer=regularizer,
            return_sequences=True, return_state=True, name=name, **extra,
        )

    found = {
        "source_embedding": layers.Embedding(source_vocab, embedding_dim, mask_zero=True, name="source_embedding"),
        "target_embedding": layers.Embedding(target_vocab, embedding_dim, mask_zero=True, name="target_embedding"),
        "output": layers.Dense(target_vocab, activation="softmax", name="output",
                               **({"dtype": "float32"} if float32_head else {})),
    }
    for i in range(m.layers):
        encoder = rnn(m.units, f"encoder_{i}")
        if m.bidirectional:
            encoder = layers.Bidirectional(encoder, merge_mode="concat", name=f"encoder_{i}")
            for j in range(2 if m.cell == "lstm" else 1):
                found[f"encoder_state_{i}_{j}"] = layers.Concatenate(name=f"encoder_state_{i}_{j}")
        found[f"encoder_{i}"] = encoder
        found[f"decoder_{i}"] = rnn(width, f"decoder_{i}")
    if m.encoder_self_attention:
        heads = m.attention_heads
        found["encoder_self_attention"] = layers.MultiHeadAttention(heads, max(1, width // heads), name="encoder_self_attention")
        found["encoder_self_attention_add"] = layers.Add(name="encoder_self_attention_add")
        found["encoder_self_attention_norm"] = layers.LayerNormalization(name="encoder_self_attention_norm")
    if m.attention != "none":
        found.update(attention.make_layers(m.attention, width, m.attention_window))
    return found


def _depth(layers: dict) -> int:
    return sum(1 for name in layers if name.startswith("decoder_"))


def _encode(layers: dict, source):
    """Encoder outputs, their attention keys, and each layer's final states (joined across directions)."""
    x = layers["source_embedding"](source)
    states = []
    for i in range(_depth(layers)):
        x, *st = layers[f"encoder_{i}"](x)
        if f"encoder_state_{i}_0" in layers:  # bidirectional: forward states, then backward ones
            half = len(st) // 2
            st = [layers[f"encoder_state_{i}_{j}"]([st[j], st[half + j]]) for j in range(half)]
        states.append(st)
    if "encoder_self_attention" in layers:
        mask = keras.ops.not_equal(source, 0)
        mixed = layers["encoder_self_attention"](x, x, query_mask=mask, value_mask=mask)
        x = layers["encoder_self_attention_norm"](layers["encoder_self_attention_add"]([x, mixed]))
    key = layers["attention_key"](x) if "attention_key" in layers else x
    return x, key, states


def _decode(layers: dict, target_in, states, values, key, source_mask):
    """The next-token distributions, the decoder layers' new states and the attention weights (None without).

    `source_mask` is given explicitly: the mask Keras carries along with a
    tensor does not survive every layer (MultiHeadAttention drops it), and
    attention over padding would differ between training and decoding.
    """
    y = layers["target_embedding"](target_in)
    new_states = []
    for i in range(_depth(layers)):
        y, *st = layers[f"decoder_{i}"](y, initial_state=states[i])
        new_states.append(st)
    weights = None
    if "attention" in layers:
        query = layers["attention_query"](y) if "attention_query" in layers else y
        masks = [keras.ops.not_equal(target_in, 0), source_mask]  # the first is the output's: padding stays out of the loss
        context, weights = layers["attention"]([query, values, key], mask=masks, return_attention_scores=True)
        y = layers["attention_combine"](layers["attention_context"]([context, y]))
    return layers["output"](y), new_states, weights


def build(m, spec, embedding_dim: int, name: str, use_cudnn="auto", float32_head: bool = False) -> keras.Model:
    """The training model: inputs `source` (N, S) and `target_in` (N, T) ids, output (N, T, target vocabulary)."""
    layers = make_layers(m, spec.vocab_size, spec.num_classes, embedding_dim, use_cudnn, float32_head)
    source = keras.Input((spec.seq_len,), dtype="int32", name="source")
    target_in = keras.Input((spec.target_len,), dtype="int32", name="target_in")
    values, key, states = _encode(layers, source)
    outputs, _, _ = _decode(layers, target_in, states, values, key, keras.ops.not_equal(source, 0))
    return keras.Model([source, target_in], outputs, name=name)


@dataclass
class StepModels:
    """A trained seq2seq model cut for decoding one token at a time.

    Attributes:
        encoder: source ids (B, S) -> [values (B, S, d), keys (B, S, d), *states].
        step: [token (B, 1), values, keys, source mask (B, S), *states] ->
            [probabilities (B, 1, V), attention weights (B, 1, S) if it attends, *new states].
        state_widths: the width of each state, in order.
        attention: whether the model attends.
    """

    encoder: keras.Model
    step: keras.Model
    state_widths: list[int]
    attention: bool


def step_models(model: keras.Model) -> StepModels:
    """The encoder and one-step decoder of a trained seq2seq `model`, sharing its layers and weights."""
    layers = {layer.name: layer for layer in model.layers}
    steps = model.inputs[0].shape[1]
    source = keras.Input((steps,), dtype="int32", name="source")
    values, key, states = _encode(layers, source)
    flat = [s for st in states for s in st]
    encoder = keras.Model(source, [values, key, *flat], name="encoder")

    width = values.shape[-1]
    token = keras.Input((1,), dtype="int32", name="token")
    values_in = keras.Input((steps, width), name="values")
    key_in = keras.Input((steps, key.shape[-1]), name="keys")
    mask_in = keras.Input((steps,), dtype="bool", name="source_mask")
    state_ins = [keras.Input((s.shape[-1],), name=f"state_{i}") for i, s in enumerate(flat)]
    nested, at = [], 0
    for st in states:
        nested.append(state_ins[at:at + len(st)])
        at += len(st)
    probs, new_states, weights = _decode(layers, token, nested, values_in, key_in, mask_in)
    flat_new = [s for st in new_states for s in st]
    heads = [probs] if weights is None else [probs, weights]
    step = keras.Model([token, values_in, key_in, mask_in, *state_ins], [*heads, *flat_new], name="decoder_step")
    return StepModels(encoder, step, [int(s.shape[-1]) for s in flat], weights is not None)
