"""The Python API: `from rnn_recipes import train, load_run, predict, export`, as the README shows it."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import numpy as np
import pytest

from conftest import ROOT


def test_importing_the_api_names_imports_no_tensorflow():
    code = ("import sys; from rnn_recipes import train, load_run, predict, export; import rnn_recipes.api as api; "
            "assert (train, load_run, predict, export) == (api.train, api.load_run, api.predict, api.export); "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                         env={"PYTHONPATH": str(ROOT / "src"), "PATH": ""})
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "[]"


def test_overrides_are_the_cli_set_strings():
    from rnn_recipes.api import overrides_list

    assert overrides_list({"train.epochs": 3, "model.cell": "gru", "train.clipnorm": None}) == [
        "train.epochs=3", "model.cell=gru", "train.clipnorm=null"]
    assert overrides_list(["a.b=1"]) == ["a.b=1"] and overrides_list(None) == []


def test_a_bad_override_is_the_cli_error(tmp_path):
    from rnn_recipes import train
    from rnn_recipes.errors import ConfigError

    with pytest.raises(ConfigError, match="train.epoch"):
        train("tiny/sine_simple_rnn", {"train.epoch": 2}, out=tmp_path / "r")
    assert not (tmp_path / "r").exists()


def _readme_example() -> str:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(.*?)```", readme, re.S)
    example = next(b for b in blocks if "from rnn_recipes import" in b)
    assert len(example.strip().splitlines()) <= 10
    return example


@pytest.mark.slow
def test_the_readme_example_trains_reads_predicts_and_exports(tmp_path, monkeypatch, capsys):
    import importlib

    from rnn_recipes import api, train

    importlib.import_module("rnn_recipes.train")  # a submodule of the same name does not shadow the function
    from rnn_recipes import train as again

    assert train is again is api.train
    monkeypatch.chdir(tmp_path)
    exec(compile(_readme_example(), "README.md", "exec"), {})
    lines = capsys.readouterr().out.strip().splitlines()
    run_dir = tmp_path / "runs" / "sine-api"
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["epochs_run"] == 2
    assert lines[0] == f"{metrics['mase']} vs repeating the last value: {metrics['persistence_baseline']['mase']}"
    window = np.sin(np.arange(10, dtype="float32"))[None, :, None]
    expected = api.load_run(run_dir).load_model().predict(window, verbose=0)[0, 0]
    value = float(re.fullmatch(r"\[\{'value': (.*)\}\]", lines[1]).group(1))
    assert value == pytest.approx(float(expected), abs=1e-5)
    assert 0 <= float(lines[2]) <= 1e-4
    assert (tmp_path / "runs" / "sine-api-export" / "onnx" / "model.onnx").is_file()


@pytest.mark.slow
def test_a_config_object_takes_overrides_too(tmp_path):
    from rnn_recipes import load_run, train
    from rnn_recipes.config_load import load_config

    cfg = load_config(ROOT / "configs" / "tiny" / "sine_simple_rnn.yaml")
    run = load_run(train(cfg, {"train.epochs": 1, "model.units": 4, "output.plots": False}, out=tmp_path / "r", verbose=0))
    assert run.config.model.units == 4 and run.metrics["epochs_run"] == 1
