"""The run configuration's data sections: what a run learns from, one model per `data.kind`.

`config.py` holds the rest of the schema (encoding, model, train, output and
the `Config` that joins them) and the checks across sections; this module
holds `Section`, the base every section of the schema shares.

`timing` (generated spike intervals, for the peephole LSTM recipe) is defined here too.

May import: nothing of the project.
"""

from __future__ import annotations

import typing
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class Section(BaseModel):
    """The base of every section of the schema: unknown keys, wrong types, inf and nan are refused; frozen."""

    # inf and nan are never meaningful settings (a learning rate of .inf passes `gt=0`);
    # strict: a wrong type is refused, never coerced (`units: true` is not 1, `shuffle: 'off'` not False)
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False, strict=True)


class ImdbData(Section):
    """Keras' preprocessed IMDB reviews: word ids, binary sentiment."""

    kind: Literal["imdb"] = "imdb"
    path: str | None = None  # a local imdb.npz; None downloads via keras.datasets
    num_words: int = Field(10_000, ge=3, le=10_000_000)  # ids 0-2 are reserved (pad, start, oov)
    maxlen: int = Field(100, ge=1, le=1_000_000)
    # 'pre' keeps the review next to the answer; the seed's 'post' makes the RNN
    # read up to maxlen zeros after the review before it answers.
    padding: Literal["pre", "post"] = "pre"
    truncating: Literal["pre", "post"] = "pre"
    val_split: float = Field(0.2, ge=0.0, lt=1.0)  # taken from the training set
    limit: int | None = Field(None, ge=2)  # use only this many train and test reviews
    # Keras' imdb_word_index.json, so `rnn predict` reads English; default: Keras' verified cache
    word_index_path: str | None = None


class TextData(Section):
    """A text corpus for next-token prediction."""

    kind: Literal["text"] = "text"
    text: str | None = None  # inline corpus
    path: str | None = None  # a local text file
    url: str | None = None  # downloaded once, cached, checked against sha256
    sha256: str | None = Field(None, pattern=r"^[0-9a-f]{64}$")
    level: Literal["char", "word"] = "char"
    max_vocab: int | None = Field(None, ge=2, le=10_000_000)  # word level: keep the most frequent
    lowercase: bool = False
    seq_length: int = Field(40, ge=1, le=1_000_000)
    step: int = Field(1, ge=1)  # stride between windows
    # many_to_one: a window predicts the token after it (the seed);
    # many_to_many: every position predicts its next token (char-rnn).
    objective: Literal["many_to_one", "many_to_many"] = "many_to_one"
    val_split: float = Field(0.1, ge=0.0, lt=1.0)  # from the end of the corpus
    test_split: float = Field(0.0, ge=0.0, lt=1.0)

    @model_validator(mode="after")
    def _one_source(self) -> TextData:
        given = [k for k in ("text", "path", "url") if getattr(self, k) is not None]
        if len(given) > 1:
            raise ValueError(f"give one of text, path, url; received {', '.join(given)}")
        if self.url is not None and self.sha256 is None:
            raise ValueError("a url needs its sha256, so a changed or partial download is caught")
        if self.val_split + self.test_split >= 1.0:
            raise ValueError("val_split + test_split must leave some text to train on")
        return self


class SineData(Section):
    """A sine series; windows of `time_steps` values predict the next one."""

    kind: Literal["sine"] = "sine"
    total_size: int = Field(250, ge=3, le=100_000_000)  # sin(arange(total_size)) to train on
    test_size: int = Field(400, ge=3, le=100_000_000)  # sin(arange(test_size)) to test on ...
    test_windows: int = Field(75, ge=1)  # ... its last windows only, as the seed
    time_steps: int = Field(25, ge=1, le=1_000_000)
    frequency: float = Field(1.0, gt=0.0)  # radians per step
    noise: float = Field(0.0, ge=0.0)  # std of Gaussian noise added to train values
    val_split: float = Field(0.0, ge=0.0, lt=1.0)
    horizon: int = Field(1, ge=1, le=100_000)  # values predicted after each window
    stride: int = Field(1, ge=1)  # rows between the starts of consecutive windows
    # direct: one Dense(horizon) head; recursive: a one-step model fed its own predictions
    strategy: Literal["direct", "recursive"] = "direct"
    season: int = Field(1, ge=1)  # the seasonal naive baseline's period in rows (1: persistence)

    @model_validator(mode="after")
    def _enough_points(self) -> SineData:
        if self.total_size < self.time_steps + self.horizon:
            raise ValueError(f"total_size ({self.total_size}) must exceed time_steps ({self.time_steps}) "
                             f"by at least horizon ({self.horizon})")
        if self.test_size - self.time_steps - self.horizon + 1 < self.test_windows:
            raise ValueError(
                f"test_size ({self.test_size}) gives only {self.test_size - self.time_steps - self.horizon + 1} "
                f"windows, fewer than test_windows ({self.test_windows})"
            )
        return self


class SeriesData(Section):
    """A time series from a CSV file: windows of `time_steps` rows predict the next `horizon` target values."""

    kind: Literal["series"] = "series"
    path: str | None = None  # a local CSV file with a header row
    url: str | None = None  # downloaded once, cached, checked against sha256
    sha256: str | None = Field(None, pattern=r"^[0-9a-f]{64}$")
    time_column: str | None = None  # parsed (numbers or ISO dates), checked for order and gaps
    features: list[str] | None = Field(None, min_length=1)  # input columns; default: the targets
    targets: list[str] | None = Field(None, min_length=1)  # predicted columns; default: the one numeric column
    time_steps: int = Field(24, ge=1, le=100_000)
    horizon: int = Field(1, ge=1, le=100_000)  # values predicted after each window
    stride: int = Field(1, ge=1)  # rows between the starts of consecutive windows
    # direct: one Dense(horizon) head; recursive: a one-step model fed its own predictions
    strategy: Literal["direct", "recursive"] = "direct"
    season: int = Field(1, ge=1)  # the seasonal naive baseline's period in rows (1: persistence)
    # chronological parts, from the end: train, then validation, then test; never shuffled across
    val_split: float = Field(0.15, ge=0.0, lt=1.0)
    test_split: float = Field(0.15, gt=0.0, lt=1.0)
    # standard: each column minus its mean, over its std, both from the training part only
    normalize: Literal["standard", "none"] = "standard"
    # missing cells (empty, NA, NaN): none refuses them with the row and column
    fill: Literal["none", "ffill", "interpolate"] = "none"

    @model_validator(mode="after")
    def _one_source(self) -> SeriesData:
        given = [k for k in ("path", "url") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(f"give one of path, url; received {', '.join(given) or 'neither'}")
        if self.url is not None and self.sha256 is None:
            raise ValueError("a url needs its sha256, so a changed or partial download is caught")
        if self.val_split + self.test_split >= 1.0:
            raise ValueError("val_split + test_split must leave some rows to train on")
        if self.strategy == "recursive" and self.features is not None and self.features != self.targets:
            raise ValueError("strategy recursive feeds each prediction back as the next input, so features must "
                             "be the targets (leave features out); use strategy direct for other inputs")
        return self


class LabelledTextData(Section):
    """The user's labelled texts (CSV, TSV, JSONL or class folders) for classification."""

    kind: Literal["labelled_text"] = "labelled_text"
    path: str | None = Field(None, description="one file or folder, split by a seeded stratified split")
    train_path: str | None = Field(None, description="or separate files: the training split (classes are its labels)")
    val_path: str | None = Field(None, description="the validation split, with train_path")
    test_path: str | None = Field(None, description="the test split, with train_path")
    text_column: str = Field("text", min_length=1, description="CSV/TSV column or JSON key holding the text")
    label_column: str = Field("label", min_length=1, description="CSV/TSV column or JSON key holding the label")
    val_fraction: float = Field(0.1, ge=0.0, lt=1.0, description="with path: the share of each class held out to validate")
    test_fraction: float = Field(0.1, ge=0.0, lt=1.0, description="with path: the share of each class held out to test")
    level: Literal["char", "word"] = Field("word", description="what a token is")
    lowercase: bool = Field(True, description="lowercase before cutting (word level also strips punctuation)")
    max_vocab: int = Field(20_000, ge=3, le=10_000_000, description="ids kept, padding and [UNK] included; built on the training split only")
    seq_length: int = Field(100, ge=1, le=1_000_000, description="tokens per text: longer texts keep their first seq_length, shorter are padded after")
    # the vectorizer inside the saved model pads and cuts at the end (Keras' TextVectorization);
    # keeping a text's last tokens would need a custom layer, which a plain Keras process cannot load
    truncating: Literal["post"] = Field("post", description="which end of a long text is cut: post (the end)")
    padding: Literal["post"] = Field("post", description="where padding goes: post (after the text; mask_zero skips it)")
    class_weights: Literal["balanced", "none"] = Field("none", description="balanced: weigh each class's loss by n / (classes * count)")

    @model_validator(mode="after")
    def _one_source(self) -> LabelledTextData:
        if (self.path is None) == (self.train_path is None):
            raise ValueError("give data.path (one file, split by val_fraction/test_fraction) or data.train_path (with optional val_path, test_path), not both")
        if self.path is None:
            if self.test_path is None:
                raise ValueError("data.train_path needs a data.test_path to report test metrics on")
        elif self.val_path is not None or self.test_path is not None:
            raise ValueError("data.val_path and data.test_path go with data.train_path, not data.path")
        if self.val_fraction + self.test_fraction >= 1.0:
            raise ValueError("val_fraction + test_fraction must leave some texts to train on")
        return self


class TimingData(Section):
    """Generated spike trains: the interval between two spikes, to be named exactly (a class per interval).

    The peephole paper's task of measuring spike delays (Gers, Schraudolph and
    Schmidhuber 2002): nothing but the count of steps between the spikes tells
    the classes apart, and zeros follow the second spike until the sequence ends.
    """

    kind: Literal["timing"] = "timing"
    time_steps: int = Field(50, ge=3, le=100_000, description="steps per sequence")
    min_gap: int = Field(10, ge=1, description="the shortest interval between the spikes (class 0)")
    max_gap: int = Field(19, ge=1, description="the longest interval (class max_gap - min_gap)")
    train_size: int = Field(3000, ge=2, le=10_000_000, description="sequences generated to train and validate on")
    test_size: int = Field(1000, ge=1, le=10_000_000, description="sequences generated to test on, from their own stream")
    val_split: float = Field(0.1, ge=0.0, lt=1.0, description="the share of train_size held out to validate")
    noise: float = Field(0.0, ge=0.0, le=10.0, description="std of Gaussian noise added to every step")

    @model_validator(mode="after")
    def _gaps_fit(self) -> TimingData:
        if not self.min_gap < self.max_gap < self.time_steps:
            raise ValueError(f"need min_gap < max_gap < time_steps (two classes or more, both spikes inside a "
                             f"sequence); received {self.min_gap}, {self.max_gap}, {self.time_steps}")
        return self


class TaggedData(Section):
    """Tagged sentences in CoNLL format (a token and its tag per line, a blank line between sentences) for tagging."""

    kind: Literal["tagged"] = "tagged"
    path: str | None = Field(None, description="one CoNLL file, split by sentence with a seeded shuffle")
    train_path: str | None = Field(None, description="or separate files: the training split (tags and vocabulary are its)")
    val_path: str | None = Field(None, description="the validation split, with train_path")
    test_path: str | None = Field(None, description="the test split, with train_path")
    token_column: int = Field(0, ge=0, le=100, description="the whitespace-separated column holding the token (0: first)")
    tag_column: int = Field(-1, ge=-100, le=100, description="the column holding the tag (-1: last, as CoNLL-2003's NER tags)")
    scheme: Literal["IOB2", "BIO", "IOB1", "IOBES", "none"] = Field(
        "IOB2", description="how tags mark entities (BIO is IOB2); none: plain tags such as parts of speech, scored by accuracy")
    val_fraction: float = Field(0.1, ge=0.0, lt=1.0, description="with path: the share of sentences held out to validate")
    test_fraction: float = Field(0.1, ge=0.0, lt=1.0, description="with path: the share of sentences held out to test")
    lowercase: bool = Field(False, description="lowercase words before looking them up (character features keep the case)")
    max_vocab: int = Field(50_000, ge=3, le=10_000_000, description="word ids kept, padding and unknown included; from the training split")
    max_length: int = Field(200, ge=1, le=100_000, description="tokens a sentence may have; a longer one is refused with its line")
    unknown_share: float = Field(0.05, ge=0.0, lt=1.0, description="the share of training tokens read as unknown (seeded; "
                                 "besides half the words seen once), so unseen words are tagged from their context")
    chars: bool = Field(False, description="also feed each word's characters (a char CNN per word, model.char_*)")
    max_word_chars: int = Field(16, ge=1, le=1_000, description="characters of a word read by the char features (longer words keep their first)")

    @model_validator(mode="after")
    def _one_source(self) -> TaggedData:
        if (self.path is None) == (self.train_path is None):
            raise ValueError("give data.path (one file, split by val_fraction/test_fraction) or data.train_path (with optional val_path, test_path), not both")
        if self.path is None:
            if self.test_path is None:
                raise ValueError("data.train_path needs a data.test_path to report test metrics on")
        elif self.val_path is not None or self.test_path is not None:
            raise ValueError("data.val_path and data.test_path go with data.train_path, not data.path")
        if self.val_fraction + self.test_fraction >= 1.0:
            raise ValueError("val_fraction + test_fraction must leave some sentences to train on")
        if self.token_column == self.tag_column:
            raise ValueError("data.token_column and data.tag_column name the same column")
        return self


class PairsData(Section):
    """Sentence pairs for sequence-to-sequence: a UTF-8 file of `source<TAB>target` lines."""

    kind: Literal["pairs"] = "pairs"
    path: str = Field(description="a tab-separated file, one `source<TAB>target` pair a line (beside the config)")
    level: Literal["char", "word"] = Field("char", description="what a token is, on both sides")
    lowercase: bool = Field(False, description="lowercase both sides before cutting")
    max_source_len: int = Field(40, ge=1, le=10_000, description="source tokens kept; longer pairs are left out")
    max_target_len: int = Field(40, ge=1, le=10_000, description="target tokens kept (before the end token); longer pairs are left out")
    max_vocab: int | None = Field(None, ge=5, le=1_000_000, description="word level: ids per side, the most frequent tokens, <unk> included")
    reverse_source: bool = Field(False, description="feed the source backwards (Sutskever et al.'s trick)")
    limit: int | None = Field(None, ge=3, description="use only the first this many pairs")
    val_fraction: float = Field(0.1, ge=0.0, lt=1.0, description="pairs held out to validate (seeded shuffle)")
    test_fraction: float = Field(0.1, gt=0.0, lt=1.0, description="pairs held out to test")

    @model_validator(mode="after")
    def _parts(self) -> PairsData:
        if self.val_fraction + self.test_fraction >= 1.0:
            raise ValueError("val_fraction + test_fraction must leave some pairs to train on")
        return self


class AdditionData(Section):
    """The classic addition task, generated: `"535+61"` -> `"596"`, character level, no download."""

    kind: Literal["addition"] = "addition"
    digits: int = Field(3, ge=1, le=9, description="the most digits of each number")
    examples: int = Field(50_000, ge=10, le=10_000_000, description="distinct questions generated")
    reverse_source: bool = Field(False, description="feed the question backwards (it eases learning the carry)")
    val_fraction: float = Field(0.05, ge=0.0, lt=1.0, description="questions held out to validate")
    test_fraction: float = Field(0.05, gt=0.0, lt=1.0, description="questions held out to test (never seen in training)")

    @model_validator(mode="after")
    def _enough_questions(self) -> AdditionData:
        distinct = (10 ** self.digits) ** 2
        if self.examples > distinct // 2:
            raise ValueError(f"{self.digits} digits give {distinct:,} questions; ask for at most half ({distinct // 2:,}) "
                             "so they can be drawn distinct")
        if self.val_fraction + self.test_fraction >= 1.0:
            raise ValueError("val_fraction + test_fraction must leave some questions to train on")
        return self


DataConfig = Annotated[
    ImdbData | TextData | SineData | SeriesData | LabelledTextData | TimingData | TaggedData | PairsData | AdditionData,
    Field(discriminator="kind"),
]
# each data section by its `kind` tag, in the order the union lists them
DATA_MODELS: dict[str, type[BaseModel]] = {
    m.model_fields["kind"].default: m for m in typing.get_args(typing.get_args(DataConfig)[0])
}
DATA_KINDS = tuple(DATA_MODELS)
