"""Decoding a trained seq2seq model one token at a time: greedy and beam search over a compiled step.

`Decoder(model)` cuts the trained model into an encoder and a one-step
decoder that share its weights (`seq2seq_model.step_models`) and wraps each
in a `tf.function` with a batch-agnostic signature, traced once. Decoding
runs the encoder once per source, then the step once per output token with
the cached encoder outputs (and their attention keys) and the recurrent
states: never the whole model per token. Beam search keeps its beams as the
rows of one batch; the bookkeeping (scores, back-pointers, finished
hypotheses) is NumPy.

Example:
    >>> decoder = Decoder(model, start=codec.start, end=codec.end)  # doctest: +SKIP
    >>> decoder.greedy(source_ids)[0].ids                           # doctest: +SKIP
    [6, 13, 10]
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rnn_recipes.backend import import_keras
from rnn_recipes.seq2seq_model import step_models

keras = import_keras()


@dataclass
class Decoded:
    """One decoded sequence.

    Attributes:
        ids: the output token ids, without the end token.
        ended: whether the decoder wrote the end token (else it stopped at the length limit).
        log_prob: the sum of the log probabilities of the ids (and of the end token, if written).
        score: `log_prob` divided by the steps taken (length-normalised; what beam search ranks by).
        weights: attention weights, one row per step taken, one column per source position (zeros without attention).
    """

    ids: list[int]
    ended: bool
    log_prob: float
    score: float
    weights: np.ndarray


class Decoder:
    """Greedy and beam-search decoding of a trained seq2seq Keras model.

    Args:
        model: the trained model (`seq2seq_model.build`), e.g. a run's `model.keras`.
        start, end: the target vocabulary's start and end token ids.
        max_length: output tokens at most (the end token not counted); default
            the decoder width the model was trained with.
        jit_compile: XLA-compile the step (measured in benchmarks/seq2seq.py).
    """

    def __init__(self, model, start: int, end: int, max_length: int | None = None, jit_compile: bool = False):
        import tensorflow as tf

        parts = step_models(model)
        self.start, self.end = start, end
        self.source_len = int(model.inputs[0].shape[1])
        self.max_length = max_length or int(model.inputs[1].shape[1])
        self.attention = parts.attention
        self.state_widths = parts.state_widths

        def signature(m):
            return [tf.TensorSpec((None, *i.shape[1:]), i.dtype) for i in m.inputs]

        enc, step = parts.encoder, parts.step
        # concrete functions, traced once for any batch size: a call skips tf.function's argument matching,
        # which costs as much as the step itself at batch 1
        self._encode = tf.function(lambda s: enc(s, training=False), jit_compile=jit_compile).get_concrete_function(
            *signature(enc))
        self._step = tf.function(lambda *a: step(list(a), training=False), jit_compile=jit_compile).get_concrete_function(
            *signature(step))
        self._tensor = tf.convert_to_tensor

    def _fit(self, source: np.ndarray) -> np.ndarray:
        source = np.asarray(source, "int32")
        if source.ndim == 1:
            source = source[None]
        width = source.shape[1]
        if width > self.source_len:
            source = source[:, : self.source_len]
        elif width < self.source_len:
            source = np.pad(source, ((0, 0), (0, self.source_len - width)))
        return source

    def encode(self, source: np.ndarray) -> tuple[list, object, list]:
        """[values, keys], the source mask and the decoder's initial states for source ids (B, S), as tensors."""
        out = self._encode(self._tensor(source))
        return list(out[:2]), self._tensor(source != 0), list(out[2:])

    def step(self, tokens: np.ndarray, cached: list, mask, states: list):
        """One decoder step: probabilities (B, V) and attention weights (B, S) as arrays, and the new states (tensors)."""
        out = self._step(self._tensor(tokens[:, None].astype("int32")), *cached, mask, *states)
        probs = np.asarray(out[0])[:, 0]
        if self.attention:
            return probs, np.asarray(out[1])[:, 0], list(out[2:])
        return probs, np.zeros((len(tokens), self.source_len), "float32"), list(out[1:])

    def greedy(self, source: np.ndarray, max_length: int | None = None) -> list[Decoded]:
        """The most probable token at each step, for a batch of sources (B, S), each stopping at its end token."""
        source = self._fit(source)
        limit = max_length or self.max_length
        cached, mask, states = self.encode(source)
        n = len(source)
        tokens = np.full(n, self.start, "int32")
        ids, weights = [[] for _ in range(n)], [[] for _ in range(n)]
        log_prob, ended, done = np.zeros(n), np.zeros(n, bool), np.zeros(n, bool)
        for t in range(limit + 1):  # `limit` tokens, then the end token
            probs, att, states = self.step(tokens, cached, mask, states)
            tokens = probs.argmax(axis=-1).astype("int32")
            for i in np.flatnonzero(~done):
                if t == limit and tokens[i] != self.end:  # the limit: stop without the end token
                    done[i] = True
                    continue
                log_prob[i] += np.log(max(float(probs[i, tokens[i]]), 1e-30))
                weights[i].append(att[i])
                if tokens[i] == self.end:
                    ended[i] = done[i] = True
                else:
                    ids[i].append(int(tokens[i]))
            if done.all():
                break
        return [Decoded(ids[i], bool(ended[i]), float(log_prob[i]), float(log_prob[i] / max(1, len(weights[i]))),
                        np.array(weights[i]) if weights[i] else np.zeros((0, self.source_len), "float32"))
                for i in range(n)]

    def beam(self, source: np.ndarray, k: int, max_length: int | None = None) -> Decoded:
        """Beam search with `k` beams for one source (S,): the hypothesis with the best length-normalised score.

        Each step ranks every continuation of the live beams; an end token among
        the `k` best finishes a hypothesis, the best other continuations stay
        live (so one beam is exactly greedy decoding). It stops when `k`
        hypotheses have finished, or at `max_length`, where the live beams end
        unfinished.
        """
        source = self._fit(source)[:1]
        limit = max_length or self.max_length
        cached, mask, states = self.encode(np.repeat(source, k, axis=0))
        tokens = np.full(k, self.start, "int32")
        log_prob = np.full(k, -np.inf)
        log_prob[0] = 0.0  # one live beam until the first step branches
        history = np.zeros((k, 0), "int32")
        att_history = np.zeros((k, 0, self.source_len), "float32")
        finished: list[Decoded] = []
        for t in range(limit + 1):
            probs, att, states = self.step(tokens, cached, mask, states)
            total = log_prob[:, None] + np.log(np.maximum(probs, 1e-30))
            order = np.argsort(-total, axis=None, kind="stable")[: 2 * k]
            rows, next_tokens, next_logp = [], [], []
            for rank, (parent, token) in enumerate(zip(*np.unravel_index(order, total.shape))):
                value = total[parent, token]
                if not np.isfinite(value) or len(rows) == k:
                    break
                if token == self.end:
                    if rank < k:
                        finished.append(Decoded(history[parent].tolist(), True, float(value), float(value / (t + 1)),
                                                np.concatenate([att_history[parent], att[parent][None]])))
                else:
                    rows.append(parent)
                    next_tokens.append(token)
                    next_logp.append(value)
            if len(finished) >= k or not rows:
                break
            if t == limit:  # the live beams end here, unfinished
                finished += [Decoded(history[r].tolist(), False, float(log_prob[r]), float(log_prob[r] / max(1, t)),
                                     att_history[r]) for r in dict.fromkeys(rows)]
                break
            rows = np.array(rows)
            pad = k - len(rows)
            history = np.concatenate([history[rows], np.array(next_tokens, "int32")[:, None]], axis=1)
            att_history = np.concatenate([att_history[rows], att[rows][:, None]], axis=1)
            states = [np.asarray(s)[rows] for s in states]
            tokens = np.array(next_tokens, "int32")
            log_prob = np.array(next_logp)
            if pad:  # fewer live beams than k: dead copies keep the batch at k rows
                history = np.concatenate([history, np.repeat(history[:1], pad, 0)])
                att_history = np.concatenate([att_history, np.repeat(att_history[:1], pad, 0)])
                states = [np.concatenate([s, np.repeat(s[:1], pad, 0)]) for s in states]
                tokens = np.concatenate([tokens, np.repeat(tokens[:1], pad)])
                log_prob = np.concatenate([log_prob, np.full(pad, -np.inf)])
        return max(finished, key=lambda d: d.score)
