"""Raw English into IMDB runs: Keras' IMDB word index, and text encoded exactly as `imdb.load_data` encodes reviews.

`imdb_word_index.json` maps each word to its frequency rank (1 = most
frequent). A review's ids, as `keras.datasets.imdb.load_data` gives them with
its defaults: START (1), then rank + 3 (`index_from`) per word, and OOV (2)
for a word outside the index or at or above `num_words`; 0 pads.

The word index comes from `data.word_index_path` (a local copy), or from
Keras' own cache (`~/.keras/datasets/imdb_word_index.json`, where
`keras.datasets.imdb.get_word_index()` puts it) when that file matches the
hash Keras pins. This package does not download it itself: Keras pins only
an MD5 for it, and no sha256 is published, so the download cannot be checked
the way imdb.npz is.

Example:
    >>> codec = ImdbTextCodec({"the": 1, "film": 2, "was": 3, "great": 4}, num_words=10)
    >>> codec.encode("The film was GREAT, really!")
    [1, 4, 5, 6, 7, 2]
    >>> codec.decode([1, 4, 5, 6, 7, 2])
    'the film was great ?'
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import numpy as np

from rnn_recipes.errors import DataError

WORD_INDEX_URL = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/imdb_word_index.json"
KERAS_MD5 = "bfafd718b763782e994055a2d397834f"  # what keras.datasets.imdb.get_word_index checks
START, OOV, INDEX_FROM = 1, 2, 3  # as data.py and keras.datasets.imdb.load_data
MAX_BYTES = 50_000_000  # the real index is 1.6 MB
# the index's words (lowercase, digits, apostrophes: "it's"), and a lone "?", which `decode` writes for OOV
_WORD = re.compile(r"[a-z0-9']+|(?<!\S)\?(?!\S)")


def keras_cache_path() -> Path:
    import os

    return Path(os.environ.get("KERAS_HOME", Path.home() / ".keras")) / "datasets" / "imdb_word_index.json"


def read_word_index(path: Path) -> dict[str, int]:
    """A word index file: a JSON object from word to rank (an integer >= 1)."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise DataError(f"IMDB word index not found: {path} (data.word_index_path); expected Keras' imdb_word_index.json")
    if path.stat().st_size > MAX_BYTES:
        raise DataError(f"{path}: over {MAX_BYTES:,} bytes; expected Keras' imdb_word_index.json (1.6 MB)")
    try:
        index = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: not valid JSON ({exc}); expected an object from word to rank") from None
    if not isinstance(index, dict) or not all(isinstance(k, str) and type(v) is int and v >= 1 for k, v in index.items()):
        raise DataError(f"{path}: expected a JSON object from word to an integer rank >= 1")
    return index


def find_word_index(word_index_path: str | None) -> dict[str, int]:
    """The word index a run names, or Keras' verified cached copy; refused with one line when neither exists."""
    if word_index_path is not None:
        return read_word_index(Path(word_index_path))
    cached = keras_cache_path()
    if not (cached.is_file() and hashlib.md5(cached.read_bytes()).hexdigest() == KERAS_MD5):
        from rnn_recipes.fetch import download

        try:  # once, bounded, and kept only if it matches the md5 Keras pins for this file
            download(WORD_INDEX_URL, cached, KERAS_MD5, algorithm="md5")
        except OSError as exc:
            raise DataError(
                f"reading English into an IMDB run needs Keras' word index, and {WORD_INDEX_URL} could not be "
                f"downloaded ({exc}); put it at {cached} or set data.word_index_path"
            ) from None
    return read_word_index(cached)


class ImdbTextCodec:
    """Text <-> IMDB ids with `load_data`'s defaults (start 1, oov 2, index_from 3) and its `num_words` cut."""

    def __init__(self, word_index: dict[str, int], num_words: int):
        self.word_index = word_index
        self.num_words = num_words
        self._words = {rank + INDEX_FROM: word for word, rank in word_index.items()}

    @staticmethod
    def words(text: str) -> list[str]:
        """Lowercased words, punctuation dropped (how the IMDB reviews were cut); a lone "?" is an unknown word."""
        return _WORD.findall(text.lower().replace("<br />", " "))

    def encode(self, text: str) -> list[int]:
        """START, then each word's id (OOV outside the index or at or above `num_words`)."""
        ids = [START]
        for word in self.words(text):
            rank = self.word_index.get(word)
            i = OOV if rank is None else rank + INDEX_FROM
            ids.append(i if i < self.num_words else OOV)
        return ids

    def decode(self, ids) -> str:
        """Words for ids, "?" for OOV; padding and START are left out."""
        return " ".join("?" if int(i) == OOV else self._words.get(int(i), "?") for i in ids if int(i) not in (0, START))

    def pad(self, ids: list[int], maxlen: int, padding: str, truncating: str) -> np.ndarray:
        """One row of `maxlen` ids, padded and cut as data.py does the training reviews."""
        ids = ids[-maxlen:] if truncating == "pre" else ids[:maxlen]
        out = np.zeros(maxlen, np.int32)
        if padding == "pre":
            out[maxlen - len(ids) :] = ids
        else:
            out[: len(ids)] = ids
        return out
