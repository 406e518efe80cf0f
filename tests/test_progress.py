"""Training progress: a live line per epoch on a terminal, plain lines in logs, nothing when quiet; the last line."""

from __future__ import annotations

import io

import pytest

from rnn_recipes.progress import Progress, final_line, headline, keep_every, mode_for


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def fit(progress: Progress, clock: Clock, epochs: int, steps: int, stop_after: int | None = None) -> None:
    """Drive the callback as Keras' fit does: one second per batch."""
    for epoch in range(stop_after or epochs):
        progress.on_epoch_begin(epoch)
        for batch in range(steps):
            clock.now += 1.0
            progress.on_train_batch_end(batch, {"loss": 1.0 / (epoch + 1)})
        progress.on_epoch_end(epoch, {"loss": 1.0 / (epoch + 1), "val_loss": 2.0, "seconds": steps})
    progress.on_train_end()


def test_the_mode_follows_the_terminal_unless_told():
    assert mode_for(None, Tty()) == "live" and mode_for(None, io.StringIO()) == "lines"
    assert [mode_for(v, Tty()) for v in (0, 1, 2)] == ["quiet", "live", "lines"]


def test_a_log_gets_one_plain_line_per_epoch():
    out, clock = io.StringIO(), Clock()
    fit(Progress(3, 4, "lines", out, clock), clock, 3, 4)
    assert out.getvalue().splitlines() == [
        "epoch 1/3  loss 1  val_loss 2  4.0s",
        "epoch 2/3  loss 0.5  val_loss 2  4.0s",
        "epoch 3/3  loss 0.3333  val_loss 2  4.0s",
    ]


def test_a_terminal_keeps_about_twenty_lines_of_a_long_run_and_shows_an_eta():
    out, clock = Tty(), Clock()
    fit(Progress(150, 5, "live", out, clock), clock, 150, 5)
    kept = out.getvalue().split("\n")
    assert kept[-1] == ""  # ends with a newline
    kept = [line.rsplit("\r", 1)[-1].rstrip() for line in kept[:-1]]
    every = keep_every(150)
    assert every == 8 and len(kept) == 1 + 150 // every + 1  # the first, every 8th, the last
    assert kept[0].startswith("epoch   1/150  loss 1  val_loss 2  5.0s") and kept[-1].startswith("epoch 150/150")
    live = out.getvalue().split("\r")
    assert any("epoch   2/150  3/5  ETA 2s (run 12m" in part for part in live)  # 148 epochs of 5 s left after this one


def test_a_run_that_stops_early_ends_its_live_line():
    out, clock = Tty(), Clock()
    fit(Progress(150, 2, "live", out, clock), clock, 150, 2, stop_after=3)
    assert out.getvalue().endswith("\n") and out.getvalue().count("\n") == 2  # epoch 1 kept, epoch 3 ended by the stop


def test_quiet_writes_nothing():
    out, clock = Tty(), Clock()
    fit(Progress(3, 2, "quiet", out, clock), clock, 3, 2)
    assert out.getvalue() == ""
    with pytest.raises(ValueError, match="Expected one of: live, lines, quiet"):
        Progress(3, 2, "loud")


def test_the_last_line_names_the_run_and_the_baseline():
    assert final_line("runs/x", {"split": "test", "accuracy": 0.9, "majority_baseline_accuracy": 0.5,
                                 "bow_baseline_accuracy": 0.75}) == (
        "done: runs/x  test accuracy 0.9 (majority class 0.5, bag of words 0.75)")
    assert headline({"verdict": "test MASE 0.05: beats persistence (1.02) by 95.4%"}).startswith("test MASE 0.05")
    assert headline({"split": "test", "loss": 0.25}) == "test loss 0.25"


def test_what_another_callback_prints_starts_on_a_clean_line():
    out, clock = Tty(), Clock()
    progress = Progress(150, 2, "live", out, clock)
    clear = progress.clearer()
    progress.on_epoch_begin(1)
    clock.now += 1.0
    progress.on_train_batch_end(0, {"loss": 1.0})
    assert progress._open
    clear.on_epoch_end(1)
    out.write("--- epoch 2 ---\n")  # a sample printed by a control
    progress.on_epoch_end(1, {"loss": 1.0})
    screen = out.getvalue().split("\n")
    assert screen[0].rsplit("\r", 1)[-1] == "--- epoch 2 ---"  # the live line was wiped, not continued
    assert screen[1].lstrip("\r").startswith("epoch   2/150  loss 1")
