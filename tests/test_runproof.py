"""A directory is replaced only when it provably is a run: every file a run of any task writes counts as its own."""

from __future__ import annotations

import pytest

from conftest import TINY
from rnn_recipes.config import dump_config
from rnn_recipes.config_load import load_config
from rnn_recipes.runproof import replace_refusal


@pytest.mark.parametrize("written", ["samples.txt", "series.json", "inference.keras", "vectorizer.json", "confusion.png"])
def test_an_unfinished_run_of_every_task_may_be_replaced_and_a_users_file_beside_it_may_not(tmp_path, written):
    run = tmp_path / "r"
    run.mkdir()
    (run / "config.yaml").write_text(dump_config(load_config(TINY / "text_controls.yaml")))
    (run / written).write_bytes(b"x")
    assert replace_refusal(run) is None
    (run / "notes.txt").write_text("thesis")
    assert replace_refusal(run) == "holds 'notes.txt', which `rnn train` never writes"
