"""Reliability: resume after an interruption, NaN losses, safe model loading, run-directory guards."""

from __future__ import annotations

import csv
import io
import fcntl
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
import zipfile
from concurrent.futures import ThreadPoolExecutor, as_completed
from types import SimpleNamespace

import pytest

from conftest import TINY
from rnn_recipes.checkpoint_state import CHECKPOINT, read_state
from rnn_recipes.config_load import load_config
from rnn_recipes.errors import Interrupted, RunError
from rnn_recipes.fileio import sha256_file
from rnn_recipes.runs import load_run
from rnn_recipes.safeload import check_keras_file, load_model_file

SINE = TINY / "sine_simple_rnn.yaml"


def sine(*sets: str):
    return load_config(SINE, ["output.plots=false", *sets])


def epochs_in(run_dir) -> int:
    with open(run_dir / "history.csv") as fh:
        return len(list(csv.DictReader(fh)))


def interrupt_at(monkeypatch, epoch: int, signum=signal.SIGTERM):
    """Deliver `signum` once, in the middle of writing the checkpoint of `epoch` (between its model and its state)."""
    import rnn_recipes.checkpoint as checkpoint

    original = checkpoint.write_json
    fired = []

    def write_json(path, obj):
        if path.name == "state.json" and obj["epoch"] == epoch and not fired:
            fired.append(signum)
            signal.raise_signal(signum)  # arrives mid-save: held until the checkpoint is whole
        original(path, obj)

    monkeypatch.setattr(checkpoint, "write_json", write_json)


def train(cfg, out=None, **kw):
    from rnn_recipes.train import train as train_run

    return train_run(cfg, out, verbose=0, **kw)


# --- resume ------------------------------------------------------------------------


@pytest.mark.slow
def test_sigterm_mid_save_keeps_that_checkpoint_and_resume_completes(tmp_path, monkeypatch):
    run = tmp_path / "r"
    interrupt_at(monkeypatch, 2)
    with pytest.raises(Interrupted) as info:
        train(sine("train.epochs=5"), run)
    assert info.value.exit_code == 143
    assert str(info.value) == (
        f"interrupted by SIGTERM; the checkpoint after epoch 2 of 5 is kept. Resume with: rnn train --resume {run}"
    )
    state = read_state(run)
    assert state["epoch"] == 2 and len(state["history"]["loss"]) == 2
    check_keras_file(run / CHECKPOINT / state["model"])
    with pytest.raises(RunError, match="incomplete"):
        load_run(run)  # never loaded silently

    assert train(sine("train.epochs=5"), resume=run) == run
    assert epochs_in(run) == 5 and json.loads((run / "metrics.json").read_text())["epochs_run"] == 5
    assert not (run / CHECKPOINT).exists()
    load_run(run).load_model()


@pytest.mark.slow
def test_resume_allows_more_epochs_and_refuses_a_changed_model(cli, tmp_path, monkeypatch):
    interrupt_at(monkeypatch, 1, signal.SIGINT)
    result = cli("train", SINE, "--out", "r", "--set", "train.epochs=3", "--set", "output.plots=false")
    assert result.exit_code == 130
    assert result.output.strip().splitlines()[-1] == (
        "error: interrupted by SIGINT; the checkpoint after epoch 1 of 3 is kept. Resume with: rnn train --resume r"
    )
    saved = (tmp_path / "r" / "config.yaml").read_text()

    refused = cli("train", "--resume", "r", "--set", "model.units=3")
    assert refused.exit_code == 2
    assert refused.output.strip() == (
        "error: r: cannot resume: model.units changed (16 -> 3); a resumed run keeps its seed, data, encoding, "
        "model, train.optimizer and train.precision (epochs, patience, learning_rate, batch_size may change); start a new run instead"
    )
    assert (tmp_path / "r" / "config.yaml").read_text() == saved  # a refused resume changes nothing

    done = cli("train", "--resume", "r", "--set", "train.epochs=4", "--set", "train.patience=2")
    assert done.exit_code == 0, done.output
    assert done.stdout.strip() == "r" and epochs_in(tmp_path / "r") == 4
    assert cli("train", "--resume", "r").output.strip() == "error: r is a finished run; there is nothing to resume"


@pytest.mark.parametrize("change", [
    {"model": "/etc/passwd.keras"},
    {"model": "../../elsewhere/epoch-0001.keras"},
    {"epoch": "2"},
    {"history": None},
])
def test_an_altered_checkpoint_state_is_refused(cli, tmp_path, change):
    state = {"epoch": 1, "model": "epoch-0001.keras", "model_sha256": "0" * 64, "history": {"loss": [1.0]}}
    (tmp_path / "r" / CHECKPOINT).mkdir(parents=True)
    (tmp_path / "r" / "config.yaml").write_text(SINE.read_text())
    (tmp_path / "r" / CHECKPOINT / "state.json").write_text(json.dumps({**state, **change}))
    assert cli("train", "--resume", "r").output.strip() == (
        "error: r/checkpoint/state.json is unreadable or altered; the checkpoint cannot be trusted"
    )


def test_resume_refuses_what_is_not_an_unfinished_run(cli, tmp_path):
    (tmp_path / "empty").mkdir()
    assert cli("train", "--resume", "empty").output.strip() == (
        "error: empty is not a run directory (no config.yaml); expected a directory written by `rnn train`"
    )
    assert cli("train").output.strip() == "error: give a CONFIG to train (see `rnn configs`), or --resume RUN_DIR"
    assert cli("train", "--resume", "empty", "--overwrite").output.strip() == (
        "error: --resume continues its run directory in place; it takes no --out or --overwrite"
    )


@pytest.mark.slow
def test_resume_needs_at_least_the_epochs_already_trained(tmp_path, monkeypatch):
    run = tmp_path / "r"
    interrupt_at(monkeypatch, 3)
    with pytest.raises(Interrupted):
        train(sine("train.epochs=5"), run)
    with pytest.raises(RunError, match=r"it has trained 3 epochs already; train.epochs \(2\) must be at least that"):
        train(sine("train.epochs=2"), resume=run)


@pytest.mark.slow
def test_early_stopping_state_survives_a_resume(tmp_path, monkeypatch):
    from rnn_recipes.checkpoint import Checkpoint

    run = tmp_path / "r"
    interrupt_at(monkeypatch, 3)
    with pytest.raises(Interrupted):
        train(sine("train.epochs=6", "train.patience=3"), run)
    saved = read_state(run)["early_stopping"]
    assert saved["best_weights"].startswith("best-") and (run / CHECKPOINT / saved["best_weights"]).is_file()

    restored = {}
    original = Checkpoint.on_train_begin

    def on_train_begin(self, logs=None):
        original(self, logs)
        es = self.early_stopping
        restored.update(wait=es.wait, best=es.best, best_epoch=es.best_epoch, n=len(es.best_weights))

    monkeypatch.setattr(Checkpoint, "on_train_begin", on_train_begin)
    train(sine("train.epochs=6", "train.patience=3"), resume=run)
    assert (restored["wait"], restored["best"], restored["best_epoch"]) == (saved["wait"], saved["best"], saved["best_epoch"])
    assert restored["n"] > 0 and epochs_in(run) <= 6


# --- NaN / Inf -----------------------------------------------------------------------

DIVERGES = ("model.activation=relu", "train.optimizer=sgd")


@pytest.mark.slow
def test_nan_loss_stops_with_one_line_and_keeps_the_last_good_checkpoint(cli, tmp_path, monkeypatch):
    from rnn_recipes.checkpoint import NonFiniteLoss

    run = tmp_path / "r"
    interrupt_at(monkeypatch, 2)
    with pytest.raises(Interrupted):
        train(sine("train.epochs=4", *DIVERGES), run)
    before = read_state(run)

    with pytest.raises(NonFiniteLoss) as info:  # a learning rate of 1e6 diverges within the first batches
        train(sine("train.epochs=4", *DIVERGES, "train.learning_rate=1e6"), resume=run)
    message = str(info.value)
    assert message.startswith("loss became nan in epoch 3, batch ") or message.startswith("loss became inf in epoch 3")
    assert message.endswith(
        f"training stopped and the checkpoint after epoch 2 is kept; lower train.learning_rate or set "
        f"train.clipnorm, then `rnn train --resume {run} --set train.clipnorm=1.0`"
    )
    assert read_state(run) == before  # the NaN epoch wrote nothing
    assert not (run / "manifest.json").exists()

    done = cli("train", "--resume", run, "--set", "train.learning_rate=0.01")
    assert done.exit_code == 0, done.output
    assert epochs_in(run) == 4


def test_nan_in_the_first_epoch_says_there_is_no_checkpoint(cli):
    result = cli("train", SINE, "--out", "r", "--set", "output.plots=false", "--set", "model.activation=relu",
                 "--set", "train.optimizer=sgd", "--set", "train.learning_rate=1e6")
    assert result.exit_code == 2
    assert result.output.strip().splitlines()[-1].endswith(
        "training stopped and no epoch had finished, so there is no checkpoint; lower train.learning_rate or set train.clipnorm"
    )


# --- loading only what cannot run code -------------------------------------------------


@pytest.fixture(scope="module")
def saved_model(tmp_path_factory):
    import keras

    path = tmp_path_factory.mktemp("models") / "ok.keras"
    keras.Sequential([keras.Input((4, 1)), keras.layers.SimpleRNN(2), keras.layers.Dense(1)]).save(path)
    return path


def rewrite_config(src, dst, change):
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for item in zin.infolist():
            data = zin.read(item)
            if item.filename == "config.json":
                config = json.loads(data)
                change(config)
                data = json.dumps(config).encode()
            zout.writestr(item, data)
    return dst


def refuse_keras_loading(monkeypatch):
    import keras

    def boom(*a, **k):
        raise AssertionError("Keras was handed a file that should have been refused")

    monkeypatch.setattr(keras.saving, "load_model", boom)


def test_a_plain_keras_model_loads(saved_model):
    assert load_model_file(saved_model).count_params() == (1 * 2 + 2 * 2 + 2) + (2 + 1)  # SimpleRNN(2) on 1 feature, Dense(1)


def test_a_lambda_layer_is_refused(tmp_path, monkeypatch):
    import keras

    path = tmp_path / "lambda.keras"
    keras.Sequential([keras.Input((3,)), keras.layers.Lambda(lambda x: x * 2)]).save(path)
    refuse_keras_loading(monkeypatch)
    with pytest.raises(RunError) as info:
        load_model_file(path)
    assert str(info.value) == f"{path}: refused: it holds a Lambda layer (Python code); only Keras' own layers and rnn_recipes' registered ones are loaded"


def test_a_foreign_module_is_refused(saved_model, tmp_path, monkeypatch):
    def plant(config):
        config["config"]["layers"][1]["module"] = "evil_package.layers"

    path = rewrite_config(saved_model, tmp_path / "foreign.keras", plant)
    refuse_keras_loading(monkeypatch)
    with pytest.raises(RunError) as info:
        load_model_file(path)
    assert str(info.value) == (
        f"{path}: refused: it names module 'evil_package.layers', which is outside Keras; only Keras' own layers and rnn_recipes' registered ones are loaded"
    )


def test_a_nested_lambda_function_is_refused(saved_model, tmp_path):
    def plant(config):  # a lambda serialised as an activation, deep inside a layer config
        config["config"]["layers"][1]["config"]["activation"] = {"class_name": "__lambda__", "config": {"code": "..."}}

    with pytest.raises(RunError, match="Lambda layer"):
        check_keras_file(rewrite_config(saved_model, tmp_path / "nested.keras", plant))


@pytest.mark.parametrize("name, expected", [
    ("model.h5", "only .keras model files are loaded; '.h5' files are refused"),
    ("model.pb", "only .keras model files are loaded; '.pb' files are refused"),
    ("model", "only .keras model files are loaded; 'model' files are refused"),
])
def test_other_formats_are_refused(tmp_path, name, expected):
    path = tmp_path / name
    path.write_bytes(b"\x89HDF\r\n\x1a\n")
    with pytest.raises(RunError, match=expected):
        load_model_file(path)


def test_a_corrupt_keras_file_is_refused(tmp_path):
    path = tmp_path / "broken.keras"
    path.write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(RunError, match=r"broken.keras: not a valid .keras file \(.*\); expected a model saved by `rnn train`"):
        check_keras_file(path)


# --- the run directory: overwrite, lock, unwritable, full -----------------------------


@pytest.mark.slow
def test_overwrite_keeps_the_old_run_until_the_new_one_is_complete(cli, tmp_path, monkeypatch):
    first = cli("train", SINE, "--out", "r", "--set", "train.epochs=1", "--set", "output.plots=false")
    assert first.exit_code == 0, first.output
    assert cli("train", SINE, "--out", "r").output.strip() == (
        "error: r already holds a finished run; pass --overwrite to replace it, or choose another --out"
    )

    interrupt_at(monkeypatch, 1)
    second = cli("train", SINE, "--out", "r", "--overwrite", "--set", "train.epochs=3", "--set", "model.units=4",
                 "--set", "output.plots=false")
    assert second.exit_code == 143
    assert second.output.strip().splitlines()[-1] == (
        "error: interrupted by SIGTERM; the checkpoint after epoch 1 of 3 is kept. Resume with: rnn train --resume .r.new"
    )
    old = load_run(tmp_path / "r")  # still the first run, whole
    assert old.config.model.units == 16 and epochs_in(tmp_path / "r") == 1

    done = cli("train", "--resume", ".r.new")
    assert done.exit_code == 0, done.output
    assert done.stdout.strip() == "r"
    new = load_run(tmp_path / "r")
    assert new.config.model.units == 4 and epochs_in(tmp_path / "r") == 3
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r"]


@pytest.mark.slow
def test_a_signal_after_the_manifest_lets_the_run_finish(tmp_path, monkeypatch, capsys):
    import importlib

    train_module = importlib.import_module("rnn_recipes.train")  # `rnn_recipes.train` is the API function

    first = train(sine("train.epochs=1"), tmp_path / "r")
    original = train_module.write_manifest

    def write_manifest(run_dir):
        original(run_dir)
        signal.raise_signal(signal.SIGTERM)  # the new run is complete, the old one not yet replaced

    monkeypatch.setattr(train_module, "write_manifest", write_manifest)
    assert train(sine("train.epochs=2"), first, overwrite=True) == first
    assert epochs_in(first) == 2 and load_run(first).config.train.epochs == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r"]
    assert "SIGTERM arrived as the run completed; it is whole" in capsys.readouterr().err


def test_overwrite_never_deletes_a_directory_that_is_not_a_run(cli, tmp_path):
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "thesis.txt").write_text("precious")
    assert cli("train", SINE, "--out", "notes", "--overwrite").output.strip() == (
        "error: notes is not a run directory (no valid manifest.json, checkpoint/state.json or config.yaml); "
        "--overwrite replaces only runs of `rnn train`, nothing else is deleted"
    )
    assert (tmp_path / "notes" / "thesis.txt").read_text() == "precious"


def test_a_lock_keeps_a_second_training_out(cli, tmp_path):
    run = tmp_path / "r"
    run.mkdir()
    (run / "config.yaml").write_text(SINE.read_text())
    expected = "error: r is in use by another training (its .lock is locked); wait for it or choose another --out"
    with open(run / ".lock", "w") as held:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)  # as a training in another process holds it
        for args in (["--out", "r"], ["--out", "r", "--overwrite"]):
            result = cli("train", SINE, *args)
            assert (result.exit_code, result.output.strip()) == (2, expected)
        assert cli("train", "--resume", "r").output.strip() == expected
    assert sorted(p.name for p in run.iterdir()) == [".lock", "config.yaml"]


def test_an_unwritable_run_directory_is_reported_before_training(cli, tmp_path):
    (tmp_path / "file").write_text("")
    result = cli("train", SINE, "--out", "file/run")
    assert result.exit_code == 2
    assert result.output.strip() == "error: cannot create run directory file/run: Not a directory"
    if os.geteuid() != 0:  # root writes through permission bits
        (tmp_path / "ro").mkdir(mode=0o555)
        assert cli("train", SINE, "--out", "ro/run").output.strip() == (
            "error: cannot create run directory ro/run: Permission denied"
        )


def test_a_read_only_filesystem_is_reported_before_training(cli, tmp_path, monkeypatch):
    import errno
    from pathlib import Path

    real = Path.write_bytes

    def write_bytes(self, data):
        if self.name.startswith(".probe."):  # as a read-only mount answers, even to root
            raise OSError(errno.EROFS, "Read-only file system")
        return real(self, data)

    monkeypatch.setattr(Path, "write_bytes", write_bytes)
    result = cli("train", SINE, "--out", "r")
    assert (result.exit_code, result.output.strip()) == (2, "error: run directory r is not writable: Read-only file system")
    assert not (tmp_path / "r").exists()


def test_a_full_disk_is_reported_before_training_and_leaves_nothing(cli, tmp_path, monkeypatch):
    monkeypatch.setattr(shutil, "disk_usage", lambda path: SimpleNamespace(total=10**9, used=10**9 - 5_000_000, free=5_000_000))
    result = cli("train", SINE, "--out", "r")
    assert result.exit_code == 2
    assert result.output.strip().splitlines()[-1] == (
        "error: only 5.0 MB free under r; this run needs about 20 MB (model, optimizer state, checkpoints); "
        "free some space or choose another --out"
    )
    assert not (tmp_path / "r").exists()


def test_an_unfinished_run_is_not_evaluated_and_not_listed(cli, tmp_path):
    from rnn_recipes.runs import find_runs

    run = tmp_path / "runs" / "r"
    run.mkdir(parents=True)
    (run / "config.yaml").write_text((TINY / "sine_simple_rnn.yaml").read_text())
    assert cli("evaluate", run).output.strip() == (
        f"error: {run} is incomplete (no manifest.json): its training did not finish"
    )
    assert find_runs(tmp_path / "runs") == []
    assert cli("train", SINE, "--out", run).output.strip() == (
        f"error: {run} holds an unfinished run; continue it with `rnn train --resume {run}`, or pass --overwrite to replace it"
    )


# --- killed for real: subprocesses ----------------------------------------------------

KILL_EPOCHS = 8
# 64 windows in 4 full batches, no validation: the fewest graphs to trace, so each run is short;
# no XLA, whose compile took half of each process's time and wrote no file a kill could break
KILL_SETS = [f"train.epochs={KILL_EPOCHS}", "output.plots=false", "data.total_size=74", "data.val_split=0", "model.units=8",
             "train.jit_compile=false"]


def start_training(run, cwd):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    sets = [arg for item in KILL_SETS for arg in ("--set", item)]
    cmd = [sys.executable, "-m", "rnn_recipes", "train", str(SINE), "--out", str(run), *sets]
    return subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def wait_until(condition, proc, timeout=120.0, poll=0.0005) -> bool:
    """Poll `condition` until it holds (True) or the process exits first (False)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if condition():
            return True
        if proc.poll() is not None:
            return False
        time.sleep(poll)
    raise AssertionError("training neither progressed nor ended")


def temp_files(run) -> list:
    return [p for d in (run, run / CHECKPOINT) if d.is_dir() for p in d.iterdir() if ".tmp" in p.name]


def resume_in_process(run):
    """`rnn train --resume RUN`, in this process: TensorFlow is already imported here."""
    return train(load_config(run / "config.yaml"), resume=run)


def check_and_resume(run) -> None:
    """The killed run's last checkpoint is whole and loads; `--resume` completes it with every epoch."""
    if (run / "manifest.json").exists():  # killed after it finished
        assert epochs_in(run) == KILL_EPOCHS
        load_run(run).load_model()
        return
    state = read_state(run)
    if state is not None:
        model = run / CHECKPOINT / state["model"]
        assert sha256_file(model) == state["model_sha256"] and 1 <= state["epoch"] <= KILL_EPOCHS
        assert len(state["history"]["loss"]) == state["epoch"]
        load_model_file(model)
    assert resume_in_process(run) == run
    assert epochs_in(run) == KILL_EPOCHS and load_run(run).metrics["epochs_run"] == KILL_EPOCHS
    assert not temp_files(run) and not (run / CHECKPOINT).exists()


@pytest.mark.slow
def test_sigkill_at_random_moments_never_breaks_a_run(tmp_path):
    """12 trainings killed with SIGKILL: at random moments, and the instant a temporary file appears
    (inside a checkpoint or artifact save). The last checkpoint always loads and --resume completes."""
    rng = random.Random(5)
    # an uninterrupted run: how long training takes once the run directory exists
    ref = start_training(tmp_path / "ref", tmp_path)
    wait_until(lambda: (tmp_path / "ref" / "config.yaml").exists(), ref)
    began = time.monotonic()
    assert ref.wait(timeout=120) == 0, ref.stderr.read()
    span = time.monotonic() - began
    assert epochs_in(tmp_path / "ref") == KILL_EPOCHS

    def trial(i: int) -> dict:
        run = tmp_path / f"t{i}"
        proc = start_training(run, tmp_path)
        wait_until(lambda: (run / "config.yaml").exists(), proc)
        if i % 2:  # a random moment of the training
            time.sleep(rng.uniform(0.0, span))
            how = "random"
        else:  # the instant the k-th temporary file of a save is seen
            k, seen = rng.randint(1, KILL_EPOCHS + 2), set()

            def kth_temp() -> bool:
                seen.update(p.name for p in temp_files(run))
                return len(seen) >= k

            how = "save" if wait_until(kth_temp, proc) else "ended"
        proc.kill()
        proc.wait()
        proc.stderr.close()
        return {"run": run, "how": how, "temp_left": bool(temp_files(run))}

    trials = []
    with ThreadPoolExecutor(max_workers=2) as pool:  # two kills at a time, while this thread resumes the killed
        for done in as_completed([pool.submit(trial, i) for i in range(12)]):
            trials.append(done.result())
            check_and_resume(trials[-1]["run"])
    hows = [t["how"] for t in trials]
    assert hows.count("save") >= 5  # the kills during saves were real (of 6; quiet runs: 6 of 6) ...
    assert sum(t["temp_left"] for t in trials) >= 3  # ... they left half-written temporary files behind


@pytest.mark.slow
def test_sigterm_prints_the_resume_command_and_resume_completes(tmp_path):
    run = tmp_path / "r"
    proc = start_training(run, tmp_path)
    assert wait_until(lambda: (read_state(run) or {}).get("epoch", 0) >= 2, proc, poll=0.005)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=60) == 143
    last = proc.stderr.read().strip().splitlines()[-1]
    proc.stderr.close()
    epoch = read_state(run)["epoch"]
    assert last == (
        f"error: interrupted by SIGTERM; the checkpoint after epoch {epoch} of {KILL_EPOCHS} is kept. "
        f"Resume with: rnn train --resume {run}"
    )
    assert resume_in_process(run) == run and epochs_in(run) == KILL_EPOCHS


@pytest.mark.slow
def test_resume_of_a_run_killed_before_its_first_checkpoint_trains_from_the_start(tmp_path):
    run = tmp_path / "r"
    run.mkdir()
    (run / "config.yaml").write_text(SINE.read_text())  # all a run killed in its first epoch has
    assert train(sine("train.epochs=2"), resume=run) == run
    assert epochs_in(run) == 2 and load_run(run).metrics["epochs_run"] == 2


# --- downloads: hash required, partial never kept --------------------------------------


class FakeResponse(io.BytesIO):
    """What urlopen returns, optionally failing after the first block like a dropped connection."""

    def __init__(self, data: bytes, fail_after_first: bool = False):
        super().__init__(data)
        self.fail_after_first, self.reads = fail_after_first, 0

    def read(self, n=-1):
        self.reads += 1
        if self.fail_after_first and self.reads > 1:
            raise ConnectionResetError("connection reset by peer")
        return super().read(min(n, 4))  # small blocks, so a failure can land mid-file


def serve(monkeypatch, data: bytes, fail_after_first: bool = False):
    import rnn_recipes.fetch as fetch_module

    monkeypatch.setattr(fetch_module.urllib.request, "urlopen", lambda url, timeout: FakeResponse(data, fail_after_first))


def test_a_download_with_the_wrong_hash_is_not_kept(tmp_path, monkeypatch):
    from rnn_recipes.errors import DataError
    from rnn_recipes.fetch import download

    serve(monkeypatch, b"tampered corpus")
    with pytest.raises(DataError, match=r"https://example.org/c.txt: sha256 mismatch: expected 0{64}, got "):
        download("https://example.org/c.txt", tmp_path / "c.txt", "0" * 64)
    assert list(tmp_path.iterdir()) == []


def test_an_interrupted_download_leaves_no_partial_file(tmp_path, monkeypatch):
    from rnn_recipes.fetch import download

    serve(monkeypatch, b"a corpus that is longer than one block", fail_after_first=True)
    with pytest.raises(ConnectionResetError):
        download("https://example.org/c.txt", tmp_path / "c.txt", "0" * 64)
    assert list(tmp_path.iterdir()) == []


def test_a_cached_file_that_does_not_match_its_hash_is_downloaded_again(tmp_path, monkeypatch):
    import hashlib

    from rnn_recipes.config import Config
    from rnn_recipes.data import read_corpus

    good = b"the real corpus"
    digest = hashlib.sha256(good).hexdigest()
    monkeypatch.setenv("RNN_RECIPES_CACHE", str(tmp_path))
    (tmp_path / digest).write_bytes(good[:5])  # e.g. a partial copy put there by hand
    serve(monkeypatch, good)
    cfg = Config.model_validate({"data": {"kind": "text", "url": "https://example.org/c.txt", "sha256": digest}})
    assert read_corpus(cfg.data) == good.decode()
    assert (tmp_path / digest).read_bytes() == good


def test_only_http_urls_are_downloaded(tmp_path):
    from rnn_recipes.errors import DataError
    from rnn_recipes.fetch import download

    with pytest.raises(DataError, match="unsupported url 'file:///etc/passwd'; expected http"):
        download("file:///etc/passwd", tmp_path / "x", "0" * 64)


@pytest.mark.slow
def test_a_disk_that_fills_up_mid_run_keeps_the_last_checkpoint(cli, tmp_path, monkeypatch):
    import errno

    import rnn_recipes.fileio as runs

    real_fsync = os.fsync
    calls = []

    def fsync(fd):
        name = os.readlink(f"/proc/self/fd/{fd}")
        if ".epoch-0003." in name:  # the third checkpoint finds the disk full
            calls.append(name)
            raise OSError(errno.ENOSPC, "No space left on device")
        real_fsync(fd)

    monkeypatch.setattr(runs.os, "fsync", fsync)
    result = cli("train", SINE, "--out", "r", "--set", "train.epochs=4", "--set", "output.plots=false")
    assert result.exit_code == 2 and calls
    assert result.output.strip().splitlines()[-1] == (
        "error: cannot write r/checkpoint/epoch-0003.keras: No space left on device; "
        "the checkpoint after epoch 2 is kept; fix that, then `rnn train --resume r`"
    )
    assert read_state(tmp_path / "r")["epoch"] == 2 and not temp_files(tmp_path / "r")
    monkeypatch.setattr(runs.os, "fsync", real_fsync)
    assert cli("train", "--resume", "r").exit_code == 0 and epochs_in(tmp_path / "r") == 4
