"""Labelled text: the readers, the stratified split, every refusal's message, the baselines and the bundled reviews."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import CONFIGS, TINY
from rnn_recipes.baselines import (
    MAX_BOW_VOCAB,
    bag_of_words,
    classification_report,
    confusion_matrix,
    fit_bow_logistic,
    format_report,
    majority_baseline,
)
from rnn_recipes.errors import ConfigError, DataError
from rnn_recipes.labelled import (
    class_names_of,
    class_weights,
    load_labelled,
    load_labelled_splits,
    read_examples,
    stratified_split,
)


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8", newline="")
    return path


def csv_rows(rows: list[tuple[str, str]]) -> str:
    return "text,label\n" + "".join(f"{t},{y}\n" for t, y in rows)


def refusal(match_path: Path, call) -> str:
    with pytest.raises(DataError) as info:
        call()
    message = str(info.value)
    assert "\n" not in message
    assert str(match_path) in message
    return message


# ---------------------------------------------------------------- readers


def test_csv_reads_quoted_text_and_ignores_other_columns(tmp_path):
    p = write(tmp_path / "r.csv", 'id,text,label\n1,"good, really",pos\n2,"two\nlines",neg\n3,fine,pos\n')
    ex = read_examples(p)
    assert [(e.text, e.label) for e in ex] == [("good, really", "pos"), ("two\nlines", "neg"), ("fine", "pos")]
    assert ex[2].where == f"{p}: line 5"  # the quoted newline makes row 2 two lines long


def test_tsv_with_custom_column_names_and_a_byte_order_mark(tmp_path):
    p = tmp_path / "r.tsv"
    p.write_bytes("\ufeffreview\tstars\nlovely\t5\nawful\t1\n".encode("utf-8"))
    ex = read_examples(p, text_column="review", label_column="stars")
    assert [(e.text, e.label) for e in ex] == [("lovely", "5"), ("awful", "1")]


def test_jsonl_integer_labels_sort_numerically_and_blank_lines_are_skipped(tmp_path):
    lines = [{"text": f"t{i}", "label": y} for i, y in enumerate([10, 2, 10, 2, 10, 2])]
    p = write(tmp_path / "r.jsonl", "\n".join(json.dumps(o) for o in lines[:3]) + "\n\n" + "\n".join(json.dumps(o) for o in lines[3:]) + "\n")
    d = load_labelled(p, val_fraction=0, test_fraction=0.3, seed=0)
    assert d.class_names == ("2", "10")
    assert sorted(zip(d.train.texts + d.test.texts, [*d.train.labels, *d.test.labels])) == [
        ("t0", 1), ("t1", 0), ("t2", 1), ("t3", 0), ("t4", 1), ("t5", 0)
    ]


def test_class_names_sort_as_strings_unless_every_label_is_an_integer():
    assert class_names_of(["b", "a", "10", "2"]) == ("10", "2", "a", "b")
    assert class_names_of(["10", "2", "-1"]) == ("-1", "2", "10")


def test_folder_of_class_subfolders(tmp_path):
    for cls, texts in {"spam": ["buy now", "free money"], "ham": ["see you at six", "lunch?"]}.items():
        (tmp_path / cls).mkdir()
        for i, t in enumerate(texts):
            write(tmp_path / cls / f"{i}.txt", t)
    write(tmp_path / "spam" / "notes.md", "not an example")
    (tmp_path / ".hidden").mkdir()
    d = load_labelled_splits(tmp_path)
    assert d.class_names == ("ham", "spam")
    assert list(zip(d.train.texts, d.train.labels)) == [("see you at six", 0), ("lunch?", 0), ("buy now", 1), ("free money", 1)]
    assert len(d.val) == len(d.test) == 0


def test_separate_split_files_keep_file_order_and_the_training_classes(tmp_path):
    train = write(tmp_path / "train.csv", csv_rows([("a", "x"), ("b", "y"), ("c", "x")]))
    test = write(tmp_path / "test.jsonl", '{"text": "d", "label": "y"}\n')
    d = load_labelled_splits(train, test=test)
    assert d.class_names == ("x", "y")
    assert d.train.texts == ("a", "b", "c") and d.train.labels.tolist() == [0, 1, 0]
    assert len(d.val) == 0 and d.test.texts == ("d",) and d.test.labels.tolist() == [1]
    assert d.sources == (str(train), "", str(test))


def test_a_split_file_with_a_label_training_never_saw_is_refused(tmp_path):
    train = write(tmp_path / "train.csv", csv_rows([("a", "x"), ("b", "y")]))
    val = write(tmp_path / "val.csv", csv_rows([("c", "x"), ("d", "z")]))
    message = refusal(val, lambda: load_labelled_splits(train, val))
    assert message == f"{val}: line 3: label 'z' is not in the training classes; expected one of 'x', 'y'"


# ---------------------------------------------------------------- splits


def many(counts: dict[str, int]) -> list[tuple[str, str]]:
    return [(f"{label} text {i}", label) for label, n in counts.items() for i in range(n)]


def test_stratified_split_keeps_each_class_in_proportion(tmp_path):
    p = write(tmp_path / "r.csv", csv_rows(many({"a": 60, "b": 30, "c": 10})))
    d = load_labelled(p, val_fraction=0.2, test_fraction=0.1, seed=3)
    assert d.train.counts(3).tolist() == [42, 21, 7]
    assert d.val.counts(3).tolist() == [12, 6, 2]
    assert d.test.counts(3).tolist() == [6, 3, 1]
    everything = d.train.texts + d.val.texts + d.test.texts
    assert len(set(everything)) == 100
    for split in (d.train, d.val, d.test):  # labels stay with their texts
        assert all(t.startswith(d.class_names[y]) for t, y in zip(split.texts, split.labels))


def test_split_follows_the_seed(tmp_path):
    p = write(tmp_path / "r.csv", csv_rows(many({"a": 30, "b": 30})))
    one, again, other = (load_labelled(p, seed=s) for s in (7, 7, 8))
    assert one.train.texts == again.train.texts and one.val.texts == again.val.texts and one.test.texts == again.test.texts
    assert one.train.labels.tolist() == again.train.labels.tolist()
    assert one.test.texts != other.test.texts


def test_a_small_class_keeps_one_training_example():
    train, val, test = stratified_split([0, 0, 0, 1, 1, 1], 0.5, 0.4, seed=0)
    assert sorted(np.bincount(np.asarray([0, 0, 0, 1, 1, 1])[train]).tolist()) == [1, 1]
    assert len(train) + len(val) + len(test) == 6


def test_fractions_out_of_range_are_a_config_error():
    with pytest.raises(ConfigError, match="sum below 1"):
        stratified_split([0, 1], 0.6, 0.5, seed=0)


def test_class_weights_are_balanced(tmp_path):
    assert class_weights([0, 0, 0, 1], 2) == pytest.approx({0: 4 / 6, 1: 2.0})
    assert class_weights([0, 0], 2) == {0: 0.5, 1: 0.0}  # 2 / (2 * 2); a class with no examples weighs 0
    p = write(tmp_path / "r.csv", csv_rows(many({"a": 30, "b": 10})))
    d = load_labelled(p, val_fraction=0, test_fraction=0)
    assert d.class_weights() == pytest.approx({0: 40 / 60, 1: 40 / 20})


def test_split_labels_are_read_only(tmp_path):
    d = load_labelled(write(tmp_path / "r.csv", csv_rows(many({"a": 5, "b": 5}))))
    with pytest.raises(ValueError):
        d.train.labels[0] = 1


# ---------------------------------------------------------------- refusals, one line each


def test_empty_file(tmp_path):
    p = write(tmp_path / "r.csv", "\n  \n")
    assert refusal(p, lambda: load_labelled(p)) == f"{p}: empty file; expected a header line with 'text' and 'label'"
    q = write(tmp_path / "r.jsonl", "")
    assert refusal(q, lambda: load_labelled(q)) == f"{q}: empty file; expected one JSON object per line with 'text' and 'label'"


def test_header_only(tmp_path):
    p = write(tmp_path / "r.csv", "text,label\n")
    assert refusal(p, lambda: load_labelled(p)) == f"{p}: header only, no rows; expected one row per example after line 1"


def test_missing_column_lists_the_columns_found(tmp_path):
    p = write(tmp_path / "r.csv", "text,sentiment\nhi,pos\n")
    assert refusal(p, lambda: load_labelled(p)) == f"{p}: line 1: no column 'label' in the header; columns found: 'text', 'sentiment'"


def test_empty_text(tmp_path):
    p = write(tmp_path / "r.csv", "text,label\nhi,a\n  ,b\n")
    assert refusal(p, lambda: load_labelled(p)) == f"{p}: line 3: empty text in 'text'; expected some text"


def test_empty_label(tmp_path):
    p = write(tmp_path / "r.csv", "text,label\nhi,\n")
    assert refusal(p, lambda: load_labelled(p)) == f"{p}: line 2: empty label in 'label'; expected a class name or an integer"


def test_non_utf8_names_the_line_and_column(tmp_path):
    p = tmp_path / "r.csv"
    p.write_bytes(b"text,label\nok,a\nbad \xff here,b\n")
    assert refusal(p, lambda: load_labelled(p)) == f"{p}: line 3: not UTF-8 (byte 0xff at column 5); expected UTF-8 text"


def test_ragged_row(tmp_path):
    p = write(tmp_path / "r.csv", "text,label\nhi,a\nhi, there,b\n")
    assert refusal(p, lambda: load_labelled(p)) == f"{p}: line 3: 3 fields, expected 2 as in the header (CSV with delimiter ',')"


def test_class_too_small_to_stratify(tmp_path):
    p = write(tmp_path / "r.csv", csv_rows(many({"a": 10, "b": 2})))
    assert refusal(p, lambda: load_labelled(p)) == (
        f"{p}: class 'b' has 2 examples; a stratified split into train, validation and test needs at least 3 per class"
    )
    assert load_labelled(p, test_fraction=0).val.counts(2).tolist() == [1, 1]  # two splits need only 2


def test_fewer_than_two_classes(tmp_path):
    p = write(tmp_path / "r.csv", csv_rows(many({"a": 5})))
    assert refusal(p, lambda: load_labelled(p)) == f"{p}: 1 class ('a') in 'label'; a classifier needs at least 2"
    assert refusal(p, lambda: load_labelled_splits(p)) == f"{p}: 1 class ('a') in 'label'; a classifier needs at least 2"


def test_file_over_the_byte_cap(tmp_path):
    p = write(tmp_path / "r.csv", csv_rows(many({"a": 5, "b": 5})))
    size = p.stat().st_size
    assert refusal(p, lambda: load_labelled(p, max_bytes=100)) == f"{p}: {size:,} bytes, over the limit of 100 (max_bytes)"


def test_text_over_the_length_cap(tmp_path):
    p = write(tmp_path / "r.csv", csv_rows([("short", "a"), ("x" * 30, "b")]))
    assert refusal(p, lambda: load_labelled(p, max_text_chars=20)) == (
        f"{p}: line 3: text of 30 characters, over the limit of 20 (max_text_chars)"
    )


def test_field_over_the_csv_module_limit(tmp_path):
    p = write(tmp_path / "r.csv", "text,label\n" + '"' + "x" * 140_000 + '",a\n')
    assert refusal(p, lambda: load_labelled(p)).startswith(f"{p}: line 2: a field over 131,072 characters")


def test_unsupported_suffix_and_missing_file(tmp_path):
    p = write(tmp_path / "r.txt", "text,label\n")
    assert refusal(p, lambda: load_labelled(p)) == (
        f"{p}: unsupported suffix '.txt'; expected .csv, .tsv, .jsonl or a folder with one sub-folder per class"
    )
    q = tmp_path / "gone.csv"
    assert refusal(q, lambda: load_labelled(q)).startswith(f"{q}: no such file or folder")


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("{not json", "not valid JSON (Expecting property name enclosed in double quotes at column 2); expected one JSON object per line"),
        ('["text", "label"]', "a JSON list; expected one JSON object per line"),
        ('{"body": "hi", "label": "a"}', "no key 'text'; keys found: 'body', 'label'"),
        ('{"text": 5, "label": "a"}', "'text' is 5; expected a string"),
        ('{"text": "hi", "label": true}', "'label' is true; expected a string or an integer"),
        ('{"text": "hi", "label": 1.5}', "'label' is 1.5; expected a string or an integer"),
    ],
)
def test_jsonl_refusals(tmp_path, line, expected):
    p = write(tmp_path / "r.jsonl", '{"text": "ok", "label": "a"}\n' + line + "\n")
    assert refusal(p, lambda: load_labelled(p)) == f"{p}: line 2: {expected}"


def test_folder_refusals(tmp_path):
    assert refusal(tmp_path, lambda: load_labelled(tmp_path)) == (
        f"{tmp_path}: no class sub-folders; expected one sub-folder per class holding .txt files"
    )
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    write(tmp_path / "a" / "1.txt", "hi")
    assert refusal(tmp_path, lambda: load_labelled(tmp_path)) == (
        f"{tmp_path / 'b'}: no .txt files; expected one .txt file per example of class 'b'"
    )
    write(tmp_path / "b" / "1.txt", "\n")
    assert refusal(tmp_path, lambda: load_labelled(tmp_path)) == f"{tmp_path / 'b' / '1.txt'}: empty text in 'the file'; expected some text"
    (tmp_path / "b" / "1.txt").write_bytes(b"line one\n\xc3(\n")
    assert refusal(tmp_path, lambda: load_labelled(tmp_path)) == (
        f"{tmp_path / 'b' / '1.txt'}: line 2: not UTF-8 (byte 0xc3 at column 1); expected UTF-8 text"
    )
    assert refusal(tmp_path, lambda: load_labelled(tmp_path, max_bytes=5)).endswith("over the limit of 5 (max_bytes)")


# ---------------------------------------------------------------- baselines


def test_bag_of_words_counts_ids_skipping_padding_and_ids_past_the_cap():
    counts = bag_of_words([[0, 0, 3, 1, 3], [2, 2, 2], []], vocab_size=5, max_vocab=3)
    assert counts.shape == (3, 3)
    assert counts.toarray().tolist() == [[0, 1, 0], [0, 0, 3], [0, 0, 0]]
    assert bag_of_words([[1]], vocab_size=10**6).shape == (1, MAX_BOW_VOCAB)
    with pytest.raises(ValueError, match="sequence 1: token id 7 outside"):
        bag_of_words([[1], [7]], vocab_size=5)


def test_sparse_products_match_dense():
    rng = np.random.default_rng(0)
    counts = bag_of_words([rng.integers(0, 50, rng.integers(0, 20)) for _ in range(30)], vocab_size=50)
    dense = counts.toarray()
    w, g = rng.standard_normal((50, 4)).astype(np.float32), rng.standard_normal((30, 4)).astype(np.float32)
    np.testing.assert_allclose(counts.matmul(w), dense @ w, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(counts.rmatmul(g), dense.T @ g, rtol=1e-5, atol=1e-5)


def planted(n: int, seed: int, classes: int = 3) -> tuple[list[np.ndarray], np.ndarray]:
    """Twelve noise words any class uses (ids 1-199) plus two from a band only class k uses (200 + 30k up)."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, classes, n)
    seqs = [np.r_[rng.integers(1, 200, 12), rng.integers(200 + 30 * k, 230 + 30 * k, 2)] for k in y]
    return seqs, y


def test_bow_logistic_learns_a_planted_signal_and_is_deterministic():
    x, y = planted(600, seed=0)
    xt, yt = planted(300, seed=1)
    model = fit_bow_logistic(x, y, num_classes=3, vocab_size=300, seed=0)
    assert (model.predict(xt) == yt).mean() > 0.9
    again = fit_bow_logistic(x, y, num_classes=3, vocab_size=300, seed=0)
    np.testing.assert_array_equal(model.weights, again.weights)
    np.testing.assert_array_equal(model.bias, again.bias)
    assert model.final_loss == again.final_loss
    p = model.predict_proba(xt)
    assert p.shape == (300, 3) and np.allclose(p.sum(axis=1), 1, atol=1e-5)


def test_majority_baseline_picks_the_most_frequent_class_lowest_on_a_tie():
    assert majority_baseline([2, 1, 2, 0], 3).predict(3).tolist() == [2, 2, 2]
    assert majority_baseline([1, 0], 2).label == 0


def test_report_against_hand_computed_numbers():
    y_true = [0, 0, 0, 1, 1, 2, 2, 2, 2]
    y_pred = [0, 1, 0, 1, 2, 2, 2, 0, 1]
    assert confusion_matrix(y_true, y_pred, 3).tolist() == [[2, 1, 0], [0, 1, 1], [1, 1, 2]]
    r = classification_report(y_true, y_pred, 3)
    assert r.precision.tolist() == pytest.approx([2 / 3, 1 / 3, 2 / 3])
    assert r.recall.tolist() == pytest.approx([2 / 3, 1 / 2, 1 / 2])
    assert r.f1.tolist() == pytest.approx([2 / 3, 2 / 5, 4 / 7])
    assert r.support.tolist() == [3, 2, 4]
    assert r.accuracy == pytest.approx(5 / 9)
    assert r.macro_f1 == pytest.approx((2 / 3 + 2 / 5 + 4 / 7) / 3)
    assert r.weighted_f1 == pytest.approx((3 * 2 / 3 + 2 * 2 / 5 + 4 * 4 / 7) / 9)
    d = r.as_dict(["a", "b", "c"])
    assert d["per_class"]["b"] == pytest.approx({"precision": 1 / 3, "recall": 0.5, "f1": 0.4, "support": 2})
    table = format_report(r, ["a", "b", "c"])
    assert table.splitlines()[2].split() == ["b", "0.333", "0.500", "0.400", "2"]


def test_report_is_zero_where_a_class_is_never_predicted():
    r = classification_report([0, 1, 1], [0, 0, 0], 3)
    assert r.precision.tolist() == pytest.approx([1 / 3, 0, 0])
    assert r.recall.tolist() == [1, 0, 0]
    assert r.f1.tolist() == pytest.approx([0.5, 0, 0])
    with pytest.raises(ValueError, match="predictions must be in"):
        confusion_matrix([0], [3], 3)


# ---------------------------------------------------------------- bundled reviews


def test_bundled_reviews_load_with_three_balanced_classes():
    d = load_labelled(CONFIGS / "data" / "reviews.csv", seed=0)
    assert d.class_names == ("negative", "neutral", "positive")
    assert [len(d.train), len(d.val), len(d.test)] == [624, 78, 78]
    assert d.train.counts(3).tolist() == [208] * 3 and d.test.counts(3).tolist() == [26] * 3
    assert len(set(d.train.texts + d.val.texts + d.test.texts)) == 780
    tiny = load_labelled_splits(TINY / "data" / "reviews_tiny.csv")
    assert tiny.train.counts(3).tolist() == [40] * 3
    assert set(tiny.train.texts) <= set(d.train.texts + d.val.texts + d.test.texts)


def test_bundled_reviews_are_what_the_generator_writes():
    spec = importlib.util.spec_from_file_location("make_labelled", CONFIGS / "data" / "make_labelled.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.main(["--check"]) == 0


def test_bag_of_words_reads_the_plain_reviews_but_not_the_order_ones():
    """The bundled reviews' promise: a learnable signal, with room left for a model that reads order."""
    import re

    d = load_labelled(CONFIGS / "data" / "reviews.csv", seed=0)
    vocab = {w: i for i, w in enumerate(sorted({w for t in d.train.texts for w in re.findall(r"\w+", t.lower())}), start=2)}

    def ids(texts):
        return [[vocab.get(w, 1) for w in re.findall(r"\w+", t.lower())] for t in texts]

    model = fit_bow_logistic(ids(d.train.texts), d.train.labels, 3, len(vocab) + 2)
    accuracy = classification_report(d.test.labels, model.predict(ids(d.test.texts)), 3).accuracy
    assert 0.7 < accuracy < 0.92, accuracy


def test_new_modules_do_not_import_tensorflow():
    code = "import sys, rnn_recipes.labelled, rnn_recipes.baselines; print('tensorflow' in sys.modules, 'keras' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]
