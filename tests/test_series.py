"""Series from CSV: one-line refusals of bad files, windows, chronological parts, training-part scaling, baselines."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import CONFIGS
from rnn_recipes import forecast_baselines as fb
from rnn_recipes.config import Config
from rnn_recipes.data import DataError, load_dataset
from rnn_recipes.series import windows
from rnn_recipes.series_csv import next_times

SUNSPOTS = CONFIGS / "data" / "sunspots.csv"


def series_cfg(path, **data) -> Config:
    return Config.model_validate({"data": {"kind": "series", "path": str(path), **data}})


def load(tmp_path, text: str | bytes, **data):
    path = tmp_path / "s.csv"
    raw = text if isinstance(text, bytes) else text.encode()
    path.write_bytes(raw)
    year = {"time_column": "year"} if raw.startswith(b"year,") else {}  # the year is the time, not a second series
    return load_dataset(series_cfg(path, **{"time_steps": 3, **year, **data}))


def ramp(n: int, start: int = 2000) -> str:
    return "year,value\n" + "".join(f"{start + i},{i * i % 7 + i}\n" for i in range(n))


# --- every bad CSV is one line naming what is wrong ----------------------------------

BAD = [
    ("", {}, r"s.csv: the file is empty; expected a header row"),
    ("  \n\n", {}, r"the file is empty"),
    ("year,value\n", {}, r"s.csv: a header and no rows"),
    ("year,value\n2000,1\n", {"time_column": "year"}, r"s.csv has only one row; a series needs at least"),
    ("year,value\n2000,1\n2001,2,9\n2002,3\n", {}, r"s.csv:3: 3 cells, but the header has 2 \(year, value\)"),
    (b"year,value\n2000,1\n2001,\xff\n", {}, r"s.csv: not UTF-8 text \(invalid start byte at byte 23\)"),
    (ramp(40), {"targets": ["sales"]}, r"s.csv: no column 'sales' \(data.targets\); the columns are: year, value"),
    (ramp(40), {"features": ["value", "price"]}, r"no column 'price' \(data.features\)"),
    (ramp(40), {"time_column": "date"}, r"no column 'date' \(data.time_column\)"),
    (ramp(40), {"horizon": 7, "test_split": 0.15}, r"data.horizon \(7\) is longer than the test part \(6 rows"),
    ("year,value\n2000,1\n2001,abc\n2002,3\n", {}, r"s.csv:3: column 'value': 'abc' is not a number"),
    ("year,value\n2000,1\n2001,\n2002,3\n", {}, r"s.csv:3: column 'value' has no value; .*data.fill: ffill"),
    ("year,value\n2000,1\n2001,inf\n", {}, r"'inf' is not a number"),
    ("year,a,b\n2000,1,2\n2001,2,3\n", {}, r"several numeric columns \(a, b\); name the column\(s\) to forecast"),
    ("name,city\nx,y\nz,w\n", {}, r"no numeric column; name the column"),
    ("year,value\n2000,1\n2002,2\n2001,3\n", {"time_column": "year"}, r"s.csv:4: time 2001 is not after 2002 \(line 3\)"),
    ("year,value\n2000,1\n2001,2\n2003,3\n", {"time_column": "year"}, r"s.csv:4: a gap: time goes from 2001 to 2003"),
    ("t,value\n2000-01-01,1\nlater,2\n", {"time_column": "t"}, r"s.csv:3: time 'later' \(column 't'\) is neither a number"),
    ("v,v\n1,2\n3,4\n", {}, r"s.csv:1: the header names column 'v' twice"),
    (ramp(12), {"time_steps": 10}, r"its training part \(8 rows\) holds no window"),
    ("v\n" + "5\n" * 40, {}, r"target 'v' never changes over the training part"),
]


@pytest.mark.parametrize("text, data, message", BAD, ids=range(len(BAD)))
def test_a_bad_csv_is_refused_in_one_line(tmp_path, text, data, message):
    with pytest.raises(DataError, match=message) as info:
        load(tmp_path, text, **data)
    assert len(str(info.value).splitlines()) == 1


def test_a_missing_file_and_a_horizon_past_the_sine_test_are_refused(tmp_path):
    with pytest.raises(DataError, match=r"series file not found: .*nope.csv \(data.path\)"):
        load_dataset(series_cfg(tmp_path / "nope.csv"))


def test_config_refuses_two_sources_a_url_without_hash_and_recursive_with_other_inputs():
    from rnn_recipes.config_load import build_config
    from rnn_recipes.errors import ConfigError

    for data, message in (
        ({}, "give one of path, url; received neither"),
        ({"path": "a.csv", "url": "https://x/a.csv"}, "received path, url"),
        ({"url": "https://x/a.csv"}, "a url needs its sha256"),
        ({"path": "a.csv", "strategy": "recursive", "features": ["a", "b"], "targets": ["a"]}, "features must be the targets"),
        ({"path": "a.csv", "horizon": 0}, "data.horizon"),
        ({"path": "a.csv", "fill": "mean"}, "Expected one of: 'none', 'ffill', 'interpolate'"),
    ):
        with pytest.raises(ConfigError, match=message):
            build_config({"data": {"kind": "series", **data}})
    with pytest.raises(ConfigError, match="series feeds raw values; remove the encoding section"):
        build_config({"data": {"kind": "series", "path": "a.csv"}, "encoding": {"kind": "embedding"}})


# --- what a good CSV becomes ---------------------------------------------------------


def test_fill_policies_repeat_or_interpolate_missing_cells(tmp_path):
    text = "year,v\n" + "".join(f"{2000 + i},{v}\n" for i, v in enumerate([1, 2, "", 4, "NA", 6] + list(range(7, 40))))
    ffill = load(tmp_path, text, fill="ffill", normalize="none", val_split=0.0, test_split=0.1, time_steps=5)
    inter = load(tmp_path, text, fill="interpolate", normalize="none", val_split=0.0, test_split=0.1, time_steps=5)
    assert ffill.x_train[0, :, 0].tolist() == [1, 2, 2, 4, 4]
    assert inter.x_train[0, :, 0].tolist() == [1, 2, 3, 4, 5]
    with pytest.raises(DataError, match=r"s.csv:2: column 'v' has no value and no earlier one to repeat"):
        load(tmp_path, "v\nNA\n" + "".join(f"{i}\n" for i in range(40)), fill="ffill")


def test_windows_predict_the_next_horizon_values_with_a_stride():
    v = np.arange(10.0)[:, None]
    x, y, starts = windows(v, v * 10, 4, 2, stride=3)
    assert x[:, :, 0].tolist() == [[0, 1, 2, 3], [3, 4, 5, 6]]
    assert y[:, :, 0].tolist() == [[40, 50], [70, 80]] and starts.tolist() == [4, 7]


def test_parts_follow_in_time_and_no_window_forecasts_across_a_boundary():
    ds = load_dataset(series_cfg(SUNSPOTS, time_column="YEAR", time_steps=22, horizon=3, season=11))
    assert ds.spec.horizon == 3 and ds.x_train.shape[1:] == (22, 1) and ds.y_train.shape[1] == 3
    # 309 rows: test = the last 46 (1963-2008), validation the 46 before; a window belongs where all 3 values lie
    assert ds.series.test_times[0] == "1963" and ds.series.test_times[-1] == "2006"
    assert (len(ds.x_train), len(ds.x_val), len(ds.x_test)) == (217 - 22 - 2, 46 - 2, 46 - 2)


def test_scaling_is_fitted_on_the_training_part_only_and_saved():
    raw = np.loadtxt(SUNSPOTS, delimiter=",", skiprows=1)[:, 1]
    ds = load_dataset(series_cfg(SUNSPOTS, targets=["SUNACTIVITY"], time_steps=10))
    n_train = 309 - 46 - 46
    meta = ds.series.meta
    assert meta["mean"]["SUNACTIVITY"] == pytest.approx(raw[:n_train].mean())
    assert meta["std"]["SUNACTIVITY"] == pytest.approx(raw[:n_train].std())
    assert meta["mean"]["SUNACTIVITY"] != pytest.approx(raw.mean())
    np.testing.assert_allclose(ds.series.to_original(ds.y_test[:, :, None]), ds.series.truth, rtol=1e-5)
    assert meta["source"]["rows"] == 309 and len(meta["source"]["sha256"]) == 64
    assert meta["mase_scale"]["SUNACTIVITY"] == pytest.approx(np.abs(np.diff(raw[:n_train])).mean())


def test_several_features_and_targets_and_a_recursive_model_s_one_step_targets(tmp_path):
    rows = "".join(f"{i},{np.sin(i)},{np.cos(i)},{i % 5}\n" for i in range(60))
    path = tmp_path / "m.csv"
    path.write_text("t,a,b,c\n" + rows)
    ds = load_dataset(series_cfg(path, time_column="t", features=["a", "b", "c"], targets=["a", "b"], horizon=2,
                                 time_steps=6))
    assert ds.spec.features == 3 and ds.spec.targets == 2 and ds.y_train.shape[1] == 4
    rec = load_dataset(series_cfg(path, targets=["a", "b"], strategy="recursive", horizon=3, time_steps=6))
    assert rec.spec.horizon == 1 and rec.y_train.shape[1] == 2 and rec.series.truth.shape[1:] == (3, 2)
    assert rec.series.feedback == (0, 1)


def test_dates_by_month_are_evenly_spaced_and_the_next_times_follow():
    assert next_times("2024-11-30", {"unit": "seconds", "step": 86400.0}, 2) == ["2024-12-01", "2024-12-02"]
    assert next_times("2024-11-01", {"unit": "months", "step": 1.0}, 3) == ["2024-12-01", "2025-01-01", "2025-02-01"]
    assert next_times("2008", {"unit": "number", "step": 1.0}, 2) == ["2009", "2010"]


def test_monthly_dates_load(tmp_path):
    months = [f"{2000 + m // 12}-{m % 12 + 1:02d}-01" for m in range(40)]
    ds = load(tmp_path, "month,v\n" + "".join(f"{d},{i % 7}\n" for i, d in enumerate(months)), time_column="month")
    assert ds.series.meta["time_step"] == {"unit": "months", "step": 1.0}


# --- baselines and errors ------------------------------------------------------------


def test_persistence_and_seasonal_naive_repeat_the_right_rows():
    target = np.arange(20.0)[:, None]
    assert fb.persistence(target, np.array([10]), 3)[0, :, 0].tolist() == [9, 9, 9]
    # period 4: steps 0..4 after row 10 repeat rows 6, 7, 8, 9, then 6 again (two seasons back for step 4)
    assert fb.seasonal_naive(target, np.array([10]), 5, 4)[0, :, 0].tolist() == [6, 7, 8, 9, 6]


def test_linear_ar_recovers_an_exact_linear_recursion():
    v = np.zeros(60)
    v[:2] = 1.0, 0.5
    for t in range(2, 60):
        v[t] = 0.6 * v[t - 1] - 0.3 * v[t - 2] + 0.1
    x, y, _ = windows(v[:, None], v[:, None], 4, 1)
    w = fb.fit_linear_ar(x[:40], y[:40])
    np.testing.assert_allclose(fb.predict_linear_ar(w, x[40:]), y[40:].reshape(-1, 1), atol=1e-9)


def test_mase_is_mae_over_the_in_sample_persistence_error_per_step():
    truth = np.array([[[1.0], [2.0], [4.0]], [[2.0], [2.0], [2.0]]])
    pred = truth + np.array([[[1.0], [0.0], [2.0]], [[1.0], [0.0], [0.0]]])
    e = fb.errors(pred, truth, np.array([2.0]))
    assert e["per_step"]["mae"] == [1.0, 0.0, 1.0] and e["per_step"]["mase"] == [0.5, 0.0, 0.5]
    assert e["mase"] == pytest.approx(e["mae"] / 2.0) and e["rmse"] == pytest.approx(np.sqrt(1.0))
    assert fb.improvement_pct(0.5, 2.0) == 75.0


def test_recursive_rollout_feeds_each_prediction_back():
    info = fb.SeriesInfo(("v",), 3, "recursive", 1, np.zeros(1), np.ones(1), np.zeros((1, 3, 1)), {}, np.ones(1),
                         feedback=(0,))
    seen = []

    def predict(window):  # the next value is the last one plus one
        seen.append(window[0, :, 0].tolist())
        return window[:, -1, :] + 1

    out = fb.rollout(predict, np.array([[[1.0], [2.0]]], "float32"), info)
    assert out[0, :, 0].tolist() == [3.0, 4.0, 5.0] and seen == [[1, 2], [2, 3], [3, 4]]


def test_every_series_run_reports_each_baseline_and_the_gap_in_one_line():
    ds = load_dataset(series_cfg(SUNSPOTS, time_column="YEAR", time_steps=22, horizon=3, season=11))
    report = fb.report(ds.series.baselines["linear_ar"], ds.series)  # "the model" is the linear AR itself
    assert report["improvement_over_linear_ar_pct"] == pytest.approx(0.0)
    assert set(report["per_step"]) == {"model", "persistence", "seasonal_naive", "linear_ar"}
    assert len(report["per_step"]["model"]["mase"]) == 3
    assert report["persistence_baseline"]["mase"] > report["seasonal_naive_baseline"]["mase"] > report["mase"]
    assert report["verdict"].startswith(f"test MASE {report['mase']:.3f}: beats persistence")
    assert "seasonal naive (period 11)" in report["verdict"]


def test_the_sine_goes_through_the_same_windows_and_baselines():
    ds = load_dataset(Config.model_validate({"data": {"kind": "sine", "horizon": 2, "season": 6}}))
    assert ds.y_train.shape == (224, 2) and ds.series.truth.shape == (75, 2, 1)
    assert ds.series.meta["normalize"] == "none" and ds.series.baselines["seasonal_naive"].shape == (75, 2, 1)


def test_nothing_is_written_before_the_data_is_read_and_checked(tmp_path):
    from rnn_recipes.train import train

    bad = tmp_path / "bad.csv"
    bad.write_text("year,value\n2000,1\n2001,x\n")
    out = tmp_path / "run"
    with pytest.raises(DataError, match="'x' is not a number"):
        train(series_cfg(bad, time_column="year"), out)
    assert not out.exists()


def test_a_url_source_reads_its_hash_checked_cached_copy(tmp_path, monkeypatch):
    import shutil

    from rnn_recipes.fileio import sha256_file

    digest = sha256_file(SUNSPOTS)
    monkeypatch.setenv("RNN_RECIPES_CACHE", str(tmp_path))
    shutil.copy(SUNSPOTS, tmp_path / digest)  # as a first `rnn train` leaves it; nothing is downloaded
    cfg = Config.model_validate({"data": {"kind": "series", "url": "https://example.org/sunspots.csv", "sha256": digest,
                                          "time_column": "YEAR"}})
    ds = load_dataset(cfg)
    assert ds.series.meta["source"]["sha256"] == digest and len(ds.x_test) > 0
