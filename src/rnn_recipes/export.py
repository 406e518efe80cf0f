"""Deployable copies of a finished run (SavedModel, LiteRT, ONNX), each verified against the Keras model as it is written.

`export_run(run, "saved_model" | "litert" | "onnx")` writes one directory:
the model in that format, `metadata.json` (inputs, outputs, labels,
vocabulary, the run it came from, versions, the verification) and a short
`README.md`. What the exported model reads:

- series runs: raw values (N, time_steps, features) in the CSV's units, the
  training part's scaling inside; the output is in the target's units, in
  every format. Sine runs: the window as it is (N, time_steps, 1).
- labelled-text and text runs, SavedModel: raw strings (N,), the vectorizer
  (labelled text) or the run's tokenizer and vocabulary (text) inside, as
  the `serve` signature; `serve_ids` reads token ids.
- labelled-text and text runs, LiteRT and ONNX: token ids (N, seq_length).
  Neither runtime runs TensorFlow's string ops without extra native
  libraries (LiteRT's Flex delegate; ONNX has no regex or lookup table op
  tf2onnx maps them to), so the export holds the numeric model and ships the
  vocabulary and the tokenizing rules in `metadata.json`.
- IMDB runs: word ids (N, maxlen), as the dataset holds them; the word index
  is not part of a run.
- timing runs: the raw values (N, time_steps, 1); class probabilities out.
- tagged runs, every format: word ids (N, T), or (N, T, 1 + max_word_chars)
  with character features, as `TagVocab.encode` makes them, the vocabularies
  and `tagged.tokenize`'s pattern in `metadata.json`; out per-token tag
  probabilities, or for a CRF run its packed output (emissions, mask,
  transitions), which `tag_metrics.decode` turns into the Viterbi path; a
  CRF run's SavedModel also has `serve_tags`, that path in TensorFlow ops.

A run of a kind not in `PLANS` is refused with one line.

Every export is reloaded with its own runtime (`tf.saved_model.load`, the
LiteRT interpreter, onnxruntime), run on up to `VERIFY_MAX` examples of the
run's test split, and compared with the Keras model's predictions on the
same inputs; a difference above `TOLERANCE`, or a format that cannot hold
the model, is refused with one line and nothing is left behind. LiteRT gets
the recurrent layers unrolled (the builtin ops hold no While loop over
TensorList without the Flex delegate); the unrolled copy computes the same
function.

Example:
    >>> result = export_run("runs/hello_lstm-20260101-000000", "onnx")  # doctest: +SKIP
    >>> result.max_abs_diff < TOLERANCE  # doctest: +SKIP
    True
"""

from __future__ import annotations

import json
import logging
import platform
import shutil
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import Any, Callable

import numpy as np

from rnn_recipes import tasks
from rnn_recipes.data import load_dataset, task_name
from rnn_recipes.errors import UserError
from rnn_recipes.runs import Run, load_run

FORMATS = ("saved_model", "litert", "onnx")
TOLERANCE = 1e-4  # max abs difference allowed between an export's and the Keras model's outputs, per unit of scale
VERIFY_MAX = 512  # test examples an export is checked on: enough to catch a wrong graph, quick on a phone-sized model
METADATA = "metadata.json"
README = "README.md"
MODEL_FILE = {"saved_model": "saved_model", "litert": "model.tflite", "onnx": "model.onnx"}
RUNTIME = {"saved_model": "tf.saved_model.load", "litert": "ai_edge_litert.interpreter.Interpreter",
           "onnx": "onnxruntime.InferenceSession"}
VERSIONS = ("tensorflow", "keras", "onnx", "onnxruntime", "tf2onnx", "ai-edge-litert", "numpy")


class ExportError(UserError):
    """A run that cannot be exported in the format asked for, or an export that does not match its model."""


@dataclass
class Plan:
    """What one export serves, and the test inputs with the Keras model's answers to check it by.

    Attributes:
        model: the Keras model the export holds (numeric input: ids or values).
        x: test inputs for `model`, as the export reads them.
        expected: the Keras model's outputs for `x`.
        reads: "ids" or "values": what `model` takes.
        texts: test strings, the string graph's input (SavedModel of text runs), or None.
        text_expected: the Keras model's outputs for `texts`, preprocessed as `rnn predict` does.
        text_graph: (strings -> output function, resources to track), or None.
        about: metadata: what the input means, labels, vocabulary, scaling.
        inner, wrap: when `model` is `wrap(inner)` around the trained model (series scaling).
    """

    model: Any
    x: np.ndarray
    expected: np.ndarray
    reads: str
    texts: list[str] | None = None
    text_expected: np.ndarray | None = None
    text_graph: tuple[Callable, list] | None = None
    about: dict = field(default_factory=dict)
    inner: Any = None
    wrap: Callable | None = None
    tags_graph: Callable | None = None
    tags_expected: np.ndarray | None = None

    def unrolled(self):
        """`model` with its recurrent layers unrolled (see `_unrolled`)."""
        if self.wrap is None:
            return _unrolled(self.model)
        return self.wrap(_unrolled(self.inner))


@dataclass
class ExportResult:
    """A written, verified export."""

    path: Path
    format: str
    examples: int
    max_abs_diff: float
    seconds: float
    metadata: dict


def _keras():
    from rnn_recipes.backend import import_keras

    return import_keras()


def _predict(model, x: np.ndarray, batch: int = 256) -> np.ndarray:
    return np.asarray(model.predict(x, batch_size=batch, verbose=0), np.float32)


# --- what each kind of run serves -------------------------------------------------------


def _labelled_plan(run: Run, fmt: str, model) -> Plan:
    from rnn_recipes.labelled_text import read_labelled
    from rnn_recipes.safeload import load_model_file
    from rnn_recipes.vectorizer import INFERENCE_MODEL, make_vectorizer, read_run_files, vectorize

    d = run.config.data
    info = read_run_files(run.path)
    texts = list(read_labelled(d, run.config.seed).test.texts)[:VERIFY_MAX]
    x = vectorize(make_vectorizer(d, info["vocabulary"]), texts)
    expected = _predict(model, x)
    about = {
        "labels": list(info["class_names"]),
        "vocabulary": list(info["vocabulary"]),
        "tokenizer": {"kind": "keras.layers.TextVectorization", "level": d.level, "lowercase": d.lowercase,
                      "seq_length": d.seq_length, "ids": "0 padding, 1 [UNK], 2.. the vocabulary's tokens"},
    }
    plan = Plan(model, x, expected, "ids", about=about)
    if fmt == "saved_model":
        strings = portable(load_model_file(run.path / INFERENCE_MODEL))  # the run's own strings-in model
        plan.texts, plan.text_expected = texts, expected
        plan.text_graph = (lambda t: strings(t), [strings])
    return plan


def _text_plan(run: Run, fmt: str, model) -> Plan:
    from rnn_recipes.codec import UNK, TextCodec

    ds = load_dataset(run.config)
    codec = TextCodec.from_run(run)
    window = run.config.data.seq_length
    x = ds.x_test[:VERIFY_MAX].astype(np.int32)
    about = {
        "labels": codec.vocab,
        "vocabulary": codec.vocab,
        "tokenizer": {"kind": "rnn_recipes.codec", "level": codec.level, "lowercase": codec.lowercase,
                      "seq_length": window, "ids": "the index of each token in the vocabulary",
                      "unknown": UNK if UNK in codec.vocab else "refused"},
    }
    plan = Plan(model, x, _predict(model, x), "ids", about=about)
    if fmt == "saved_model":
        texts = [codec.decode(row) for row in x]
        plan.texts = texts
        plan.text_expected = _predict(model, np.array([codec.text_to_ids(t)[-window:] for t in texts], np.int32))
        plan.text_graph = _token_graph(codec, window, model)
    return plan


def _token_graph(codec, window: int, model) -> tuple[Callable, list]:
    """Strings -> the last `window` token ids -> `model`, as `codec.text_to_ids` cuts them, in TensorFlow ops.

    (Assertion messages avoid quotes: TensorFlow escapes them in the error it raises.)
    """
    import tensorflow as tf

    from rnn_recipes.codec import UNK

    index = {t: i for i, t in enumerate(codec.vocab)}
    table = tf.lookup.StaticHashTable(
        tf.lookup.KeyValueTensorInitializer(tf.constant(codec.vocab), tf.constant(list(range(len(codec.vocab))), tf.int64)),
        default_value=index.get(UNK, -1) if codec.level == "word" else -1,
    )

    def ids(texts):
        if codec.lowercase:
            texts = tf.strings.lower(texts, encoding="utf-8")
        if codec.level == "char":
            tokens = tf.strings.unicode_split(texts, "UTF-8")
        else:  # codec's \w+|[^\w\s]: space every punctuation mark, then split on white space
            tokens = tf.strings.split(tf.strings.regex_replace(texts, r"([^\pL\pN_\s])", r" \1 "))
        found = tf.ragged.map_flat_values(table.lookup, tokens)
        checks = [
            tf.debugging.assert_non_negative(found.flat_values, message="a token outside the vocabulary of the run"),
            tf.debugging.assert_greater_equal(found.row_lengths(), tf.cast(window, tf.int64),
                                              message=f"a text shorter than the {window} tokens the run reads (data.seq_length)"),
        ]
        with tf.control_dependencies(checks):
            ends = found.row_limits()[:, None]
            at = ends - window + tf.range(window, dtype=tf.int64)[None, :]  # each text's last `window` tokens
            return tf.cast(tf.gather(found.flat_values, at), tf.int32)

    return (lambda texts: model(ids(texts), training=False)), [table]


def _imdb_plan(run: Run, fmt: str, model) -> Plan:
    d = run.config.data
    ds = load_dataset(run.config)
    x = ds.x_test[:VERIFY_MAX]
    about = {"labels": ["negative", "positive"],
             "tokenizer": {"kind": "keras.datasets.imdb ids", "maxlen": d.maxlen, "num_words": d.num_words,
                           "padding": d.padding, "truncating": d.truncating,
                           "ids": "0 padding, 1 start, 2 out of vocabulary, word rank + 3"}}
    return Plan(model, x, _predict(model, x), "ids", about=about)


def _series_plan(run: Run, fmt: str, model) -> Plan:
    from rnn_recipes.forecast import read_series_meta

    ds = load_dataset(run.config)
    meta = read_series_meta(run.path)
    x = ds.x_test[:VERIFY_MAX]
    expected = _predict(model, x)
    about = {"labels": None, "features": meta["features"], "targets": meta["targets"],
             "time_steps": meta["time_steps"], "horizon": meta["horizon"], "strategy": meta["strategy"]}
    if meta["normalize"] != "standard":
        return Plan(model, x, expected, "values", about=about)
    steps_out = expected.shape[1] // len(meta["targets"])  # horizon (direct) or 1 (recursive)
    in_mean = np.array([meta["mean"][f] for f in meta["features"]], np.float32)
    in_std = np.array([meta["std"][f] for f in meta["features"]], np.float32)
    t_mean = np.tile([meta["mean"][t] for t in meta["targets"]], steps_out).astype(np.float32)
    t_std = np.tile([meta["std"][t] for t in meta["targets"]], steps_out).astype(np.float32)

    def wrap(inner):
        keras = _keras()
        raw = keras.Input(shape=inner.input_shape[1:], dtype="float32", name="values")
        scaled = _affine(1.0 / in_std, -in_mean / in_std, "scale")(raw)
        out = _affine(t_std, t_mean, "unscale")(inner(scaled))
        return keras.Model(raw, out, name=f"{inner.name}_values")

    about["scaling"] = "inside: (x - mean) / std on the way in, y * std + mean on the way out (training part's)"
    about["mean"], about["std"] = meta["mean"], meta["std"]
    raw_x = (x * in_std + in_mean).astype(np.float32)
    return Plan(wrap(model), raw_x, expected * t_std + t_mean, "values", about=about, inner=model, wrap=wrap)


def _affine(scale: np.ndarray, offset: np.ndarray, name: str):
    """A layer computing `x * scale + offset` per last-axis column, its constants held as (frozen) weights.

    Weights, not captured tensors: tf2onnx turns a captured tensor into an extra graph input.
    """
    keras = _keras()

    class Affine(keras.layers.Layer):
        def build(self, input_shape):
            self.scale = self.add_weight(shape=scale.shape, initializer=keras.initializers.Constant(scale),
                                         trainable=False, name="scale")
            self.offset = self.add_weight(shape=offset.shape, initializer=keras.initializers.Constant(offset),
                                          trainable=False, name="offset")

        def call(self, x):
            return x * self.scale + self.offset

    return Affine(name=name)


def _timing_plan(run: Run, fmt: str, model) -> Plan:
    d = run.config.data
    x = load_dataset(run.config).x_test[:VERIFY_MAX].astype(np.float32)
    about = {"labels": [f"gap {g}" for g in range(d.min_gap, d.max_gap + 1)], "time_steps": d.time_steps,
             "classes": "output i: the second spike comes min_gap + i steps after the first"}
    return Plan(model, x, _predict(model, x), "values", about=about)


def _tagged_plan(run: Run, fmt: str, model) -> Plan:
    """Word (and character) ids in, as `TagVocab.encode` makes them; per-token tag probabilities, or a CRF's
    packed output (emissions, mask, transitions) that `tag_metrics.decode` turns into the Viterbi tags.

    Raw strings stay outside the graph in every format: `tagged.tokenize` is a Unicode regular expression
    (Python's `\\w`) that TensorFlow's RE2 reads differently, so the vocabulary and the rules ship in metadata.
    """
    from rnn_recipes.tagged import TOKEN, TagVocab

    vocab = TagVocab.from_run(run.path)
    x = load_dataset(run.config).x_test[:VERIFY_MAX].astype(np.int32)
    k = len(vocab.tags)
    about = {
        "labels": list(vocab.tags),
        "vocabulary": list(vocab.words),
        "characters": list(vocab.chars) or None,
        "scheme": vocab.scheme,
        "tokenizer": {"kind": "rnn_recipes.tagged.tokenize", "pattern": TOKEN.pattern, "lowercase": vocab.lowercase,
                      "seq_length": int(x.shape[1]), "max_word_chars": vocab.max_word_chars,
                      "ids": "words: 0 padding, 1 unknown, 2.. the vocabulary; padded after the sentence"
                             + ("; each step: the word id, then max_word_chars character ids (0 padding, 1 unknown)"
                                if vocab.max_word_chars else "")},
    }
    plan = Plan(model, x, _predict(model, x), "ids", about=about)
    if run.config.model.crf:
        from rnn_recipes.tag_metrics import decode

        if fmt == "saved_model":  # the tags themselves too, as a second signature
            plan.tags_graph = _viterbi_graph(model, k)
            plan.tags_expected = decode(plan.expected, k)[0].astype(np.float32)
        about["decoding"] = {
            "kind": "crf", "width": k * k + 3 * k + 1,
            "layout": f"per token: {k} emission scores, the mask (1 token, 0 padding), start ({k}), end ({k}), "
                      f"transitions ({k}x{k}, from x to, row-major); start, end and transitions repeat at every token",
            "how": f"the tags are the Viterbi path: rnn_recipes.tag_metrics.decode(output, {k})",
        }
        if fmt == "saved_model":
            about["decoding"]["how"] += "; or the SavedModel's serve_tags signature: the same ids in, tag ids (N, T) out"
    else:
        about["decoding"] = {"kind": "argmax", "how": "each token's tag is the argmax of its probabilities"}
    return plan


def _viterbi_graph(model, k: int) -> Callable:
    """Ids -> the CRF model's Viterbi tag ids (N, T) int32, 0 at padding, in TensorFlow ops.

    `tag_metrics.viterbi` step for step, in float64 as it is, unrolled over the
    model's fixed T, so the two agree to the tie.
    """
    import tensorflow as tf

    steps = int(model.input_shape[1])

    def tags(x):
        out = tf.cast(model(x, training=False), tf.float64)
        emissions, mask = out[..., :k], out[..., k] > 0.5
        start, end = out[0, 0, k + 1 : 2 * k + 1], out[0, 0, 2 * k + 1 : 3 * k + 1]
        transitions = tf.reshape(out[0, 0, 3 * k + 1 :], (k, k))
        score = start[None, :] + emissions[:, 0]
        keep = tf.broadcast_to(tf.range(k, dtype=tf.int64)[None, :], tf.shape(score))
        back = []
        for t in range(1, steps):
            candidates = score[:, :, None] + transitions[None]  # (N, from, to)
            on = mask[:, t][:, None]
            score = tf.where(on, tf.reduce_max(candidates, axis=1) + emissions[:, t], score)
            back.append(tf.where(on, tf.argmax(candidates, axis=1), keep))  # a padded step hands each tag on
        path = [tf.argmax(score + end[None, :], axis=1)]
        for t in range(steps - 1, 0, -1):
            path.append(tf.gather(back[t - 1], path[-1], batch_dims=1))
        return tf.cast(tf.where(mask, tf.stack(path[::-1], axis=1), 0), tf.int32)

    return tags


PLANS = {"labelled_text": _labelled_plan, "text": _text_plan, "imdb": _imdb_plan, "sine": _series_plan,
         "series": _series_plan, "timing": _timing_plan, "tagged": _tagged_plan}


# --- writing each format ------------------------------------------------------------------


def _signature(model):
    import tensorflow as tf

    return tf.TensorSpec((None, *model.input_shape[1:]), model.inputs[0].dtype, name="inputs")


def portable(model):
    """`model` with its recurrent layers set to Keras' generic kernels, not cuDNN's (in place; returned).

    The same function everywhere; a graph traced on a GPU would otherwise hold
    cuDNN's kernel, which runs on no CPU, phone or ONNX runtime.
    """
    stack = [model]
    while stack:
        layer = stack.pop()
        if hasattr(layer, "use_cudnn"):
            layer.use_cudnn = False
        stack.extend(getattr(layer, "layers", None) or [])  # a model's layers, nested models included
        stack.extend(w for w in (getattr(layer, "forward_layer", None), getattr(layer, "backward_layer", None)) if w)
    return model


def _unrolled(model):
    """A copy of `model` whose recurrent layers run unrolled: the same function, without a While loop."""
    keras = _keras()

    def unroll(obj):
        if isinstance(obj, dict):
            return {k: (True if k == "unroll" else unroll(v)) for k, v in obj.items()}
        if isinstance(obj, list):
            return [unroll(v) for v in obj]
        return obj

    copy = keras.Model.from_config(unroll(model.get_config()))
    copy.set_weights(model.get_weights())
    return copy


def _write_saved_model(plan: Plan, path: Path) -> None:
    import tensorflow as tf

    keras = _keras()
    archive = keras.export.ExportArchive()
    archive.track(plan.model)
    if plan.text_graph is not None:
        fn, resources = plan.text_graph
        for resource in resources:
            archive.track(resource)
        archive.add_endpoint("serve", fn, input_signature=[tf.TensorSpec((None,), tf.string, name="texts")])
        archive.add_endpoint("serve_ids", lambda x: plan.model(x, training=False), input_signature=[_signature(plan.model)])
    else:
        archive.add_endpoint("serve", lambda x: plan.model(x, training=False), input_signature=[_signature(plan.model)])
    if plan.tags_graph is not None:
        archive.add_endpoint("serve_tags", plan.tags_graph, input_signature=[_signature(plan.model)])
    archive.write_out(str(path), verbose=False)


def _write_litert(plan: Plan, path: Path) -> None:
    import tensorflow as tf

    model = plan.unrolled()
    diff = _max_diff(_predict(model, plan.x), plan.expected, "unrolled")
    if not diff <= bound(plan):  # seen with masked bidirectional taggers: refuse here, not after converting
        raise ValueError(f"its recurrent layers must run unrolled without the Flex delegate, and Keras' unrolled copy "
                         f"of them differs from the model by {diff:.3g} on the test split; use saved_model or onnx")
    model.export(str(path), format="litert", verbose=False, input_signature=[_signature(plan.model)],
                 target_spec={"supported_ops": [tf.lite.OpsSet.TFLITE_BUILTINS]})


def _write_onnx(plan: Plan, path: Path) -> None:
    import warnings

    with warnings.catch_warnings():  # tf2onnx's NumPy 2 shim warns about np.object on every import
        warnings.simplefilter("ignore", FutureWarning)
        plan.model.export(str(path), format="onnx", verbose=False, input_signature=[_signature(plan.model)])


@contextmanager
def _quiet_tensorflow():
    """TensorFlow's saver, its retracing notes and the converters log warnings that are not the user's concern."""
    import tensorflow as tf

    loggers = [tf.get_logger(), logging.getLogger("tf2onnx"), logging.getLogger("absl")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.ERROR)
    try:
        yield
    finally:
        for lg, level in zip(loggers, levels):
            lg.setLevel(level)


WRITERS = {"saved_model": _write_saved_model, "litert": _write_litert, "onnx": _write_onnx}


# --- reading each format back with its own runtime ----------------------------------------


def _run_saved_model(path: Path, plan: Plan) -> dict[str, np.ndarray]:
    import tensorflow as tf

    loaded = tf.saved_model.load(str(path))
    if plan.text_graph is None:
        found = {"serve": np.asarray(loaded.serve(tf.constant(plan.x)))}
        if plan.tags_graph is not None:
            found["serve_tags"] = np.asarray(loaded.serve_tags(tf.constant(plan.x)))
        return found
    return {"serve": np.asarray(loaded.serve(tf.constant(plan.texts, tf.string))),
            "serve_ids": np.asarray(loaded.serve_ids(tf.constant(plan.x)))}


def _run_litert(path: Path, plan: Plan) -> dict[str, np.ndarray]:
    from ai_edge_litert.interpreter import Interpreter

    runner = Interpreter(model_path=str(path)).get_signature_runner()
    name = next(iter(runner.get_input_details()))
    out = runner(**{name: plan.x})
    return {"serve": np.asarray(next(iter(out.values())))}


def _run_onnx(path: Path, plan: Plan) -> dict[str, np.ndarray]:
    import onnxruntime

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return {"serve": np.asarray(session.run(None, {session.get_inputs()[0].name: plan.x})[0])}


RUNNERS = {"saved_model": _run_saved_model, "litert": _run_litert, "onnx": _run_onnx}


def output_name(path: Path, fmt: str) -> str:
    """The output's name as the format's runtime reports it (a SavedModel's `serving_default` signature names it)."""
    if fmt == "onnx":
        import onnxruntime

        return onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"]).get_outputs()[0].name
    if fmt == "litert":
        from ai_edge_litert.interpreter import Interpreter

        return next(iter(Interpreter(model_path=str(path)).get_signature_list().values()))["outputs"][0]
    return "output_0"


def _max_diff(found: np.ndarray, expected: np.ndarray, what: str) -> float:
    found = np.asarray(found, np.float32)
    if found.shape != expected.shape:
        raise ExportError(f"the {what} output has shape {found.shape}; the Keras model's is {expected.shape}")
    return float(np.max(np.abs(found - expected))) if expected.size else 0.0


def bound(plan: Plan) -> float:
    """The largest difference an export may show: `TOLERANCE`, times the outputs' scale when it passes 1
    (a forecast in the hundreds carries float32 rounding of ~1e-5)."""
    return TOLERANCE * max(1.0, float(np.max(np.abs(plan.expected))) if plan.expected.size else 1.0)


def verify(path: Path, fmt: str, plan: Plan) -> float:
    """Reload an export with its runtime, run it on the plan's test inputs; the max abs difference from Keras."""
    found = RUNNERS[fmt](path, plan)
    diffs = [_max_diff(found["serve"], plan.text_expected if plan.texts is not None else plan.expected, f"{fmt} serve")]
    if "serve_ids" in found:
        diffs.append(_max_diff(found["serve_ids"], plan.expected, f"{fmt} serve_ids"))
    if "serve_tags" in found:  # tag ids: any difference is a whole tag
        diffs.append(_max_diff(found["serve_tags"], plan.tags_expected, f"{fmt} serve_tags"))
    return max(diffs)


# --- the export directory -----------------------------------------------------------------


def _versions() -> dict:
    found = {"python": platform.python_version()}
    for name in VERSIONS:
        try:
            found[name] = importlib_metadata.version(name)
        except importlib_metadata.PackageNotFoundError:
            continue
    return found


def _inputs(fmt: str, plan: Plan) -> list[dict]:
    numeric = {"name": "inputs", "dtype": str(plan.x.dtype), "shape": [None, *plan.x.shape[1:]],
               "meaning": "token ids" if plan.reads == "ids" else "raw values, time steps x features"}
    if plan.tags_graph is not None:
        return [{"signature": "serve", **numeric}, {"signature": "serve_tags", **numeric}]
    if plan.text_graph is not None:
        return [{"signature": "serve", "name": "texts", "dtype": "string", "shape": [None], "meaning": "raw text"},
                {"signature": "serve_ids", **numeric}]
    return [{"signature": "serve", **numeric}]


def _metadata(run: Run, fmt: str, plan: Plan, diff: float, seconds: float, limit: float, output: str) -> dict:
    task = tasks.get(task_name(run.config))
    return {
        "format": fmt,
        "file": MODEL_FILE[fmt],
        "run": str(run.path.resolve()),
        "config": run.config.name,
        "data_kind": run.config.data.kind,
        "task": task.name,
        "inputs": _inputs(fmt, plan),
        "outputs": [{"name": output, "dtype": "float32", "shape": [None, *plan.expected.shape[1:]],
                     "meaning": task.summary}]
        + ([{"signature": "serve_tags", "name": output, "dtype": "int32", "shape": [None, *plan.tags_expected.shape[1:]],
             "meaning": "the CRF's Viterbi tag ids, 0 at padding"}] if plan.tags_graph is not None else []),
        **plan.about,
        "verification": {"runtime": RUNTIME[fmt], "examples": int(len(plan.x)), "split": "test",
                         "max_abs_diff": diff, "bound": limit},
        "export_seconds": round(seconds, 3),
        "versions": _versions(),
    }


def _readme(meta: dict) -> str:
    lines = [
        f"# {meta['config']}: {meta['format']} export",
        "",
        f"From the run `{meta['run']}` ({meta['data_kind']} data, task `{meta['task']}`).",
        f"Verified when written: {meta['verification']['runtime']} on {meta['verification']['examples']} test "
        f"examples, max abs difference from the Keras model {meta['verification']['max_abs_diff']:.3g} "
        f"(bound {meta['verification']['bound']:.3g}).",
        "",
        "## Inputs",
        "",
        *(f"- `{i.get('signature', 'serve')}`: `{i['name']}` {i['dtype']} {i['shape']}: {i['meaning']}" for i in meta["inputs"]),
        "",
        "## Outputs",
        "",
        *(f"- `{o['name']}` {o['dtype']} {o['shape']}: {o['meaning']}" for o in meta["outputs"]),
        "",
    ]
    if meta.get("labels"):
        shown = ", ".join(map(repr, meta["labels"][:20])) + (" ..." if len(meta["labels"]) > 20 else "")
        lines += [f"Output index -> label: {shown} (all in `{METADATA}`).", ""]
    if meta.get("tokenizer") and meta["inputs"][0]["dtype"] != "string":
        lines += ["Text is not read by this file: turn it into ids as `tokenizer` and `vocabulary` in "
                  f"`{METADATA}` say (the SavedModel export reads raw strings).", ""]
    lines += ["Versions: " + ", ".join(f"{k} {v}" for k, v in meta["versions"].items()), ""]
    return "\n".join(lines)


def default_out(run_dir: Path, fmt: str) -> Path:
    """Where an export goes unless told: `RUN-export/FORMAT`, beside the run, whose own files stay as its manifest lists."""
    run_dir = Path(run_dir).resolve()
    return run_dir.parent / f"{run_dir.name}-export" / fmt


def export_run(run_dir: Path | str, fmt: str, out: Path | str | None = None,
               log: Callable[[str], None] = lambda line: None) -> ExportResult:
    """Export a finished run in `fmt`, verify it with its own runtime, and write it with its metadata.

    Args:
        run_dir: a run directory written by `rnn train`.
        fmt: one of `FORMATS`.
        out: the export directory (default `RUN-export/FORMAT`); an existing export there is replaced.
        log: receives one line per step.

    Raises:
        ExportError: an unknown format, an `out` that is not an export, a model the format cannot hold,
            or an export whose predictions differ from the Keras model's by more than `TOLERANCE`.
    """
    if fmt not in FORMATS:
        raise ExportError(f"unknown export format {fmt!r}; expected one of: {', '.join(FORMATS)}")
    run = load_run(Path(run_dir))
    kind = run.config.data.kind
    if kind not in PLANS:
        raise ExportError(f"{run.path} is a {kind} run, which rnn export does not handle yet; "
                          f"it exports {', '.join(PLANS)} runs")
    out = Path(out) if out is not None else default_out(run.path, fmt)
    if out.exists() and not (out.is_dir() and (out / METADATA).is_file()):
        raise ExportError(f"{out} exists and is not an export (no {METADATA}); give another --out")
    with _quiet_tensorflow():
        plan = PLANS[kind](run, fmt, portable(run.load_model()))
    if len(plan.x) == 0:
        raise ExportError(f"{run.path} has no test examples to check an export on; nothing was written")
    start = time.perf_counter()
    made_parent = not out.parent.exists()
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}-", dir=out.parent))
    try:
        target = staging / MODEL_FILE[fmt]
        try:
            with _quiet_tensorflow():
                WRITERS[fmt](plan, target)
        except Exception as exc:  # a converter's refusal: one line saying why
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ExportError(f"{fmt} cannot hold this {run.config.data.kind} model: {reason[:300]}") from None
        written = time.perf_counter() - start
        log(f"wrote {fmt} in {written:.1f} s; checking it on {len(plan.x)} test examples")
        try:
            with _quiet_tensorflow():
                diff, limit = verify(target, fmt, plan), bound(plan)
        except ExportError:
            raise
        except Exception as exc:  # the runtime refuses what the converter wrote
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ExportError(f"the {fmt} export does not run in {RUNTIME[fmt]}: {reason[:300]}") from None
        if not diff <= limit:
            raise ExportError(f"the {fmt} export differs from the Keras model by {diff:.3g} on the test split "
                              f"(bound {limit:.3g}); nothing was written")
        meta = _metadata(run, fmt, plan, diff, written, limit, output_name(target, fmt))
        (staging / METADATA).write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
        (staging / README).write_text(_readme(meta), encoding="utf-8")
        if out.exists():
            shutil.rmtree(out)
        staging.rename(out)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
        if made_parent and not out.exists() and not any(out.parent.iterdir()):
            out.parent.rmdir()  # a refused export leaves no empty RUN-export folder either
    log(f"{fmt}: max abs difference from the Keras model {diff:.3g} on {len(plan.x)} test examples (bound {limit:.3g})")
    return ExportResult(out, fmt, len(plan.x), diff, written, meta)
