"""What a reader hands the model: `DataSpec` (the data's shape and task) and `Dataset` (its arrays)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field

import numpy as np

from rnn_recipes import tasks
from rnn_recipes.codec import PairCodec, TextCodec
from rnn_recipes.forecast_baselines import SeriesInfo


# the task each kind of data poses; `rnn_recipes.tasks` says what a task means
TASK_OF_KIND = {
    "imdb": "binary", "text": "next_token", "sine": "regression", "series": "regression", "labelled_text": "multiclass",
    "timing": "multiclass", "tagged": "tagging",
    "pairs": "transduction", "addition": "transduction",
}


@dataclass(frozen=True)
class DataSpec:
    """What the model needs to know about the data, without the data itself.

    Attributes:
        task: the name of the task the data poses, a key of `rnn_recipes.tasks.TASKS`.
        seq_len: time steps per example.
        vocab_size: distinct input ids for token data (IMDB's include padding id 0);
            0 means the inputs are real values, one per step (N, T, 1).
        num_classes: output classes (next_token: the vocabulary).
        sequence_output: predict at every step (many-to-many) instead of once.
        features, targets, horizon: series: values read and predicted per step, steps answered per call.
        chars, char_vocab: tagged data with character features: characters read per word (each
            step is then the word id followed by `chars` character ids), distinct character ids.
        target_len: seq2seq: decoder steps per example (the target's tokens and its end token);
            `seq_len` and `vocab_size` then describe the source, `num_classes` the target vocabulary.
    """

    task: str
    seq_len: int
    vocab_size: int = 0
    num_classes: int = 0
    sequence_output: bool = False
    features: int = 1
    targets: int = 1
    horizon: int = 1
    chars: int = 0
    char_vocab: int = 0
    target_len: int = 0

    def __post_init__(self) -> None:
        tasks.get(self.task)  # an unknown task fails here, where the spec is made


@dataclass
class Dataset:
    """Arrays for one run. Empty validation arrays mean no validation split.

    `test_name` says what the final metrics are computed on: "test", or
    "train" when a corpus is too small to hold any text out.
    """

    spec: DataSpec
    x_train: np.ndarray  # seq2seq: a tuple (source ids, decoder input ids); see `rows` and `take`
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    test_name: str = "test"
    codec: TextCodec | PairCodec | None = None  # text, pairs: how ids map back to tokens, saved as the run's vocab.json
    extra: dict = field(default_factory=dict)  # e.g. the sine persistence baseline
    series: SeriesInfo | None = None  # series: the test truth, the baselines' forecasts, the scaling

    @property
    def has_val(self) -> bool:
        return rows(self.x_val) > 0

    def content_sha256(self) -> str:
        """sha256 of what was read: every array and the vocabulary, so a resume notices changed data."""
        h = hashlib.sha256()
        parts = (self.x_train, self.y_train, self.x_val, self.y_val, self.x_test, self.y_test)
        for a in (a for part in parts for a in (part if isinstance(part, tuple) else (part,))):
            a = np.ascontiguousarray(a)
            h.update(f"{a.dtype.str}{a.shape}".encode())
            h.update(a.tobytes())
        h.update(json.dumps(self.vocab).encode())
        return h.hexdigest()

    @property
    def vocab(self) -> list[str] | None:
        """Token by id, for text data."""
        return None if self.codec is None else self.codec.vocab

    @property
    def level(self) -> str:
        """What a text token is: "char" or "word"."""
        return "char" if self.codec is None else self.codec.level


def rows(x) -> int:
    """Examples in `x`: an array, or a tuple of arrays with one row per example each (a seq2seq model's inputs)."""
    return len(x[0]) if isinstance(x, tuple) else len(x)


def take(x, idx):
    """The examples `idx` (indices or a slice) of an array or of each array of a tuple."""
    return tuple(a[idx] for a in x) if isinstance(x, tuple) else x[idx]


def split_tail(x: np.ndarray, y: np.ndarray, frac: float) -> tuple[np.ndarray, ...]:
    """Hold out the last `frac` of (x, y): (x_train, y_train, x_val, y_val)."""
    n_val = int(round(len(x) * frac))
    cut = len(x) - n_val
    return x[:cut], y[:cut], x[cut:], y[cut:]
