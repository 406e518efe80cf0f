"""jit_compile auto settled by timing (rnn_recipes.autotune): what is timed, what is cached, and that timing changes no result.

No assertion reads a clock: where a winner matters, `decide` or `time_paths` is replaced.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from conftest import TINY

from rnn_recipes import autotune
from rnn_recipes.config_load import load_config
from rnn_recipes.runtime import Machine, resolve

CPU = Machine("tensorflow", gpu=False)
CHAR = TINY / "text_char_lstm.yaml"


@pytest.fixture(autouse=True)
def own_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("RNN_RECIPES_CACHE", str(tmp_path / "cache"))


def _char(*sets):
    return load_config(CHAR, ["train.epochs=2", *sets])


@pytest.mark.parametrize("name", sorted(p.stem for p in TINY.glob("*.yaml")))
def test_tiny_configs_are_not_timed(name, monkeypatch):
    from rnn_recipes.data import load_dataset

    monkeypatch.setattr(autotune, "time_paths", lambda *a, **k: pytest.fail("a tiny config was timed"))
    cfg = load_config(TINY / f"{name}.yaml")
    rt = resolve(cfg, CPU)
    settled = autotune.settle(cfg, load_dataset(cfg), rt)
    assert settled == rt


def test_rules_that_turn_xla_off_are_not_timed(monkeypatch):
    from rnn_recipes.data import load_dataset

    monkeypatch.setattr(autotune, "MIN_GFLOP", 0.0)
    monkeypatch.setattr(autotune, "time_paths", lambda *a, **k: pytest.fail("timed"))
    cfg = _char("train.jit_compile=false")
    assert autotune.settle(cfg, load_dataset(cfg), resolve(cfg, CPU)).jit_source == "config"


def test_the_timing_is_cached_and_said_in_the_runtime_line(monkeypatch):
    from rnn_recipes.data import load_dataset

    monkeypatch.setattr(autotune, "MIN_GFLOP", 0.0)
    calls = []

    def fake(cfg, spec, x, y, candidates, steps=autotune.STEPS):
        calls.append(sorted(candidates))
        assert candidates["on"].use_cudnn is False and candidates["off"].deterministic_ops
        return {"on": [0.3, 0.31, 0.33, 0.3], "off": [0.2, 0.21, 0.2, 0.25]}

    monkeypatch.setattr(autotune, "time_paths", fake)
    cfg = _char()
    ds = load_dataset(cfg)
    rt = autotune.settle(cfg, ds, resolve(cfg, CPU))
    assert (rt.jit, rt.jit_source, rt.deterministic_ops) == (False, "measured", True)
    assert "XLA off (measured: 1.50x faster without, 4+4 steps)" in rt.line()
    assert rt.to_json()["jit_measured"]["winner"] == "off"
    again = autotune.settle(cfg, ds, resolve(cfg, CPU))
    assert calls == [["off", "on"]]  # the rerun read the cache
    assert again.jit is False and again.jit_reason.endswith(", cached")
    # another batch size is another shape: timed again
    other = _char("train.batch_size=16")
    autotune.settle(other, load_dataset(other), resolve(other, CPU))
    assert len(calls) == 2 and len(json.loads(autotune.cache_path().read_text())) == 2


def _run(cfg, out):
    from rnn_recipes.train import train

    path = train(cfg, out, verbose=0)
    history = [float(r.split(",")[1]) for r in (path / "history.csv").read_text().splitlines()[1:]]
    from rnn_recipes.backend import import_keras

    weights = import_keras().models.load_model(path / "model.keras").get_weights()
    return path, history, weights


@pytest.mark.slow
def test_either_path_trains_the_same_loss_curve(tmp_path):
    _, on, _ = _run(_char("train.jit_compile=true"), tmp_path / "on")
    _, off, _ = _run(_char("train.jit_compile=false"), tmp_path / "off")
    np.testing.assert_allclose(on, off, rtol=1e-5)


@pytest.mark.slow
def test_a_measured_run_ends_on_the_weights_of_a_forced_run_of_its_winner(tmp_path, monkeypatch):
    monkeypatch.setattr(autotune, "MIN_GFLOP", 0.0)
    monkeypatch.setattr(autotune, "decide", lambda times: "off")  # the real timing steps run; the winner is fixed
    measured, m_hist, m_weights = _run(_char(), tmp_path / "measured")
    record = json.loads((measured / "runtime.json").read_text())
    assert (record["jit"], record["jit_source"]) == (False, "measured")
    assert all(len(t) >= 2 for t in record["jit_measured"]["times"].values())
    _, f_hist, f_weights = _run(_char("train.jit_compile=false"), tmp_path / "forced")
    assert m_hist == f_hist
    for a, b in zip(m_weights, f_weights, strict=True):
        np.testing.assert_array_equal(a, b)
