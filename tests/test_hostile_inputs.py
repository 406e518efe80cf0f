"""Hostile and careless inputs on every surface, as a table: each row an input, its exit code and its one line.

Every row runs `rnn` in-process and must end with exactly one line on
stderr (`error: ...` for a refusal), no traceback, and nothing outside its
sandbox touched. Rows that need a trained run corrupt copies of one tiny run
trained once per session (`tiny_runs`); no row trains.
"""

from __future__ import annotations

import json
import os
import shutil
import struct
import threading
import zipfile
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Callable

import numpy as np
import pytest
from conftest import TINY

from rnn_recipes.fileio import sha256_file

HEX = "ab" * 32  # a well-formed sha256 that matches nothing


@dataclass
class Row:
    id: str
    argv: list[str]  # "{t}" is the sandbox, "{run}" the corrupted run copy
    code: int
    fragment: str  # a distinctive part of the one line
    setup: Callable[[Path], None] | None = None
    run: str | None = None  # which trained run to copy into {run}: "sine" or "text"
    env: dict | None = None


def invoke(argv: list[str], env: dict | None = None):
    from typer.testing import CliRunner

    from rnn_recipes.cli import app

    return CliRunner().invoke(app, argv, env=env)


def check_row(row: Row, t: Path, runs: dict[str, Path] | None = None) -> str:
    """Run a row in sandbox `t`; return its one line."""
    if row.run:
        shutil.copytree(runs[row.run], t / "run")
    if row.setup:
        row.setup(t)
    outside = snapshot(t.parent, skip=t)
    argv = [a.replace("{t}", str(t)).replace("{run}", str(t / "run")) for a in row.argv]
    result = invoke(argv, row.env)
    out = result.output
    assert "Traceback" not in out, out[-3000:]
    assert result.exit_code == row.code, f"exit {result.exit_code}: {out[-2000:]}"
    if row.code != 0:
        lines = out.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: "), out[-2000:]
        assert len(lines[0]) < 3_000, "an error must cap the input it quotes"
        assert row.fragment in lines[0], lines[0]
        line = lines[0]
    else:
        line = out
    assert snapshot(t.parent, skip=t) == outside, "a file outside the sandbox changed"
    return line


def snapshot(root: Path, skip: Path) -> dict:
    """Names, sizes and mtimes of everything under `root` but `skip` (what a row must not touch)."""
    found = {}
    for dirpath, dirnames, filenames in os.walk(root):
        if Path(dirpath) == skip:
            dirnames[:] = []
            continue
        dirnames[:] = [d for d in dirnames if Path(dirpath, d) != skip]
        for name in filenames:
            p = Path(dirpath, name)
            st = p.lstat()
            found[str(p)] = (st.st_size, st.st_mtime_ns)
    return found


# --- builders ------------------------------------------------------------------------


def write(name: str, content: str | bytes) -> Callable[[Path], None]:
    def setup(t: Path) -> None:
        path = t / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content if isinstance(content, bytes) else content.encode())

    return setup


def fifo(name: str) -> Callable[[Path], None]:
    def setup(t: Path) -> None:
        path = t / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)
        os.mkfifo(path)

    return setup


def symlink(name: str, target: str) -> Callable[[Path], None]:
    def setup(t: Path) -> None:
        path = t / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.unlink(missing_ok=True)
        path.symlink_to(target.replace("{t}", str(t)))

    return setup


def directory(name: str) -> Callable[[Path], None]:
    def setup(t: Path) -> None:
        path = t / name
        path.unlink(missing_ok=True)
        path.mkdir(parents=True, exist_ok=True)

    return setup


def remove(name: str) -> Callable[[Path], None]:
    return lambda t: (t / name).unlink()


def sparse(name: str, size: int) -> Callable[[Path], None]:
    def setup(t: Path) -> None:
        path = t / name
        path.unlink(missing_ok=True)
        with open(path, "wb") as fh:
            fh.truncate(size)

    return setup


def both(*setups: Callable[[Path], None]) -> Callable[[Path], None]:
    def setup(t: Path) -> None:
        for s in setups:
            s(t)

    return setup


def rehash(t: Path) -> None:
    """Make the copy's manifest match its (corrupted) files again, so the row reaches the file's parser."""
    rehash_run(t / "run")


def rehash_run(run: Path) -> None:
    manifest = json.loads((run / "manifest.json").read_text())
    manifest["files"] = {name: sha256_file(run / name) for name in manifest["files"] if (run / name).is_file()}
    (run / "manifest.json").write_text(json.dumps(manifest))


def content(name: str, data: str | bytes) -> Callable[[Path], None]:
    """Replace a run file's content and re-hash the manifest."""
    return both(write(f"run/{name}", data), rehash)


def manifest(files) -> Callable[[Path], None]:
    def setup(t: Path) -> None:
        value = files(t) if callable(files) else files
        (t / "run" / "manifest.json").write_text(json.dumps({"files": value} if not isinstance(value, str) else value))

    return setup


def manifest_without(name: str) -> Callable[[Path], None]:
    def files(t: Path) -> dict:
        listed = json.loads((t / "run" / "manifest.json").read_text())["files"]
        return {k: v for k, v in listed.items() if k != name}

    return manifest(files)


def keras_zip(members: dict[str, bytes]) -> bytes:
    import io

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


def declared_size(data: bytes, size: int) -> bytes:
    """A zip whose central directory claims every member unpacks to `size` bytes (a bomb, without the bytes)."""
    out = bytearray(data)
    i = out.find(b"PK\x01\x02")
    while i != -1:
        struct.pack_into("<I", out, i + 24, size)
        i = out.find(b"PK\x01\x02", i + 4)
    return bytes(out)


def model_members(t: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(t / "run" / "model.keras") as zf:
        return {n: zf.read(n) for n in zf.namelist()}


def model_edit(edit: Callable[[dict[str, bytes]], dict[str, bytes] | bytes]) -> Callable[[Path], None]:
    def setup(t: Path) -> None:
        new = edit(model_members(t))
        (t / "run" / "model.keras").write_bytes(new if isinstance(new, bytes) else keras_zip(new))
        rehash(t)

    return setup


def npz(**arrays) -> Callable[[Path], None]:
    def setup(t: Path) -> None:
        np.savez(t / "d.npz", **arrays)

    return setup


def objects(*lists) -> np.ndarray:
    out = np.empty(len(lists), dtype=object)
    for i, item in enumerate(lists):
        out[i] = item
    return out


GOOD_X = objects([1, 2, 3], [4, 5])
GOOD_Y = np.array([0, 1])


def npy_header_bomb(t: Path) -> None:
    """An npz whose one member's header declares 10^15 float64 elements."""
    header = "{'descr': '<f8', 'fortran_order': False, 'shape': (1000000000000000,), }"
    header += " " * (63 - (len(header) + 10) % 64) + "\n"
    npy = b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode() + b"\0" * 16
    (t / "d.npz").write_bytes(keras_zip({"x_train.npy": npy, "y_train.npy": npy, "x_test.npy": npy, "y_test.npy": npy}))


def npz_bomb(t: Path) -> None:
    np.savez(t / "d.npz", x_train=GOOD_X, y_train=GOOD_Y, x_test=GOOD_X, y_test=GOOD_Y)
    (t / "d.npz").write_bytes(declared_size((t / "d.npz").read_bytes(), 0xFFFFFFF0))


def state(edit: Callable[[dict], dict] | str) -> Callable[[Path], None]:
    """Turn the finished copy into an interrupted run with a checkpoint, then edit its state.json."""

    def setup(t: Path) -> None:
        interrupted(t)
        path = t / "run" / "checkpoint" / "state.json"
        if isinstance(edit, str):
            path.write_text(edit)
        else:
            path.write_text(json.dumps(edit(json.loads(path.read_text()))))

    return setup


def interrupted(t: Path) -> None:
    """The finished run in t/run made an unfinished one: a checkpoint after its last epoch, no manifest."""
    from rnn_recipes.checkpoint_state import fingerprint, fingerprint_hash
    from rnn_recipes.config_load import load_config
    from rnn_recipes.data import load_dataset

    run = t / "run"
    if (run / "checkpoint").exists():
        return
    cfg = load_config(run / "config.yaml")
    (run / "manifest.json").unlink()
    ckpt = run / "checkpoint"
    ckpt.mkdir()
    shutil.copy(run / "model.keras", ckpt / "epoch-0003.keras")
    (ckpt / "state.json").write_text(json.dumps({
        "epoch": 3, "model": "epoch-0003.keras", "model_sha256": sha256_file(ckpt / "epoch-0003.keras"),
        "stopped": False, "history": {"loss": [1.0, 0.5, 0.25]}, "config_hash": fingerprint_hash(cfg),
        "fingerprint": fingerprint(cfg), "data_sha256": load_dataset(cfg).content_sha256(),
    }))


def staging(replaces: str, victim: bool = True) -> Callable[[Path], None]:
    """An interrupted --overwrite run in t/o/.rp.new whose checkpoint/replaces says `replaces`."""

    def setup(t: Path) -> None:
        interrupted(t)
        (t / "o").mkdir()
        os.replace(t / "run", t / "o" / ".rp.new")
        (t / "o" / ".rp.new" / "checkpoint" / "replaces").write_text(replaces)
        if victim:
            (t / "o" / "victim").mkdir()
            (t / "o" / "victim" / "precious.txt").write_text("thesis")

    return setup


def user_dir(t: Path) -> None:
    """The issue's example: a directory of the user's that happens to hold a config.yaml."""
    (t / "P" / "src").mkdir(parents=True)
    (t / "P" / "config.yaml").write_text("db: x\n")
    (t / "P" / "notes.txt").write_text("thesis")


def run_config_and_notes(t: Path) -> None:
    (t / "P").mkdir()
    shutil.copy(TINY / "sine_simple_rnn.yaml", t / "P" / "config.yaml")
    (t / "P" / "notes.txt").write_text("thesis")


# --- the table -----------------------------------------------------------------------

S = "data: {kind: sine}\n"
BOMB = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{c}: &{c} [*{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}]\n" for p, c in zip("abcdefgh", "bcdefghi")
)
SET_BOMB = "[" + ",".join(["&a [x,x,x,x,x,x,x,x,x]"] + [f"&{c} [" + ",".join([f"*{p}"] * 9) + "]" for p, c in zip("abcdefgh", "bcdefghi")]) + "]"

CONFIG_ROWS = [  # (id, config text, exit code, fragment): `rnn summary FILE`
    ("units-true", S + "model: {units: true}\n", 2, "invalid 'model.units'"),
    ("units-string", S + "model: {units: '4'}\n", 2, "invalid 'model.units'"),
    ("units-float", S + "model: {units: 4.0}\n", 2, "invalid 'model.units'"),
    ("units-null", S + "model: {units: null}\n", 2, "invalid 'model.units'"),
    ("units-list", S + "model: {units: [4]}\n", 2, "invalid 'model.units'"),
    ("units-zero", S + "model: {units: 0}\n", 2, "invalid 'model.units'"),
    ("units-negative", S + "model: {units: -3}\n", 2, "invalid 'model.units'"),
    ("units-65536", S + "model: {units: 65536}\n", 2, "GB of float32 weights"),
    ("units-8192-lstm-stack", S + "model: {cell: lstm, units: 8192, layers: 4}\n", 2, "parameters"),
    ("units-huge", S + "model: {units: 100000000000}\n", 2, "invalid 'model.units'"),
    ("layers-17", S + "model: {layers: 17}\n", 2, "invalid 'model.layers'"),
    ("shuffle-off-string", S + "train: {shuffle: 'off'}\n", 2, "invalid 'train.shuffle'"),
    ("shuffle-int", S + "train: {shuffle: 1}\n", 2, "invalid 'train.shuffle'"),
    ("plots-string", S + "output: {plots: 'true'}\n", 2, "invalid 'output.plots'"),
    ("bidirectional-string", S + "model: {bidirectional: 'yes'}\n", 2, "invalid 'model.bidirectional'"),
    ("epochs-string", S + "train: {epochs: '5'}\n", 2, "invalid 'train.epochs'"),
    ("epochs-bool", S + "train: {epochs: false}\n", 2, "invalid 'train.epochs'"),
    ("epochs-zero", S + "train: {epochs: 0}\n", 2, "invalid 'train.epochs'"),
    ("epochs-huge", S + "train: {epochs: 1000000000}\n", 2, "invalid 'train.epochs'"),
    ("batch-zero", S + "train: {batch_size: 0}\n", 2, "invalid 'train.batch_size'"),
    ("lr-nan", S + "train: {learning_rate: .nan}\n", 2, "invalid 'train.learning_rate'"),
    ("lr-inf", S + "train: {learning_rate: .inf}\n", 2, "invalid 'train.learning_rate'"),
    ("lr-string", S + "train: {learning_rate: '0.1'}\n", 2, "invalid 'train.learning_rate'"),
    ("lr-zero", S + "train: {learning_rate: 0}\n", 2, "invalid 'train.learning_rate'"),
    ("dropout-1.5", S + "model: {dropout: 1.5}\n", 2, "invalid 'model.dropout'"),
    ("dropout-negative", S + "model: {dropout: -0.1}\n", 2, "invalid 'model.dropout'"),
    ("clipnorm-zero", S + "train: {clipnorm: 0}\n", 2, "invalid 'train.clipnorm'"),
    ("seed-negative", "seed: -1\n" + S, 2, "invalid 'seed'"),
    ("seed-2**32", "seed: 4294967296\n" + S, 2, "invalid 'seed'"),
    ("seed-string", "seed: '1'\n" + S, 2, "invalid 'seed'"),
    ("name-traversal", "name: ../../x\n" + S, 2, "invalid 'name'"),
    ("name-slash", "name: a/b\n" + S, 2, "invalid 'name'"),
    ("name-int", "name: 3\n" + S, 2, "invalid 'name'"),
    ("cell-unknown", S + "model: {cell: lstmm}\n", 2, "invalid 'model.cell'"),
    ("optimizer-unknown", S + "train: {optimizer: adamw}\n", 2, "invalid 'train.optimizer'"),
    ("activation-code", S + "model: {activation: 'lambda x: x'}\n", 2, "invalid 'model.activation'"),
    ("unknown-top-key", S + "modle: {}\n", 2, "unknown key 'modle'"),
    ("unknown-nested-key", S + "train: {epoch: 3}\n", 2, "Did you mean 'epochs'?"),
    ("data-kind-missing", "data: {total_size: 100}\n", 2, "missing key 'data.kind'"),
    ("data-kind-unknown", "data: {kind: csv}\n", 2, "invalid 'data.kind'"),
    ("data-missing", "model: {units: 4}\n", 2, "missing key 'data'"),
    ("data-list", "data: [sine]\n", 2, "data"),
    ("sine-with-encoding", S + "encoding: {kind: embedding}\n", 2, "remove the encoding section"),
    ("integer-with-dim", "data: {kind: imdb}\nencoding: {kind: integer, dim: 8}\n", 2, "encoding.dim is for kind: embedding"),
    ("onehot-with-dim", "data: {kind: imdb}\nencoding: {kind: onehot, dim: 8}\n", 2, "encoding.dim is for kind: embedding"),
    ("onehot-mask-zero", "data: {kind: imdb}\nencoding: {kind: onehot, mask_zero: true}\n", 2, "mask_zero needs kind: embedding"),
    ("embedding-huge", "data: {kind: imdb, num_words: 10000000}\nencoding: {kind: embedding, dim: 65536}\n", 2, "parameters"),
    ("onehot-huge-vocab", "data: {kind: imdb, num_words: 10000000}\nencoding: {kind: onehot}\nmodel: {units: 1024}\n", 2, "parameters"),
    ("imdb-num-words-2", "data: {kind: imdb, num_words: 2}\n", 2, "invalid 'data.num_words'"),
    ("imdb-maxlen-zero", "data: {kind: imdb, maxlen: 0}\n", 2, "invalid 'data.maxlen'"),
    ("imdb-padding", "data: {kind: imdb, padding: middle}\n", 2, "invalid 'data.padding'"),
    ("text-two-sources", "data: {kind: text, text: ab, path: x.txt}\n", 2, "give one of text, path, url"),
    ("text-url-no-sha", "data: {kind: text, url: 'https://example.com/a.txt'}\n", 2, "needs its sha256"),
    ("text-bad-sha", "data: {kind: text, url: 'https://example.com/a.txt', sha256: xyz}\n", 2, "invalid 'data.sha256'"),
    ("text-splits", "data: {kind: text, text: abcdef, val_split: 0.5, test_split: 0.5}\n", 2, "must leave some text"),
    ("text-mask-zero", "data: {kind: text, text: abc}\nencoding: {mask_zero: true}\n", 2, "id 0 is a real token"),
    ("text-bidir-m2m", "data: {kind: text, text: abc, objective: many_to_many}\nmodel: {bidirectional: true}\n", 2, "would see the very tokens"),
    ("sine-total-small", "data: {kind: sine, total_size: 10, time_steps: 20}\n", 2, "must exceed time_steps"),
    ("bucketing-sine", S + "train: {bucketing: true}\n", 2, "train.bucketing"),
    ("devices-no-mirror", S + "train: {devices: ['/gpu:0']}\n", 2, "needs train.distribute: mirrored"),
    ("devices-bad-name", S + "train: {distribute: mirrored, devices: ['/tpu:0']}\n", 2, "expected device names"),
    ("devices-duplicate", S + "train: {distribute: mirrored, devices: ['/cpu:0', '/CPU:0']}\n", 2, "named once"),
    ("precision-unknown", S + "train: {precision: float8}\n", 2, "invalid 'train.precision'"),
    ("alias-bomb", BOMB + S, 2, "alias bomb"),
    ("deep-brackets", "x: " + "[" * 3000 + "\n" + S, 2, "nested deeper than 50"),
    ("deep-braces", "x: " + "{a: " * 200 + "1" + "}" * 200 + "\n" + S, 2, "nested deeper than 50"),
    ("duplicate-key", S + "model: {units: 3, units: 4}\n", 2, "duplicate key 'units'"),
    ("duplicate-section", S + "data: {kind: sine}\n", 2, "duplicate key 'data'"),
    ("python-tag", S + "x: !!python/object/apply:os.system ['true']\n", 2, "is not allowed"),
    ("custom-tag", S + "x: !custom 3\n", 2, "is not allowed"),
    ("key-is-list", S + "? [a, b]\n: 3\n", 2, "a key must be a plain name"),
    ("empty", "", 2, "config is empty"),
    ("only-comment", "# nothing\n", 2, "config is empty"),
    ("top-list", "- a\n- b\n", 2, "expected a mapping"),
    ("top-scalar", "3\n", 2, "expected a mapping"),
    ("two-documents", S + "---\n" + S, 2, "YAML"),
    ("syntax-error", "data: {kind: sine\n", 2, "YAML syntax error"),
    ("tab-indent", "data:\n\tkind: sine\n", 2, "YAML syntax error"),
    ("null-byte", S + "name: a\x00b\n", 2, "YAML"),
    ("huge-string", S + "name: " + "a/" * 450_000 + "\n", 2, "invalid 'name'"),
]

FILE_ROWS = [  # the config file itself
    Row("config-missing", ["summary", "{t}/nope.yaml"], 2, "config file not found"),
    Row("config-dir", ["summary", "{t}/d.yaml"], 2, "not a regular file", directory("d.yaml")),
    Row("config-fifo", ["summary", "{t}/f.yaml"], 2, "not a regular file", fifo("f.yaml")),
    Row("config-dev-zero", ["summary", "{t}/z.yaml"], 2, "not a regular file", symlink("z.yaml", "/dev/zero")),
    Row("config-too-big", ["summary", "{t}/big.yaml"], 2, "larger than 1,000,000 bytes", sparse("big.yaml", 2_000_000)),
    Row("config-not-utf8", ["summary", "{t}/l.yaml"], 2, "cannot read config", write("l.yaml", b"data: {kind: sine}\nname: caf\xe9\n")),
    Row("config-name-space", ["summary", "{t}/my config.yaml"], 0, "", write("my config.yaml", S)),
    Row("config-name-accent", ["summary", "{t}/café.yaml"], 0, "", write("café.yaml", S)),
    Row("config-name-dots", ["summary", "{t}/..yaml"], 0, "", write("..yaml", S)),
    Row("config-bundled-unknown", ["summary", "tiny/nope"], 2, "not found"),
]

SET_ROWS = [  # (id, --set item, exit code, fragment): `rnn summary tiny/sine_simple_rnn --set ITEM`
    ("dup-keys", "model={units: 3, units: 4}", 2, "duplicate key 'units'"),
    ("alias-bomb", f"model.x={SET_BOMB}", 2, "alias bomb"),
    ("brackets-3000", "model.units=" + "[" * 3000, 2, "nested deeper than 50"),
    ("braces-deep", "model.units=" + "{a: " * 100 + "1" + "}" * 100, 2, "nested deeper than 50"),
    ("python-tag", "model.units=!!python/object/apply:os.system ['true']", 2, "is not allowed"),
    ("units-true", "model.units=true", 2, "invalid 'model.units'"),
    ("units-quoted", "model.units='4'", 2, "invalid 'model.units'"),
    ("units-float", "model.units=4.5", 2, "invalid 'model.units'"),
    ("units-word", "model.units=four", 2, "invalid 'model.units'"),
    ("units-null", "model.units=null", 2, "invalid 'model.units'"),
    ("units-empty", "model.units=", 2, "invalid 'model.units'"),
    ("units-65536", "model.units=65536", 2, "GB of float32 weights"),
    ("units-list", "model.units=[1, 2]", 2, "invalid 'model.units'"),
    ("units-map", "model.units={a: 1}", 2, "invalid 'model.units'"),
    ("shuffle-quoted-off", "train.shuffle='off'", 2, "invalid 'train.shuffle'"),
    ("shuffle-int", "train.shuffle=0", 2, "invalid 'train.shuffle'"),
    ("lr-nan", "train.learning_rate=.nan", 2, "invalid 'train.learning_rate'"),
    ("lr-inf", "train.learning_rate=.inf", 2, "invalid 'train.learning_rate'"),
    ("lr-negative", "train.learning_rate=-1", 2, "invalid 'train.learning_rate'"),
    ("seed-negative", "seed=-1", 2, "invalid 'seed'"),
    ("seed-text", "seed=abc", 2, "invalid 'seed'"),
    ("name-newline", "name=a\nb", 2, "invalid 'name'"),
    ("name-huge", "name=" + "x/" * 100_000, 2, "invalid 'name'"),
    ("value-too-big", "name=" + "x" * 1_100_000, 2, "larger than 1,000,000 bytes"),
    ("no-equals", "model.units", 2, "expected KEY.PATH=VALUE"),
    ("empty-key", "=3", 2, "expected KEY.PATH=VALUE"),
    ("double-dot", "model..units=3", 2, "expected KEY.PATH=VALUE"),
    ("leading-dot", ".units=3", 2, "expected KEY.PATH=VALUE"),
    ("key-dash", "model.un-its=3", 2, "expected KEY.PATH=VALUE"),
    ("key-space", "model units=3", 2, "expected KEY.PATH=VALUE"),
    ("not-a-section", "model.units.x=3", 2, "is not a section"),
    ("section-scalar", "model=3", 2, "invalid 'model'"),
    ("section-list", "train=[1]", 2, "invalid 'train'"),
    ("unknown-key", "model.unitz=3", 2, "Did you mean 'units'?"),
    ("unknown-section", "modle.units=3", 2, "unknown key 'modle'"),
    ("data-kind", "data.kind=csv", 2, "invalid 'data.kind'"),
    ("data-text-key-on-sine", "data.path=/dev/zero", 2, "unknown key 'data.path'"),
    ("data-replace", "data=3", 2, "data"),
    ("cell-code", "model.cell=__import__('os')", 2, "invalid 'model.cell'"),
    ("encoding-on-sine", "encoding.kind=onehot", 2, "remove the encoding section"),
    ("devices-string", "train.devices=/gpu:0", 2, "invalid 'train.devices'"),
    ("epochs-huge", "train.epochs=10**9", 2, "invalid 'train.epochs'"),
    ("epochs-ok", "train.epochs=3", 0, ""),
    ("shuffle-yaml-off", "train.shuffle=off", 0, ""),  # YAML's own boolean, not the string 'off'
    ("value-with-equals", "name=a=b", 2, "invalid 'name'"),
    ("control-chars", "name=\x1b[31mred", 2, "unacceptable character #x001b"),
    ("unicode-line-sep", "name=a\u2028b", 2, "invalid 'name'"),
]

IMDB = str(TINY / "imdb_integer_simple_rnn.yaml")
TEXT = str(TINY / "text_char_lstm.yaml")


def train_data(path: str, config: str = IMDB) -> list[str]:
    return ["train", config, "--set", f"data.path={path}", "--out", "{t}/out"]


def url_row(id: str, url: str, fragment: str) -> Row:
    return Row(f"url-{id}", ["train", TEXT, "--set", f"data.url={url}", "--set", f"data.sha256={HEX}", "--out", "{t}/out"],
               2, fragment, env={"RNN_RECIPES_CACHE": "{t}/cache"})


DATA_ROWS = [
    Row("npz-zip-bomb", train_data("{t}/d.npz"), 2, "zip bomb", npz_bomb),
    Row("npz-header-1e15", train_data("{t}/d.npz"), 2, "declares 1,000,000,000,000,000 elements", npy_header_bomb),
    Row("npz-short-labels", train_data("{t}/d.npz"), 2, "one label per review", npz(x_train=GOOD_X, y_train=GOOD_Y[:1], x_test=GOOD_X, y_test=GOOD_Y)),
    Row("npz-string-reviews", train_data("{t}/d.npz"), 2, "not a list of integer word ids", npz(x_train=np.array(["good", "bad"]), y_train=GOOD_Y, x_test=GOOD_X, y_test=GOOD_Y)),
    Row("npz-string-labels", train_data("{t}/d.npz"), 2, "expected 0/1 labels", npz(x_train=GOOD_X, y_train=np.array(["pos", "neg"]), x_test=GOOD_X, y_test=GOOD_Y)),
    Row("npz-negative-ids", train_data("{t}/d.npz"), 2, "negative word id -5", npz(x_train=objects([1, -5], [2]), y_train=GOOD_Y, x_test=GOOD_X, y_test=GOOD_Y)),
    Row("npz-float-ids", train_data("{t}/d.npz"), 2, "not a list of integer word ids", npz(x_train=objects([1.5, 2.0], [2.0]), y_train=GOOD_Y, x_test=GOOD_X, y_test=GOOD_Y)),
    Row("npz-nan-labels", train_data("{t}/d.npz"), 2, "non-finite labels", npz(x_train=GOOD_X, y_train=np.array([np.nan, 1.0]), x_test=GOOD_X, y_test=GOOD_Y)),
    Row("npz-2d-labels", train_data("{t}/d.npz"), 2, "must be arrays of reviews and of labels", npz(x_train=GOOD_X, y_train=np.zeros((2, 2)), x_test=GOOD_X, y_test=GOOD_Y)),
    Row("npz-missing-array", train_data("{t}/d.npz"), 2, "not a valid imdb.npz", npz(x_train=GOOD_X, y_train=GOOD_Y)),
    Row("npz-pickle-code", train_data("{t}/d.npz"), 2, "not a valid imdb.npz", npz(x_train=objects(print, print), y_train=GOOD_Y, x_test=GOOD_X, y_test=GOOD_Y)),
    Row("npz-garbage", train_data("{t}/d.npz"), 2, "not a valid imdb.npz", write("d.npz", b"not a zip")),
    Row("npz-empty", train_data("{t}/d.npz"), 2, "not a valid imdb.npz", write("d.npz", b"")),
    Row("npz-fifo", train_data("{t}/d.npz"), 2, "is a FIFO, not a regular file", fifo("d.npz")),
    Row("npz-dir", train_data("{t}/d.npz"), 2, "is a directory, not a regular file", directory("d.npz")),
    Row("npz-dev-zero", train_data("/dev/zero"), 2, "device or special file"),
    Row("npz-link-dev-zero", train_data("{t}/d.npz"), 2, "device or special file", symlink("d.npz", "/dev/zero")),
    Row("npz-missing", train_data("{t}/nope.npz"), 2, "IMDB file not found"),
    Row("npz-over-cap", train_data("{t}/d.npz"), 2, "more than the 1,000 allowed", npz(x_train=GOOD_X, y_train=GOOD_Y, x_test=GOOD_X, y_test=GOOD_Y), env={"RNN_MAX_DATA_MB": "0.001"}),
    Row("npz-bad-cap-env", train_data("{t}/d.npz"), 2, "RNN_MAX_DATA_MB", npz(x_train=GOOD_X, y_train=GOOD_Y, x_test=GOOD_X, y_test=GOOD_Y), env={"RNN_MAX_DATA_MB": "lots"}),
    Row("text-fifo", train_data("{t}/c.txt", TEXT), 2, "is a FIFO", fifo("c.txt")),
    Row("text-dir", train_data("{t}/c.txt", TEXT), 2, "is a directory", directory("c.txt")),
    Row("text-dev-zero", train_data("/dev/zero", TEXT), 2, "device or special file"),
    Row("text-dev-urandom-link", train_data("{t}/c.txt", TEXT), 2, "device or special file", symlink("c.txt", "/dev/urandom")),
    Row("text-not-utf8", train_data("{t}/c.txt", TEXT), 2, "not UTF-8", write("c.txt", b"abc\xff\xfe")),
    Row("text-missing", train_data("{t}/nope.txt", TEXT), 2, "text file not found"),
    Row("text-over-cap", train_data("{t}/c.txt", TEXT), 2, "allowed", write("c.txt", "a" * 5000), env={"RNN_MAX_DATA_MB": "0.001"}),
    url_row("bracket", "http://[x/a.txt", "invalid url"),
    url_row("port-text", "http://example.com:abc/a.txt", "invalid url"),
    url_row("port-range", "http://example.com:99999/a.txt", "invalid url"),
    url_row("crlf", "http://example.com/a\r\nHost: evil", "control characters"),
    url_row("lf", "http://example.com/a\nb", "control characters"),
    url_row("space", "http://example.com/a b", "spaces"),
    url_row("ftp", "ftp://example.com/a.txt", "expected http(s)://"),
    url_row("file", "file:///etc/passwd", "expected http(s)://"),
    url_row("no-host", "http:///a.txt", "names no host"),
    url_row("nul", "http://example.com/a\x00b", "unacceptable character #x0000"),
]

FLAG_ROWS = [
    Row("generate-temp-nan", ["generate", "--seed", "a", "--temperature", "nan", "--run", "{t}"], 2, "--temperature must be 0"),
    Row("generate-temp-tiny", ["generate", "--seed", "a", "--temperature", "1e-320", "--run", "{t}"], 2, "--temperature must be 0"),
    Row("generate-temp-inf", ["generate", "--seed", "a", "--temperature", "inf", "--run", "{t}"], 2, "--temperature must be 0"),
    Row("generate-temp-negative", ["generate", "--seed", "a", "--temperature", "-1", "--run", "{t}"], 2, "--temperature must be 0"),
    Row("generate-temp-huge", ["generate", "--seed", "a", "--temperature", "1e300", "--run", "{t}"], 2, "--temperature must be 0"),
    Row("generate-length-zero", ["generate", "--seed", "a", "--length", "0", "--run", "{t}"], 2, "--length must be at least 1"),
    Row("generate-length-huge", ["generate", "--seed", "a", "--length", "100000000000", "--run", "{t}"], 2, "--length must be at most"),
    Row("generate-top-k-zero", ["generate", "--seed", "a", "--top-k", "0", "--run", "{t}"], 2, "--top-k must be at least 1"),
    Row("generate-rng-seed-negative", ["generate", "--seed", "a", "--rng-seed", "-1", "--run", "{t}"], 2, "--rng-seed must be between 0"),
    Row("generate-run-missing", ["generate", "--seed", "a", "--run", "{t}/nope"], 2, "run directory not found"),
    Row("generate-run-not-run", ["generate", "--seed", "a", "--run", "{t}"], 2, "is not a run directory"),
    Row("generate-run-file", ["generate", "--seed", "a", "--run", "{t}/f"], 2, "run directory not found", write("f", "x")),
    Row("generate-no-runs", ["generate", "--seed", "a"], 2, "no text run under runs/"),
    Row("evaluate-missing", ["evaluate", "{t}/nope"], 2, "run directory not found"),
    Row("evaluate-dev-null", ["evaluate", "/dev/null"], 2, "run directory not found"),
    Row("evaluate-fifo", ["evaluate", "{t}/f"], 2, "run directory not found", fifo("f")),
    Row("evaluate-empty-dir", ["evaluate", "{t}"], 2, "is not a run directory"),
    Row("evaluate-user-config", ["evaluate", "{t}/P"], 2, "is incomplete", user_dir),
    Row("evaluate-config-fifo", ["evaluate", "{t}"], 2, "run directory", fifo("config.yaml")),
    Row("summary-too-large", ["summary", IMDB, "--set", "data.num_words=10000000", "--set", "encoding.kind=embedding", "--set", "encoding.dim=65536"], 2, "parameters"),
    Row("train-no-config", ["train"], 2, "give a CONFIG to train"),
    Row("train-resume-and-out", ["train", "--resume", "{t}", "--out", "{t}/o"], 2, "takes no --out or --overwrite"),
    Row("train-resume-missing", ["train", "--resume", "{t}/nope"], 2, "run directory not found"),
    Row("train-resume-not-run", ["train", "--resume", "{t}"], 2, "is not a run directory"),
    Row("train-out-is-file", ["train", "tiny/sine_simple_rnn", "--out", "{t}/f"], 2, "exists and is not a directory", write("f", "x")),
    Row("train-out-link", ["train", "tiny/sine_simple_rnn", "--out", "{t}/l"], 2, "exists and is not a directory", symlink("l", "{t}")),
    Row("train-overwrite-user-dir", ["train", "tiny/sine_simple_rnn", "--out", "{t}/P", "--overwrite"], 2, "is not a run directory", user_dir),
    Row("train-overwrite-run-plus-notes", ["train", "tiny/sine_simple_rnn", "--out", "{t}/P", "--overwrite"], 2, "holds 'notes.txt'", run_config_and_notes),
    Row("train-overwrite-garbage-manifest", ["train", "tiny/sine_simple_rnn", "--out", "{t}/P", "--overwrite"], 2, "is not a run directory", write("P/manifest.json", "{")),
    Row("train-overwrite-empty-manifest", ["train", "tiny/sine_simple_rnn", "--out", "{t}/P", "--overwrite"], 2, "is not a run directory", write("P/manifest.json", "[]")),
    Row("train-overwrite-cwd", ["train", "tiny/sine_simple_rnn", "--out", ".", "--overwrite"], 2, "would replace the working directory"),
    Row("train-overwrite-dotdot", ["train", "tiny/sine_simple_rnn", "--out", "..", "--overwrite"], 2, "would replace the working directory"),
    Row("train-lock-symlink", ["train", "tiny/sine_simple_rnn", "--out", "{t}/P"], 2, "cannot lock", both(directory("P"), write("target", "x"), symlink("P/.lock", "{t}/target"))),
    Row("train-lock-fifo", ["train", "tiny/sine_simple_rnn", "--out", "{t}/P"], 2, "not a regular file", both(directory("P"), fifo("P/.lock"))),
    Row("train-not-empty", ["train", "tiny/sine_simple_rnn", "--out", "{t}/P"], 2, "already exists and is not empty", write("P/x", "x")),
    Row("train-user-config-no-overwrite", ["train", "tiny/sine_simple_rnn", "--out", "{t}/P"], 2, "holds an unfinished run", user_dir),
    Row("numpy-sine-units-huge", ["numpy-sine", "--units", "1000000000"], 2, "--units 1 to 4,096"),
    Row("numpy-sine-lr-nan", ["numpy-sine", "--lr", "nan"], 2, "--lr above 0"),
    Row("numpy-sine-epochs-negative", ["numpy-sine", "--epochs", "-1"], 2, "--epochs must be 1"),
    Row("diagnose-steps-negative", ["diagnose", "gradients", "tiny/sine_simple_rnn", "--steps", "-1"], 2, "--steps must be 0 or more"),
    Row("diagnose-batch-zero", ["diagnose", "gradients", "tiny/sine_simple_rnn", "--batch", "0"], 2, "--steps must be 0 or more"),
    Row("diagnose-scale-nan", ["diagnose", "gradients", "tiny/sine_simple_rnn", "--recurrent-scale", "nan"], 2, "--recurrent-scale"),
    Row("recipe-missing", ["recipe", "run", "{t}/nope.yaml"], 2, "not found"),
    Row("recipe-fifo", ["recipe", "run", "{t}/r.yaml"], 2, "not a regular file", fifo("r.yaml")),
    Row("recipe-bomb", ["recipe", "run", "{t}/r.yaml"], 2, "alias bomb", write("r.yaml", BOMB)),
    Row("sweep-bad-axis", ["sweep", "tiny/sine_simple_rnn", "model.units"], 2, "model.units"),
]

def recipe_out(metrics: str = '{"loss": 0.01}', history: str = "epoch,loss\n1,0.01\n", special=None):
    """Finished-looking variants of tiny/sine_cells under {t}/out, with the files `rnn recipe check` reads."""

    def setup(t: Path) -> None:
        from rnn_recipes.leaderboard import variant_dir
        from rnn_recipes.recipes import load_recipe

        recipe = load_recipe("tiny/sine_cells")
        for variant in recipe.variants:
            run = variant_dir(t / "out", recipe, variant)
            run.mkdir(parents=True)
            (run / "manifest.json").write_text("{}")
            (run / "metrics.json").write_text(metrics)
            (run / "history.csv").write_text(history)
            if special:
                special(run)

    return setup


def recipe_row(id: str, setup, fragment: str) -> Row:
    return Row(f"recipe-check-{id}", ["recipe", "check", "tiny/sine_cells", "--out", "{t}/out"], 2, fragment, setup)


RECIPE_ROWS = [
    recipe_row("metrics-list", recipe_out(metrics="[]"), "expected a JSON object of metrics"),
    recipe_row("metrics-invalid", recipe_out(metrics="{"), "expected a JSON object of metrics"),
    recipe_row("metrics-fifo", recipe_out(special=lambda r: ((r / "metrics.json").unlink(), os.mkfifo(r / "metrics.json"))), "FIFO"),
    recipe_row("metrics-dev-zero", recipe_out(special=lambda r: ((r / "metrics.json").unlink(), (r / "metrics.json").symlink_to("/dev/zero"))), "symlink"),
    recipe_row("metrics-missing", recipe_out(special=lambda r: (r / "metrics.json").unlink()), "not found"),
    recipe_row("history-text", recipe_out(history="epoch,loss\n1,abc\n"), "expected a column of numbers"),
    recipe_row("history-ragged", recipe_out(history="epoch,loss\n1\n"), "expected a column of numbers"),
    recipe_row("history-fifo", recipe_out(special=lambda r: ((r / "history.csv").unlink(), os.mkfifo(r / "history.csv"))), "FIFO"),
    recipe_row("history-dir", recipe_out(special=lambda r: ((r / "history.csv").unlink(), (r / "history.csv").mkdir())), "directory"),
    recipe_row("no-runs", None, "has no finished run"),
]

RUN_FILES = ["config.yaml", "manifest.json", "metrics.json", "model.keras", "history.csv"]
MISSING = {"config.yaml": "is not a run directory", "manifest.json": "is incomplete"} | {
    n: "not found" for n in ("metrics.json", "model.keras", "history.csv")
}
SPECIAL = {"config.yaml": "is not a run directory"} | {n: None for n in RUN_FILES[1:]}  # a run needs a real config.yaml


def evaluate_row(id: str, setup, fragment: str, run: str = "sine") -> Row:
    return Row(id, ["evaluate", "{run}"], 2, fragment, setup, run=run)


def generate_row(id: str, setup, fragment: str) -> Row:
    return Row(id, ["generate", "--seed", "t", "--length", "1", "--run", "{run}"], 2, fragment, setup, run="text")


def resume_row(id: str, setup, fragment: str, *extra: str, run: str = "sine") -> Row:
    return Row(id, ["train", "--resume", "{run}", *extra], 2, fragment, setup, run=run)


RUN_ROWS = [
    *[r for name in RUN_FILES for r in (
        evaluate_row(f"{name}-missing", remove(f"run/{name}"), MISSING[name]),
        evaluate_row(f"{name}-dev-zero", symlink(f"run/{name}", "/dev/zero"), SPECIAL[name] or "symlink"),
        evaluate_row(f"{name}-fifo", fifo(f"run/{name}"), SPECIAL[name] or "FIFO"),
        evaluate_row(f"{name}-directory", directory(f"run/{name}"), SPECIAL[name] or "directory"),
        evaluate_row(f"{name}-symlink-out", both(lambda t, n=name: shutil.copy(t / "run" / n, t / n), symlink(f"run/{name}", f"{{t}}/{name}")), "symlink"),
        evaluate_row(f"{name}-garbage", write(f"run/{name}", b"garbage{"), "unreadable" if name == "manifest.json" else "changed"),
    )],
    evaluate_row("manifest-files-list", manifest([]), "'files' must map"),
    evaluate_row("manifest-files-empty", manifest({}), "does not list config.yaml, model.keras, metrics.json"),
    evaluate_row("manifest-etc-hostname", manifest({"/etc/hostname": HEX}), "'files' must map"),
    evaluate_row("manifest-dotdot", manifest({"../x": HEX}), "'files' must map"),
    evaluate_row("manifest-hidden", manifest({".lock": HEX}), "'files' must map"),
    evaluate_row("manifest-bad-digest", manifest({"config.yaml": "abc"}), "'files' must map"),
    evaluate_row("manifest-digest-int", manifest({"config.yaml": 3}), "'files' must map"),
    evaluate_row("manifest-top-list", write("run/manifest.json", "[]"), "unreadable"),
    evaluate_row("manifest-null", write("run/manifest.json", "null"), "unreadable"),
    evaluate_row("manifest-deep", write("run/manifest.json", "[" * 100_000 + "]" * 100_000), "unreadable"),
    evaluate_row("manifest-huge", sparse("run/manifest.json", 20_000_000), "more than the 16,000,000 allowed"),
    evaluate_row("manifest-lists-itself", manifest({"manifest.json": HEX}), "'files' must map"),
    evaluate_row("manifest-unlisted-model", manifest_without("model.keras"), "does not list model.keras"),
    evaluate_row("manifest-unlisted-config", manifest_without("config.yaml"), "does not list config.yaml"),
    evaluate_row("manifest-unlisted-metrics", manifest_without("metrics.json"), "does not list metrics.json"),
    generate_row("manifest-unlisted-vocab", manifest_without("vocab.json"), "does not list vocab.json"),
    evaluate_row("metrics-list", content("metrics.json", "[]"), "expected a JSON object of metrics"),
    evaluate_row("metrics-number", content("metrics.json", "3"), "expected a JSON object of metrics"),
    evaluate_row("metrics-invalid", content("metrics.json", "{"), "not valid JSON"),
    evaluate_row("metrics-deep", content("metrics.json", "[" * 100_000 + "]" * 100_000), "not valid JSON"),
    evaluate_row("metrics-not-utf8", content("metrics.json", b"{\"a\": \"\xff\"}"), "not UTF-8"),
    evaluate_row("config-invalid-units", content("config.yaml", S + "model: {units: true}\n"), "its config no longer loads"),
    evaluate_row("config-alias-bomb", content("config.yaml", BOMB + S), "alias bomb"),
    evaluate_row("config-empty", content("config.yaml", ""), "config is empty"),
    evaluate_row("model-not-zip", content("model.keras", b"not a zip"), "not a valid .keras file"),
    evaluate_row("model-empty", content("model.keras", b""), "not a valid .keras file"),
    evaluate_row("model-no-config", model_edit(lambda m: {k: v for k, v in m.items() if k != "config.json"}), "not a valid .keras file"),
    evaluate_row("model-config-list", model_edit(lambda m: {**m, "config.json": b"[]"}), "Keras cannot load it"),
    evaluate_row("model-config-deep", model_edit(lambda m: {**m, "config.json": b"[" * 100_000 + b"]" * 100_000}), "not a valid .keras file"),
    evaluate_row("model-config-nested-200", model_edit(lambda m: {**m, "config.json": b"[" * 300 + b"]" * 300}), "nests deeper than 200"),
    evaluate_row("model-lambda", model_edit(lambda m: {**m, "config.json": b'{"class_name": "Lambda"}'}), "Lambda"),
    evaluate_row("model-foreign-module", model_edit(lambda m: {**m, "config.json": b'{"module": "evil.layers"}'}), "outside Keras"),
    evaluate_row("model-missing-weights", model_edit(lambda m: {k: v for k, v in m.items() if not k.endswith(".h5")}), "Keras cannot load it"),
    evaluate_row("model-zip-bomb", model_edit(lambda m: declared_size(keras_zip({**m, "a": b"x", "b": b"y"}), 0xFFFFFFF0)), "zip bomb"),
    evaluate_row("model-weights-garbage", model_edit(lambda m: {**m, **{k: b"garbage" for k in m if k.endswith(".h5")}}), "Keras cannot load it"),
    generate_row("vocab-tokens-number", content("vocab.json", '{"tokens": 3}'), "expected {\"tokens\""),
    generate_row("vocab-empty-object", content("vocab.json", "{}"), "expected {\"tokens\""),
    generate_row("vocab-empty-list", content("vocab.json", '{"tokens": []}'), "expected {\"tokens\""),
    generate_row("vocab-ints", content("vocab.json", '{"tokens": [1, 2]}'), "expected {\"tokens\""),
    generate_row("vocab-duplicates", content("vocab.json", '{"tokens": ["a", "a"]}'), "expected {\"tokens\""),
    generate_row("vocab-list", content("vocab.json", '["a"]'), "expected {\"tokens\""),
    generate_row("vocab-invalid", content("vocab.json", "{"), "not valid JSON"),
    generate_row("vocab-fifo", fifo("run/vocab.json"), "FIFO"),
    generate_row("vocab-dev-zero", symlink("run/vocab.json", "/dev/zero"), "symlink"),
    generate_row("vocab-fewer-than-outputs", content("vocab.json", json.dumps({"level": "char", "tokens": list("abct")})), "softmax over its 4-token vocabulary"),
    generate_row("model-softplus-head", model_edit(lambda m: {**m, "config.json": m["config.json"].replace(b'"softmax"', b'"softplus"')}), "activation 'softplus'"),
    generate_row("generate-sine-run", lambda t: (shutil.rmtree(t / "run"), shutil.copytree(t.parent / "sine-run", t / "run")), "generate needs a text run"),
    resume_row("resume-finished", None, "is a finished run"),
    resume_row("state-epoch-negative", state(lambda s: {**s, "epoch": -3}), "state.json is unreadable or altered"),
    resume_row("state-epoch-string", state(lambda s: {**s, "epoch": "3"}), "state.json is unreadable or altered"),
    resume_row("state-epoch-bool", state(lambda s: {**s, "epoch": True}), "state.json is unreadable or altered"),
    resume_row("state-history-number", state(lambda s: {**s, "history": {"loss": 5}}), "state.json is unreadable or altered"),
    resume_row("state-history-short", state(lambda s: {**s, "history": {"loss": [1.0]}}), "state.json is unreadable or altered"),
    resume_row("state-history-strings", state(lambda s: {**s, "history": {"loss": ["a", "b", "c"]}}), "state.json is unreadable or altered"),
    resume_row("state-missing-epoch", state(lambda s: {k: v for k, v in s.items() if k != "epoch"}), "state.json is unreadable or altered"),
    resume_row("state-missing-model", state(lambda s: {k: v for k, v in s.items() if k != "model"}), "state.json is unreadable or altered"),
    resume_row("state-model-path", state(lambda s: {**s, "model": "../../model.keras"}), "state.json is unreadable or altered"),
    resume_row("state-model-int", state(lambda s: {**s, "model": 3}), "state.json is unreadable or altered"),
    resume_row("state-sha-wrong", state(lambda s: {**s, "model_sha256": HEX}), "missing or changed"),
    resume_row("state-sha-short", state(lambda s: {**s, "model_sha256": "ab"}), "state.json is unreadable or altered"),
    resume_row("state-best-path", state(lambda s: {**s, "early_stopping": {"best_weights": "/etc/passwd"}}), "state.json is unreadable or altered"),
    resume_row("state-es-list", state(lambda s: {**s, "early_stopping": [1]}), "state.json is unreadable or altered"),
    resume_row("state-list", state("[]"), "state.json is unreadable or altered"),
    resume_row("state-invalid", state("{"), "state.json is unreadable or altered"),
    resume_row("state-deep", state("[" * 100_000 + "]" * 100_000), "state.json is unreadable or altered"),
    resume_row("state-fifo", both(state(lambda s: s), fifo("run/checkpoint/state.json")), "FIFO"),
    resume_row("state-dev-zero", both(state(lambda s: s), symlink("run/checkpoint/state.json", "/dev/zero")), "symlink"),
    resume_row("state-directory", both(state(lambda s: s), directory("run/checkpoint/state.json")), "directory"),
    resume_row("state-config-changed", state(lambda s: s), "cannot resume: model.units changed", "--set", "model.units=3"),
    resume_row("state-epochs-fewer", state(lambda s: s), "train.epochs (2) must be at least that", "--set", "train.epochs=2"),
    resume_row("state-data-changed", state(lambda s: {**s, "data_sha256": HEX}), "the data changed since the checkpoint"),
    resume_row("state-checkpoint-garbage", both(state(lambda s: s), write("run/checkpoint/epoch-0003.keras", b"x")), "missing or changed"),
    Row("replaces-victim", ["train", "--resume", "{t}/o/.rp.new"], 2, "not the run this staging directory was made for", staging("victim"), run="sine"),
    Row("replaces-empty", ["train", "--resume", "{t}/o/.rp.new"], 2, "not the run this staging directory was made for", staging(""), run="sine"),
    Row("replaces-traversal", ["train", "--resume", "{t}/o/.rp.new"], 2, "not the run this staging directory was made for", staging("../../x"), run="sine"),
    Row("replaces-absolute", ["train", "--resume", "{t}/o/.rp.new"], 2, "not the run this staging directory was made for", staging("/etc"), run="sine"),
    Row("replaces-user-dir", ["train", "--resume", "{t}/o/.rp.new"], 2, "it will not be replaced", both(staging("rp"), lambda t: (t / "o" / "rp").mkdir(), write("o/rp/notes.txt", "thesis")), run="sine"),
    Row("replaces-fifo", ["train", "--resume", "{t}/o/.rp.new"], 2, "FIFO", both(staging("rp"), fifo("o/.rp.new/checkpoint/replaces")), run="sine"),
    Row("replaces-huge", ["train", "--resume", "{t}/o/.rp.new"], 2, "allowed", both(staging("rp"), sparse("o/.rp.new/checkpoint/replaces", 20_000_000)), run="sine"),
    Row("staging-user-dir", ["train", "tiny/sine_simple_rnn", "--out", "{t}/run", "--overwrite"], 2, "remove it yourself", both(directory(".run.new"), write(".run.new/notes.txt", "thesis")), run="sine"),
    Row("overwrite-run-with-link", ["train", "tiny/sine_simple_rnn", "--out", "{t}/run", "--overwrite"], 2, "a symlink", symlink("run/extra", "/etc"), run="sine"),
    Row("overwrite-run-with-extra-dir", ["train", "tiny/sine_simple_rnn", "--out", "{t}/run", "--overwrite"], 2, "holds 'src'", directory("run/src"), run="sine"),
]

RUN_ROWS = [Row(**{**r.__dict__, "id": f"run-{r.id}"}) for r in RUN_ROWS]

ALL_FAST = (
    [Row(f"config-{id}", ["summary", "{t}/c.yaml"], code, frag, write("c.yaml", text)) for id, text, code, frag in CONFIG_ROWS]
    + FILE_ROWS
    + [Row(f"set-{id}", ["summary", "tiny/sine_simple_rnn", "--set", item], code, frag) for id, item, code, frag in SET_ROWS]
    + DATA_ROWS
    + FLAG_ROWS
    + RECIPE_ROWS
)


def test_the_corpus_is_large():
    assert len(ALL_FAST) + len(RUN_ROWS) >= 200
    assert len({r.id for r in ALL_FAST + RUN_ROWS}) == len(ALL_FAST) + len(RUN_ROWS), "row ids must be unique"


@pytest.fixture
def sandbox(tmp_path, monkeypatch):
    t = tmp_path / "sandbox"
    t.mkdir()
    monkeypatch.chdir(t)
    monkeypatch.delenv("RNN_DEBUG", raising=False)
    return t


@pytest.mark.parametrize("row", ALL_FAST, ids=lambda r: r.id)
def test_hostile_input(row: Row, sandbox: Path):
    if row.env:
        row = Row(**{**row.__dict__, "env": {k: v.replace("{t}", str(sandbox)) for k, v in row.env.items()}})
    check_row(row, sandbox)
    if row.id in ("train-overwrite-user-dir", "train-user-config-no-overwrite", "evaluate-user-config"):
        assert (sandbox / "P" / "notes.txt").read_text() == "thesis" and (sandbox / "P" / "src").is_dir()
    if row.id.startswith("train-overwrite"):
        assert not (sandbox / ".lock").exists() and not (sandbox / "P" / ".lock").exists()


@pytest.fixture(scope="module")
def trained(tiny_runs):
    return {"sine": tiny_runs["sine_simple_rnn"], "text": tiny_runs["text_char_lstm"]}


@pytest.mark.slow
@pytest.mark.parametrize("row", RUN_ROWS, ids=lambda r: r.id)
def test_hostile_run_directory(row: Row, sandbox: Path, trained):
    shutil.copytree(trained["sine"], sandbox.parent / "sine-run")
    check_row(row, sandbox, trained)
    if row.id.startswith("replaces-"):
        victim = sandbox / "o" / "victim" / "precious.txt"
        assert not (sandbox / "o" / "victim").exists() or victim.read_text() == "thesis"
        if (sandbox / "o" / "rp").exists():
            assert (sandbox / "o" / "rp" / "notes.txt").read_text() == "thesis"
    if row.id.startswith("state-"):  # a refused resume rewrites nothing
        assert not (sandbox / "run" / "manifest.json").exists()


# --- what a table row cannot express -------------------------------------------------


@pytest.mark.slow
def test_resume_after_the_corpus_changed_is_refused_before_anything_is_rewritten(sandbox, trained):
    shutil.copytree(trained["text"], sandbox / "run")
    from rnn_recipes.data import default_corpus

    corpus = sandbox / "corpus.txt"
    corpus.write_text(default_corpus())
    config = sandbox / "run" / "config.yaml"
    config.write_text(config.read_text().replace("path: null", f"path: {corpus}", 1))
    interrupted(sandbox)
    corpus.write_text(default_corpus()[::-1])  # same characters, other text: the weights no longer fit it
    before = {p.name: p.read_bytes() for p in (sandbox / "run").iterdir() if p.is_file()}
    line = check_row(Row("corpus-changed", ["train", "--resume", "{run}"], 2, "the data changed since the checkpoint"), sandbox)
    assert "cannot resume" in line
    assert {p.name: p.read_bytes() for p in (sandbox / "run").iterdir() if p.is_file()} == before


def test_a_recipe_never_removes_a_variant_another_process_trains(tmp_path):
    from rnn_recipes.errors import RunError
    from rnn_recipes.leaderboard import run_recipe, variant_dir
    from rnn_recipes.recipes import load_recipe
    from rnn_recipes.rundir import _lock, save_config

    recipe = load_recipe("tiny/sine_cells")
    run_dir = variant_dir(tmp_path, recipe, recipe.variants[0])
    run_dir.mkdir(parents=True)
    save_config(run_dir, recipe.variants[0].config)  # interrupted, or still training in another process
    (run_dir / "epoch-notes").write_text("kept")
    fd = _lock(run_dir)  # the other process
    try:
        with pytest.raises(RunError, match="is in use by another training"):
            run_recipe(recipe, tmp_path, log=lambda line: None)
    finally:
        os.close(fd)
    assert (run_dir / "epoch-notes").read_text() == "kept" and (run_dir / "config.yaml").is_file()


class _Server:
    """A local HTTP server whose answer a test chooses: a body, a declared length, or an endless stream."""

    def __init__(self, body: bytes = b"", length: int | None = None, endless: bool = False):
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                self.send_response(200)
                if length is not None or not endless:
                    self.send_header("Content-Length", str(length if length is not None else len(body)))
                self.end_headers()
                try:
                    if endless:
                        while not server.stop.is_set():
                            self.wfile.write(b"a" * 65536)
                    else:
                        self.wfile.write(body)
                except OSError:
                    pass

            def log_message(self, *args):
                pass

        self.stop = threading.Event()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/corpus.txt"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.httpd.shutdown()
        self.httpd.server_close()


def _download(tmp_path, monkeypatch, url: str, sha: str):
    from rnn_recipes.config_data import TextData
    from rnn_recipes.data import read_corpus

    monkeypatch.setenv("RNN_RECIPES_CACHE", str(tmp_path / "cache"))
    return read_corpus(TextData(url=url, sha256=sha))


def test_an_endless_download_stops_at_the_cap(tmp_path, monkeypatch):
    from rnn_recipes.errors import DataError

    monkeypatch.setenv("RNN_MAX_DATA_MB", "1")
    with _Server(endless=True) as server, pytest.raises(DataError, match="larger than 1,000,000 bytes; stopped"):
        _download(tmp_path, monkeypatch, server.url, HEX)
    assert not any((tmp_path / "cache").iterdir())


def test_a_download_declaring_too_much_is_refused_before_reading(tmp_path, monkeypatch):
    from rnn_recipes.errors import DataError

    monkeypatch.setenv("RNN_MAX_DATA_MB", "1")
    with _Server(body=b"abc", length=10**12) as server, pytest.raises(DataError, match="is 1,000,000,000,000 bytes"):
        _download(tmp_path, monkeypatch, server.url, HEX)
    assert not any((tmp_path / "cache").iterdir())


def test_a_correctly_hashed_download_that_is_not_utf8_is_not_cached(tmp_path, monkeypatch):
    import hashlib

    from rnn_recipes.errors import DataError

    body = b"caf\xe9 latin-1"
    with _Server(body=body) as server, pytest.raises(DataError, match="not UTF-8"):
        _download(tmp_path, monkeypatch, server.url, hashlib.sha256(body).hexdigest())
    assert not any((tmp_path / "cache").iterdir()), "a bad file must not stay cached"


def test_a_wrong_hash_keeps_nothing(tmp_path, monkeypatch):
    from rnn_recipes.errors import DataError

    with _Server(body=b"hello") as server, pytest.raises(DataError, match="sha256 mismatch"):
        _download(tmp_path, monkeypatch, server.url, HEX)
    assert not any((tmp_path / "cache").iterdir())


def test_an_unexpected_error_is_one_line_exit_1_and_a_traceback_only_on_request(monkeypatch, tmp_path):
    import rnn_recipes.runs

    def broken(run_dir):
        raise ZeroDivisionError("division by zero\nsecond line")

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("RNN_DEBUG", raising=False)
    monkeypatch.setattr(rnn_recipes.runs, "load_run", broken)
    result = invoke(["evaluate", "x"])
    assert result.exit_code == 1 and "Traceback" not in result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: `rnn evaluate` failed unexpectedly with ZeroDivisionError: division by zero")
    assert "please report it" in lines[0] and "--debug" in lines[0]
    for argv, env in ((["--debug", "evaluate", "x"], None), (["evaluate", "x"], {"RNN_DEBUG": "1"})):
        result = invoke(argv, env)
        assert isinstance(result.exception, ZeroDivisionError), result.output
    assert invoke(["evaluate", "x"]).exit_code == 1, "--debug lasts one command"


def test_an_unreadable_data_file_is_one_line(sandbox, monkeypatch):
    """EIO from a failing disk while the corpus is read: one line, not a traceback."""
    import errno

    import rnn_recipes.fileio as fileio

    class FailingFile:
        def __init__(self, fd):
            os.close(fd)

        def read(self, n=-1):
            raise OSError(errno.EIO, os.strerror(errno.EIO))

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

    (sandbox / "c.txt").write_text("hello world")
    monkeypatch.setattr(fileio.os, "fdopen", lambda fd, mode: FailingFile(fd))
    line = check_row(Row("text-eio", train_data("{t}/c.txt", TEXT), 2, "Input/output error"), sandbox)
    assert line.startswith("error: cannot read corpus")
