"""The Python API: `train`, `load_run`, `predict` and `export`, taking the configs and overrides `rnn` takes.

`rnn train`, `rnn predict` and `rnn export` are a thin layer over these
functions; `from rnn_recipes import train, load_run, predict, export` finds
them without importing TensorFlow until one is called.

Example:
    >>> from rnn_recipes import train, load_run, predict
    >>> run_dir = train("tiny/sine_simple_rnn", {"train.epochs": 3}, out="runs/sine")  # doctest: +SKIP
    >>> load_run(run_dir).metrics["mase"]  # doctest: +SKIP
    0.047
    >>> predict(run_dir, values=[[0.0, 0.84, 0.91, 0.14, -0.76, -0.96, -0.28, 0.66, 0.99, 0.41]])  # doctest: +SKIP
    [{'value': -0.54}]
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

from rnn_recipes.config import Config
from rnn_recipes.runs import Run
from rnn_recipes.runs import load_run as _load_run


def overrides_list(overrides: Mapping[str, Any] | Iterable[str] | None) -> list[str]:
    """Overrides as `--set` takes them: `{"model.units": 64}` or `["model.units=64"]` -> `["model.units=64"]`.

    Example:
        >>> overrides_list({"model.units": 64, "model.cell": "gru", "train.clipnorm": None, "model.bidirectional": True})
        ['model.units=64', 'model.cell=gru', 'train.clipnorm=null', 'model.bidirectional=true']
    """
    if overrides is None:
        return []
    if isinstance(overrides, Mapping):
        return [f"{k}={v if isinstance(v, str) else json.dumps(v)}" for k, v in overrides.items()]
    return [str(o) for o in overrides]


def train(
    config: str | Path | Config | None = None,
    overrides: Mapping[str, Any] | Iterable[str] | None = None,
    *,
    out: str | Path | None = None,
    resume: str | Path | None = None,
    overwrite: bool = False,
    verbose: int | None = None,
) -> Path:
    """Train a config as `rnn train` does and return the finished run's directory.

    Args:
        config: a YAML file, a bundled config's name (`"hello_lstm"`), or a loaded `Config`.
        overrides: `--set` settings, as a dict (`{"train.epochs": 3}`) or `KEY=VALUE` strings.
        out: the run directory (default `output.dir/<name>-<timestamp>`).
        resume: an interrupted run to continue (config defaults to its own).
        overwrite: replace the run at `out` once the new one is complete.
        verbose: 0 silent, 1 a progress bar, 2 a line per epoch; default by the terminal.
    """
    from rnn_recipes.bundled import resolve_named
    from rnn_recipes.config_load import apply_overrides, build_config
    from rnn_recipes.rundir import training_config

    out, resume = (Path(p) if p is not None else None for p in (out, resume))
    if isinstance(config, Config):
        cfg = build_config(apply_overrides(config.to_dict(), overrides_list(overrides)), source="<Config>")
    else:
        path = resolve_named(str(config), "configs") if config is not None else None
        cfg = training_config(path, overrides_list(overrides), resume=resume, out=out, overwrite=overwrite)
    from rnn_recipes.train import train as run_training

    return run_training(cfg, out, verbose, resume=resume, overwrite=overwrite)


def load_run(run_dir: str | Path) -> Run:
    """A finished run read back (config, metrics, vocabulary; `.load_model()`), refusing incomplete or altered ones."""
    return _load_run(Path(run_dir))


def predict(
    run_dir: str | Path,
    texts: Sequence[str] | None = None,
    values: Sequence[Sequence[float]] | None = None,
    *,
    csv: str | Path | None = None,
    top_k: int = 5,
    detail: bool = False,
) -> list[dict]:
    """Predictions as `rnn predict` presents them, one dict per input.

    Args:
        run_dir: a finished run.
        texts: texts to classify (labelled text, IMDB) or continue (text runs).
        values: windows of numbers (sine runs), one list per prediction.
        csv: series runs: forecast the rows after this CSV's last `time_steps` rows.
        top_k: text runs: how many next tokens to show.
        detail: add every class's probability.
    """
    if csv is not None:
        from rnn_recipes.forecast import predict_csv

        return predict_csv(Path(run_dir), Path(csv))
    from rnn_recipes.predict import predict_run

    return list(predict_run(Path(run_dir), texts, values, top_k=top_k, detail=detail))


def export(run_dir: str | Path, format: str = "saved_model", out: str | Path | None = None,  # noqa: A002 - the CLI's word
           log: Callable[[str], None] = lambda line: None):
    """Export a run as `rnn export` does: written, reloaded with its runtime and checked; returns an `ExportResult`.

    Args:
        run_dir: a finished run.
        format: saved_model, litert or onnx.
        out: the export directory (default `RUN-export/FORMAT`).
        log: receives a line per step.
    """
    from rnn_recipes.export import export_run

    return export_run(Path(run_dir), format, out, log=log)
