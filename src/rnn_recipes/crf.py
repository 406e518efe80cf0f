"""A linear-chain CRF output layer for taggers: trained by the forward algorithm, decoded by Viterbi.

`CRF` holds the transition scores (start, tag -> tag, end) and hands on the
emission scores of the layer before it, the padding mask and its transition
scores, packed into one tensor of width `tag_metrics.crf_width(K)` per step,
so the Keras loss `crf_loss` can read everything it needs from the model's
output alone: the negative log-likelihood of the true tag path, log Z (the
forward algorithm over every path) minus the path's score. Decoding is
`tag_metrics.viterbi` on that output. Both are registered with Keras, so a
saved tagger loads in a plain Keras process with safe mode on once this
module is imported:

    import keras, rnn_recipes.crf
    model = keras.saving.load_model("runs/ner_bilstm_crf-.../model.keras", safe_mode=True)
"""

from __future__ import annotations

import math

from rnn_recipes.backend import import_keras
from rnn_recipes.tag_metrics import crf_width

keras = import_keras()
ops = keras.ops

PACKAGE = "rnn_recipes"  # the registered names: rnn_recipes>CRF, rnn_recipes>crf_loss


def tags_of_width(width: int) -> int:
    """K from `crf_width(K)` = K^2 + 3K + 1.

    Example:
        >>> tags_of_width(crf_width(9))
        9
    """
    k = int(round((-3 + math.sqrt(5 + 4 * width)) / 2))
    if crf_width(k) != width:
        raise ValueError(f"a CRF output has width K^2 + 3K + 1 for K tags; received {width}")
    return k


@keras.saving.register_keras_serializable(package=PACKAGE)
class CRF(keras.layers.Layer):
    """A linear-chain CRF over `num_tags` tags, on per-step emission scores (B, T, num_tags).

    Args:
        num_tags: K, the tags; the layer before it gives K unnormalised scores per step.

    Its output (B, T, K^2 + 3K + 1) is the emissions, the mask (1 at a token,
    0 at padding) and the start, end and transition scores repeated at every
    step; train it with `crf_loss`, decode it with `tag_metrics.decode`.

    Example:
        >>> import numpy as np
        >>> layer = CRF(3)
        >>> tuple(layer(np.zeros((2, 5, 3), "float32")).shape)
        (2, 5, 19)
    """

    def __init__(self, num_tags: int, **kwargs):
        super().__init__(**kwargs)
        self.num_tags = int(num_tags)

    def build(self, input_shape):
        k = self.num_tags
        self.start = self.add_weight(shape=(k,), initializer="zeros", name="start")
        self.end = self.add_weight(shape=(k,), initializer="zeros", name="end")
        self.transitions = self.add_weight(shape=(k, k), initializer="glorot_uniform", name="transitions")

    def call(self, inputs, mask=None):
        batch, steps = ops.shape(inputs)[0], ops.shape(inputs)[1]
        on = ops.ones((batch, steps), inputs.dtype) if mask is None else ops.cast(mask, inputs.dtype)
        params = ops.concatenate([self.start, self.end, ops.reshape(self.transitions, (-1,))])
        params = ops.broadcast_to(ops.cast(params, inputs.dtype)[None, None, :], (batch, steps, ops.shape(params)[0]))
        return ops.concatenate([inputs, on[..., None], params], axis=-1)

    def compute_mask(self, inputs, mask=None):
        return None  # the loss is per sentence and reads the mask from the output

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], crf_width(self.num_tags))

    def get_config(self):
        return {**super().get_config(), "num_tags": self.num_tags}


def unpack(packed):
    """The CRF output's parts, as tensors: emissions, mask, start, end, transitions."""
    k = tags_of_width(packed.shape[-1])
    emissions, mask = packed[..., :k], packed[..., k]
    start, end = packed[0, 0, k + 1 : 2 * k + 1], packed[0, 0, 2 * k + 1 : 3 * k + 1]
    return emissions, mask, start, end, ops.reshape(packed[0, 0, 3 * k + 1 :], (k, k))


def log_partition(emissions, mask, start, end, transitions):
    """log Z per sequence: the log-sum-exp of every tag path's score (the forward algorithm)."""
    alpha = start[None, :] + emissions[:, 0]

    def step(t, alpha):
        nxt = ops.logsumexp(alpha[:, :, None] + transitions[None], axis=1) + ops.take(emissions, t, axis=1)
        return t + 1, ops.where(ops.take(mask, t, axis=1)[:, None] > 0.5, nxt, alpha)

    steps = emissions.shape[1]  # static in a built model: XLA differentiates a loop only with a known bound
    bound = ops.shape(emissions)[1] if steps is None else steps
    _, alpha = ops.while_loop(lambda t, _: t < bound, step, (1, alpha),
                              maximum_iterations=None if steps is None else max(steps - 1, 1))
    return ops.logsumexp(alpha + end[None, :], axis=1)


def path_score(tags, emissions, mask, start, end, transitions):
    """The score of the tag path `tags` (B, T) per sequence, over its unmasked steps (a prefix)."""
    k = ops.shape(transitions)[0]
    emitted = ops.sum(ops.take_along_axis(emissions, tags[..., None], axis=-1)[..., 0] * mask, axis=1)
    pairs = tags[:, :-1] * k + tags[:, 1:]
    moved = ops.sum(ops.take(ops.reshape(transitions, (-1,)), pairs) * mask[:, 1:], axis=1)
    last = ops.maximum(ops.cast(ops.sum(mask, axis=1), "int32") - 1, 0)
    last_tag = ops.take_along_axis(tags, last[:, None], axis=1)[:, 0]
    return emitted + moved + ops.take(start, tags[:, 0]) + ops.take(end, last_tag)


@keras.saving.register_keras_serializable(package=PACKAGE)
def crf_loss(y_true, y_pred):
    """The negative log-likelihood of the true tags (B, T) under the CRF whose output is `y_pred`, per sequence."""
    parts = unpack(ops.cast(y_pred, "float32"))
    tags = ops.cast(ops.reshape(y_true, ops.shape(y_pred)[:2]), "int32")
    return log_partition(*parts) - path_score(tags, *parts)
