"""Predictions from a finished run, as its task presents them: a class for a text, the next tokens, the next value.

`load_predictor(run)` reads a run once; `predict_run(run, texts=...)` streams
one result per input, in input order, `batch_size` inputs per model call, so
a file of any size goes through in constant memory. What a result holds comes
from the task record's `present` (`rnn_recipes.tasks`):

- labelled-text runs: `{"label", "probability"}` (and every class's with
  `detail`), from the run's `inference.keras`, which reads raw strings;
- text runs (language models): the `top_k` next tokens after a text of at
  least `seq_length` tokens (its last `seq_length` are read);
- sine runs: the next value after a window of at least `time_steps` values;
- series runs: the next `horizon` rows after a CSV's last `time_steps` rows
  (`forecast.predict_csv`), printed as CSV by `forecast_lines`;
- IMDB runs: negative/positive for English text, encoded through Keras'
  IMDB word index (`imdb_text.py`) exactly as the training reviews were;
- tagged runs: each token of a text with its tag (and probability, without a
  CRF), and the entities the tags mark with their character offsets.
- seq2seq runs (pairs, addition): `{"output", "score"}`, the text decoded
  step by step (`decode.py`), greedy or by beam search.

Input a run cannot predict from is refused with one line (`InputError`).

Example:
    >>> for result in predict_run(run_dir, texts=["Great boots, still going strong."]):  # doctest: +SKIP
    ...     print(result)
    {'label': 'positive', 'probability': 0.93}
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import Callable, Iterable, Iterator, Sequence

import numpy as np

from rnn_recipes import tasks
from rnn_recipes.data import task_name
from rnn_recipes.predict_input import InputError
from rnn_recipes.runs import load_run

BATCH = 256  # inputs per model call: large enough to amortise a call, small enough to stream


@dataclass
class Predictor:
    """What a run needs to answer: how inputs become model outputs, and how outputs are presented.

    Attributes:
        kind: the run's data kind.
        task: the run's task record.
        labels: class names (or tokens) by output index.
        reads: "text" or "values": what the run predicts from.
        column: the text column of the run's training file (the default for table input).
        outputs: a batch of inputs -> a batch of model outputs.
        ids: text runs: one text -> the ids the model reads, before padding and cutting (a server's
            sessions step them one at a time); None for runs that read numbers.
    """

    kind: str
    task: tasks.Task
    labels: list[str] | None
    reads: str
    column: str
    outputs: Callable[[list], np.ndarray]
    ids: Callable[[str], list[int]] | None = None


def _labelled_predictor(run, task) -> Predictor:
    from rnn_recipes.safeload import load_model_file
    from rnn_recipes.vectorizer import INFERENCE_MODEL, make_vectorizer, read_run_files

    info = read_run_files(run.path)
    model = load_model_file(run.path / INFERENCE_MODEL)
    import tensorflow as tf

    vectorizer = make_vectorizer(run.config.data, info["vocabulary"])
    # traced once: ~0.4 ms a text against ~8 ms for the layer called eagerly
    traced = tf.function(lambda texts: vectorizer(texts), input_signature=[tf.TensorSpec([None], tf.string)])

    def ids(text: str) -> list[int]:  # 0 pads, so the nonzero ids are the text's (cut at seq_length)
        return [int(i) for i in traced(tf.constant([text])).numpy()[0] if i]

    return Predictor(
        "labelled_text", task, list(info["class_names"]), "text", info.get("text_column", "text"),
        lambda batch: np.asarray(model.predict_on_batch(np.array(batch, dtype=object))), ids,
    )


def _text_predictor(run, task) -> Predictor:
    from rnn_recipes.codec import TextCodec

    codec = TextCodec.from_run(run)
    model = run.load_model()
    window = run.config.data.seq_length

    def ids(text: str) -> list[int]:
        found = codec.text_to_ids(text)
        if len(found) < window:
            raise InputError(f"the text {text[:30]!r} has {len(found)} tokens; this run reads {window} (data.seq_length)")
        return found[-window:]

    return Predictor("text", task, codec.vocab, "text", "text",
                     lambda batch: np.asarray(model.predict_on_batch(np.array([ids(t) for t in batch], np.int32))),
                     codec.text_to_ids)


def _sine_predictor(run, task) -> Predictor:
    """The next value after a window (sine), or the interval between a window's two spikes (timing)."""
    model = run.load_model()
    d = run.config.data
    window = d.time_steps
    labels = [f"gap {g}" for g in range(d.min_gap, d.max_gap + 1)] if d.kind == "timing" else None

    def values(v: Sequence[float]) -> list[float]:
        if len(v) < window:
            raise InputError(f"--values has {len(v)} numbers; this run reads a window of {window} (data.time_steps)")
        return list(v)[-window:]

    return Predictor(d.kind, task, labels, "values", "",
                     lambda batch: np.asarray(model.predict_on_batch(np.array([values(v) for v in batch], np.float32)[..., None])))


def _imdb_predictor(run, task) -> Predictor:
    from rnn_recipes.imdb_text import ImdbTextCodec, find_word_index

    d = run.config.data
    codec = ImdbTextCodec(find_word_index(d.word_index_path), d.num_words)
    model = run.load_model()

    def rows(batch: list[str]) -> np.ndarray:
        return np.stack([codec.pad(codec.encode(t), d.maxlen, d.padding, d.truncating) for t in batch])

    return Predictor("imdb", task, ["negative", "positive"], "text", "text",
                     lambda batch: np.asarray(model.predict_on_batch(rows(batch))), codec.encode)


def _tagged_predictor(run, task) -> Predictor:
    """Each text cut into tokens (with their character offsets) and tagged; a text longer than the
    run's sentences is tagged in pieces of that length."""
    from rnn_recipes.tag_metrics import decode
    from rnn_recipes.tagged import TagVocab, tokenize

    vocab = TagVocab.from_run(run.path)
    model = run.load_model()
    width = int(model.input_shape[1])

    def outputs(batch: list[str]) -> list[dict]:
        found = [tokenize(text) for text in batch]
        pieces = [(i, a) for i, tokens in enumerate(found) for a in range(0, max(len(tokens), 1), width)]
        x = vocab.encode([[t for t, _, _ in found[i][a : a + width]] for i, a in pieces], width)
        ids, probs = decode(np.asarray(model.predict_on_batch(x)), len(vocab.tags))
        rows = [{"text": text, "tokens": [t for t, _, _ in tokens], "spans": [(s, e) for _, s, e in tokens],
                 "tag_ids": [], "probabilities": None if probs is None else [], "scheme": vocab.scheme}
                for text, tokens in zip(batch, found)]
        for k, (i, a) in enumerate(pieces):
            n = len(found[i][a : a + width])
            rows[i]["tag_ids"].extend(int(t) for t in ids[k, :n])
            if probs is not None:
                rows[i]["probabilities"].extend(float(p) for p in probs[k, :n])
        return rows

    return Predictor("tagged", task, list(vocab.tags), "text", "text", outputs)


def _seq2seq_predictor(run, task, beam: int = 1, max_length: int | None = None) -> Predictor:
    from rnn_recipes.codec import PairCodec
    from rnn_recipes.decode import Decoder

    codec = PairCodec.from_run(run)
    decoder = Decoder(run.load_model(), codec.start, codec.end, max_length)
    width = decoder.source_len

    def ids(text: str) -> np.ndarray:
        found = codec.source_ids(text)
        if len(found) > width:
            raise InputError(f"the text {text[:30]!r} has {len(found)} tokens; this run reads at most {width} "
                             "(its longest training source)")
        return np.pad(np.array(found, np.int32), (0, width - len(found)))

    def outputs(batch: list[str]) -> list[dict]:
        source = np.stack([ids(t) for t in batch])
        found = decoder.greedy(source) if beam == 1 else [decoder.beam(row, beam) for row in source]
        return [{"text": codec.decode(d.ids), "score": d.score, "ids": d.ids, "ended": d.ended, "weights": d.weights,
                 "source_tokens": codec.source_tokens(t),
                 "output_tokens": [codec.target[i] for i in d.ids] + ([codec.target[codec.end]] if d.ended else [])}
                for t, d in zip(batch, found)]

    return Predictor(run.config.data.kind, task, codec.vocab, "text", "text", outputs)


SEQ2SEQ_KINDS = ("pairs", "addition")
PREDICTORS = {"labelled_text": _labelled_predictor, "text": _text_predictor, "sine": _sine_predictor,
              "imdb": _imdb_predictor, "timing": _sine_predictor, "tagged": _tagged_predictor,
              **{kind: _seq2seq_predictor for kind in SEQ2SEQ_KINDS}}


def unsupported(run_dir: Path, kind: str, command: str, handled: Iterable[str]) -> str:
    """The one line that refuses a run of a kind `command` does not handle (yet)."""
    return f"{run_dir} is a {kind} run, which {command} does not handle yet; it reads {', '.join(handled)} runs"


def load_predictor(run_dir: Path, *, beam: int = 1, max_length: int | None = None) -> Predictor:
    """Read a finished run once (refusing incomplete or altered ones) and get ready to predict.

    `beam` and `max_length` are for seq2seq runs: beam search with that many
    beams (1 is greedy), and the most output tokens (default: the longest training target).
    """
    run = load_run(Path(run_dir))
    kind = run.config.data.kind
    if kind == "series":
        raise InputError(f"{run_dir} is a series run: it forecasts from a CSV's last rows; give --csv FILE")
    if kind not in PREDICTORS:
        raise InputError(unsupported(run_dir, kind, "rnn predict", PREDICTORS))
    if beam < 1 or (max_length is not None and max_length < 1):
        raise InputError(f"--beam and --max-length must be at least 1; received {beam} and {max_length}")
    task = tasks.get(task_name(run.config))
    if kind in SEQ2SEQ_KINDS:
        return _seq2seq_predictor(run, task, beam, max_length)
    return PREDICTORS[kind](run, task)


def attention_map(p: Predictor, text: str, path: Path) -> dict:
    """Decode `text` with a seq2seq predictor and draw its attention weights to `path` (PNG); returns the result."""
    from rnn_recipes import plots

    if p.kind not in SEQ2SEQ_KINDS:
        raise InputError(f"--attention-map is for seq2seq runs; this is a {p.kind} run")
    row = p.outputs([text])[0]
    if not np.any(row["weights"]):
        raise InputError("this run was trained with model.attention: none; it has no attention weights to draw")
    plots.attention_map(row["weights"], row["source_tokens"], row["output_tokens"], Path(path), title=f"{text} -> {row['text']}")
    return p.task.present(row)


def forecast_lines(rows: list[dict], json_lines: bool = False) -> Iterator[str]:
    """`forecast.predict_csv`'s rows as CSV (a header, then one line per step ahead) or as JSON Lines."""
    if json_lines:
        yield from (json.dumps(row) for row in rows)
        return
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    yield from out.getvalue().splitlines()


def predict_run(
    run: Path | Predictor,
    texts: Iterable[str] | None = None,
    values: Iterable[Sequence[float]] | None = None,
    *,
    top_k: int = 5,
    detail: bool = False,
    batch_size: int = BATCH,
) -> Iterator[dict]:
    """One presented result per input, in input order, computed `batch_size` inputs at a time.

    Args:
        run: a run directory, or a `Predictor` already loaded from one.
        texts: texts to classify (labelled-text runs) or to continue (text runs).
        values: windows of numbers (sine runs).
        top_k: text runs: how many next tokens to show.
        detail: add every class's probability.
        batch_size: inputs per model call.
    """
    p = run if isinstance(run, Predictor) else load_predictor(run)
    if top_k < 1:
        raise InputError(f"--top-k must be at least 1; received {top_k}")
    given = "values" if values is not None else "text"
    if given != p.reads:
        want = "--values 0.1,0.2,..." if p.reads == "values" else "--text, --file or standard input"
        raise InputError(f"this is a {p.kind} run: it predicts from {p.reads}, not {given}; give {want}")
    items = iter(values if values is not None else texts if texts is not None else ())
    while batch := list(islice(items, batch_size)):
        for row in p.outputs(batch):
            yield p.task.present(row, labels=p.labels, top_k=top_k, detail=detail)


def format_plain(result: dict) -> str:
    """One result as text: `label<TAB>probability`, `token probability ...`, the value, or `token<TAB>tag` lines."""
    if "tokens" in result:  # a tagged text: one token a line, as CoNLL files hold them, and a blank line after
        return "".join(f"{t['token']}\t{t['tag']}\n" for t in result["tokens"])
    if "label" in result:
        return f"{result['label']}\t{result['probability']:.4f}"
    if "top" in result:
        return "  ".join(f"{t['token']!r} {t['probability']:.4f}" for t in result["top"])
    if "output" in result:
        return result["output"]
    return f"{result['value']:.6g}"
