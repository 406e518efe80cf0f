"""The task registry: every record complete, each task's head, loss and ranking as before, and no task strings elsewhere."""

from __future__ import annotations

import dataclasses
import math
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import CONFIGS, ROOT, TINY
from rnn_recipes import tasks
from rnn_recipes.codec import TextCodec
from rnn_recipes.config import Config
from rnn_recipes.config_load import load_config
from rnn_recipes.data import TASK_OF_KIND, Dataset, DataSpec, data_spec, task_name
from rnn_recipes.tasks import TASKS

SRC = ROOT / "src" / "rnn_recipes"


def spec_for(name: str) -> DataSpec:
    return DataSpec(name, 6, vocab_size=20, num_classes=5)


@pytest.mark.parametrize("name", sorted(TASKS))
def test_every_record_is_complete(name):
    task = TASKS[name]
    assert task.name == name and task.summary
    assert task.activation in (None, "sigmoid", "softmax")
    assert task.units(spec_for(name)) >= 1 and isinstance(task.per_step(spec_for(name)), bool)
    assert isinstance(task.loss, str) and task.metrics and all(isinstance(m, str) for m in task.metrics)
    assert task.leaderboard and task.rank_by == task.leaderboard[0]
    assert isinstance(task.higher_is_better, tuple)
    assert callable(task.baselines) and callable(task.present)
    for field in dataclasses.fields(task):
        assert getattr(task, field.name) is not None or field.name == "activation"


def test_today_s_tasks_keep_their_head_loss_and_metrics():
    spec = DataSpec("next_token", 4, vocab_size=7, num_classes=7, sequence_output=True)
    heads = {name: (t.activation, t.units(spec), t.loss, t.metrics) for name, t in TASKS.items()}
    assert heads["binary"] == ("sigmoid", 1, "binary_crossentropy", ("accuracy",))
    assert heads["next_token"] == ("softmax", 7, "sparse_categorical_crossentropy", ("accuracy",))
    assert heads["regression"] == (None, 1, "mse", ("mae",))
    assert TASKS["next_token"].per_step(spec) and not TASKS["next_token"].per_step(dataclasses.replace(spec, sequence_output=False))
    assert not TASKS["binary"].per_step(spec) and not TASKS["regression"].per_step(spec)


def test_each_data_kind_poses_a_registered_task_and_its_spec_says_so():
    assert set(TASK_OF_KIND.values()) <= set(TASKS)
    for path in sorted(CONFIGS.rglob("*.yaml")):
        cfg = load_config(path)
        if getattr(cfg.data, "url", None):  # a corpus that downloads: read the same settings from inline text
            cfg = cfg.model_copy(update={"data": cfg.data.model_copy(update={"url": None, "sha256": None, "text": "ab"})})
        assert data_spec(cfg).task == task_name(cfg), path


def test_an_unknown_task_is_refused_with_the_valid_names():
    with pytest.raises(ValueError, match=r"Invalid `task`. Expected one of: binary, .*regression, tagging, transduction. Received: 'binry'."):
        DataSpec("binry", 10)


def test_ranking_direction_comes_from_the_record():
    assert [TASKS[n].rank_by for n in ("binary", "next_token", "regression")] == ["val_accuracy", "val_loss", "mase"]
    assert TASKS["binary"].is_higher_better("val_accuracy") and TASKS["next_token"].is_higher_better("accuracy")
    assert not TASKS["next_token"].is_higher_better("val_loss") and not TASKS["regression"].is_higher_better("rmse")
    # a task that says so ranks any metric higher-first
    bleu = dataclasses.replace(TASKS["next_token"], higher_is_better=("bleu",))
    assert bleu.is_higher_better("val_bleu") and not bleu.is_higher_better("val_accuracy")


def test_leaderboard_ranks_by_the_task_s_metric_and_direction(tmp_path, monkeypatch):
    import json

    from rnn_recipes import leaderboard, recipes

    recipe = recipes.load_recipe(_write(tmp_path, f"base: {TINY / 'sine_simple_rnn.yaml'}\nmatrix:\n  model.cell: [lstm, gru]\n"))
    out = tmp_path / "out"
    for name, mase, rmse in (("lstm", 0.2, 0.1), ("gru", 0.05, 0.3)):
        run = out / recipe.name / name
        run.mkdir(parents=True)
        baselines = {f"{b}_baseline": {"mase": 1.0} for b in ("persistence", "seasonal_naive", "linear_ar")}
        (run / "metrics.json").write_text(json.dumps({"loss": mase, "mase": mase, "rmse": rmse, **baselines}))
        (run / "history.csv").write_text(f"epoch,loss,seconds\n1,{mase},0.1\n")
        (run / "manifest.json").write_text("{}")
    metrics, rows = leaderboard.leaderboard_rows(recipe, out)
    assert metrics[:2] == ["mase", "rmse"] and [r["variant"] for r in rows] == ["gru", "lstm"]  # lower MASE first
    assert rows[0]["persistence_baseline.mase"] == 1.0  # the baselines stand beside every variant
    # the same runs under a task that ranks by rmse, higher first
    flipped = dataclasses.replace(TASKS["regression"], leaderboard=("rmse", "loss"), higher_is_better=("rmse",))
    monkeypatch.setitem(TASKS, "regression", flipped)
    metrics, rows = leaderboard.leaderboard_rows(recipe, out)
    assert metrics == ["rmse", "loss"] and [r["variant"] for r in rows] == ["gru", "lstm"]
    assert "Ranked by `rmse` (higher is better)." in leaderboard.leaderboard_markdown(recipe, metrics, rows)


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "r.yaml"
    path.write_text(text)
    return path


class _Model:
    """Stands in for a Keras model: fixed predictions and a fixed validation loss."""

    def __init__(self, pred=None, val_loss=0.0):
        self.pred, self.val_loss = pred, val_loss

    def predict(self, x, batch_size, verbose):
        return self.pred

    def evaluate(self, x, y, batch_size, verbose, return_dict):
        return {"loss": self.val_loss}


def _dataset(spec, x_test, y_test, **kwargs) -> Dataset:
    empty = np.zeros((0,) + x_test.shape[1:], x_test.dtype)
    return Dataset(spec, empty, empty[:, :0], kwargs.pop("x_val", empty), kwargs.pop("y_val", empty[:, :0]),
                   x_test, y_test, **kwargs)


def test_baselines_give_the_same_numbers_as_before():
    y = np.array([1, 1, 1, 0], "float32")
    binary = TASKS["binary"].baselines(None, _dataset(DataSpec("binary", 3, 5), np.zeros((4, 3), "int32"), y), 8, {})
    assert binary == {"majority_baseline_accuracy": 0.75}

    # a series run: the model and persistence in original units (no scaling), MASE over the training changes
    from rnn_recipes.series import SeriesInfo

    x = np.array([[[0.0], [1.0]], [[1.0], [3.0]]], "float32")
    y = np.array([[2.0], [3.0]], "float32")
    truth = y[:, :, None].astype("float64")
    info = SeriesInfo(("v",), 1, "direct", 1, np.zeros(1), np.ones(1), truth,
                      {"persistence": x[:, -1:, :], "seasonal_naive": x[:, -1:, :], "linear_ar": truth},
                      mase_scale=np.array([0.5]))
    reg = TASKS["regression"].baselines(_Model(pred=np.array([[2.0], [2.0]], "float32")),
                                        _dataset(DataSpec("regression", 2), x, y, series=info), 8, {})
    assert reg["rmse"] == pytest.approx(math.sqrt(0.5)) and reg["mase"] == pytest.approx(1.0)
    assert reg["persistence_baseline"] | {"per_step": None} == {
        "mse": 0.5, "mae": 0.5, "rmse": pytest.approx(math.sqrt(0.5)), "mase": 1.0, "per_step": None}
    assert reg["improvement_over_persistence_pct"] == 0.0 and reg["linear_ar_baseline"]["mase"] == 0.0

    ids = np.zeros((3, 4), "int32")
    lm = _dataset(DataSpec("next_token", 4, 5, 5), ids, ids[:, 0], x_val=ids, y_val=ids[:, 0],
                  codec=TextCodec(("a", "b", "c", "d", "e"), "word", False))
    out = TASKS["next_token"].baselines(_Model(val_loss=math.log(4)), lm, 8, {"loss": math.log(2)})
    assert out["test_bits_per_word"] == pytest.approx(1.0) and out["test_perplexity"] == pytest.approx(2.0)
    assert out["val_loss_nats"] == pytest.approx(math.log(4)) and out["val_bits_per_word"] == pytest.approx(2.0)


def test_only_regression_draws_predicted_against_actual():
    assert [n for n, t in TASKS.items() if t.prediction_plot] == ["regression"]


def test_predictions_are_presented_as_a_user_reads_them():
    assert TASKS["binary"].present(np.array([0.2], "float32"), labels=["negative", "positive"]) == {
        "label": "negative", "probability": pytest.approx(0.8)}
    assert TASKS["binary"].present(np.array([0.7])) == {"label": 1, "probability": 0.7}
    probs = np.array([[0.5, 0.5, 0.0], [0.1, 0.6, 0.3]])  # per step: the last step is the prediction
    top = TASKS["next_token"].present(probs, labels=["a", "b", "c"], top_k=2)
    assert top == {"top": [{"token": "b", "probability": 0.6}, {"token": "c", "probability": 0.3}]}
    assert TASKS["regression"].present(np.array([0.25], "float32")) == {"value": 0.25}
    assert TASKS["multiclass"].present(np.array([0.1, 0.7, 0.2]), labels=["x", "y", "z"]) == {"label": "y", "probability": 0.7}


def test_multiclass_head_is_a_softmax_over_the_classes():
    from rnn_recipes.model import build_model, compile_model

    cfg = Config.model_validate({"data": {"kind": "imdb", "num_words": 100, "maxlen": 20},
                                 "encoding": {"kind": "embedding", "dim": 4}, "model": {"cell": "simple_rnn", "units": 8}})
    spec = DataSpec("multiclass", 20, vocab_size=100, num_classes=4)
    model = compile_model(build_model(cfg, spec), cfg, spec)
    assert model.get_layer("output").units == 4
    assert model.count_params() == 100 * 4 + 8 * (4 + 8 + 1) + 4 * (8 + 1)
    out = np.asarray(model(np.ones((2, 20), "int32")))
    np.testing.assert_allclose(out.sum(-1), 1.0, rtol=1e-5)
    assert tasks.majority_accuracy(np.array([2, 2, 0, 1, 2])) == pytest.approx(0.6)


@pytest.mark.parametrize("name", sorted(TASKS))
def test_diagnose_measures_the_loss_each_task_trains_with(name):
    from rnn_recipes.diagnose import keras, loss_object

    loss = loss_object(TASKS[name].loss)
    assert isinstance(loss, keras.losses.Loss) and loss.fn is keras.losses.get(TASKS[name].loss)


# what deciding behaviour by task name looks like: `.task ==`, `task in (...)`, a task name compared or used as a key
_TASK_FIELD = re.compile(r"\.task\s*(==|!=|\bin\b|\bnot in\b)|\btask\s*(==|!=)\s*[\"']")


def _name_use(name: str) -> re.Pattern:
    quoted = rf"[\"']{name}[\"']"
    return re.compile(rf"(==|!=)\s*{quoted}|{quoted}\s*(==|!=|:)|\bin\s*[(\[{{][^)\]}}]*{quoted}")


def test_no_module_but_tasks_decides_by_task_name():
    offences = []
    for path in sorted(SRC.glob("*.py")):
        if path.name == "tasks.py":
            continue
        for number, line in enumerate(path.read_text().splitlines(), 1):
            code = line.split("#", 1)[0]
            if _TASK_FIELD.search(code) or any(_name_use(n).search(code) for n in TASKS):
                offences.append(f"{path.name}:{number}: {line.strip()}")
    assert not offences, "task names compared outside tasks.py (ask tasks.of(spec) instead):\n" + "\n".join(offences)


def test_the_scan_catches_what_it_is_for():
    caught = ['if ds.spec.task == "regression":', 'if spec.task != "binary":', 'x = {"binary": 1}[t]',
              'if task in ("binary", "next_token"):']
    assert all(_TASK_FIELD.search(c) or any(_name_use(n).search(c) for n in TASKS) for c in caught)
    assert not any(_name_use(n).search('TASK_OF_KIND = {"imdb": "binary"}') for n in TASKS)


def test_tasks_imports_no_tensorflow():
    code = "import sys, rnn_recipes.tasks, rnn_recipes.recipes, rnn_recipes.leaderboard; print('tensorflow' in sys.modules or 'keras' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env=dict(os.environ, PYTHONPATH=str(SRC.parent)))
    assert out.stdout.strip() == "False"
