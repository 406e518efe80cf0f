"""Recipes: loading and strict checks, bands, leaderboards, and the tiny recipes trained end to end."""

from __future__ import annotations

import csv
import json

import pytest

from conftest import ROOT, TINY
from rnn_recipes.errors import ConfigError
from rnn_recipes.leaderboard import (
    check_band,
    check_recipe,
    run_recipe,
    run_results,
    variant_dir,
    write_leaderboard,
)
from rnn_recipes.recipes import (
    Band,
    load_recipe,
    parse_band,
    sweep_recipe,
)
from rnn_recipes.errors import RunError

RECIPES = ROOT / "recipes"
ALL_RECIPES = sorted(RECIPES.rglob("*.yaml"))
TINY_RECIPES = sorted((RECIPES / "tiny").glob("*.yaml"))


@pytest.mark.parametrize("path", ALL_RECIPES, ids=lambda p: str(p.relative_to(RECIPES)))
def test_every_shipped_recipe_validates_every_variant(path):
    recipe = load_recipe(path)
    assert recipe.name == path.stem and len(recipe.variants) >= 3
    assert all(v.config.name == f"{path.stem}-{v.name}" for v in recipe.variants)


def test_every_full_recipe_has_a_tiny_twin():
    assert [p.name for p in TINY_RECIPES] == sorted(p.name for p in RECIPES.glob("*.yaml"))


def test_matrix_is_a_cartesian_product_named_by_its_values():
    recipe = load_recipe(RECIPES / "imdb_cells.yaml")
    assert [v.name for v in recipe.variants] == [
        f"{cell}-bidirectional_{bi}" for cell in ("simple_rnn", "lstm", "gru") for bi in ("false", "true")
    ]
    cells = {(v.config.model.cell, v.config.model.bidirectional) for v in recipe.variants}
    assert len(cells) == 6
    assert all(v.config.model.units == 64 for v in recipe.variants)  # the base's, untouched


def test_seed_encodings_recipe_holds_the_seed_models_and_bands():
    recipe = load_recipe(RECIPES / "imdb_encodings.yaml")
    by_name = {v.name: v for v in recipe.variants}
    assert list(by_name) == ["integer", "onehot", "embedding"]
    emb = by_name["embedding"].config
    assert (emb.encoding.kind, emb.encoding.dim, emb.data.padding, emb.data.maxlen, emb.train.epochs) == (
        "embedding", 2, "post", 100, 5)
    assert (emb.model.cell, emb.model.units) == ("simple_rnn", 32)
    assert [str(b) for b in by_name["embedding"].bands] == ["val_accuracy >= 0.8"]
    assert [str(b) for b in by_name["integer"].bands] == ["val_accuracy <= 0.6"]
    assert by_name["onehot"].bands == ()


# --- strict checks: one line naming the file, the line and what was expected ---------------


def write(tmp_path, text: str, name: str = "r.yaml"):
    path = tmp_path / name
    path.write_text(text)
    return path


BASE = f"base: {TINY / 'sine_simple_rnn.yaml'}\n"


def error_of(path) -> str:
    with pytest.raises(ConfigError) as info:
        load_recipe(path)
    message = str(info.value)
    assert "\n" not in message
    return message


def test_unknown_recipe_key_suggests_the_right_one(tmp_path):
    path = write(tmp_path, BASE + "matrx:\n  model.cell: [lstm]\n")
    assert error_of(path).startswith(f"{path}:2: unknown key 'matrx'. Did you mean 'matrix'?")


def test_unknown_band_key_suggests_the_right_one(tmp_path):
    path = write(tmp_path, BASE + "expect:\n  base:\n    - {metric: loss, mx: 0.1}\n")
    assert "unknown key 'expect.base.0.mx'. Did you mean 'max'?" in error_of(path)


def test_bad_override_value_names_the_recipe_line_and_variant(tmp_path):
    path = write(tmp_path, BASE + "matrix:\n  model.cell: [lstm, lstmm]\n")
    assert error_of(path) == (
        f"{path}:3 (variant lstmm): invalid 'model.cell'. Expected one of: 'simple_rnn', 'lstm', 'gru', 'peephole_lstm'. Received: 'lstmm'."
    )


def test_unknown_override_key_suggests_the_config_key(tmp_path):
    path = write(tmp_path, BASE + "set:\n  model.unitz: 3\n")
    assert "unknown key 'model.unitz'. Did you mean 'units'?" in error_of(path)


def test_every_variant_is_checked_before_anything_trains(tmp_path):
    # the last variant alone is invalid: the whole recipe is refused at load time
    path = write(tmp_path, BASE + "matrix:\n  model.dropout: [0.0, 0.5, 1.5]\n")
    assert "(variant dropout_1.5): invalid 'model.dropout'" in error_of(path)


def test_band_that_cannot_be_read(tmp_path):
    path = write(tmp_path, BASE + "expect:\n  base: ['loss < 0.1']\n")
    assert "cannot read band 'loss < 0.1'; expected 'METRIC >= BOUND' or 'METRIC <= BOUND'" in error_of(path)


def test_band_for_no_variant_suggests_one(tmp_path):
    path = write(tmp_path, BASE + "matrix:\n  model.cell: [lstm, gru]\nexpect:\n  lstn: ['loss <= 1']\n")
    assert error_of(path) == f"{path}:5: expect names no variant: 'lstn'. Did you mean 'lstm'? Variants: lstm, gru."


def test_base_by_bundled_name_and_missing_base(tmp_path):
    assert load_recipe(write(tmp_path, "base: sine_simplernn\n")).variants[0].config.model.units == 128
    assert error_of(write(tmp_path, "base: nope.yaml\n", "m.yaml")) == f"config file not found: {tmp_path / 'nope.yaml'}"


def test_variants_and_matrix_combine(tmp_path):
    text = BASE + "variants:\n  small: {model.units: 4}\n  big: {model.units: 32}\nmatrix:\n  model.cell: [lstm, gru]\n"
    recipe = load_recipe(write(tmp_path, text))
    assert [(v.name, v.config.model.units, v.config.model.cell) for v in recipe.variants] == [
        ("small-lstm", 4, "lstm"), ("small-gru", 4, "gru"), ("big-lstm", 32, "lstm"), ("big-gru", 32, "gru")]


def test_sweep_builds_a_matrix_and_checks_its_axes():
    recipe = sweep_recipe(TINY / "sine_simple_rnn.yaml", ["model.cell=simple_rnn,gru", "model.units=4,8"], ["train.epochs=1"])
    assert recipe.name == "sweep-sine_simple_rnn"
    assert [v.name for v in recipe.variants] == ["simple_rnn-units_4", "simple_rnn-units_8", "gru-units_4", "gru-units_8"]
    assert {v.config.train.epochs for v in recipe.variants} == {1}
    with pytest.raises(ConfigError, match="sweep axis 'model.cell': expected KEY=V1,V2"):
        sweep_recipe(TINY / "sine_simple_rnn.yaml", ["model.cell"], [])
    with pytest.raises(ConfigError, match=r"rnn sweep \(variant units_0\): invalid 'model.units'"):
        sweep_recipe(TINY / "sine_simple_rnn.yaml", ["model.units=0"], [])


# --- bands and results, on hand-written run directories --------------------------------


def test_parse_band_reads_both_forms():
    assert parse_band("val_accuracy >= 0.8") == {"metric": "val_accuracy", "min": 0.8}
    assert parse_band(" loss<=persistence_baseline.mse ") == {"metric": "loss", "max": "persistence_baseline.mse"}
    assert Band.model_validate({"metric": "rmse", "min": 0.1, "max": 0.2}) == Band(metric="rmse", min=0.1, max=0.2)


def test_check_band_is_inclusive_and_resolves_metric_bounds():
    results = {"val_accuracy": 0.8, "loss": 0.3, "persistence_baseline.mse": 0.46}
    assert check_band(Band.model_validate("val_accuracy >= 0.8"), results, "v").passed
    assert not check_band(Band.model_validate("val_accuracy >= 0.81"), results, "v").passed
    check = check_band(Band.model_validate("loss <= persistence_baseline.mse"), results, "v")
    assert check.passed and check.high == 0.46
    assert check.line() == "PASS  v: loss = 0.3, expected <= persistence_baseline.mse = 0.46"
    with pytest.raises(RunError, match="variant 'v' has no metric 'val_acuracy'. Did you mean 'val_accuracy'?"):
        check_band(Band.model_validate("val_acuracy >= 0.5"), results, "v")


def fake_run(run_dir, metrics: dict, history: list[dict]) -> None:
    run_dir.mkdir(parents=True)
    (run_dir / "metrics.json").write_text(json.dumps(metrics))
    with open(run_dir / "history.csv", "w", newline="") as fh:
        writer = csv.DictWriter(fh, ["epoch", *history[0]])
        writer.writeheader()
        writer.writerows({"epoch": i + 1, **row} for i, row in enumerate(history))
    (run_dir / "manifest.json").write_text("{}")


@pytest.fixture
def judged(tmp_path):
    """A two-variant recipe with bands and hand-written finished runs: gru passes, lstm fails."""
    recipe = load_recipe(write(tmp_path, BASE + "matrix:\n  model.cell: [lstm, gru]\nexpect:\n  '*': ['loss <= 0.1']\n"))
    out = tmp_path / "out"
    for name, loss in (("lstm", 0.2), ("gru", 0.05)):
        history = [{"loss": 1.0, "val_loss": 1.1, "seconds": 0.5}, {"loss": loss, "val_loss": 0.4, "seconds": 0.1}]
        metrics = {"loss": loss, "mase": loss, "rmse": loss ** 0.5, "parameters": 100, "seconds_per_epoch": 0.3,
                   "epochs_run": 2, "persistence_baseline": {"mse": 0.46, "mase": 1.0},
                   "seasonal_naive_baseline": {"mase": 1.0}, "linear_ar_baseline": {"mase": 1.0}}
        fake_run(out / recipe.name / name, metrics, history)
    return recipe, out


def test_run_results_name_test_validation_and_training_numbers(judged):
    recipe, out = judged
    results = run_results(variant_dir(out, recipe, recipe.variants[0]))
    assert results["loss"] == 0.2 and results["val_loss"] == 0.4 and results["train_loss"] == 0.2
    assert results["persistence_baseline.mse"] == 0.46 and "seconds" not in results


def test_check_recipe_reports_each_band(judged):
    recipe, out = judged
    assert [(c.variant, c.passed) for c in check_recipe(recipe, out)] == [("lstm", False), ("gru", True)]


def test_leaderboard_ranks_and_writes_markdown_csv_and_plot(judged):
    recipe, out = judged
    markdown = write_leaderboard(recipe, out)
    root = out / recipe.name
    rows = list(csv.DictReader(open(root / "leaderboard.csv")))
    assert [r["variant"] for r in rows] == ["gru", "lstm"]  # lower test MASE first
    assert rows[0]["parameters"] == "100" and rows[0]["seconds_per_epoch"] == "0.3" and rows[0]["bands"] == "1/1"
    assert "| gru | 0.05 | 0.2236 | 1 | 1 | 1 | 0.05 | 100 | 0.3 | 2 | 1/1 |" in markdown  # baselines, then the band's loss
    assert (root / "leaderboard.md").read_text() == markdown
    assert (root / "curves.png").stat().st_size > 1000


def test_recipe_check_exit_codes(cli, judged):
    recipe, out = judged
    result = cli("recipe", "check", recipe.source, "--out", out)
    assert result.exit_code == 1
    assert "FAIL  lstm: loss = 0.2, expected <= 0.1" in result.output and "1/2 bands pass" in result.output
    (out / recipe.name / "lstm" / "manifest.json").unlink()
    result = cli("recipe", "check", recipe.source, "--out", out)
    assert result.exit_code == 2
    assert result.output.startswith("error: variant 'lstm' has no finished run in")


def test_rerun_refuses_a_finished_run_of_another_config(judged, tmp_path):
    recipe, out = judged
    (out / recipe.name / "lstm" / "config.yaml").write_text((TINY / "sine_stacked_gru.yaml").read_text())
    with pytest.raises(RunError, match="holds a run of a different config"):
        run_recipe(recipe, out, log=lambda line: None)


def test_recipe_list_shows_the_shipped_recipes(cli):
    result = cli("recipe", "list")
    assert result.exit_code == 0
    names = [line.split()[0] for line in result.output.splitlines()]
    assert names == sorted(str(p.relative_to(RECIPES).with_suffix("")) for p in ALL_RECIPES)


# --- the tiny recipes, trained end to end --------------------------------------------


@pytest.fixture(scope="module")
def tiny_recipes(tmp_path_factory):
    out = tmp_path_factory.mktemp("recipes")
    for path in TINY_RECIPES:
        run_recipe(load_recipe(path), out, log=lambda line: None)
    return out


@pytest.mark.slow
@pytest.mark.parametrize("path", TINY_RECIPES, ids=lambda p: p.stem)
def test_tiny_recipe_meets_its_bands(cli, tiny_recipes, path):
    result = cli("recipe", "check", path, "--out", tiny_recipes)
    assert result.exit_code == 0, result.output
    assert "FAIL" not in result.output and " bands pass" in result.output
    assert len(load_recipe(path).variants[0].bands) >= 1


@pytest.mark.slow
def test_tiny_recipe_run_records_time_and_parameters(tiny_recipes):
    recipe = load_recipe(RECIPES / "tiny" / "imdb_encodings.yaml")
    rows = {r["variant"]: r for r in csv.DictReader(open(tiny_recipes / recipe.name / "leaderboard.csv"))}
    assert int(rows["embedding"]["parameters"]) == 250 * 8 + (8 * 8 + 8 * 8 + 8) + 9  # embedding + SimpleRNN(8) + head
    assert int(rows["integer"]["parameters"]) == (1 * 8 + 8 * 8 + 8) + 9
    history = list(csv.DictReader(open(variant_dir(tiny_recipes, recipe, recipe.variants[0]) / "history.csv")))
    assert len(history) == 10 and all(float(r["seconds"]) > 0 for r in history)
    assert 0 < float(rows["integer"]["seconds_per_epoch"]) < 30


@pytest.mark.slow
def test_rerun_skips_finished_variants(cli, tiny_recipes):
    before = (tiny_recipes / "sine_cells" / "gru" / "manifest.json").stat().st_mtime_ns
    result = cli("recipe", "run", RECIPES / "tiny" / "sine_cells.yaml", "--out", tiny_recipes)
    assert result.exit_code == 0, result.output
    assert result.output.count("finished earlier, skipped") == 3
    assert (tiny_recipes / "sine_cells" / "gru" / "manifest.json").stat().st_mtime_ns == before
    assert "| variant | mase | rmse |" in result.output  # a series leaderboard ranks by MASE


@pytest.mark.slow
def test_sweep_trains_every_combination(cli, tmp_path):
    result = cli("sweep", TINY / "sine_simple_rnn.yaml", "model.cell=simple_rnn,gru", "--set", "train.epochs=1",
                 "--set", "output.plots=false", "--out", "out")
    assert result.exit_code == 0, result.output
    root = tmp_path / "out" / "sweep-sine_simple_rnn"
    assert sorted(p.name for p in root.iterdir() if p.is_dir()) == ["gru", "simple_rnn"]
    assert (root / "leaderboard.md").is_file() and (root / "curves.png").is_file()


def test_early_stopped_runs_report_the_epoch_whose_weights_were_kept(tmp_path):
    from rnn_recipes.config import dump_config
    from rnn_recipes.config_load import load_config

    run_dir = tmp_path / "run"
    history = [{"loss": 1.0, "val_loss": 0.9}, {"loss": 0.5, "val_loss": 0.4}, {"loss": 0.2, "val_loss": 0.6}]
    fake_run(run_dir, {"loss": 0.45}, history)
    assert run_results(run_dir)["val_loss"] == 0.6  # no config: the last epoch
    (run_dir / "config.yaml").write_text(dump_config(load_config(TINY / "sine_simple_rnn.yaml", ["train.patience=1"])))
    results = run_results(run_dir)
    assert (results["val_loss"], results["train_loss"]) == (0.4, 0.5)  # Keras restored epoch 2's weights
    (run_dir / "config.yaml").write_text(dump_config(load_config(TINY / "sine_simple_rnn.yaml")))
    assert run_results(run_dir)["val_loss"] == 0.6  # no early stopping: the last epoch's weights
    (run_dir / "config.yaml").write_text(dump_config(load_config(TINY / "sine_simple_rnn.yaml", ["train.time_budget=60"])))
    assert run_results(run_dir)["val_loss"] == 0.4  # a budget keeps the best validation epoch's weights too


def test_an_interrupted_variant_is_resumed_never_deleted(tmp_path):
    from rnn_recipes.leaderboard import _ready
    from rnn_recipes.rundir import save_config

    recipe = load_recipe(write(tmp_path, BASE))
    run_dir = tmp_path / "out" / recipe.name / "base"
    run_dir.mkdir(parents=True)
    save_config(run_dir, recipe.variants[0].config)  # training started, never wrote its manifest
    (run_dir / "notes.txt").write_text("kept")
    assert _ready(run_dir, recipe.variants[0].config) is None and (run_dir / "notes.txt").exists()
    run_dir = run_dir.with_name("finished")
    fake_run(run_dir, {"loss": 0.1}, [{"loss": 0.1}])
    save_config(run_dir, recipe.variants[0].config)
    assert _ready(run_dir, recipe.variants[0].config) is True and run_dir.exists()


def test_a_bundled_recipe_loads_by_name():
    by_name, by_path = load_recipe("tiny/sine_cells"), load_recipe(RECIPES / "tiny" / "sine_cells.yaml")
    assert by_name.name == by_path.name == "sine_cells"
    assert [v.name for v in by_name.variants] == [v.name for v in by_path.variants]
