"""The benchmark scripts run end to end on microscopic cases (their numbers are not asserted: machines differ)."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

from conftest import ROOT


@pytest.mark.slow
def test_the_training_benchmark_runs_a_microscopic_case_without_torch():
    cmd = [sys.executable, "-m", "benchmarks.training", "--cases", "lstm-100", "--samples", "64", "--steps", "8",
           "--repeats", "1", "--no-torch", "--no-jax", "--no-extras"]
    # each worker names its own Keras backend: a backend Keras cannot load in the caller's shell changes nothing
    env = {**os.environ, "KERAS_BACKEND": "no-such-backend"}
    out = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=300, env=env)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "PyTorch column absent" in out.stdout and "JAX backend row absent: --no-jax" in out.stdout
    rows = [line.split("|") for line in out.stdout.splitlines() if line.startswith("| lstm-100 |")]
    assert [r[2].strip() for r in rows] == ["rnn_recipes (batch 32)", "keras_seed (batch 32)"]
    assert all(float(r[3].replace(",", "")) > 0 and float(r[6].replace(",", "")) > 100 for r in rows)  # samples/s, RSS
    assert rows[1][8].strip().endswith("x")  # the ratio against the seed-style script
    assert "matmul peak" in out.stdout and "load average at start" in out.stdout


def test_synthetic_review_lengths_look_like_imdb():
    from benchmarks.training import Case, make_data, review_lengths, train_flops_per_sample

    lengths = review_lengths(20_000, np.random.default_rng(0))
    assert lengths.min() >= 5 and lengths.max() > 2000 and 150 < np.median(lengths) < 200
    data = make_data(Case("v", steps=50, lengths="imdb", samples=300))
    assert (data["x_pre"] != 0).sum(1).tolist() == data["lengths"].tolist() == (data["x_post"] != 0).sum(1).tolist()
    # the model: Embedding(10000, 32) -> LSTM(64) -> Dense(1), 100 steps: ~14.7 MFLOP per example
    assert train_flops_per_sample(Case("lstm-100"), 100) == pytest.approx(14.7e6, rel=0.01)


def test_fused_lstm_matches_keras_lstm_in_outputs_and_every_gradient():
    import keras
    import tensorflow as tf

    from benchmarks.fused_lstm import fused_lstm_class

    x = tf.constant(np.random.default_rng(0).normal(size=(3, 7, 5)), tf.float32)
    keras_lstm = keras.layers.LSTM(4, return_sequences=True, use_cudnn=False)
    fused = fused_lstm_class()(4, return_sequences=True)
    keras_lstm.build(x.shape)
    fused.build(x.shape)
    fused.set_weights(keras_lstm.get_weights())
    assert fused.count_params() == keras_lstm.count_params() == 4 * (5 + 4 + 1) * 4

    def outputs_and_grads(layer):
        with tf.GradientTape() as tape:
            tape.watch(x)
            out = layer(x)
            loss = tf.reduce_sum(out * tf.sin(tf.range(out.shape[-1], dtype=tf.float32)))  # every output counts
        return out, tape.gradient(loss, [x, *layer.trainable_variables])

    want, want_grads = outputs_and_grads(keras_lstm)
    got, got_grads = outputs_and_grads(fused)
    np.testing.assert_allclose(got, want, atol=1e-6)
    for g, w in zip(got_grads, want_grads, strict=True):
        np.testing.assert_allclose(g, w, atol=1e-6)


@pytest.mark.slow  # trains four models, two with XLA, and compiles four XLA loops
def test_the_fused_lstm_benchmark_prints_both_tables(capsys):
    from benchmarks.fused_lstm import main

    main(["--batch", "4", "--steps", "5", "--samples", "16", "--repeats", "1"])
    out = capsys.readouterr().out
    assert "| LSTM step reading precomputed (x @ W)[t] (FusedLSTM's form) |" in out and "| recurrent matmul h @ U alone |" in out
    rows = {line.split("|")[1].strip(): line.split("|")[3].strip() for line in out.splitlines()
            if line.startswith("| Keras LSTM") or line.startswith("| FusedLSTM")}
    assert set(rows) == {"Keras LSTM, XLA on", "FusedLSTM, XLA on", "Keras LSTM, XLA off", "FusedLSTM, XLA off"}
    assert rows["Keras LSTM, XLA on"] == "1.00x"


def test_the_training_benchmark_times_each_precision_and_refuses_an_unknown_one(capsys):
    from benchmarks.training import PATHS, main

    assert {"rnn_recipes_mixed_bfloat16_xla", "rnn_recipes_mixed_float16_jit_off"} <= set(PATHS)
    with pytest.raises(SystemExit) as exc:
        main(["--cases", "lstm-100", "--precision", "mixed_bfloat16,float8"])
    assert exc.value.code == 2
    assert "unknown precision float8; expected some of: mixed_bfloat16, mixed_float16" in capsys.readouterr().err


@pytest.mark.slow
def test_the_prediction_benchmark_runs_a_microscopic_case():
    cmd = [sys.executable, "-m", "benchmarks.predict", "--lines", "300", "--repeats", "1", "--no-subprocess"]
    out = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "| direct `model.predict`" in out.stdout and "`predict_run` streaming" in out.stdout
    assert "single text, warm" in out.stdout and "load average at start" in out.stdout


def test_the_matrix_holds_every_case_and_its_quick_subset():
    from benchmarks.matrix import CASES, FULL, QUICK

    assert len(FULL) == 4 * 3 * 2 * 2 * 2 + 4 * 2  # cell x units x steps x batch x output, + masked at 2 batches
    assert {c.cell for c in FULL} == {"simple_rnn", "lstm", "gru", "bilstm"} and all(q.name in CASES for q in QUICK)
    for case in FULL + QUICK:
        assert case.samples % case.batch == 0 and 4 <= case.samples // case.batch <= 40


def test_the_matrix_accepts_a_default_within_5_percent_of_the_best_keras_path_and_not_below_the_seed():
    from benchmarks.matrix import acceptance

    def res(**rates):
        return {p: {"samples_per_s": r} for p, r in rates.items()}

    assert acceptance(res(default=100, xla_on=104, xla_off=100, seed=90))["ok"]
    assert not acceptance(res(default=100, xla_on=106, xla_off=100, seed=90))["ok"]
    assert not acceptance(res(default=100, xla_off=100, seed=101))["ok"]
    # the default ran the computation it chose: its process's epochs and the forced path's are pooled
    chose = res(default=90, xla_on=100, xla_off=70, seed=95)
    chose["default"]["choice"] = "xla_on"
    assert acceptance(chose)["ok"] and acceptance(chose)["default_rate"] == 100
    chose["default"]["choice"] = "xla_off"
    assert not acceptance(chose)["ok"] and acceptance(chose)["default_rate"] == 90


@pytest.mark.slow
@pytest.mark.parametrize("output, paths", [("one", ["seed", "xla_off"]), ("seq", ["xla_off"]),
                                           ("masked", ["seed", "default"])])
def test_the_matrix_paths_train_a_microscopic_case_in_this_process(output, paths, monkeypatch):
    from benchmarks import matrix
    from rnn_recipes import autotune

    monkeypatch.setattr(matrix, "WORK_PER_EPOCH", 0.0)  # the fewest batches a case holds: 4
    floor = autotune.MIN_GFLOP
    case = matrix.Case("lstm", 4, 12, 4, output)
    data = matrix.make_data(case)
    assert case.samples == 16
    for path in paths:
        epoch, info = matrix.PATHS[path](case, data)
        assert 0 < epoch() < 60 and 0 < epoch() < 60  # two epochs of one `fit`, each timed by its own callbacks
        epoch.stop()
        assert not epoch.thread.is_alive()  # the `fit` ended at the next epoch's start
        if path == "default":
            assert info["choice"] in ("xla_on", "xla_off") and "measured" in info["reason"]
    assert autotune.MIN_GFLOP == floor  # the benchmark leaves the rule as it found it


@pytest.mark.parametrize("custom_gradient", [False, True])
def test_the_matrix_hoisted_lstm_candidates_match_keras_lstm(custom_gradient):
    from benchmarks.matrix import Case, _config, exactness, hoisted_lstm_class, make_data

    case = Case("lstm", 8, 7, 4, "seq")
    cfg, spec = _config(case, False)
    assert exactness(cfg, spec, make_data(case), hoisted_lstm_class(custom_gradient)) < 1e-5


def test_blocklstm_with_peepholes_and_the_peephole_cell_both_match_the_numpy_reference():
    from benchmarks.peephole_lstm import exactness

    errors = exactness(units=6, steps=12, batch=4, n_in=3)
    assert set(errors) == {"PeepholeLSTM", "BlockLSTM"}
    for layer, row in errors.items():
        assert set(row) >= {"output", "peep_i", "peep_f", "peep_o", "input"}, layer
        assert max(row.values()) < 1e-5, (layer, row)  # float32 rounding, relative to each quantity's scale


def test_the_suite_benchmark_times_the_parallel_flags_make_test_passes():
    from benchmarks.suite import makefile_parallel_flags, pytest_command

    flags = makefile_parallel_flags("2")
    assert flags[:2] == ["-n", "2"] and "--dist" in flags
    recipe = next(line for line in (ROOT / "Makefile").read_text().splitlines() if line.startswith("\t") and "--durations" in line)
    assert "$(PARALLEL)" in recipe  # `make test` passes exactly these flags
    assert pytest_command(["tests/test_x.py"], flags)[1:] == ["-m", "pytest", "-q", "-p", "no:cacheprovider", *flags, "tests/test_x.py"]


@pytest.mark.slow
def test_the_stream_benchmark_times_its_paths_on_a_microscopic_case_in_this_process(capsys):
    from benchmarks import stream

    stream.main(["--cases", "lstm-4-12-b4-one", "--repeats", "1", "--samples", "16"])
    out = capsys.readouterr().out
    rows = [line.split("|")[2:-1] for line in out.splitlines() if line.startswith("| lstm-4-12-b4-one |")]
    assert len(rows) == 1 and len(rows[0]) == 8
    assert all(0 < float(s) < 60 for s in rows[0][:4])  # seconds of one epoch: generator, gathered, static, arrays
    assert all(r.strip().endswith("x") for r in rows[0][4:])
    assert "load average at start" in out and "load average at end" in out


@pytest.mark.parametrize("output", ["one", "masked"])
def test_the_gathered_stream_candidate_gives_the_pipelines_batches_and_not_another_epochs(output):
    from benchmarks.matrix import Case, _config, make_data
    from benchmarks.stream import gathered_epochs_dataset, same_batches
    from rnn_recipes.pipeline import epochs_dataset, use_bucketing

    case = Case("lstm", 4, 20, 4, output)
    data = make_data(case)
    cfg, _ = _config(case, False)
    assert use_bucketing(cfg) == (output == "masked")
    x, y = data["x_pre"][:22], data["y"][:22]  # a partial last batch (of each bucket, when bucketed)
    assert same_batches(epochs_dataset(x, y, cfg), gathered_epochs_dataset(x, y, cfg))
    assert not same_batches(epochs_dataset(x, y, cfg, 1, 2), gathered_epochs_dataset(x, y, cfg))


@pytest.mark.slow  # two spawned processes, each importing TensorFlow
def test_the_malloc_benchmark_times_glibcs_defaults_against_kept_memory_in_two_processes():
    from benchmarks.malloc import rows, run_case
    from benchmarks.matrix import Case

    case = Case("lstm", 4, 12, 4)
    results = run_case(case, [False], repeats=1)
    assert [(r["jit"], r["keep"], r["malloc"]) for r in results] == [
        (False, False, "as glibc comes (benchmarks.malloc)"), (False, True, "glibc keeps freed memory for reuse")]
    assert all(len(r["epochs"]) == 1 and r["epochs"][0][0] > 0 and r["peak_mb"] > 100 for r in results)
    [row] = rows(case, results)
    assert row.startswith("| lstm-4-12-b4-one | off | ") and row.endswith("x |")
