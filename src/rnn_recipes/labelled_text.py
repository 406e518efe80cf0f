"""The `labelled_text` dataset: the user's labelled texts as token ids, split, with their class names.

Reads through `labelled.py` (CSV, TSV, JSONL, class folders; a seeded
stratified split or separate split files), vectorizes through
`vectorizer.py` (a vocabulary built on the training split only). The task is
`multiclass` for any number of classes >= 2: a softmax over the class names,
so two classes are two softmax units, and the run's class names are the
output's labels in order.
"""

from __future__ import annotations

import numpy as np

from rnn_recipes import labelled
from rnn_recipes.config_data import LabelledTextData
from rnn_recipes.dataset import DataSpec, Dataset

TASK = "multiclass"


def read_labelled(d: LabelledTextData, seed: int) -> labelled.LabelledData:
    """The texts and labels `d` names, split."""
    columns = dict(text_column=d.text_column, label_column=d.label_column)
    if d.path is not None:
        return labelled.load_labelled(d.path, val_fraction=d.val_fraction, test_fraction=d.test_fraction, seed=seed, **columns)
    return labelled.load_labelled_splits(d.train_path, d.val_path, d.test_path, **columns)


def load_labelled_text(d: LabelledTextData, seed: int) -> Dataset:
    """Token ids (N, seq_length) and integer labels; `extra` holds what the run saves beside its model."""
    from rnn_recipes import vectorizer

    data = read_labelled(d, seed)
    layer = vectorizer.fit_vectorizer(data.train.texts, d)
    vocab = vectorizer.vocabulary(layer)

    def arrays(split: labelled.LabelledSplit) -> tuple[np.ndarray, np.ndarray]:
        return vectorizer.vectorize(layer, split.texts), np.asarray(split.labels, np.int32)

    (x_train, y_train), (x_val, y_val), (x_test, y_test) = (arrays(s) for s in (data.train, data.val, data.test))
    spec = DataSpec(TASK, d.seq_length, vocab_size=len(vocab), num_classes=data.num_classes)
    extra = {
        "class_names": list(data.class_names),
        "vocabulary": vocab,
        "class_weight": data.class_weights() if d.class_weights == "balanced" else None,
    }
    return Dataset(spec, x_train, y_train, x_val, y_val, x_test, y_test, extra=extra)
