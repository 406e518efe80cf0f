"""Mixed precision (`train.precision`): layer dtypes, the global policy left alone, a bfloat16 run end to end, resume."""

from __future__ import annotations

import json
import math
import signal

import numpy as np
import pytest

from conftest import TINY
from rnn_recipes.backend import import_keras
from rnn_recipes.config import Config
from rnn_recipes.config_load import load_config
from rnn_recipes.data import DataSpec
from rnn_recipes.model import build_model, compile_model
from test_reliability import SINE, epochs_in, interrupt_at  # its interruption mid-checkpoint

keras = import_keras()

COMPUTE = {"float32": "float32", "mixed_float16": "float16", "mixed_bfloat16": "bfloat16"}
SPEC = DataSpec("binary", 12, vocab_size=50)


def imdb_config(precision: str) -> Config:
    return Config.model_validate({
        "data": {"kind": "imdb", "maxlen": 12},
        "encoding": {"kind": "embedding", "dim": 4},
        "model": {"cell": "lstm", "units": 6, "dense_units": 5},
        "train": {"precision": precision},
    })


@pytest.mark.parametrize("precision", list(COMPUTE))
def test_layers_compute_in_the_policy_and_the_head_in_float32(precision):
    model = compile_model(build_model(imdb_config(precision), SPEC), imdb_config(precision), SPEC)
    layers = {layer.name: layer for layer in model.layers}
    for name in ("embedding", "lstm_0", "hidden"):
        assert layers[name].compute_dtype == COMPUTE[precision], name
    assert layers["output"].compute_dtype == "float32"
    assert {w.dtype for w in model.weights} == {"float32"}  # variables stay float32
    ids = np.random.default_rng(0).integers(1, 50, (3, 12))
    assert str(layers["lstm_0"].output.dtype) == COMPUTE[precision]
    assert model(ids).dtype == "float32"
    # Keras' compile adds dynamic loss scaling only where float16 needs it
    scaled = type(model.optimizer).__name__ == "LossScaleOptimizer"
    assert scaled == (precision == "mixed_float16")
    # the policy was set only while building: the next layer anyone makes is float32 again
    assert keras.config.dtype_policy().name == "float32"
    assert keras.layers.LSTM(2).compute_dtype == "float32"


def test_a_mixed_build_does_not_change_diagnose_float64():
    from rnn_recipes.model import dtype_policy

    build_model(imdb_config("mixed_bfloat16"), SPEC)
    with dtype_policy("float64", floatx="float64"):
        model = build_model(imdb_config("float32"), SPEC)  # float32 builds under the policy in force
    assert {layer.compute_dtype for layer in model.layers[1:]} == {"float64"}
    assert keras.config.floatx() == "float32" and keras.config.dtype_policy().name == "float32"


@pytest.fixture(scope="module")
def bf16_run(tmp_path_factory):
    from rnn_recipes.train import train

    cfg = load_config(TINY / "text_char_lstm.yaml", ["train.precision=mixed_bfloat16", "train.epochs=2"])
    return train(cfg, tmp_path_factory.mktemp("bf16") / "run", verbose=0)


@pytest.mark.slow
def test_a_bfloat16_run_records_its_precision_and_finite_metrics(bf16_run):
    metrics = json.loads((bf16_run / "metrics.json").read_text())
    assert metrics["precision"] == "mixed_bfloat16"
    assert all(math.isfinite(metrics[k]) for k in ("loss", "accuracy", "val_loss_nats", "val_perplexity"))
    assert metrics["val_perplexity"] < 40  # ~60 characters: better than guessing uniformly
    assert load_config(bf16_run / "config.yaml").train.precision == "mixed_bfloat16"


@pytest.mark.slow
def test_the_numpy_engine_reads_a_bfloat16_run(bf16_run):
    """The engine computes in float32 from the float32 weights; Keras in bfloat16.

    bfloat16 keeps 8 significant bits (relative rounding up to 2**-9 ~ 0.002
    per operation); over 20 LSTM steps the rounding accumulates in the state
    and reaches the float32 head, so probabilities are compared to 1e-2
    absolute (measured: at most 2.1e-3 on five random windows), where float32
    runs match to 1e-5 (tests/test_generate.py). The most likely next token
    must agree wherever the top two are not nearly tied.
    """
    from rnn_recipes.engine import Engine
    from rnn_recipes.runs import load_run

    model = load_run(bf16_run).load_model()
    assert model.get_layer("lstm_0").compute_dtype == "bfloat16"  # the saved policy comes back with the model
    ids = np.random.default_rng(0).integers(0, model.get_layer("output").units, 20)
    expected = np.asarray(model(ids[None]))[0]  # (T, V): the prediction after each prefix
    engine = Engine(model)
    state, got = engine.zero_state(), []
    for token in ids:
        probs, state = engine.step(int(token), state)
        got.append(probs)
    got = np.array(got)
    np.testing.assert_allclose(got, expected, atol=1e-2)
    top2 = np.sort(expected, axis=1)[:, -2:]
    clear = top2[:, 1] - top2[:, 0] > 0.05
    assert clear.any() and (got.argmax(1) == expected.argmax(1))[clear].all()


@pytest.mark.slow
def test_evaluate_reproduces_a_bfloat16_run(cli, bf16_run):
    result = cli("evaluate", bf16_run)
    assert result.exit_code == 0, result.output
    recomputed, saved = json.loads(result.stdout), json.loads((bf16_run / "metrics.json").read_text())
    assert recomputed["loss"] == pytest.approx(saved["loss"], rel=1e-5)


@pytest.mark.slow
def test_a_float16_run_resumes_its_loss_scale_and_refuses_another_precision(cli, tmp_path, monkeypatch):
    interrupt_at(monkeypatch, 1, signal.SIGINT)
    args = ["--set", "output.plots=false", "--set", "train.precision=mixed_float16"]
    assert cli("train", SINE, "--out", "r", "--set", "train.epochs=2", *args).exit_code == 130
    # the checkpoint holds the loss-scale state: a freshly built LossScaleOptimizer has counted no step
    from rnn_recipes.checkpoint import Checkpoint
    from rnn_recipes.data import load_dataset

    cfg = load_config(tmp_path / "r" / "config.yaml")
    spec = load_dataset(cfg).spec
    model = compile_model(build_model(cfg, spec), cfg, spec)
    assert Checkpoint(tmp_path / "r", cfg).restore(model) == 1
    assert int(model.optimizer.step_counter.numpy()) > 0

    refused = cli("train", "--resume", "r", "--set", "train.precision=mixed_bfloat16")
    assert refused.exit_code == 2
    assert refused.output.strip().startswith(
        "error: r: cannot resume: train.precision changed ('mixed_float16' -> 'mixed_bfloat16'); a resumed run keeps"
    )
    done = cli("train", "--resume", "r")
    assert done.exit_code == 0, done.output
    assert epochs_in(tmp_path / "r") == 2
    assert json.loads((tmp_path / "r" / "metrics.json").read_text())["precision"] == "mixed_float16"


def test_float32_keeps_the_fingerprint_of_checkpoints_written_before_the_key():
    from rnn_recipes.checkpoint_state import fingerprint

    assert "train.precision" not in fingerprint(imdb_config("float32"))  # an older checkpoint still resumes
    assert fingerprint(imdb_config("mixed_bfloat16"))["train.precision"] == "mixed_bfloat16"
