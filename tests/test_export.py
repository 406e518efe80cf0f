"""`rnn export`: every task kind in every format, reloaded with its own runtime, answers as the Keras model does."""

from __future__ import annotations

import json

import numpy as np
import pytest

from rnn_recipes.errors import UserError

# one tiny run per task kind: multiclass labelled text, next-token text, binary IMDB ids, series regression
KINDS = {"reviews_lstm": "multiclass", "text_char_lstm": "next_token", "imdb_embedding_lstm": "binary",
         "series_sunspots_gru": "regression"}
FORMATS = ("saved_model", "onnx", "litert")


@pytest.fixture(scope="module")
def exports(tiny_runs, tmp_path_factory):
    """Exports written once per (run, format), shared by the tests that read them."""
    from rnn_recipes.export import export_run

    root, made = tmp_path_factory.mktemp("exports"), {}

    def get(name: str, fmt: str):
        if (name, fmt) not in made:
            made[name, fmt] = export_run(tiny_runs[name], fmt, root / name / fmt)
        return made[name, fmt]

    return get


def _test_inputs(run_dir):
    """The run's first test examples as the Keras model reads them, and the model's outputs."""
    from rnn_recipes.data import load_dataset
    from rnn_recipes.runs import load_run

    run = load_run(run_dir)
    x = load_dataset(run.config).x_test[:16]
    return run, x, run.load_model().predict(x, verbose=0)


def _run_export(fmt: str, path, x: np.ndarray, signature: str) -> np.ndarray:
    """Call an export with its own runtime, as a user of that runtime would."""
    if fmt == "saved_model":
        import tensorflow as tf

        loaded = tf.saved_model.load(str(path))  # held: its functions need the object alive
        return getattr(loaded, signature)(tf.constant(x)).numpy()
    if fmt == "onnx":
        import onnxruntime

        session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        return session.run(None, {session.get_inputs()[0].name: x})[0]
    from ai_edge_litert.interpreter import Interpreter

    runner = Interpreter(model_path=str(path)).get_signature_runner()
    return next(iter(runner(**{next(iter(runner.get_input_details())): x}).values()))


@pytest.mark.slow
@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("name", list(KINDS))
def test_every_task_kind_exports_in_every_format_with_the_keras_models_predictions(exports, tiny_runs, name, fmt):
    result = exports(name, fmt)
    meta = json.loads((result.path / "metadata.json").read_text())
    assert meta["task"] == KINDS[name] and meta["format"] == fmt and meta["run"] == str(tiny_runs[name].resolve())
    assert meta["verification"]["examples"] == result.examples > 0
    assert meta["verification"]["max_abs_diff"] == result.max_abs_diff <= meta["verification"]["bound"]
    assert {"tensorflow", "keras"} <= set(meta["versions"]) and (result.path / "README.md").is_file()
    assert meta["inputs"][-1]["name"] == "inputs" and meta["outputs"][0]["name"] in ("output_0", "Identity:0")
    run, x, expected = _test_inputs(tiny_runs[name])
    if name == "series_sunspots_gru":  # the export reads raw values and answers in the CSV's units
        from rnn_recipes.forecast import read_series_meta

        series = read_series_meta(run.path)
        mean, std = series["mean"]["SUNACTIVITY"], series["std"]["SUNACTIVITY"]
        x, expected = x * std + mean, expected * std + mean
        assert meta["mean"] == series["mean"] and meta["inputs"][0]["meaning"].startswith("raw values")
    numeric = meta["inputs"][-1]  # text runs' SavedModel: `serve` reads strings, `serve_ids` ids
    found = _run_export(fmt, result.path / meta["file"], x.astype(numeric["dtype"]), numeric["signature"])
    assert found.shape == expected.shape
    assert np.max(np.abs(found - expected)) <= 1e-4 * max(1.0, np.max(np.abs(expected)))


@pytest.mark.slow
def test_a_saved_model_of_labelled_text_reads_raw_strings_as_rnn_predict_does(exports, tiny_runs):
    import tensorflow as tf

    from rnn_recipes.predict import predict_run

    texts = ["Great boots, still going strong after two winters.", "Fell apart in a week; avoid.", "ok"]
    meta = json.loads((exports("reviews_lstm", "saved_model").path / "metadata.json").read_text())
    loaded = tf.saved_model.load(str(exports("reviews_lstm", "saved_model").path / "saved_model"))
    probs = loaded.serve(tf.constant(texts)).numpy()
    for row, result in zip(probs, predict_run(tiny_runs["reviews_lstm"], texts=texts, detail=True)):
        assert meta["labels"][int(row.argmax())] == result["label"]
        assert float(row.max()) == pytest.approx(result["probability"], abs=1e-5)
    assert meta["inputs"][0] == {"signature": "serve", "name": "texts", "dtype": "string", "shape": [None], "meaning": "raw text"}


@pytest.mark.slow
def test_a_saved_model_of_a_text_run_tokenizes_strings_and_refuses_unknown_characters(exports, tiny_runs):
    import tensorflow as tf

    from rnn_recipes.predict import predict_run

    run = tiny_runs["text_char_lstm"]
    vocab = json.loads((run / "vocab.json").read_text())["tokens"]
    text = "".join(vocab[(7 * i) % len(vocab)] for i in range(30))  # longer than seq_length: the last 20 are read
    loaded = tf.saved_model.load(str(exports("text_char_lstm", "saved_model").path / "saved_model"))
    row = loaded.serve(tf.constant([text])).numpy()[0]
    row = row[-1] if row.ndim == 2 else row  # a many-to-many run answers at every step; the last is the next token
    top = next(predict_run(run, texts=[text], top_k=3))["top"]
    assert [vocab[i] for i in np.argsort(-row)[:3]] == [t["token"] for t in top]
    assert float(np.sort(row)[-1]) == pytest.approx(top[0]["probability"], abs=1e-5)
    with pytest.raises(tf.errors.InvalidArgumentError, match="outside the vocabulary of the run"):
        loaded.serve(tf.constant(["\u2603" * 30]))
    with pytest.raises(tf.errors.InvalidArgumentError, match="shorter than the 20 tokens the run reads"):
        loaded.serve(tf.constant([text[:5]]))


@pytest.mark.slow
def test_an_export_that_does_not_match_leaves_nothing_behind(tiny_runs, tmp_path, monkeypatch):
    import importlib

    export = importlib.import_module("rnn_recipes.export")  # `rnn_recipes.export` is the API function
    monkeypatch.setattr(export, "TOLERANCE", -1.0)  # no export can pass: the refusal path, end to end
    with pytest.raises(export.ExportError, match=r"differs from the Keras model by .* nothing was written"):
        export.export_run(tiny_runs["sine_simple_rnn"], "onnx", tmp_path / "sine")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow
def test_a_model_the_converter_cannot_hold_is_refused_with_its_reason(tiny_runs, tmp_path, monkeypatch):
    import importlib

    export = importlib.import_module("rnn_recipes.export")

    def refuse(plan, path):
        path.write_bytes(b"half")  # a converter that fails half way
        raise ValueError("Some ops are not supported by the native TFLite runtime: FlexTensorListReserve\nmore detail")

    monkeypatch.setitem(export.WRITERS, "litert", refuse)
    with pytest.raises(export.ExportError) as info:
        export.export_run(tiny_runs["sine_simple_rnn"], "litert", tmp_path / "sine")
    assert str(info.value) == ("litert cannot hold this sine model: Some ops are not supported by the native TFLite "
                               "runtime: FlexTensorListReserve")
    assert list(tmp_path.iterdir()) == []

    def crash(path, plan):
        raise RuntimeError("Select TensorFlow op(s) are not supported by this interpreter")

    monkeypatch.setitem(export.RUNNERS, "onnx", crash)
    with pytest.raises(export.ExportError, match="the onnx export does not run in onnxruntime.InferenceSession: Select"):
        export.export_run(tiny_runs["sine_simple_rnn"], "onnx", tmp_path / "new" / "onnx")
    assert list(tmp_path.iterdir()) == []  # not even the folder made for it


@pytest.mark.slow
def test_rnn_export_prints_the_directory_and_refuses_bad_requests(cli, tiny_runs, tmp_path):
    run = tiny_runs["sine_simple_rnn"]
    result = cli("export", run, "--format", "onnx", "--out", tmp_path / "sine")
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == str(tmp_path / "sine") and (tmp_path / "sine" / "model.onnx").is_file()
    assert "max abs difference from the Keras model" in result.output
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "notes.txt").write_text("mine")
    refused = cli("export", run, "--out", tmp_path / "busy")
    assert refused.exit_code == 2 and "is not an export (no metadata.json)" in refused.output
    assert (tmp_path / "busy" / "notes.txt").read_text() == "mine"
    bad = cli("export", run, "--format", "coreml")
    assert bad.exit_code == 2 and "coreml" in bad.output


def test_an_unknown_format_is_refused_before_anything_is_read(tmp_path):
    from rnn_recipes.export import ExportError, export_run

    with pytest.raises(ExportError, match="unknown export format 'tflite'; expected one of: saved_model, litert, onnx"):
        export_run(tmp_path, "tflite")
    assert issubclass(ExportError, UserError)


def test_an_export_traces_the_generic_recurrent_kernels_not_cudnns():
    from rnn_recipes.backend import import_keras
    from rnn_recipes.export import portable

    keras = import_keras()
    inner = keras.Sequential([keras.Input((5, 2)), keras.layers.Bidirectional(keras.layers.GRU(3, return_sequences=True)),
                              keras.layers.LSTM(3)])
    outer = keras.Sequential([keras.Input((5, 2)), inner, keras.layers.Dense(1)])
    cells = lambda: [inner.layers[0].forward_layer, inner.layers[0].backward_layer, inner.layers[1]]  # noqa: E731
    assert [c.use_cudnn for c in cells()] == ["auto"] * 3
    assert portable(outer) is outer and [c.use_cudnn for c in cells()] == [False] * 3


# --- the newer kinds: timing (values in, a class out), tagged (ids in, a tag per token), the peephole cell ---


@pytest.fixture(scope="module")
def newer_runs(tiny_runs, tmp_path_factory):
    """The tiny timing run with the peephole cell, and the tiny tagger with characters and a CRF: trained once."""
    from conftest import TINY

    from rnn_recipes.config_load import load_config
    from rnn_recipes.train import train

    root, made = tmp_path_factory.mktemp("newer"), {}

    def get(name: str):
        if name not in made:
            if name == "timing_peephole":
                cfg = load_config(TINY / "timing_lstm.yaml", ["model.cell=peephole_lstm", "train.epochs=2"])
            else:  # ner_chars_crf
                cfg = load_config(TINY / "ner_bilstm.yaml", ["data.chars=true", "data.max_word_chars=6",
                                                               "model.crf=true", "train.epochs=2"])
            made[name] = train(cfg, root / name, verbose=0)
        return made[name]

    return get


@pytest.mark.slow
@pytest.mark.parametrize("fmt", FORMATS)
def test_a_peephole_timing_run_exports_raw_values_in_and_class_probabilities_out(newer_runs, tmp_path, fmt):
    from rnn_recipes.export import export_run

    run = newer_runs("timing_peephole")
    result = export_run(run, fmt, tmp_path / fmt)
    meta = result.metadata
    assert meta["task"] == "multiclass" and meta["data_kind"] == "timing" and meta["labels"] == [f"gap {g}" for g in range(3, 7)]
    assert meta["inputs"][0]["meaning"].startswith("raw values") and meta["inputs"][0]["shape"] == [None, 16, 1]
    _, x, expected = _test_inputs(run)
    found = _run_export(fmt, result.path / meta["file"], x.astype(np.float32), "serve")
    assert found.shape == expected.shape == (16, 4)
    assert np.max(np.abs(found - expected)) <= 1e-4


@pytest.mark.slow
@pytest.mark.parametrize("fmt", FORMATS)
def test_a_tagger_exports_ids_in_and_a_tag_per_token_out_crf_decoded_as_rnn_predict_does(newer_runs, tiny_runs, tmp_path, fmt):
    from rnn_recipes.export import ExportError, export_run
    from rnn_recipes.predict import predict_run
    from rnn_recipes.tag_metrics import decode
    from rnn_recipes.tagged import TagVocab, tokenize

    for name, run in (("ner_bilstm", tiny_runs["ner_bilstm"]), ("ner_chars_crf", newer_runs("ner_chars_crf"))):
        try:
            result = export_run(run, fmt, tmp_path / name / fmt)
        except ExportError as exc:  # a format that cannot hold the tagger says why, in one line, and writes nothing
            assert str(exc).startswith(f"{fmt} cannot hold this tagged model") and "\n" not in str(exc)
            assert not (tmp_path / name / fmt).exists()
            continue
        meta = result.metadata
        vocab = TagVocab.from_run(run)
        assert meta["task"] == "tagging" and meta["labels"] == list(vocab.tags) and meta["vocabulary"] == list(vocab.words)
        assert meta["decoding"]["kind"] == ("crf" if name == "ner_chars_crf" else "argmax")
        text = "Peter Blackburn visited the European Commission in Brussels ."
        tokens = [t for t, _, _ in tokenize(text)]
        x = vocab.encode([tokens], meta["tokenizer"]["seq_length"])
        out = _run_export(fmt, result.path / meta["file"], x.astype(np.int32), "serve")
        ids, _ = decode(out, len(vocab.tags))
        expected = next(predict_run(run, texts=[text]))
        assert [vocab.tags[i] for i in ids[0, : len(tokens)]] == [t["tag"] for t in expected["tokens"]]
        if fmt == "saved_model" and name == "ner_chars_crf":  # the Viterbi path inside the graph, too
            assert [i["signature"] for i in meta["inputs"]] == ["serve", "serve_tags"]
            tags = _run_export(fmt, result.path / meta["file"], x.astype(np.int32), "serve_tags")
            assert tags.dtype == np.int32 and (tags == ids).all()
