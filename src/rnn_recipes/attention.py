"""Attention over a sequence-to-sequence encoder's outputs: Keras' own layers by name, and Luong's local-p.

`model.attention` names the score between a decoder state `h_t` and an
encoder output `h_s` (Luong et al. 2015; Bahdanau et al. 2015):

- `dot`: `h_t . h_s`, Keras' `layers.Attention`;
- `general`: `h_t . W_a h_s`, Keras' `layers.Attention` over keys `W_a h_s`;
- `additive`: `v . tanh(W_1 h_t + W_2 h_s)`, Keras' `layers.AdditiveAttention`
  (its learned scale is `v`) over projected queries and keys;
- `local`: Luong's local-p, `LocalAttention` below: the general score, kept to
  a window of `2D + 1` source positions around a predicted position
  `p_t = S sigmoid(v_p . tanh(W_p h_t))` and weighted by a Gaussian
  `exp(-(s - p_t)^2 / (2 (D/2)^2))`; Keras has no such layer.

Every kind is applied as Luong's global attention: after the decoder's
recurrent layers, the context `c_t` joins `h_t` in `tanh(W_c [c_t; h_t])`
before the softmax. `LocalAttention` is registered with Keras
(`rnn_recipes>LocalAttention`), so a model holding it loads with
`keras.models.load_model(path)` (safe mode on) once this module is imported.
"""

from __future__ import annotations

from rnn_recipes.backend import import_keras

keras = import_keras()
ops = keras.ops

KINDS = ("none", "dot", "general", "additive", "local")


@keras.saving.register_keras_serializable(package="rnn_recipes")
class LocalAttention(keras.layers.Layer):
    """Luong's local-p attention: a predicted window over the source, weighted by a Gaussian.

    Called as Keras' `layers.Attention` is, on `[query, value, key]` with
    `mask=[query_mask, value_mask]`; the value mask gives each example's
    source length `S`.

    Args:
        window: D, the window's half-width in source positions; the Gaussian's
            standard deviation is D / 2. Default 4.

    Example:
        >>> layer = LocalAttention(window=2)
        >>> q, v = keras.ops.ones((1, 3, 4)), keras.ops.ones((1, 5, 4))
        >>> context, weights = layer([q, v, v], return_attention_scores=True)
        >>> tuple(context.shape), tuple(weights.shape)
        ((1, 3, 4), (1, 3, 5))
    """

    def __init__(self, window: int = 4, **kwargs):
        super().__init__(**kwargs)
        self.window = int(window)
        self.supports_masking = True

    def build(self, input_shape):
        dim = input_shape[0][-1]
        self.position_kernel = self.add_weight(name="position_kernel", shape=(dim, dim), initializer="glorot_uniform")
        self.position_vector = self.add_weight(name="position_vector", shape=(dim,), initializer="glorot_uniform")

    def call(self, inputs, mask=None, return_attention_scores=False):
        query, value = inputs[0], inputs[1]
        key = inputs[2] if len(inputs) > 2 else value
        value_mask = None if mask is None else mask[1]
        steps = ops.shape(value)[1]
        valid = ops.ones(ops.shape(value)[:2], "float32") if value_mask is None else ops.cast(value_mask, "float32")
        length = ops.sum(valid, axis=-1, keepdims=True)[:, None, :]  # (B, 1, 1): each source's S
        hidden = ops.tanh(ops.matmul(query, self.position_kernel))
        p = length * ops.sigmoid(ops.sum(hidden * self.position_vector, axis=-1, keepdims=True))  # (B, T, 1)
        positions = ops.cast(ops.arange(steps), "float32")[None, None, :]  # (1, 1, S)
        distance = positions - p
        inside = ops.logical_and(ops.abs(distance) <= self.window, valid[:, None, :] > 0)
        scores = ops.matmul(query, ops.transpose(key, (0, 2, 1)))  # (B, T, S): the general score
        scores = ops.where(inside, scores, ops.full_like(scores, -1e9))
        sigma = self.window / 2.0
        weights = ops.softmax(scores, axis=-1) * ops.exp(-ops.square(distance) / (2 * sigma**2))
        weights = ops.where(inside, weights, ops.zeros_like(weights))
        context = ops.matmul(weights, value)
        return (context, weights) if return_attention_scores else context

    def compute_mask(self, inputs, mask=None):
        return None if mask is None else mask[0]

    def compute_output_spec(self, inputs, mask=None, return_attention_scores=False):
        query, value = inputs[0], inputs[1]
        context = keras.KerasTensor((*query.shape[:-1], value.shape[-1]), dtype=self.compute_dtype)
        if not return_attention_scores:
            return context
        return context, keras.KerasTensor((*query.shape[:-1], value.shape[1]), dtype=self.compute_dtype)

    def get_config(self):
        return {**super().get_config(), "window": self.window}


def make_layers(kind: str, units: int, window: int) -> dict:
    """The layers of attention `kind` over `units`-wide encoder outputs, by the name the model gives them.

    `attention_query` / `attention_key` project the decoder states / encoder
    outputs before the score (only where the kind has such weights);
    `attention` scores and averages; `attention_context` and
    `attention_combine` make Luong's `tanh(W_c [c_t; h_t])`.
    """
    layers = keras.layers
    dense = lambda name: layers.Dense(units, use_bias=False, name=name)  # noqa: E731
    found = {}
    if kind == "dot":
        found["attention"] = layers.Attention(score_mode="dot", name="attention")
    elif kind == "general":
        found["attention_key"] = dense("attention_key")
        found["attention"] = layers.Attention(score_mode="dot", name="attention")
    elif kind == "additive":
        found["attention_query"] = dense("attention_query")
        found["attention_key"] = dense("attention_key")
        found["attention"] = layers.AdditiveAttention(use_scale=True, name="attention")
    elif kind == "local":
        found["attention_key"] = dense("attention_key")
        found["attention"] = LocalAttention(window, name="attention")
    else:
        raise ValueError(f"Invalid `model.attention`. Expected one of: {', '.join(KINDS)}. Received: {kind!r}.")
    found["attention_context"] = layers.Concatenate(name="attention_context")
    found["attention_combine"] = layers.Dense(units, activation="tanh", name="attention_combine")
    return found


CUSTOM_OBJECTS = {"rnn_recipes>LocalAttention": LocalAttention}  # what a plain Keras process needs registered
