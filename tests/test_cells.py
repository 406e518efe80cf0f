"""The peephole LSTM layer: a plain LSTM at zero peepholes, masks and dropout, Bidirectional, saving and loading.

Its arithmetic is held to the NumPy reference and finite differences in
tests/test_numpy_rnn.py.
"""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile

import numpy as np
import pytest

from conftest import ROOT
from rnn_recipes.cells import PeepholeLSTM, PeepholeLSTMCell, keras
from rnn_recipes.config import Config
from rnn_recipes.errors import RunError
from rnn_recipes.model import build_model
from rnn_recipes.dataset import DataSpec
from rnn_recipes.safeload import check_keras_file, load_model_file

RNG = np.random.default_rng(0)
X = RNG.normal(0, 1, (3, 7, 2)).astype("float32")


def with_peepholes(layer, scale: float = 0.5):
    """Give `layer`'s peephole vectors non-zero values (their initialiser is zeros)."""
    weights = layer.get_weights()
    layer.set_weights(weights[:3] + [np.full_like(w, scale * (k + 1)) for k, w in enumerate(weights[3:])])
    return layer


def test_with_zero_peepholes_it_computes_exactly_what_keras_lstm_computes():
    peephole = PeepholeLSTM(5, return_sequences=True)
    out = peephole(X)
    assert [w.shape for w in peephole.get_weights()] == [(2, 20), (5, 20), (20,), (5,), (5,), (5,)]
    assert all(np.all(w == 0) for w in peephole.get_weights()[3:])  # the default initialiser
    lstm = keras.layers.LSTM(5, return_sequences=True)
    lstm(X)
    lstm.set_weights(peephole.get_weights()[:3])
    np.testing.assert_array_equal(np.asarray(out), np.asarray(lstm(X)))
    np.testing.assert_allclose(peephole.get_weights()[2][5:10], 1.0)  # the forget bias starts at 1, as LSTM's
    with_peepholes(peephole)
    assert np.abs(np.asarray(peephole(X)) - np.asarray(lstm(X))).max() > 1e-3


def test_a_mask_skips_padding_and_dropout_acts_only_in_training():
    layer = with_peepholes(PeepholeLSTM(4, dropout=0.5, recurrent_dropout=0.5, seed=1))
    layer(X)
    padded = np.concatenate([X, np.zeros((3, 3, 2), "float32")], axis=1)
    mask = np.concatenate([np.ones((3, 7), bool), np.zeros((3, 3), bool)], axis=1)
    np.testing.assert_allclose(np.asarray(layer(padded, mask=mask)), np.asarray(layer(X)), atol=1e-6)
    inference = np.asarray(layer(X))
    np.testing.assert_array_equal(inference, np.asarray(layer(X)))
    assert np.abs(np.asarray(layer(X, training=True)) - inference).max() > 1e-3


def test_its_config_round_trips_and_bidirectional_builds_a_backward_twin():
    layer = PeepholeLSTM(3, peephole_initializer="ones", recurrent_dropout=0.25, return_sequences=True, name="p")
    again = PeepholeLSTM.from_config(layer.get_config())
    assert again.get_config() == layer.get_config()
    assert (again.cell.recurrent_dropout, type(again.cell.peephole_initializer).__name__) == (0.25, "Ones")
    bi = keras.layers.Bidirectional(PeepholeLSTM(3))
    assert tuple(bi(X).shape) == (3, 6)
    assert isinstance(bi.backward_layer, PeepholeLSTM) and bi.backward_layer.go_backwards
    with pytest.raises(ValueError, match="positive integer"):
        PeepholeLSTMCell(0)


def peephole_config(**model) -> Config:
    return Config.model_validate({"data": {"kind": "sine", "time_steps": 7}, "model": {"cell": "peephole_lstm", "units": 4, **model}})


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """A stacked, bidirectional peephole model from a config, with non-zero peepholes, saved as `rnn train` saves."""
    model = build_model(peephole_config(layers=2, bidirectional=True), DataSpec("regression", 7, features=2))
    for layer in model.layers:
        if isinstance(layer, keras.layers.Bidirectional):
            with_peepholes(layer.forward_layer)
            with_peepholes(layer.backward_layer, -0.3)
    path = tmp_path_factory.mktemp("peephole") / "model.keras"
    model.save(path)
    return model, path


def test_a_saved_model_passes_the_safety_check_and_loads_with_safe_mode(saved):
    model, path = saved
    config = json.loads(zipfile.ZipFile(path).read("config.json"))
    assert '"module": "rnn_recipes.cells", "class_name": "PeepholeLSTM"' in json.dumps(config)
    check_keras_file(path)
    loaded = load_model_file(path)
    assert [type(l.forward_layer).__name__ for l in loaded.layers if hasattr(l, "forward_layer")] == ["PeepholeLSTM"] * 2
    np.testing.assert_array_equal(np.asarray(loaded(X)), np.asarray(model(X)))
    assert np.abs(loaded.layers[1].forward_layer.get_weights()[5]).max() > 0  # the peepholes came back


def test_plain_keras_loads_it_once_the_cells_module_is_imported(saved):
    model, path = saved
    code = (
        "import sys, numpy as np, keras, rnn_recipes.cells; "
        "m = keras.models.load_model(sys.argv[1], safe_mode=True); "
        "print(float(np.asarray(m(np.load(sys.argv[2]))).sum()))"
    )
    x_path = path.with_name("x.npy")
    np.save(x_path, X)
    out = subprocess.run([sys.executable, "-c", code, str(path), str(x_path)], capture_output=True, text=True,
                         cwd=ROOT, timeout=120, check=True)
    assert float(out.stdout.split()[-1]) == pytest.approx(float(np.asarray(model(X)).sum()), rel=1e-6)


def test_another_class_from_the_projects_module_is_refused(saved, tmp_path):
    _, path = saved
    config = json.loads(zipfile.ZipFile(path).read("config.json"))
    text = json.dumps(config).replace('"class_name": "PeepholeLSTM"', '"class_name": "Engine"', 1)
    bad = tmp_path / "bad.keras"
    with zipfile.ZipFile(path) as zin, zipfile.ZipFile(bad, "w") as zout:
        for item in zin.infolist():
            zout.writestr(item, text if item.filename == "config.json" else zin.read(item))
    with pytest.raises(RunError, match="it names module 'rnn_recipes.cells', which is outside Keras"):
        check_keras_file(bad)


@pytest.mark.slow
def test_a_trained_peephole_run_reloads_and_generates(tmp_path):
    from rnn_recipes.config_load import load_config
    from rnn_recipes.generate import generate_from_run
    from rnn_recipes.runs import load_run
    from rnn_recipes.train import train

    # the seed's hello world in 40 steps (the full recipe's 150 make it say "hello world": docs/recipes.md)
    cfg = load_config(ROOT / "configs" / "hello_lstm.yaml", ["model.cell=peephole_lstm", "train.epochs=40"])
    run = train(cfg, tmp_path / "run", verbose=0)
    layer = load_run(run).load_model().get_layer("peephole_lstm_0")
    assert min(np.abs(w).max() for w in layer.get_weights()[3:]) > 1e-3  # training moved every peephole off zero
    text = "".join(generate_from_run("hel", run, length=8, temperature=0))
    assert len(text) == 8 and set(text) <= set("helo wrd")
