"""Sequence labelling: the CoNLL reader, entity metrics (held to seqeval), the CRF (held to brute force), tiny runs."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys

import numpy as np
import pytest

from conftest import CONFIGS, TINY
from rnn_recipes import tag_metrics as tm
from rnn_recipes.config_data import TaggedData
from rnn_recipes.config_load import load_config
from rnn_recipes.errors import DataError
from rnn_recipes.tagged import TagVocab, parse_conll, read_conll, split_indices, tokenize

GOOD = "-DOCSTART- -X- O\n\nEU B-ORG\nrejects O\nGerman B-MISC\ncall O\n\nPeter B-PER\nBlackburn I-PER\n\n"


def data(**kw) -> TaggedData:
    return TaggedData(path="x.conll", **kw)


def test_conll_sentences_skip_docstart_and_keep_their_first_line():
    found = parse_conll(GOOD, "f.conll", data())
    assert [s.tokens for s in found] == [("EU", "rejects", "German", "call"), ("Peter", "Blackburn")]
    assert [s.tags for s in found][1] == ("B-PER", "I-PER")
    assert [s.where for s in found] == ["f.conll: line 3", "f.conll: line 8"]


def test_columns_are_configurable():
    text = "EU NNP B-NP B-ORG\nrejects VBZ B-VP O\n"
    assert parse_conll(text, "f", data(tag_column=1, scheme="none"))[0].tags == ("NNP", "VBZ")  # parts of speech
    assert parse_conll(text, "f", data())[0].tags == ("B-ORG", "O")


@pytest.mark.parametrize("text, d, expected", [
    ("EU B-ORG\nrejects\n", data(), "f.conll: line 2: 1 column ('rejects'); expected a token and its tag"),
    ("EU B-ORG\ncall E-ORG\n", data(), "f.conll: line 2: tag 'E-ORG' does not fit data.scheme IOB2; expected O, or B-TYPE / I-TYPE"),
    ("EU ORG\n", data(scheme="IOBES"), "line 1: tag 'ORG' does not fit data.scheme IOBES; expected O, or B-TYPE / I-TYPE / E-TYPE / S-TYPE"),
    ("\n\na O\nb O\nc O\n", data(max_length=2), "f.conll: line 3: a sentence of 3 tokens, over data.max_length (2)"),
])
def test_a_bad_line_is_refused_with_its_line_number(text, d, expected):
    with pytest.raises(DataError) as err:
        parse_conll(text, "f.conll", d)
    assert expected in str(err.value) and "\n" not in str(err.value)


def test_a_file_that_is_not_utf8_is_refused_with_its_line(tmp_path):
    path = tmp_path / "bad.conll"
    path.write_bytes(b"EU B-ORG\n\nM\xfcller B-PER\n")
    with pytest.raises(DataError, match=r"bad.conll: line 3: not UTF-8 \(byte 0xfc\)"):
        read_conll(path, data())


def test_a_tag_missing_from_training_is_refused_with_its_sentence(tmp_path):
    (tmp_path / "train.conll").write_text("EU B-ORG\n\nPeter B-PER\n")
    (tmp_path / "test.conll").write_text("\nParis B-LOC\n")
    from rnn_recipes.tagged import load_tagged

    d = TaggedData(train_path=str(tmp_path / "train.conll"), test_path=str(tmp_path / "test.conll"))
    with pytest.raises(DataError, match=r"test.conll: line 2: tag 'B-LOC' is not in the training split's tags \(B-ORG, B-PER\)"):
        load_tagged(d, seed=0)


def test_the_seeded_split_is_a_partition_and_repeats():
    parts = split_indices(50, 0.1, 0.2, seed=3)
    assert [len(p) for p in parts] == [35, 5, 10]
    assert sorted(np.concatenate(parts)) == list(range(50))
    assert all((a == b).all() for a, b in zip(parts, split_indices(50, 0.1, 0.2, seed=3)))


def test_words_and_characters_become_ids_with_padding_and_unknowns():
    sentences = parse_conll(GOOD, "f", data(chars=True, max_word_chars=4))
    vocab = TagVocab.fit(sentences, data(chars=True, max_word_chars=4))
    x = vocab.encode([["EU", "Zork"], ["Peter"]], seq_len=3)
    assert x.shape == (2, 3, 5) and vocab.words[:2] == ("", "[UNK]")
    assert x[0, 1, 0] == 1 and x[0, 2].tolist() == [0] * 5  # an unseen word; padding
    assert [vocab.chars[i] for i in x[1, 0, 1:]] == list("Pete")  # the first max_word_chars characters
    assert x[0, 1, 1] == 1  # 'Z' never occurs in training
    plain = TagVocab.fit(sentences, data(lowercase=True))
    assert plain.encode([["eu", "EU"]], 2).tolist() == [[plain.words.index("eu")] * 2]


def test_some_training_words_read_as_unknown_so_unseen_words_are_learned():
    from rnn_recipes.tagged import with_unknowns

    x = np.tile(np.arange(2, 12), (400, 1))  # every word frequent
    x[:, -1] = np.arange(400) + 20  # ...but the last, each seen once
    out = with_unknowns(x, 0.1, seed=0)
    dropped = out == 1
    assert abs(dropped[:, :-1].mean() - 0.1) < 0.02 and abs(dropped[:, -1].mean() - 0.55) < 0.08
    assert (out[~dropped] == x[~dropped]).all() and (with_unknowns(np.zeros((2, 3), int), 0.5, 0) == 0).all()
    chars = np.stack([x, x + 100], axis=-1)  # word ids, then one character id
    assert (with_unknowns(chars, 0.1, 0)[..., 1] == chars[..., 1]).all()  # characters are kept


def test_tokenize_keeps_character_offsets():
    text = "Peter Blackburn flew to New York."
    assert all(text[a:b] == tok for tok, a, b in tokenize(text))
    assert [t for t, _, _ in tokenize(text)][-3:] == ["New", "York", "."]


# --- metrics ------------------------------------------------------------------


def test_entity_scores_match_seqeval_and_a_hand_count():
    from seqeval.metrics import f1_score, precision_score, recall_score

    true = [["B-PER", "I-PER", "O", "B-LOC"], ["B-ORG", "O"]]
    pred = [["B-PER", "I-PER", "O", "B-ORG"], ["B-ORG", "O"]]
    got = tm.scores(true, pred, "IOB2")
    # 3 true entities, 3 predicted, 2 right: P = R = F1 = 2/3; 5 of 6 tokens right
    assert got["entity_precision"] == pytest.approx(2 / 3) and got["entity_recall"] == pytest.approx(2 / 3)
    assert got["entity_f1"] == pytest.approx(f1_score(true, pred)) == pytest.approx(2 / 3)
    assert got["entity_precision"] == pytest.approx(precision_score(true, pred))
    assert got["entity_recall"] == pytest.approx(recall_score(true, pred))
    assert got["token_accuracy"] == pytest.approx(5 / 6)
    assert got["entity_types"]["LOC"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1}
    assert got["entity_types"]["PER"]["f1"] == 1.0 and got["entity_types"]["ORG"]["precision"] == 0.5
    assert set(tm.scores(true, pred, "none")) == {"token_accuracy"}  # parts of speech: no entities


def test_iobes_entities_are_read_by_their_ends():
    assert tm.entities(["S-PER", "B-ORG", "I-ORG", "E-ORG", "O"]) == [("PER", 0, 1), ("ORG", 1, 4)]


def test_a_prediction_shows_tokens_tags_and_entity_offsets_and_no_entities_without_a_scheme():
    from rnn_recipes.tasks import TASKS

    text = "Ms Anna Rossi , New York"
    tokens = tokenize(text)
    out = {"text": text, "tokens": [t for t, _, _ in tokens], "spans": [(a, b) for _, a, b in tokens],
           "tag_ids": [0, 1, 2, 0, 3, 4], "probabilities": [0.9, 0.8, 0.7, 0.99, 0.6, 0.5], "scheme": "IOB2"}
    names = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]
    shown = TASKS["tagging"].present(out, labels=names)
    assert shown["tokens"][1] == {"token": "Anna", "tag": "B-PER", "probability": 0.8}
    assert shown["entities"] == [{"type": "PER", "text": "Anna Rossi", "start": 3, "end": 13},
                                 {"type": "LOC", "text": "New York", "start": 16, "end": 24}]
    pos = TASKS["tagging"].present({**out, "scheme": "none", "probabilities": None}, labels=["NNP", "B-X", "I-X", "DT", "NN"])
    assert pos["entities"] == [] and "probability" not in pos["tokens"][0]


def test_most_frequent_tag_baseline_answers_each_word_its_usual_tag():
    x_train = np.array([[2, 3, 2, 0], [3, 4, 3, 0]])
    y_train = np.array([[1, 0, 1, 0], [0, 2, 0, 0]])
    assert tm.most_frequent_tag(x_train, y_train, np.array([[2, 4, 9, 0]])).tolist() == [[1, 2, 0, 0]]


# --- the CRF ---------------------------------------------------------------------


def _brute_force(emissions, n, start, end, transitions):
    """Every path's score over the first n steps: (paths, scores)."""
    k = emissions.shape[-1]
    paths = list(itertools.product(range(k), repeat=n))
    scores = [start[p[0]] + end[p[-1]] + sum(emissions[t, p[t]] for t in range(n))
              + sum(transitions[p[t - 1], p[t]] for t in range(1, n)) for p in paths]
    return paths, np.array(scores)


def test_viterbi_finds_the_best_path_that_enumeration_finds():
    rng = np.random.default_rng(0)
    k, t = 3, 5
    emissions, start, end, trans = rng.normal(size=(4, t, k)), rng.normal(size=k), rng.normal(size=k), rng.normal(size=(k, k))
    lengths = [5, 3, 1, 4]
    mask = np.arange(t)[None, :] < np.array(lengths)[:, None]
    got = tm.viterbi(emissions, mask, start, end, trans)
    for b, n in enumerate(lengths):
        paths, scores = _brute_force(emissions[b], n, start, end, trans)
        assert got[b, :n].tolist() == list(paths[int(scores.argmax())]) and (got[b, n:] == 0).all()


@pytest.fixture(scope="module")
def crf_layer():
    from rnn_recipes.crf import CRF

    rng = np.random.default_rng(1)
    layer = CRF(3)
    layer.build((None, None, 3))
    layer.start.assign(rng.normal(size=3).astype("float32"))
    layer.end.assign(rng.normal(size=3).astype("float32"))
    layer.transitions.assign(rng.normal(size=(3, 3)).astype("float32"))
    return layer


def test_crf_loss_is_the_negative_log_likelihood_by_enumeration(crf_layer):
    from rnn_recipes.crf import crf_loss

    rng = np.random.default_rng(2)
    emissions = rng.normal(size=(2, 4, 3)).astype("float32")
    mask = np.array([[1, 1, 1, 1], [1, 1, 0, 0]], bool)
    tags = np.array([[0, 2, 1, 1], [2, 0, 0, 0]])
    out = np.asarray(crf_layer(emissions, mask=mask))
    assert out.shape == (2, 4, tm.crf_width(3))
    _, _, start, end, trans = tm.unpack_crf(out, 3)
    np.testing.assert_allclose(trans, crf_layer.transitions.numpy(), rtol=1e-6)
    nll = np.asarray(crf_loss(tags, out))
    for b, n in ((0, 4), (1, 2)):
        paths, scores = _brute_force(emissions[b], n, start, end, trans)
        gold = scores[paths.index(tuple(tags[b, :n]))]
        log_z = np.log(np.exp(scores).sum())
        assert nll[b] == pytest.approx(log_z - gold, rel=1e-5)  # -log p(tags) over every one of 3^n paths
    assert (tm.decode(out, 3)[0][1, 2:] == 0).all()


@pytest.mark.slow  # a second process imports TensorFlow
def test_a_crf_model_saves_and_loads_in_plain_keras_with_safe_mode(tmp_path, crf_layer):
    from rnn_recipes.backend import import_keras
    from rnn_recipes.crf import CRF, crf_loss
    from rnn_recipes.safeload import check_keras_file

    keras = import_keras()
    inputs = keras.Input((4,), dtype="int32")
    x = keras.layers.Embedding(6, 4, mask_zero=True)(inputs)
    model = keras.Model(inputs, CRF(3, name="crf")(keras.layers.Dense(3)(x)))
    model.compile("adam", loss=crf_loss)
    x, y = np.array([[1, 2, 3, 0], [4, 5, 0, 0]]), np.array([[0, 1, 2, 0], [2, 2, 0, 0]])
    model.save(tmp_path / "m.keras")
    check_keras_file(tmp_path / "m.keras")  # the project's own layer and loss are allowed...
    code = (f"import numpy as np, keras, rnn_recipes.crf\nm = keras.saving.load_model({str(tmp_path / 'm.keras')!r}, safe_mode=True)\n"
            f"print(m.evaluate(np.array({x.tolist()}), np.array({y.tolist()}), verbose=0))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert float(out.stdout.split()[-1]) == pytest.approx(model.evaluate(x, y, verbose=0), rel=1e-5)


def test_safeload_still_refuses_other_modules():
    from rnn_recipes.safeload import _unsafe_part

    assert _unsafe_part({"module": "rnn_recipes.crf", "class_name": "CRF"}) is None
    assert _unsafe_part({"module": "builtins", "class_name": "function", "config": "rnn_recipes>crf_loss"}) is None
    assert "outside Keras" in _unsafe_part({"module": "builtins", "class_name": "function", "config": "os>system"})
    assert "outside Keras" in _unsafe_part({"module": "rnn_recipes.tagged", "class_name": "X"})


# --- config and model --------------------------------------------------------------


def test_tagged_data_needs_a_masked_embedding_and_crf_needs_tagged_data():
    from rnn_recipes.config_load import build_config
    from rnn_recipes.errors import ConfigError

    config_from_dict = lambda data: build_config(data, {}, "c.yaml")  # noqa: E731

    base = {"data": {"kind": "tagged", "path": "x.conll"}, "encoding": {"kind": "embedding"}}
    with pytest.raises(ConfigError, match="encoding.mask_zero: true"):
        config_from_dict(base)
    with pytest.raises(ConfigError, match="model.crf is an output layer for tagged data"):
        config_from_dict({"data": {"kind": "sine"}, "model": {"crf": True}})


def test_padding_stays_out_of_the_loss_and_the_accuracy():
    from rnn_recipes.data import load_dataset
    from rnn_recipes.model import build_model, compile_model

    cfg = load_config(TINY / "ner_bilstm.yaml")
    ds = load_dataset(cfg)
    model = compile_model(build_model(cfg, ds.spec), cfg, ds.spec)
    x, y = ds.x_test[:8], ds.y_test[:8]
    noise = np.where(x == 0, 3, y)  # another tag at every padded step only
    a, b = (model.evaluate(x, t, verbose=0, return_dict=True) for t in (y, noise))
    assert (x == 0).any() and a == pytest.approx(b)
    names = ds.extra["tag_names"]
    pred = np.asarray(model.predict(x, verbose=0)).argmax(-1)
    lengths = tm.lengths_of(x)
    assert a["accuracy"] == pytest.approx(tm.token_accuracy(tm.as_tags(y, lengths, names), tm.as_tags(pred, lengths, names)), abs=1e-6)


def test_char_features_are_a_second_branch_of_the_one_input():
    from rnn_recipes.dataset import DataSpec
    from rnn_recipes.model import build_model

    cfg = load_config(TINY / "ner_bilstm.yaml", ["data.chars=true", "model.crf=true"])
    spec = DataSpec("tagging", 7, vocab_size=50, num_classes=5, sequence_output=True, chars=6, char_vocab=20)
    model = build_model(cfg, spec)
    assert model.input_shape == (None, 7, 7) and model.output_shape == (None, 7, tm.crf_width(5))
    conv = model.get_layer("char_cnn")  # 3 characters x 16 dims x 32 filters + biases
    assert conv.count_params() == 3 * 16 * 32 + 32 and model.get_layer("char_embedding").count_params() == 20 * 16
    lstm = build_model(load_config(TINY / "ner_bilstm.yaml", ["data.chars=true", "model.char_encoder=bilstm"]), spec)
    # two directions x 4 gates x (16 inputs x 32 + 32 x 32 + 32 biases); a word is both last states
    assert lstm.get_layer("char_bilstm").count_params() == 2 * 4 * (16 * 32 + 32 * 32 + 32)
    assert lstm.get_layer("word_and_chars").output.shape == (None, 7, 16 + 2 * 32)


def test_the_bundled_sample_is_what_its_generator_writes():
    out = subprocess.run([sys.executable, str(CONFIGS / "data" / "make_tagged.py"), "--check"], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    train, test = (read_conll(CONFIGS / "data" / "ner" / f"{n}.conll", data()) for n in ("train", "test"))
    assert (len(train), len(test)) == (1200, 300)
    seen = {t for s in train for t, g in zip(s.tokens, s.tags) if g != "O"}
    unseen = {t for s in test for t, g in zip(s.tokens, s.tags) if g != "O"} - seen
    assert len(unseen) >= 20  # names the training file never shows: a tagger must generalise


# --- tiny runs ----------------------------------------------------------------------


@pytest.mark.slow
def test_the_tiny_tagger_learns_and_reports_entities_per_type(tiny_runs):
    run = tiny_runs["ner_bilstm"]
    metrics = json.loads((run / "metrics.json").read_text())
    assert {"PER", "LOC", "ORG"} <= set(metrics["entity_types"])
    assert metrics["token_accuracy"] == pytest.approx(metrics["accuracy"], abs=1e-6)
    assert metrics["token_accuracy"] > metrics["most_frequent_tag_baseline"]["token_accuracy"] - 0.05
    assert metrics["entity_f1"] > 0.3 and (run / "tagger.json").is_file()


@pytest.mark.slow
def test_evaluate_and_predict_read_a_tagged_run(tiny_runs, cli):
    run = tiny_runs["ner_bilstm"]
    result = cli("evaluate", run)
    assert result.exit_code == 0, result.output
    saved = json.loads((run / "metrics.json").read_text())
    assert json.loads(result.stdout)["entity_f1"] == pytest.approx(saved["entity_f1"])
    other = cli("evaluate", run, "--data", TINY / "data" / "ner_tiny.conll")  # every sentence, the training ones too
    scored = json.loads(other.stdout)
    assert other.exit_code == 0 and scored["sentences"] == 160 and 0 < scored["entity_f1"] <= 1
    assert {"PER", "LOC", "ORG"} <= set(scored["entity_types"]) and scored["token_accuracy"] > 0.8
    text = "Peter Smith flew to Paris on Monday ."
    plain = cli("predict", run, "--text", text)
    lines = plain.stdout.strip().splitlines()
    assert [line.split("\t")[0] for line in lines] == text.split()
    found = json.loads(cli("predict", run, "--json", "--text", text).stdout)
    assert [t["token"] for t in found["tokens"]] == text.split()
    assert all(text[e["start"] : e["end"]] == e["text"] for e in found["entities"])


@pytest.fixture(scope="module")
def crf_run(tmp_path_factory):
    from rnn_recipes.train import train

    # one direction under XLA: the forward algorithm's loop must have a bound XLA can differentiate
    cfg = load_config(TINY / "ner_bilstm.yaml", ["model.crf=true", "data.chars=true", "train.epochs=3",
                                                  "model.bidirectional=false", "train.jit_compile=true"])
    return train(cfg, tmp_path_factory.mktemp("crf") / "run", verbose=0)


@pytest.mark.slow
def test_a_crf_tagger_with_char_features_trains_saves_and_predicts(crf_run, cli):
    metrics = json.loads((crf_run / "metrics.json").read_text())
    history = (crf_run / "history.csv").read_text().splitlines()
    first, last = (float(row.split(",")[1]) for row in (history[1], history[-1]))
    assert last < first and 0 <= metrics["entity_f1"] <= 1 and "token_accuracy" in metrics
    found = json.loads(cli("predict", crf_run, "--json", "--text", "Anna Rossi left .").stdout)
    assert len(found["tokens"]) == 4 and "probability" not in found["tokens"][0]  # a Viterbi path has none


def test_a_bad_tagged_file_is_one_line_from_the_cli(cli, tmp_path):
    bad = tmp_path / "bad.conll"
    bad.write_text("EU B-ORG\nrejects O\n\nPeter B-PER\nBlackburn\n")
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"data: {{kind: tagged, path: {bad}}}\nencoding: {{kind: embedding, mask_zero: true}}\n")
    result = cli("train", cfg)
    assert result.exit_code == 2
    assert "bad.conll: line 5: 1 column ('Blackburn'); expected a token and its tag" in result.output
    assert len(result.output.strip().splitlines()) == 1
