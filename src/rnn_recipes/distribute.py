"""Training on several devices or machines: the tf.distribute strategy a config asks for, and each worker's part.

`train.distribute` picks the strategy:

- `none`: Keras' default, one device.
- `mirrored`: `tf.distribute.MirroredStrategy` over every local GPU, or over
  `train.devices`; CPU names past /cpu:0 become logical CPU devices, which is
  how tests mirror on a machine without GPUs.
- `multi_worker`: `tf.distribute.MultiWorkerMirroredStrategy` over the
  machines the TF_CONFIG environment variable names; every worker runs the
  same `rnn train` command with the same `--out`.

`train.batch_size` stays the global batch: the training set is fed as a
tf.data dataset batched at that size, sharded by data across workers, and
each step splits the batch over the replicas, so a config gives the same
loss trajectory on one device or many.

Only the chief writes the run directory, its checkpoints included; other
workers write theirs to a temporary directory that is removed (they must
still save: reading some distributed variables is itself a collective step
that every worker joins). A cluster restarted with `rnn train --resume
RUN_DIR` on every worker resumes from the chief's last checkpoint: the chief
reopens its run, the others read the same checkpoint.

Nothing here imports TensorFlow until a function needs it, so the CLI can
import `DistributeError` cheaply.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import socket
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from rnn_recipes.compat import keras_ready_strategy
from rnn_recipes.config import Config
from rnn_recipes.errors import DistributeError
from rnn_recipes.checkpoint_state import read_state
from rnn_recipes.dataset import rows

TF_CONFIG_EXAMPLE = (
    'TF_CONFIG=\'{"cluster": {"worker": ["host1:12345", "host2:12345"]}, "task": {"type": "worker", "index": 0}}\''
)


# --- TF_CONFIG ---------------------------------------------------------------


@dataclass(frozen=True)
class Cluster:
    """This process's place in a multi-worker cluster, read from TF_CONFIG.

    Attributes:
        jobs: job name ("worker", optionally "chief") -> its host:port addresses.
        task_type: this process's job.
        task_index: this process's position in its job.
    """

    jobs: dict[str, list[str]]
    task_type: str
    task_index: int

    @property
    def is_chief(self) -> bool:
        """The chief writes the artifacts: the `chief` task, else worker 0 (TensorFlow's convention)."""
        if "chief" in self.jobs:
            return self.task_type == "chief"
        return self.task_type == "worker" and self.task_index == 0

    @property
    def size(self) -> int:
        return sum(len(addresses) for addresses in self.jobs.values())


def parse_tf_config(raw: str | None) -> Cluster:
    """Validate the TF_CONFIG a multi-worker run needs; raise a one-line DistributeError otherwise.

    Args:
        raw: the TF_CONFIG environment variable's value (None when unset).

    Example:
        >>> parse_tf_config('{"cluster": {"worker": ["a:1", "b:1"]}, "task": {"type": "worker", "index": 1}}').is_chief
        False
    """
    need = (
        "train.distribute: multi_worker needs TF_CONFIG to hold JSON naming every worker's host:port and this "
        f"machine's place among them, e.g. {TF_CONFIG_EXAMPLE} (the same cluster on every machine, each with its own index)"
    )
    if not raw or not raw.strip():
        raise DistributeError(f"TF_CONFIG is not set; {need}")
    try:
        conf = json.loads(raw)
    except ValueError:
        raise DistributeError(f"TF_CONFIG is not valid JSON; {need}") from None
    cluster = conf.get("cluster") if isinstance(conf, dict) else None
    task = conf.get("task") if isinstance(conf, dict) else None
    if not isinstance(cluster, dict) or not isinstance(cluster.get("worker"), list) or not cluster["worker"]:
        raise DistributeError(f"TF_CONFIG has no cluster.worker list; {need}")
    jobs = {}
    for job, addresses in cluster.items():
        if job not in ("worker", "chief"):
            raise DistributeError(f"TF_CONFIG cluster.{job}: multi_worker uses the jobs worker and chief only")
        if not isinstance(addresses, list) or not all(
            isinstance(a, str) and re.fullmatch(r"[^\s:]+:\d{1,5}", a) for a in addresses
        ):
            raise DistributeError(f"TF_CONFIG cluster.{job} must be a list of host:port strings; received {addresses!r}")
        jobs[job] = addresses
    if len(jobs.get("chief", [])) > 1:
        raise DistributeError("TF_CONFIG cluster.chief may hold one address only")
    if not isinstance(task, dict) or task.get("type") not in jobs:
        raise DistributeError(f"TF_CONFIG task.type must be one of {', '.join(jobs)}; {need}")
    index = task.get("index")
    if not isinstance(index, int) or isinstance(index, bool) or not 0 <= index < len(jobs[task["type"]]):
        raise DistributeError(
            f"TF_CONFIG task.index must be 0 to {len(jobs[task['type']]) - 1} for {task['type']}; received {index!r}"
        )
    return Cluster(jobs, task["type"], index)


def loopback_tf_configs(workers: int) -> list[str]:
    """TF_CONFIG values for a cluster of `workers` processes on this machine, on free 127.0.0.1 ports.

    How to try `multi_worker` without a second machine: start one `rnn train`
    per value, each with its own TF_CONFIG.
    """
    sockets = [socket.socket() for _ in range(workers)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        addresses = [f"127.0.0.1:{s.getsockname()[1]}" for s in sockets]
    finally:
        for s in sockets:
            s.close()
    return [json.dumps({"cluster": {"worker": addresses}, "task": {"type": "worker", "index": i}}) for i in range(workers)]


# --- devices -----------------------------------------------------------------


def logical_cpus_needed(devices: list[str] | None) -> int:
    """How many CPU devices `devices` names (highest /cpu:N + 1); 0 when it names none."""
    indices = [int(d.rsplit(":", 1)[1]) for d in devices or [] if d.startswith("/cpu:")]
    return max(indices) + 1 if indices else 0


def configure_logical_cpus(count: int) -> None:
    """Split the one physical CPU device into `count` logical ones.

    TensorFlow fixes its devices when its runtime starts, so this must run
    before the first tensor is made; a process that already started with
    too few is told to use a fresh process.
    """
    import tensorflow as tf

    if count <= 1:
        return
    cpu = tf.config.list_physical_devices("CPU")[0]
    try:
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * count)
    except RuntimeError:
        have = len(tf.config.list_logical_devices("CPU"))
        if have < count:
            raise DistributeError(
                f"train.devices names {count} CPU devices but TensorFlow already started in this process with {have}; "
                "run `rnn train` in a fresh process"
            ) from None


def _check_gpus(devices: list[str]) -> None:
    import tensorflow as tf

    have = len(tf.config.list_logical_devices("GPU"))
    for name in devices:
        if name.startswith("/gpu:") and int(name.split(":")[1]) >= have:
            raise DistributeError(f"train.devices names {name} but this machine has {have} GPU(s)")


# --- the plan ----------------------------------------------------------------


@dataclass
class Plan:
    """How this process takes part in training.

    Attributes:
        strategy: the tf.distribute strategy, or None for Keras' default.
        cluster: this process's place in a multi-worker cluster (None otherwise).
        shared_dir: multi-worker: the run directory every worker names with --out.
    """

    strategy: Any = None
    cluster: Cluster | None = None
    shared_dir: Path | None = None

    @property
    def distributed(self) -> bool:
        return self.strategy is not None

    @property
    def is_chief(self) -> bool:
        return self.cluster is None or self.cluster.is_chief

    @property
    def replicas(self) -> int:
        return self.strategy.num_replicas_in_sync if self.strategy is not None else 1

    def scope(self):
        """Build and compile the model inside this, so its variables are mirrored."""
        return self.strategy.scope() if self.strategy is not None else contextlib.nullcontext()


def setup(cfg: Config, out: Path | None) -> Plan:
    """Create the strategy `cfg.train.distribute` asks for; call before TensorFlow makes any tensor.

    Args:
        cfg: the validated config.
        out: the run directory given on the command line; multi-worker runs need it.
    """
    kind = cfg.train.distribute
    if kind == "none":
        return Plan()
    if kind == "mirrored":
        import tensorflow as tf

        devices = cfg.train.devices
        configure_logical_cpus(logical_cpus_needed(devices))
        if devices:
            _check_gpus(devices)
        strategy = keras_ready_strategy(tf.distribute.MirroredStrategy)(devices)
        plan = Plan(strategy)
    else:
        cluster = parse_tf_config(os.environ.get("TF_CONFIG"))
        if out is None:
            raise DistributeError(
                "train.distribute: multi_worker needs --out RUN_DIR, the same path on every worker and on storage "
                "they all reach, so a restarted cluster finds the chief's checkpoint there"
            )
        import tensorflow as tf

        plan = Plan(keras_ready_strategy(tf.distribute.MultiWorkerMirroredStrategy)(), cluster, Path(out))
    local = plan.strategy.extended.worker_devices  # e.g. /job:worker/replica:0/task:1/device:CPU:0
    devices = ", ".join(d.rsplit("/", 1)[-1].lower().replace("device:", "") for d in local)
    if plan.cluster is not None:
        devices += f" on {plan.cluster.task_type} {plan.cluster.task_index} of {plan.cluster.size} workers"
    print(f"distribute: {kind}, {plan.replicas} replica(s) in sync; this process runs {devices}", file=sys.stderr)
    if cfg.train.batch_size < plan.replicas:
        raise DistributeError(
            f"train.batch_size ({cfg.train.batch_size}) is the global batch and must be at least the "
            f"number of replicas ({plan.replicas})"
        )
    return plan


@contextlib.contextmanager
def scratch_dir(plan: Plan):
    """A non-chief worker's run directory: temporary, removed when training ends."""
    with tempfile.TemporaryDirectory(prefix=f"rnn-worker{plan.cluster.task_index}-") as scratch:
        yield Path(scratch)


def fit_data(plan: Plan, ds, cfg: Config, first_epoch: int = 0) -> dict:
    """`model.fit` arguments feeding the training (and validation) set as tf.data datasets.

    Batches hold `train.batch_size` examples (the global batch); tf.distribute
    splits each over the replicas. In-memory data has no files to shard by, so
    workers shard by data: each reads the same batches and keeps its part.
    The batches are the one-device pipeline's (`pipeline.epochs_dataset`: epochs
    `first_epoch` on in one stream, each epoch's order drawn from seed and epoch,
    read `steps_per_epoch` batches an epoch), so every worker agrees on them, the
    batch Keras reads once to learn the shapes takes no epoch's place, and a
    resumed run (`first_epoch` > 0) goes on with its next epoch's order.
    """
    import tensorflow as tf

    from rnn_recipes.pipeline import epochs_dataset, steps_per_epoch

    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA

    # Keras averages the loss on each replica, then over replicas: exact only when
    # every replica holds as many examples, so the last batch must split evenly.
    left_out = rows(ds.x_train) % plan.replicas
    if left_out:
        which = "a different few each epoch" if cfg.train.shuffle else "the last ones"
        print(f"distribute: {left_out} of {rows(ds.x_train)} training examples ({which}) sit out every epoch, "
              f"so the last batch splits evenly over {plan.replicas} replicas", file=sys.stderr)
    validation = None
    if ds.has_val:  # evaluation weighs each replica's mean by its examples: exact with any split
        validation = tf.data.Dataset.from_tensor_slices((ds.x_val, ds.y_val)).batch(cfg.train.batch_size)
        validation = validation.with_options(options)
    keep = rows(ds.x_train) - left_out
    train = epochs_dataset(ds.x_train, ds.y_train, cfg, first_epoch, keep=keep)
    return {
        "x": train.with_options(options),
        "steps_per_epoch": steps_per_epoch(ds.x_train, cfg, keep),
        "validation_data": validation,
        "shuffle": False,  # the order is the pipeline's
    }


@contextlib.contextmanager
def peer_failures(plan: Plan):
    """Turn a multi-worker run's lost peer into one line that says how to resume."""
    if plan.cluster is None:
        yield
        return
    import tensorflow as tf

    lost_peer = (tf.errors.UnavailableError, tf.errors.DeadlineExceededError, tf.errors.CancelledError, tf.errors.AbortedError)
    try:
        yield
    except lost_peer as exc:
        lost = re.search(r"unhealthy.*?/job:(\w+)/replica:\d+/task:(\d+)", str(exc), re.S)
        who = f"{lost.group(1)} {lost.group(2)}" if lost else "another worker"
        state = read_state(plan.shared_dir) if plan.shared_dir.is_dir() else None
        if state:
            how = f"start every worker again with `rnn train --resume {plan.shared_dir}` to go on after epoch {state['epoch']}"
        else:
            how = "no epoch had finished; start every worker again with the same command and --overwrite"
        raise DistributeError(f"{who} stopped or cannot be reached; {how}") from None


def weights_digest(model) -> str:
    """sha256 of the model's weights, in order: workers in sync print the same digest."""
    digest = hashlib.sha256()
    for w in model.get_weights():
        digest.update(np.ascontiguousarray(w).tobytes())
    return digest.hexdigest()


def report_weights(plan: Plan, model) -> None:
    """Print this worker's final weights digest: workers in sync print the same one."""
    if plan.distributed:
        who = "" if plan.cluster is None else f"{plan.cluster.task_type} {plan.cluster.task_index}: "
        print(f"{who}final weights sha256 {weights_digest(model)}", file=sys.stderr)
