"""The benchmark scripts run end to end on microscopic cases (their numbers are not asserted: machines differ)."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from conftest import ROOT


@pytest.mark.slow
def test_the_training_benchmark_runs_a_microscopic_case_without_torch():
    cmd = [sys.executable, "-m", "benchmarks.training", "--cases", "lstm-100", "--samples", "64", "--steps", "8",
           "--repeats", "1", "--no-torch", "--no-extras"]
    out = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "PyTorch column absent" in out.stdout
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


def test_the_training_benchmark_times_each_precision_and_refuses_an_unknown_one(capsys):
    from benchmarks.training import PATHS, main

    assert {"rnn_recipes_mixed_bfloat16_xla", "rnn_recipes_mixed_float16_jit_off"} <= set(PATHS)
    with pytest.raises(SystemExit) as exc:
        main(["--cases", "lstm-100", "--precision", "mixed_bfloat16,float8"])
    assert exc.value.code == 2
    assert "unknown precision float8; expected some of: mixed_bfloat16, mixed_float16" in capsys.readouterr().err
