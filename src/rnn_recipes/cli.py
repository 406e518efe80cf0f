"""The `rnn` command line: a thin layer over the library.

TensorFlow is imported inside the commands that need it, so `rnn --help`
answers at once. Every user error ends as one line on stderr and exit code 2
(cli_common.user_errors). The recipe commands and `rnn sweep` are in
cli_recipes.py; this module adds them to `app`.
"""

from __future__ import annotations

import io
import json
import sys
from contextlib import nullcontext, redirect_stderr, redirect_stdout
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer

from rnn_recipes.cli_common import CONFIG_HELP, DEBUG_ENV, invoked, resolve_config, user_errors
from rnn_recipes.cli_recipes import recipe_app, sweep

app = typer.Typer(
    help="Train recurrent networks (SimpleRNN, LSTM, GRU) from a YAML config.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def _global_options(
    ctx: typer.Context,
    debug: Annotated[
        bool, typer.Option("--debug", help=f"Show the traceback of an unexpected error (or set {DEBUG_ENV}=1).")
    ] = False,
) -> None:
    """Train recurrent networks (SimpleRNN, LSTM, GRU) from a YAML config."""
    invoked(f"rnn {ctx.invoked_subcommand}" if ctx.invoked_subcommand else "rnn", debug)


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
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print only errors and the run directory.")] = False,
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="A plain line for every epoch, even on a terminal.")
    ] = False,
) -> None:
    """Train the model a config describes and save it to a run directory."""
    with user_errors():
        from rnn_recipes.api import train as train_api

        if quiet and verbose:
            raise typer.BadParameter("give --quiet or --verbose, not both")
        level = 0 if quiet else 2 if verbose else None
        # progress to stderr (none with --quiet); stdout carries only the run directory
        with redirect_stdout(sys.stderr), redirect_stderr(io.StringIO()) if quiet else nullcontext():
            run_dir = train_api(resolve_config(config) if config is not None else None, set_ or [],
                                out=out, resume=resume, overwrite=overwrite, verbose=level)
    typer.echo(str(run_dir))


@app.command()
def evaluate(
    run: Annotated[Path, typer.Argument(help="A run directory written by `rnn train`.", show_default=False)],
    data: Annotated[
        Optional[Path], typer.Option(help="A classifier run: score it on this labelled file instead (per-class report); a tagged run: on this CoNLL file.")
    ] = None,
    plot: Annotated[
        Optional[Path],
        typer.Option(help="Draw a PNG here: the confusion matrix (with --data), or a series run's test-period forecast; "
                          "seq2seq runs with attention: a folder for attention maps of the first test sources."),
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
    values: Annotated[Optional[str], typer.Option(help="Sine and timing runs: the window, e.g. 0.1,0.2,0.3.")] = None,
    csv: Annotated[
        Optional[Path],
        typer.Option("--csv", help="Series runs: forecast the rows after this CSV's last time_steps rows.", dir_okay=False),
    ] = None,
    top_k: Annotated[int, typer.Option(help="Text runs: how many next tokens to show.")] = 5,
    json_lines: Annotated[bool, typer.Option("--json", help="JSON Lines with every class's probability.")] = False,
    beam: Annotated[int, typer.Option(help="Seq2seq runs: beam search with this many beams (1: greedy).")] = 1,
    max_length: Annotated[
        Optional[int], typer.Option(help="Seq2seq runs: output tokens at most (default: the longest training target).")
    ] = None,
    attention_map: Annotated[
        Optional[Path], typer.Option(help="Seq2seq runs: draw the attention weights of the one --text to this PNG.", dir_okay=False)
    ] = None,
) -> None:
    """Predict with a trained run: a label and its probability per text (standard input when no --text/--file)."""
    with user_errors():
        from rnn_recipes import predict_input as inputs
        from rnn_recipes.predict import attention_map as predict_attention_map
        from rnn_recipes.predict import forecast_lines, format_plain, load_predictor, predict_run

        if csv is not None:
            from rnn_recipes.forecast import predict_csv

            for line in forecast_lines(predict_csv(run, csv), json_lines):
                typer.echo(line)
            return
        predictor = load_predictor(run, beam=beam, max_length=max_length)
        if attention_map is not None:
            if not text or len(text) != 1:
                raise inputs.InputError("--attention-map draws one text: give exactly one --text")
            result = predict_attention_map(predictor, next(inputs.texts_from_options(text)), attention_map)
            typer.echo(json.dumps(result) if json_lines else format_plain(result))
            return
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


@app.command()
def serve(
    run: Annotated[Path, typer.Argument(help="A run directory written by `rnn train`.", show_default=False)],
    host: Annotated[str, typer.Option(help="Address to listen on; 0.0.0.0 exposes the server to the network.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on (0 picks a free one).", min=0, max=65535)] = 8000,
    max_sessions: Annotated[int, typer.Option(help="Open sessions at once.", min=1)] = 256,
    session_ttl: Annotated[float, typer.Option(help="Seconds a session lives after its last use.", min=1)] = 600.0,
    max_tokens: Annotated[int, typer.Option(help="Tokens a language-model session holds, and /generate's longest answer.", min=1)] = 2048,
) -> None:
    """Serve a trained run over HTTP: /predict, /generate, /health, /info and stateful /sessions (see docs/deploy.md)."""
    with user_errors():
        from rnn_recipes.runs import load_run

        load_run(run)  # refuse a bad directory before importing TensorFlow and FastAPI
        from rnn_recipes.serve import serve_run
        from rnn_recipes.sessions import Limits

        typer.echo(f"serving {run} on http://{host}:{port} (Ctrl-C stops)", err=True)
        serve_run(run, host, port, Limits(max_sessions=max_sessions, ttl=session_ttl, max_tokens=max_tokens))


class ExportFormat(str, Enum):
    saved_model = "saved_model"
    litert = "litert"
    onnx = "onnx"


@app.command()
def export(
    run: Annotated[Path, typer.Argument(help="A run directory written by `rnn train`.", show_default=False)],
    format_: Annotated[
        ExportFormat, typer.Option("--format", help="saved_model (TensorFlow Serving), litert (phones), onnx.")
    ] = ExportFormat.saved_model,
    out: Annotated[Optional[Path], typer.Option(help="Export directory (default: RUN-export/FORMAT, beside the run).")] = None,
) -> None:
    """Export a trained run for deployment, checked against the Keras model on the test split as it is written."""
    with user_errors():
        from rnn_recipes.runs import load_run

        load_run(run)  # refuse a bad directory before importing TensorFlow
        from rnn_recipes.api import export as export_api

        with redirect_stdout(sys.stderr):  # converter chatter to stderr; stdout carries only the export directory
            result = export_api(run, format_.value, out, log=lambda line: typer.echo(line, err=True))
    typer.echo(str(result.path))


# --- recipes, sweeps and diagnostics -----------------------------------------

app.add_typer(recipe_app, name="recipe")
app.command()(sweep)


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
