"""Sequence-to-sequence data: sentence pairs from a `source<TAB>target` file, and the generated addition task.

Both readers pose the `seq2seq` task and hand the model two inputs per
example, as a tuple `x = (source ids, decoder input ids)`, and the target ids
as `y`: the decoder reads `<s> y1 .. yn` and learns to write `y1 .. yn </s>`
(teacher forcing). Id 0 pads every side and is masked. Nothing here imports
TensorFlow.

A pairs file is UTF-8, one pair a line; columns after the second (the
attribution of the public Tatoeba/ManyThings collections) are ignored, blank
lines are skipped. A line that cannot be a pair (no tab, an empty side,
longer than `MAX_LINE_BYTES`, not UTF-8) stops the read with its line number.
Pairs with more tokens than `data.max_source_len` / `data.max_target_len`
are left out and counted.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from rnn_recipes.codec import PairCodec, pair_vocab, tokenize
from rnn_recipes.config_data import AdditionData, PairsData
from rnn_recipes.dataset import TASK_OF_KIND, Dataset, DataSpec
from rnn_recipes.errors import DataError
from rnn_recipes.fetch import max_data_bytes
from rnn_recipes.fileio import open_regular

MAX_LINE_BYTES = 10_000  # far past any sentence; a longer line is a file that is not pairs


def read_pairs(path: str | Path) -> list[tuple[str, str]]:
    """The (source, target) pairs of a tab-separated file, each line checked (see the module docstring)."""
    path = Path(path)
    out = []
    with open_regular(path, max_data_bytes(), what="pairs file", error=DataError) as fh:
        for number, raw in enumerate(iter(lambda: fh.readline(MAX_LINE_BYTES + 2), b""), start=1):
            where = f"{path}: line {number}"
            if len(raw.rstrip(b"\r\n")) > MAX_LINE_BYTES:
                raise DataError(f"{where}: longer than {MAX_LINE_BYTES:,} bytes; expected one source<TAB>target pair a line")
            try:
                line = raw.decode("utf-8").rstrip("\r\n")
            except UnicodeDecodeError as exc:
                raise DataError(f"{where}: not UTF-8 (byte 0x{raw[exc.start:exc.start + 1].hex()} at column "
                                f"{exc.start + 1}); expected UTF-8 text") from None
            if number == 1:
                line = line.removeprefix("\ufeff")
            if not line.strip():
                continue
            if "\t" not in line:
                raise DataError(f"{where}: no tab; expected source<TAB>target, received {line[:40]!r}")
            source, target = line.split("\t")[:2]
            for side, text in (("source", source), ("target", target)):
                if not text.strip():
                    raise DataError(f"{where}: empty {side}; expected source<TAB>target, both non-empty")
            out.append((source.strip(), target.strip()))
    if not out:
        raise DataError(f"{path}: no pairs; expected one source<TAB>target pair a line")
    return out


def split_indices(n: int, val_fraction: float, test_fraction: float, seed: int) -> tuple[np.ndarray, ...]:
    """A seeded shuffle of range(n) cut into (train, val, test) indices; test and val get at least one if asked."""
    order = np.random.default_rng(seed).permutation(n)
    n_test = max(1, int(round(n * test_fraction))) if test_fraction else 0
    n_val = max(1, int(round(n * val_fraction))) if val_fraction else 0
    if n - n_test - n_val < 1:
        raise DataError(f"{n} pairs are too few to hold out val_fraction {val_fraction} and test_fraction "
                        f"{test_fraction} and keep some to train on")
    return order[n_test + n_val:], order[n_test:n_test + n_val], order[:n_test]


def encode(codec: PairCodec, pairs: list[tuple[str, str]], source_len: int, target_len: int):
    """(source ids, decoder input ids), target ids: int32 arrays padded with 0 after the tokens.

    The decoder reads `<s> y1 .. yn` and is trained to write `y1 .. yn </s>`, so
    both decoder arrays are `target_len + 1` wide.
    """
    n = len(pairs)
    src = np.zeros((n, source_len), "int32")
    dec_in = np.zeros((n, target_len + 1), "int32")
    dec_out = np.zeros((n, target_len + 1), "int32")
    for i, (s, t) in enumerate(pairs):
        s_ids, t_ids = codec.source_ids(s)[:source_len], codec.target_ids(t)[:target_len]
        src[i, :len(s_ids)] = s_ids
        dec_in[i, :len(t_ids) + 1] = [codec.start, *t_ids]
        dec_out[i, :len(t_ids) + 1] = [*t_ids, codec.end]
    return (src, dec_in), dec_out


def make_dataset(kind: str, pairs: list[tuple[str, str]], codec: PairCodec, source_len: int, target_len: int,
                 parts: tuple[np.ndarray, ...], extra: dict) -> Dataset:
    """The seq2seq `Dataset` of `pairs` split by `parts` = (train, val, test) indices."""
    arrays = []
    for idx in parts:
        x, y = encode(codec, [pairs[i] for i in idx], source_len, target_len)
        arrays += [x, y]
    spec = DataSpec(TASK_OF_KIND[kind], source_len, len(codec.source), len(codec.target), sequence_output=True,
                    target_len=target_len + 1)
    extra = {**extra, "test_pairs": [pairs[i] for i in parts[2]]}
    return Dataset(spec, *arrays, codec=codec, extra=extra)


def load_pairs(d: PairsData, seed: int) -> Dataset:
    """A pairs file as a seq2seq dataset: pairs over the length limits left out, vocabularies from the training part."""
    pairs = read_pairs(d.path)[: d.limit]
    cut = lambda text: tokenize(text, d.level, d.lowercase)  # noqa: E731
    kept = [p for p in pairs if len(cut(p[0])) <= d.max_source_len and len(cut(p[1])) <= d.max_target_len]
    if len(kept) < 3:
        raise DataError(f"{d.path}: {len(kept)} of {len(pairs)} pairs fit data.max_source_len ({d.max_source_len}) "
                        f"and data.max_target_len ({d.max_target_len}); raise them")
    parts = split_indices(len(kept), d.val_fraction, d.test_fraction, seed)
    train = [kept[i] for i in parts[0]]
    codec = PairCodec(pair_vocab([cut(s) for s, _ in train], d.max_vocab, target=False),
                      pair_vocab([cut(t) for _, t in train], d.max_vocab, target=True),
                      d.level, d.lowercase, d.reverse_source)
    source_len = max(len(cut(s)) for s, _ in kept)
    target_len = max(len(cut(t)) for _, t in kept)
    return make_dataset(d.kind, kept, codec, source_len, target_len, parts, {"left_out": len(pairs) - len(kept)})


# --- addition ------------------------------------------------------------------

ADDITION_SOURCE = tuple("0123456789+")
ADDITION_TARGET = tuple("0123456789")


def addition_pairs(digits: int, n: int, seed: int) -> list[tuple[str, str]]:
    """`n` distinct questions `"a+b"` and their sums, each number of 1 to `digits` digits (as keras-io draws them).

    Example:
        >>> addition_pairs(2, 3, seed=0)
        [('63+26', '89'), ('0+0', '0'), ('8+91', '99')]
    """
    rng = np.random.default_rng(seed)
    seen, out = set(), []
    while len(out) < n:
        a, b = (int(rng.integers(0, 10 ** int(rng.integers(1, digits + 1)))) for _ in range(2))
        if (a, b) in seen:
            continue
        seen.add((a, b))
        out.append((f"{a}+{b}", str(a + b)))
    return out


def addition_codec(reverse_source: bool) -> PairCodec:
    return PairCodec(pair_vocab([list(ADDITION_SOURCE)], None, target=False),
                     pair_vocab([list(ADDITION_TARGET)], None, target=True), "char", False, reverse_source)


def load_addition(d: AdditionData, seed: int) -> Dataset:
    """The addition task: distinct questions, so the test sums are never seen in training."""
    pairs = addition_pairs(d.digits, d.examples, seed)
    parts = split_indices(len(pairs), d.val_fraction, d.test_fraction, seed)
    return make_dataset(d.kind, pairs, addition_codec(d.reverse_source), 2 * d.digits + 1, d.digits + 1, parts, {})


def addition_spec(d: AdditionData) -> DataSpec:
    codec = addition_codec(d.reverse_source)
    return DataSpec(TASK_OF_KIND[d.kind], 2 * d.digits + 1, len(codec.source), len(codec.target),
                    sequence_output=True, target_len=d.digits + 2)
