"""Generate text from a trained run: find the run, read its seed, and stream tokens from its `Engine`."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rnn_recipes.codec import TextCodec, TokenError
from rnn_recipes.config_data import TextData
from rnn_recipes.engine import Engine, generate
from rnn_recipes.errors import GenerateError

MIN_TEMPERATURE = 1e-3  # below it, log(p) / temperature overflows to inf; use 0 for greedy
MAX_TEMPERATURE = 1e3
MAX_LENGTH = 10_000_000


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
    check_settings(length=length, temperature=temperature, top_k=top_k, rng_seed=rng_seed, mode=mode)
    loaded = load_generator(find_text_run(run, log))
    ids = _seed_ids(loaded.codec, seed)
    return loaded.stream(ids, length, temperature=temperature, top_k=top_k, rng_seed=rng_seed, mode=mode)


def check_settings(*, length: int, temperature: float, top_k: int | None, rng_seed: int | None, mode: str) -> None:
    """Refuse generation settings out of range, each with one line naming its option."""
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


@dataclass
class TextGenerator:
    """A text run loaded once for generation: its data section, codec and `Engine`."""

    path: Path
    data: TextData
    codec: TextCodec
    engine: Engine

    def seed_ids(self, seed: str) -> list[int]:
        """The seed as token ids, refused with one line when empty or outside the vocabulary."""
        return _seed_ids(self.codec, seed)

    def stream(self, ids: list[int], length: int, *, temperature: float = 1.0, top_k: int | None = None,
               rng_seed: int | None = None, mode: str = "auto") -> Iterator[str]:
        """The text after the seed `ids`, one decoded token at a time (settings checked by `check_settings`)."""
        if mode == "auto":
            mode = "stateful" if self.data.objective == "many_to_many" else "window"
        tokens = generate(
            self.engine, ids, length, mode=mode, window=self.data.seq_length,
            temperature=temperature, top_k=top_k, rng=np.random.default_rng(rng_seed),
        )
        return (self.codec.decode_token(token) for token in tokens)


def load_generator(run: Path) -> TextGenerator:
    """Read a finished text run once and build its `Engine`; a run of another kind is refused."""
    from rnn_recipes.runs import load_run

    loaded = load_run(run)
    data = loaded.config.data
    if data.kind != "text":
        raise GenerateError(f"{run} is a {data.kind} run; generate needs a text run (data.kind: text)")
    codec = TextCodec.from_run(loaded)
    engine = Engine(loaded.load_model())
    if not engine.dense or engine.dense[-1][2] != "softmax" or engine.dense[-1][0].shape[-1] != len(codec):
        outputs = engine.dense[-1][0].shape[-1] if engine.dense else 0
        raise GenerateError(
            f"{run}: its model does not end in a softmax over its {len(codec)}-token vocabulary "
            f"({outputs} outputs); it is not a text model `rnn train` wrote"
        )
    return TextGenerator(Path(run), data, codec, engine)
