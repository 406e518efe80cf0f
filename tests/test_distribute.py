"""Distributed training: config and TF_CONFIG checks, mirrored devices, a real 2-worker cluster, and resume after a kill.

Training runs go through `python -m rnn_recipes train` in subprocesses:
logical CPU devices and collective ops are fixed when TensorFlow starts, and
a worker is a process of its own.
"""

from __future__ import annotations

import csv
import json
import os
import re
import subprocess
import sys
import time

import pytest

from conftest import TINY
from rnn_recipes.distribute import DistributeError, logical_cpus_needed, loopback_tf_configs, parse_tf_config

SINE = TINY / "sine_simple_rnn.yaml"
# 121 points give 100 training windows: an even last batch (100 % 16 = 4), so two
# replicas see exactly the examples one device sees and no example sits out
EVEN = ["--set", "data.total_size=121"]
TOLERANCE = 1e-4  # relative, per epoch and metric; history.csv keeps 6 significant digits


def tf_config(ports: list[int], index: int) -> str:
    workers = [f"127.0.0.1:{p}" for p in ports]
    return json.dumps({"cluster": {"worker": workers}, "task": {"type": "worker", "index": index}})


# --- TF_CONFIG and devices: no TensorFlow needed ------------------------------------


def test_distributed_batches_take_the_pipeline_order_and_a_resumed_run_goes_on_from_its_epoch():
    from types import SimpleNamespace

    import numpy as np

    from rnn_recipes.config import Config
    from rnn_recipes.distribute import Plan, fit_data
    from rnn_recipes.pipeline import epoch_order

    x = np.arange(20, dtype="float32")[:, None] * np.ones((1, 3), "float32")
    ds = SimpleNamespace(x_train=x, y_train=np.arange(20, dtype="float32"), x_val=x[:5], y_val=np.zeros(5, "float32"),
                         has_val=True)
    cfg = Config.model_validate({"seed": 3, "data": {"kind": "sine"}, "train": {"batch_size": 8, "epochs": 3}})

    def epochs(first_epoch: int) -> list[list[float]]:
        """The labels of each epoch, read as `model.fit` reads the stream: one iterator, `steps_per_epoch` a time."""
        data = fit_data(Plan(), ds, cfg, first_epoch)
        assert data["steps_per_epoch"] == 3  # 8 + 8 + 4
        assert data["x"].cardinality().numpy() == 3 * (3 - first_epoch)
        next(iter(data["x"]))  # opened and read once first, as Keras does under a strategy to learn the shapes
        it = iter(data["x"])
        return [np.concatenate([next(it)[1].numpy() for _ in range(3)]).tolist() for _ in range(3 - first_epoch)]

    fresh = epochs(0)
    assert fresh == [epoch_order(20, 3, e).astype(float).tolist() for e in range(3)]
    assert fresh[0] != fresh[1]  # reshuffled every epoch
    assert epochs(2) == fresh[2:3]  # resumed after two epochs: epoch 2's order, not epoch 0's again


def test_tf_config_names_the_chief():
    workers = {"worker": ["a:1", "b:2"]}
    first = parse_tf_config(json.dumps({"cluster": workers, "task": {"type": "worker", "index": 0}}))
    second = parse_tf_config(json.dumps({"cluster": workers, "task": {"type": "worker", "index": 1}}))
    assert (first.is_chief, second.is_chief, first.size) == (True, False, 2)
    with_chief = {"chief": ["c:3"], **workers}
    worker0 = parse_tf_config(json.dumps({"cluster": with_chief, "task": {"type": "worker", "index": 0}}))
    chief = parse_tf_config(json.dumps({"cluster": with_chief, "task": {"type": "chief", "index": 0}}))
    assert (worker0.is_chief, chief.is_chief, chief.size) == (False, True, 3)


@pytest.mark.parametrize(
    "raw, expected",
    [
        (None, "TF_CONFIG is not set; train.distribute: multi_worker needs TF_CONFIG to hold JSON"),
        ("{oops", "TF_CONFIG is not valid JSON"),
        ('{"task": {"type": "worker", "index": 0}}', "TF_CONFIG has no cluster.worker list"),
        ('{"cluster": {"worker": ["a"]}, "task": {"type": "worker", "index": 0}}', "list of host:port strings"),
        ('{"cluster": {"worker": ["a:1"], "ps": ["b:2"]}, "task": {"type": "worker", "index": 0}}', "cluster.ps"),
        ('{"cluster": {"worker": ["a:1"]}, "task": {"type": "evaluator", "index": 0}}', "task.type must be one of worker"),
        ('{"cluster": {"worker": ["a:1", "b:1"]}, "task": {"type": "worker", "index": 2}}', "task.index must be 0 to 1"),
    ],
)
def test_bad_tf_config_says_what_it_must_hold(raw, expected):
    with pytest.raises(DistributeError) as info:
        parse_tf_config(raw)
    assert expected in str(info.value) and "\n" not in str(info.value)


def test_loopback_tf_configs_describe_one_local_cluster():
    configs = [parse_tf_config(raw) for raw in loopback_tf_configs(3)]
    addresses = configs[0].jobs["worker"]
    assert all(c.jobs == {"worker": addresses} for c in configs)
    assert [c.task_index for c in configs] == [0, 1, 2] and [c.is_chief for c in configs] == [True, False, False]
    assert len(set(addresses)) == 3 and all(a.startswith("127.0.0.1:") for a in addresses)


def test_logical_cpus_cover_the_highest_cpu_named():
    assert logical_cpus_needed(["/cpu:0", "/cpu:3"]) == 4
    assert logical_cpus_needed(["/gpu:0", "/gpu:1"]) == 0
    assert logical_cpus_needed(None) == 0


# --- bad input through the CLI: one line, exit code 2 ------------------------------


def one_line_error(result) -> str:
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.output
    return lines[0]


def test_multi_worker_without_tf_config(cli, monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    message = one_line_error(cli("train", SINE, "--out", "r", "--set", "train.distribute=multi_worker"))
    assert message.startswith("error: TF_CONFIG is not set; train.distribute: multi_worker needs TF_CONFIG")
    assert '"cluster": {"worker": ["host1:12345", "host2:12345"]}' in message


def test_multi_worker_needs_a_shared_run_directory(cli, monkeypatch):
    monkeypatch.setenv("TF_CONFIG", tf_config([1, 2], 0))
    message = one_line_error(cli("train", SINE, "--set", "train.distribute=multi_worker"))
    assert message.startswith("error: train.distribute: multi_worker needs --out RUN_DIR")


def test_devices_need_mirrored(cli):
    message = one_line_error(cli("train", SINE, "--set", "train.devices=[/cpu:0, /cpu:1]"))
    assert "train.devices needs train.distribute: mirrored (received none)" in message


def test_device_names_are_checked(cli):
    message = one_line_error(cli("train", SINE, "--set", "train.distribute=mirrored", "--set", "train.devices=[gpu0]"))
    assert message.endswith("expected device names such as /gpu:0 or /cpu:1; received 'gpu0'")


def test_missing_gpu_is_named(cli):
    import tensorflow as tf

    have = len(tf.config.list_logical_devices("GPU"))
    args = ["--set", "train.distribute=mirrored", "--set", f"train.devices=[/gpu:{have}]", "--out", "r"]
    message = one_line_error(cli("train", SINE, *args))
    assert message == f"error: train.devices names /gpu:{have} but this machine has {have} GPU(s)"


def test_logical_cpus_after_tensorflow_started_are_refused(cli):
    import tensorflow as tf

    tf.constant(0)  # TensorFlow has now fixed this process's devices
    have = len(tf.config.list_logical_devices("CPU"))
    devices = "[" + ", ".join(f"/cpu:{i}" for i in range(have + 1)) + "]"
    message = one_line_error(cli("train", SINE, "--set", "train.distribute=mirrored", "--set", f"train.devices={devices}", "--out", "r"))
    assert message == (
        f"error: train.devices names {have + 1} CPU devices but TensorFlow already started in this process "
        f"with {have}; run `rnn train` in a fresh process"
    )


# --- real runs, in subprocesses ----------------------------------------------------


def rnn_train(tmp_path, out: str, *args: str, env: dict | None = None, wait: bool = True):
    """`rnn train SINE --out OUT ARGS` in a fresh process; returns the finished process or the running one."""
    full_env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "TMPDIR": str(tmp_path / "tmp"), **(env or {})}
    (tmp_path / "tmp").mkdir(exist_ok=True)
    cmd = [sys.executable, "-m", "rnn_recipes", "train", str(SINE), "--out", out, *EVEN, *args]
    if wait:
        return subprocess.run(cmd, cwd=tmp_path, env=full_env, capture_output=True, text=True, timeout=300)
    return subprocess.Popen(cmd, cwd=tmp_path, env=full_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def history(run_dir) -> list[dict]:
    with open(run_dir / "history.csv") as fh:
        return [{k: float(v) for k, v in row.items()} for row in csv.DictReader(fh)]


def assert_same_trajectory(a: list[dict], b: list[dict]) -> None:
    assert [r["epoch"] for r in a] == [r["epoch"] for r in b]
    for ra, rb in zip(a, b):
        for key in ra.keys() - {"seconds"}:  # wall-clock time is no part of the trajectory
            assert rb[key] == pytest.approx(ra[key], rel=TOLERANCE), (key, ra["epoch"])


def digest_of(stderr: str) -> str:
    found = re.findall(r"final weights sha256 ([0-9a-f]{64})", stderr)
    assert len(found) == 1, stderr[-2000:]
    return found[0]


@pytest.fixture(scope="module")
def one_device_unshuffled(tmp_path_factory):
    """The plain single-device run every distributed run is compared with (unshuffled: Keras and tf.data shuffle differently)."""
    tmp = tmp_path_factory.mktemp("baseline")
    done = rnn_train(tmp, "plain", "--set", "train.shuffle=false")
    assert done.returncode == 0, done.stderr[-3000:]
    return history(tmp / "plain")


@pytest.mark.slow
def test_mirrored_on_two_logical_cpus_follows_the_one_device_trajectory(tmp_path, one_device_unshuffled):
    two = ["--set", "train.distribute=mirrored", "--set", "train.devices=[/cpu:0, /cpu:1]"]
    runs = {  # side by side: each process starts TensorFlow, which takes most of its time
        "two": rnn_train(tmp_path, "two", *two, "--set", "train.shuffle=false", wait=False),
        # shuffled: the same seeded tf.data order on one mirrored device and on two
        "one-shuffled": rnn_train(tmp_path, "one-shuffled", "--set", "train.distribute=mirrored", "--set", "train.devices=[/cpu:0]", wait=False),
        "two-shuffled": rnn_train(tmp_path, "two-shuffled", *two, wait=False),
        # and on one plain device: Keras' extra first read under a strategy must not shift the epochs' orders
        "plain-shuffled": rnn_train(tmp_path, "plain-shuffled", wait=False),
    }
    done = dict(zip(runs, finish(list(runs.values()))))
    for code, _, err in done.values():
        assert code == 0, err[-3000:]
    assert "distribute: mirrored, 2 replica(s) in sync; this process runs cpu:0, cpu:1" in done["two"][2]
    assert_same_trajectory(one_device_unshuffled, history(tmp_path / "two"))
    assert_same_trajectory(history(tmp_path / "one-shuffled"), history(tmp_path / "two-shuffled"))
    assert_same_trajectory(history(tmp_path / "plain-shuffled"), history(tmp_path / "one-shuffled"))
    assert history(tmp_path / "two-shuffled") != history(tmp_path / "two")  # shuffling did change the batches


def start_cluster(tmp_path, out: str, *args: str) -> list[subprocess.Popen]:
    multi = ["--set", "train.distribute=multi_worker", *args]
    return [rnn_train(tmp_path, out, *multi, env={"TF_CONFIG": conf}, wait=False) for conf in loopback_tf_configs(2)]


def resume_cluster(tmp_path, run: str) -> list[subprocess.Popen]:
    """Both workers of a stopped cluster, restarted with `rnn train --resume RUN`."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "TMPDIR": str(tmp_path / "tmp")}
    cmd = [sys.executable, "-m", "rnn_recipes", "train", "--resume", run]
    return [
        subprocess.Popen(cmd, cwd=tmp_path, env={**env, "TF_CONFIG": conf},
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for conf in loopback_tf_configs(2)
    ]


def finish(workers: list[subprocess.Popen]) -> list[tuple[int, str, str]]:
    outputs = [w.communicate(timeout=300) for w in workers]
    return [(w.returncode, out, err) for w, (out, err) in zip(workers, outputs)]


@pytest.mark.slow
def test_two_workers_on_loopback_end_with_identical_weights(tmp_path, one_device_unshuffled):
    results = finish(start_cluster(tmp_path, "cluster", "--set", "train.shuffle=false"))
    for code, out, err in results:
        assert code == 0, err[-3000:]
        assert out.strip() == "cluster"  # every worker prints the cluster's run directory
    (_, _, chief_err), (_, _, other_err) = results
    assert "this process runs cpu:0 on worker 1 of 2 workers" in other_err
    assert digest_of(chief_err) == digest_of(other_err)

    run = tmp_path / "cluster"
    assert {"model.keras", "history.csv", "metrics.json", "manifest.json"} <= {p.name for p in run.iterdir()}
    assert not (run / "checkpoint").exists()  # removed once training finished
    assert list((tmp_path / "tmp").iterdir()) == []  # worker 1's scratch run directory is gone

    from rnn_recipes.backend import import_keras
    from rnn_recipes.distribute import weights_digest

    saved = import_keras().saving.load_model(run / "model.keras")
    assert weights_digest(saved) == digest_of(chief_err)
    # the global batch is kept: two workers train as one device does
    assert_same_trajectory(one_device_unshuffled, history(run))


@pytest.mark.slow
def test_killed_worker_cluster_resumes_from_the_last_checkpoint(tmp_path):
    epochs = ["--set", "train.epochs=4", "--set", "train.batch_size=4"]  # 25 steps an epoch: time to kill mid-run
    workers = start_cluster(tmp_path, "cluster", *epochs)
    state = tmp_path / "cluster" / "checkpoint" / "state.json"
    deadline = time.monotonic() + 240
    saved = 0
    while saved < 1 and time.monotonic() < deadline and all(w.poll() is None for w in workers):
        time.sleep(0.1)
        try:
            saved = json.loads(state.read_text())["epoch"]
        except (OSError, ValueError, KeyError):
            continue
    assert saved >= 1, [w.communicate()[1][-2000:] for w in workers if w.poll() is not None]
    workers[1].kill()  # worker 1 dies mid-run
    try:  # worker 0 notices the lost peer and stops with one line
        _, err = workers[0].communicate(timeout=120)
        last = err.strip().splitlines()[-1] if err.strip() else ""
        # TensorFlow's error names the lost task in most runs, not all
        expected = (
            r"error: (worker 1|another worker) stopped or cannot be reached; start every worker again "
            r"with `rnn train --resume cluster` to go on after epoch \d"
        )
        assert workers[0].returncode == 2 and re.fullmatch(expected, last), (workers[0].returncode, err[-3000:])
    finally:
        for w in workers:
            w.kill()
            w.communicate()
    assert not (tmp_path / "cluster" / "manifest.json").exists()
    last_saved = json.loads(state.read_text())["epoch"]
    assert last_saved < 4

    results = finish(resume_cluster(tmp_path, "cluster"))  # both restarted with --resume
    for code, _, err in results:
        assert code == 0, err[-3000:]
        assert re.search(rf"resuming \S*cluster after epoch {last_saved} of 4", err), err[-3000:]
    assert digest_of(results[0][2]) == digest_of(results[1][2])
    rows = history(tmp_path / "cluster")
    assert [r["epoch"] for r in rows] == [1, 2, 3, 4]  # the epochs before the kill are kept, not rerun
    assert (tmp_path / "cluster" / "manifest.json").is_file() and not (tmp_path / "cluster" / "checkpoint").exists()
