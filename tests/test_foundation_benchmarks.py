"""Smoke tests of the foundation-feature benchmarks: quick runs write the documented fields, the
selection stays inside fold 1's training rows, and RESULTS.md renders from their files."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.slow  # benchmark runs: the slow tier (python -m pytest -m slow)

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def benchmarks(tmp_path, monkeypatch):
    """The benchmark modules, with their feature cache and work folders in tmp_path."""
    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))
    import al_foundation
    import protocol

    monkeypatch.setattr(protocol, "FEATURE_CACHE", tmp_path / "cache")
    monkeypatch.setattr(al_foundation, "FEATURE_CACHE", tmp_path / "cache")
    monkeypatch.setattr(al_foundation, "WORK", tmp_path / "work" / "al_foundation")
    return tmp_path / "results"


def test_selection_cv_and_active_learning_quick(benchmarks, monkeypatch):
    import al_foundation
    import foundation_selection
    import make_results
    import representation_cv
    from protocol import SELECTION_ROWS_QUICK, matbench_splits

    picked = []
    real_score = foundation_selection.score

    def recording(config, X, y, seed=0):
        picked.append(len(y))
        return real_score(config, X, y, seed)

    monkeypatch.setattr(foundation_selection, "score", recording)
    foundation_selection.main(
        ["--quick", "--datasets", "elastic_tensor_2015", "--results-dir", str(benchmarks)]
    )
    selection = json.loads((benchmarks / "foundation_selection_quick.json").read_text())
    chosen = selection["datasets"]["elastic_tensor_2015"]["chosen"]
    assert chosen["model"] in ("chgnet", "sevennet") and chosen["nu"] in (0.5, 1.5, 2.5)
    assert set(picked) == {SELECTION_ROWS_QUICK}
    assert selection["package_default"]["layer"] == chosen["layer"] or len(selection["datasets"]) > 1

    # the selection's rows are fold 1's training rows: none of its test rows
    from protocol import load_task

    _, y = load_task("elastic_tensor_2015")
    train, test = matbench_splits(y)[0]
    rows = np.sort(np.random.default_rng(0).choice(train, SELECTION_ROWS_QUICK, replace=False))
    assert not set(rows) & set(test)

    selected = f"gp_{chosen['model']}" + ("_desc" if chosen["descriptors"] else "")
    argv = ["--quick", "--datasets", "elastic_tensor_2015", "--results-dir", str(benchmarks)]
    representation_cv.main([*argv, "--models", selected])
    cv = json.loads((benchmarks / "representation_cv_quick.json").read_text())
    (row,) = cv["rows"]
    assert row["model"] == selected and row["selected"] and len(row["mae_folds"]) == 2
    assert all(math.isfinite(v) and v > 0 for v in row["mae_folds"]) and 0 <= row["coverage95_mean"] <= 1
    best = selection["datasets"]["elastic_tensor_2015"]["best_per_model"][chosen["model"]]
    assert row["configuration"]["layer"] == best["layer"]
    assert row["fold_test_rows_seen_by_selection"][0] == 0.0  # fold 1's test rows: never seen

    al_foundation.main(
        ["--quick", "--datasets", "elastic", "--seeds", "0", "1", "--results-dir", str(benchmarks)]
    )
    study = json.loads((benchmarks / "al_study_quick.json").read_text())
    rows = [r for r in study["rows"] if r["study"] == "foundation_1000"]
    assert {r["acquisition"] for r in rows if r["representation"] == "scratch"} == {"entropy", "random"}
    assert {r["acquisition"] for r in rows if r["representation"] != "scratch"} == set(
        al_foundation.FOUNDATION_ACQUISITIONS
    )
    for r in rows:
        assert len(r["final_mae_test_per_seed"]) == 2 and math.isfinite(r["mae_ratio_vs_random"])
    random_row = next(r for r in rows if r["representation"] != "scratch" and r["acquisition"] == "random")
    assert random_row["mae_ratio_vs_random"] == pytest.approx(1.0)
    paper = next(r for r in rows if r["representation"] == "scratch" and r["acquisition"] == "entropy")
    assert paper["labels_ratio_vs_paper"] == pytest.approx(1.0)  # the paper against itself

    # RESULTS.md renders the section from these files (under the full runs' names)
    results = benchmarks.parent / "all_results"
    shutil.copytree(ROOT / "benchmarks" / "results", results)
    for name in ("foundation_selection", "representation_cv"):
        shutil.copy(benchmarks / f"{name}_quick.json", results / f"{name}.json")
    merged = json.loads((results / "al_study.json").read_text())  # as a full run merges its rows
    merged["rows"] += rows
    merged["foundation_1000"] = study["foundation_1000"]
    (results / "al_study.json").write_text(json.dumps(merged))
    output = benchmarks.parent / "RESULTS.md"
    make_results.main(["--results-dir", str(results), "--output", str(output)])
    text = output.read_text()
    assert "(selected)" in text and "Target for a GP model: MAE <= 0.08" in text and "held-out fold 1" in text
    assert "Active learning on foundation features" in text and "| elastic | scratch | entropy |" in text


def test_labels_to_reach_reads_the_seed_mean_curve():
    import sys

    sys.path.insert(0, str(ROOT / "benchmarks"))
    from al_foundation import labels_to_reach

    records = [
        {"strategy": "a", "n_labels": n, "seed": s, "test_mae": mae}
        for s, curve in enumerate([[1.0, 0.8, 0.5], [1.0, 0.6, 0.5]])
        for n, mae in zip((50, 100, 150), curve)
    ]
    assert labels_to_reach(records, "a", 0.7) == 100  # seed mean 0.7 at 100 labels
    assert labels_to_reach(records, "a", 0.69) == 150
    assert labels_to_reach(records, "a", 0.4) is None


def test_featurize_speed_quick_compares_the_same_features(benchmarks):
    import foundation_featurize

    foundation_featurize.main(["--quick", "--results-dir", str(benchmarks)])
    out = json.loads((benchmarks / "foundation_featurize_quick.json").read_text())
    assert out["n_structures"] == foundation_featurize.N_QUICK
    assert out["skmatgp_per_s"] > 0 and out["reference_per_s"] > 0
    assert out["ratio"] == pytest.approx(out["reference_s"] / out["skmatgp_s"])
    assert out["max_abs_feature_difference"] < 1e-3  # the same features, summed over atoms
