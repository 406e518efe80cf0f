"""Sequence to sequence: pairs files, the addition task, the encoder-decoder, attention, step decoding, beam search."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from conftest import CONFIGS, ROOT, TINY
from rnn_recipes.codec import END, START, PairCodec
from rnn_recipes.config_load import load_config
from rnn_recipes.errors import ConfigError, DataError
from rnn_recipes.pairs import addition_pairs, encode, read_pairs
from rnn_recipes import seq2seq_scores


# --- data ------------------------------------------------------------------------


def test_pairs_file_reads_two_columns_skips_blank_lines_and_ignores_attribution(tmp_path):
    path = tmp_path / "p.tsv"
    path.write_bytes("\ufeffGo.\tVa !\tCC-BY 2.0 (France) Attribution: tatoeba.org\n\nHi.\tSalut.\r\n".encode())
    assert read_pairs(path) == [("Go.", "Va !"), ("Hi.", "Salut.")]


@pytest.mark.parametrize("content, message", [
    (b"a\tb\nno tab here\n", r"p.tsv: line 2: no tab; expected source<TAB>target, received 'no tab here'"),
    (b"a\tb\n\nc\t \n", r"p.tsv: line 3: empty target; expected source<TAB>target"),
    (b"\tb\n", r"p.tsv: line 1: empty source"),
    (b"a\tb\n" + b"x" * 10_001 + b"\tb\n", r"p.tsv: line 2: longer than 10,000 bytes"),
    (b"a\tb\nc\xff\td\n", r"p.tsv: line 2: not UTF-8 \(byte 0xff at column 2\); expected UTF-8 text"),
    (b"\n\n", r"p.tsv: no pairs"),
])
def test_a_bad_pairs_file_is_one_line_naming_the_line(tmp_path, content, message):
    path = tmp_path / "p.tsv"
    path.write_bytes(content)
    with pytest.raises(DataError, match=message):
        read_pairs(path)


def test_a_bad_pairs_file_stops_rnn_train_with_one_line(cli, tmp_path):
    (tmp_path / "bad.tsv").write_bytes(b"1 Jan 2000\t2000-01-01\n2 Jan 2000 2000-01-02\n")
    result = cli("train", TINY / "seq2seq_dates.yaml", "--set", f"data.path={tmp_path / 'bad.tsv'}")
    assert result.exit_code == 2
    assert result.output.strip().splitlines()[-1] == (
        f"error: {tmp_path / 'bad.tsv'}: line 2: no tab; expected source<TAB>target, received '2 Jan 2000 2000-01-02'")


def test_pairs_over_the_length_limits_are_left_out_and_counted(tmp_path):
    from rnn_recipes.config_data import PairsData
    from rnn_recipes.pairs import load_pairs

    rows = [f"{i} a\t{i}" for i in range(20)] + ["a much longer source\tx", "b\ta much longer target"]
    (tmp_path / "p.tsv").write_text("\n".join(rows) + "\n")
    d = PairsData(path=str(tmp_path / "p.tsv"), level="word", max_source_len=2, max_target_len=2, test_fraction=0.2)
    ds = load_pairs(d, seed=0)
    assert ds.extra["left_out"] == 2 and ds.spec.seq_len == 2 and ds.spec.target_len == 1 + 1  # the longest kept, and </s>
    assert len(ds.x_train[0]) + len(ds.x_val[0]) + len(ds.x_test[0]) == 20


def test_addition_questions_are_distinct_and_their_answers_are_the_sums():
    pairs = addition_pairs(3, 2000, seed=0)
    assert len({q for q, _ in pairs}) == 2000
    for question, answer in pairs:
        a, b = question.split("+")
        assert 1 <= len(a) <= 3 and 1 <= len(b) <= 3 and int(answer) == int(a) + int(b)


def test_teacher_forcing_arrays_shift_the_target_by_one_and_pad_with_zero():
    codec = PairCodec(("", "<unk>", "+", "1", "2"), ("", "<unk>", START, END, "2", "3"), reverse_source=True)
    (src, dec_in), y = encode(codec, [("1+2", "3"), ("12+2", "23")], source_len=5, target_len=3)
    assert src.tolist() == [[4, 2, 3, 0, 0], [4, 2, 4, 3, 0]]  # reversed, then padded
    assert dec_in.tolist() == [[2, 5, 0, 0], [2, 4, 5, 0]]  # <s> y1 .. yn
    assert y.tolist() == [[5, 3, 0, 0], [4, 5, 3, 0]]  # y1 .. yn </s>
    assert codec.decode([4, 5, 3, 4]) == "23"


def test_addition_dataset_holds_out_questions_never_seen_in_training():
    from rnn_recipes.data import load_dataset

    cfg = load_config(CONFIGS / "addition_seq2seq.yaml", ["data.examples=3000"])
    ds = load_dataset(cfg)
    train = {tuple(r) for r in ds.x_train[0]}
    assert not any(tuple(r) in train for r in ds.x_test[0])
    assert ds.spec.seq_len == 7 and ds.spec.target_len == 5 and ds.spec.num_classes == 14
    assert len(ds.x_test[0]) == 150 and ds.has_val


def test_the_bundled_dates_files_are_what_their_generator_writes():
    out = subprocess.run([sys.executable, str(CONFIGS / "data" / "make_dates.py"), "--check"], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout


@pytest.mark.parametrize("overrides, message", [
    (["model.kind=stack"], "pairs data needs model.kind: seq2seq"),
    (["model.bidirectional=true", "model.merge_mode=sum"], "use model.merge_mode: concat"),
    (["encoding.kind=onehot", "encoding.dim=32"], "use encoding.kind: embedding"),
    (["model.attention=luong"], "invalid 'model.attention'"),
])
def test_seq2seq_settings_that_cannot_work_are_refused(overrides, message):
    with pytest.raises(ConfigError, match=message):
        load_config(TINY / "seq2seq_dates.yaml", overrides)


def test_attention_needs_a_seq2seq_model():
    with pytest.raises(ConfigError, match="model.attention and model.encoder_self_attention are for model.kind: seq2seq"):
        load_config(TINY / "text_char_lstm.yaml", ["model.attention=dot"])


# --- scores ------------------------------------------------------------------------


def test_scores_come_from_sacrebleu_on_the_decoded_text():
    import sacrebleu

    hyps, refs = ["2026-11-25", "1999-01-02"], ["2026-11-25", "1999-01-03"]
    got = seq2seq_scores.score(hyps, refs, [[1, 2, 3], [1, 2, 4]], [[1, 2, 3], [1, 2, 3]], "word")
    assert got["exact_match"] == 0.5 and got["token_accuracy"] == pytest.approx(5 / 6)
    assert got["chrf"] == pytest.approx(sacrebleu.corpus_chrf(hyps, [refs]).score, abs=1e-3)
    assert got["bleu"] == pytest.approx(sacrebleu.corpus_bleu(hyps, [refs]).score, abs=1e-3)


# --- the model and its step decoder (untrained: random weights are enough) -----------


def _model(*overrides):
    from rnn_recipes.data import data_spec
    from rnn_recipes.model import build_model

    from rnn_recipes.model import keras

    keras.utils.set_random_seed(0)  # the same weights every run
    cfg = load_config(TINY / "seq2seq_dates.yaml", ["model.units=8", "encoding.dim=4", *overrides])
    return cfg, data_spec(cfg), build_model(cfg, data_spec(cfg))


VARIANTS = [
    ["model.attention=none"],
    ["model.attention=dot"],
    ["model.attention=general", "model.cell=gru"],
    ["model.attention=additive", "model.layers=2"],
    ["model.attention=local", "model.attention_window=2", "model.cell=simple_rnn"],
    ["model.attention=dot", "model.bidirectional=true", "model.encoder_self_attention=true"],
]


@pytest.mark.parametrize("overrides", VARIANTS, ids=lambda o: ",".join(x.split("=")[1] for x in o))
def test_the_step_decoder_computes_what_the_whole_model_computes(overrides):
    """Fed the same previous tokens, the compiled step with cached encoder outputs gives the full model's outputs."""
    from rnn_recipes.decode import Decoder

    _, spec, model = _model(*overrides)
    rng = np.random.default_rng(0)
    source = rng.integers(2, spec.vocab_size, (3, spec.seq_len)).astype("int32")
    source[0, 10:] = 0  # a short source: padding is masked
    target_in = rng.integers(4, spec.num_classes, (3, spec.target_len)).astype("int32")
    target_in[:, 0] = 2
    full = model.predict([source, target_in], verbose=0)
    decoder = Decoder(model, start=2, end=3)
    cached, mask, states = decoder.encode(source)
    for t in range(spec.target_len):
        probs, weights, states = decoder.step(target_in[:, t], cached, mask, states)
        np.testing.assert_allclose(probs, full[:, t], atol=2e-5)
        if decoder.attention:
            np.testing.assert_allclose(weights.sum(axis=-1)[1:], 1.0, atol=1e-4) if "local" not in overrides[0] else None
            assert np.all(weights[0, 10:] == 0)  # no weight on padding


@pytest.mark.parametrize("kind", ["none", "dot", "local"])
def test_padding_after_the_target_stays_out_of_the_loss_and_accuracy(kind):
    from rnn_recipes.model import compile_model

    cfg, spec, model = _model(f"model.attention={kind}")
    compile_model(model, cfg, spec)
    rng = np.random.default_rng(0)
    source = rng.integers(2, spec.vocab_size, (4, spec.seq_len)).astype("int32")
    target_in = rng.integers(4, spec.num_classes, (4, spec.target_len)).astype("int32")
    target_in[:, 5:] = 0
    y = rng.integers(4, spec.num_classes, (4, spec.target_len)).astype("int32")
    y[:, 5:] = 0
    other = y.copy()
    other[:, 5:] = 7  # different labels where the decoder input is padding
    a = model.evaluate([source, target_in], y, verbose=0, return_dict=True)
    b = model.evaluate([source, target_in], other, verbose=0, return_dict=True)
    assert a == b


def test_local_attention_puts_no_weight_outside_its_window():
    from rnn_recipes.attention import LocalAttention, keras

    layer = LocalAttention(window=2)
    q = keras.ops.convert_to_tensor(np.random.default_rng(0).normal(size=(2, 4, 6)).astype("float32"))
    v = keras.ops.convert_to_tensor(np.random.default_rng(1).normal(size=(2, 9, 6)).astype("float32"))
    _, w = layer([q, v, v], mask=[None, keras.ops.convert_to_tensor(np.arange(9) < np.array([[9], [5]]))],
                 return_attention_scores=True)
    w = np.asarray(w)
    assert np.all(w[1, :, 5:] == 0)  # the second source has 5 positions
    assert np.all((w > 0).sum(axis=-1) <= 5)  # at most 2D + 1 positions


def test_beam_search_of_one_beam_is_greedy_and_wider_beams_score_no_worse():
    from rnn_recipes.decode import Decoder

    _, spec, model = _model("model.attention=additive")
    source = np.random.default_rng(3).integers(2, spec.vocab_size, (4, spec.seq_len)).astype("int32")
    decoder = Decoder(model, start=2, end=3, max_length=6)
    greedy = decoder.greedy(source)
    for row, g in zip(source, greedy):
        one = decoder.beam(row, 1)
        assert (one.ids, one.ended) == (g.ids, g.ended) and one.log_prob == pytest.approx(g.log_prob, abs=1e-4)
        assert len(g.ids) <= 6 and g.weights.shape == (len(g.ids) + g.ended, spec.seq_len)
        wide = decoder.beam(row, 4)
        if g.ended:
            assert wide.score >= g.score - 1e-6


def test_a_local_attention_model_loads_in_plain_keras_with_safe_mode(tmp_path):
    """A fresh process that imports only Keras and the registering module gets the same outputs."""
    _, spec, model = _model("model.attention=local", "model.encoder_self_attention=true")
    model.save(tmp_path / "m.keras")
    source = np.ones((1, spec.seq_len), "int32")
    target_in = np.full((1, spec.target_len), 2, "int32")
    np.save(tmp_path / "want.npy", model.predict([source, target_in], verbose=0))
    code = (
        "import numpy as np, keras, rnn_recipes.attention\n"
        f"m = keras.models.load_model({str(tmp_path / 'm.keras')!r}, safe_mode=True)\n"
        f"got = m.predict([np.ones((1, {spec.seq_len}), 'int32'), np.full((1, {spec.target_len}), 2, 'int32')], verbose=0)\n"
        f"print(float(np.abs(got - np.load({str(tmp_path / 'want.npy')!r})).max()))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env={"PYTHONPATH": str(ROOT / "src"), "TF_CPP_MIN_LOG_LEVEL": "3", "PATH": "/usr/bin:/bin"})
    assert out.returncode == 0, out.stderr[-2000:]
    assert float(out.stdout.strip().splitlines()[-1]) < 1e-6


def test_the_project_loader_accepts_its_own_layer_and_nothing_else_outside_keras(tmp_path):
    from rnn_recipes.safeload import _unsafe_part

    assert _unsafe_part({"module": "rnn_recipes.attention", "class_name": "LocalAttention"}) is None
    assert "outside Keras" in _unsafe_part({"module": "rnn_recipes.attention", "class_name": "Evil"})


# --- end to end: one tiny trained run, shared ----------------------------------------


@pytest.fixture(scope="module")
def dates_run(tmp_path_factory):
    from rnn_recipes.train import train

    cfg = load_config(TINY / "seq2seq_dates.yaml", ["train.jit_compile=false"])
    return train(cfg, tmp_path_factory.mktemp("s2s") / "dates", verbose=0)


@pytest.mark.slow
def test_a_trained_run_reports_decoded_scores_and_keeps_both_vocabularies(dates_run):
    metrics = json.loads((dates_run / "metrics.json").read_text())
    for key in ("exact_match", "token_accuracy", "chrf", "bleu", "accuracy"):
        assert 0.0 <= metrics[key] <= (100.0 if key in ("chrf", "bleu") else 1.0), key
    assert metrics["examples"] == 40 and len(metrics["examples_decoded"]) == 5
    vocab = json.loads((dates_run / "vocab.json").read_text())
    assert vocab["tokens"][:4] == ["", "<unk>", START, END] and "N" in vocab["source"]


@pytest.mark.slow
def test_predict_decodes_text_greedy_and_by_beam_and_json(cli, dates_run):
    result = cli("predict", dates_run, "--text", "25 Nov 2026", "--text", "1 jan 2001", "--beam", "3")
    assert result.exit_code == 0, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 2 and all(set(line) <= set("0123456789-") for line in lines)
    result = cli("predict", dates_run, "--text", "25 Nov 2026", "--json")
    row = json.loads(result.output.strip().splitlines()[-1])
    assert set(row) >= {"output", "score", "ids", "ended"} and row["score"] <= 0
    result = cli("predict", dates_run, "--text", "x" * 40)
    assert result.exit_code == 2 and "has 40 tokens; this run reads at most 26" in result.output


@pytest.mark.slow
def test_predict_reads_a_file_and_draws_an_attention_map(cli, dates_run, tmp_path):
    (tmp_path / "in.txt").write_text("25 Nov 2026\n3/4/1999\n")
    result = cli("predict", dates_run, "--file", tmp_path / "in.txt")
    assert result.exit_code == 0 and len(result.output.strip().splitlines()) == 2
    result = cli("predict", dates_run, "--text", "25 Nov 2026", "--attention-map", tmp_path / "map.png")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "map.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    result = cli("predict", dates_run, "--text", "a", "--text", "b", "--attention-map", tmp_path / "x.png")
    assert result.exit_code == 2 and "give exactly one --text" in result.output


@pytest.mark.slow
def test_evaluate_recomputes_the_decoded_scores(cli, dates_run):
    result = cli("evaluate", dates_run)
    assert result.exit_code == 0, result.output
    saved = json.loads((dates_run / "metrics.json").read_text())
    got = json.loads(result.output[: result.output.rindex("}") + 1])
    assert got["exact_match"] == saved["exact_match"] and got["chrf"] == pytest.approx(saved["chrf"])


@pytest.mark.slow
def test_evaluate_draws_attention_maps_of_the_first_test_sources(cli, dates_run, tmp_path):
    result = cli("evaluate", dates_run, "--plot", tmp_path / "maps")
    assert result.exit_code == 0, result.output
    maps = sorted((tmp_path / "maps").glob("attention_*.png"))
    assert [p.name for p in maps] == ["attention_1.png", "attention_2.png", "attention_3.png"]
    assert all(p.read_bytes()[:4] == b"\x89PNG" for p in maps)


@pytest.mark.slow
def test_the_decoding_benchmark_runs_a_microscopic_case():
    cmd = [sys.executable, "-m", "benchmarks.seq2seq", "--units", "8", "--tokens", "3", "--slow-tokens", "2",
           "--sentences", "8", "--batch", "8", "--repeats", "1"]
    out = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    rows = {line.split("|")[1].strip(): float(line.split("|")[2]) for line in out.stdout.splitlines()
            if line.startswith("| ") and line.split("|")[2].strip()[:1].isdigit()}
    assert set(rows) == {"step decoder (tf.function)", "step decoder (tf.function, XLA)", "model.predict per token",
                         "one sentence at a time", "8 at a time"}
    assert all(v > 0 for v in rows.values()) and "speed-up of the step decoder" in out.stdout


def test_mixed_precision_keeps_the_softmax_in_float32():
    _, _, model = _model("train.precision=mixed_bfloat16")
    assert model.get_layer("decoder_0").compute_dtype == "bfloat16"
    assert model.get_layer("output").compute_dtype == "float32" and model.output.dtype == "float32"


def test_gradient_diagnosis_refuses_an_encoder_decoder_with_one_line():
    from rnn_recipes.diagnose import diagnose_gradients

    with pytest.raises(ConfigError, match="measures one recurrent stack; model.kind seq2seq has an encoder and a decoder"):
        diagnose_gradients(load_config(TINY / "seq2seq_dates.yaml"))
