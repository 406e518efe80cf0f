"""The text codec: text <-> tokens <-> ids, the same way for training, generation and prediction.

A `TextCodec` is built from the corpus when a text run trains (`TextCodec.fit`),
saved in the run as vocab.json, and rebuilt from the run (`TextCodec.from_run`)
by everything that reads text into or out of the trained model.

Example:
    >>> codec = TextCodec(("<unk>", ",", "a", "cat"), level="word", lowercase=True)
    >>> codec.text_to_ids("A dog, a cat")
    [2, 0, 1, 2, 3]
    >>> codec.decode([2, 3, 1])
    'a cat,'
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from rnn_recipes.config_data import TextData
from rnn_recipes.errors import UserError

UNK = "<unk>"
_WORD = re.compile(r"\w+|[^\w\s]")  # a word, or one punctuation mark
_OPENING = "([{\"'"  # punctuation that keeps the space before it


class TokenError(UserError):
    """Text holds tokens the vocabulary cannot encode."""


def tokenize(text: str, level: str, lowercase: bool) -> list[str]:
    """Characters, or words and punctuation marks for level "word".

    Example:
        >>> tokenize("Hi, you", "word", lowercase=True)
        ['hi', ',', 'you']
        >>> tokenize("Hi", "char", lowercase=False)
        ['H', 'i']
    """
    if lowercase:
        text = text.lower()
    return list(text) if level == "char" else _WORD.findall(text)


def build_vocab(tokens: list[str], level: str, max_vocab: int | None) -> list[str]:
    """Token by id: sorted characters, or the most frequent words (sorted) plus <unk> when some are left out.

    Example:
        >>> build_vocab(list("abca"), "char", None)
        ['a', 'b', 'c']
        >>> build_vocab("a b a c a b d".split(), "word", 3)
        ['<unk>', 'a', 'b']
    """
    if level == "char":
        return sorted(set(tokens))
    counts = Counter(tokens)
    keep = counts.most_common(max_vocab - 1 if max_vocab else None)
    words = sorted(w for w, _ in keep)
    return [UNK, *words] if max_vocab and len(counts) > len(words) else words


def detokenize(token: str, level: str, first: bool) -> str:
    """How a token is printed after others: words get a space, punctuation does not.

    Example:
        >>> detokenize("cat", "word", first=False), detokenize(",", "word", first=False)
        (' cat', ',')
    """
    if level == "char" or first:
        return token
    return token if re.fullmatch(r"[^\w\s]", token) and token not in _OPENING else " " + token


@dataclass(frozen=True)
class TextCodec:
    """A text run's vocabulary and the rules that cut text into its tokens.

    Args:
        tokens: token by id.
        level: "char" or "word".
        lowercase: whether text is lowercased before it is cut.

    Example:
        >>> codec = TextCodec.fit("hello world", TextData(kind="text", text="hello world"))
        >>> codec.encode(codec.tokenize("hello")).tolist()
        [3, 2, 4, 4, 5]
        >>> codec.decode([3, 2, 4, 4, 5])
        'hello'
    """

    tokens: tuple[str, ...]
    level: str = "char"
    lowercase: bool = False

    @classmethod
    def fit(cls, text: str, d: TextData) -> TextCodec:
        """The codec a corpus and its data settings define: the vocabulary is built from `text`."""
        tokens = tokenize(text, d.level, d.lowercase)
        return cls(tuple(build_vocab(tokens, d.level, d.max_vocab)), d.level, d.lowercase)

    @classmethod
    def from_run(cls, run) -> TextCodec:
        """The codec of a text run read back by `runs.load_run` (vocab.json plus its data settings)."""
        d = run.config.data
        return cls(tuple(run.vocab), d.level, d.lowercase)

    def to_json(self) -> dict:
        """The content of a run's vocab.json.

        Example:
            >>> TextCodec(("a", "b")).to_json()
            {'level': 'char', 'tokens': ['a', 'b']}
        """
        return {"level": self.level, "tokens": list(self.tokens)}

    @property
    def vocab(self) -> list[str]:
        return list(self.tokens)

    def __len__(self) -> int:
        return len(self.tokens)

    @cached_property
    def _index(self) -> dict[str, int]:
        return {t: i for i, t in enumerate(self.tokens)}

    def tokenize(self, text: str) -> list[str]:
        """`text` cut into this codec's tokens (lowercased first if the run was)."""
        return tokenize(text, self.level, self.lowercase)

    def encode(self, tokens: list[str]) -> np.ndarray:
        """Token ids (int32); a token outside the vocabulary becomes <unk>."""
        index = self._index
        unk = index.get(UNK)
        return np.array([index.get(t, unk) for t in tokens], dtype="int32")

    def unknown(self, tokens: list[str]) -> list[str]:
        """The distinct tokens `encode` cannot represent, sorted (words map to <unk> when the vocabulary has it).

        Example:
            >>> TextCodec(tuple("ab")).unknown(list("abxzx"))
            ['x', 'z']
        """
        index = self._index
        if self.level == "word" and UNK in index:
            return []
        return sorted({t for t in tokens if t not in index})

    def text_to_ids(self, text: str, name: str = "text") -> list[int]:
        """`text` as token ids; a token the vocabulary cannot encode is an error that lists them.

        Args:
            text: the text to encode, e.g. a generation seed or a prompt to score.
            name: what the text is called in the error message.

        Example:
            >>> TextCodec(tuple(" dehlorw")).text_to_ids("hel")
            [3, 2, 4]
        """
        tokens = self.tokenize(text)
        unknown = self.unknown(tokens)
        if unknown:
            what = "characters" if self.level == "char" else "words"
            known = "".join(self.tokens) if self.level == "char" else f"{len(self.tokens)} words"
            raise TokenError(f"{name} {what} not in the vocabulary: {', '.join(map(repr, unknown))}; the run knows {known!r}")
        return self.encode(tokens).tolist()

    def decode_token(self, token_id: int, first: bool = False) -> str:
        """One id as printed after the text before it (see `detokenize`)."""
        return detokenize(self.tokens[token_id], self.level, first)

    def decode(self, ids) -> str:
        """Ids back to text: characters joined, words spaced, punctuation attached."""
        return "".join(self.decode_token(int(i), first=n == 0) for n, i in enumerate(ids))


PAD, START, END = "", "<s>", "</s>"  # id 0 pads (and is masked); the target side starts and ends with START, END


def pair_vocab(sequences: list[list[str]], max_vocab: int | None, target: bool) -> tuple[str, ...]:
    """Token by id for one side of sentence pairs: padding, <unk>, (target: <s>, </s>,) then the tokens, sorted.

    Example:
        >>> pair_vocab([list("ab"), list("ba")], None, target=True)
        ('', '<unk>', '<s>', '</s>', 'a', 'b')
    """
    special = (PAD, UNK, START, END) if target else (PAD, UNK)
    counts = Counter(t for seq in sequences for t in seq)
    keep = counts.most_common(max_vocab - len(special) if max_vocab else None)
    return (*special, *sorted(t for t, _ in keep))


@dataclass(frozen=True)
class PairCodec:
    """A sequence-to-sequence run's two vocabularies and the rules that cut both sides.

    Args:
        source: source token by id (0 pads, 1 is <unk>).
        target: target token by id (0 pads, 1 <unk>, 2 <s>, 3 </s>).
        level: "char" or "word".
        lowercase: whether both sides are lowercased before they are cut.
        reverse_source: whether the source is fed backwards.

    Example:
        >>> codec = PairCodec(("", UNK, "1", "+"), ("", UNK, START, END, "2"))
        >>> codec.source_ids("1+1"), codec.decode([4, 3, 4])
        ([2, 3, 2], '2')
    """

    source: tuple[str, ...]
    target: tuple[str, ...]
    level: str = "char"
    lowercase: bool = False
    reverse_source: bool = False

    @classmethod
    def from_run(cls, run) -> PairCodec:
        """The codec of a seq2seq run read back by `runs.load_run` (its vocab.json)."""
        data = run.vocab_json or {}
        try:
            return cls(tuple(data["source"]), tuple(data["tokens"]), data["level"], data["lowercase"], data["reverse_source"])
        except (KeyError, TypeError):
            raise TokenError(f"{run.path}: vocab.json lacks a seq2seq run's source and target vocabularies") from None

    def to_json(self) -> dict:
        """The content of a run's vocab.json: `tokens` are the target's (what the output names), `source` the source's."""
        return {"level": self.level, "lowercase": self.lowercase, "reverse_source": self.reverse_source,
                "tokens": list(self.target), "source": list(self.source)}

    @property
    def vocab(self) -> list[str]:
        """The target tokens by id: what the model's output names."""
        return list(self.target)

    @property
    def start(self) -> int:
        return self.target.index(START)

    @property
    def end(self) -> int:
        return self.target.index(END)

    @cached_property
    def _source_index(self) -> dict[str, int]:
        return {t: i for i, t in enumerate(self.source)}

    @cached_property
    def _target_index(self) -> dict[str, int]:
        return {t: i for i, t in enumerate(self.target)}

    def tokenize(self, text: str) -> list[str]:
        return tokenize(text, self.level, self.lowercase)

    def source_tokens(self, text: str) -> list[str]:
        """The source's tokens in the order the encoder reads them."""
        tokens = self.tokenize(text)
        return tokens[::-1] if self.reverse_source else tokens

    def source_ids(self, text: str) -> list[int]:
        """The source as the encoder reads it; an unknown token is <unk>."""
        index = self._source_index
        return [index.get(t, 1) for t in self.source_tokens(text)]

    def target_ids(self, text: str) -> list[int]:
        """The target's tokens as ids, without <s> and </s>; an unknown token is <unk>."""
        index = self._target_index
        return [index.get(t, 1) for t in self.tokenize(text)]

    def decode(self, ids) -> str:
        """Target ids back to text, up to the first </s> (padding and <s> left out)."""
        tokens = []
        for i in ids:
            i = int(i)
            if i == self.end:
                break
            if i not in (0, self.start):
                tokens.append(self.target[i])
        return "".join(detokenize(t, self.level, first=n == 0) for n, t in enumerate(tokens))
