"""Labelled text for classification: the user's own texts and labels, as classes and seeded splits.

Files are read by `labelled_files` (CSV, TSV, JSON Lines, class folders).
Labels may be strings or integers. Class names are the distinct labels sorted
(numerically when every label is an integer, so ``2`` comes before ``10``);
an example's integer label is its class's index in that list.

Nothing here imports TensorFlow.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from rnn_recipes.errors import ConfigError, DataError
from rnn_recipes.labelled_files import DEFAULT_MAX_BYTES, DEFAULT_MAX_TEXT_CHARS, Example, read_examples

_INT = re.compile(r"[+-]?\d+")


@dataclass(frozen=True, eq=False)  # holds arrays: == would be ambiguous
class LabelledSplit:
    """One split: texts and their integer labels (index into the class names), same length."""

    texts: tuple[str, ...]
    labels: np.ndarray  # int64, read-only

    def __len__(self) -> int:
        return len(self.texts)

    def counts(self, num_classes: int) -> np.ndarray:
        """Examples per class, shape (num_classes,)."""
        return np.bincount(self.labels, minlength=num_classes)


@dataclass(frozen=True, eq=False)  # holds arrays: == would be ambiguous
class LabelledData:
    """Train/validation/test texts with integer labels, and the class names they index.

    An empty split (no examples) means that split was not asked for.
    `sources` is the one file or folder that was split, or the train,
    validation and test paths of separate files ("" for a split not given).
    """

    class_names: tuple[str, ...]
    train: LabelledSplit
    val: LabelledSplit
    test: LabelledSplit
    sources: tuple[str, ...]

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def class_weights(self) -> dict[int, float]:
        """Keras ``class_weight`` for the training split, by the "balanced" formula."""
        return class_weights(self.train.labels, self.num_classes)


def _split(texts: Sequence[str], labels: Sequence[int] | np.ndarray) -> LabelledSplit:
    y = np.asarray(labels, dtype=np.int64).reshape(-1)
    y.setflags(write=False)
    return LabelledSplit(tuple(texts), y)


# ---------------------------------------------------------------- reading


def class_names_of(labels: Sequence[str]) -> tuple[str, ...]:
    """The distinct labels sorted: numerically when all are integers, else as strings."""
    distinct = set(labels)
    if distinct and all(_INT.fullmatch(s) for s in distinct):
        return tuple(sorted(distinct, key=lambda s: (int(s), s)))
    return tuple(sorted(distinct))


def _encode(examples: list[Example], class_names: Sequence[str]) -> LabelledSplit:
    index = {name: i for i, name in enumerate(class_names)}
    labels = []
    for ex in examples:
        if ex.label not in index:
            known = ", ".join(repr(c) for c in class_names)
            raise DataError(f"{ex.where}: label {ex.label!r} is not in the training classes; expected one of {known}")
        labels.append(index[ex.label])
    return _split([ex.text for ex in examples], labels)


def _check_classes(class_names: Sequence[str], source: str, label_column: str) -> None:
    if len(class_names) < 2:
        found = ", ".join(repr(c) for c in class_names)
        raise DataError(f"{source}: {len(class_names)} class ({found}) in {label_column!r}; a classifier needs at least 2")


def class_weights(labels: Sequence[int] | np.ndarray, num_classes: int) -> dict[int, float]:
    """The "balanced" weights n_samples / (n_classes * count) by class id; 0.0 for a class with no examples."""
    y = np.asarray(labels, dtype=np.int64).reshape(-1)
    counts = np.bincount(y, minlength=num_classes)
    n = len(y)
    return {k: (n / (num_classes * int(c)) if c else 0.0) for k, c in enumerate(counts)}


# ---------------------------------------------------------------- splits


def _check_fractions(val_fraction: float, test_fraction: float) -> None:
    if not (0 <= val_fraction < 1 and 0 <= test_fraction < 1 and val_fraction + test_fraction < 1):
        raise ConfigError(
            f"val_fraction={val_fraction} and test_fraction={test_fraction}: expected each in [0, 1) and their sum below 1"
        )


def stratified_split(
    labels: Sequence[int] | np.ndarray, val_fraction: float, test_fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Indices of train, validation and test examples, each class split in the same proportions.

    Per class of n examples, round(n * fraction) go to validation and to test,
    at least one each when the fraction is above 0, and at least one stays in
    train; each split's order is shuffled. The same labels and seed give the
    same indices. A class too small for that raises `ValueError` (the caller
    names the file).
    """
    _check_fractions(val_fraction, test_fraction)
    y = np.asarray(labels, dtype=np.int64).reshape(-1)
    rng = np.random.default_rng(seed)
    parts: list[list[np.ndarray]] = [[], [], []]
    needed = 1 + (val_fraction > 0) + (test_fraction > 0)
    for k in np.unique(y):
        idx = np.flatnonzero(y == k)
        n = len(idx)
        if n < needed:
            raise ValueError(f"class {int(k)} has {n} example{'s' * (n != 1)}; needs at least {needed}")
        idx = idx[rng.permutation(n)]
        n_test = max(1, round(n * test_fraction)) if test_fraction > 0 else 0
        n_val = max(1, round(n * val_fraction)) if val_fraction > 0 else 0
        while n - n_test - n_val < 1:  # rounding up on a small class: train keeps one
            if n_val >= n_test and n_val > 1:
                n_val -= 1
            else:
                n_test -= 1
        parts[0].append(idx[n_test + n_val :])
        parts[1].append(idx[n_test : n_test + n_val])
        parts[2].append(idx[:n_test])
    out = []
    for chunks in parts:
        joined = np.concatenate(chunks) if chunks else np.zeros(0, np.int64)
        out.append(joined[rng.permutation(len(joined))])
    return out[0], out[1], out[2]


def load_labelled(
    path: str | Path,
    *,
    text_column: str = "text",
    label_column: str = "label",
    val_fraction: float = 0.1,
    test_fraction: float = 0.1,
    seed: int = 0,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_text_chars: int = DEFAULT_MAX_TEXT_CHARS,
) -> LabelledData:
    """One labelled file or folder, split into train/validation/test by a seeded stratified split."""
    _check_fractions(val_fraction, test_fraction)
    examples = read_examples(path, text_column, label_column, max_bytes=max_bytes, max_text_chars=max_text_chars)
    source = str(Path(path).expanduser())
    class_names = class_names_of([ex.label for ex in examples])
    _check_classes(class_names, source, label_column)
    everything = _encode(examples, class_names)
    try:
        train, val, test = stratified_split(everything.labels, val_fraction, test_fraction, seed)
    except ValueError:
        counts = Counter(ex.label for ex in examples)
        needed = 1 + (val_fraction > 0) + (test_fraction > 0)
        name, n = min(counts.items(), key=lambda kv: (kv[1], kv[0]))
        raise DataError(
            f"{source}: class {name!r} has {n} example{'s' * (n != 1)}; a stratified split into train, "
            f"validation and test needs at least {needed} per class"
        ) from None

    def take(idx: np.ndarray) -> LabelledSplit:
        return _split([everything.texts[i] for i in idx], everything.labels[idx])

    return LabelledData(class_names, take(train), take(val), take(test), (source,))


def load_labelled_splits(
    train: str | Path,
    val: str | Path | None = None,
    test: str | Path | None = None,
    *,
    text_column: str = "text",
    label_column: str = "label",
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_text_chars: int = DEFAULT_MAX_TEXT_CHARS,
) -> LabelledData:
    """Separate files (or folders) per split, in file order; the classes are the training file's.

    A validation or test label the training file never uses is refused. A
    split given as None comes back empty.
    """
    read = dict(text_column=text_column, label_column=label_column, max_bytes=max_bytes, max_text_chars=max_text_chars)
    train_examples = read_examples(train, **read)
    source = str(Path(train).expanduser())
    class_names = class_names_of([ex.label for ex in train_examples])
    _check_classes(class_names, source, label_column)
    splits, sources = [], []
    for p in (train, val, test):
        if p is None:
            splits.append(_split([], []))
            sources.append("")
        else:
            examples = train_examples if p is train else read_examples(p, **read)
            splits.append(_encode(examples, class_names))
            sources.append(str(Path(p).expanduser()))
    return LabelledData(class_names, splits[0], splits[1], splits[2], tuple(sources))
