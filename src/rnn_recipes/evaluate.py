"""Re-evaluate a finished run from its directory alone, or score a classifier or tagger on another labelled file."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from rnn_recipes import forecast, tasks
from rnn_recipes.data import load_dataset
from rnn_recipes.errors import RunError
from rnn_recipes.metrics import evaluate_model
from rnn_recipes.runs import load_run


def evaluate_run(run_dir: Path, plot: Path | None = None) -> tuple[dict, dict]:
    """Load the run's model and data and recompute its test metrics, and draw what `plot` names.

    `plot`: a series run's test-period forecast (a PNG), or for a seq2seq run
    with attention a folder for the attention maps of the first test sources.

    The run directory itself is only read: a finished run's files are the ones its manifest lists.

    Returns:
        (recomputed metrics, metrics saved at the end of training).
    """
    run = load_run(run_dir)
    model = run.load_model()
    ds = load_dataset(run.config)
    if ds.series is not None:
        forecast.check_same_source(run.path, ds)
    metrics = evaluate_model(model, ds, run.config.train.batch_size)
    metrics["epochs_run"] = run.metrics.get("epochs_run")
    if plot is not None and run.config.model.attention != "none":  # seq2seq: attention maps of a few test sources
        from rnn_recipes import plots

        Path(plot).mkdir(parents=True, exist_ok=True)
        metrics["plots"] = [str(p) for p in plots.attention_examples(model, ds, Path(plot))]
    elif plot is not None:
        if not tasks.of(ds.spec).prediction_plot:
            raise RunError(f"{run_dir}: --plot draws a forecast for series runs (attention maps, into a folder, for "
                           "seq2seq runs with attention); for a classifier give --data with it")
        metrics["plot"] = str(forecast.plot_test_period(model, ds, run.config.train.batch_size, plot))
    return metrics, run.metrics


def evaluate_file(run_dir: Path, path: Path, plot: Path | None = None) -> dict:
    """Score a labelled-text run on another labelled file (CSV/TSV/JSONL/folder, the run's columns).

    Returns accuracy, macro and weighted F1, per-class precision/recall/F1/support
    and the confusion matrix (rows true, columns predicted); `plot` also draws it.
    A label the run was not trained on is refused with its line.
    """
    from rnn_recipes import baselines, labelled_files
    from rnn_recipes.vectorizer import make_vectorizer, read_run_files, vectorize

    run = load_run(run_dir)
    if run.config.data.kind == "tagged":
        return _evaluate_tagged_file(run, path)
    if run.config.data.kind != "labelled_text":
        raise RunError(f"{run_dir} is a {run.config.data.kind} run; --data scores labelled_text runs and tagged runs")
    info = read_run_files(run.path)
    names = list(info["class_names"])
    examples = labelled_files.read_examples(path, info["text_column"], info["label_column"])
    index = {name: i for i, name in enumerate(names)}
    for ex in examples:
        if ex.label not in index:
            raise RunError(f"{ex.where}: label {ex.label!r} is not one the run was trained on ({', '.join(map(repr, names))})")
    x = vectorize(make_vectorizer(run.config.data, info["vocabulary"]), [ex.text for ex in examples])
    y = np.array([index[ex.label] for ex in examples], np.int32)
    model = run.load_model()
    probs = model.predict(x, batch_size=run.config.train.batch_size, verbose=0)
    report = baselines.classification_report(y, probs.argmax(axis=-1), len(names))
    out = {"data": str(path), "examples": len(examples), **report.as_dict(names)}
    out["class_names"] = names
    if plot is not None:
        from rnn_recipes import plots

        plots.confusion(out["confusion"], names, plot, title=f"{run.path.name} on {Path(path).name}")
    return out


def _evaluate_tagged_file(run, path: Path) -> dict:
    """A tagged run's token accuracy and entity scores (per type too) on another CoNLL file, read as the run's
    training files were; a sentence longer than the run's is tagged in pieces of that length."""
    from rnn_recipes import tag_metrics as tm
    from rnn_recipes.tagged import TagVocab, read_conll

    vocab = TagVocab.from_run(run.path)
    sentences = read_conll(path, run.config.data)
    model = run.load_model()
    width = int(model.input_shape[1])
    pieces = [(s, a) for s in sentences for a in range(0, len(s.tokens), width)]
    x = vocab.encode([s.tokens[a : a + width] for s, a in pieces], width)
    vocab.tag_ids(sentences, max(len(s.tokens) for s in sentences))  # refuses a tag the run never learned
    ids, _ = tm.decode(model.predict(x, batch_size=run.config.train.batch_size, verbose=0), len(vocab.tags))
    pred: dict[int, list[str]] = {}
    for k, (s, a) in enumerate(pieces):
        pred.setdefault(id(s), []).extend(vocab.tags[i] for i in ids[k, : len(s.tokens[a : a + width])])
    out = {"data": str(path), "sentences": len(sentences), "tokens": sum(len(s.tokens) for s in sentences)}
    out.update(tm.scores([list(s.tags) for s in sentences], [pred[id(s)] for s in sentences], vocab.scheme))
    return out
