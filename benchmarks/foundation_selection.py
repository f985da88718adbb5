"""Choose the foundation representation on validation splits inside Matbench fold 1's training rows.

    python benchmarks/foundation_selection.py            # about half an hour on 2 cores
    python benchmarks/foundation_selection.py --quick    # a check of the script

For each dataset, the rows of Matbench's first training fold (never its test rows), at most
1,000 of them (a subset, seed 0), are split 3 ways (KFold, seed 0). Those rows are also test
rows of folds 2 to 5, so only fold 1's test rows are held out from this choice:
benchmarks/representation_cv.py reports fold 1 apart, and how much of each other fold's test
rows the selection saw. Every configuration is
fitted on two parts and scored on the third; the score is the mean validation MAE. The stages
run one after another, each keeping the best of the one before:

1. representation: model (CHGNet 0.3.0, SevenNet-0) x layer x pooling (mean, mean_max), a
   GPRegressor with nu=2.5 on y;
2. kernel: Matérn nu in 0.5, 1.5, 2.5;
3. target scale: y or log(y), for a positive target that is not already a log;
4. descriptors: the features alone, or joined with StructureDescriptors.

Stage 1 also records each model's best layer and pooling, so that every model has its own
configuration for benchmarks/representation_cv.py. The package default (FoundationFeaturizer's
``model``, ``layer`` and ``pooling``: the best mean rank over the three datasets in stage 1;
GPRegressor's ``nu``: the best mean rank in stage 2) is recomputed from the saved scores with
``--rederive``. Writes
``benchmarks/results/foundation_selection.json``.
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
    FOUNDATION_LAYERS,
    RESULTS,
    SELECTION_ROWS,
    SELECTION_ROWS_QUICK,
    foundation_gp,
    load_task,
    machine_note,
    selection_rows,
)
from sklearn.model_selection import KFold


def score(config: dict, X, y, seed: int = 0) -> dict:
    """Mean validation MAE (and 95% coverage) of a configuration over 3 inner folds."""
    maes, coverages = [], []
    start = time.perf_counter()
    for k, (fit, val) in enumerate(KFold(3, shuffle=True, random_state=seed).split(y)):
        model = foundation_gp(config, seed=k).fit(X[fit], y[fit])
        mean, std = model.predict(X[val], return_std=True)
        maes.append(float(np.mean(np.abs(mean - y[val]))))
        coverages.append(float(np.mean(np.abs(mean - y[val]) <= 1.959964 * std)))
    return {
        **config,
        "val_mae": float(np.mean(maes)),
        "val_mae_folds": maes,
        "val_coverage95": float(np.mean(coverages)),
        "seconds": time.perf_counter() - start,
    }


def best(rows: list[dict]) -> dict:
    return min(rows, key=lambda row: row["val_mae"])


def select(name: str, quick: bool) -> dict:
    structures, y = load_task(name)
    rows = selection_rows(y, quick)
    X, y = structures[rows], y[rows]
    base = {"nu": 2.5, "log_target": False, "descriptors": False}
    layers = {model: (layers[-1],) if quick else layers for model, layers in FOUNDATION_LAYERS.items()}
    stage1 = []
    for model, model_layers in layers.items():
        for layer in model_layers:
            for pooling in ("mean", "mean_max"):
                row = score({"model": model, "layer": layer, "pooling": pooling, **base}, X, y)
                print(name, "stage 1", row, flush=True)
                stage1.append(row)
    per_model = {model: best([r for r in stage1 if r["model"] == model]) for model in layers}
    chosen = best(stage1)
    stage2 = [chosen] + [
        score({**_config(chosen), "nu": nu}, X, y) for nu in (0.5, 1.5) if nu != chosen["nu"]
    ]
    chosen = best(stage2)
    stage3 = [chosen]
    if FOUNDATION_DATASETS[name]["positive"] and np.all(y > 0):
        stage3.append(score({**_config(chosen), "log_target": True}, X, y))
    chosen = best(stage3)
    stage4 = [chosen, score({**_config(chosen), "descriptors": True}, X, y)]
    chosen = best(stage4)
    for stage in (stage2, stage3, stage4):
        print(name, [(r["nu"], r["log_target"], r["descriptors"], round(r["val_mae"], 4)) for r in stage])
    return {
        "n_rows": len(rows),
        "stage1_representation": stage1,
        "stage2_kernel": stage2,
        "stage3_target_scale": stage3,
        "stage4_descriptors": stage4,
        "best_per_model": {model: _config(row) for model, row in per_model.items()},
        "chosen": _config(chosen),
    }


def _config(row: dict) -> dict:
    keys = ("model", "layer", "pooling", "nu", "log_target", "descriptors")
    return {k: row[k] for k in keys}


def _mean_ranks(results: dict, stage: str, key) -> dict:
    """Mean rank (0 = best validation MAE) of each ``key(row)`` over the datasets, for the
    keys every dataset has in that stage."""
    ranks: dict = {}
    for result in results.values():
        for rank, row in enumerate(sorted(result[stage], key=lambda r: r["val_mae"])):
            ranks.setdefault(key(row), []).append(rank)
    return {k: float(np.mean(v)) for k, v in ranks.items() if len(v) == len(results)}


def package_default(results: dict) -> dict:
    """The (model, layer, pooling) of best mean rank over the datasets in stage 1, and the nu of
    best mean rank in stage 2 (each dataset ranks the three kernels on its own representation)."""
    representation = _mean_ranks(
        results, "stage1_representation", lambda r: (r["model"], r["layer"], r["pooling"])
    )
    model, layer, pooling = min(representation, key=representation.get)
    kernel = _mean_ranks(results, "stage2_kernel", lambda r: r["nu"])
    return {
        "model": model,
        "layer": layer,
        "pooling": pooling,
        "nu": min(kernel, key=kernel.get),
        "mean_rank": representation[(model, layer, pooling)],
        "nu_mean_ranks": {str(nu): rank for nu, rank in kernel.items()},
    }


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    datasets = list(FOUNDATION_DATASETS)
    parser.add_argument("--datasets", nargs="+", default=datasets, choices=datasets)
    parser.add_argument("--results-dir", type=Path, default=RESULTS)
    parser.add_argument(
        "--rederive",
        action="store_true",
        help="recompute the package default from the saved file's per-dataset scores (no fits)",
    )
    args = parser.parse_args(argv)
    path = args.results_dir / f"foundation_selection{'_quick' if args.quick else ''}.json"
    if args.rederive:
        out = json.loads(path.read_text())
        out["package_default"] = package_default(out["datasets"])
        path.write_text(json.dumps(out, indent=2))
        print("package default:", out["package_default"])
        return
    torch.set_num_threads(1)  # the other core runs the other benchmarks
    start = time.perf_counter()
    results = {name: select(name, args.quick) for name in args.datasets}
    out = {
        "what": "validation MAE of foundation-feature GP configurations inside Matbench fold 1's "
        "training rows (see foundation_selection.py); the test folds play no part",
        "protocol": {
            "rows": f"at most {SELECTION_ROWS_QUICK if args.quick else SELECTION_ROWS} of fold 1's "
            "training rows, seed 0",
            "inner_folds": "KFold(3, shuffle=True, random_state=0)",
            "stages": ["representation", "kernel", "target_scale", "descriptors"],
            "quick": args.quick,
        },
        "datasets": results,
        "package_default": package_default(results),
        "elapsed_s": time.perf_counter() - start,
        "machine": machine_note(),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(out, indent=2))
    print(json.dumps({k: v["chosen"] for k, v in results.items()}, indent=1))
    print("package default:", out["package_default"])
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
