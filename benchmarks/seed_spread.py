"""How far the seed alone moves skmatgp's MAE on Matbench's folds.

    python benchmarks/seed_spread.py                       # elastic_tensor_2015, seeds 0 1 2
    python benchmarks/seed_spread.py --dataset castelli_perovskites_7k --seeds 0 1
    python benchmarks/seed_spread.py --quick               # 2 small folds, to check the script

cv_benchmark.py fits each model once per fold (``random_state=fold``), so its tables show
the spread over folds but not how much another seed would move a figure. This script refits
its ``gnngp`` model (``models.GNNGP``, same folds, same settings) with ``random_state = fold +
1000 * seed``; seed 0 is the table's run. A difference between two models smaller than the
spread over seeds is not one to read much into.

Writes ``benchmarks/results/seed_spread_<dataset>.json`` after every fit: per seed and fold
MAE, NLL, 95% coverage and fit time, and each seed's mean MAE.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
from models import DATASETS, GNNGP, GP_HEAD
from protocol import COMMIT_AT_START, RESULTS, machine_note, matbench_splits

from skmatgp.datasets import load_dataset
from skmatgp.metrics import regression_report


def run(dataset: str, seeds: list[int], quick: bool, results_dir: Path) -> dict:
    data = load_dataset(dataset)
    X, y = data.structures, data.target
    splits = matbench_splits(y, quick)  # cv_benchmark's folds and quick subsets
    gp_head = GP_HEAD.get(dataset, "auto")
    results_dir.mkdir(parents=True, exist_ok=True)
    path = results_dir / f"seed_spread_{dataset}.json"
    folds = []
    for seed in seeds:
        for fold, (train, test) in enumerate(splits):
            model = GNNGP(fold, quick, 1, gp_head)
            model.model[-1].set_params(random_state=fold + 1000 * seed)
            start = time.perf_counter()
            model.fit(X[train], y[train])
            fit_s = time.perf_counter() - start
            report = regression_report(y[test], *model.predict(X[test]))
            folds.append(
                {
                    "seed": seed,
                    "fold": fold,
                    "random_state": fold + 1000 * seed,
                    "mae": report["mae"],
                    "nll": report["nll"],
                    "coverage95": report["coverage95"],
                    "fit_s": fit_s,
                    "n_epochs": model.extra["n_epochs"],
                }
            )
            print(f"{dataset} seed {seed} fold {fold + 1}/{len(splits)}: MAE {report['mae']:.4f}", flush=True)
            result = {
                "dataset": dataset,
                "target": data.target_name,
                "model": "gnngp",
                "gp_head": gp_head,
                "random_state": "fold + 1000 * seed (seed 0: cv_benchmark.py's run)",
                "quick": quick,
                "n_folds": len(splits),
                "complete": len(folds) == len(seeds) * len(splits),
                "mae_mean_by_seed": {
                    str(s): float(np.mean([f["mae"] for f in folds if f["seed"] == s]))
                    for s in seeds
                    if sum(f["seed"] == s for f in folds) == len(splits)
                },
                "folds": folds,
                "commit": COMMIT_AT_START,
                "machine": machine_note(),
            }
            path.write_text(json.dumps(result, indent=2))
    print(f"wrote {path}")
    return result


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", choices=DATASETS, default="elastic_tensor_2015")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--results-dir", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    if len(set(args.seeds)) != len(args.seeds):
        parser.error(f"--seeds must differ from each other, got {args.seeds}.")
    torch.set_num_threads(1)  # as cv_benchmark.py's table
    run(args.dataset, args.seeds, args.quick, args.results_dir)


if __name__ == "__main__":
    main()
