"""Hostile and mistaken configs: each is refused with one precise line, never a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rnn_recipes.config import (
    Config,
    ModelConfig,
    OutputConfig,
    TrainConfig,
    EncodingConfig,
)
from rnn_recipes.config_data import ImdbData, LabelledTextData, SeriesData, SineData, TaggedData, TextData, TimingData
from rnn_recipes.config_load import build_config, load_config
from rnn_recipes.safeyaml import MAX_CONFIG_BYTES, parse_yaml
from rnn_recipes.errors import ConfigError

# (document, the message after the file name): each message names the key and what was expected
BAD = [
    ('data: {kind: sine}\nseed: -1\n', ":2: invalid 'seed': Input should be greater than or equal to 0. Received: -1."),
    ('data: {kind: sine}\nseed: 4294967296\n', ":2: invalid 'seed': Input should be less than 4294967296. Received: 4294967296."),
    ('data: {kind: sine}\nseed: abc\n', ":2: invalid 'seed': Input should be a valid integer. Received: 'abc'."),
    ("name: 'a b'\ndata: {kind: sine}\n", ":1: invalid 'name': String should match pattern '^[A-Za-z0-9][A-Za-z0-9_.-]*$'. Received: 'a b'."),
    ("name: ''\ndata: {kind: sine}\n", ":1: invalid 'name': String should match pattern '^[A-Za-z0-9][A-Za-z0-9_.-]*$'. Received: ''."),
    ('data: {kind: audio}\n', ":1: invalid 'data.kind'. Expected one of: imdb, text, sine, series, labelled_text, timing, tagged, pairs, addition. Received: 'audio'."),
    ('data: sine\n', ":1: invalid 'data': Input should be a valid dictionary or object to extract fields from. Received: 'sine'."),
    ('data: [sine]\n', ":1: invalid 'data': Input should be a valid dictionary or object to extract fields from. Received: ['sine']."),
    ('data: {maxlen: 3}\n', ": missing key 'data.kind'. Expected one of: imdb, text, sine, series, labelled_text, timing, tagged, pairs, addition."),
    ('model: {units: 3}\n', ":1: missing key 'data'"),
    ('data: {kind: imdb, num_words: 2}\n', ":1: invalid 'data.num_words': Input should be greater than or equal to 3. Received: 2."),
    ('data: {kind: imdb, maxlen: 0}\n', ":1: invalid 'data.maxlen': Input should be greater than or equal to 1. Received: 0."),
    ('data: {kind: imdb, padding: middle}\n', ":1: invalid 'data.padding'. Expected one of: 'pre', 'post'. Received: 'middle'."),
    ('data: {kind: imdb, truncating: both}\n', ":1: invalid 'data.truncating'. Expected one of: 'pre', 'post'. Received: 'both'."),
    ('data: {kind: imdb, val_split: 1.0}\n', ":1: invalid 'data.val_split': Input should be less than 1. Received: 1.0."),
    ('data: {kind: imdb, val_split: -0.1}\n', ":1: invalid 'data.val_split': Input should be greater than or equal to 0. Received: -0.1."),
    ('data: {kind: imdb, limit: 1}\n', ":1: invalid 'data.limit': Input should be greater than or equal to 2. Received: 1."),
    ('data: {kind: imdb, path: 3}\n', ":1: invalid 'data.path': Input should be a valid string. Received: 3."),
    ('data: {kind: imdb, paddng: post}\n', ":1: unknown key 'data.paddng'. Did you mean 'padding'?"),
    ('data: {kind: text, level: byte}\n', ":1: invalid 'data.level'. Expected one of: 'char', 'word'. Received: 'byte'."),
    ('data: {kind: text, seq_length: 0}\n', ":1: invalid 'data.seq_length': Input should be greater than or equal to 1. Received: 0."),
    ('data: {kind: text, step: 0}\n', ":1: invalid 'data.step': Input should be greater than or equal to 1. Received: 0."),
    ('data: {kind: text, objective: one_to_one}\n', ":1: invalid 'data.objective'. Expected one of: 'many_to_one', 'many_to_many'. Received: 'one_to_one'."),
    ('data: {kind: text, text: hi, path: x.txt}\n', ':1: data: give one of text, path, url; received text, path'),
    ("data: {kind: text, url: 'https://x/y'}\n", ':1: data: a url needs its sha256, so a changed or partial download is caught'),
    ("data: {kind: text, url: 'https://x/y', sha256: abc}\n", ":1: invalid 'data.sha256': String should match pattern '^[0-9a-f]{64}$'. Received: 'abc'."),
    ('data: {kind: text, val_split: 0.6, test_split: 0.5}\n', ':1: data: val_split + test_split must leave some text to train on'),
    ('data: {kind: text, max_vocab: 1}\n', ":1: invalid 'data.max_vocab': Input should be greater than or equal to 2. Received: 1."),
    ('data: {kind: text, lowercase: maybe}\n', ":1: invalid 'data.lowercase': Input should be a valid boolean. Received: 'maybe'."),
    ('data: {kind: sine, total_size: 10, time_steps: 20}\n', ':1: data: total_size (10) must exceed time_steps (20)'),
    ('data: {kind: sine, test_size: 30, time_steps: 25, test_windows: 75}\n', ':1: data: test_size (30) gives only 5 windows, fewer than test_windows (75)'),
    ('data: {kind: sine, frequency: 0}\n', ":1: invalid 'data.frequency': Input should be greater than 0. Received: 0."),
    ('data: {kind: sine, noise: -1}\n', ":1: invalid 'data.noise': Input should be greater than or equal to 0. Received: -1."),
    ('data: {kind: sine, time_steps: 0}\n', ":1: invalid 'data.time_steps': Input should be greater than or equal to 1. Received: 0."),
    ('data: {kind: sine}\nencoding: {kind: onehot}\n', ':1: sine feeds raw values; remove the encoding section'),
    ('data: {kind: imdb}\nencoding: {kind: word2vec}\n', ":2: invalid 'encoding.kind'. Expected one of: 'integer', 'onehot', 'embedding'. Received: 'word2vec'."),
    ('data: {kind: imdb}\nencoding: {dim: 0}\n', ":2: invalid 'encoding.dim': Input should be greater than or equal to 1. Received: 0."),
    ('data: {kind: imdb}\nencoding: {kind: onehot, mask_zero: true}\n', ':1: encoding.mask_zero needs kind: embedding; use data.padding: pre instead'),
    ('data: {kind: text}\nencoding: {mask_zero: true}\n', ':1: encoding.mask_zero is for padded IMDB ids; in text, id 0 is a real token'),
    ('data: {kind: imdb}\nencoding: {initializer: zeros}\n', ":2: invalid 'encoding.initializer'. Expected one of: 'uniform', 'normal', 'glorot_uniform', 'he_normal'. Received: 'zeros'."),
    ('data: {kind: sine}\nmodel: {cell: lstmm}\n', ":2: invalid 'model.cell'. Expected one of: 'simple_rnn', 'lstm', 'gru', 'peephole_lstm'. Received: 'lstmm'."),
    ('data: {kind: sine}\nmodel: {units: 0}\n', ":2: invalid 'model.units': Input should be greater than or equal to 1. Received: 0."),
    ('data: {kind: sine}\nmodel: {units: 100000}\n', ":2: invalid 'model.units': Input should be less than or equal to 65536. Received: 100000."),
    ('data: {kind: sine}\nmodel: {layers: 17}\n', ":2: invalid 'model.layers': Input should be less than or equal to 16. Received: 17."),
    ('data: {kind: sine}\nmodel: {merge_mode: max}\n', ":2: invalid 'model.merge_mode'. Expected one of: 'concat', 'sum', 'mul', 'ave'. Received: 'max'."),
    ('data: {kind: sine}\nmodel: {activation: softmax}\n', ":2: invalid 'model.activation'. Expected one of: 'tanh', 'relu', 'sigmoid', 'linear'. Received: 'softmax'."),
    ('data: {kind: sine}\nmodel: {dropout: 1.5}\n', ":2: invalid 'model.dropout': Input should be less than 1. Received: 1.5."),
    ('data: {kind: sine}\nmodel: {recurrent_dropout: -0.1}\n', ":2: invalid 'model.recurrent_dropout': Input should be greater than or equal to 0. Received: -0.1."),
    ('data: {kind: sine}\nmodel: {kernel_initializer: zeros}\n', ":2: invalid 'model.kernel_initializer'. Expected one of: 'glorot_uniform', 'glorot_normal', 'he_normal', 'orthogonal'. Received: 'zeros'."),
    ('data: {kind: sine}\nmodel: {recurrent_initializer: ones}\n', ":2: invalid 'model.recurrent_initializer'. Expected one of: 'orthogonal', 'glorot_uniform', 'identity'. Received: 'ones'."),
    ('data: {kind: sine}\nmodel: {l2: -1}\n', ":2: invalid 'model.l2': Input should be greater than or equal to 0. Received: -1."),
    ('data: {kind: sine}\nmodel: {dense_units: 0}\n', ":2: invalid 'model.dense_units': Input should be greater than or equal to 1. Received: 0."),
    ('data: {kind: sine}\nmodel: {bidirectional: sideways}\n', ":2: invalid 'model.bidirectional': Input should be a valid boolean. Received: 'sideways'."),
    ('data: {kind: text, objective: many_to_many}\nmodel: {bidirectional: true}\n', ':1: model.bidirectional with data.objective many_to_many would see the very tokens it predicts; use many_to_one or a unidirectional model'),
    ('data: {kind: sine}\ntrain: {optimizer: adamw}\n', ":2: invalid 'train.optimizer'. Expected one of: 'adam', 'rmsprop', 'sgd'. Received: 'adamw'."),
    ('data: {kind: sine}\ntrain: {learning_rate: 0}\n', ":2: invalid 'train.learning_rate': Input should be greater than 0. Received: 0."),
    ('data: {kind: sine}\ntrain: {learning_rate: .inf}\n', ":2: invalid 'train.learning_rate': Input should be a finite number. Received: inf."),
    ('data: {kind: sine}\ntrain: {learning_rate: .nan}\n', ":2: invalid 'train.learning_rate': Input should be a finite number. Received: nan."),
    ('data: {kind: sine}\ntrain: {clipnorm: 0}\n', ":2: invalid 'train.clipnorm': Input should be greater than 0. Received: 0."),
    ('data: {kind: sine}\ntrain: {clipvalue: -1}\n', ":2: invalid 'train.clipvalue': Input should be greater than 0. Received: -1."),
    ('data: {kind: sine}\ntrain: {batch_size: 0}\n', ":2: invalid 'train.batch_size': Input should be greater than or equal to 1. Received: 0."),
    ('data: {kind: sine}\ntrain: {epochs: 0}\n', ":2: invalid 'train.epochs': Input should be greater than or equal to 1. Received: 0."),
    ('data: {kind: sine}\ntrain: {epochs: 2000000}\n', ":2: invalid 'train.epochs': Input should be less than or equal to 1000000. Received: 2000000."),
    ('data: {kind: sine}\ntrain: {epochs: 2.5}\n', ":2: invalid 'train.epochs': Input should be a valid integer. Received: 2.5."),
    ('data: {kind: sine}\ntrain: {patience: 0}\n', ":2: invalid 'train.patience': Input should be greater than or equal to 1. Received: 0."),
    ('data: {kind: sine}\ntrain: {shuffle: 3}\n', ":2: invalid 'train.shuffle': Input should be a valid boolean. Received: 3."),
    ('data: {kind: sine}\ntrain: {precision: float16}\n', ":2: invalid 'train.precision'. Expected one of: 'float32', 'mixed_float16', 'mixed_bfloat16'. Received: 'float16'."),
    ('data: {kind: sine}\ntrain: {epoch: 3}\n', ":2: unknown key 'train.epoch'. Did you mean 'epochs'?"),
    ('data: {kind: sine}\noutput: {dir: [a]}\n', ":2: invalid 'output.dir': Input should be a valid string. Received: ['a']."),
    ('data: {kind: sine}\noutput: {plots: yes please}\n', ":2: invalid 'output.plots': Input should be a valid boolean. Received: 'yes please'."),
    ('data: {kind: sine}\noutputs: {dir: x}\n', ":2: unknown key 'outputs'. Did you mean 'output'?"),
    ('data: {kind: sine}\nmodel: 3\n', ":2: invalid 'model': Input should be a valid dictionary or instance of ModelConfig. Received: 3."),
    ('data: {kind: sine}\ntrain: [1, 2]\n', ":2: invalid 'train': Input should be a valid dictionary or instance of TrainConfig. Received: [1, 2]."),
    ('data:\n  kind: sine\n  kind: text\n', ":3: duplicate key 'kind' (first at line 2); a key may appear once"),
    ('data: !!python/object/apply:os.system [echo]\n', ":1:7: YAML syntax error: tag 'tag:yaml.org,2002:python/object/apply:os.system' is not allowed; a config holds plain values only"),
    ('!!python/name:os.system\n', ":1:1: YAML syntax error: tag 'tag:yaml.org,2002:python/name:os.system' is not allowed; a config holds plain values only"),
    ('data: {kind: !!python/name:builtins.eval sine}\n', ":1:14: YAML syntax error: tag 'tag:yaml.org,2002:python/name:builtins.eval' is not allowed; a config holds plain values only"),
    ('', ": config is empty; expected a mapping such as 'data: {kind: sine}'"),
    ('# only a comment\n', ": config is empty; expected a mapping such as 'data: {kind: sine}'"),
    ('- a\n- b\n', ': expected a mapping of sections at the top level, got list'),
    ('just a string\n', ': expected a mapping of sections at the top level, got str'),
    ('42\n', ': expected a mapping of sections at the top level, got int'),
    ('data: {kind: sine\n', ":2:1: YAML syntax error: expected ',' or '}', but got '<stream end>'"),
    ('data:\n\tkind: sine\n', ":2:1: YAML syntax error: found character '\\t' that cannot start any token"),
    ('[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]\n', ':1: nested deeper than 50 levels; a config nests three'),
    ('? [a, b]\n: 1\n', ':1: a key must be a plain name, not a list'),
    ('data: &x {kind: sine}\nmodel: *x\n', ":1: invalid 'model.kind'. Expected one of: 'stack', 'seq2seq'. Received: 'sine'."),
    ('a: &a [x, x]\nb: &b [*a, *a]\n', ":1: missing key 'data' (and 2 more)"),
    ('data: {kind: sine}\n---\ndata: {kind: imdb}\n', ':2:1: YAML syntax error: but found another document'),
    ('data: {<<: {kind: sine}}\n', ":1:8: YAML syntax error: tag 'tag:yaml.org,2002:merge' is not allowed; a config holds plain values only"),
]


@pytest.mark.parametrize("text, expected", BAD, ids=range(len(BAD)))
def test_bad_config_is_refused_with_its_message(tmp_path, text, expected):
    path = tmp_path / "c.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    message = str(info.value)
    assert message.startswith(f"{path}{expected}")
    assert len(message.splitlines()) == 1


def test_there_are_at_least_fifty_distinct_bad_configs():
    assert len({text for text, _ in BAD}) >= 50


def test_huge_file_is_refused_before_it_is_read(tmp_path, monkeypatch):
    path = tmp_path / "huge.yaml"
    with open(path, "wb") as fh:
        fh.truncate(2 * 1024**3)  # 2 GiB, sparse: reading it would take seconds and memory
    read = []
    monkeypatch.setattr(Path, "read_text", lambda self, *a, **k: read.append(self) or "")
    with pytest.raises(ConfigError, match=f"config is larger than {MAX_CONFIG_BYTES:,} bytes"):
        load_config(path)
    assert read == []  # refused from its size alone, not timed: a wall-clock bound fails on a loaded machine


def test_a_directory_or_device_is_not_a_config(tmp_path):
    with pytest.raises(ConfigError, match="is not a regular file; expected a YAML file"):
        load_config(tmp_path)


def test_deep_nesting_is_refused_at_the_limit(monkeypatch):
    """100,000 open brackets are refused once they pass the limit: no more nodes are composed than that
    (counted, not timed: a wall-clock bound fails on a loaded machine)."""
    from rnn_recipes import safeyaml

    composed = []
    compose = safeyaml._UniqueKeyLoader.compose_node
    monkeypatch.setattr(safeyaml._UniqueKeyLoader, "compose_node",
                        lambda self, parent, index: composed.append(1) or compose(self, parent, index))
    with pytest.raises(ConfigError, match="nested deeper than 50 levels"):
        parse_yaml("a: " + "[" * 100_000)
    assert len(composed) <= safeyaml.MAX_YAML_DEPTH + 2


def test_a_line_break_inside_a_key_stays_on_one_line():
    with pytest.raises(ConfigError) as info:
        build_config({"data": {"kind": "sine"}, "bad\nkey\u2028": 1})
    assert len(str(info.value).splitlines()) == 1 and "bad\\nkey\\u2028" in str(info.value)


def test_config_strings_never_name_code():
    """Every string setting is a closed set of names, except plain data (paths, text, a url, a hash, the run name)."""
    free_text = {("Config", "name"), ("ImdbData", "path"), ("ImdbData", "word_index_path"), ("TextData", "text"), ("TextData", "path"),
                 ("TextData", "url"), ("TextData", "sha256"), ("OutputConfig", "dir")}
    free_text |= {("LabelledTextData", k) for k in ("path", "train_path", "val_path", "test_path", "text_column", "label_column")}
    free_text |= {("TaggedData", k) for k in ("path", "train_path", "val_path", "test_path")}
    for model in (Config, ImdbData, TextData, SineData, LabelledTextData, TimingData, TaggedData, EncodingConfig, ModelConfig, TrainConfig, OutputConfig):
        for name, field in model.model_fields.items():
            if str in getattr(field.annotation, "__args__", (field.annotation,)):
                assert (model.__name__, name) in free_text, f"{model.__name__}.{name} is a free string"
    assert {"simple_rnn", "lstm", "gru", "peephole_lstm"} == set(ModelConfig.model_fields["cell"].annotation.__args__)


# --- fuzzing: anything in, a Config or a ConfigError out ------------------------------

yaml_tokens = list("abdkinst:{}[],-?&*!%|>'\"#\n\t .0123456789\u2028") + [
    "data", "kind", "sine", "model", "units", "!!python/object", "<<", "&a", "*a", "\n  ",
]
yaml_ish = st.lists(st.sampled_from(yaml_tokens), max_size=80).map("".join) | st.text(max_size=100)
scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=10), st.binary(max_size=5))
keys = st.one_of(st.sampled_from(["data", "kind", "sine", "text", "imdb", "model", "train", "units", "epochs", "encoding", "seed", "name", "output", "dir"]), st.text(max_size=8), st.integers())
nested = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(keys, inner, max_size=5)), max_leaves=20)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(yaml_ish)
def test_fuzzed_yaml_gives_a_config_or_a_config_error(text):
    try:
        data, lines = parse_yaml(text, "f.yaml")
        result = build_config(data, lines, "f.yaml")
    except ConfigError as exc:
        assert len(str(exc).splitlines()) == 1
    else:
        assert isinstance(result, Config)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(keys, nested, max_size=6), st.sampled_from(["sine", "text", "imdb", None]))
def test_fuzzed_mappings_give_a_config_or_a_config_error(data, kind):
    if kind is not None and isinstance(data.get("data"), dict):
        data["data"].setdefault("kind", kind)
    try:
        result = build_config(data, {}, "f.yaml")
    except ConfigError as exc:
        assert len(str(exc).splitlines()) == 1
    else:
        assert isinstance(result, Config)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.text(alphabet=st.sampled_from(list("data.kindsmoeltrain=_[]{}:,-0123456789 \n")), max_size=30), max_size=4))
def test_fuzzed_set_overrides_give_a_config_or_a_config_error(tmp_path_factory, overrides):
    path = tmp_path_factory.getbasetemp() / "fuzz.yaml"
    path.write_text("data: {kind: sine}\n")
    try:
        result = load_config(path, overrides)
    except ConfigError as exc:
        assert len(str(exc).splitlines()) == 1
    else:
        assert isinstance(result, Config)
