"""Forecasting end to end on the bundled sunspots: baselines in every run, evaluate's plot, predict_csv from a run alone."""

from __future__ import annotations

import json

import numpy as np
import pytest

from conftest import CONFIGS, TINY
from rnn_recipes.errors import DataError, RunError

SUNSPOTS = CONFIGS / "data" / "sunspots.csv"
NAME = "series_sunspots_gru"

pytestmark = pytest.mark.slow


def tail_csv(tmp_path, rows: int, header: str = "YEAR,SUNACTIVITY"):
    lines = SUNSPOTS.read_text().splitlines()
    path = tmp_path / "recent.csv"
    path.write_text("\n".join([header, *lines[-rows:]]) + "\n")
    return path


def test_a_series_run_reports_every_baseline_per_step_and_saves_its_scaling(tiny_runs):
    run = tiny_runs[NAME]
    metrics = json.loads((run / "metrics.json").read_text())
    for name in ("persistence", "seasonal_naive", "linear_ar"):
        assert {"mae", "rmse", "mase"} <= set(metrics[f"{name}_baseline"])
        assert len(metrics["per_step"][name]["mase"]) == 2
        assert f"improvement_over_{name}_pct" in metrics
    assert metrics["seasonal_naive_baseline"]["period"] == 11 and metrics["horizon"] == 2
    assert metrics["mase"] < metrics["persistence_baseline"]["mase"]
    assert "beats persistence" in metrics["verdict"]
    manifest = json.loads((run / "manifest.json").read_text())["files"]
    assert "series.json" in manifest and (run / "predictions.png").stat().st_size > 1000
    meta = json.loads((run / "series.json").read_text())
    assert meta["targets"] == ["SUNACTIVITY"] and meta["time_steps"] == 11


def test_predict_csv_forecasts_the_next_years_from_the_last_rows_in_original_units(tiny_runs, tmp_path):
    from rnn_recipes.forecast import predict_csv

    run = tiny_runs[NAME]
    rows = predict_csv(run, SUNSPOTS)
    assert [(r["step"], r["time"]) for r in rows] == [(1, "2009"), (2, "2010")]
    assert all(-50 < r["SUNACTIVITY"] < 250 for r in rows)
    # the last 11 rows alone give the same forecast: the scaling comes from the run, not from the file
    again = predict_csv(run, tail_csv(tmp_path, 11))
    np.testing.assert_allclose([r["SUNACTIVITY"] for r in again], [r["SUNACTIVITY"] for r in rows], rtol=1e-5)


def test_predict_csv_refuses_too_few_rows_and_wrong_columns_in_one_line(tiny_runs, tmp_path):
    from rnn_recipes.forecast import predict_csv

    run = tiny_runs[NAME]
    with pytest.raises(DataError, match=r"recent.csv has 5 rows; the run forecasts from the last 11 \(its data.time_steps\)"):
        predict_csv(run, tail_csv(tmp_path, 5))
    with pytest.raises(DataError, match=r"no column 'SUNACTIVITY' \(data.targets\); the columns are: YEAR, spots"):
        predict_csv(run, tail_csv(tmp_path, 20, header="YEAR,spots"))
    with pytest.raises(RunError):
        predict_csv(tmp_path, SUNSPOTS)  # not a run directory


def test_evaluate_reproduces_the_run_and_plots_the_test_period(cli, tiny_runs, tmp_path):
    run = tiny_runs[NAME]
    listed = sorted(p.name for p in run.iterdir())
    result = cli("evaluate", run, "--plot", tmp_path / "forecast.png")
    assert result.exit_code == 0, result.output
    recomputed = json.loads(result.stdout)
    saved = json.loads((run / "metrics.json").read_text())
    assert recomputed["mase"] == pytest.approx(saved["mase"], rel=1e-5)
    assert recomputed["linear_ar_baseline"] == saved["linear_ar_baseline"]
    assert (tmp_path / "forecast.png").stat().st_size > 1000
    assert sorted(p.name for p in run.iterdir()) == listed  # the finished run is only read


def test_a_recursive_model_answers_one_step_and_is_rolled_forward(tmp_path):
    from rnn_recipes.config_load import load_config
    from rnn_recipes.forecast import predict_csv
    from rnn_recipes.train import train

    cfg = load_config(TINY / f"{NAME}.yaml", ["data.strategy=recursive", "train.epochs=2", "output.plots=false"])
    run = train(cfg, tmp_path / "run", verbose=0)
    metrics = json.loads((run / "metrics.json").read_text())
    assert len(metrics["per_step"]["model"]["mae"]) == 2  # two steps ahead from a one-step head
    assert "Dense" in (run / "summary.txt").read_text() and "(None, 1)" in (run / "summary.txt").read_text()
    assert len(predict_csv(run, SUNSPOTS)) == 2


def test_rnn_predict_csv_prints_the_forecast_as_csv_and_refuses_text(cli, tiny_runs, tmp_path):
    run = tiny_runs[NAME]
    result = cli("predict", run, "--csv", SUNSPOTS)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == "step,time,SUNACTIVITY" and [line.split(",")[:2] for line in lines[1:]] == [["1", "2009"], ["2", "2010"]]
    as_json = [json.loads(line) for line in cli("predict", run, "--csv", SUNSPOTS, "--json").stdout.splitlines()]
    assert [float(line.split(",")[2]) for line in lines[1:]] == pytest.approx([r["SUNACTIVITY"] for r in as_json])
    refused = cli("predict", run, "--text", "hello")
    assert refused.exit_code == 2 and "it forecasts from a CSV's last rows; give --csv FILE" in refused.stderr
    short = cli("predict", run, "--csv", tail_csv(tmp_path, 5))
    assert short.exit_code == 2 and "has 5 rows" in short.stderr
