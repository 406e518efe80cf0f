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
    if rt.jit is True and rt.jit_source == "auto":  # a short run: XLA's compiles would cost more than they save
        assert (settled.jit, settled.jit_source, settled.deterministic_ops) == (False, "auto", False)
        assert settled.jit_reason.startswith("auto: a short run (") and "GFLOP of training" in settled.jit_reason
    else:
        assert settled == rt


def test_rules_that_turn_xla_off_are_not_timed(monkeypatch):
    from rnn_recipes.data import load_dataset

    monkeypatch.setattr(autotune, "MIN_GFLOP", 0.0)
    monkeypatch.setattr(autotune, "time_paths", lambda *a, **k: pytest.fail("timed"))
    cfg = _char("train.jit_compile=false")
    assert autotune.settle(cfg, load_dataset(cfg), resolve(cfg, CPU)).jit_source == "config"


def _timing(first_on, step_on, first_off, step_off, steps=4):
    """A fake `time_paths` result for one batch: each path's first step, then `steps` steps (the fastest given first)."""
    return {"on": {"first": [first_on], "steps": [[step_on] + [step_on * 1.1] * (steps - 1)]},
            "off": {"first": [first_off], "steps": [[step_off] + [step_off * 1.2] * (steps - 1)]}}


def test_the_timing_is_cached_and_said_in_the_runtime_line(monkeypatch):
    from rnn_recipes.data import load_dataset

    monkeypatch.setattr(autotune, "MIN_GFLOP", 0.0)
    calls = []

    def fake(cfg, spec, batches, candidates, steps=autotune.STEPS):
        calls.append(sorted(candidates))
        assert candidates["on"].use_cudnn is False and not candidates["off"].deterministic_ops  # one CPU: not needed
        ((x, y),) = batches  # one width: one batch
        assert x.shape[0] == cfg.train.batch_size and len(y) == len(x)  # a full batch of the run's own data
        return _timing(first_on=2.3, step_on=0.3, first_off=1.2, step_off=0.2)

    monkeypatch.setattr(autotune, "time_paths", fake)
    cfg = _char()
    ds = load_dataset(cfg)
    p = autotune.plan(cfg, ds.x_train)
    rt = autotune.settle(cfg, ds, resolve(cfg, CPU))
    assert (rt.jit, rt.jit_source, rt.deterministic_ops) == (False, "measured", False)
    on, off = p.shapes * 2.0 + p.steps * 0.3, 1.0 + p.steps * 0.2  # compiles beyond a step, then the fastest steps
    assert rt.jit_measured["predicted_s"] == pytest.approx({"on": on, "off": off})
    assert f"XLA off (measured: {on / off:.2f}x faster without over the run's {p.steps:,} steps (a step 300 vs 200 ms; " in rt.line()
    assert rt.to_json()["jit_measured"]["winner"] == "off"
    again = autotune.settle(cfg, ds, resolve(cfg, CPU))
    assert calls == [["off", "on"]]  # the rerun read the cache
    assert again.jit is False and again.jit_reason.endswith(", cached")
    # another batch size is another shape: timed again
    other = _char("train.batch_size=16")
    autotune.settle(other, load_dataset(other), resolve(other, CPU))
    assert len(calls) == 2 and len(json.loads(autotune.cache_path().read_text())) == 2


def _plan(epochs, batches, shapes=1, width_sum=0):
    return autotune.Plan(epochs, batches, shapes, width_sum, probes=())


def test_compiles_weigh_against_faster_steps_by_the_length_of_the_run():
    times = _timing(first_on=30.5, step_on=0.5, first_off=2.0, step_off=1.0)  # XLA: 30 s to compile, steps twice as fast
    short, long_ = autotune.decide(times, _plan(1, 10), [0]), autotune.decide(times, _plan(10, 10), [0])
    assert min(short, key=short.get) == "off" and short == pytest.approx({"on": 35.0, "off": 11.0})
    assert min(long_, key=long_.get) == "on" and long_ == pytest.approx({"on": 80.0, "off": 101.0})
    many = autotune.decide(times, _plan(10, 10, shapes=11), [0])  # every bucket width compiles anew under XLA
    assert min(many, key=many.get) == "off" and many["on"] == pytest.approx(11 * 30 + 50)


def test_two_timed_widths_give_each_path_its_own_cost_per_time_step():
    # at width 100 XLA's step is 1.2x faster, at width 500 2x: without it every time step costs more
    times = {"on": {"first": [5.1, 5.5], "steps": [[0.1, 0.2], [0.5, 0.6]]},
             "off": {"first": [1.12, 1.0], "steps": [[0.12], [1.0]]}}
    p = _plan(epochs=10, batches=40, shapes=12, width_sum=20 * 100 + 20 * 500)
    predicted = autotune.decide(times, p, [100, 500])
    on = 12 * 5.0 + 10 * (20 * 0.1 + 20 * 0.5)  # compiles of 5 s, then each step on its width's line
    off = 1 * 0.5 + 10 * (20 * 0.12 + 20 * 1.0)  # one trace: the mean of its first steps' time beyond a step
    assert predicted == pytest.approx({"on": on, "off": off})
    assert min(predicted, key=predicted.get) == "on"  # the commonest width alone (1.2x) would not pay for 12 compiles


def test_a_bucketed_run_is_timed_on_a_batch_of_its_commonest_width(monkeypatch):
    from rnn_recipes import pipeline
    from rnn_recipes.data import load_dataset

    monkeypatch.setattr(autotune, "MIN_GFLOP", 0.0)
    seen = []

    def fake(cfg, spec, batches, candidates, steps=autotune.STEPS):
        seen.extend(x for x, _ in batches)
        assert spec.seq_len is None  # the throwaway models read any width, as training's stream does
        return {"on": {"first": [1.5, 1.6], "steps": [[0.01], [0.02]]},
                "off": {"first": [0.6, 0.7], "steps": [[0.02], [0.06]]}}

    monkeypatch.setattr(autotune, "time_paths", fake)
    cfg = load_config(TINY / "imdb_embedding_lstm.yaml", ["train.epochs=40"])
    ds = load_dataset(cfg)
    static = resolve(cfg, CPU)
    assert (static.jit, static.bucketing) == (False, True)  # the rule's guess: widths compile anew
    plan = pipeline.bucket_batches(pipeline.token_lengths(ds.x_train), 32, pipeline.bucket_widths(40), cfg.seed, 0)
    shapes = {(len(idx), w) for idx, w in plan}
    widths = [w for idx, w in plan if len(idx) == 32]
    common, widest = max(set(widths), key=widths.count), max(widths)
    p = autotune.plan(cfg, ds.x_train)
    assert (p.shapes, p.steps, p.width_sum) == (len(shapes), 40 * len(plan), sum(w for _, w in plan))
    assert [w for _, w in p.probes] == [common, widest] and common < widest
    rt = autotune.settle(cfg, ds, static)
    assert [x.shape for x in seen] == [(32, common), (32, widest)]
    for x, (idx, width) in zip(seen, p.probes):  # pre-padded rows cut to the bucket, tokens kept
        np.testing.assert_array_equal(x, pipeline.trim(ds.x_train[idx], width, "pre"))
        assert (x[:, 0] != 0).any()
    slope = {"on": 0.01 / (widest - common), "off": 0.04 / (widest - common)}
    base = {"on": 0.01 - slope["on"] * common, "off": 0.02 - slope["off"] * common}
    steps = {k: 40 * (len(plan) * base[k] + slope[k] * p.width_sum) for k in base}
    predicted = {"on": len(shapes) * 1.535 + steps["on"], "off": 0.61 + steps["off"]}
    assert rt.jit_measured["predicted_s"] == pytest.approx(predicted)
    assert rt.jit is (predicted["on"] < predicted["off"]) and rt.jit_source == "measured"


@pytest.mark.slow
def test_a_bucketed_run_times_its_real_steps(monkeypatch):
    from rnn_recipes.data import load_dataset

    monkeypatch.setattr(autotune, "MIN_GFLOP", 0.0)
    cfg = load_config(TINY / "imdb_embedding_lstm.yaml")
    rt = autotune.settle(cfg, load_dataset(cfg), resolve(cfg, CPU), use_cache=False)
    times = rt.jit_measured["times"]
    assert rt.jit_source == "measured" and rt.bucketing
    counts = {len(s) for t in times.values() for s in t["steps"]}  # every path and width timed alike
    assert all(len(t["first"]) == 2 for t in times.values()) and len(counts) == 1
    assert autotune.STEPS <= counts.pop() <= autotune.MAX_STEPS


def test_a_bidirectional_run_is_timed_too(monkeypatch):
    from rnn_recipes.data import load_dataset

    monkeypatch.setattr(autotune, "MIN_GFLOP", 0.0)
    monkeypatch.setattr(autotune, "time_paths", lambda *a, **k: _timing(1.0, 0.1, 0.5, 0.2))
    cfg = load_config(TINY / "imdb_onehot_bigru.yaml", ["train.bucketing=false"])
    static = resolve(cfg, CPU)
    assert static.jit is False and "directions" in static.jit_reason
    rt = autotune.settle(cfg, load_dataset(cfg), static)
    assert (rt.jit, rt.jit_source, rt.deterministic_ops) == (True, "measured", False)


def test_bfloat16_and_a_gpu_are_not_timed(monkeypatch):
    from rnn_recipes.data import load_dataset

    monkeypatch.setattr(autotune, "MIN_GFLOP", 0.0)
    monkeypatch.setattr(autotune, "time_paths", lambda *a, **k: pytest.fail("timed"))
    cfg = _char("train.precision=mixed_bfloat16")
    assert autotune.settle(cfg, load_dataset(cfg), resolve(cfg, CPU)).jit_source == "auto"
    cfg = _char()
    gpu = resolve(cfg, Machine("tensorflow", gpu=True))
    assert autotune.settle(cfg, load_dataset(cfg), gpu) == gpu


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
    monkeypatch.setattr(autotune, "decide", lambda times, p, widths: {"on": 2.0, "off": 1.0})  # real timing, fixed winner
    measured, m_hist, m_weights = _run(_char(), tmp_path / "measured")
    record = json.loads((measured / "runtime.json").read_text())
    assert (record["jit"], record["jit_source"]) == (False, "measured")
    assert all(len(t["steps"][0]) >= 2 and t["first"][0] > 0 for t in record["jit_measured"]["times"].values())
    _, f_hist, f_weights = _run(_char("train.jit_compile=false"), tmp_path / "forced")
    assert m_hist == f_hist
    for a, b in zip(m_weights, f_weights, strict=True):
        np.testing.assert_array_equal(a, b)
