"""Seq2seq decoding speed: the compiled step decoder against a model.predict call per output token, and batching.

    python -m benchmarks.seq2seq [--units 256] [--tokens 40] [--sentences 256]

One untrained LSTM(units) encoder-decoder with additive attention (source
and target vocabularies of 64, sources of 30 tokens, embeddings of 32),
every path in one process, interleaved, best of `--repeats`:

- step decoder, batch 1: `decode.Decoder.greedy` on one source: the encoder
  once, then one compiled step per output token with the cached encoder
  outputs and recurrent states;
- the same with the step XLA-compiled (`jit_compile=True`);
- model.predict per token: the textbook loop, the whole model re-run on the
  source and the decoder input so far for every output token;
- batched: a file of `--sentences` sources decoded `--batch` at a time,
  against one at a time: milliseconds per sentence.

The end token is made unreachable, so every path writes exactly `--tokens`
tokens. Ratios measured side by side are what to read on a loaded machine.
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import numpy as np

from rnn_recipes.backend import import_keras
from rnn_recipes.config import Config
from rnn_recipes.data import DataSpec
from rnn_recipes.decode import Decoder
from rnn_recipes.model import build_model

keras = import_keras()
VOCAB, SOURCE = 64, 30


def seq2seq_model(units: int, tokens: int):
    cfg = Config.model_validate({
        "data": {"kind": "addition"},
        "encoding": {"kind": "embedding", "dim": 32},
        "model": {"kind": "seq2seq", "cell": "lstm", "units": units, "attention": "additive"},
    })
    return build_model(cfg, DataSpec("transduction", SOURCE, VOCAB, VOCAB, sequence_output=True, target_len=tokens + 1))


def ms_per_token_step(decoder: Decoder, source: np.ndarray, tokens: int) -> float:
    start = time.perf_counter()
    out = decoder.greedy(source[None], max_length=tokens)
    assert len(out[0].ids) == tokens
    return (time.perf_counter() - start) / tokens * 1e3


def ms_per_token_predict(model, source: np.ndarray, tokens: int, start_id: int = 2) -> float:
    """The textbook loop: the whole model on (source, decoder input so far) for every output token."""
    target_in = np.zeros((1, model.inputs[1].shape[1]), "int32")
    target_in[0, 0] = start_id
    start = time.perf_counter()
    for t in range(tokens):
        probs = model.predict([source[None], target_in], verbose=0)[0, t]
        probs[VOCAB - 1] = -1.0  # the same unreachable end token
        if t + 1 < target_in.shape[1]:
            target_in[0, t + 1] = int(probs.argmax())
    return (time.perf_counter() - start) / tokens * 1e3


def ms_per_sentence(decoder: Decoder, sources: np.ndarray, batch: int, tokens: int) -> float:
    start = time.perf_counter()
    for i in range(0, len(sources), batch):
        decoder.greedy(sources[i : i + batch], max_length=tokens)
    return (time.perf_counter() - start) / len(sources) * 1e3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--units", type=int, default=256)
    parser.add_argument("--tokens", type=int, default=40, help="output tokens per sentence")
    parser.add_argument("--slow-tokens", type=int, default=10, help="output tokens per model.predict-loop measurement")
    parser.add_argument("--sentences", type=int, default=256, help="sources in the batched-file measurement")
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    model = seq2seq_model(args.units, args.tokens)
    rng = np.random.default_rng(0)
    sources = rng.integers(2, VOCAB, (args.sentences, SOURCE)).astype("int32")
    end = VOCAB  # no such id: every sentence runs to --tokens
    decoder, xla = Decoder(model, 2, end), Decoder(model, 2, end, jit_compile=True)
    for d in (decoder, xla):  # warm-up: traces for batch 1 and the batch size
        ms_per_token_step(d, sources[0], 3)
    ms_per_sentence(decoder, sources[: args.batch], args.batch, 3)
    ms_per_token_predict(model, sources[0], 2)
    step, step_xla, slow, one, batched = [], [], [], [], []
    for _ in range(args.repeats):  # interleaved, so machine noise hits every path alike
        step.append(ms_per_token_step(decoder, sources[0], args.tokens))
        step_xla.append(ms_per_token_step(xla, sources[0], args.tokens))
        slow.append(ms_per_token_predict(model, sources[0], args.slow_tokens))
        one.append(ms_per_sentence(decoder, sources[: max(8, args.sentences // 16)], 1, args.tokens))
        batched.append(ms_per_sentence(decoder, sources, args.batch, args.tokens))
    s, x, p, o, b = (min(v) for v in (step, step_xla, slow, one, batched))
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, python {platform.python_version()}, "
          f"keras {keras.__version__}, numpy {np.__version__}, load average at start {os.getloadavg()[0]:.1f}")
    print(f"model: LSTM({args.units}) encoder-decoder, additive attention, source {SOURCE} tokens, "
          f"{model.count_params():,} parameters; {args.tokens} output tokens per sentence")
    print(f"| path | ms per output token, batch 1 (best of {args.repeats}) |\n|---|---|")
    print(f"| step decoder (tf.function) | {s:.3f} |")
    print(f"| step decoder (tf.function, XLA) | {x:.3f} |")
    print(f"| model.predict per token | {p:.1f} |")
    print(f"speed-up of the step decoder: {p / s:.0f}x; target <= 2 ms per token: {'met' if min(s, x) <= 2.0 else 'NOT met'}")
    print(f"| decoding a file of {args.sentences} | ms per sentence |\n|---|---|")
    print(f"| one sentence at a time | {o:.2f} |")
    print(f"| {args.batch} at a time | {b:.3f} |")
    print(f"batched is {o / b:.0f}x faster per sentence; target >= 10x: {'met' if o / b >= 10 else 'NOT met'}")


if __name__ == "__main__":
    main()
