"""The `rnn` command line: a thin layer over the library.

TensorFlow is imported inside the commands that need it, so `rnn --help`
answers at once. Every user error ends as one line on stderr and exit code 2.
"""

from __future__ import annotations

import json
import os
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


def resolve_config(name: str) -> Path:
    """A config path, or the bundled config of that name (`hello_lstm`, `tiny/sine_simple_rnn`)."""
    from rnn_recipes.bundled import resolve_named

    return resolve_named(name, "configs")


DEBUG_ENV = "RNN_DEBUG"  # set to 1 to see the traceback of an unexpected error


@app.callback()
def _global_options(
    ctx: typer.Context,
    debug: Annotated[
        bool, typer.Option("--debug", help=f"Show the traceback of an unexpected error (or set {DEBUG_ENV}=1).")
    ] = False,
) -> None:
    """Train recurrent networks (SimpleRNN, LSTM, GRU) from a YAML config."""
    global _COMMAND, _DEBUG
    _COMMAND = f"rnn {ctx.invoked_subcommand}" if ctx.invoked_subcommand else "rnn"
    _DEBUG = debug


_COMMAND = "rnn"  # the command running, named in an unexpected error
_DEBUG = False  # --debug: let an unexpected error's traceback through


@contextmanager
def user_errors():
    """The one place where errors become what a user sees.

    A user error is one line, `error: ...`, and exit code 2. Anything else is a
    bug: one line naming the command and the exception type, a request for a
    report, and exit code 1; its traceback only with --debug or RNN_DEBUG=1.
    """
    from rnn_recipes.errors import Interrupted, UserError
    from rnn_recipes.safeyaml import one_line

    try:
        yield
    except UserError as exc:
        typer.echo(one_line(f"error: {_capped(str(exc))}"), err=True)
        raise typer.Exit(2) from None
    except Interrupted as exc:  # SIGINT/SIGTERM during training: the message holds the resume command
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(exc.exit_code) from None
    except KeyboardInterrupt:
        typer.echo("error: interrupted", err=True)
        raise typer.Exit(130) from None
    except (typer.Exit, typer.Abort, typer.BadParameter):
        raise
    except Exception as exc:  # noqa: BLE001 - the last line of defence: never a raw traceback
        if _DEBUG or os.environ.get(DEBUG_ENV, "") not in ("", "0"):
            raise
        detail = _capped(str(exc), 200)
        typer.echo(
            one_line(
                f"error: `{_COMMAND}` failed unexpectedly with {type(exc).__name__}"
                f"{': ' + detail if detail else ''}; this is a bug, please report it "
                f"(rerun with --debug or {DEBUG_ENV}=1 for the traceback)"
            ),
            err=True,
        )
        raise typer.Exit(1) from None


MAX_MESSAGE = 2_000  # a message quoting a huge input is cut, so the line stays readable


def _capped(text: str, limit: int = MAX_MESSAGE) -> str:
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text) - limit:,} more characters)"


@app.command()
def train(
    config: Annotated[Optional[str], typer.Argument(help=CONFIG_HELP, show_default=False)] = None,
    set_: Annotated[
        Optional[list[str]],
        typer.Option("--set", help="Override a config key, e.g. --set model.units=64 (repeatable)."),
    ] = None,
    out: Annotated[Optional[Path], typer.Option(help="Run directory (default: output.dir/<name>-<timestamp>).")] = None,
    resume: Annotated[
        Optional[Path],
        typer.Option(help="Continue an interrupted run from its last completed epoch (CONFIG defaults to its config)."),
    ] = None,
    overwrite: Annotated[
        bool, typer.Option(help="Replace the run at --out; the old run stays until the new one is complete.")
    ] = False,
) -> None:
    """Train the model a config describes and save it to a run directory."""
    with user_errors():
        from rnn_recipes.rundir import training_config

        path = resolve_config(config) if config is not None else None
        cfg = training_config(path, set_ or [], resume=resume, out=out, overwrite=overwrite)
        from rnn_recipes.train import train as train_run

        with redirect_stdout(sys.stderr):  # progress to stderr; stdout carries only the run directory
            run_dir = train_run(cfg, out, resume=resume, overwrite=overwrite)
    typer.echo(str(run_dir))


@app.command()
def evaluate(
    run: Annotated[Path, typer.Argument(help="A run directory written by `rnn train`.", show_default=False)],
    data: Annotated[
        Optional[Path], typer.Option(help="A classifier run: score it on this labelled file instead (per-class report).")
    ] = None,
    plot: Annotated[
        Optional[Path],
        typer.Option(help="Draw a PNG here: the confusion matrix (with --data), or a series run's test-period forecast."),
    ] = None,
) -> None:
    """Reload a trained run and recompute its test metrics (or score a classifier on another labelled file)."""
    with user_errors():
        from rnn_recipes.runs import load_run

        load_run(run)  # refuse a bad directory before importing TensorFlow
        from rnn_recipes.evaluate import evaluate_file, evaluate_run

        if data is not None:
            typer.echo(json.dumps(evaluate_file(run, data, plot), indent=2))
            return
        metrics, saved = evaluate_run(run, plot)
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
        from rnn_recipes.config_load import load_config
        from rnn_recipes.data import data_spec

        cfg = load_config(resolve_config(config), set_ or [])
        spec = data_spec(cfg)
        from rnn_recipes.model import build_model, summary_text

        typer.echo(summary_text(build_model(cfg, spec)))


@app.command()
def configs() -> None:
    """List the bundled configs, one line each."""
    with user_errors():
        from rnn_recipes.bundled import list_bundled

        for name, about in list_bundled("configs"):
            typer.echo(f"{name:<34} {about}")


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
        from rnn_recipes.generate import generate_from_run

        pieces = generate_from_run(
            seed, run, length=length, temperature=temperature, top_k=top_k, rng_seed=rng_seed,
            mode=mode.value, log=lambda line: typer.echo(line, err=True),
        )
        sys.stdout.write(seed)
        for piece in pieces:
            sys.stdout.write(piece)
            sys.stdout.flush()
        sys.stdout.write("\n")


@app.command()
def predict(
    run: Annotated[Path, typer.Argument(help="A run directory written by `rnn train`.", show_default=False)],
    text: Annotated[Optional[list[str]], typer.Option("--text", help="A text to predict on (repeatable).")] = None,
    file: Annotated[
        Optional[Path],
        typer.Option(help="One text a line, or a .csv/.tsv/.jsonl file's --column.", dir_okay=False),
    ] = None,
    column: Annotated[Optional[str], typer.Option(help="The text column of a table file (default: the run's).")] = None,
    values: Annotated[Optional[str], typer.Option(help="Sine runs: the window, e.g. 0.1,0.2,0.3.")] = None,
    csv: Annotated[
        Optional[Path],
        typer.Option("--csv", help="Series runs: forecast the rows after this CSV's last time_steps rows.", dir_okay=False),
    ] = None,
    top_k: Annotated[int, typer.Option(help="Text runs: how many next tokens to show.")] = 5,
    json_lines: Annotated[bool, typer.Option("--json", help="JSON Lines with every class's probability.")] = False,
) -> None:
    """Predict with a trained run: a label and its probability per text (standard input when no --text/--file)."""
    with user_errors():
        from rnn_recipes import predict_input as inputs
        from rnn_recipes.predict import forecast_lines, format_plain, load_predictor, predict_run

        if csv is not None:
            from rnn_recipes.forecast import predict_csv

            for line in forecast_lines(predict_csv(run, csv), json_lines):
                typer.echo(line)
            return
        predictor = load_predictor(run)
        window = [inputs.parse_values(values)] if values is not None else None
        if window is not None:
            texts = None
        elif text:
            texts = inputs.texts_from_options(text)
        elif file is not None:
            texts = inputs.texts_from_file(file, column or predictor.column)
        else:
            texts = inputs.texts_from_stream(sys.stdin.buffer)
        for result in predict_run(predictor, texts, window, top_k=top_k, detail=json_lines):
            typer.echo(json.dumps(result) if json_lines else format_plain(result))


# --- recipes, sweeps and diagnostics -----------------------------------------

RECIPE_HELP = "A recipe file, or the name of a bundled recipe (see `rnn recipe list`)."
OUT_HELP = "Where recipe runs live: OUT/<recipe>/<variant>/."
RecipeName = Annotated[str, typer.Argument(help=RECIPE_HELP, show_default=False)]
RecipesOut = Annotated[Path, typer.Option(help=OUT_HELP)]

recipe_app = typer.Typer(help="Train, compare and check the variants a recipe describes.", no_args_is_help=True)
app.add_typer(recipe_app, name="recipe")


def _run_and_rank(recipe, out: Path) -> None:
    """Train the recipe's variants (progress on stderr) and print its leaderboard."""
    from rnn_recipes.leaderboard import run_recipe

    with redirect_stdout(sys.stderr):  # training progress to stderr; stdout carries the leaderboard
        root = run_recipe(recipe, out, log=lambda line: print(line, file=sys.stderr))
    typer.echo((root / "leaderboard.md").read_text(encoding="utf-8"), nl=False)
    typer.echo(f"wrote {root / 'leaderboard.md'}, leaderboard.csv and curves.png", err=True)


@recipe_app.command("run")
def recipe_run(recipe: RecipeName, out: RecipesOut = Path("runs")) -> None:
    """Train every variant (finished ones are skipped), then write a leaderboard and learning curves."""
    with user_errors():
        from rnn_recipes.recipes import load_recipe

        _run_and_rank(load_recipe(recipe), out)


@recipe_app.command("check")
def recipe_check(recipe: RecipeName, out: RecipesOut = Path("runs")) -> None:
    """Compare each variant's results with its expected bands; exit 1 if any band fails."""
    with user_errors():
        from rnn_recipes.leaderboard import check_recipe
        from rnn_recipes.recipes import load_recipe

        checks = check_recipe(load_recipe(recipe), out)
    for check in checks:
        typer.echo(check.line())
    failed = sum(not c.passed for c in checks)
    typer.echo(f"{len(checks) - failed}/{len(checks)} bands pass")
    if failed:
        raise typer.Exit(1)


@recipe_app.command("list")
def recipe_list() -> None:
    """List the bundled recipes, one line each."""
    with user_errors():
        from rnn_recipes.recipes import list_recipes

        for name, about in list_recipes():
            typer.echo(f"{name:<24} {about}")


@app.command()
def sweep(
    config: Annotated[str, typer.Argument(help=CONFIG_HELP, show_default=False)],
    axes: Annotated[list[str], typer.Argument(help="KEY=V1,V2,... per axis; every combination trains.", show_default=False)],
    set_: Annotated[Optional[list[str]], typer.Option("--set", help="Override a key in every variant (repeatable).")] = None,
    name: Annotated[Optional[str], typer.Option(help="The sweep's name (default sweep-<config>).")] = None,
    out: RecipesOut = Path("runs"),
) -> None:
    """Train a config over a matrix of values, e.g. model.cell=simple_rnn,lstm,gru, and rank the results."""
    with user_errors():
        from rnn_recipes.recipes import sweep_recipe

        _run_and_rank(sweep_recipe(resolve_config(config), axes, set_ or [], name), out)


@app.command("numpy-sine")
def numpy_sine(
    epochs: Annotated[int, typer.Option(help="Passes over the training windows.")] = 15,
    units: Annotated[int, typer.Option(help="Hidden units.")] = 128,
    lr: Annotated[float, typer.Option(help="SGD learning rate.")] = 1e-2,
    rng_seed: Annotated[int, typer.Option(help="Seed of the weights and the window order.")] = 0,
) -> None:
    """Train the from-scratch NumPy RNN on the seed's sine series (no TensorFlow) and print its losses."""
    with user_errors():
        import numpy as np

        from rnn_recipes.numpy_rnn import fit_sine

        result = fit_sine(np.random.default_rng(rng_seed), units=units, epochs=epochs, lr=lr)
    for epoch, loss in enumerate(result.losses, start=1):
        typer.echo(f"epoch {epoch:>3}  train MSE {loss:.6g}")
    typer.echo(f"test MSE {result.test_mse:.6g} (repeating the last value: {result.persistence_mse:.6g})")


diagnose_app = typer.Typer(help="Measure how a model's gradients flow.", no_args_is_help=True)
app.add_typer(diagnose_app, name="diagnose")


@diagnose_app.command("gradients")
def diagnose_gradients(
    config: Annotated[str, typer.Argument(help=CONFIG_HELP, show_default=False)],
    set_: Annotated[Optional[list[str]], typer.Option("--set", help="Override a config key (repeatable).")] = None,
    cells: Annotated[Optional[str], typer.Option(help="Cells to compare, e.g. simple_rnn,lstm,gru (default: the config's).")] = None,
    steps: Annotated[int, typer.Option(help="Training batches between the untrained and trained measurements.")] = 100,
    batch: Annotated[int, typer.Option(help="Examples in the fixed measurement batch.")] = 32,
    recurrent_scale: Annotated[float, typer.Option(help="Multiply the recurrent kernels at initialisation (>1 explodes, <1 vanishes).")] = 1.0,
    clipnorm: Annotated[Optional[float], typer.Option(help="Clipping to report (default: the config's, else clipnorm 1).")] = None,
    out: Annotated[Optional[Path], typer.Option(help="Directory for the CSV tables and plot (default runs/diagnose-<name>).")] = None,
) -> None:
    """Per-step norm of the loss gradient w.r.t. the input sequence, and the weight-gradient norm before/after clipping."""
    with user_errors():
        from rnn_recipes.config_load import load_config

        cfg = load_config(resolve_config(config), set_ or [])
        from rnn_recipes import diagnose

        names = [c.strip() for c in cells.split(",")] if cells else None
        with redirect_stdout(sys.stderr):  # progress to stderr; stdout carries the table
            rows = diagnose.diagnose_gradients(cfg, names, steps, batch, recurrent_scale, clipnorm)
        out = diagnose.save_report(cfg, rows, out)
    typer.echo(diagnose.format_table(rows, diagnose.clipping_label(*diagnose.clipping(cfg, clipnorm))))
    typer.echo(f"wrote {out / 'gradients.csv'}, gradient_steps.csv and gradients.png", err=True)


def main() -> None:  # pragma: no cover - `python -m rnn_recipes.cli`
    app()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
