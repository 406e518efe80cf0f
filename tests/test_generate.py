"""Generation: sampling, the NumPy engine against Keras, the hello-world recipe, bad input."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import CONFIGS
from rnn_recipes.codec import detokenize
from rnn_recipes.config import Config
from rnn_recipes.config_load import load_config
from rnn_recipes.data import DataSpec
from rnn_recipes.engine import Engine, sample
from rnn_recipes.errors import GenerateError
from rnn_recipes.generate import generate_from_run, seed_ids
from rnn_recipes.model import build_model


def test_greedy_and_top1_pick_the_most_likely():
    probs = np.array([0.1, 0.6, 0.3])
    rng = np.random.default_rng(0)
    assert sample(probs, 0.0, None, rng) == 1
    assert {sample(probs, 2.0, 1, rng) for _ in range(20)} == {1}


def test_fixed_rng_reproduces_and_top_k_restricts():
    probs = np.array([0.4, 0.3, 0.2, 0.1])
    draws = lambda seed, k=None: [sample(probs, 1.0, k, np.random.default_rng(seed)) for _ in range(1)]  # noqa: E731
    a = [sample(probs, 1.0, None, r) for r in [np.random.default_rng(7)] * 50]
    b = [sample(probs, 1.0, None, r) for r in [np.random.default_rng(7)] * 50]
    assert a == b and draws(1) == draws(1)
    rng = np.random.default_rng(0)
    assert {sample(probs, 1.0, 2, rng) for _ in range(200)} == {0, 1}


def test_temperature_sharpens_and_flattens():
    probs = np.array([0.5, 0.3, 0.2])
    rng = np.random.default_rng(0)
    cold = np.bincount([sample(probs, 0.2, None, rng) for _ in range(2000)], minlength=3) / 2000
    hot = np.bincount([sample(probs, 5.0, None, rng) for _ in range(2000)], minlength=3) / 2000
    assert cold[0] > 0.85 and 0.25 < hot[2] < 0.4


V, T = 9, 6


def text_model(cell, encoding, layers=1, bidirectional=False, objective="many_to_one", dense_units=None, merge="concat"):
    cfg = Config.model_validate({
        "data": {"kind": "text", "text": "abcdefghi", "seq_length": T, "objective": objective, "val_split": 0},
        "encoding": {"kind": encoding, **({"dim": 5} if encoding == "embedding" else {})},  # dim: embeddings only
        "model": {"cell": cell, "units": 7, "layers": layers, "bidirectional": bidirectional, "dense_units": dense_units,
                  "merge_mode": merge},
    })
    spec = DataSpec("next_token", T, V, V, objective == "many_to_many")
    model = build_model(cfg, spec)
    if cell == "peephole_lstm":  # peepholes start at zero, where the cell is a plain LSTM: give them weight
        rng = np.random.default_rng(4)
        for layer in model.layers:
            for rnn in (layer.forward_layer, layer.backward_layer) if hasattr(layer, "forward_layer") else (layer,):
                if type(rnn).__name__ == "PeepholeLSTM":
                    weights = rnn.get_weights()
                    rnn.set_weights(weights[:3] + [rng.normal(0, 1, w.shape).astype("float32") for w in weights[3:]])
    return model


@pytest.mark.parametrize("cell", ["simple_rnn", "lstm", "gru", "peephole_lstm"])
@pytest.mark.parametrize("encoding", ["integer", "onehot", "embedding"])
@pytest.mark.parametrize("layers", [1, 2])
def test_engine_window_matches_keras(cell, encoding, layers):
    model = text_model(cell, encoding, layers)
    ids = np.random.default_rng(1).integers(0, V, (4, T))
    expected = np.asarray(model(ids))
    engine = Engine(model)
    got = np.stack([engine.window_probs(row) for row in ids])
    np.testing.assert_allclose(got, expected, atol=1e-5)


@pytest.mark.parametrize("cell", ["simple_rnn", "lstm", "gru", "peephole_lstm"])
@pytest.mark.parametrize("merge", ["concat", "sum"])
def test_engine_bidirectional_window_matches_keras(cell, merge):
    cfg_model = text_model(cell, "embedding", layers=2, bidirectional=True, merge=merge)
    ids = np.random.default_rng(2).integers(0, V, (3, T))
    engine = Engine(cfg_model)
    np.testing.assert_allclose(np.stack([engine.window_probs(r) for r in ids]), np.asarray(cfg_model(ids)), atol=1e-5)
    with pytest.raises(GenerateError, match="window mode"):
        engine.step(0, engine.zero_state())


@pytest.mark.parametrize("cell", ["simple_rnn", "lstm", "gru", "peephole_lstm"])
def test_stateful_steps_match_a_full_window_forward_pass(cell):
    model = text_model(cell, "embedding", layers=2, objective="many_to_many", dense_units=4)
    ids = np.random.default_rng(3).integers(0, V, T)
    expected = np.asarray(model(ids[None]))[0]  # (T, V): the prediction after each prefix
    engine = Engine(model)
    state = engine.zero_state()
    for t, token in enumerate(ids):
        probs, state = engine.step(int(token), state)
        np.testing.assert_allclose(probs, expected[t], atol=1e-5)


def test_seed_validation_lists_unknown_characters():
    vocab = list(" dehlorw")
    assert seed_ids("hel", vocab, "char", False) == [3, 2, 4]
    with pytest.raises(GenerateError, match=r"seed characters not in the vocabulary: 'x', 'z'"):
        seed_ids("hexz", vocab, "char", False)
    assert seed_ids("HEL", vocab, "char", True) == [3, 2, 4]


def test_word_seeds_use_unk_and_detokenize():
    vocab = ["<unk>", ",", "a", "cat"]
    assert seed_ids("a dog, a cat", vocab, "word", False) == [2, 0, 1, 2, 3]
    with pytest.raises(GenerateError, match="seed words not in the vocabulary: 'dog'"):
        seed_ids("a dog", ["a", "cat"], "word", False)
    assert detokenize(",", "word", False) == "," and detokenize("cat", "word", False) == " cat"


def test_generate_from_run_refuses_bad_settings_before_loading_anything(tmp_path):
    with pytest.raises(GenerateError, match=r"Invalid `mode`. Expected one of: auto, stateful, window. Received: 'sideways'"):
        generate_from_run("hel", tmp_path, mode="sideways")
    with pytest.raises(GenerateError, match=r"--length must be at least 1; received 0"):
        generate_from_run("hel", tmp_path, length=0)


# --- through the CLI -------------------------------------------------------------------


@pytest.fixture(scope="module")
def hello_run(tmp_path_factory):
    from rnn_recipes.train import train

    return train(load_config(CONFIGS / "hello_lstm.yaml"), tmp_path_factory.mktemp("hello") / "run", verbose=0)


@pytest.mark.slow
def test_hello_world_recipe_says_hello_world(cli, hello_run):
    result = cli("generate", "--seed", "hel", "--length", "8", "--temperature", "0", "--run", hello_run)
    assert result.exit_code == 0, result.output
    assert result.stdout == "hello world\n"


@pytest.mark.slow
def test_python_api_generates_what_the_cli_prints(hello_run):
    notes = []
    pieces = generate_from_run("hel", hello_run, length=8, temperature=0, log=notes.append)
    assert "hel" + "".join(pieces) == "hello world" and notes == []


@pytest.mark.slow
def test_sampling_is_reproducible_with_rng_seed(cli, hello_run):
    args = ["generate", "--seed", "hel", "--length", "30", "--temperature", "1.5", "--rng-seed", "3", "--run", hello_run]
    first, second = cli(*args), cli(*args)
    assert first.exit_code == 0 and first.stdout == second.stdout and len(first.stdout) == 34


@pytest.mark.slow
def test_newest_text_run_is_used_by_default(cli, hello_run, tmp_path):
    import shutil

    shutil.copytree(hello_run, tmp_path / "runs" / "hello")
    result = cli("generate", "--seed", "hel", "--length", "8", "--temperature", "0")
    assert result.exit_code == 0 and result.stdout == "hello world\n"
    assert "using run runs/hello" in result.stderr


def one_line_error(result) -> str:
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ")
    return lines[0]


@pytest.mark.slow
@pytest.mark.parametrize(
    "args, expected",
    [
        (["--seed", "hex"], "seed characters not in the vocabulary: 'x'"),
        (["--seed", "hel", "--temperature", "-1"], "--temperature must be 0 (greedy) or between 0.001 and 1000; received -1.0"),
        (["--seed", "hel", "--length", "0"], "--length must be at least 1; received 0"),
        (["--seed", "hel", "--top-k", "0"], "--top-k must be at least 1; received 0"),
    ],
)
def test_bad_generation_input(cli, hello_run, args, expected):
    assert expected in one_line_error(cli("generate", "--run", hello_run, *args))


def test_no_text_run_says_how_to_train_one(cli):
    message = one_line_error(cli("generate", "--seed", "hel"))
    assert message == "error: no text run under runs/; train one first, e.g. `rnn train hello_lstm`"


@pytest.mark.slow
def test_a_sine_run_is_not_a_text_run(cli, tiny_runs):
    message = one_line_error(cli("generate", "--seed", "hel", "--run", tiny_runs["sine_simple_rnn"]))
    assert message.endswith("is a sine run; generate needs a text run (data.kind: text)")


@pytest.mark.slow
def test_word_level_run_generates_words(cli, tiny_runs):
    run = tiny_runs["text_word_gru"]
    result = cli("generate", "--seed", "the network", "--length", "5", "--temperature", "0", "--run", run)
    assert result.exit_code == 0, result.output
    words = result.stdout.split()
    assert result.stdout.startswith("the network ") and len(words) >= 4
