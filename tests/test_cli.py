"""End to end through the `rnn` command: train, evaluate, summary, configs, and bad input."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import CONFIGS, ROOT, TINY


def history(run_dir) -> list[dict]:
    with open(run_dir / "history.csv") as fh:
        return [{k: float(v) for k, v in row.items()} for row in csv.DictReader(fh)]


def test_help_answers_without_importing_tensorflow():
    code = "import sys; from rnn_recipes.cli import app; print('tensorflow' in sys.modules, 'keras' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


def test_configs_lists_every_bundled_config(cli):
    result = cli("configs")
    assert result.exit_code == 0
    names = [line.split()[0] for line in result.output.splitlines()]
    assert names == sorted(str(p.relative_to(CONFIGS).with_suffix("")) for p in CONFIGS.rglob("*.yaml"))


@pytest.mark.parametrize("name, total", [("imdb_simplernn_integer", "1,121"), ("imdb_simplernn_embedding", "21,153")])
def test_summary_reports_the_seed_parameter_counts(cli, name, total):
    result = cli("summary", CONFIGS / f"{name}.yaml")
    assert result.exit_code == 0, result.output
    assert f"Total params: {total}" in result.output


TINY_NAMES = sorted(p.stem for p in TINY.glob("*.yaml"))


@pytest.mark.slow
@pytest.mark.parametrize("name", TINY_NAMES)
def test_tiny_run_writes_a_complete_run_directory(tiny_runs, name):
    run = tiny_runs[name]
    expected = {"model.keras", "config.yaml", "history.csv", "metrics.json", "summary.txt", "versions.json", "manifest.json"}
    assert expected <= {p.name for p in run.iterdir()}
    manifest = json.loads((run / "manifest.json").read_text())["files"]
    assert set(manifest) >= expected - {"manifest.json"}


@pytest.mark.slow
@pytest.mark.parametrize("name", [n for n in TINY_NAMES if "integer" not in n])
def test_tiny_run_learns(tiny_runs, name):
    rows = history(tiny_runs[name])
    assert rows[-1]["loss"] < 0.8 * rows[0]["loss"]  # the loss measurably falls


@pytest.mark.slow
def test_integer_encoding_stays_near_chance_as_the_seed_reports(tiny_runs):
    # ids fed as magnitudes carry no usable signal to a SimpleRNN: the seed's ~0.50
    metrics = json.loads((tiny_runs["imdb_integer_simple_rnn"] / "metrics.json").read_text())
    embedded = json.loads((tiny_runs["imdb_embedding_lstm"] / "metrics.json").read_text())
    assert abs(metrics["accuracy"] - 0.5) < 0.1
    assert embedded["accuracy"] - metrics["accuracy"] > 0.3


@pytest.mark.slow
def test_planted_signal_imdb_is_learned(tiny_runs):
    metrics = json.loads((tiny_runs["imdb_embedding_lstm"] / "metrics.json").read_text())
    assert metrics["split"] == "test" and metrics["accuracy"] >= 0.9
    assert metrics["majority_baseline_accuracy"] < 0.6


@pytest.mark.slow
def test_text_run_saves_its_vocabulary_and_bits(tiny_runs):
    run = tiny_runs["text_char_lstm"]
    vocab = json.loads((run / "vocab.json").read_text())
    assert vocab["level"] == "char" and "a" in vocab["tokens"]
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["val_perplexity"] < len(vocab["tokens"])  # better than guessing uniformly


@pytest.mark.slow
def test_sine_beats_nothing_less_than_its_baseline_and_plots(tiny_runs):
    run = tiny_runs["sine_simple_rnn"]
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["loss"] < metrics["persistence_baseline"]["mse"]
    assert (run / "predictions.png").stat().st_size > 1000 and (run / "curves.png").is_file()


@pytest.mark.slow
def test_evaluate_reproduces_saved_metrics(cli, tiny_runs):
    run = tiny_runs["imdb_embedding_lstm"]
    result = cli("evaluate", run)
    assert result.exit_code == 0, result.output
    recomputed = json.loads(result.stdout)
    saved = json.loads((run / "metrics.json").read_text())
    assert recomputed["accuracy"] == pytest.approx(saved["accuracy"], abs=1e-6)
    assert recomputed["loss"] == pytest.approx(saved["loss"], rel=1e-5)


@pytest.mark.slow
def test_same_config_and_seed_give_the_same_metrics(cli, tmp_path):
    config = TINY / "sine_stacked_gru.yaml"
    runs = [cli("train", config, "--out", tmp_path / f"r{i}", "--set", "train.epochs=2") for i in (1, 2)]
    assert all(r.exit_code == 0 for r in runs), runs[0].output
    a, b = (json.loads((tmp_path / f"r{i}" / "metrics.json").read_text()) for i in (1, 2))
    assert a["loss"] == b["loss"]


@pytest.mark.slow
def test_train_prints_the_run_directory_and_saves_resolved_config(cli, tmp_path):
    result = cli("train", TINY / "sine_stacked_gru.yaml", "--set", "train.epochs=1", "--set", "model.units=3")
    assert result.exit_code == 0, result.output
    run = tmp_path / result.stdout.strip().splitlines()[-1]
    assert run.parent.name == "runs" and run.name.startswith("sine_stacked_gru-")
    saved = (run / "config.yaml").read_text()
    assert "units: 3" in saved and "epochs: 1" in saved and "learning_rate: 0.01" in saved


# --- bad input: one line, exit code 2, no traceback ---------------------------------


def one_line_error(result) -> str:
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.output
    assert "Traceback" not in result.output
    return lines[0]


def test_missing_config_file(cli):
    assert one_line_error(cli("train", "nope.yaml")) == "error: config file not found: nope.yaml"


def test_yaml_syntax_error(cli, tmp_path):
    (tmp_path / "bad.yaml").write_text("data:\n  kind: sine\n  time_steps: [3\n")
    assert one_line_error(cli("train", "bad.yaml")).startswith("error: bad.yaml:4:1: YAML syntax error")


def test_unknown_key(cli, tmp_path):
    (tmp_path / "bad.yaml").write_text("data:\n  kind: sine\ntrain:\n  epoch: 3\n")
    message = one_line_error(cli("summary", "bad.yaml"))
    assert message.startswith("error: bad.yaml:4: unknown key 'train.epoch'. Did you mean 'epochs'?")


def test_bad_value(cli):
    message = one_line_error(cli("train", TINY / "sine_simple_rnn.yaml", "--set", "model.dropout=1.5"))
    assert "invalid 'model.dropout'" in message and "1.5" in message


def test_missing_dataset_file(cli):
    message = one_line_error(cli("train", TINY / "imdb_embedding_lstm.yaml", "--set", "data.path=missing.npz"))
    # a relative --set path is the working directory's file, stored absolute so the run finds it from anywhere
    assert message == f"error: IMDB file not found: {Path.cwd() / 'missing.npz'} (data.path); expected Keras' imdb.npz"
    assert not (TINY / "runs").exists()


def test_run_directory_that_is_not_a_run(cli, tmp_path):
    (tmp_path / "empty").mkdir()
    message = one_line_error(cli("evaluate", "empty"))
    assert message == "error: empty is not a run directory (no config.yaml); expected a directory written by `rnn train`"


def test_bundled_config_by_name(cli):
    result = cli("summary", "sine_simplernn")
    assert result.exit_code == 0 and "simple_rnn_0 (SimpleRNN)" in result.output


def test_bundled_config_in_a_subfolder_by_name(cli):
    result = cli("summary", "tiny/sine_stacked_gru")
    assert result.exit_code == 0 and "gru_1 (GRU)" in result.output


def test_python_dash_m_entry_point():
    out = subprocess.run([sys.executable, "-m", "rnn_recipes", "--help"], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0 and "Usage: rnn" in out.stdout
