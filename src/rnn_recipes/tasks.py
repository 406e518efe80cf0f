"""Tasks: what each kind of prediction means, one record per task.

A task says everything the rest of the package needs to know about what is
predicted: the model's output head (activation, units, whether it answers at
every step), the loss and metrics it is trained and reported with, the
baselines that give those metrics meaning, how recipe leaderboards rank its
runs, and how one prediction is shown to a user. A data reader names the task
its data poses in `DataSpec.task`; `of(spec)` finds the record. Nothing here
imports TensorFlow: Keras losses, metrics and activations are named by the
strings Keras accepts.

Adding a task is one `Task` in `TASKS` plus the data reader that poses it.
How the next ones plug in:

- multi-class classification of labelled text (`multiclass`, registered, and
  what `data.kind: labelled_text` poses for any number of classes >= 2, two
  included): softmax head with `spec.num_classes` units, sparse categorical
  cross-entropy, accuracy, the majority-class baseline; for labelled text
  also the bag-of-words logistic regression (same split, same vocabulary),
  macro F1 and the per-class report. Presented as label + probability.
- forecasting (`regression`, registered): the next `horizon` values of one or
  more target columns. Linear head with `spec.horizon * spec.targets` units
  (a recursive model answers one step, so its reader sets `horizon=1`), MSE
  loss, MAE metric; `baselines` rolls the model forward over the test
  windows (`forecast_baselines.rollout`) and reports it in original units
  beside persistence, seasonal naive and a linear autoregression fitted on
  the training windows: MAE, RMSE and MASE, per horizon step too.
  `leaderboard=("mase", ...)`, lower first. The seed's sine is this task with
  horizon 1 and no scaling. Presented as the value, or the list of values;
  `prediction_plot=True`.
- sequence-to-sequence (`transduction`, registered; what `data.kind: pairs` and
  `addition` pose): per-step softmax over the target vocabulary, sparse
  categorical cross-entropy with teacher forcing. The encoder-decoder body is
  a model choice (`model.kind: seq2seq`, `seq2seq_model.py`), not a task
  fact; `baselines` decodes the test sources step by step (`decode.py`) and
  returns exact match, token accuracy, chrF and BLEU (sacrebleu). Presented
  as the decoded text and its length-normalised log probability.
- per-token tagging (`tagging`, registered, what `data.kind: tagged` poses):
  per-step softmax over tags (`per_step=lambda s: True`), sparse categorical
  cross-entropy; padding is kept out of the loss and the accuracy by the
  embedding's mask (`mask_zero`), which Keras carries to the per-step output.
  A CRF output layer (`model.crf`) is a model choice: its own loss, decoded
  by Viterbi (`tag_metrics.decode` reads either output). `baselines` decodes
  the test sentences and returns token accuracy, entity precision, recall
  and F1 with a per-type table (seqeval), and the same for the
  most-frequent-tag-per-word baseline; `leaderboard=("entity_f1", ...)`.
  Presented as one (token, tag, probability) per input token, and the
  entities they mark.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Sequence

import numpy as np

from rnn_recipes import forecast_baselines

if TYPE_CHECKING:
    from rnn_recipes.dataset import Dataset, DataSpec


@dataclass(frozen=True)
class Task:
    """What one kind of prediction means: head, loss, metrics, baselines, ranking, presentation.

    Attributes:
        name: the key in `TASKS`, and the value of `DataSpec.task`.
        summary: one line for a user.
        activation: the output layer's Keras activation; None is linear.
        units: the output layer's width for the data `spec`.
        per_step: whether the model answers at every time step for `spec`
            (its last recurrent layer returns sequences).
        loss: the Keras loss the model is compiled with.
        metrics: the Keras metrics it is compiled with.
        baselines: `baselines(model, ds, batch_size, metrics)` -> the numbers
            added to the test metrics that give them meaning (baselines, and
            the metrics read in other units); `metrics` holds those computed so far.
        leaderboard: the columns a recipe leaderboard shows when the recipe
            names none; the first one ranks the variants.
        higher_is_better: metric name endings for which higher is better
            (e.g. "accuracy" covers "val_accuracy"); every other metric ranks
            lower first.
        present: `present(output, labels=None, top_k=5, detail=False)` -> one
            example's model output as a user reads it (a JSON-ready dict);
            `labels` names the classes or tokens by id; `detail` adds every
            class's probability (`probabilities`, by name) where there are classes.
        prediction_plot: whether a plot of predicted against actual test
            values means something (real-valued targets).

    Example:
        >>> task = TASKS["binary"]
        >>> task.loss, task.rank_by, task.is_higher_better(task.rank_by)
        ('binary_crossentropy', 'val_accuracy', True)
        >>> task.present(np.array([0.9]), labels=["negative", "positive"])
        {'label': 'positive', 'probability': 0.9}
    """

    name: str
    summary: str
    baselines: Callable[[Any, Dataset, int, dict], dict]
    leaderboard: tuple[str, ...]
    present: Callable[..., dict]
    activation: str | None = "softmax"
    units: Callable[[DataSpec], int] = lambda spec: spec.num_classes
    per_step: Callable[[DataSpec], bool] = lambda spec: False  # many-to-one unless the task says otherwise
    loss: str = "sparse_categorical_crossentropy"
    metrics: tuple[str, ...] = ("accuracy",)
    higher_is_better: tuple[str, ...] = ("accuracy",)
    prediction_plot: bool = False

    @property
    def rank_by(self) -> str:
        """The metric that ranks a leaderboard when the recipe names none."""
        return self.leaderboard[0]

    def is_higher_better(self, metric: str) -> bool:
        """Whether a larger `metric` ranks first."""
        return metric.endswith(self.higher_is_better)


# --- baselines ---------------------------------------------------------------


def majority_accuracy(y: np.ndarray) -> float:
    """The accuracy of always answering the most frequent class id in `y`."""
    _, counts = np.unique(np.asarray(y).reshape(-1), return_counts=True)
    return float(counts.max() / counts.sum())


def _binary_baselines(model, ds: Dataset, batch_size: int, metrics: dict) -> dict:
    # labels are 0.0/1.0: the mean is the share of the positive class
    return {"majority_baseline_accuracy": float(max(ds.y_test.mean(), 1 - ds.y_test.mean()))}


def _multiclass_baselines(model, ds: Dataset, batch_size: int, metrics: dict) -> dict:
    """Majority class; for labelled text also a bag-of-words logistic regression on the same
    split and vocabulary, and the model's per-class precision, recall, F1 and confusion matrix."""
    from rnn_recipes import baselines

    out = {"majority_baseline_accuracy": majority_accuracy(ds.y_test)}
    names = ds.extra.get("class_names")
    if names is None or len(ds.x_test) == 0:
        return out
    n = ds.spec.num_classes
    bow = baselines.fit_bow_logistic(ds.x_train, ds.y_train, n, ds.spec.vocab_size, seed=0)
    out["bow_baseline_accuracy"] = float(np.mean(bow.predict(ds.x_test) == ds.y_test))
    pred = np.asarray(model.predict(ds.x_test, batch_size=batch_size, verbose=0)).argmax(axis=-1)
    report = baselines.classification_report(ds.y_test, pred, n).as_dict(names)
    out["macro_f1"] = report.pop("macro_f1")
    out["classification"] = {k: v for k, v in report.items() if k != "accuracy"}
    out["class_names"] = list(names)
    return out


def _language_model_baselines(model, ds: Dataset, batch_size: int, metrics: dict) -> dict:
    """The cross-entropy in nats, bits per token and perplexity, on the test split and validation."""
    splits = {ds.test_name: metrics["loss"]}
    if ds.has_val:
        splits["val"] = model.evaluate(ds.x_val, ds.y_val, batch_size=batch_size, verbose=0, return_dict=True)["loss"]
    unit = "char" if ds.level == "char" else "word"
    out = {}
    for name, nats in splits.items():
        out[f"{name}_loss_nats"] = nats
        out[f"{name}_bits_per_{unit}"] = nats / math.log(2)
        out[f"{name}_perplexity"] = math.exp(min(nats, 700.0))  # exp(710) overflows a float
    return out


def _tagging_baselines(model, ds: Dataset, batch_size: int, metrics: dict) -> dict:
    """Token accuracy and entity P/R/F1 per type of the decoded test tags, beside the most-frequent-tag baseline."""
    from rnn_recipes import tag_metrics as tm

    names, scheme = ds.extra["tag_names"], ds.extra["scheme"]
    lengths = tm.lengths_of(ds.x_test)
    truth = tm.as_tags(ds.y_test, lengths, names)
    pred, _ = tm.decode(model.predict(ds.x_test, batch_size=batch_size, verbose=0), len(names))
    out = tm.scores(truth, tm.as_tags(pred, lengths, names), scheme)
    baseline = tm.most_frequent_tag(ds.x_train, ds.y_train, ds.x_test)
    found = tm.scores(truth, tm.as_tags(baseline, lengths, names), scheme)
    out["most_frequent_tag_baseline"] = {k: v for k, v in found.items() if k != "entity_types"}
    out["tag_names"], out["scheme"] = list(names), scheme
    return out


def _forecast_baselines(model, ds: Dataset, batch_size: int, metrics: dict) -> dict:
    """The model's forecasts against persistence, seasonal naive and a linear AR: MAE, RMSE, MASE, per step."""
    predict = lambda x: model.predict(x, batch_size=batch_size, verbose=0)  # noqa: E731
    forecast = ds.series.to_original(forecast_baselines.rollout(predict, ds.x_test, ds.series))
    return forecast_baselines.report(forecast, ds.series)


def _seq2seq_baselines(model, ds: Dataset, batch_size: int, metrics: dict) -> dict:
    """The test sources decoded greedily, step by step (no teacher forcing): exact match, token accuracy, chrF, BLEU.

    References are the test targets as the model could write them (cut into
    the run's tokens and joined again, unknown tokens as <unk>); `accuracy`
    beside them is per token with teacher forcing, which reads the true
    previous token at every step.
    """
    from rnn_recipes import decode, seq2seq_scores

    codec = ds.codec
    decoder = decode.Decoder(model, codec.start, codec.end)
    source = ds.x_test[0]
    found = [d for i in range(0, len(source), batch_size) for d in decoder.greedy(source[i : i + batch_size])]
    ref_ids = [row[: list(row).index(codec.end) + 1].tolist() for row in ds.y_test]
    hyp_ids = [d.ids + ([codec.end] if d.ended else []) for d in found]
    references = [codec.decode(r) for r in ref_ids]
    hypotheses = [codec.decode(d.ids) for d in found]
    out = seq2seq_scores.score(hypotheses, references, hyp_ids, ref_ids, codec.level)
    out["examples_decoded"] = [{"source": s, "reference": r, "output": h}
                               for (s, _), r, h in zip(ds.extra.get("test_pairs", [])[:5], references, hypotheses)]
    return out


# --- presentation --------------------------------------------------------------


def _name(i: int, labels: Sequence[str] | None) -> str | int:
    return labels[i] if labels is not None else i


def present_binary(output: np.ndarray, labels: Sequence[str] | None = None, top_k: int = 5, detail: bool = False) -> dict:
    """The label a sigmoid output picks (threshold 0.5) and its probability (and both classes', with `detail`)."""
    p = float(np.asarray(output).reshape(-1)[-1])
    label = int(p >= 0.5)
    out = {"label": _name(label, labels), "probability": p if label else 1.0 - p}
    if detail:
        out["probabilities"] = {str(_name(0, labels)): 1.0 - p, str(_name(1, labels)): p}
    return out


def present_class(output: np.ndarray, labels: Sequence[str] | None = None, top_k: int = 5, detail: bool = False) -> dict:
    """The most probable class of a softmax output and its probability (and every class's, with `detail`)."""
    probs = np.asarray(output).reshape(-1)
    i = int(np.argmax(probs))
    out = {"label": _name(i, labels), "probability": float(probs[i])}
    if detail:
        out["probabilities"] = {str(_name(k, labels)): float(p) for k, p in enumerate(probs)}
    return out


def present_top_tokens(output: np.ndarray, labels: Sequence[str] | None = None, top_k: int = 5, detail: bool = False) -> dict:
    """The `top_k` most probable next tokens, most probable first (of the last step, if per step)."""
    probs = np.asarray(output)
    probs = probs.reshape(-1, probs.shape[-1])[-1]
    order = np.argsort(-probs, kind="stable")[:top_k]
    return {"top": [{"token": _name(int(i), labels), "probability": float(probs[i])} for i in order]}


def present_value(output: np.ndarray, labels: Sequence[str] | None = None, top_k: int = 5, detail: bool = False) -> dict:
    """The predicted value, or the values of every step ahead (and every target) when there are several."""
    values = np.asarray(output, "float64").reshape(-1)
    return {"value": float(values[-1])} if len(values) == 1 else {"values": [float(v) for v in values]}


def present_tags(output: dict, labels: Sequence[str] | None = None, top_k: int = 5, detail: bool = False) -> dict:
    """One text's tokens with their tags (and each tag's probability, from a softmax), and the entities they mark.

    `output` holds the `text`, its `tokens`, their character `spans`, the
    decoded `tag_ids`, their `probabilities` (None from a CRF) and the tag
    `scheme` (no entities for "none"), as the tagged predictor reads them;
    `labels` names the tags.

    Example:
        >>> out = {"text": "Ann left", "tokens": ["Ann", "left"], "spans": [(0, 3), (4, 8)],
        ...        "tag_ids": [0, 1], "probabilities": None}
        >>> present_tags(out, labels=["B-PER", "O"])["entities"]
        [{'type': 'PER', 'text': 'Ann', 'start': 0, 'end': 3}]
    """
    from rnn_recipes.tag_metrics import entities

    tags = [str(_name(int(i), labels)) for i in output["tag_ids"]]
    probs = output["probabilities"]
    tokens = []
    for i, (token, tag) in enumerate(zip(output["tokens"], tags)):
        row = {"token": token, "tag": tag}
        if probs is not None:
            row["probability"] = float(probs[i])
        tokens.append(row)
    spans, text = output["spans"], output["text"]
    found = [{"type": kind, "text": text[spans[a][0] : spans[b - 1][1]], "start": spans[a][0], "end": spans[b - 1][1]}
             for kind, a, b in entities(tags)] if output.get("scheme", "IOB2") != "none" else []
    return {"tokens": tokens, "entities": found}
def present_sequence(output: dict, labels: Sequence[str] | None = None, top_k: int = 5, detail: bool = False) -> dict:
    """The decoded output text and its length-normalised log probability (and the token ids, with `detail`)."""
    out = {"output": output["text"], "score": float(output["score"])}
    if detail:
        out["ids"] = list(output["ids"])
        out["ended"] = bool(output["ended"])
    return out


# --- the registry ----------------------------------------------------------------

TASKS: dict[str, Task] = {task.name: task for task in (
    Task(
        "binary",
        "many-to-one binary classification (e.g. review sentiment)",
        activation="sigmoid",
        units=lambda spec: 1,
        loss="binary_crossentropy",
        baselines=_binary_baselines,
        leaderboard=("val_accuracy", "accuracy"),
        present=present_binary,
    ),
    Task(
        "multiclass",
        "many-to-one classification into one of num_classes labels",
        baselines=_multiclass_baselines,
        leaderboard=("val_accuracy", "accuracy", "macro_f1", "bow_baseline_accuracy", "majority_baseline_accuracy"),
        higher_is_better=("accuracy", "f1"),
        present=present_class,
    ),
    Task(
        "next_token",
        "language model: the next token after a window (or after every token of it)",
        per_step=lambda spec: spec.sequence_output,
        baselines=_language_model_baselines,
        leaderboard=("val_loss", "val_accuracy"),
        present=present_top_tokens,
    ),
    Task(
        "regression",
        "forecasting: the next `horizon` values of a series (the seed's sine: the next one)",
        activation=None,
        units=lambda spec: spec.horizon * spec.targets,
        loss="mse",
        metrics=("mae",),
        baselines=_forecast_baselines,
        leaderboard=("mase", "rmse", "persistence_baseline.mase", "seasonal_naive_baseline.mase",
                     "linear_ar_baseline.mase"),
        higher_is_better=("_pct",),
        present=present_value,
        prediction_plot=True,
    ),
    Task(
        "tagging",
        "many-to-many: one tag per token (named entities, parts of speech)",
        per_step=lambda spec: True,
        baselines=_tagging_baselines,
        leaderboard=("entity_f1", "token_accuracy", "val_loss", "most_frequent_tag_baseline.entity_f1"),
        higher_is_better=("accuracy", "f1", "precision", "recall"),
        present=present_tags,
    ),
    Task(
        "transduction",
        "sequence-to-sequence transduction: an output sequence for an input sequence (translation, addition)",
        per_step=lambda spec: True,
        baselines=_seq2seq_baselines,
        leaderboard=("exact_match", "chrf", "bleu", "token_accuracy", "val_loss"),
        higher_is_better=("accuracy", "exact_match", "chrf", "bleu"),
        present=present_sequence,
    ),
)}


def get(name: str) -> Task:
    """The task called `name`, or a ValueError that lists the valid names."""
    try:
        return TASKS[name]
    except KeyError:
        raise ValueError(f"Invalid `task`. Expected one of: {', '.join(TASKS)}. Received: {name!r}.") from None


def of(spec: DataSpec) -> Task:
    """The task the data described by `spec` poses."""
    return get(spec.task)
