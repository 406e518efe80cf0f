"""What a training run will execute, and why: XLA, bucketing, cuDNN, precision and distribution, decided once.

`resolve(cfg, machine)` is pure: it reads the validated config and a few
facts about the machine (`Machine`: the Keras backend, whether it has a GPU)
and returns one frozen `Runtime` record. Training prints the record in one
line (`Runtime.line`), stores it as `runtime.json` in the run directory, and
hands it to `build_model` and `compile_model`, which read it instead of
deciding again. Bucketing depends on the config alone, so the pipeline asks
the same `decide_bucketing` the record was made with.
Tests pass a simulated `Machine` (a GPU on a machine without one) to check
each decision.

Nothing here imports TensorFlow or Keras at module level: only
`this_machine` asks them about this machine.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Literal

from rnn_recipes import allocator
from rnn_recipes.config import Config

# who made the XLA choice: the config, the rules below (measured once, docs/benchmarks.md),
# Keras itself (other backends), or a timing of this run's own train steps (rnn_recipes.autotune)
JitSource = Literal["config", "auto", "keras", "measured"]


@dataclass(frozen=True)
class Machine:
    """The facts about this machine that the runtime choices depend on.

    Attributes:
        backend: the Keras backend, e.g. "tensorflow" or "jax".
        gpu: whether the backend sees a GPU.
    """

    backend: str = "tensorflow"
    gpu: bool = False


def has_gpu() -> bool:
    import tensorflow as tf

    return bool(tf.config.list_physical_devices("GPU"))


def this_machine() -> Machine:
    """This machine, as Keras and TensorFlow see it (TensorFlow only lists its devices; no tensor is made)."""
    from rnn_recipes.backend import import_keras

    backend = import_keras().config.backend()
    return Machine(backend, gpu=backend == "tensorflow" and has_gpu())


@dataclass(frozen=True)
class Runtime:
    """What a run executes and why; every field is plain data, so the record is stored as JSON.

    Attributes:
        backend: the Keras backend.
        gpu: whether the backend sees a GPU.
        jit: the `jit_compile` given to `model.compile`: True, False, or "auto" (Keras decides).
        jit_source: who decided `jit`: config, auto (the project's measured rules), keras, measured.
        jit_reason: why, in a few words.
        bucketing: whether training batches are grouped by length and cut to their bucket's width.
        bucketing_reason: why.
        cudnn: on a GPU, whether the LSTM/GRU layers may take the cuDNN kernel; None without a GPU.
        cudnn_reason: why.
        use_cudnn: the `use_cudnn` argument of each LSTM/GRU layer: "auto" (Keras picks) or False.
        precision: the Keras dtype policy the layers are built under.
        deterministic_ops: whether TensorFlow's op determinism is on (`needs_op_determinism`; XLA refuses it).
        distribute: `train.distribute`: none, mirrored or multi_worker.
        devices: `train.devices`, when the config names them.
        jit_measured: when `jit_source` is "measured": the per-step seconds of each path, the
            winner, the ratio, and whether the timing came from the cache (rnn_recipes.autotune).
        malloc: what training set malloc to (`rnn_recipes.allocator`); None where nothing asked.
    """

    backend: str
    gpu: bool
    jit: bool | str
    jit_source: JitSource
    jit_reason: str
    bucketing: bool
    bucketing_reason: str
    cudnn: bool | None
    cudnn_reason: str
    use_cudnn: bool | str
    precision: str
    deterministic_ops: bool
    distribute: str
    devices: tuple[str, ...] | None = None
    jit_measured: dict | None = None
    malloc: str | None = None

    def line(self) -> str:
        """The record in one line, as training prints it first.

        Example:
            >>> from rnn_recipes.config_load import load_config
            >>> cfg = load_config("configs/tiny/sine_simple_rnn.yaml")
            >>> print(resolve(cfg, Machine("tensorflow", gpu=False)).line())
            runtime: XLA on (auto: ...); bucketing off (...); cuDNN n/a (...); precision float32; distribute none
        """
        xla = {True: "on", False: "off"}.get(self.jit, self.jit)  # or "auto": Keras decides
        cudnn = "n/a" if self.cudnn is None else ("on" if self.cudnn else "off")
        distribute = self.distribute + (f" over {', '.join(self.devices)}" if self.devices else "")
        return (
            f"runtime: XLA {xla} ({self.jit_reason}); "
            f"bucketing {'on' if self.bucketing else 'off'} ({self.bucketing_reason}); "
            f"cuDNN {cudnn} ({self.cudnn_reason}); precision {self.precision}; distribute {distribute}"
        )

    def to_json(self) -> dict:
        record = asdict(self)
        record["devices"] = list(self.devices) if self.devices else None
        return record


# --- the decisions: config and machine in, (choice, reason) out ----------------------------


def decide_bucketing(cfg: Config) -> tuple[bool, str]:
    """Whether training batches are bucketed by length (`train.bucketing`), and why.

    Auto means "when it changes nothing the model computes": IMDB ids read with
    `mask_zero`, on one device (distributed runs feed fixed-width global batches).
    """
    t = cfg.train
    if t.bucketing != "auto":
        return bool(t.bucketing), f"train.bucketing: {str(t.bucketing).lower()}"
    if cfg.data.kind == "tagged":
        return False, "auto: tagged sentences are padded to the longest and masked, not bucketed"
    if cfg.data.kind != "imdb":
        return False, f"auto: {cfg.data.kind} data has no padding"
    if cfg.encoding is None or not cfg.encoding.mask_zero:
        return False, "auto: no mask"
    if t.distribute != "none":
        return False, "auto: distributed runs feed fixed-width batches"
    return True, "auto: masked padding, exact"


def decide_jit(cfg: Config, machine: Machine, bucketing: bool) -> tuple[bool | str, JitSource, str]:
    """Whether the train step is XLA-compiled (`train.jit_compile`), who decided, and why.

    On TensorFlow, auto means on where docs/benchmarks.md measured it faster:
    on a CPU, with one batch shape, one direction, one device. Bucketed batches come in
    many widths, each compiled anew; TensorFlow runs a bidirectional layer's
    two loops side by side on two cores, XLA one after the other; on a GPU
    the cuDNN kernels (which XLA cannot use) are the fast path; and XLA's
    CPU code for bfloat16 measured 1.4x to 3.3x slower than TensorFlow's own
    (docs/precision.md). Other backends keep Keras' own "auto".
    """
    t = cfg.train
    if t.jit_compile != "auto":
        return t.jit_compile, "config", f"train.jit_compile: {str(t.jit_compile).lower()}"
    if machine.backend != "tensorflow":
        return "auto", "keras", f"Keras decides on the {machine.backend} backend"
    if t.distribute != "none":  # XLA under tf.distribute is not what was measured
        return False, "auto", "auto: not measured under tf.distribute"
    if bucketing:
        return False, "auto", "auto: bucketed batches come in many widths"
    if cfg.model.bidirectional:
        return False, "auto", "auto: TensorFlow runs both directions at once"
    if t.precision == "mixed_bfloat16":
        return False, "auto", "auto: XLA's bfloat16 code measured slower on a CPU"
    if machine.gpu:
        return False, "auto", "auto: on a GPU the cuDNN kernels are the fast path"
    return True, "auto", "auto: one CPU device, fixed batch shape, one direction"


def mask_not_at_the_end(cfg: Config) -> bool:
    """Masked reviews padded before their tokens: a mask cuDNN cannot read (it takes one length per row)."""
    return cfg.encoding is not None and cfg.encoding.mask_zero and getattr(cfg.data, "padding", "post") == "pre"  # tagged sentences pad after


def has_cudnn_kernel(cell: str) -> bool:
    """Whether Keras' layer for `cell` may take a cuDNN kernel (and so takes a `use_cudnn` argument)."""
    return cell in ("lstm", "gru")


def cudnn_blocker(cfg: Config) -> str | None:
    """Why this config's LSTM/GRU layers cannot take the cuDNN kernel on a GPU, or None if they can.

    Keras picks cuDNN itself (tanh, sigmoid gates, no recurrent dropout); the
    project adds one check Keras leaves to run time: cuDNN reads a mask only as
    a length per row, so masked rows must be padded at the end. With
    `mask_zero`, pre and post padding compute the same, so this is a free fix.
    """
    m = cfg.model
    if m.cell == "simple_rnn":
        return "SimpleRNN has no cuDNN kernel"
    if m.cell == "peephole_lstm":
        return "the peephole LSTM has no cuDNN kernel (cuDNN's LSTM has no peepholes)"
    if m.activation != "tanh" or m.recurrent_dropout:
        return "cuDNN needs activation: tanh and recurrent_dropout: 0"
    if mask_not_at_the_end(cfg):
        return ("masked reviews padded 'pre' cannot take the cuDNN kernel; data.padding: post computes the "
                "same with mask_zero, and can")
    return None


def decide_cudnn(cfg: Config, machine: Machine, jit: bool | str) -> tuple[bool | None, str, bool | str]:
    """Whether the recurrent layers take cuDNN, why, and the `use_cudnn` argument that makes it so.

    The argument stays Keras' "auto" unless cuDNN must be kept out: a layer
    that may take cuDNN tells Keras it cannot be XLA-compiled, and on a GPU
    Keras would try cuDNN on a pre-padded mask and fail its right-padding
    check at run time.
    """
    use_cudnn: bool | str = "auto"
    if has_cudnn_kernel(cfg.model.cell) and (jit is True or (mask_not_at_the_end(cfg) and machine.gpu)):
        use_cudnn = False
    if not machine.gpu:
        return None, "no GPU", use_cudnn
    if reason := cudnn_blocker(cfg):
        return False, reason, use_cudnn
    if use_cudnn is False:
        return False, "XLA cannot use the cuDNN kernels", use_cudnn
    return True, "Keras picks the cuDNN kernel", use_cudnn


def resolve(cfg: Config, machine: Machine) -> Runtime:
    """Every runtime choice for `cfg` on `machine`, each with its reason.

    Args:
        cfg: the validated run config.
        machine: the machine's facts (`this_machine()`, or a simulated one in tests).

    Example:
        >>> from rnn_recipes.config_load import load_config
        >>> cfg = load_config("configs/imdb_lstm.yaml")
        >>> rt = resolve(cfg, Machine("tensorflow", gpu=True))
        >>> rt.jit, rt.cudnn
        (False, True)
    """
    bucketing, bucketing_reason = decide_bucketing(cfg)
    jit, jit_source, jit_reason = decide_jit(cfg, machine, bucketing)
    cudnn, cudnn_reason, use_cudnn = decide_cudnn(cfg, machine, jit)
    t = cfg.train
    return Runtime(
        backend=machine.backend,
        gpu=machine.gpu,
        jit=jit,
        jit_source=jit_source,
        jit_reason=jit_reason,
        bucketing=bucketing,
        bucketing_reason=bucketing_reason,
        cudnn=cudnn,
        cudnn_reason=cudnn_reason,
        use_cudnn=use_cudnn,
        precision=t.precision,
        deterministic_ops=needs_op_determinism(jit, machine.gpu, t.distribute),
        distribute=t.distribute,
        devices=tuple(t.devices) if t.devices else None,
    )


def needs_op_determinism(jit: bool | str, gpu: bool, distribute: str) -> bool:
    """Whether TensorFlow's op determinism is turned on: without XLA, on a GPU or across devices.

    Keras refuses XLA while it is on. On one CPU device TensorFlow's kernels
    already repeat bit for bit (the XLA path has always run without it, and
    tests/test_cli.py trains a config twice to the same metrics either way),
    while turning it on cost 1.03x to 1.11x of a step (docs/benchmarks.md). On
    a GPU, atomics and cuDNN's algorithm choice vary between runs unless it is on;
    under tf.distribute, so may the order of the replicas' sums.
    """
    return jit is not True and (gpu or distribute != "none")


def for_this_machine(cfg: Config) -> Runtime:
    """`resolve(cfg, this_machine())`: the record for a run on this machine."""
    return resolve(cfg, this_machine())


def for_training(cfg: Config) -> Runtime:
    """The record for a training run of `cfg` on this machine, with the process set up for it.

    Sets malloc to keep freed memory (`rnn_recipes.allocator`: big train steps
    ran up to 1.7x faster) and records what it did as `malloc`; training calls
    this before anything is timed or built.
    """
    return replace(for_this_machine(cfg), malloc=allocator.keep_freed_memory())


def use_jit(cfg: Config) -> bool | str:
    """The `jit_compile` a run of `cfg` on this machine gets (see `decide_jit`)."""
    return for_this_machine(cfg).jit
