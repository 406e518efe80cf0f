"""Property-based fuzzing of the files a run holds and of --set values: exit 0 or 2, one line, nothing else touched.

Whatever hypothesis writes into state.json, manifest.json, vocab.json or
metrics.json, or passes as a --set value, `rnn` must answer with exit code 0
or 2, at most one line on stderr (exactly one, `error: ...`, on a refusal),
no traceback, no file outside the run changed, and bounded memory.
"""

from __future__ import annotations

import json
import resource
import shutil

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_hostile_inputs import invoke, rehash_run, snapshot

MAX_GROWTH_KB = 600_000  # peak memory may grow by at most this much over all examples of a test

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats(allow_nan=True) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=10), children, max_size=5),
    max_leaves=25,
)
json_text = st.one_of(
    json_values.map(lambda v: json.dumps(v)),
    st.fixed_dictionaries({"files": json_values}).map(json.dumps),
    st.fixed_dictionaries({"tokens": st.lists(st.text(max_size=3) | st.integers(), max_size=6)}).map(json.dumps),
    st.fixed_dictionaries({"epoch": json_values, "history": json_values, "model": json_values, "model_sha256": json_values}).map(json.dumps),
    st.binary(max_size=200).map(lambda b: b.decode("latin-1")),
    st.text(max_size=200),
)


def assert_clean(result, allowed=(0, 2)) -> None:
    assert "Traceback" not in result.output, result.output[-3000:]
    assert result.exit_code in allowed, f"exit {result.exit_code}: {result.output[-2000:]}"
    lines = result.stderr.strip().splitlines()
    if result.exit_code == 2:
        assert len(lines) == 1 and lines[0].startswith("error: ") and len(lines[0]) < 3000, result.stderr[-2000:]


@pytest.fixture(scope="module")
def runs(tiny_runs, tmp_path_factory):
    root = tmp_path_factory.mktemp("fuzz")
    copies = {}
    for kind, name in (("sine", "sine_simple_rnn"), ("text", "text_char_lstm")):
        copies[kind] = root / "runs" / kind
        shutil.copytree(tiny_runs[name], copies[kind])
    return root


FILES = [  # (file, run, command, whether the manifest is re-hashed so the fuzzed content reaches its parser)
    ("manifest.json", "sine", ["evaluate"], False),
    ("metrics.json", "sine", ["evaluate"], True),
    ("vocab.json", "text", ["generate", "--seed", "t", "--length", "1", "--run"], True),
    ("checkpoint/state.json", "sine", ["train", "--resume"], False),
]


@pytest.mark.slow
@pytest.mark.parametrize("name,kind,command,rehashed", FILES, ids=[f[0] for f in FILES])
def test_fuzzed_run_file(runs, name, kind, command, rehashed):
    run = runs / "runs" / kind
    original = {p: p.read_bytes() for p in run.rglob("*") if p.is_file()}
    start = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

    @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    @given(text=json_text)
    def check(text):
        try:
            if name.startswith("checkpoint/"):
                (run / "manifest.json").unlink(missing_ok=True)  # an unfinished run
                (run / "checkpoint").mkdir(exist_ok=True)
            (run / name).write_text(text, encoding="utf-8", errors="surrogatepass")
            if rehashed:
                rehash_run(run)
            outside = snapshot(runs, skip=run)
            result = invoke([*command, str(run)])
            assert_clean(result)
            assert snapshot(runs, skip=run) == outside, "a file outside the run changed"
        finally:
            shutil.rmtree(run)
            for path, data in original.items():
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(data)

    check()
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - start < MAX_GROWTH_KB


set_keys = st.sampled_from([
    "model.units", "model.cell", "model", "train", "train.epochs", "train.learning_rate", "train.shuffle",
    "seed", "name", "data", "data.kind", "data.total_size", "encoding", "output.plots", "x", "model.units.deep",
])
yamlish = st.one_of(
    st.text(max_size=60),
    st.text(alphabet="[]{}&*!:,- '\"\n\tab01.", max_size=400),
    st.integers().map(str),
    st.floats().map(str),
    st.lists(st.sampled_from(["[", "{", "&a ", "*a", "]", "}", ",", "a: 1", "!!python/name:os.system"]), max_size=300).map("".join),
)


def test_fuzzed_set_values(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    start = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

    @settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    @given(key=set_keys, value=yamlish)
    def check(key, value):
        outside = snapshot(tmp_path.parent, skip=tmp_path)
        result = invoke(["summary", "tiny/sine_simple_rnn", "--set", f"{key}={value}"])
        assert_clean(result)
        assert snapshot(tmp_path.parent, skip=tmp_path) == outside
        assert not any(tmp_path.iterdir()), "summary writes nothing"

    check()
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - start < MAX_GROWTH_KB
