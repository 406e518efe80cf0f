"""`rnn predict` on the run kinds that are not classifiers: next tokens of a text run, the next value of a sine run."""

from __future__ import annotations

import json

import numpy as np
import pytest


@pytest.mark.slow
def test_text_run_prints_the_top_k_next_tokens(cli, tiny_runs):
    from rnn_recipes.predict import predict_run

    run = tiny_runs["text_char_lstm"]
    vocab = json.loads((run / "vocab.json").read_text())["tokens"]
    text = "".join(vocab[i % len(vocab)] for i in range(25))
    result = cli("predict", run, "--json", "--top-k", "3", "--text", text)
    assert result.exit_code == 0, result.output
    top = json.loads(result.stdout)["top"]
    assert len(top) == 3 and top[0]["probability"] >= top[1]["probability"] >= top[2]["probability"]
    assert top == next(predict_run(run, texts=[text], top_k=3))["top"]
    short = cli("predict", run, "--text", text[:5])
    assert short.exit_code == 2 and "this run reads 20 (data.seq_length)" in short.output


@pytest.mark.slow
def test_sine_run_predicts_the_next_value_of_a_window(cli, tiny_runs):
    from rnn_recipes.safeload import load_model_file

    run = tiny_runs["sine_simple_rnn"]
    window = np.sin(np.arange(12)).round(4)
    result = cli("predict", run, "--values", ",".join(map(str, window)))
    assert result.exit_code == 0, result.output
    expected = load_model_file(run / "model.keras").predict(window[-10:][None, :, None].astype("float32"), verbose=0)[0, 0]
    assert float(result.stdout) == pytest.approx(float(expected), abs=1e-5)
    for args, message in [(["--values", "0.1,0.2"], "a window of 10"), (["--values", "a,b"], "expected numbers"),
                          (["--text", "hello"], "predicts from values, not text")]:
        bad = cli("predict", run, *args)
        assert bad.exit_code == 2 and message in bad.output, bad.output
