"""The baseline a user tries first: a random forest on composition features, same folds.

Composition features, ``skmatgp.StructureDescriptors(packing=False)``: element fractions (100)
plus fraction-weighted mean, std, min and max of six element properties (electronegativity,
radius, ionisation energy, electron affinity, molar volume, mass). The forest's std over trees
is its uncertainty.

    python benchmarks/composition_baseline.py [--dataset elastic_tensor_2015] [--folds 5]
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
from protocol import RESULTS
from sklearn.ensemble import RandomForestRegressor
from sklearn.model_selection import KFold

from skmatgp import StructureDescriptors
from skmatgp.datasets import load_dataset
from skmatgp.metrics import regression_report


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--dataset", default="elastic_tensor_2015")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    data = load_dataset(args.dataset)
    X = StructureDescriptors(packing=False).transform(data.structures)
    reports = []
    for train, test in KFold(args.folds, shuffle=True, random_state=args.seed).split(X):
        start = time.perf_counter()
        forest = RandomForestRegressor(n_estimators=500, n_jobs=-1, random_state=args.seed)
        forest.fit(X[train], data.target[train])
        fit_s = time.perf_counter() - start
        per_tree = np.stack([tree.predict(X[test]) for tree in forest.estimators_])
        mean, std = per_tree.mean(0), np.maximum(per_tree.std(0), 1e-9)
        reports.append({**regression_report(data.target[test], mean, std), "fit_s": fit_s})
    summary = {k: float(np.mean([r[k] for r in reports])) for k in reports[0]}
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{args.dataset}_composition_rf.json"
    path.write_text(
        json.dumps(
            {"dataset": args.dataset, "target": data.target_name, "folds": reports, "mean": summary}, indent=2
        )
    )
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
