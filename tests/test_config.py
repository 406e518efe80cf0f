"""Config loading: every bundled config validates; bad input gets one precise line."""

from __future__ import annotations

import pytest
import yaml

from conftest import CONFIGS, TINY
from rnn_recipes.config import Config, dump_config
from rnn_recipes.config_load import build_config, load_config
from rnn_recipes.safeyaml import parse_yaml
from rnn_recipes.errors import ConfigError

ALL_CONFIGS = sorted(CONFIGS.rglob("*.yaml"))


@pytest.mark.parametrize("path", ALL_CONFIGS, ids=lambda p: str(p.relative_to(CONFIGS)))
def test_every_bundled_config_loads_and_round_trips(path):
    cfg = load_config(path)
    assert cfg.name == path.stem
    again = build_config(yaml.safe_load(dump_config(cfg)))
    assert again == cfg


def test_seed_configs_say_what_the_seed_says():
    integer = load_config(CONFIGS / "imdb_simplernn_integer.yaml")
    assert (integer.data.maxlen, integer.data.padding, integer.encoding.kind) == (100, "post", "integer")
    assert (integer.train.epochs, integer.train.batch_size, integer.train.optimizer) == (5, 32, "adam")
    hello = load_config(CONFIGS / "hello_lstm.yaml")
    assert (hello.data.text, hello.data.seq_length, hello.encoding.dim, hello.model.units) == ("hello world", 3, 10, 50)


def write(tmp_path, text: str):
    path = tmp_path / "c.yaml"
    path.write_text(text)
    return path


def error_of(path, overrides=()):
    with pytest.raises(ConfigError) as info:
        load_config(path, list(overrides))
    message = str(info.value)
    assert "\n" not in message
    return message


def test_unknown_key_names_line_and_suggests(tmp_path):
    path = write(tmp_path, "data:\n  kind: imdb\n  paddng: post\n")
    assert error_of(path).startswith(f"{path}:3: unknown key 'data.paddng'. Did you mean 'padding'?")


def test_wrong_value_names_key_line_and_expected(tmp_path):
    path = write(tmp_path, "data:\n  kind: sine\nmodel:\n  cell: lstmm\n")
    assert error_of(path) == (
        f"{path}:4: invalid 'model.cell'. Expected one of: 'simple_rnn', 'lstm', 'gru', 'peephole_lstm'. Received: 'lstmm'."
    )


def test_out_of_range_is_rejected_not_clamped(tmp_path):
    path = write(tmp_path, "data:\n  kind: sine\nmodel:\n  dropout: 1.5\n")
    message = error_of(path)
    assert message.startswith(f"{path}:4: invalid 'model.dropout'") and "1.5" in message


def test_set_overrides_with_the_same_checks(tmp_path):
    path = write(tmp_path, "data:\n  kind: sine\n")
    cfg = load_config(path, ["model.units=7", "train.epochs=3", "model.cell=gru"])
    assert (cfg.model.units, cfg.train.epochs, cfg.model.cell) == (7, 3, "gru")
    assert error_of(path, ["model.unitz=3"]).startswith("--set model.unitz: unknown key 'model.unitz'. Did you mean 'units'?")
    assert error_of(path, ["train.epochs=0"]).startswith("--set train.epochs: invalid 'train.epochs'")
    assert "expected KEY.PATH=VALUE" in error_of(path, ["epochs"])


def test_yaml_syntax_error_has_file_line_column(tmp_path):
    path = write(tmp_path, "data:\n  kind: [sine\n")
    assert error_of(path).startswith(f"{path}:3:1: YAML syntax error")


def test_missing_file():
    assert error_of("nope/missing.yaml") == "config file not found: nope/missing.yaml"


def test_relative_data_path_means_beside_the_config():
    cfg = load_config(TINY / "imdb_embedding_lstm.yaml")
    assert cfg.data.path == str(TINY / "data" / "imdb_tiny.npz")


def test_encoding_defaults_follow_the_dataset(tmp_path):
    assert load_config(write(tmp_path, "data: {kind: sine}\n")).encoding is None
    assert load_config(write(tmp_path, "data: {kind: imdb}\n")).encoding.kind == "embedding"
    assert "sine feeds raw values" in error_of(write(tmp_path, "data: {kind: sine}\nencoding: {kind: onehot}\n"))


@pytest.mark.parametrize(
    "text, expected",
    [
        ("data:\n  kind: sine\n  kind: text\n", ":3: duplicate key 'kind' (first at line 2)"),
        ("data: !!python/object/apply:os.system [echo]\n", "python/object/apply:os.system' is not allowed"),
        ("", "config is empty"),
        ("- a\n- b\n", "expected a mapping of sections at the top level, got list"),
        ("data: {kind: imdb, maxlen: ten}\n", "invalid 'data.maxlen'"),
        ("data: {kind: imdb}\nnope: 1\n", "unknown key 'nope'"),
        ("model: {units: 3}\n", "missing key 'data'"),
        ("data: {maxlen: 3}\n", "missing key 'data.kind'. Expected one of: imdb, text, sine, series, labelled_text, timing, tagged, pairs, addition."),
        ("data: {kind: text, text: hi, url: 'https://x/y'}\n", "give one of text, path, url"),
        ("data: {kind: text, url: 'https://x/y'}\n", "a url needs its sha256"),
    ],
)
def test_bad_documents(tmp_path, text, expected):
    assert expected in error_of(write(tmp_path, text))


def test_alias_bomb_is_refused_quickly(tmp_path):
    lines = ["a: &a [x, x, x, x, x, x, x, x, x, x]"]
    for i, name in enumerate("bcdefg"):
        prev = "abcdefg"[i]
        lines.append(f"{name}: &{name} [" + ", ".join([f"*{prev}"] * 10) + "]")
    with pytest.raises(ConfigError, match="alias bomb"):
        parse_yaml("\n".join(lines))


def test_config_is_frozen():
    cfg = Config.model_validate({"data": {"kind": "sine"}})
    with pytest.raises(Exception):
        cfg.seed = 3


def test_distribute_keys_default_and_round_trip(tmp_path):
    plain = load_config(write(tmp_path, "data:\n  kind: sine\n"))
    assert (plain.train.distribute, plain.train.devices) == ("none", None)
    path = write(tmp_path, "data:\n  kind: sine\ntrain:\n  distribute: mirrored\n  devices: [/GPU:0, /gpu:1]\n")
    cfg = load_config(path)
    assert cfg.train.devices == ["/gpu:0", "/gpu:1"]
    assert build_config(yaml.safe_load(dump_config(cfg))) == cfg


def test_devices_without_mirrored_name_both_keys(tmp_path):
    path = write(tmp_path, "data:\n  kind: sine\ntrain:\n  distribute: multi_worker\n  devices: [/cpu:0]\n")
    assert error_of(path) == (
        f"{path}:3: train: train.devices needs train.distribute: mirrored (received multi_worker); "
        "multi_worker uses every local GPU of each worker"
    )


def test_an_unnamed_batch_size_is_the_fast_default_and_a_named_one_is_kept(tmp_path):
    unnamed = load_config(write(tmp_path, "data: {kind: sine}\n"))
    assert unnamed.train.batch_size == 128
    named = load_config(write(tmp_path, "data: {kind: sine}\ntrain: {batch_size: 32}\n"))
    assert named.train.batch_size == 32
