"""The `tagged` dataset: CoNLL-style sentences (a token and its tag per line) as word ids, character ids and tag ids.

A file holds one token a line, its columns separated by whitespace; the token
and its tag sit in `data.token_column` and `data.tag_column` (CoNLL-2003:
`EU NNP B-NP B-ORG`, token first, entity tag last). A blank line ends a
sentence; `-DOCSTART-` lines are skipped. A line the reader cannot use (no
tag, a tag that does not fit `data.scheme`, bytes that are not UTF-8) and a
sentence longer than `data.max_length` are refused with their line number.

Ids: words 0 = padding, 1 = unknown, 2.. the training split's words by
frequency; characters the same; tags are the training split's tags sorted.
With `data.chars` every time step is the word id followed by
`data.max_word_chars` character ids, so a `Dataset` stays one array per split
and the model splits the two inside (`model.py`). The run saves the
vocabularies as `tagger.json`, which `rnn predict` reads.

Nothing here imports TensorFlow.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Sequence

import numpy as np

from rnn_recipes.config_data import TaggedData
from rnn_recipes.dataset import TASK_OF_KIND, Dataset, DataSpec
from rnn_recipes.errors import DataError, RunError
from rnn_recipes.fileio import read_bounded

TAGGER_FILE = "tagger.json"  # a tagged run's vocabularies, tags and reading rules
MAX_BYTES = 200_000_000  # per file
DOCSTART = "-DOCSTART-"
SINGLETON_SHARE = 0.5  # of the training words seen once, read as unknown (see `with_unknowns`)
PAD, UNK = "", "[UNK]"

# the prefixes each scheme allows before an entity type; "none" takes any tag
SCHEME_PREFIXES = {"IOB2": "BI", "BIO": "BI", "IOB1": "BI", "IOBES": "BIES"}
# a token of free text: a word (with inner hyphens or apostrophes), a number, or one other symbol
TOKEN = re.compile(r"\w+(?:[-'’.]\w+)*|[^\w\s]")


@dataclass(frozen=True)
class Sentence:
    """One sentence: its tokens, their tags, and where it starts (`file: line N`)."""

    tokens: tuple[str, ...]
    tags: tuple[str, ...]
    where: str


def tag_problem(tag: str, scheme: str) -> str | None:
    """Why `tag` does not fit `scheme`, or None.

    Example:
        >>> tag_problem("B-PER", "IOB2"), tag_problem("S-PER", "IOB2")
        (None, 'expected O, or B-TYPE / I-TYPE')
    """
    prefixes = SCHEME_PREFIXES.get(scheme)
    if prefixes is None or tag == "O":
        return None
    if len(tag) > 2 and tag[0] in prefixes and tag[1] == "-":
        return None
    return "expected O, or " + " / ".join(f"{p}-TYPE" for p in prefixes)


def _decode(data: bytes, path: Path) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        bad = data[exc.start : exc.start + 1].hex()
        raise DataError(f"{path}: line {line}: not UTF-8 (byte 0x{bad}); expected UTF-8 text") from None


def parse_conll(text: str, source: str, d: TaggedData) -> list[Sentence]:
    """The sentences of CoNLL-format `text` (named `source` in errors), checked line by line."""
    sentences: list[Sentence] = []
    tokens: list[str] = []
    tags: list[str] = []
    start = 0

    def close() -> None:
        if len(tokens) > d.max_length:
            raise DataError(f"{source}: line {start}: a sentence of {len(tokens)} tokens, over data.max_length "
                            f"({d.max_length}); raise it or split the sentence")
        if tokens:
            sentences.append(Sentence(tuple(tokens), tuple(tags), f"{source}: line {start}"))
        tokens.clear()
        tags.clear()

    for number, line in enumerate(text.splitlines(), 1):
        columns = line.split()
        if not columns:
            close()
            continue
        if columns[0] == DOCSTART:
            close()
            continue
        tag_at = d.tag_column if d.tag_column >= 0 else len(columns) + d.tag_column
        if len(columns) <= d.token_column or not 0 <= tag_at < len(columns) or tag_at == d.token_column:
            raise DataError(f"{source}: line {number}: {len(columns)} column{'s' * (len(columns) != 1)} "
                            f"({line.strip()[:40]!r}); expected a token and its tag (data.token_column "
                            f"{d.token_column}, data.tag_column {d.tag_column})")
        tag = columns[tag_at]
        if (problem := tag_problem(tag, d.scheme)) is not None:
            raise DataError(f"{source}: line {number}: tag {tag[:40]!r} does not fit data.scheme {d.scheme}; {problem}")
        if not tokens:
            start = number
        tokens.append(columns[d.token_column])
        tags.append(tag)
    close()
    return sentences


def read_conll(path: str | Path, d: TaggedData, max_bytes: int = MAX_BYTES) -> list[Sentence]:
    """The sentences of one CoNLL file; a missing, unreadable or empty file is refused."""
    path = Path(path).expanduser()
    if not path.exists():
        raise DataError(f"tagged file not found: {path}")
    found = parse_conll(_decode(read_bounded(path, max_bytes, what="tagged file", error=DataError), path), str(path), d)
    if not found:
        raise DataError(f"{path}: no sentences; expected a token and its tag per line, a blank line between sentences")
    return found


def split_indices(n: int, val_fraction: float, test_fraction: float, seed: int) -> tuple[np.ndarray, ...]:
    """Train, validation and test indices of `n` sentences: a seeded shuffle, cut by the fractions.

    Example:
        >>> [len(i) for i in split_indices(10, 0.2, 0.1, seed=0)]
        [7, 2, 1]
    """
    order = np.random.default_rng(seed).permutation(n)
    n_test, n_val = int(round(n * test_fraction)), int(round(n * val_fraction))
    return order[n_test + n_val :], order[n_test : n_test + n_val], order[:n_test]


def tokenize(text: str) -> list[tuple[str, int, int]]:
    """Free text as tokens with their character offsets: (token, start, end).

    Example:
        >>> tokenize("Ann met O'Neil in Paris.")
        [('Ann', 0, 3), ('met', 4, 7), ("O'Neil", 8, 14), ('in', 15, 17), ('Paris', 18, 23), ('.', 23, 24)]
    """
    return [(m.group(), m.start(), m.end()) for m in TOKEN.finditer(text)]


@dataclass(frozen=True)
class TagVocab:
    """The words, characters and tags of a tagged run, by id, and how a token is looked up."""

    words: tuple[str, ...]
    tags: tuple[str, ...]
    lowercase: bool = False
    chars: tuple[str, ...] = ()  # empty: no character features
    max_word_chars: int = 0
    scheme: str = "IOB2"

    @classmethod
    def fit(cls, sentences: Sequence[Sentence], d: TaggedData) -> TagVocab:
        """Vocabularies from the training sentences: the `max_vocab - 2` most frequent words, every character."""
        counts = Counter(cls._norm(t, d.lowercase) for s in sentences for t in s.tokens)
        words = sorted(counts, key=lambda w: (-counts[w], w))[: d.max_vocab - 2]
        tags = sorted({t for s in sentences for t in s.tags})
        chars: tuple[str, ...] = ()
        if d.chars:
            seen = Counter(c for s in sentences for t in s.tokens for c in t[: d.max_word_chars])
            chars = (PAD, UNK, *sorted(seen, key=lambda c: (-seen[c], c)))
        return cls((PAD, UNK, *words), tuple(tags), d.lowercase, chars, d.max_word_chars if d.chars else 0, d.scheme)

    @staticmethod
    def _norm(token: str, lowercase: bool) -> str:
        return token.lower() if lowercase else token

    def word_ids(self, tokens: Sequence[str]) -> np.ndarray:
        index = self._word_index
        return np.array([index.get(self._norm(t, self.lowercase), 1) for t in tokens], np.int32)

    @cached_property
    def _word_index(self) -> dict[str, int]:
        return {w: i for i, w in enumerate(self.words)}

    def encode(self, sentences: Sequence[Sequence[str]], seq_len: int) -> np.ndarray:
        """Token lists as ids, padded after: (N, seq_len), or (N, seq_len, 1 + max_word_chars) with characters."""
        width = 1 + self.max_word_chars
        x = np.zeros((len(sentences), seq_len, width), np.int32)
        chars = {c: i for i, c in enumerate(self.chars)}
        for i, tokens in enumerate(sentences):
            tokens = list(tokens)[:seq_len]
            x[i, : len(tokens), 0] = self.word_ids(tokens)
            if self.max_word_chars:
                for j, token in enumerate(tokens):
                    ids = [chars.get(c, 1) for c in token[: self.max_word_chars]]
                    x[i, j, 1 : 1 + len(ids)] = ids
        return x if self.max_word_chars else x[..., 0]

    def tag_ids(self, sentences: Sequence[Sentence], seq_len: int) -> np.ndarray:
        """Tags as ids (N, seq_len), padding 0 (kept out of the loss by the mask); an unknown tag is refused."""
        index = {t: i for i, t in enumerate(self.tags)}
        y = np.zeros((len(sentences), seq_len), np.int32)
        for i, s in enumerate(sentences):
            for j, tag in enumerate(s.tags):
                if tag not in index:
                    raise DataError(f"{s.where}: tag {tag!r} is not in the training split's tags "
                                    f"({', '.join(self.tags)}); add it to the training file")
                y[i, j] = index[tag]
        return y

    def to_json(self) -> dict:
        return {"words": list(self.words), "tags": list(self.tags), "lowercase": self.lowercase,
                "chars": list(self.chars), "max_word_chars": self.max_word_chars, "scheme": self.scheme}

    @classmethod
    def from_run(cls, run_dir: Path) -> TagVocab:
        """A tagged run's `tagger.json`; a run without a readable one is refused."""
        import json

        path = Path(run_dir) / TAGGER_FILE
        if not path.is_file():
            raise RunError(f"{run_dir}: no {TAGGER_FILE}: the run has no vocabulary to read text with; train it again")
        try:
            info = json.loads(path.read_text(encoding="utf-8"))
            return cls(tuple(info["words"]), tuple(info["tags"]), bool(info["lowercase"]), tuple(info["chars"]),
                       int(info["max_word_chars"]), str(info["scheme"]))
        except (ValueError, KeyError, TypeError):
            raise RunError(f"{path}: unreadable; expected the words and tags the run was trained with") from None


def read_tagged(d: TaggedData, seed: int) -> tuple[list[Sentence], list[Sentence], list[Sentence]]:
    """The train, validation and test sentences `d` names: one file split by a seeded shuffle, or three files."""
    if d.path is not None:
        everything = read_conll(d.path, d)
        parts = split_indices(len(everything), d.val_fraction, d.test_fraction, seed)
        return tuple([everything[i] for i in idx] for idx in parts)  # type: ignore[return-value]
    return (read_conll(d.train_path, d), read_conll(d.val_path, d) if d.val_path else [],
            read_conll(d.test_path, d))


def with_unknowns(x: np.ndarray, share: float, seed: int) -> np.ndarray:
    """`x` with a seeded `share` of the training tokens, and half of the words seen once, read as unknown (id 1).

    So the model meets the unknown id in training, and learns to tag a word it
    never saw (a new name) from its context and characters instead of meeting
    an untrained embedding first at test time (the singleton rule of Lample et al., 2016).
    """
    words = x if x.ndim == 2 else x[..., 0]
    ids, counts = np.unique(words[words > 1], return_counts=True)
    single = np.isin(words, ids[counts == 1])
    draw = np.random.default_rng([seed, 1]).random(words.shape)
    drop = (words > 1) & ((draw < share) | (single & (draw < SINGLETON_SHARE)))
    out = x.copy()
    (out if out.ndim == 2 else out[..., 0])[drop] = 1
    return out


def load_tagged(d: TaggedData, seed: int) -> Dataset:
    """Word (and character) ids (N, T[, 1 + chars]) and tag ids (N, T), T the longest sentence read."""
    train, val, test = read_tagged(d, seed)
    if not train:
        raise DataError(f"{d.path or d.train_path}: no sentences left to train on; lower val_fraction/test_fraction")
    vocab = TagVocab.fit(train, d)
    seq_len = max(len(s.tokens) for part in (train, val, test) for s in part)

    def arrays(part: list[Sentence]) -> tuple[np.ndarray, np.ndarray]:
        return vocab.encode([s.tokens for s in part], seq_len), vocab.tag_ids(part, seq_len)

    (x_train, y_train), (x_val, y_val), (x_test, y_test) = (arrays(p) for p in (train, val, test))
    test_name = "test"
    if not test:  # nothing held out: report on the training sentences (as read), and say so
        x_test, y_test, test_name = x_train, y_train, "train"
    x_train = with_unknowns(x_train, d.unknown_share, seed)
    spec = DataSpec(TASK_OF_KIND[d.kind], seq_len, vocab_size=len(vocab.words), num_classes=len(vocab.tags),
                    sequence_output=True, chars=vocab.max_word_chars, char_vocab=len(vocab.chars))
    extra = {"tagger": vocab.to_json(), "tag_names": list(vocab.tags), "scheme": d.scheme}
    return Dataset(spec, x_train, y_train, x_val, y_val, x_test, y_test, test_name, extra=extra)

