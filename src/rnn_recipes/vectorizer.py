"""The vectorizer of labelled-text runs: raw strings -> token ids, the same inside training and the saved model.

Keras' `TextVectorization` is adapted on the training split only, so no
validation or test word shapes the vocabulary. Training reads the ids it
gives; the run then saves a second model, `inference.keras`, that holds the
same vectorizer in front of the trained network, so a plain Keras process
classifies a list of raw strings with nothing of this package:

    model = keras.models.load_model("runs/reviews_lstm-.../inference.keras")
    probs = model.predict(np.array(["Great boots, still going strong."], dtype=object))

Ids: 0 is padding, 1 is an out-of-vocabulary token ([UNK]), 2.. the training
tokens by frequency. Texts are padded and cut at the end to `seq_length`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from rnn_recipes.config_data import LabelledTextData
from rnn_recipes.errors import RunError
from rnn_recipes.fileio import atomic_write, write_json

VECTORIZER_FILE = "vectorizer.json"  # vocabulary, class names and the rules that cut text
INFERENCE_MODEL = "inference.keras"  # strings in, class probabilities out
BATCH = 1024  # texts vectorized per call while loading data


def _keras():
    from rnn_recipes.backend import import_keras

    return import_keras()


def standardize(level: str, lowercase: bool) -> str | None:
    """The `TextVectorization` standardize mode: words lose punctuation; characters keep it."""
    if level == "word":
        return "lower_and_strip_punctuation" if lowercase else "strip_punctuation"
    return "lower" if lowercase else None


def make_vectorizer(d: LabelledTextData, vocabulary: Sequence[str] | None = None):
    """A `TextVectorization` layer for `d`'s settings, with a fixed vocabulary or ready to adapt."""
    keras = _keras()
    return keras.layers.TextVectorization(
        max_tokens=d.max_vocab,
        standardize=standardize(d.level, d.lowercase),
        split="whitespace" if d.level == "word" else "character",
        output_mode="int",
        output_sequence_length=d.seq_length,
        vocabulary=list(vocabulary) if vocabulary is not None else None,
        name="vectorizer",
    )


def fit_vectorizer(texts: Sequence[str], d: LabelledTextData):
    """A vectorizer adapted on `texts` (the training split)."""
    layer = make_vectorizer(d)
    layer.adapt(np.array(list(texts), dtype=object), batch_size=BATCH)
    return layer


def vocabulary(layer) -> list[str]:
    """Token by id: "" (padding), "[UNK]", then the training tokens."""
    return [str(t) for t in layer.get_vocabulary()]


def vectorize(layer, texts: Sequence[str]) -> np.ndarray:
    """Token ids (N, seq_length), int32."""
    texts = list(texts)
    if not texts:
        return np.zeros((0, layer.get_config()["output_sequence_length"]), np.int32)
    parts = [np.asarray(layer(np.array(texts[i : i + BATCH], dtype=object))) for i in range(0, len(texts), BATCH)]
    return np.concatenate(parts).astype(np.int32)


def inference_model(model, layer):
    """`model` behind `layer`: one string per example in, the model's output out."""
    keras = _keras()
    text = keras.Input(shape=(), dtype="string", name="text")
    return keras.Model(text, model(layer(text)), name=f"{model.name}_text")


def save_run_files(run_dir: Path, model, d: LabelledTextData, vocab: Sequence[str], class_names: Sequence[str]) -> None:
    """Write vectorizer.json and inference.keras into a run, each atomically."""
    write_json(
        run_dir / VECTORIZER_FILE,
        {
            "level": d.level,
            "lowercase": d.lowercase,
            "seq_length": d.seq_length,
            "text_column": d.text_column,
            "label_column": d.label_column,
            "class_names": list(class_names),
            "vocabulary": list(vocab),
        },
    )
    atomic_write(run_dir / INFERENCE_MODEL, inference_model(model, make_vectorizer(d, vocab)).save)


def read_run_files(run_dir: Path) -> dict:
    """A labelled-text run's vectorizer.json; a run without it (or its inference model) is refused."""
    import json

    path, model = Path(run_dir) / VECTORIZER_FILE, Path(run_dir) / INFERENCE_MODEL
    if not path.is_file() or not model.is_file():
        missing = VECTORIZER_FILE if not path.is_file() else INFERENCE_MODEL
        raise RunError(f"{run_dir}: no {missing}: the run has no vectorizer vocabulary to read text with; train it again")
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
        info["class_names"], info["vocabulary"]  # noqa: B018 - both must be there
    except (ValueError, KeyError, TypeError):
        raise RunError(f"{path}: unreadable; expected the class names and vocabulary the run was trained with") from None
    return info
