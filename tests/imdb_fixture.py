"""A small IMDB-format dataset with a planted, learnable signal.

Same layout as Keras' imdb.npz: object arrays of word-id lists (ids from 1,
most frequent first, before Keras' +3 offset) and 0/1 labels. Positive
reviews use "positive" words more often than negative ones, so a model that
reads the words can reach high accuracy; a model that cannot, cannot.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np


def make_reviews(n: int, rng: np.random.Generator, vocab: int = 200) -> tuple[np.ndarray, np.ndarray]:
    labels = rng.integers(0, 2, n)
    reviews = np.empty(n, dtype=object)
    positive, negative = np.arange(10, 20), np.arange(20, 30)  # raw ids; +3 after loading
    for i, label in enumerate(labels):
        length = int(rng.integers(8, 40))
        words = rng.integers(30, vocab, length)
        marks = rng.random(length) < 0.25  # a quarter of the words carry the sentiment
        words[marks] = rng.choice(positive if label else negative, marks.sum())
        reviews[i] = [int(w) for w in words]
    return reviews, labels.astype("int64")


def write_imdb_npz(path: Path, n_train: int = 400, n_test: int = 200, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    x_train, y_train = make_reviews(n_train, rng)
    x_test, y_test = make_reviews(n_test, rng)
    np.savez(path, x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test)
    return Path(path)


if __name__ == "__main__":  # regenerate the file the tiny configs use
    write_imdb_npz(Path(__file__).parents[1] / "configs" / "tiny" / "data" / "imdb_tiny.npz")
