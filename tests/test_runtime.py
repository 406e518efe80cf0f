"""The runtime record: each choice (XLA, bucketing, cuDNN, precision, distribution) and its reason, on simulated machines."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys

import pytest

from conftest import TINY
from rnn_recipes.config import Config
from rnn_recipes.config_load import load_config
from rnn_recipes.runtime import Machine, Runtime, resolve

CPU = Machine("tensorflow", gpu=False)
GPU = Machine("tensorflow", gpu=True)  # simulated: the choice, not the kernel, is tested


def imdb(padding: str = "post", mask_zero: bool = False, cell: str = "lstm", **train) -> Config:
    return Config.model_validate({
        "data": {"kind": "imdb", "maxlen": 40, "padding": padding},
        "encoding": {"kind": "embedding", "mask_zero": mask_zero},
        "model": {"cell": cell},
        "train": train,
    })


def test_on_one_cpu_with_one_batch_shape_xla_is_on_and_the_line_says_why():
    rt = resolve(imdb(), CPU)
    assert (rt.jit, rt.jit_source, rt.bucketing, rt.cudnn, rt.use_cudnn) == (True, "auto", False, None, False)
    assert rt.deterministic_ops is False  # Keras refuses XLA under op determinism
    assert rt.line() == (
        "runtime: XLA on (auto: one CPU device, fixed batch shape, one direction); bucketing off (auto: no mask); "
        "cuDNN n/a (no GPU); precision float32; distribute none"
    )


@pytest.mark.parametrize(
    "cfg, machine, reason",
    [
        (imdb(mask_zero=True), CPU, "auto: bucketed batches come in many widths"),
        (imdb(), GPU, "auto: on a GPU the cuDNN kernels are the fast path"),
        (imdb(precision="mixed_bfloat16"), CPU, "auto: XLA's bfloat16 code measured slower on a CPU"),
        (imdb(jit_compile=False), CPU, "train.jit_compile: false"),
        (imdb(distribute="mirrored"), CPU, "auto: not measured under tf.distribute"),
    ],
)
def test_xla_stays_off_where_it_measured_slower_and_says_why(cfg, machine, reason):
    rt = resolve(cfg, machine)
    assert rt.jit is False and rt.jit_reason == reason
    # op determinism where it changes results: a GPU, several devices; one CPU repeats bit for bit without it
    assert rt.deterministic_ops is (machine.gpu or cfg.train.distribute != "none")


def test_a_bidirectional_model_keeps_xla_off():
    cfg = Config.model_validate({"data": {"kind": "imdb", "maxlen": 40}, "model": {"bidirectional": True}})
    assert resolve(cfg, CPU).jit_reason == "auto: TensorFlow runs both directions at once"


def test_other_backends_leave_xla_to_keras():
    rt = resolve(imdb(), Machine("jax"))
    assert (rt.jit, rt.jit_source, rt.jit_reason) == ("auto", "keras", "Keras decides on the jax backend")
    assert rt.line().startswith("runtime: XLA auto (Keras decides on the jax backend); ")


def test_on_a_gpu_cudnn_is_taken_unless_something_blocks_it():
    post = resolve(imdb(padding="post", mask_zero=True), GPU)
    assert (post.cudnn, post.use_cudnn, post.cudnn_reason) == (True, "auto", "Keras picks the cuDNN kernel")
    pre = resolve(imdb(padding="pre", mask_zero=True), GPU)
    assert (pre.cudnn, pre.use_cudnn) == (False, False)  # else Keras fails its right-padding check inside fit
    assert pre.cudnn_reason.startswith("masked reviews padded 'pre' cannot take the cuDNN kernel")
    assert "cuDNN off (masked reviews padded 'pre'" in pre.line()
    simple = resolve(imdb(cell="simple_rnn"), GPU)
    assert (simple.cudnn, simple.cudnn_reason) == (False, "SimpleRNN has no cuDNN kernel")
    peephole = resolve(imdb(cell="peephole_lstm", jit_compile=True), GPU)
    assert (peephole.cudnn, peephole.use_cudnn) == (False, "auto")  # no cuDNN kernel to keep out: no use_cudnn argument
    assert peephole.cudnn_reason == "the peephole LSTM has no cuDNN kernel (cuDNN's LSTM has no peepholes)"
    forced = resolve(imdb(jit_compile=True), GPU)
    assert (forced.jit, forced.cudnn, forced.use_cudnn) == (True, False, False)
    assert forced.cudnn_reason == "XLA cannot use the cuDNN kernels"
    # without a GPU a pre-padded mask needs no guard: Keras never tries cuDNN there
    assert resolve(imdb(padding="pre", mask_zero=True), CPU).use_cudnn == "auto"


def test_bucketing_reasons():
    assert resolve(imdb(mask_zero=True), CPU).bucketing_reason == "auto: masked padding, exact"
    assert resolve(imdb(mask_zero=True, bucketing=False), CPU).bucketing_reason == "train.bucketing: false"
    assert resolve(imdb(bucketing=True), CPU).bucketing is True
    sine = Config.model_validate({"data": {"kind": "sine"}})
    assert resolve(sine, CPU).bucketing_reason == "auto: sine data has no padding"
    mirrored = imdb(mask_zero=True, distribute="mirrored", devices=["/cpu:0", "/cpu:1"])
    rt = resolve(mirrored, CPU)
    assert rt.bucketing is False and rt.line().endswith("; distribute mirrored over /cpu:0, /cpu:1")


def test_the_record_is_frozen_plain_json():
    rt = resolve(imdb(precision="mixed_float16", distribute="mirrored", devices=["/cpu:0"]), GPU)
    with pytest.raises(dataclasses.FrozenInstanceError):
        rt.jit = True
    stored = json.loads(json.dumps(rt.to_json()))
    assert stored["precision"] == "mixed_float16" and stored["devices"] == ["/cpu:0"]
    assert set(stored) == {f.name for f in dataclasses.fields(Runtime)}


def test_resolving_imports_neither_tensorflow_nor_keras():
    code = (
        "import sys; from rnn_recipes.config import Config; from rnn_recipes.runtime import Machine, resolve; "
        "resolve(Config.model_validate({'data': {'kind': 'sine'}}), Machine(gpu=True)); "
        "print('tensorflow' in sys.modules, 'keras' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]


@pytest.mark.slow
def test_training_prints_the_record_once_and_stores_it_in_the_run(tmp_path, capsys):
    from rnn_recipes.train import train

    from rnn_recipes import allocator, autotune
    from rnn_recipes.data import load_dataset

    cfg = load_config(TINY / "sine_simple_rnn.yaml", ["train.epochs=1"])
    run = train(cfg, tmp_path / "run", verbose=0)
    lines = [line for line in capsys.readouterr().err.splitlines() if line.startswith("runtime: ")]
    settled = autotune.settle(cfg, load_dataset(cfg), resolve(cfg, CPU))  # the rule's record, settled for a short run
    assert lines == [settled.line()] and "XLA off (auto: a short run (" in lines[0]
    stored = json.loads((run / "runtime.json").read_text())
    assert stored == {**settled.to_json(), "malloc": allocator.KEPT}  # set by training, before anything is timed
    assert "runtime.json" in json.loads((run / "manifest.json").read_text())["files"]
