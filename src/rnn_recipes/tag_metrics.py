"""What a tagger is judged by: token accuracy, entity precision/recall/F1 (seqeval), per entity type; decoding.

Entity scores are seqeval's (`seqeval.metrics`, its default conlleval-compatible
mode), the numbers CoNLL papers report: an entity counts when its type and
both ends match. Decoding turns a tagging model's output into tag ids: the
argmax of a per-token softmax, or the Viterbi path of a CRF layer's output
(`crf.py` packs its emission scores, the padding mask and its transition
scores into one tensor; `unpack_crf` reads them back). Pure NumPy; seqeval is
imported when scores are asked for.
"""

from __future__ import annotations

from collections import Counter
from typing import Sequence

import numpy as np


def crf_width(num_tags: int) -> int:
    """The last dimension of a CRF layer's output: emissions, mask, start, end, transitions."""
    return num_tags + 1 + 2 * num_tags + num_tags * num_tags


def unpack_crf(output: np.ndarray, num_tags: int) -> tuple[np.ndarray, ...]:
    """A CRF layer's output (N, T, crf_width) as emissions (N, T, K), mask (N, T), start (K,), end (K,), transitions (K, K)."""
    k = num_tags
    out = np.asarray(output, np.float64)
    emissions, mask = out[..., :k], out[..., k] > 0.5
    start = out[0, 0, k + 1 : 2 * k + 1]
    end = out[0, 0, 2 * k + 1 : 3 * k + 1]
    transitions = out[0, 0, 3 * k + 1 :].reshape(k, k)
    return emissions, mask, start, end, transitions


def viterbi(emissions: np.ndarray, mask: np.ndarray, start: np.ndarray, end: np.ndarray,
            transitions: np.ndarray) -> np.ndarray:
    """The most probable tag path of each sequence under a linear-chain CRF: ids (N, T), 0 at padding.

    The score of tags y_0..y_{n-1} is start[y_0] + sum emissions[t, y_t] +
    sum transitions[y_{t-1}, y_t] + end[y_{n-1}], over the unmasked steps
    (a prefix of each row).
    """
    emissions, mask = np.asarray(emissions, np.float64), np.asarray(mask, bool)
    n, t_max, k = emissions.shape
    if n == 0 or t_max == 0:
        return np.zeros((n, t_max), np.int64)
    score = start[None, :] + emissions[:, 0]
    back = np.zeros((n, t_max, k), np.int64)
    keep = np.broadcast_to(np.arange(k), (n, k))
    for t in range(1, t_max):
        candidates = score[:, :, None] + transitions[None]  # (N, from, to)
        best = candidates.argmax(axis=1)
        step = np.take_along_axis(candidates, best[:, None, :], axis=1)[:, 0] + emissions[:, t]
        on = mask[:, t][:, None]
        score = np.where(on, step, score)
        back[:, t] = np.where(on, best, keep)  # a padded step hands each tag on unchanged
    last = (score + end[None, :]).argmax(axis=1)
    path = np.zeros((n, t_max), np.int64)
    path[:, -1] = last
    for t in range(t_max - 1, 0, -1):
        path[:, t - 1] = back[np.arange(n), t, path[:, t]]
    return np.where(mask, path, 0)


def decode(output: np.ndarray, num_tags: int) -> tuple[np.ndarray, np.ndarray | None]:
    """Tag ids (N, T) from a tagging model's output, and each tag's probability (None for a CRF's Viterbi path)."""
    output = np.asarray(output)
    if output.shape[-1] == num_tags:  # a per-token softmax
        return output.argmax(axis=-1), output.max(axis=-1)
    return viterbi(*unpack_crf(output, num_tags)), None


def lengths_of(x: np.ndarray) -> np.ndarray:
    """Tokens per sentence of padded ids (N, T) or (N, T, 1 + chars): the non-zero word ids."""
    words = x if x.ndim == 2 else x[..., 0]
    return (words != 0).sum(axis=1)


def as_tags(ids: np.ndarray, lengths: Sequence[int], names: Sequence[str]) -> list[list[str]]:
    """Padded tag ids as tag names, each row cut to its length."""
    return [[names[i] for i in row[:n]] for row, n in zip(np.asarray(ids), lengths)]


def token_accuracy(true: Sequence[Sequence[str]], pred: Sequence[Sequence[str]]) -> float:
    """The share of tokens whose tag is right (padding never counts)."""
    pairs = [(a, b) for t, p in zip(true, pred) for a, b in zip(t, p)]
    return float(np.mean([a == b for a, b in pairs])) if pairs else 0.0


def entities(tags: Sequence[str]) -> list[tuple[str, int, int]]:
    """The entities a tag sequence marks: (type, first token, one past the last), as seqeval reads them.

    Example:
        >>> entities(["B-PER", "I-PER", "O", "B-LOC"])
        [('PER', 0, 2), ('LOC', 3, 4)]
    """
    from seqeval.metrics.sequence_labeling import get_entities

    return [(kind, start, end + 1) for kind, start, end in get_entities(list(tags))]


def scores(true: Sequence[Sequence[str]], pred: Sequence[Sequence[str]], scheme: str) -> dict:
    """Token accuracy; with an entity scheme also entity precision, recall and F1 (micro) and a per-type table."""
    out = {"token_accuracy": token_accuracy(true, pred)}
    if scheme == "none":
        return out
    from seqeval.metrics import classification_report

    report = classification_report([list(t) for t in true], [list(p) for p in pred], output_dict=True, zero_division=0)
    micro = report.pop("micro avg")
    out.update(entity_precision=float(micro["precision"]), entity_recall=float(micro["recall"]),
               entity_f1=float(micro["f1-score"]), entity_support=int(micro["support"]))
    out["entity_types"] = {
        kind: {"precision": float(r["precision"]), "recall": float(r["recall"]), "f1": float(r["f1-score"]),
               "support": int(r["support"])}
        for kind, r in sorted(report.items()) if not kind.endswith(" avg")
    }
    return out


def most_frequent_tag(x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray) -> np.ndarray:
    """The baseline tagger: each word's most frequent training tag; an unseen word gets the most frequent tag overall."""
    words, test_words = (x if x.ndim == 2 else x[..., 0] for x in (x_train, x_test))
    on = words != 0
    overall = Counter(y_train[on].tolist()).most_common(1)
    default = overall[0][0] if overall else 0
    by_word: dict[int, Counter] = {}
    for w, y in zip(words[on].tolist(), y_train[on].tolist()):
        by_word.setdefault(w, Counter())[y] += 1
    best = {w: c.most_common(1)[0][0] for w, c in by_word.items() if w > 1}  # id 1 is every unknown word
    return np.vectorize(lambda w: best.get(w, default), otypes=[np.int64])(test_words) if test_words.size else \
        np.zeros(test_words.shape, np.int64)
