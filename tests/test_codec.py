"""The text codec: one tokeniser and vocabulary for training, generation and prediction."""

from __future__ import annotations

import doctest
import json
from types import SimpleNamespace

import numpy as np
import pytest

from rnn_recipes import codec as codec_module
from rnn_recipes.codec import UNK, TextCodec, TokenError, build_vocab, tokenize
from rnn_recipes.config import Config
from rnn_recipes.config_data import TextData
from rnn_recipes.data import load_dataset


def test_docstring_examples_run():
    result = doctest.testmod(codec_module)
    assert result.attempted > 0 and result.failed == 0


def test_word_tokens_split_punctuation_and_lowercase():
    assert tokenize("Hello, World!", "word", lowercase=True) == ["hello", ",", "world", "!"]
    assert tokenize("Hi!", "char", lowercase=False) == ["H", "i", "!"]


def test_word_vocabulary_keeps_the_most_frequent_and_adds_unk_only_when_words_are_left_out():
    assert build_vocab("b a b c".split(), "word", None) == ["a", "b", "c"]
    assert build_vocab("b a b c".split(), "word", 4) == ["a", "b", "c"]  # everything fits: no <unk>
    assert build_vocab("b a b c a b".split(), "word", 2) == [UNK, "b"]


def test_fit_encode_decode_round_trip():
    d = TextData(text="the cat sat. The dog sat.", level="word", lowercase=True)
    codec = TextCodec.fit(d.text, d)
    assert codec.vocab == [".", "cat", "dog", "sat", "the"]
    ids = codec.text_to_ids("The dog sat.")
    assert ids == [4, 2, 3, 0]
    assert codec.decode(ids) == "the dog sat."


def test_words_outside_the_vocabulary_become_unk():
    codec = TextCodec((UNK, "a", "b"), level="word")
    np.testing.assert_array_equal(codec.encode(["a", "zzz", "b"]), [1, 0, 2])
    assert codec.unknown(["zzz"]) == []


def test_unknown_characters_are_refused_by_name():
    codec = TextCodec(tuple("abc"))
    with pytest.raises(TokenError, match=r"^prompt characters not in the vocabulary: 'x', 'y'; the run knows 'abc'$"):
        codec.text_to_ids("axyx", name="prompt")
    with pytest.raises(TokenError, match=r"text words not in the vocabulary: 'dog'; the run knows '2 words'"):
        TextCodec(("a", "cat"), level="word").text_to_ids("a dog")


def test_codec_is_saved_as_vocab_json_and_read_back_from_a_run():
    cfg = Config.model_validate({"data": {"kind": "text", "text": "Hello hello", "lowercase": True, "seq_length": 3, "val_split": 0}})
    ds = load_dataset(cfg)
    saved = json.loads(json.dumps(ds.codec.to_json()))
    assert saved == {"level": "char", "tokens": [" ", "e", "h", "l", "o"]}
    run = SimpleNamespace(config=cfg, vocab=saved["tokens"])  # what runs.load_run gives back
    assert TextCodec.from_run(run) == ds.codec
    assert TextCodec.from_run(run).text_to_ids("HELLO") == [2, 1, 3, 3, 4]


def test_training_windows_use_the_codec_ids():
    cfg = Config.model_validate({"data": {"kind": "text", "text": "abcabcabc", "seq_length": 3, "val_split": 0}})
    ds = load_dataset(cfg)
    assert ds.codec.decode(ds.x_train[0]) == "abc" and ds.level == "char" and ds.vocab == ["a", "b", "c"]
