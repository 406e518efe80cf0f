"""The `rnn` command line: a thin layer over the library.

TensorFlow is imported inside the commands that need it, so `rnn --help`
answers at once. Every user error ends as one line on stderr and exit code 2.
"""

from __future__ import annotations

import json
import sys
from contextlib import contextmanager, redirect_stdout
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer

app = typer.Typer(
    help="Train recurrent networks (SimpleRNN, LSTM, GRU) from a YAML config.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

CONFIG_HELP = "A YAML config file, or the name of a bundled config (see `rnn configs`)."


def bundled_configs_dir() -> Path:
    """configs/ inside an installed wheel, else the source checkout's top-level configs/."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "configs", here.parents[1] / "configs"):
        if candidate.is_dir():
            return candidate
    return here / "configs"


def resolve_config(name: str) -> Path:
    path = Path(name)
    if path.exists() or path.suffix in (".yaml", ".yml") or "/" in name:
        return path
    return bundled_configs_dir() / f"{name}.yaml"


@contextmanager
def user_errors():
    """Turn the library's user-facing errors into `error: ...` and exit code 2."""
    from rnn_recipes.config import ConfigError
    from rnn_recipes.data import DataError
    from rnn_recipes.distribute import DistributeError
    from rnn_recipes.generate import GenerateError
    from rnn_recipes.runs import RunError

    try:
        yield
    except (ConfigError, DataError, RunError, GenerateError, DistributeError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    except KeyboardInterrupt:
        typer.echo("error: interrupted", err=True)
        raise typer.Exit(130) from None


@app.command()
def train(
    config: Annotated[str, typer.Argument(help=CONFIG_HELP, show_default=False)],
    set_: Annotated[
        Optional[list[str]],
        typer.Option("--set", help="Override a config key, e.g. --set model.units=64 (repeatable)."),
    ] = None,
    out: Annotated[Optional[Path], typer.Option(help="Run directory (default: output.dir/<name>-<timestamp>).")] = None,
) -> None:
    """Train the model a config describes and save it to a run directory."""
    with user_errors():
        from rnn_recipes.config import load_config

        cfg = load_config(resolve_config(config), set_ or [])
        from rnn_recipes.train import train as train_run

        with redirect_stdout(sys.stderr):  # progress to stderr; stdout carries only the run directory
            run_dir = train_run(cfg, out)
    typer.echo(str(run_dir))


@app.command()
def evaluate(
    run: Annotated[Path, typer.Argument(help="A run directory written by `rnn train`.", show_default=False)],
) -> None:
    """Reload a trained run and recompute its test metrics."""
    with user_errors():
        from rnn_recipes.runs import load_run

        load_run(run)  # refuse a bad directory before importing TensorFlow
        from rnn_recipes.evaluate import evaluate_run

        metrics, saved = evaluate_run(run)
    typer.echo(json.dumps(metrics, indent=2))
    drift = {k: (v, saved.get(k)) for k, v in metrics.items() if isinstance(v, float) and saved.get(k) is not None}
    worst = max((abs(a - b) for a, b in drift.values()), default=0.0)
    typer.echo(f"max difference from the metrics saved at training time: {worst:.3g}", err=True)


@app.command()
def summary(
    config: Annotated[str, typer.Argument(help=CONFIG_HELP, show_default=False)],
    set_: Annotated[Optional[list[str]], typer.Option("--set", help="Override a config key (repeatable).")] = None,
) -> None:
    """Print the layer table and parameter counts, without loading the dataset or training."""
    with user_errors():
        from rnn_recipes.config import load_config
        from rnn_recipes.data import data_spec

        cfg = load_config(resolve_config(config), set_ or [])
        spec = data_spec(cfg)
        from rnn_recipes.model import build_model, summary_text

        typer.echo(summary_text(build_model(cfg, spec)))


@app.command()
def configs() -> None:
    """List the bundled configs, one line each."""
    root = bundled_configs_dir()
    for path in sorted(root.rglob("*.yaml")):
        first = path.read_text(encoding="utf-8").splitlines()[0] if path.stat().st_size else ""
        about = first.lstrip("# ").strip() if first.startswith("#") else ""
        typer.echo(f"{str(path.relative_to(root).with_suffix('')):<34} {about}")


class Mode(str, Enum):
    auto = "auto"
    stateful = "stateful"
    window = "window"


@app.command()
def generate(
    seed: Annotated[str, typer.Option(help="Text to start from; every character must be in the run's vocabulary.")],
    run: Annotated[
        Optional[Path], typer.Option(help="A text run directory (default: the newest text run under runs/).")
    ] = None,
    length: Annotated[int, typer.Option(help="How many tokens to generate.")] = 200,
    temperature: Annotated[float, typer.Option(help="0 is greedy; below 1 is careful, above 1 daring.")] = 1.0,
    top_k: Annotated[Optional[int], typer.Option(help="Sample only among the K most likely tokens.")] = None,
    rng_seed: Annotated[Optional[int], typer.Option(help="Fix the sampling so the output repeats.")] = None,
    mode: Annotated[
        Mode, typer.Option(help="stateful carries the state; window re-reads the last seq_length tokens; auto picks by the run's objective.")
    ] = Mode.auto,
) -> None:
    """Generate text from a trained text run, streaming it to stdout."""
    with user_errors():
        from rnn_recipes.generate import GenerateError, generate as generate_ids, seed_ids, detokenize
        from rnn_recipes.runs import find_runs, load_run

        if length < 1:
            raise GenerateError(f"--length must be at least 1; received {length}")
        if temperature < 0:
            raise GenerateError(f"--temperature must be 0 (greedy) or more; received {temperature}")
        if top_k is not None and top_k < 1:
            raise GenerateError(f"--top-k must be at least 1; received {top_k}")
        if run is None:
            found = find_runs(Path("runs"), kind="text")
            if not found:
                raise GenerateError("no text run under runs/; train one first, e.g. `rnn train hello_lstm`")
            run = found[0]
            typer.echo(f"using run {run}", err=True)
        loaded = load_run(run)
        data = loaded.config.data
        if data.kind != "text":
            raise GenerateError(f"{run} is a {data.kind} run; generate needs a text run (data.kind: text)")
        ids = seed_ids(seed, loaded.vocab, data.level, data.lowercase)
        chosen = mode.value if mode != Mode.auto else ("stateful" if data.objective == "many_to_many" else "window")

        from rnn_recipes.generate import Engine

        engine = Engine(loaded.load_model())
        if chosen == "stateful" and engine.bidirectional:
            raise GenerateError("a bidirectional model reads the future; use --mode window")
        import numpy as np

        stream = generate_ids(
            engine, ids, length, mode=chosen, window=data.seq_length,
            temperature=temperature, top_k=top_k, rng=np.random.default_rng(rng_seed),
        )
        sys.stdout.write(seed)
        for token in stream:
            sys.stdout.write(detokenize(loaded.vocab[token], data.level, first=False))
            sys.stdout.flush()
        sys.stdout.write("\n")


def main() -> None:  # pragma: no cover - `python -m rnn_recipes.cli`
    app()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
