"""Baselines for text classification, and the metrics to compare a model with them.

* `majority_baseline`: always the most frequent training class.
* `fit_bow_logistic`: multinomial logistic regression on bag-of-words counts of
  the same token ids the recurrent model reads, trained by a fixed number of
  full-batch gradient steps with L2; the same data and seed give the same
  weights. It sees which words occur, never their order, so the gap between it
  and a recurrent model is what order is worth on the data.
* `classification_report`: per-class precision, recall, F1 and support,
  accuracy, macro and weighted F1, and the confusion matrix.

Pure NumPy; nothing here imports TensorFlow.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

MAX_BOW_VOCAB = 20_000  # bag-of-words features: ids at or above this are dropped (ids are most frequent first)
IGNORED_IDS = (0,)  # padding


# ---------------------------------------------------------------- features


@dataclass(frozen=True, eq=False)  # holds arrays: == would be ambiguous
class Counts:
    """A sparse (examples, vocab) matrix as coordinates: entry (rows[i], cols[i]) is vals[i]."""

    rows: np.ndarray  # int64, (nnz,), ascending
    cols: np.ndarray  # int64, (nnz,)
    vals: np.ndarray  # float32, (nnz,)
    shape: tuple[int, int]

    def toarray(self) -> np.ndarray:
        """The dense float32 matrix (for small data and tests)."""
        out = np.zeros(self.shape, np.float32)
        out[self.rows, self.cols] = self.vals
        return out

    def matmul(self, w: np.ndarray) -> np.ndarray:
        """self @ w for w of shape (vocab, k): one bincount per column of w."""
        n = self.shape[0]
        return np.stack([np.bincount(self.rows, self.vals * w[self.cols, k], n) for k in range(w.shape[1])], 1).astype(np.float32)

    def rmatmul(self, g: np.ndarray) -> np.ndarray:
        """self.T @ g for g of shape (examples, k)."""
        v = self.shape[1]
        return np.stack([np.bincount(self.cols, self.vals * g[self.rows, k], v) for k in range(g.shape[1])], 1).astype(np.float32)


def bag_of_words(
    sequences: Sequence[Sequence[int]] | np.ndarray,
    vocab_size: int,
    *,
    max_vocab: int = MAX_BOW_VOCAB,
    ignore_ids: Sequence[int] = IGNORED_IDS,
) -> Counts:
    """Token counts per sequence over ids [0, min(vocab_size, max_vocab)).

    Ids at or above `max_vocab` are dropped, which keeps the most frequent
    words when ids are assigned most frequent first; `ignore_ids` (padding;
    add IMDB's start and out-of-vocabulary ids 1 and 2 to skip those) are not
    counted. Sequences may differ in length, or be the rows of a padded
    array. An id outside [0, vocab_size) raises `ValueError`.
    """
    width = min(int(vocab_size), int(max_vocab))
    seqs = [np.asarray(seq, np.int64).reshape(-1) for seq in sequences]
    n = len(seqs)
    flat = np.concatenate(seqs) if seqs else np.zeros(0, np.int64)
    rows = np.repeat(np.arange(n, dtype=np.int64), [len(s) for s in seqs])
    bad = np.flatnonzero((flat < 0) | (flat >= vocab_size))
    if len(bad):
        raise ValueError(f"sequence {int(rows[bad[0]])}: token id {int(flat[bad[0]])} outside [0, {vocab_size})")
    keep = (flat < width) & ~np.isin(flat, np.asarray(list(ignore_ids), np.int64))
    keys, counts = np.unique(rows[keep] * width + flat[keep], return_counts=True)  # sorted by row, then id
    return Counts(keys // width, keys % width, counts.astype(np.float32), (n, width))


def _features(counts: Counts) -> Counts:
    """log(1 + count), each row scaled to unit length: short and long texts weigh the same."""
    vals = np.log1p(counts.vals)
    norm = np.sqrt(np.bincount(counts.rows, vals.astype(np.float64) ** 2, counts.shape[0]))[counts.rows]
    return Counts(counts.rows, counts.cols, (vals / np.maximum(norm, 1e-12)).astype(np.float32), counts.shape)


# ---------------------------------------------------------------- models


def _softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


@dataclass(frozen=True, eq=False)  # holds arrays: == would be ambiguous
class BowLogistic:
    """A trained bag-of-words logistic regression: weights (features, classes) and biases."""

    weights: np.ndarray
    bias: np.ndarray
    vocab_size: int
    max_vocab: int
    final_loss: float  # training cross-entropy plus the L2 term after the last step

    @property
    def num_classes(self) -> int:
        return len(self.bias)

    def predict_proba(self, sequences: Sequence[Sequence[int]] | np.ndarray) -> np.ndarray:
        """Class probabilities, shape (examples, classes)."""
        x = _features(bag_of_words(sequences, self.vocab_size, max_vocab=self.max_vocab))
        return _softmax(x.matmul(self.weights) + self.bias)

    def predict(self, sequences: Sequence[Sequence[int]] | np.ndarray) -> np.ndarray:
        """The most probable class id per sequence."""
        return self.predict_proba(sequences).argmax(axis=1)


def fit_bow_logistic(
    sequences: Sequence[Sequence[int]] | np.ndarray,
    labels: Sequence[int] | np.ndarray,
    num_classes: int,
    vocab_size: int,
    *,
    steps: int = 200,
    learning_rate: float = 2.0,
    momentum: float = 0.9,
    l2: float = 1e-4,
    seed: int = 0,
    max_vocab: int = MAX_BOW_VOCAB,
) -> BowLogistic:
    """Multinomial logistic regression on bag-of-words features, by full-batch gradient descent.

    Features are log(1 + count) per token id, each row scaled to unit length,
    so one learning rate suits any data. `steps` full-batch steps with heavy-ball
    momentum minimise mean cross-entropy + l2/2 * |W|^2 (the bias is not
    penalised). Weights start at small seeded noise; the result depends only
    on the inputs and the seed. Cost is about steps * 2 * classes passes over
    the nonzero counts: ~1 s of CPU for 3,000 texts of 60 tokens.
    """
    y = np.asarray(labels, np.int64).reshape(-1)
    x = _features(bag_of_words(sequences, vocab_size, max_vocab=max_vocab))
    n, width = x.shape
    if n != len(y):
        raise ValueError(f"{n} sequences but {len(y)} labels")
    if n == 0:
        raise ValueError("no training examples")
    if y.min() < 0 or y.max() >= num_classes:
        raise ValueError(f"labels must be in [0, {num_classes})")
    rng = np.random.default_rng(seed)
    w = (0.01 * rng.standard_normal((width, num_classes))).astype(np.float32)
    b = np.zeros(num_classes, np.float32)
    onehot = np.eye(num_classes, dtype=np.float32)[y]
    vw, vb = np.zeros_like(w), np.zeros_like(b)
    for _ in range(steps):
        p = _softmax(x.matmul(w) + b)
        g = (p - onehot) / n
        gw = x.rmatmul(g) + l2 * w
        gb = g.sum(axis=0)
        vw = momentum * vw - learning_rate * gw
        vb = momentum * vb - learning_rate * gb
        w = w + vw
        b = b + vb
    p = _softmax(x.matmul(w) + b)
    loss = float(-np.log(np.maximum(p[np.arange(n), y], 1e-12)).mean() + 0.5 * l2 * float((w.astype(np.float64) ** 2).sum()))
    return BowLogistic(w, b, int(vocab_size), int(max_vocab), loss)


@dataclass(frozen=True)
class Majority:
    """Always the most frequent training class (the lowest id on a tie)."""

    label: int
    num_classes: int

    def predict(self, n: int) -> np.ndarray:
        return np.full(n, self.label, np.int64)


def majority_baseline(labels: Sequence[int] | np.ndarray, num_classes: int) -> Majority:
    """The majority-class baseline of the training labels."""
    y = np.asarray(labels, np.int64).reshape(-1)
    if len(y) == 0:
        raise ValueError("no training labels")
    return Majority(int(np.bincount(y, minlength=num_classes).argmax()), num_classes)


# ---------------------------------------------------------------- metrics


def confusion_matrix(y_true: Sequence[int] | np.ndarray, y_pred: Sequence[int] | np.ndarray, num_classes: int) -> np.ndarray:
    """Counts (num_classes, num_classes): row is the true class, column the predicted one."""
    t = np.asarray(y_true, np.int64).reshape(-1)
    p = np.asarray(y_pred, np.int64).reshape(-1)
    if len(t) != len(p):
        raise ValueError(f"{len(t)} true labels but {len(p)} predictions")
    for name, a in (("true labels", t), ("predictions", p)):
        if len(a) and (a.min() < 0 or a.max() >= num_classes):
            raise ValueError(f"{name} must be in [0, {num_classes})")
    return np.bincount(t * num_classes + p, minlength=num_classes * num_classes).reshape(num_classes, num_classes)


@dataclass(frozen=True, eq=False)  # holds arrays: == would be ambiguous
class Report:
    """Per-class precision, recall, F1 and support (arrays by class id), and the totals.

    A ratio with a zero denominator (no predictions of a class, no examples
    of it) is 0.0.
    """

    precision: np.ndarray
    recall: np.ndarray
    f1: np.ndarray
    support: np.ndarray
    confusion: np.ndarray
    accuracy: float
    macro_f1: float
    weighted_f1: float

    def as_dict(self, class_names: Sequence[str] | None = None) -> dict:
        """JSON-ready numbers, per class under its name."""
        names = list(class_names) if class_names is not None else [str(k) for k in range(len(self.support))]
        return {
            "accuracy": self.accuracy,
            "macro_f1": self.macro_f1,
            "weighted_f1": self.weighted_f1,
            "per_class": {
                name: {
                    "precision": float(self.precision[k]),
                    "recall": float(self.recall[k]),
                    "f1": float(self.f1[k]),
                    "support": int(self.support[k]),
                }
                for k, name in enumerate(names)
            },
            "confusion": self.confusion.tolist(),
        }


def _ratio(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return np.divide(a, b, out=np.zeros_like(a), where=b > 0)


def classification_report(
    y_true: Sequence[int] | np.ndarray, y_pred: Sequence[int] | np.ndarray, num_classes: int
) -> Report:
    """Precision, recall and F1 per class, accuracy, macro and support-weighted F1, and the confusion matrix."""
    cm = confusion_matrix(y_true, y_pred, num_classes)
    tp = np.diag(cm)
    predicted = cm.sum(axis=0)
    support = cm.sum(axis=1)
    precision = _ratio(tp, predicted)
    recall = _ratio(tp, support)
    f1 = _ratio(2 * precision * recall, precision + recall)
    total = int(support.sum())
    return Report(
        precision,
        recall,
        f1,
        support,
        cm,
        accuracy=float(tp.sum() / total) if total else 0.0,
        macro_f1=float(f1.mean()) if num_classes else 0.0,
        weighted_f1=float((f1 * support).sum() / total) if total else 0.0,
    )


def format_report(report: Report, class_names: Sequence[str]) -> str:
    """A plain-text table: one line per class, then accuracy and the F1 averages."""
    width = max([len("weighted f1"), *(len(c) for c in class_names)])
    lines = [f"{'':{width}}  precision  recall     f1  support"]
    for k, name in enumerate(class_names):
        p, r, f, s = report.precision[k], report.recall[k], report.f1[k], report.support[k]
        lines.append(f"{name:{width}}  {p:9.3f}  {r:6.3f}  {f:5.3f}  {s:7d}")
    total = int(report.support.sum())
    lines.append(f"{'accuracy':{width}}  {'':9}  {'':6}  {report.accuracy:5.3f}  {total:7d}")
    lines.append(f"{'macro f1':{width}}  {'':9}  {'':6}  {report.macro_f1:5.3f}  {total:7d}")
    lines.append(f"{'weighted f1':{width}}  {'':9}  {'':6}  {report.weighted_f1:5.3f}  {total:7d}")
    return "\n".join(lines)
