"""Generate text from a trained run: a NumPy copy of the network, stepped one token at a time.

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

import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rnn_recipes.codec import TextCodec, TokenError
from rnn_recipes.errors import GenerateError


MIN_TEMPERATURE = 1e-3  # below it, log(p) / temperature overflows to inf; use 0 for greedy
MAX_TEMPERATURE = 1e3
MAX_LENGTH = 10_000_000


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

    kind: str  # "simple_rnn" | "lstm" | "gru"
    kernel: np.ndarray
    recurrent: np.ndarray
    bias: np.ndarray
    activation: str
    recurrent_activation: str = "sigmoid"
    go_backwards: bool = False

    @property
    def units(self) -> int:
        return self.recurrent.shape[0]

    def zero_state(self) -> tuple[np.ndarray, ...]:
        h = np.zeros(self.units, np.float32)
        return (h, h.copy()) if self.kind == "lstm" else (h,)

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


def _cell_from_keras(layer, go_backwards: bool = False) -> _Cell:
    kind = {"SimpleRNN": "simple_rnn", "LSTM": "lstm", "GRU": "gru"}[type(layer).__name__]
    if kind == "gru" and not layer.cell.reset_after:
        raise GenerateError("GRU with reset_after=False is not supported by the generator")
    kernel, recurrent, bias = (np.asarray(w, np.float32) for w in layer.get_weights())
    rec_act = getattr(layer.cell, "recurrent_activation", None)
    return _Cell(
        kind,
        kernel,
        recurrent,
        bias,
        activation=layer.cell.activation.__name__,
        recurrent_activation=rec_act.__name__ if rec_act else "sigmoid",
        go_backwards=go_backwards,
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
            elif name in ("SimpleRNN", "LSTM", "GRU"):
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
        x = self.encode(np.array([token]))[0]
        new_state = []
        for (cell,), s in zip(self.layers, state):
            s = cell.step(cell.input_projection(x), s)
            new_state.append(s)
            x = s[0]
        return self.head(x), new_state


def _merge(outs: list[np.ndarray], mode: str) -> np.ndarray:
    forward, backward = outs
    if mode == "concat":
        return np.concatenate([forward, backward], axis=-1)
    return {"sum": forward + backward, "mul": forward * backward, "ave": (forward + backward) / 2}[mode]


# --- generation -----------------------------------------------------------------


def seed_ids(seed: str, vocab: list[str], level: str, lowercase: bool) -> list[int]:
    """The seed as token ids; unknown characters (or words, without <unk>) are an error.

    Example:
        >>> seed_ids("hel", list(" dehlorw"), "char", lowercase=False)
        [3, 2, 4]
    """
    return _seed_ids(TextCodec(tuple(vocab), level, lowercase), seed)


def _seed_ids(codec: TextCodec, seed: str) -> list[int]:
    if not codec.tokenize(seed):
        raise GenerateError("the seed is empty; give at least one token, e.g. --seed hel")
    try:
        return codec.text_to_ids(seed, name="seed")
    except TokenError as exc:
        raise GenerateError(str(exc)) from None


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


# --- from a run directory -----------------------------------------------------------

MODES = ("auto", "stateful", "window")


def _stderr(line: str) -> None:
    print(line, file=sys.stderr)


def find_text_run(run: Path | None, log: Callable[[str], None] = _stderr, root: Path = Path("runs")) -> Path:
    """`run`, or the newest text run under `root` (said through `log`)."""
    if run is not None:
        return run
    from rnn_recipes.runs import find_runs

    found = find_runs(root, kind="text")
    if not found:
        raise GenerateError(f"no text run under {root}/; train one first, e.g. `rnn train hello_lstm`")
    log(f"using run {found[0]}")
    return found[0]


def generate_from_run(
    seed: str,
    run: Path | None = None,
    *,
    length: int = 200,
    temperature: float = 1.0,
    top_k: int | None = None,
    rng_seed: int | None = None,
    mode: str = "auto",
    log: Callable[[str], None] = _stderr,
) -> Iterator[str]:
    """Check the request, load the run, and return the generated text piece by piece.

    Everything that can be refused (the settings, the run, the seed, the mode)
    is refused before this returns, so a caller can print the seed and then
    stream the pieces; the seed itself is not among them.

    Args:
        seed: the text to start from, in the run's vocabulary.
        run: a text run directory; default: the newest text run under runs/.
        length: how many tokens to generate.
        temperature, top_k, rng_seed: as for `sample`; a fixed `rng_seed` repeats the output.
        mode: "stateful", "window", or "auto": stateful for many_to_many runs, else window.
        log: where a note goes (which run was picked); default: stderr.

    Example:
        >>> print("hel" + "".join(generate_from_run("hel", run_dir, length=8, temperature=0)))  # doctest: +SKIP
        hello world
    """
    from rnn_recipes.runs import load_run

    if length < 1:
        raise GenerateError(f"--length must be at least 1; received {length}")
    if not (temperature == 0 or MIN_TEMPERATURE <= temperature <= MAX_TEMPERATURE):  # also refuses nan and inf
        raise GenerateError(
            f"--temperature must be 0 (greedy) or between {MIN_TEMPERATURE} and {MAX_TEMPERATURE:g}; received {temperature}"
        )
    if length > MAX_LENGTH:
        raise GenerateError(f"--length must be at most {MAX_LENGTH:,}; received {length}")
    if rng_seed is not None and not 0 <= rng_seed < 2**63:
        raise GenerateError(f"--rng-seed must be between 0 and 2**63 - 1; received {rng_seed}")
    if top_k is not None and top_k < 1:
        raise GenerateError(f"--top-k must be at least 1; received {top_k}")
    if mode not in MODES:
        raise GenerateError(f"Invalid `mode`. Expected one of: {', '.join(MODES)}. Received: {mode!r}")
    run = find_text_run(run, log)
    loaded = load_run(run)
    data = loaded.config.data
    if data.kind != "text":
        raise GenerateError(f"{run} is a {data.kind} run; generate needs a text run (data.kind: text)")
    codec = TextCodec.from_run(loaded)
    ids = _seed_ids(codec, seed)
    if mode == "auto":
        mode = "stateful" if data.objective == "many_to_many" else "window"
    engine = Engine(loaded.load_model())
    if not engine.dense or engine.dense[-1][2] != "softmax" or engine.dense[-1][0].shape[-1] != len(codec):
        outputs = engine.dense[-1][0].shape[-1] if engine.dense else 0
        raise GenerateError(
            f"{run}: its model does not end in a softmax over its {len(codec)}-token vocabulary "
            f"({outputs} outputs); it is not a text model `rnn train` wrote"
        )
    stream = generate(
        engine, ids, length, mode=mode, window=data.seq_length,
        temperature=temperature, top_k=top_k, rng=np.random.default_rng(rng_seed),
    )
    return (codec.decode_token(token) for token in stream)
