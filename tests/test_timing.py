"""Generated timing data (`data.kind: timing`): the spikes, the classes, the config's checks, a run end to end."""

from __future__ import annotations

import json

import numpy as np
import pytest

from conftest import CONFIGS
from rnn_recipes.config import Config, estimated_parameters
from rnn_recipes.config_data import TimingData
from rnn_recipes.config_load import load_config
from rnn_recipes.data import data_spec, load_dataset
from rnn_recipes.errors import ConfigError
from rnn_recipes.timing import load_timing, spike_pairs


def test_every_sequence_holds_two_spikes_its_class_apart():
    d = TimingData(time_steps=30, min_gap=4, max_gap=12, train_size=2000, test_size=10)
    x, y = spike_pairs(2000, d, np.random.default_rng(0))
    assert x.shape == (2000, 30, 1) and x.dtype == np.float32 and y.dtype == np.int32
    assert set(np.unique(x)) == {0.0, 1.0} and np.all(x.sum(axis=(1, 2)) == 2)
    spikes = np.array([np.flatnonzero(row[:, 0]) for row in x])
    np.testing.assert_array_equal(spikes[:, 1] - spikes[:, 0], y + 4)
    assert np.bincount(y).tolist() == np.bincount(y, minlength=9).tolist() and np.bincount(y).min() > 150  # all 9 classes
    # the first spike's position carries no class: its spread is the same for short and long gaps
    assert spikes[y == 0, 0].max() > 20 and spikes[y == 8, 0].max() > 13 and spikes[:, 0].min() == 0


def test_the_split_is_seeded_and_the_test_set_is_a_stream_of_its_own():
    d = TimingData(time_steps=20, min_gap=3, max_gap=6, train_size=100, test_size=50, val_split=0.2)
    ds, again, other = load_timing(d, 7), load_timing(d, 7), load_timing(d, 8)
    assert (len(ds.x_train), len(ds.x_val), len(ds.x_test)) == (80, 20, 50)
    np.testing.assert_array_equal(ds.x_train, again.x_train)
    np.testing.assert_array_equal(ds.y_test, again.y_test)
    assert not np.array_equal(ds.x_train, other.x_train)
    assert not np.array_equal(ds.x_train[:50], ds.x_test)
    assert (ds.spec.task, ds.spec.num_classes, ds.spec.vocab_size, ds.spec.seq_len) == ("multiclass", 4, 0, 20)


def test_the_shipped_config_poses_ten_classes_and_builds():
    from rnn_recipes.model import build_model

    cfg = load_config(CONFIGS / "timing_lstm.yaml")
    spec = data_spec(cfg)
    assert (spec.task, spec.num_classes, spec.seq_len) == ("multiclass", 10, 40)
    assert load_dataset(cfg).spec == spec
    model = build_model(cfg, spec)
    u, k = 32, 10
    assert model.count_params() == 4 * u * (1 + u + 1) + (u * k + k)  # LSTM(32) on one value per step, softmax(10)
    assert estimated_parameters(cfg) >= model.count_params()


@pytest.mark.parametrize("data, expected", [
    ("{kind: timing, min_gap: 5, max_gap: 5}", "need min_gap < max_gap < time_steps"),
    ("{kind: timing, time_steps: 12, max_gap: 12}", "received 10, 12, 12"),
    ("{kind: timing, noise: -1}", "data.noise"),
])
def test_bad_timing_settings_are_refused_in_one_line(tmp_path, data, expected):
    path = tmp_path / "c.yaml"
    path.write_text(f"data: {data}\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert expected in str(info.value) and "\n" not in str(info.value)


def test_an_encoding_section_is_refused_for_raw_values():
    with pytest.raises(ValueError, match="timing feeds raw values; remove the encoding section"):
        Config.model_validate({"data": {"kind": "timing"}, "encoding": {"kind": "embedding"}})


@pytest.mark.slow
def test_a_timing_run_trains_predicts_a_gap_and_evaluates(cli, tmp_path):
    config = tmp_path / "t.yaml"
    config.write_text(
        "data: {kind: timing, time_steps: 12, min_gap: 2, max_gap: 5, train_size: 64, test_size: 16}\n"
        "model: {cell: peephole_lstm, units: 4}\n"
        "train: {epochs: 1, batch_size: 32, jit_compile: false}\n"
        f"output: {{dir: {tmp_path / 'runs'}, plots: false}}\n"
    )
    trained = cli("train", config)
    assert trained.exit_code == 0, trained.output
    run = next((tmp_path / "runs").iterdir())
    metrics = json.loads((run / "metrics.json").read_text())
    assert 0 <= metrics["accuracy"] <= 1 and metrics["majority_baseline_accuracy"] >= 0.25
    spikes = [0, 1, 0, 0, 1] + [0] * 7  # a gap of 3
    result = cli("predict", run, "--values", ",".join(map(str, spikes)), "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["label"] in {"gap 2", "gap 3", "gap 4", "gap 5"}
    short = cli("predict", run, "--values", "0,1,0")
    assert short.exit_code == 2 and "this run reads a window of 12 (data.time_steps)" in short.output
    again = cli("evaluate", run)
    assert again.exit_code == 0 and "max difference from the metrics saved at training time: 0" in again.output
