"""matbench_dielectric on validation splits only: which descriptors, loss and scale for gbm_log,
and whether a GP on graph embeddings adds to it. No test fold is read.

For each Matbench fold, its training part is split 80/20 (``train_test_split``, seed = fold);
every model is fitted on the 80% and scored (MAE of n) on the 20%:

- random forests (300 trees) on composition features, on y and on log(y), and on composition
  plus packing descriptors (``skmatgp.StructureDescriptors``) on log(y);
- gradient boosting (``HistGradientBoostingRegressor``, 500 iterations, lr 0.05) on those
  descriptors and log(y), with the squared and with the absolute error (gbm_log's setting);
- ``--gp``: two skmatgp GP heads on the frozen band-gap encoder of ``pretrain_encoder.py
  --source band_gap`` (``GNNGPRegressor(encoder=path, epochs=0)``): one on log(y), one on the
  residual of the boosted model (its out-of-fold predictions, 5-fold, inside the 80%), added
  back to the boosted model's prediction. About 7 minutes per model and fold on one thread;
- ``--gap`` (instead of the trees above): gbm_log beside gbm_log_gap, gbm_log with one more
  feature, the band gap the same frozen encoder predicts with its own linear head
  (``models.band_gap_head``). Seconds a fold, after a minute of graph building.

    python benchmarks/dielectric_validation.py              # the trees, about 3 minutes
    python benchmarks/dielectric_validation.py --gp --folds 0 1
    python benchmarks/dielectric_validation.py --gap

Writes benchmarks/results/dielectric_validation.json (with ``--gp``: dielectric_validation_gp.json,
with ``--gap``: dielectric_validation_gap.json).
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch
from models import band_gap_head, descriptor_booster, pretrained_gap_path
from protocol import COMMIT_AT_START, RESULTS, machine_note, matbench_splits
from sklearn.ensemble import RandomForestRegressor
from sklearn.model_selection import cross_val_predict, train_test_split

from skmatgp import CrystalGraphTransformer, GNNGPRegressor, StructureDescriptors
from skmatgp.datasets import load_dataset


def _forest(seed):
    return RandomForestRegressor(n_estimators=300, n_jobs=-1, random_state=seed)


# name: (model factory, features, fitted on log(y))
TREES = {
    "rf_composition_y": (_forest, "composition", False),
    "rf_composition_log": (_forest, "composition", True),
    "rf_descriptors_log": (_forest, "descriptors", True),
    "gbm_descriptors_log_squared": (
        lambda seed: descriptor_booster(seed, "squared_error"),
        "descriptors",
        True,
    ),
    "gbm_descriptors_log_absolute (gbm_log)": (descriptor_booster, "descriptors", True),
}


def _gp_probes(graphs, features, y, fit, val, seed) -> dict:
    """Validation MAE of the two GP heads on the frozen band-gap encoder (see the docstring)."""
    path = str(pretrained_gap_path(quick=False))
    log_y = np.log(y)
    booster = descriptor_booster(seed)
    out_of_fold = cross_val_predict(booster, features[fit], log_y[fit], cv=5)
    boosted = booster.fit(features[fit], log_y[fit]).predict(features[val])
    maes = {}
    for name, target, offset in (
        ("gp_frozen_gap_encoder_log", log_y[fit], 0.0),
        ("gbm_log_plus_gp_on_its_residual", log_y[fit] - out_of_fold, boosted),
    ):
        model = GNNGPRegressor(encoder=path, epochs=0, random_state=seed).fit(graphs[fit], target)
        maes[name] = float(np.mean(np.abs(np.exp(offset + model.predict(graphs[val])) - y[val])))
    return maes


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folds", type=int, nargs="+", default=list(range(5)), choices=range(5))
    parser.add_argument("--gp", action="store_true", help="also the GP heads on the band-gap encoder")
    parser.add_argument(
        "--gap", action="store_true", help="only gbm_log and gbm_log_gap (the predicted band gap)"
    )
    args = parser.parse_args(argv)
    if args.gp and args.gap:
        parser.error("run --gp and --gap separately: each writes its own table")
    torch.set_num_threads(1)
    start = time.perf_counter()
    data = load_dataset("matbench_dielectric")
    y = np.asarray(data.target, dtype=float)
    descriptors = StructureDescriptors().transform(data.structures)
    n_composition = len(StructureDescriptors(packing=False).get_feature_names_out())
    features = {"composition": descriptors[:, :n_composition], "descriptors": descriptors}
    graphs = CrystalGraphTransformer().fit_transform(data.structures) if args.gp or args.gap else None
    trees = dict(TREES)
    if args.gap:
        # gbm_log_gap's features (models.descriptor_pipeline), built once for all splits
        gap = band_gap_head(graphs, pretrained_gap_path(quick=False))
        features["descriptors_gap"] = np.hstack([features["descriptors"], gap[:, None]])
        gbm_log = "gbm_descriptors_log_absolute (gbm_log)"
        trees = {
            gbm_log: TREES[gbm_log],
            "gbm_descriptors_gap_log_absolute (gbm_log_gap)": (descriptor_booster, "descriptors_gap", True),
        }
    splits = matbench_splits(y)
    folds = []
    for fold in args.folds:
        fit, val = train_test_split(splits[fold][0], test_size=0.2, random_state=fold)
        maes = {}
        for name, (make, kind, log) in trees.items():
            model = make(fold).fit(features[kind][fit], np.log(y[fit]) if log else y[fit])
            prediction = model.predict(features[kind][val])
            maes[name] = float(np.mean(np.abs((np.exp(prediction) if log else prediction) - y[val])))
        if args.gp:
            maes |= _gp_probes(graphs, features["descriptors"], y, fit, val, fold)
        folds.append({"fold": fold, "n_fit": len(fit), "n_validation": len(val), "validation_mae": maes})
        print(fold, json.dumps({k: round(v, 4) for k, v in maes.items()}), flush=True)
    result = {
        "dataset": "matbench_dielectric",
        "protocol": "each Matbench training fold split 80/20 (train_test_split, random_state=fold); "
        "validation MAE of n on the 20%; no test fold read",
        "folds": folds,
        "commit": COMMIT_AT_START,
        "elapsed_s": time.perf_counter() - start,
        "machine": machine_note(),
    }
    name = "dielectric_validation" + ("_gp" if args.gp else "") + ("_gap" if args.gap else "")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{name}.json").write_text(json.dumps(result, indent=2))
    print(f"wrote {RESULTS / name}.json")


if __name__ == "__main__":
    main()
