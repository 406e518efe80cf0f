"""A NumPy copy of a trained text model, stepped one token at a time, and sampling from it.

Calling `model.predict` once per character costs ~100 ms on a 2-core CPU,
almost all of it call overhead. `Engine` reads the trained weights out of the
Keras layers once and runs the same arithmetic in NumPy, so one step of an
LSTM(256) costs tens of microseconds.

Two ways to condition on the text so far:
- stateful: the seed warms the recurrent state, then each step feeds one
  token and carries the state (char-rnn). Right for many_to_many runs.
- window: each step re-reads the last `seq_length` tokens from a zero state,
  exactly what a many_to_one model saw in training (the seed recipe).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from rnn_recipes.errors import GenerateError


def sample(probs: np.ndarray, temperature: float, top_k: int | None, rng: np.random.Generator) -> int:
    """Pick the next token id from a probability vector.

    Args:
        probs: probabilities over the vocabulary (sums to 1).
        temperature: 0 is greedy (argmax); below 1 sharpens, above 1 flattens.
        top_k: if set, sample only among the k most likely tokens.
        rng: the random generator; a fixed seed reproduces the output.

    Example:
        >>> sample(np.array([0.1, 0.7, 0.2]), 0.0, None, np.random.default_rng(0))
        1
    """
    if temperature == 0:
        return int(np.argmax(probs))
    logits = np.log(np.maximum(probs.astype("float64"), 1e-30)) / temperature
    if top_k is not None and top_k < len(logits):
        cutoff = np.partition(logits, -top_k)[-top_k]
        logits = np.where(logits >= cutoff, logits, -np.inf)
    weights = np.exp(logits - logits.max())
    return int(rng.choice(len(weights), p=weights / weights.sum()))


# --- the NumPy network ---------------------------------------------------------

ACTIVATIONS = {
    "tanh": np.tanh,
    "sigmoid": lambda x: 1.0 / (1.0 + np.exp(-x)),
    "relu": lambda x: np.maximum(x, 0.0),
    "linear": lambda x: x,
    "softmax": lambda x: (lambda e: e / e.sum(-1, keepdims=True))(np.exp(x - x.max(-1, keepdims=True))),
}


@dataclass
class _Cell:
    """One direction of one recurrent layer, with Keras' weight layout."""

    kind: str  # "simple_rnn" | "lstm" | "gru" | "peephole_lstm"
    kernel: np.ndarray
    recurrent: np.ndarray
    bias: np.ndarray
    activation: str
    recurrent_activation: str = "sigmoid"
    go_backwards: bool = False
    peepholes: tuple[np.ndarray, ...] = ()  # peephole_lstm: the input, forget and output gates' diagonal weights

    @property
    def units(self) -> int:
        return self.recurrent.shape[0]

    def zero_state(self) -> tuple[np.ndarray, ...]:
        h = np.zeros(self.units, np.float32)
        return (h, h.copy()) if self.kind in ("lstm", "peephole_lstm") else (h,)

    def step(self, x_proj: np.ndarray, state: tuple[np.ndarray, ...]) -> tuple[np.ndarray, ...]:
        """Advance one step given the input already multiplied by the kernel (plus input bias)."""
        act, rec_act = ACTIVATIONS[self.activation], ACTIVATIONS[self.recurrent_activation]
        h = state[0]
        if self.kind == "simple_rnn":
            return (act(x_proj + h @ self.recurrent),)
        if self.kind == "lstm":
            z = x_proj + h @ self.recurrent
            i, f, g, o = np.split(z, 4)
            c = rec_act(f) * state[1] + rec_act(i) * act(g)
            return (rec_act(o) * act(c), c)
        if self.kind == "peephole_lstm":  # the gates also read the cell state (rnn_recipes.cells)
            z = x_proj + h @ self.recurrent
            i, f, g, o = np.split(z, 4)
            p_i, p_f, p_o = self.peepholes
            c_prev = state[1]
            c = rec_act(f + p_f * c_prev) * c_prev + rec_act(i + p_i * c_prev) * act(g)
            return (rec_act(o + p_o * c) * act(c), c)
        # GRU with reset_after=True (Keras' default): the reset gate scales the
        # recurrent projection, which carries its own bias row.
        u = self.units
        rec = h @ self.recurrent + self.bias[1]
        z = rec_act(x_proj[:u] + rec[:u])
        r = rec_act(x_proj[u : 2 * u] + rec[u : 2 * u])
        hh = act(x_proj[2 * u :] + r * rec[2 * u :])
        return (z * h + (1.0 - z) * hh,)

    def input_projection(self, x: np.ndarray) -> np.ndarray:
        """x @ kernel + input bias for every step at once: one matmul instead of T."""
        bias = self.bias[0] if self.kind == "gru" else self.bias
        return x @ self.kernel + bias

    def run(self, x: np.ndarray, state=None) -> tuple[np.ndarray, tuple]:
        """All outputs (T, units) for inputs x (T, features), and the final state."""
        proj = self.input_projection(x)
        state = self.zero_state() if state is None else state
        order = range(len(x) - 1, -1, -1) if self.go_backwards else range(len(x))
        out = np.empty((len(x), self.units), np.float32)
        for t in order:
            state = self.step(proj[t], state)
            out[t] = state[0]
        return out, state


RECURRENT = {"SimpleRNN": "simple_rnn", "LSTM": "lstm", "GRU": "gru", "PeepholeLSTM": "peephole_lstm"}


def _cell_from_keras(layer, go_backwards: bool = False) -> _Cell:
    kind = RECURRENT[type(layer).__name__]
    if kind == "gru" and not layer.cell.reset_after:
        raise GenerateError("GRU with reset_after=False is not supported by the generator")
    kernel, recurrent, bias, *peepholes = (np.asarray(w, np.float32) for w in layer.get_weights())
    rec_act = getattr(layer.cell, "recurrent_activation", None)
    return _Cell(
        kind,
        kernel,
        recurrent,
        bias,
        activation=layer.cell.activation.__name__,
        recurrent_activation=rec_act.__name__ if rec_act else "sigmoid",
        go_backwards=go_backwards,
        peepholes=tuple(peepholes),
    )


class Engine:
    """A trained token model as NumPy arrays: encode -> recurrent layers -> dense head.

    Args:
        model: a Keras model built by `rnn_recipes.model.build_model` for a text run.

    Built from a text run's model, `Engine(run.load_model())`;
    `engine.step(token_id, engine.zero_state())` returns the next token's
    probabilities and the new state.
    """

    def __init__(self, model):
        self.encoding = "integer"
        self.embedding: np.ndarray | None = None
        self.vocab_size = 0
        self.layers: list[tuple[_Cell, ...]] = []
        self.merge_modes: list[str | None] = []
        self.dense: list[tuple[np.ndarray, np.ndarray, str]] = []
        for layer in model.layers:
            name = type(layer).__name__
            if name == "Embedding":
                self.encoding, self.embedding = "embedding", np.asarray(layer.embeddings, np.float32)
            elif name == "CategoryEncoding":
                self.encoding, self.vocab_size = "onehot", layer.num_tokens
            elif name in RECURRENT:
                self.layers.append((_cell_from_keras(layer),))
                self.merge_modes.append(None)
            elif name == "Bidirectional":
                self.layers.append((_cell_from_keras(layer.forward_layer), _cell_from_keras(layer.backward_layer, True)))
                self.merge_modes.append(layer.merge_mode)
            elif name == "Dense":
                kernel, bias = (np.asarray(w, np.float32) for w in layer.get_weights())
                activation = layer.activation.__name__
                if activation not in ACTIVATIONS:
                    raise GenerateError(f"layer {layer.name} has activation {activation!r}, which the generator does not support")
                self.dense.append((kernel, bias, activation))
            elif name not in ("InputLayer", "Reshape"):
                raise GenerateError(f"layer {layer.name} ({name}) is not supported by the generator")
        self.bidirectional = any(len(cells) == 2 for cells in self.layers)

    def encode(self, ids: np.ndarray) -> np.ndarray:
        """Token ids (T,) -> the features (T, d) the first recurrent layer reads."""
        if self.encoding == "embedding":
            return self.embedding[ids]
        if self.encoding == "onehot":
            return np.eye(self.vocab_size, dtype=np.float32)[ids]
        return ids.astype(np.float32)[:, None]

    def head(self, h: np.ndarray) -> np.ndarray:
        for kernel, bias, activation in self.dense:
            h = ACTIVATIONS[activation](h @ kernel + bias)
        return h

    # window mode: the whole window from a zero state, as the Keras model computes it
    def window_probs(self, ids: np.ndarray) -> np.ndarray:
        """Next-token probabilities after reading `ids` from a zero state."""
        x = self.encode(ids)
        for i, (cells, merge) in enumerate(zip(self.layers, self.merge_modes)):
            outs = [cell.run(x)[0] for cell in cells]
            if i == len(self.layers) - 1:
                # the last layer answers with its final state: a backward cell ends at step 0
                outs = [o[0] if cell.go_backwards else o[-1] for o, cell in zip(outs, cells)]
            x = outs[0] if merge is None else _merge(outs, merge)
        return self.head(x)

    # stateful mode: one token in, carried state
    def zero_state(self) -> list[tuple[np.ndarray, ...]]:
        """The state stateful mode starts from; a bidirectional model has none (it reads the future)."""
        if self.bidirectional:
            raise GenerateError("a bidirectional model reads the future; it can only run in window mode")
        return [cells[0].zero_state() for cells in self.layers]

    def step(self, token: int, state: list) -> tuple[np.ndarray, list]:
        """Feed one token; return next-token probabilities and the new state (from `zero_state`)."""
        new_state = self.advance(token, state)
        return self.readout(new_state), new_state

    def advance(self, token: int, state: list) -> list:
        """Feed one token and return the new state, without the head; `state` is left as it was."""
        x = self.encode(np.array([token]))[0]
        new_state = []
        for (cell,), s in zip(self.layers, state):
            s = cell.step(cell.input_projection(x), s)
            new_state.append(s)
            x = s[0]
        return new_state

    def readout(self, state: list) -> np.ndarray:
        """The head applied to the last layer's output in `state`: what the model answers after the tokens so far."""
        return self.head(state[-1][0])


def _merge(outs: list[np.ndarray], mode: str) -> np.ndarray:
    forward, backward = outs
    if mode == "concat":
        return np.concatenate([forward, backward], axis=-1)
    return {"sum": forward + backward, "mul": forward * backward, "ave": (forward + backward) / 2}[mode]


# --- generation -----------------------------------------------------------------



def generate(
    engine: Engine,
    ids: list[int],
    length: int,
    *,
    mode: str,
    window: int,
    temperature: float,
    top_k: int | None,
    rng: np.random.Generator,
) -> Iterator[int]:
    """`length` new token ids after the seed `ids`, one at a time.

    A bidirectional model in stateful mode is refused here, before the first token.

    Args:
        mode: "stateful" carries the recurrent state; "window" re-reads the last `window` tokens.
    """

    def pick(probs: np.ndarray) -> int:
        return sample(probs, temperature, top_k, rng)

    if mode == "stateful":
        return _stateful(engine, list(ids), length, engine.zero_state(), pick)
    return _windowed(engine, list(ids), length, window, pick)


def _stateful(engine: Engine, ids: list[int], length: int, state: list, pick) -> Iterator[int]:
    for token in ids:
        probs, state = engine.step(token, state)
    for _ in range(length):
        token = pick(probs)
        yield token
        probs, state = engine.step(token, state)


def _windowed(engine: Engine, ids: list[int], length: int, window: int, pick) -> Iterator[int]:
    for _ in range(length):
        token = pick(engine.window_probs(np.asarray(ids[-window:])))
        ids.append(token)
        yield token
