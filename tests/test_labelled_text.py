"""Labelled text end to end: the config kind, the vectorizer inside the saved model, `rnn predict`."""

from __future__ import annotations

import io

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from conftest import CONFIGS, TINY
from rnn_recipes.config_load import load_config
from rnn_recipes.errors import ConfigError

REVIEWS_TINY = TINY / "data" / "reviews_tiny.csv"


def tiny_cfg(*overrides: str):
    return load_config(TINY / "reviews_lstm.yaml", list(overrides))


# --- config -------------------------------------------------------------------


def test_labelled_text_config_resolves_paths_beside_the_file():
    cfg = tiny_cfg()
    assert cfg.data.kind == "labelled_text" and cfg.data.path == str(REVIEWS_TINY.resolve())
    assert cfg.data.level == "word" and cfg.data.truncating == "post" and cfg.data.class_weights == "none"


@pytest.mark.parametrize(
    "override, message",
    [
        ("data.train_path=x.csv", "not both"),
        ("data.val_path=x.csv", "go with data.train_path"),
        ("data.truncating=pre", "truncating"),
        ("data.class_weights=auto", "class_weights"),
        ("data.level=byte", "level"),
        ("data.val_fraction=0.6", "leave some texts"),
    ],
)
def test_bad_labelled_text_settings_are_refused(override, message):
    with pytest.raises(ConfigError, match=message):
        tiny_cfg(override, *(["data.test_fraction=0.5"] if "val_fraction" in override else []))


def test_labelled_text_loads_as_multiclass_ids_from_a_training_only_vocabulary():
    from rnn_recipes.data import load_dataset

    cfg = tiny_cfg()
    ds = load_dataset(cfg)
    assert ds.spec.task == "multiclass" and ds.spec.num_classes == 3
    assert ds.extra["class_names"] == ["negative", "neutral", "positive"]
    assert ds.x_train.shape[1] == 24 and ds.x_train.dtype == np.int32
    assert ds.extra["vocabulary"][:2] == ["", "[UNK]"] and ds.spec.vocab_size == len(ds.extra["vocabulary"])
    assert len(ds.x_train) + len(ds.x_val) + len(ds.x_test) == 120
    # the saved vocabulary rebuilds the very ids training read
    from rnn_recipes.labelled_text import read_labelled
    from rnn_recipes.vectorizer import make_vectorizer, vectorize

    texts = read_labelled(cfg.data, cfg.seed).train.texts
    assert (vectorize(make_vectorizer(cfg.data, ds.extra["vocabulary"]), texts) == ds.x_train).all()


@pytest.mark.parametrize("encoding", ["integer", "onehot", "embedding"])
@pytest.mark.parametrize("cell", ["simple_rnn", "lstm", "gru"])
def test_every_cell_and_encoding_builds_on_labelled_text_and_reads_strings(tmp_path, encoding, cell):
    from rnn_recipes.data import load_dataset
    from rnn_recipes.model import build_model
    from rnn_recipes.safeload import load_model_file
    from rnn_recipes.vectorizer import INFERENCE_MODEL, make_vectorizer, save_run_files, vectorize

    own_dim = [] if encoding == "embedding" else ["encoding.dim=32"]  # only an embedding takes the tiny config's dim
    cfg = tiny_cfg(f"encoding.kind={encoding}", f"encoding.mask_zero={encoding == 'embedding'}", f"model.cell={cell}", *own_dim)
    ds = load_dataset(cfg)
    model = build_model(cfg, ds.spec)
    assert model.output.shape == (None, 3)
    save_run_files(tmp_path, model, cfg.data, ds.extra["vocabulary"], ds.extra["class_names"])
    reader = load_model_file(tmp_path / INFERENCE_MODEL)  # passes the safe-load check, safe_mode=True
    texts = ["Paid full price. The hiking boots broke after a month.", "Love it"]
    ids = vectorize(make_vectorizer(cfg.data, ds.extra["vocabulary"]), texts)
    assert ids.shape == (2, 24)
    got = reader.predict(np.array(texts, dtype=object), verbose=0)
    assert got.shape == (2, 3) and np.allclose(got, model.predict(ids, verbose=0), atol=1e-6)


# --- input readers ----------------------------------------------------------------


def test_input_readers_stream_texts_and_refuse_bad_input_with_the_line(tmp_path):
    from rnn_recipes.predict_input import InputError, texts_from_file, texts_from_lines

    assert list(texts_from_lines([b"\xef\xbb\xbfa\n", b"b\n"], "x")) == ["a", "b"]
    with pytest.raises(InputError, match=r"x: line 2: not UTF-8 \(byte 0xff"):
        list(texts_from_lines([b"ok\n", b"bad \xff\n"], "x"))
    with pytest.raises(InputError, match="x: line 2: empty text"):
        list(texts_from_lines([b"ok\n", b"  \n"], "x"))
    table = tmp_path / "t.csv"
    table.write_text('id,review\n1,"good, really"\n2,bad\n')
    assert list(texts_from_file(table, "review")) == ["good, really", "bad"]
    with pytest.raises(InputError, match=r"line 1: no column 'text'.*'id', 'review'"):
        list(texts_from_file(table, "text"))
    lines = tmp_path / "t.jsonl"
    lines.write_text('{"text": "fine"}\n\n{"body": "x"}\n')
    with pytest.raises(InputError, match="line 3: no key 'text'"):
        list(texts_from_file(lines, "text"))


# --- trained end to end -------------------------------------------------------------


@pytest.mark.slow
def test_tiny_reviews_run_writes_vectorizer_metrics_and_manifest(tiny_runs):
    run = tiny_runs["reviews_lstm"]
    manifest = json.loads((run / "manifest.json").read_text())["files"]
    assert {"model.keras", "inference.keras", "vectorizer.json", "metrics.json"} <= set(manifest)
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["class_names"] == ["negative", "neutral", "positive"]
    for key in ("accuracy", "majority_baseline_accuracy", "bow_baseline_accuracy", "macro_f1"):
        assert 0.0 <= metrics[key] <= 1.0
    report = metrics["classification"]
    assert set(report["per_class"]) == {"negative", "neutral", "positive"}
    assert np.asarray(report["confusion"]).sum() == metrics["examples"]


@pytest.mark.slow
def test_inference_model_classifies_raw_strings_in_plain_keras(tiny_runs, tmp_path):
    """A process that never imports rnn_recipes loads inference.keras and agrees with `rnn predict`."""
    run = tiny_runs["reviews_lstm"]
    texts = ["Paid full price. The hiking boots broke after a month.", "Works great, love it!"]
    script = textwrap.dedent(f"""
        import json, sys
        import numpy as np, keras
        model = keras.models.load_model({str(run / 'inference.keras')!r}, safe_mode=True)
        print(json.dumps(model.predict(np.array({texts!r}, dtype=object), verbose=0).tolist()))
        assert not any(m.startswith("rnn_recipes") for m in sys.modules)
    """)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, cwd=tmp_path, check=True)
    probs = np.array(json.loads(out.stdout.strip().splitlines()[-1]))
    from rnn_recipes.predict import predict_run

    results = list(predict_run(run, texts=texts, detail=True))
    names = json.loads((run / "vectorizer.json").read_text())["class_names"]
    for row, result in zip(probs, results):
        assert result["label"] == names[int(row.argmax())]
        assert np.allclose(row, [result["probabilities"][n] for n in names], atol=1e-5)


@pytest.mark.slow
def test_predict_cli_plain_json_file_stdin_and_refusals(cli, tiny_runs, tmp_path):
    run = tiny_runs["reviews_lstm"]
    result = cli("predict", run, "--text", "Broke after a week.", "--text", "Love it")
    assert result.exit_code == 0, result.output
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 2 and all(line.split("\t")[0] in {"negative", "neutral", "positive"} for line in lines)
    result = cli("predict", run, "--json", "--file", REVIEWS_TINY)
    rows = [json.loads(line) for line in result.stdout.strip().splitlines()]
    assert len(rows) == 120 and set(rows[0]["probabilities"]) == {"negative", "neutral", "positive"}
    from typer.testing import CliRunner

    from rnn_recipes.cli import app

    piped = CliRunner().invoke(app, ["predict", str(run)], input="Broke after a week.\nLove it\n")
    assert piped.stdout.strip().splitlines() == lines
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"fine\nbad \xff byte\n")
    for args, message in [
        (["--file", bad], "line 2: not UTF-8"),
        (["--text", " "], "empty text"),
        (["--file", REVIEWS_TINY, "--column", "body"], "no column 'body'"),
        (["--values", "0.1,0.2"], "predicts from text, not values"),
    ]:
        result = cli("predict", run, *args)
        assert result.exit_code == 2 and message in result.output, result.output
    (run / "vectorizer.json").rename(tmp_path / "v.json")
    try:
        result = cli("predict", run, "--text", "x")
        assert result.exit_code == 2 and "vectorizer.json" in result.output
        assert len(result.output.strip().splitlines()) == 1
    finally:
        (tmp_path / "v.json").rename(run / "vectorizer.json")


# --- IMDB runs read English through Keras' word index -----------------------------

WORD_INDEX = CONFIGS.parent / "tests" / "data" / "imdb_word_index_tiny.json"


def test_imdb_ids_decode_to_text_and_encode_back_to_the_same_ids():
    from rnn_recipes.data import load_dataset
    from rnn_recipes.imdb_text import ImdbTextCodec, read_word_index

    cfg = load_config(TINY / "imdb_embedding_lstm.yaml", ["data.maxlen=100", "data.padding=post", "data.num_words=200"])
    ds = load_dataset(cfg)
    codec = ImdbTextCodec(read_word_index(WORD_INDEX), cfg.data.num_words)
    assert (ds.x_train == 2).any() and (ds.x_train >= 3).any()  # the num_words cut made some OOV
    for row in ds.x_train[:50]:
        ids = row[row != 0].tolist()
        assert codec.encode(codec.decode(ids)) == ids
        assert (codec.pad(ids, 100, "post", "pre") == row).all()


class _Served(io.BytesIO):
    """What urlopen returns, serving fixed bytes; a stand-in so no test touches the network."""

    headers: dict = {}

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def test_the_imdb_word_index_downloads_once_checked_against_keras_md5(monkeypatch, tmp_path):
    import hashlib
    import urllib.error

    import rnn_recipes.fetch as fetch_module
    import rnn_recipes.imdb_text as imdb_text
    from rnn_recipes.errors import DataError

    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    cached = imdb_text.keras_cache_path()

    def offline(url, timeout):
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(fetch_module.urllib.request, "urlopen", offline)
    with pytest.raises(DataError, match="could not be downloaded .*; put it at .* or set data.word_index_path") as info:
        imdb_text.find_word_index(None)
    assert len(str(info.value).splitlines()) == 1 and not cached.exists()

    served = WORD_INDEX.read_bytes()
    monkeypatch.setattr(fetch_module.urllib.request, "urlopen", lambda url, timeout: _Served(b"{}" + served))
    monkeypatch.setattr(imdb_text, "KERAS_MD5", hashlib.md5(served).hexdigest())
    with pytest.raises(DataError, match="md5 mismatch"):  # an altered file is never kept
        imdb_text.find_word_index(None)
    assert not cached.exists()

    calls = []
    monkeypatch.setattr(fetch_module.urllib.request, "urlopen", lambda url, timeout: calls.append(url) or _Served(served))
    assert imdb_text.find_word_index(None) == imdb_text.read_word_index(WORD_INDEX)
    assert calls == [imdb_text.WORD_INDEX_URL] and cached.read_bytes() == served
    imdb_text.find_word_index(None)
    assert len(calls) == 1  # the verified copy is reused, not fetched again

    with pytest.raises(DataError, match="expected a JSON object from word to an integer rank"):
        bad = tmp_path / "w.json"
        bad.write_text('{"a": "1"}')
        imdb_text.find_word_index(str(bad))


@pytest.mark.slow
def test_imdb_run_classifies_english_as_its_training_ids(tiny_runs):
    from types import SimpleNamespace

    from rnn_recipes import tasks
    from rnn_recipes.imdb_text import ImdbTextCodec, read_word_index
    from rnn_recipes.predict import _imdb_predictor, predict_run
    from rnn_recipes.safeload import load_model_file

    run = tiny_runs["imdb_embedding_lstm"]
    cfg = load_config(TINY / "imdb_embedding_lstm.yaml", [f"data.word_index_path={WORD_INDEX}"])
    fake = SimpleNamespace(config=cfg, load_model=lambda: load_model_file(run / "model.keras"))
    predictor = _imdb_predictor(fake, tasks.get("binary"))
    codec = ImdbTextCodec(read_word_index(WORD_INDEX), cfg.data.num_words)
    text = " ".join(codec.decode([i]) for i in range(13, 23))  # the planted positive words
    result = next(predict_run(predictor, texts=[text], detail=True))
    model = load_model_file(run / "model.keras")
    p = float(model.predict(codec.pad(codec.encode(text), 40, "pre", "pre")[None], verbose=0)[0, 0])
    assert result["probabilities"]["positive"] == pytest.approx(p, abs=1e-6)
    assert result["label"] == "positive"


def test_separate_split_files_and_balanced_class_weights(tmp_path):
    from rnn_recipes.config import Config
    from rnn_recipes.data import load_dataset

    train = tmp_path / "train.jsonl"
    train.write_text("".join(json.dumps({"body": f"good thing {i}", "y": "pos"}) + "\n" for i in range(20))
                     + "".join(json.dumps({"body": f"bad thing {i}", "y": "neg"}) + "\n" for i in range(10)))
    test = tmp_path / "test.jsonl"
    test.write_text(json.dumps({"body": "good", "y": "pos"}) + "\n" + json.dumps({"body": "awful", "y": "neg"}) + "\n")
    cfg = Config.model_validate({"data": {
        "kind": "labelled_text", "train_path": str(train), "test_path": str(test),
        "text_column": "body", "label_column": "y", "seq_length": 4, "class_weights": "balanced"}})
    ds = load_dataset(cfg)
    assert ds.extra["class_names"] == ["neg", "pos"] and len(ds.x_train) == 30 and len(ds.x_test) == 2
    assert not ds.has_val
    assert ds.extra["class_weight"] == {0: 30 / (2 * 10), 1: 30 / (2 * 20)}
    assert ds.x_test[1].tolist() == [1, 0, 0, 0]  # "awful" never occurs in training: [UNK], then padding


@pytest.mark.slow
def test_evaluate_scores_a_classifier_on_another_labelled_file(cli, tiny_runs, tmp_path):
    run = tiny_runs["reviews_lstm"]
    result = cli("evaluate", run, "--data", REVIEWS_TINY, "--plot", tmp_path / "cm.png")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["examples"] == 120 and np.asarray(report["confusion"]).sum() == 120
    assert set(report["per_class"]) == {"negative", "neutral", "positive"}
    assert (tmp_path / "cm.png").stat().st_size > 1000
    other = tmp_path / "other.csv"
    other.write_text("text,label\nfine,neutral\nodd,surprised\n")
    bad = cli("evaluate", run, "--data", other)
    assert bad.exit_code == 2 and "line 3: label 'surprised' is not one the run was trained on" in bad.output
    sine = cli("evaluate", tiny_runs["sine_simple_rnn"], "--data", other)
    assert sine.exit_code == 2 and "--data scores labelled_text runs" in sine.output
